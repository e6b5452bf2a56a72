package daemon

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// An address comes back low and slow for 40 days and its recurrence is reported; two
// months later it comes back on three days. The follow-up is reported whether the
// retention pass ran before those days were read or after: with incidents kept 30 days,
// the reported recurrence used to be deleted, and then the same logs gave a follow-up
// report in one order and nothing in the other (the review's D8). A reported incident
// is kept for the recurrence's period.
func TestAReportedRecurrenceOutlivesIncidentRetentionForItsFollowUp(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	port := 30000
	fail := func(addr string, at time.Time) string {
		port++
		return fmt.Sprintf("%s web1 sshd[%d]: Failed password for root from %s port %d ssh2\n", at.Format(time.RFC3339), port, addr, port)
	}
	// An hour into the day d days ago: the day's two lines, 90 minutes apart, on one
	// day whatever the time of the run (from 22:30 UTC they were on two, and the
	// recurrence's days were not those counted).
	dayAgo := func(d int) time.Time { return now.AddDate(0, 0, -d).Truncate(24 * time.Hour).Add(time.Hour) }
	var old, burst, recent strings.Builder
	for d := 100; d >= 61; d -= 3 { // 14 days, two lines a day
		for _, m := range []int{0, 90} {
			old.WriteString(fail("45.134.26.7", dayAgo(d).Add(time.Duration(m)*time.Minute)))
		}
	}
	// A burst of another address, now: the newest event, which retention counts back from.
	for i := range 12 {
		burst.WriteString(fail("45.134.26.9", now.Add(-time.Hour+time.Duration(20*i)*time.Second)))
	}
	for _, d := range []int{6, 4, 2} {
		for _, m := range []int{0, 90} {
			recent.WriteString(fail("45.134.26.7", dayAgo(d).Add(time.Duration(m)*time.Minute)))
		}
	}
	recurrences := func(retainFirst bool) []string {
		p, dir := recurrencePipeline(t)
		r := p.cfg.Retention
		r.Events.Duration, r.Incidents.Duration = 30*day, 30*day
		retain := func() {
			t.Helper()
			if err := Retain(t.Context(), p.store, r, p.cfg.Correlate, now, func(string, ...any) {}); err != nil {
				t.Fatal(err)
			}
		}
		// The recurrence is read and reported as it happened, 60 days ago.
		scanAndReport(t, p, dir, "old.log", old.String(), now.AddDate(0, 0, -60))
		scanAndReport(t, p, dir, "burst.log", burst.String(), now)
		if retainFirst {
			retain()
		}
		scanAndReport(t, p, dir, "recent.log", recent.String(), now.Add(time.Minute))
		if !retainFirst {
			retain()
		}
		var out []string
		for _, text := range memos(t, dir) {
			if (strings.Contains(text, "on 14 different days") || strings.Contains(text, "more days after those we reported before")) &&
				strings.Contains(text, "45.134.26.7") {
				out = append(out, text)
			}
		}
		return out
	}
	after, before := recurrences(false), recurrences(true)
	if len(after) != 2 || len(before) != 2 {
		t.Fatalf("recurrence mails about 45.134.26.7: %d with retention after the recent days were read, %d with it before; want 2 (the recurrence and its follow-up) both ways",
			len(after), len(before))
	}
	// The follow-up says what its lines are: three days after those reported (it
	// said "on many different days" of them).
	for _, mails := range [][]string{after, before} {
		if !slices.ContainsFunc(mails, func(text string) bool {
			return strings.Contains(text, "(6 log lines)") && strings.Contains(text, "repeated failed SSH login attempts on 3 more days after those we reported before")
		}) {
			t.Errorf("no follow-up of the 6 recent lines, on 3 more days after those reported:\n%s", strings.Join(mails, "\n----\n"))
		}
	}
}
