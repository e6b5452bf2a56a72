package daemon

import (
	"mime"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// summarySubjects returns the Subject of each summary in maildir, sorted.
func summarySubjects(t *testing.T, maildir string) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(maildir, "new", "*"))
	var out []string
	for _, f := range files {
		file, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		m, err := mail.ReadMessage(file)
		file.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(m.Header.Get("Message-Id"), "<summary-") {
			continue
		}
		subject, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, subject)
	}
	slices.Sort(out)
	return out
}

// The first daily summary covers what the daemon read and did from its start: the logs
// read at start (their lines, the incidents made of them), the first outbox round's
// reports and the possible compromise it mailed, and what a restarted daemon did before
// summary.time. The schedule started at the first round's time and each period began
// after its start, so the first round was in no summary: "REPORTS: 0 sent" the day four
// reports went (review 22 #3). The next summary counts none of it again.
func TestTheFirstSummaryCoversWhatTheFirstRoundDid(t *testing.T) {
	p, cfg := periodPipeline(t, "auto", "")
	feed := &periodFeed{p: p}
	// The logs read at the first start: an attack, and another followed by a login.
	feed.lines(t, failedLogins("81.2.69.5", utc(21, 5, 40), 7)...)
	feed.lines(t, utc(21, 5, 48).Format(time.RFC3339)+" web1 sshd[4242]: Accepted password for alice from 81.2.69.5 port 51234 ssh2")
	feed.lines(t, failedLogins("45.134.26.7", utc(21, 5, 50), 8)...)
	ticker(t, p)(utc(21, 6, 30)) // the first round: the report delivered, the alert mailed
	if n := p.Counters.Delivered.Load(); n != 1 {
		t.Fatalf("the first round delivered %d reports, want 1", n)
	}

	// Restarted before summary.time: another attack, another report.
	p2, err := NewPipeline(cfg, p.store, discardLog())
	if err != nil {
		t.Fatal(err)
	}
	(&periodFeed{p: p2, off: feed.off}).lines(t, failedLogins("45.134.26.8", utc(21, 12, 0), 6)...)
	tick := ticker(t, p2)
	tick(utc(21, 12, 30))
	tick(utc(22, 6, 5)) // summary.time (07:00 Berlin) has come
	tick(utc(23, 6, 5)) // and again

	sums := sentSummaries(t, cfg.Mail.Maildir)
	if len(sums) != 2 {
		t.Fatalf("%d summaries, want 2", len(sums))
	}
	first := sums[0]
	for _, want := range []string{
		"2026-11-21 06:40:00 +0100 to 2026-11-22 07:05:00 +0100", // from the oldest line read
		"REPORTS: 2 sent", "EVENTS: 22", "NEW INCIDENTS: 2", "45.134.26.7", "45.134.26.8",
		"Accepted password for alice from 81.2.69.5",
	} {
		if !strings.Contains(first, want) {
			t.Errorf("the first summary does not say %q:\n%s", want, first)
		}
	}
	if comp := section(first, "POSSIBLE COMPROMISES"); !strings.Contains(comp, "81.2.69.5") {
		t.Errorf("the first summary does not list the compromise the first round mailed:\n%s", first)
	}
	second := sums[1]
	for _, want := range []string{"2026-11-22 07:05:00 +0100 to 2026-11-23 07:05:00 +0100", "REPORTS: 0 sent", "EVENTS: 0", "NEW INCIDENTS: 0"} {
		if !strings.Contains(second, want) {
			t.Errorf("the second summary does not say %q (counted again?):\n%s", want, second)
		}
	}
	if strings.Contains(second, "POSSIBLE COMPROMISE") {
		t.Errorf("the second summary lists the compromise again:\n%s", second)
	}
	subjects := summarySubjects(t, cfg.Mail.Maildir)
	if len(subjects) != 2 || !slices.ContainsFunc(subjects, func(s string) bool { return strings.Contains(s, ", 2 reports sent") }) ||
		!slices.ContainsFunc(subjects, func(s string) bool { return strings.Contains(s, ", 0 reports sent") }) {
		t.Errorf("the summaries' subjects: %q; want one with 2 reports sent, the next with 0", subjects)
	}
}
