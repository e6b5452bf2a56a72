package daemon

import (
	"fmt"
	"io"
	"log/slog"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// An address that fails once a day, with a burst on one day that is reported on its
// own, then once a day again: the recurrence found over all its days counts the
// burst's lines from the daily counters. Its report, to the same desk, leaves them
// out: the desk is told each of the 16 lines once (R2: it was told 22).
func TestARecurrenceAfterAReportedBurstTellsEachLineOnce(t *testing.T) {
	p, dir := recurrencePipeline(t)
	// The rounds straddle the admin's daily summary time, as a run on the wall clock
	// did once a day: the summary goes out in the second round, into the same maildir,
	// and is no mail to the desk (it was counted as a third). The log's days end two
	// days before: policy.max_age counts back from now.
	now := SummaryDue(p.cfg.Summary.Time, time.UTC, time.Now()).Add(-30 * time.Second)
	t0 := daysAgo(12).Add(10 * time.Hour)
	port := 30000
	fail := func(at time.Time) string {
		port++
		return fmt.Sprintf("%s web1 sshd[%d]: Failed password for root from 45.134.26.4 port %d ssh2\n", at.Format(time.RFC3339), port, port)
	}
	var a, b strings.Builder
	var burst []string
	for d := range 11 {
		day := t0.AddDate(0, 0, d)
		switch {
		case d < 5:
			a.WriteString(fail(day))
		case d == 5:
			for m := range 6 {
				l := fail(day.Add(time.Duration(m) * time.Minute))
				a.WriteString(l)
				burst = append(burst, fmt.Sprintf("port %d ssh2", port))
			}
		default:
			b.WriteString(fail(day))
		}
	}
	scanAndReport(t, p, dir, "a.log", a.String(), now)
	scanAndReport(t, p, dir, "b.log", b.String(), now.Add(time.Minute))
	if n := len(mailsTo(t, dir, "root@example.org")); n != 1 {
		t.Fatalf("%d summaries to the admin, want the one due between the rounds", n)
	}
	all := memos(t, dir)
	if len(all) != 2 {
		t.Fatalf("%d mails to the desk, want the burst's and the recurrence's", len(all))
	}
	var recurrence string
	for _, text := range all {
		// Its days are its own lines', the burst's day aside.
		if strings.Contains(text, "repeated failed SSH login attempts on 10 different days") {
			recurrence = text
		}
	}
	if recurrence == "" {
		t.Fatal("no mail about the recurrence")
	}
	// 16 lines in the log, 6 of them the burst's, reported before.
	if !strings.Contains(recurrence, " (10 log lines)\n") {
		t.Errorf("the recurrence's mail does not claim the 10 lines that were not reported before:\n%s", recurrence)
	}
	for _, l := range burst {
		if strings.Contains(recurrence, l) {
			t.Errorf("the recurrence's mail shows the burst's line with %q, reported before", l)
		}
	}
}

// recurrencePipeline is a pipeline that scans logs of 45.134.26.0/24 (reported to one
// desk, into a maildir in dir, with no cooldown) in auto mode, and dir.
func recurrencePipeline(t *testing.T) (*Pipeline, string) {
	t.Helper()
	dir := t.TempDir()
	cfg := parseTestConfig(t, "cfg.toml", fmt.Sprintf(`
[reporter]
name = "Sam Example"
email = "security@example.org"
timezone = "UTC"

[[source]]
files = [%[1]q]

[detect]
timezone = "UTC"

[correlate]
threshold = 5
window = "10m"

[lookup]
rdap = false
resolvers = ["127.0.0.1:1"]
timeout = "100ms"

[[contact]]
network = "45.134.26.0/24"
emails = ["abuse@hostco.example"]

[mail]
transport = "maildir"
maildir = %[2]q
from = "abusewatch@example.org"
admin = "root@example.org"

[policy]
settle = "0s"
mode = "auto"
cooldown = "0s"
daily_cap = 0
domain_hourly_limit = 0

[store]
path = %[3]q
`, filepath.Join(dir, "none.log"), filepath.Join(dir, "maildir"), filepath.Join(dir, "state.db")))
	p, err := NewPipeline(cfg, openTestStore(t, cfg), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return p, dir
}

// scanAndReport scans log (as the file name in dir) and does a round of the outbox.
func scanAndReport(t *testing.T, p *Pipeline, dir, name, log string, now time.Time) {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(log), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.ScanFiles(t.Context(), []string{path}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := p.Tick(t.Context(), now); err != nil {
		t.Fatal(err)
	}
}

// memos are the text bodies of the mails to the desk in dir's maildir: the admin's
// daily summary lands there too, at the first round past summary.time.
func memos(t *testing.T, dir string) []string {
	t.Helper()
	return mailsTo(t, dir, "abuse@hostco.example")
}

// mailsTo are the text bodies of the mails to rcpt in dir's maildir.
func mailsTo(t *testing.T, dir, rcpt string) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "maildir", "new", "*"))
	var out []string
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m, err := mail.ReadMessage(strings.NewReader(string(raw)))
		if err != nil {
			t.Fatal(err)
		}
		to, err := m.Header.AddressList("To")
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if !slices.ContainsFunc(to, func(a *mail.Address) bool { return a.Address == rcpt }) {
			continue
		}
		body, _ := io.ReadAll(m.Body)
		out = append(out, strings.ReplaceAll(strings.ReplaceAll(string(body), "=\r\n", ""), "\r\n", "\n"))
	}
	return out
}
