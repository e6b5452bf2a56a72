package store

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
)

func TestPruneEventsKeepsCountersAndDropsBlocks(t *testing.T) {
	s := openTemp(t)
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	var evs []abusewatch.Event
	for d := range 10 {
		evs = append(evs, ev("45.134.26.17", t0.AddDate(0, 0, d)), ev("2001:67c:2e8::1", t0.AddDate(0, 0, d)))
	}
	if _, err := s.Commit(evs, nil); err != nil {
		t.Fatal(err)
	}
	cut := t0.AddDate(0, 0, 7)                            // keeps days 7, 8, 9: the event exactly at the cut stays
	n, err := s.PruneEvents(context.Background(), cut, 3) // several small transactions
	if err != nil || n != 14 {
		t.Fatalf("PruneEvents = %d, %v; want 14", n, err)
	}
	if left, _ := s.EventCount(); left != 6 {
		t.Errorf("%d events left, want 6", left)
	}
	got, err := s.EventsByAddr(netip.MustParseAddr("45.134.26.17"), t0.AddDate(-1, 0, 0), t0.AddDate(1, 0, 0))
	if err != nil || len(got) != 3 || !got[0].Time.Equal(cut) {
		t.Errorf("EventsByAddr after pruning = %d events, %v", len(got), err)
	}
	s.db.View(func(tx *boltTx) error {
		if n := tx.Bucket(bucketBlocks).Stats().KeyN; n != 3 { // one block per hour committed
			t.Errorf("%d blocks left, want 3", n)
		}
		return nil
	})
	days, err := s.Days(netip.MustParsePrefix("45.134.26.0/24"), t0.AddDate(-1, 0, 0), t0.AddDate(1, 0, 0))
	if err != nil || len(days) != 10 {
		t.Errorf("the counters of pruned days went too: %d days, %v", len(days), err)
	}
	if oldest, ok, _ := s.OldestEvent(); !ok || !oldest.Equal(cut) {
		t.Errorf("OldestEvent = %s, %v; want %s", oldest, ok, cut)
	}
}

func TestPruneCountersDropsOnlyOldDays(t *testing.T) {
	s := openTemp(t)
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	var evs []abusewatch.Event
	for d := range 10 {
		evs = append(evs, ev("45.134.26.17", t0.AddDate(0, 0, d)))
	}
	evs = append(evs, ev("80.94.95.1", t0)) // active on the first day only
	if _, err := s.Commit(evs, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PruneCounters(context.Background(), t0.AddDate(0, 0, 4), 7); err != nil {
		t.Fatal(err)
	}
	s.db.View(func(tx *boltTx) error {
		b := tx.Bucket(bucketActive)
		if b.Get(prefixKey(netip.MustParsePrefix("80.94.95.1/32"))) != nil || b.Get(prefixKey(netip.MustParsePrefix("80.94.95.0/24"))) != nil {
			t.Error("the activity of an address not seen since the pruned days is kept")
		}
		if b.Get(prefixKey(netip.MustParsePrefix("45.134.26.17/32"))) == nil {
			t.Error("the activity of an address still active was pruned")
		}
		return nil
	})
	for _, scope := range []string{"45.134.26.17/32", "45.0.0.0/8", ""} {
		var p netip.Prefix
		if scope != "" {
			p = netip.MustParsePrefix(scope)
		}
		days, err := s.Days(p, t0.AddDate(-1, 0, 0), t0.AddDate(1, 0, 0))
		if err != nil || len(days) != 6 || !days[0].Start.Equal(time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)) {
			t.Errorf("Daily(%q) after pruning = %+v, %v; want 6 days from 2026-01-05", scope, days, err)
		}
	}
	hours, _ := s.Hours(t0.AddDate(-1, 0, 0), t0.AddDate(1, 0, 0))
	if len(hours) != 6 {
		t.Errorf("%d hourly counters left, want 6", len(hours))
	}
}

// EachEvent hands every event of the range once, oldest first, in full batches of its
// own (fn may keep them) but the last, whatever the batch size, across hours of
// several blocks that overlap in time, hours larger than a batch, and range ends
// inside an hour.
func TestEachEventBatches(t *testing.T) {
	s := openTemp(t)
	t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	var all []abusewatch.Event
	commit := func(evs ...abusewatch.Event) {
		t.Helper()
		stored, err := s.Commit(evs, nil)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, stored...)
	}
	var big []abusewatch.Event
	for i := range 40 { // hour 0, then a second block of it that overlaps the first
		big = append(big, ev("45.134.26.17", t0.Add(time.Duration(i)*time.Minute)))
	}
	commit(big...)
	commit(ev("45.134.26.18", t0.Add(90*time.Second)), ev("45.134.26.18", t0.Add(30*time.Minute+time.Second)))
	commit(ev("45.134.26.19", t0.Add(3*time.Hour)), ev("45.134.26.19", t0.Add(3*time.Hour+time.Minute))) // hours 1-2 empty
	slices.SortStableFunc(all, func(a, b abusewatch.Event) int { return a.Time.Compare(b.Time) })
	for _, r := range []struct{ from, to time.Time }{
		{t0, t0.Add(4 * time.Hour)},
		{t0.Add(90 * time.Second), t0.Add(3 * time.Hour)}, // both ends on an event
	} {
		var want []abusewatch.Event
		for _, e := range all {
			if !e.Time.Before(r.from) && !e.Time.After(r.to) {
				want = append(want, e)
			}
		}
		for _, batch := range []int{1, 3, 7, 41, 1000} {
			var got [][]abusewatch.Event
			err := s.EachEvent(r.from, r.to, batch, func(evs []abusewatch.Event) error {
				got = append(got, evs)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			for i, b := range got {
				if len(b) == 0 || len(b) > batch || (i < len(got)-1 && len(b) != batch) {
					t.Errorf("batch %d of size %d: %d events", i, batch, len(b))
				}
				// Each batch owns its memory: what fn writes past its end is no
				// other batch's.
				for i := range b[len(b):cap(b)] {
					b[:cap(b)][len(b)+i] = abusewatch.Event{Seq: 1 << 60}
				}
			}
			var flat []abusewatch.Event
			for _, b := range got {
				flat = append(flat, b...)
			}
			if !slices.EqualFunc(flat, want, func(a, b abusewatch.Event) bool { return a.Seq == b.Seq && a.Time.Equal(b.Time) }) {
				t.Errorf("batches of %d from %s: %d events, want %d in time order", batch, r.from.Format(time.TimeOnly), len(flat), len(want))
			}
			// Batches handed back as soon as they are read hold the next ones.
			var seqs []uint64
			err = s.EachEvent(r.from, r.to, batch, func(evs []abusewatch.Event) error {
				for _, e := range evs {
					seqs = append(seqs, e.Seq)
				}
				s.Recycle(evs)
				return nil
			})
			if err != nil || !slices.Equal(seqs, seqsOf(want)) {
				t.Errorf("batches of %d recycled: events %v, want %v (%v)", batch, seqs, seqsOf(want), err)
			}
		}
	}
	stop := errors.New("enough")
	n := 0
	if err := s.EachEvent(t0, t0.Add(4*time.Hour), 2, func([]abusewatch.Event) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Errorf("EachEvent after fn failed = %v, %d calls; want fn's error after one", err, n)
	}
}

func seqsOf(evs []abusewatch.Event) []uint64 {
	out := make([]uint64, len(evs))
	for i, e := range evs {
		out[i] = e.Seq
	}
	return out
}
