package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A syslog relay sends a backlog of 2024 among current messages: those dated more than
// policy.max_age before they arrived make no event, and are counted (status and the
// metrics' outcomes add up to the lines read; they did not, the stale ones were in none).
func TestSyslogMessagesOlderThanMaxAgeAreCounted(t *testing.T) {
	dir := t.TempDir()
	cfg := writeSourceConfig(t, dir, "\n[syslog]\ntcp = [\"127.0.0.1:0\"]\nallow = [\"127.0.0.0/8\"]\n[metrics]\nlisten = \"127.0.0.1:0\"\n")
	withAdminSocket(t, cfg, dir)
	d := startDaemon(t, dir, "run", "--debug", "--config", cfg)
	addr := regexp.MustCompile(`listen=(\S+)`).FindStringSubmatch(d.waitLog(t, "metrics endpoint ready"))[1]
	conn, err := net.Dial("tcp", d.listenAddr(t, "tcp"))
	if err != nil {
		t.Fatal(err)
	}
	now, old := time.Now().Format(time.RFC3339), "2024-01-05T10:00:00+00:00"
	for i := range 5 {
		fmt.Fprintf(conn, "<38>1 %s web1 sshd 123 - - Failed password for invalid user u%d from 3.3.3.3 port 22 ssh2\n", now, i)
		fmt.Fprintf(conn, "<38>1 %s web1 sshd 123 - - Failed password for invalid user old%d from 3.3.3.3 port 22 ssh2\n", old, i)
	}
	fmt.Fprintf(conn, "<38>1 %s web1 sshd 123 - - something no rule knows\n", old)
	conn.Close()
	d.waitEvents(t, 11)

	out, errOut, code := runBinary(t, dir, "status", "--config", cfg, "--json")
	var st struct{ Counters map[string]int64 }
	if err := json.Unmarshal([]byte(out), &st); code != 0 || err != nil {
		t.Fatalf("status --json: exit %d, %v\n%s%s", code, err, out, errOut)
	}
	if n := st.Counters; n["stale"] != 5 || n["events"] != 5 || n["unknown"] != 1 || n["lines"] != 11 {
		t.Errorf("status counters %v; want 11 lines: 5 events, 5 stale, 1 unknown", n)
	}
	if out, _, _ := runBinary(t, dir, "status", "--config", cfg); !strings.Contains(out, "Read 11 lines: 5 events, 0 normal, 1 unknown, 0 unparsed, 5 too old") {
		t.Errorf("status does not count the stale messages:\n%s", out)
	}

	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	outcomes := map[string]int{}
	for _, m := range regexp.MustCompile(`(?m)^abusewatch_source_lines_read_total\{outcome="(\w+)"\} (\d+)$`).FindAllStringSubmatch(string(body), -1) {
		outcomes[m[1]], _ = strconv.Atoi(m[2])
	}
	sum := 0
	for _, n := range outcomes {
		sum += n
	}
	if outcomes["stale"] != 5 || sum != 11 {
		t.Errorf("lines_read_total by outcome %v: the outcomes of 11 lines, 5 of them stale, add up to %d", outcomes, sum)
	}
	d.stop(t)
	checkExactlyOnce(t, dir, 5) // u0–u4 once, none of the old ones
}
