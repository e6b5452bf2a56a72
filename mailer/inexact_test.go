package mailer

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
)

// A party's share whose first day only the daily counters know begins at midnight
// UTC, which in our zone (EST) read as "2026-11-19 19:00:00 -0500": a time, and a day,
// no line was logged at. Known.Inexact makes the memo say
// the day in GMT and that its time is not kept, and "at least" for counts that are
// lower bounds; without it the same incident reads exact.
func TestAnInexactShareSaysItsDayAndAtLeast(t *testing.T) {
	l := &foldLog{t0: time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)}
	evs := []abusewatch.Event{l.line("203.0.113.7", 0, "web1"), l.line("203.0.113.9", 1, "web1"), l.line("203.0.113.7", 2, "web1")}
	inc := foldIncident("net-1", "network", netip.MustParsePrefix("203.0.113.0/24"), evs, 10)
	inc.First = time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC) // the day the counters know
	inc.Count, inc.Attempts = 9, 9
	for _, tc := range []struct {
		name    string
		inexact map[string]Inexact
		wants   []string
		not     string
	}{
		{"inexact", map[string]Inexact{"net-1": {FirstDay: true, Lines: true, Conns: true}},
			[]string{"First seen:      2026-11-20 GMT (time of day not kept)\n", "Last seen:       2026-11-20 03:02:00 -0500\n",
				"Connections:     at least 9 (at least 9 log lines)\n"},
			"19:00:00"},
		{"its last day alone known too", map[string]Inexact{"net-1": {FirstDay: true, LastDay: true}},
			[]string{"First seen:      2026-11-20 GMT (time of day not kept)\n", "Last seen:       2026-11-20 GMT (time of day not kept)\n",
				"Connections:     9 (9 log lines)\n"},
			"03:02:00 -0500\nConnections"},
		{"exact", nil,
			[]string{"First seen:      2026-11-19 19:00:00 -0500\n", "Connections:     9 (9 log lines)\n"},
			"not kept"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := xarfComposer(t).ComposeKnowing(testContact(), []abusewatch.Incident{inc}, Known{Inexact: tc.inexact}, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			_, _, bodies := parts(t, r.Message)
			text := strings.ReplaceAll(string(bodies[0]), "\r\n", "\n")
			for _, b := range bodies[1:] {
				text += "\n" + xarfPart(t, b)["description"].(string)
			}
			mustContain(t, text, tc.wants...)
			if strings.Contains(text, tc.not) {
				t.Errorf("the report says %q:\n%s", tc.not, text)
			}
		})
	}
}
