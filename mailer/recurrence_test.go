package mailer

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
)

// A recurrence's memo says what the lines it reports show (review 22 D2, D4): on how
// many days (those the outbox read of them, Known.Recurrences; not known, those of its
// lines kept, "at least"), that they came after days we reported, and when the first
// of them was, not the first event of its first day (a forged packet), and it counts
// them alone. It said "on many different days" of a follow-up of one day.
func TestARecurrenceMemoSaysWhatItsLinesShow(t *testing.T) {
	d0 := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC) // 03:00 -0500
	line := func(d int, clock time.Duration, class abusewatch.Class) abusewatch.Event {
		at := d0.AddDate(0, 0, d).Add(clock)
		return abusewatch.Event{Time: at, Addr: netip.MustParseAddr("203.0.113.7"), Class: class, Port: 4242, Service: "sshd",
			Line: "sshd[41]: Failed password for root from 203.0.113.7 port 4242 ssh2 on " + at.Format(time.DateOnly)}
	}
	recurrence := func(evs ...abusewatch.Event) abusewatch.Incident {
		return abusewatch.Incident{ID: "rec-1", Key: "recur:203.0.113.7/32", Rule: "recurrence", Addr: netip.MustParseAddr("203.0.113.7"),
			Network: netip.MustParsePrefix("203.0.113.7/32"), Classes: []abusewatch.Class{abusewatch.ClassAuthFailure, abusewatch.ClassInvalidUser},
			First: d0, Last: evs[len(evs)-1].Time, Count: 30, Attempts: 12, Hosts: []string{"web1"}, Evidence: evs}
	}
	fail, invalid := abusewatch.ClassAuthFailure, abusewatch.ClassInvalidUser
	for _, tc := range []struct {
		name      string
		inc       abusewatch.Incident
		known     map[string]Recurrence
		want, not []string
	}{{
		name:  "a follow-up of one day after a report",
		inc:   recurrence(line(0, time.Hour, fail)),
		known: map[string]Recurrence{"rec-1": {First: d0.Add(time.Hour), Lines: 3, Classes: []abusewatch.Class{fail}, Days: map[abusewatch.Class]int{fail: 1}, AfterReport: true}},
		want: []string{"Our logs show repeated failed SSH login attempts on one more day after those we reported before coming from your network.",
			"First seen:      2026-11-20 04:00:00 -0500\n", "Connections:     3 (3 log lines)\n"},
		not: []string{"different days", "login attempts for user names"},
	}, {
		name:  "a follow-up of three days after a report",
		inc:   recurrence(line(0, time.Hour, fail), line(2, time.Hour, fail), line(4, time.Hour, fail)),
		known: map[string]Recurrence{"rec-1": {First: d0.Add(time.Hour), Lines: 30, Classes: []abusewatch.Class{fail}, Days: map[abusewatch.Class]int{fail: 3}, AfterReport: true}},
		want:  []string{"repeated failed SSH login attempts on 3 more days after those we reported before"},
		not:   []string{"different days"},
	}, {
		name: "twelve days, its first line's day known only from the counters",
		inc:  recurrence(line(0, time.Hour, fail), line(11, time.Hour, fail), line(11, 2*time.Hour, invalid)),
		known: map[string]Recurrence{"rec-1": {First: d0, FirstDay: true, Lines: 30, Classes: []abusewatch.Class{fail, invalid},
			Days: map[abusewatch.Class]int{fail: 12, invalid: 1}}},
		want: []string{"repeated failed SSH login attempts on 12 different days", "login attempts for user names that do not exist on our host coming",
			"First seen:      2026-11-20 GMT (time of day not kept)\n"},
		not: []string{"more days after", "user names that do not exist on our host on"},
	}, {
		name: "not known to the outbox: the days of its lines kept",
		inc:  recurrence(line(0, time.Hour, fail), line(3, time.Hour, fail), line(9, time.Hour, fail)),
		want: []string{"repeated failed SSH login attempts on at least 3 different days", "First seen:      2026-11-20 03:00:00 -0500\n"},
		not:  []string{"many different days"},
	}, {
		name: "not known, its lines kept of one day",
		inc:  recurrence(line(0, time.Hour, fail)),
		want: []string{"Our logs show repeated failed SSH login attempts coming from your network."},
		not:  []string{"different days"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := testComposer(t).ComposeKnowing(testContact(), []abusewatch.Incident{tc.inc}, Known{Recurrences: tc.known}, d0.AddDate(0, 1, 0))
			if err != nil {
				t.Fatal(err)
			}
			_, text := body(t, r.Message)
			mustContain(t, text, tc.want...)
			for _, n := range tc.not {
				if strings.Contains(text, n) {
					t.Errorf("memo says %q:\n%s", n, text)
				}
			}
		})
	}
}
