package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A /24 that comes back low and slow, one address a day: its recurrence names every
// address whose lines it counts when the store still holds them all, and the memo says
// how many (R9: "10 or more; these 10 are listed" with every event stored). Once the
// raw events of its first day are gone, the addresses' daily counters, which the
// recurrence is counted from, still tell (review 19 found "or more" there).
func TestARecurringNetworkSaysHowManyAddressesWhenItKnows(t *testing.T) {
	for _, tc := range []struct {
		name      string
		pruneDays int // the days of raw events deleted before the report
		want      string
	}{
		{"every event stored", 0, "Addresses seen:  10\n"},
		{"its first day's events gone", 1, "Addresses seen:  10\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, dir := recurrencePipeline(t)
			t0 := daysAgo(12).Add(10 * time.Hour)
			var log strings.Builder
			for d := range 10 {
				fmt.Fprintf(&log, "%s web1 sshd[%d]: Failed password for root from 45.134.26.%d port %d ssh2\n",
					t0.AddDate(0, 0, d).Format(time.RFC3339), 100+d, d+1, 40000+d)
			}
			if tc.pruneDays > 0 {
				// Scanned and correlated first, the report written after retention.
				path := filepath.Join(dir, "a.log")
				if err := os.WriteFile(path, []byte(log.String()), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := p.ScanFiles(t.Context(), []string{path}, time.Time{}); err != nil {
					t.Fatal(err)
				}
				if _, err := p.store.PruneEvents(t.Context(), t0.AddDate(0, 0, tc.pruneDays).Add(-time.Hour), 100); err != nil {
					t.Fatal(err)
				}
				if err := p.OutboxRound(t.Context(), time.Now()); err != nil {
					t.Fatal(err)
				}
			} else {
				scanAndReport(t, p, dir, "a.log", log.String(), time.Now())
			}
			all := memos(t, dir)
			if len(all) != 1 {
				t.Fatalf("%d mails, want the recurrence's", len(all))
			}
			if !strings.Contains(all[0], "Source network:  45.134.26.0/24\n"+tc.want) {
				t.Errorf("the memo does not say %q:\n%s", tc.want, all[0])
			}
		})
	}
}
