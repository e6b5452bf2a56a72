package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/daemon/journaltest"
	"github.com/abusewatch/abusewatch/store"
)

// summarySent is a log handler that hands over the events count of each "daily summary
// sent" line the daemon logs.
type summarySent chan int64

func (s summarySent) Enabled(context.Context, slog.Level) bool { return true }
func (s summarySent) WithAttrs([]slog.Attr) slog.Handler       { return s }
func (s summarySent) WithGroup(string) slog.Handler            { return s }
func (s summarySent) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "daily summary sent" {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "events" {
			s <- a.Value.Int64()
		}
		return true
	})
	return nil
}

// A daemon stopped over summary.time sends the late summary when it starts again: it
// covers the lines logged while it was stopped, which it reads first (they were left
// out, and the next summary starts where that one ended): appended to the file it
// read, ended by a line still being written, or in a copy logrotate's copytruncate made
// before it emptied the file.
func TestALateSummaryCoversWhatWasLoggedWhileTheDaemonWasStopped(t *testing.T) {
	for _, tc := range []struct {
		name    string
		stopped func(t *testing.T, logFile string) // what happens to the log meanwhile, after the attack
		events  int64
	}{
		{"appended", func(*testing.T, string) {}, 10},
		{"a last line not ended yet", func(t *testing.T, logFile string) {
			f, err := os.OpenFile(logFile, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteString("2026-11-20T09:00:00Z web1 sshd[1]: Failed pass"); err != nil {
				t.Fatal(err)
			}
		}, 10},
		{"copytruncate", func(t *testing.T, logFile string) {
			text, err := os.ReadFile(logFile)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(logFile+".1", text, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(logFile, 0); err != nil {
				t.Fatal(err)
			}
			writeLogins(t, logFile, "45.134.26.11", time.Now().UTC().Add(-30*time.Minute), 2)
		}, 12},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			logFile := filepath.Join(dir, "auth.log")
			cfg := backlogConfig(t, dir, fmt.Sprintf("[[source]]\nfiles = [%q]\n[detect]\ntimezone = \"UTC\"\n", logFile))
			now := time.Now().UTC()
			// The first run reads two lines (no incident) and starts the summaries' schedule.
			writeLogins(t, logFile, "45.134.26.7", now.Add(-2*time.Hour), 2)
			runUntilRead(t, cfg, logFile)

			// Stopped: an attack is logged, and summary.time passes (the last summary was
			// the day before).
			writeLogins(t, logFile, "45.134.26.9", now.Add(-time.Hour), 8)
			tc.stopped(t, logFile)
			events := firstSummaryAfter(t, cfg, now.Add(-25*time.Hour))
			if events != tc.events {
				t.Errorf("the late summary counts %d events, want %d: those logged while the daemon was stopped are missing", events, tc.events)
			}
			sums := sentSummaries(t, cfg.Mail.Maildir)
			if len(sums) != 1 || !strings.Contains(sums[0], "45.134.26.9") {
				t.Errorf("the late summary does not show the attack logged while the daemon was stopped:\n%s", strings.Join(sums, "\n-----\n"))
			}
		})
	}
}

// writeLogins appends n failed logins of addr from at on to logFile.
func writeLogins(t *testing.T, logFile, addr string, at time.Time, n int) {
	t.Helper()
	f, err := os.OpenFile(logFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, l := range failedLogins(addr, at, n) {
		if _, err := f.WriteString(l + "\n"); err != nil {
			t.Fatal(err)
		}
	}
}

// The same with the journal: the late summary waits until journalctl has read what the
// journal holds beyond the saved cursor (here: all of it).
func TestALateSummaryCoversTheJournalsBacklog(t *testing.T) {
	journaltest.Need(t)
	dir := t.TempDir()
	journals := filepath.Join(dir, "journal")
	if err := os.Mkdir(journals, 0o755); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	var entries [][]byte
	for k := range 8 {
		at := now.Add(-time.Hour + time.Duration(k)*time.Second)
		entries = append(entries, journaltest.Entry(fmt.Sprintf("__REALTIME_TIMESTAMP=%d", at.UnixMicro()),
			fmt.Sprintf("__MONOTONIC_TIMESTAMP=%d", 1000+k), "_BOOT_ID=0123456789abcdef0123456789abcdef",
			fmt.Sprintf("MESSAGE=Failed password for root from 45.134.26.9 port %d ssh2", 40000+k),
			"_SYSTEMD_UNIT=ssh.service", "_COMM=sshd", "_EXE=/usr/sbin/sshd", "_UID=0", "_PID=4242", "_HOSTNAME=web1"))
	}
	journaltest.Write(t, filepath.Join(journals, "remote.journal"), entries...)
	cfg := backlogConfig(t, dir, fmt.Sprintf("[journal]\nenabled = true\ndirectory = %q\n", journals))
	events := firstSummaryAfter(t, cfg, now.Add(-25*time.Hour))
	if events != 8 {
		t.Errorf("the late summary counts %d events, want the journal's 8", events)
	}
}

// firstSummaryAfter marks a summary sent at last in the state database of cfg, runs the
// daemon until it sends its first summary (the late one) and returns the events that
// summary counts.
func firstSummaryAfter(t *testing.T, cfg *Config, last time.Time) int64 {
	t.Helper()
	st, err := store.Open(cfg.Store.Path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetSummarySent(last); err != nil {
		t.Fatal(err)
	}
	st.Close()
	sent := make(summarySent, 4)
	d, err := New(cfg, slog.New(sent))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	var events int64
	select {
	case events = <-sent:
	case <-time.After(30 * time.Second):
		t.Fatal("no summary sent within 30s")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return events
}

// backlogConfig is the config of the backlog tests in dir, whose logs source (TOML)
// names: observe mode, a maildir, the summary at midnight UTC.
func backlogConfig(t *testing.T, dir, source string) *Config {
	t.Helper()
	return parseTestConfig(t, filepath.Join(dir, "abusewatch.toml"), source+fmt.Sprintf(`[correlate]
threshold = 5
window = "10m"
[lookup]
rdap = false
resolvers = ["127.0.0.1:9"]
timeout = "100ms"
[[contact]]
network = "45.134.26.0/24"
emails = ["abuse@hostco.example"]
[reporter]
name = "Test Admin"
timezone = "UTC"
[mail]
transport = "maildir"
maildir = %q
from = "abusewatch@example.org"
admin = "root@example.org"
[policy]
settle = "0s"
mode = "observe"
[summary]
time = "00:00"
[admin]
socket = ""
[store]
path = %q
`, filepath.Join(dir, "maildir"), filepath.Join(dir, "state.db")))
}
