package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/daemon/journaltest"
)

func TestMetricsEndpointServesTheCounters(t *testing.T) {
	s := newAdminSetup(t)
	appendFile(t, s.cfg, "[metrics]\nlisten = \"127.0.0.1:0\"\n")
	d := s.start(t)
	line := d.waitLog(t, "metrics endpoint ready")
	addr := regexp.MustCompile(`listen=(\S+)`).FindStringSubmatch(line)[1]
	appendFile(t, s.logFile, attackLines(6, time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC), 40000))
	s.waitIncidents(t, 1)
	want := []string{
		`abusewatch_source_lines_read_total{outcome="event"} 12`, // 6 from 3.3.3.3, 6 from 10.1.1.1
		`abusewatch_events_total{class="auth-failure"} 12`,
		// The lag is the follower's at its last look at the file: it reaches 0 at the
		// look after the lines were read, which may come after the incident.
		`abusewatch_source_lag_bytes{source="` + s.logFile + `"} 0`,
		`abusewatch_incident_updates_total `,
		`abusewatch_events_caught_up_total 0`,
		`abusewatch_store_bytes `,
		`abusewatch_outbox_round_last_seconds `,
		`abusewatch_outbox_round_running_seconds `,
		// Every state, with none in it too: an alert rule needs the series.
		`abusewatch_outbox_reports{state="failed"} 0`,
		`abusewatch_outbox_reports{state="queued"} `,
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		missing := slices.DeleteFunc(slices.Clone(want), func(w string) bool { return strings.Contains(string(body), w) })
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics lack %q after 30 s:\n%s", missing, body)
		}
	}
}

// A fresh daemon reading a journal: the log levels have their series at 0 (an alert on
// the first error has one to watch), and the journal has no read_bytes or lag gauge (its
// position is a sequence number, which read_bytes showed as bytes).
func TestMetricsOfAFreshDaemonReadingTheJournal(t *testing.T) {
	journaltest.Need(t)
	dir := t.TempDir()
	jdir := filepath.Join(dir, "journal")
	if err := os.Mkdir(jdir, 0o755); err != nil {
		t.Fatal(err)
	}
	var entries [][]byte
	for i := range 5 {
		ts := lineEpoch().Add(time.Duration(i) * time.Second)
		entries = append(entries, journaltest.Entry(fmt.Sprintf("__REALTIME_TIMESTAMP=%d", ts.UnixMicro()), fmt.Sprintf("__MONOTONIC_TIMESTAMP=%d", 1000*(1+i)),
			"_BOOT_ID=0123456789abcdef0123456789abcdef", fmt.Sprintf("MESSAGE=Failed password for invalid user u%d from 3.3.3.3 port 22 ssh2", i),
			"_SYSTEMD_UNIT=ssh.service", "_COMM=sshd", "_EXE=/usr/sbin/sshd", "SYSLOG_IDENTIFIER=sshd", "_PID=4242", "_UID=0", "_HOSTNAME=web9"))
	}
	journaltest.Write(t, filepath.Join(jdir, "remote.journal"), entries...)
	cfg := writeSourceConfig(t, dir, "\n[journal]\nenabled = true\ndirectory = \""+jdir+"\"\nunits = [\"ssh.service\"]\nidentifiers = []\n"+
		"[metrics]\nlisten = \"127.0.0.1:0\"\n")
	d := startDaemon(t, dir, "run", "--debug", "--config", cfg)
	addr := regexp.MustCompile(`listen=(\S+)`).FindStringSubmatch(d.waitLog(t, "metrics endpoint ready"))[1]
	d.waitEvents(t, 5)
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`abusewatch_source_lines_total{source="journal"} 5`,
		`abusewatch_log_messages_total{level="ERROR"} 0`,
		`abusewatch_log_messages_total{level="WARN"} `,
		// Not the lines of outcome "event": the HELP says so.
		`# HELP abusewatch_events_total Events stored, by class; class unknown is the unknown lines with an address in a trusted position`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
	for _, unwanted := range []string{`abusewatch_source_read_bytes{source="journal"}`, `abusewatch_source_lag_bytes{source="journal"}`} {
		if strings.Contains(string(body), unwanted) {
			t.Errorf("metrics show %s, a sequence number as bytes:\n%s", unwanted, body)
		}
	}
}
