package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/daemon"
	"github.com/abusewatch/abusewatch/daemon/journaltest"
)

// bothWays writes n failed logins of addr, from the k-th second after at on, as a host
// with rsyslog logs them: an entry of ssh.service in the journal (journald's time, to
// the microsecond) and its copy in auth.log in the traditional format (to the second).
func bothWays(t *testing.T, jdir, authLog, addr string, at time.Time, k, n int) {
	t.Helper()
	entries, lines := sshdCopies(addr, at, k, n)
	journaltest.Write(t, filepath.Join(jdir, "system.journal"), entries...)
	appendFile(t, authLog, lines)
}

// sshdCopies are bothWays' n records from the k-th second: the journal's entries and
// auth.log's lines.
func sshdCopies(addr string, at time.Time, k, n int) (entries [][]byte, fileLines string) {
	var lines strings.Builder
	for i := k; i < k+n; i++ {
		ts := at.Add(time.Duration(i)*time.Second + 250*time.Millisecond)
		msg := fmt.Sprintf("Failed password for root from %s port %d ssh2", addr, 40000+i)
		entries = append(entries, journaltest.Entry(fmt.Sprintf("__REALTIME_TIMESTAMP=%d", ts.UnixMicro()), fmt.Sprintf("__MONOTONIC_TIMESTAMP=%d", 1000*(1+i)),
			"_BOOT_ID="+bootWeb, "MESSAGE="+msg, "_SYSTEMD_UNIT=ssh.service", "_COMM=sshd", "_EXE=/usr/sbin/sshd", "_UID=0",
			"SYSLOG_IDENTIFIER=sshd", fmt.Sprintf("_PID=%d", 5000+i), "_HOSTNAME=web1.example.org", "_TRANSPORT=syslog"))
		fmt.Fprintf(&lines, "%s web1 sshd[%d]: %s\n", ts.Format(time.Stamp), 5000+i, msg)
	}
	return entries, lines.String()
}

