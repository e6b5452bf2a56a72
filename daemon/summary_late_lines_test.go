package daemon

import (
	"strings"
	"testing"
	"time"
)

// A log file that appears after the daemon started (or becomes readable) holds the lines
// logged so far, dated before the schedule's start: the round that reads them mails the
// possible compromise and a report, and the first summary covers them, their incidents
// and the compromise. It said "0 events, 0 new incidents" and named no compromise, as
// it counted by the lines' dates from the start (review summary46 H1).
func TestTheFirstSummaryCoversALogThatAppearedAfterTheStart(t *testing.T) {
	p, cfg := periodPipeline(t, "auto", "")
	tick := ticker(t, p)
	tick(utc(21, 6, 30)) // the first round, on an empty store: the schedule starts
	feed := &periodFeed{p: p}
	feed.lines(t, failedLogins("81.2.69.5", utc(21, 5, 40), 7)...)
	feed.lines(t, utc(21, 5, 48).Format(time.RFC3339)+" web1 sshd[4242]: Accepted password for alice from 81.2.69.5 port 51234 ssh2")
	feed.lines(t, failedLogins("45.134.26.7", utc(21, 5, 50), 8)...)
	tick(utc(21, 6, 31)) // the alert and the reports go
	if n := p.Counters.Delivered.Load(); n == 0 {
		t.Fatal("the round after the file appeared delivered no report")
	}
	tick(utc(22, 6, 5)) // summary.time (07:00 Berlin)
	tick(utc(23, 6, 5))

	sums := sentSummaries(t, cfg.Mail.Maildir)
	if len(sums) != 2 {
		t.Fatalf("%d summaries, want 2", len(sums))
	}
	first := sums[0]
	for _, want := range []string{"2026-11-21 06:40:00 +0100 to 2026-11-22 07:05:00 +0100", "EVENTS: 16", "45.134.26.7",
		"Accepted password for alice from 81.2.69.5"} {
		if !strings.Contains(first, want) {
			t.Errorf("the first summary does not say %q:\n%s", want, first)
		}
	}
	if strings.Contains(first, "NEW INCIDENTS: 0") {
		t.Errorf("the first summary names no new incident:\n%s", first)
	}
	if comp := section(first, "POSSIBLE COMPROMISES"); !strings.Contains(comp, "81.2.69.5") {
		t.Errorf("the first summary does not list the compromise mailed:\n%s", first)
	}
	second := sums[1]
	for _, want := range []string{"EVENTS: 0", "NEW INCIDENTS: 0"} {
		if !strings.Contains(second, want) {
			t.Errorf("the second summary does not say %q (counted again?):\n%s", want, second)
		}
	}
	if strings.Contains(second, "POSSIBLE COMPROMISE") {
		t.Errorf("the second summary lists the compromise again:\n%s", second)
	}
}

// Lines read after the summary of their time went (a syslog sender's queue, a file
// read late) are in the next summary's counts, once: the next said "EVENTS: 0" beside
// their new incident and the bytes read (review summary46 M1).
func TestLinesReadAfterTheirSummaryAreInTheNext(t *testing.T) {
	p, cfg := periodPipeline(t, "observe", "")
	tick := ticker(t, p)
	feed := &periodFeed{p: p}
	feed.lines(t, failedLogins("45.134.26.7", utc(21, 5, 0), 6)...)
	tick(utc(21, 6, 30)) // the schedule starts
	tick(utc(22, 6, 5))  // the first summary
	// Logged in the minutes before it, read after it.
	feed.lines(t, failedLogins("81.2.69.5", utc(22, 5, 57), 8)...)
	tick(utc(22, 6, 10))
	tick(utc(23, 6, 5))
	tick(utc(24, 6, 5))

	sums := sentSummaries(t, cfg.Mail.Maildir)
	if len(sums) != 3 {
		t.Fatalf("%d summaries, want 3", len(sums))
	}
	if !strings.Contains(sums[0], "EVENTS: 6") {
		t.Errorf("the first summary does not count its 6 events:\n%s", sums[0])
	}
	second := sums[1]
	if !strings.Contains(second, "EVENTS: 8") || !strings.Contains(section(second, "NEW INCIDENTS"), "81.2.69.5") ||
		!strings.Contains(section(second, "TOP ADDRESSES"), "81.2.69.5") {
		t.Errorf("the summary after the late lines were read does not count their 8 events:\n%s", second)
	}
	if third := sums[2]; !strings.Contains(third, "EVENTS: 0") || strings.Contains(third, "81.2.69.5") {
		t.Errorf("the third summary counts the late lines again:\n%s", third)
	}
}
