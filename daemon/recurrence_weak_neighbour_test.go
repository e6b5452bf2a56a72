package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A /24 that comes back one address a day, and a neighbour it does not name whose
// lines are weak: connections that gave up before logging in (protocol-probe, not in
// correlate.reportable), and none reportable. The recurrence counts the neighbour's
// lines, yet every reportable line it counts is one of the ten addresses it names:
// the memo says "10", not "10 or more" (the comparison took in the neighbour's weak
// lines, which no named address can account for).
// Once the raw events of the neighbour's first day are gone, the daily counters tell
// the same.
func TestARecurringNetworkWithAWeakNeighbourSaysHowManyAddresses(t *testing.T) {
	for _, tc := range []struct {
		name      string
		pruneDays int // the days of raw events deleted before the report
	}{{"every event stored", 0}, {"the neighbour's first day's events gone", 5}} {
		t.Run(tc.name, func(t *testing.T) {
			p, dir := recurrencePipeline(t)
			t0 := daysAgo(12).Add(10 * time.Hour)
			var log strings.Builder
			for d := range 10 {
				fmt.Fprintf(&log, "%s web1 sshd[%d]: Failed password for root from 45.134.26.%d port %d ssh2\n",
					t0.AddDate(0, 0, d).Format(time.RFC3339), 100+d, d+1, 40000+d)
				if d == 3 || d == 6 {
					fmt.Fprintf(&log, "%s web1 sshd[%d]: Did not receive identification string from 45.134.26.200 port %d\n",
						t0.AddDate(0, 0, d).Add(time.Hour).Format(time.RFC3339), 300+d, 50000+d)
				}
			}
			path := filepath.Join(dir, "a.log")
			if err := os.WriteFile(path, []byte(log.String()), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := p.ScanFiles(t.Context(), []string{path}, time.Time{}); err != nil {
				t.Fatal(err)
			}
			if tc.pruneDays > 0 {
				if _, err := p.store.PruneEvents(t.Context(), t0.AddDate(0, 0, tc.pruneDays).Add(-time.Hour), 100); err != nil {
					t.Fatal(err)
				}
			}
			if err := p.OutboxRound(t.Context(), time.Now()); err != nil {
				t.Fatal(err)
			}
			all := memos(t, dir)
			if len(all) != 1 {
				t.Fatalf("%d mails, want the recurrence's", len(all))
			}
			if want := "Source network:  45.134.26.0/24\nAddresses seen:  10\n"; !strings.Contains(all[0], want) {
				t.Errorf("the memo does not say %q:\n%s", want, all[0])
			}
			if strings.Contains(all[0], "45.134.26.200") {
				t.Errorf("the memo names the neighbour whose lines are weak:\n%s", all[0])
			}
		})
	}
}