// On a host with rsyslog, sshd's lines reach the journal and, copied from it, auth.log.
// A config that reads both (a [[source]] kept from fail2ban's days, and [journal]) made
// two events of every line: one incident of 20 lines for 10 failed logins, reported to
// the abuse desk as such. Each record is counted once, through whichever source read it
// first: read in the backlog at start and as written while the daemon runs, the
// incident, ip and the report say 10; status and the log say which sources overlap.
func TestTheSameFailuresInTheJournalAndAuthLogAreCountedOnce(t *testing.T) {
	journaltest.Need(t)
	dir := t.TempDir()
	jdir, authLog, socket := filepath.Join(dir, "journal"), filepath.Join(dir, "auth.log"), filepath.Join(dir, "admin.sock")
	if err := os.Mkdir(jdir, 0o755); err != nil {
		t.Fatal(err)
	}
	at := time.Now().UTC().Truncate(time.Minute).Add(-time.Hour)
	bothWays(t, jdir, authLog, "3.3.3.3", at, 0, 10) // logged while the daemon was stopped
	cfg := writeRulesConfig(t, dir, "threshold = 10\nwindow = \"10m\"\n", `
[[source]]
files = ["`+authLog+`"]
[journal]
enabled = true
directory = "`+jdir+`"
units = ["ssh.service"]
identifiers = []
[detect]
timezone = "UTC"
[[contact]]
network = "3.3.0.0/16"
emails = ["abuse@cloud.example"]
[metrics]
listen = "127.0.0.1:0"
`)
	// The review mode writes the report and waits; observe writes none.
	doc, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	doc = []byte(strings.Replace(strings.Replace(string(doc), `mode = "observe"`, "mode = \"review\"\nreport_interval = \"100ms\"", 1),
		"[admin]\nsocket = \"\"", "[admin]\nsocket = \""+socket+"\"", 1))
	if err := os.WriteFile(cfg, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, dir, "run", "--config", cfg)
	metrics := regexp.MustCompile(`listen=(\S+)`).FindStringSubmatch(d.waitLog(t, "metrics endpoint ready"))[1]
	d.waitLog(t, "admin socket ready")
	adminJSON := func(out any, args ...string) {
		t.Helper()
		stdout, stderr, code := runBinary(t, dir, append(args, "--config", cfg, "--json")...)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s%s", args, code, stdout, stderr)
		}
		if err := json.Unmarshal([]byte(stdout), out); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, stdout)
		}
	}
	// waitLines polls the daemon's own counter (each poll a run of the binary) until
	// the pipeline has committed n lines of each source.
	waitLines := func(n int64) daemon.Status {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			var st daemon.Status
			adminJSON(&st, "status")
			if st.Counters["lines"] >= 2*n {
				return st
			}
			if time.Now().After(deadline) {
				t.Fatalf("status after 30s: %+v; want %d lines read", st.Counters, 2*n)
			}
		}
	}
	waitLines(10)
	var incs daemon.IncidentList
	for deadline := time.Now().Add(30 * time.Second); ; {
		adminJSON(&incs, "incidents", "--since", "3650d")
		if len(incs.Incidents) > 0 && incs.Incidents[0].ReportID != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no report within 30s: %+v", incs)
		}
	}
	if inc := incs.Incidents[0]; len(incs.Incidents) != 1 || inc.Count != 10 || inc.Attempts != 10 {
		t.Errorf("incidents: %d, the first of %d lines, %d attempts; want one of 10 and 10", len(incs.Incidents), inc.Count, inc.Attempts)
	}
	stdout, stderr, code := runBinary(t, dir, "report", "show", "--config", cfg, incs.Incidents[0].ReportID)
	// The memo's lines, before the X-ARF parts, which show the evidence again.
	memo, _, _ := strings.Cut(stdout, "evidence 1, decoded:")
	if code != 0 || !strings.Contains(stdout, "10 (10 log lines)") || strings.Count(memo, "Failed password for root from 3.3.3.3 port 40003 ") != 1 {
		t.Errorf("report show: exit %d; want 10 connections of 10 lines, each line shown once:\n%s%s", code, stdout, stderr)
	}

	bothWays(t, jdir, authLog, "3.3.3.4", at, 20, 10) // logged while the daemon runs
	st := waitLines(20)
	for _, addr := range []string{"3.3.3.3", "3.3.3.4"} {
		var ip daemon.NetworkInfo
		adminJSON(&ip, "ip", addr, "--since", "3650d")
		if ip.Events != 10 || ip.ByClass["auth-failure"] != 10 {
			t.Errorf("ip %s: %d events %v; want 10", addr, ip.Events, ip.ByClass)
		}
	}
	if st.Counters["events"] != 20 || st.Counters["duplicate"] != 20 {
		t.Errorf("status counters %v; want 20 events and 20 duplicates of 40 lines", st.Counters)
	}
	dropped := int64(0)
	for _, s := range st.Sources {
		dropped += s.Duplicates
	}
	if dropped != 20 {
		t.Errorf("sources %+v: %d duplicates; want 20", st.Sources, dropped)
	}
	if n := strings.Count(strings.Join(d.lines(), "\n"), "the same records come through two sources"); n != 1 {
		t.Errorf("%d warnings of the two sources; want 1", n)
	}
	stdout, _, _ = runBinary(t, dir, "status", "--config", cfg)
	if !strings.Contains(stdout, "20 duplicate") {
		t.Errorf("status does not count the duplicates:\n%s", stdout)
	}
	resp, err := http.Get("http://" + metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	discarded := 0
	for _, m := range regexp.MustCompile(`(?m)^abusewatch_source_discarded_total\{reason="duplicate",source="[^"]+"\} (\d+)$`).FindAllStringSubmatch(string(body), -1) {
		n, _ := strconv.Atoi(m[1])
		discarded += n
	}
	if discarded != 20 || !strings.Contains(string(body), `abusewatch_source_lines_read_total{outcome="duplicate"} 20`) {
		t.Errorf("metrics: %d duplicates discarded; want 20, and 20 lines read as duplicate:\n%s", discarded, body)
	}
}

