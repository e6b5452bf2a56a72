package daemon

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
)

// Settling counts each incident of the outbox's work list that policy.settle holds
// once, however many batches the list takes (one reaching the list's end goes on from
// its start), and leaves out those held for another reason (for the admin only).
func TestSettlingCountsEachIncidentOnceAcrossBatches(t *testing.T) {
	dir := t.TempDir()
	cfg := parseTestConfig(t, filepath.Join(dir, "abusewatch.toml"), `
[reporter]
name = "Sam Example"
[mail]
from = "abusewatch@example.org"
[policy]
settle = "1h"
[store]
path = "`+filepath.Join(dir, "state.db")+`"
`)
	st := openTestStore(t, cfg)
	now := time.Now()
	for i := range 7 {
		inc := attack(t, st, fmt.Sprintf("45.134.26.%d", 10+i), now.Add(-10*time.Minute), 20)
		if i%3 == 0 { // 0, 3, 6: probes only, never reported outside
			inc.AdminOnly = true
			if err := st.PutIncidents([]abusewatch.Incident{inc}); err != nil {
				t.Fatal(err)
			}
		}
	}
	why, err := StoredUnreported(cfg, st, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, batch := range []int{1, 3, 7, 2000} {
		if c, err := settling(st, why, batch); err != nil || c.Incidents != 4 {
			t.Errorf("batches of %d: %d settling (%v), want 4", batch, c.Incidents, err)
		}
	}
	// Past policy.settle none is.
	if why, err = StoredUnreported(cfg, st, now.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if c, err := Settling(st, why); err != nil || c.Incidents != 0 {
		t.Errorf("after policy.settle: %d settling (%v), want 0", c.Incidents, err)
	}
}
