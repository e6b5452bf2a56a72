package daemon

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
)

// The retention pass that starts with the daemon reads the newest event of a new,
// empty store while the follower commits its first batch of a 45-day-old log
// (review 23, finding 4). The batch is committed after that read, so no cutoff made
// from the wall clock may judge it: reading an old log for the first time keeps what
// it read.
func TestRetentionOnFirstStartKeepsTheFirstBatchOfAnOldLog(t *testing.T) {
	p := correlatePipeline(t, "")
	now := time.Now()
	old := now.Add(-45 * day)
	var evs []abusewatch.Event
	for i := range 30 {
		evs = append(evs, abusewatch.Event{Time: old.Add(time.Duration(i) * time.Second), Class: abusewatch.ClassAuthFailure,
			Addr: netip.MustParseAddr(fmt.Sprintf("45.1.0.%d", 1+i%10)), Host: "web1", LocalPort: 22})
	}
	committed := false
	retainReadNewest = func() {
		if _, err := p.store.Commit(evs, nil); err != nil {
			t.Error(err)
		}
		committed = true
	}
	t.Cleanup(func() { retainReadNewest = func() {} })
	if err := Retain(t.Context(), p.store, p.cfg.Retention, p.cfg.Correlate, now, func(string, ...any) {}); err != nil {
		t.Fatal(err)
	}
	if n, err := p.store.EventCount(); err != nil || n != len(evs) {
		t.Errorf("events after the first retention pass: %d, %v; want the %d the follower committed during it (committed: %v)", n, err, len(evs), committed)
	}
	// The next pass judges them against the newest event, 45 days old: it keeps them too.
	retainReadNewest = func() {}
	if err := Retain(t.Context(), p.store, p.cfg.Retention, p.cfg.Correlate, now, func(string, ...any) {}); err != nil {
		t.Fatal(err)
	}
	if n, err := p.store.EventCount(); err != nil || n != len(evs) {
		t.Errorf("events after the second pass: %d, %v; want %d", n, err, len(evs))
	}
}
