package store

import (
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	bolt "go.etcd.io/bbolt"
)

// The removal of an exclusion keeps the time it lasted, by date and by the events stored
// meanwhile, across a reopen (a restart, a later `correlate --rebuild`); excluding the
// network again keeps its start; retention forgets it once what it held back is gone.
func TestARemovedExclusionKeepsTheTimeItLasted(t *testing.T) {
	s, path := openNew(t)
	t0 := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
	p := netip.MustParsePrefix("45.134.26.50/32")
	if _, err := s.Commit([]abusewatch.Event{ev("45.134.26.50", t0)}, nil); err != nil { // Seq 1, before it
		t.Fatal(err)
	}
	if err := s.AddExclusion(Exclusion{Network: p, Reason: "our pen-test", Added: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit([]abusewatch.Event{ev("45.134.26.50", t0.Add(time.Minute)), ev("45.134.26.50", t0.Add(2*time.Minute))}, nil); err != nil { // 2, 3
		t.Fatal(err)
	}
	// Excluded again: it stays excluded since the first time.
	if err := s.AddExclusion(Exclusion{Network: p, Reason: "our pen-test, week 49", Added: t0.Add(2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.RemoveExclusion(p, t0.Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit([]abusewatch.Event{ev("45.134.26.50", t0.Add(4*time.Hour))}, nil); err != nil { // 4, after it
		t.Fatal(err)
	}
	s.Close()
	r, err := OpenReadOnly(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	past, err := r.PastExclusions()
	r.Close()
	want := PastExclusion{Network: p, Reason: "our pen-test, week 49", From: t0.Add(time.Hour), To: t0.Add(3 * time.Hour), FromSeq: 2, ToSeq: 4}
	if err != nil || len(past) != 1 || !past[0].From.Equal(want.From) || !past[0].To.Equal(want.To) ||
		past[0].FromSeq != want.FromSeq || past[0].ToSeq != want.ToSeq || past[0].Network != p || past[0].Reason != want.Reason {
		t.Fatalf("past exclusions after a reopen = %+v, %v; want %+v", past, err, want)
	}
	s, err = Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// The retention pass forgets it once it ended before the cutoff it gives.
	if err := s.ForgetPastExclusions(t0.Add(3 * time.Hour)); err != nil {
		t.Fatal(err)
	}
	if past, err := s.PastExclusions(); err != nil || len(past) != 1 {
		t.Fatalf("forgotten by a cutoff at its end: %+v, %v", past, err)
	}
	if err := s.ForgetPastExclusions(t0.Add(3*time.Hour + time.Nanosecond)); err != nil {
		t.Fatal(err)
	}
	if past, err := s.PastExclusions(); err != nil || len(past) != 0 {
		t.Fatalf("left after a cutoff past its end: %+v, %v", past, err)
	}
}

// An exclusion recorded by a version before its start was kept, removed, lasted since
// ever: both starts are zero (correlate.HeldBack reads them so).
func TestAnExclusionOfAnOlderVersionLastedSinceEver(t *testing.T) {
	s := openTemp(t)
	t0 := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
	p := netip.MustParsePrefix("45.134.26.0/24")
	if _, err := s.Commit([]abusewatch.Event{ev("45.134.26.50", t0)}, nil); err != nil {
		t.Fatal(err)
	}
	// As that version wrote it: no from, no from_seq.
	v, err := json.Marshal(map[string]any{"network": p.String(), "reason": "a partner", "added": t0})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketExclusions).Put(prefixKey(p), v) }); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.RemoveExclusion(p, t0.Add(time.Hour)); !ok || err != nil {
		t.Fatalf("removal: %v, %v", ok, err)
	}
	past, err := s.PastExclusions()
	if err != nil || len(past) != 1 || !past[0].From.IsZero() || past[0].FromSeq != 0 || past[0].ToSeq != 2 || !past[0].To.Equal(t0.Add(time.Hour)) {
		t.Fatalf("past exclusions = %+v, %v; want one since ever, to Seq 2", past, err)
	}
}