// scan reads with the daemon's pipeline: two files that hold the same records (auth.log
// and a syslog that takes auth's lines too, a fleet host's file and a central copy)
// count each once, the summary says how many lines were copies, and every line is
// counted once among the outcomes.
func TestScanOfTwoFilesHoldingTheSameRecordsCountsEachOnce(t *testing.T) {
	dir := t.TempDir()
	at := time.Now().UTC().Truncate(time.Minute).Add(-time.Hour)
	var auth, syslog strings.Builder
	for i := range 6 {
		ts := at.Add(time.Duration(i) * time.Second)
		line := fmt.Sprintf(" web1 sshd[%d]: Failed password for root from 3.3.3.3 port %d ssh2\n", 5000+i, 40000+i)
		auth.WriteString(ts.Format(time.Stamp) + line)
		syslog.WriteString(ts.Format("2006-01-02T15:04:05.000000-07:00") + line)
		syslog.WriteString(ts.Format("2006-01-02T15:04:05.000000-07:00") + " web1 CRON[7]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)\n")
	}
	authLog, syslogFile := filepath.Join(dir, "auth.log"), filepath.Join(dir, "syslog")
	appendFile(t, authLog, auth.String())
	appendFile(t, syslogFile, syslog.String())
	cfg := writeRulesConfig(t, dir, "threshold = 6\nwindow = \"10m\"\n", "\n[detect]\ntimezone = \"UTC\"\n")
	stdout, stderr, code := runBinary(t, dir, "scan", "--json", "--config", cfg, authLog, syslogFile)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	sum := scanCounts(t, stdout)
	if sum["lines"] != 18 || sum["events"] != 6 || sum["duplicate"] != 6 || sum["incidents"] != 1 ||
		sum["events"]+sum["normal"]+sum["unknown"]+sum["unparsed"]+sum["duplicate"] != sum["lines"] {
		t.Errorf("summary %v; want 18 lines: 6 events, 6 duplicate, 6 others, one incident", sum)
	}
	if evs := storedEvents(t, dir); len(evs) != 6 {
		t.Errorf("%d events stored; want 6", len(evs))
	}
	stdout, _, _ = runBinary(t, t.TempDir(), "scan", "--config", writeRulesConfig(t, t.TempDir(), "threshold = 6\nwindow = \"10m\"\n", "\n[detect]\ntimezone = \"UTC\"\n"), authLog, syslogFile)
	if !strings.Contains(stdout, "6 duplicate (the same record in another file read first: counted once)") {
		t.Errorf("scan's summary does not count the duplicates:\n%s", stdout)
	}
}

// The memo of records is in memory, and the journal and auth.log each go on from their
// own committed positions: a record one of them brought to the store before the daemon
// was killed, and the other brings after the restart, made a second event (review 41).
// Five failures reach the store through the journal and five others through auth.log;
// the daemon is killed with SIGKILL; then each source gets the other's five. The store
// holds 10 events, not 20.
func TestACopyReadAfterARestartIsCountedOnce(t *testing.T) {
	journaltest.Need(t)
	dir := t.TempDir()
	jdir, authLog := filepath.Join(dir, "journal"), filepath.Join(dir, "auth.log")
	if err := os.Mkdir(jdir, 0o755); err != nil {
		t.Fatal(err)
	}
	appendFile(t, authLog, "")
	cfg := writeRulesConfig(t, dir, "threshold = 100\nwindow = \"10m\"\n", `
[[source]]
files = ["`+authLog+`"]
[journal]
enabled = true
directory = "`+jdir+`"
units = ["ssh.service"]
identifiers = []
[detect]
timezone = "UTC"
`)
	at := time.Now().UTC().Truncate(time.Minute).Add(-time.Hour)
	journalFirst, copiesInFile := sshdCopies(sourceAddr.String(), at, 0, 5)
	fileFirst, copiesInJournal := sshdCopies(sourceAddr.String(), at, 10, 5)
	journaltest.Write(t, filepath.Join(jdir, "system.journal"), journalFirst...)
	appendFile(t, authLog, copiesInJournal)
	committed := regexp.MustCompile(`msg="batch committed" .*total=10( |$)`)
	d := startDaemon(t, dir, "run", "--debug", "--config", cfg)
	d.waitMatch(t, committed)
	d.kill()

	appendFile(t, authLog, copiesInFile)
	journaltest.Write(t, filepath.Join(jdir, "system.journal"), fileFirst...)
	d = startDaemon(t, dir, "run", "--debug", "--config", cfg)
	d.waitMatch(t, committed) // the 10 lines of this run
	d.stop(t)
	if evs := storedEvents(t, dir); len(evs) != 10 {
		t.Errorf("%d events stored; want 10, each failure once", len(evs))
	}
}
