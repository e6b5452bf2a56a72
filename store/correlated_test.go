package store

import (
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	bolt "go.etcd.io/bbolt"
)

// killed closes the database as a SIGKILL leaves it: without Close's own writes (the
// sealed counters, the correlation noted), and opens it again.
func killed(t *testing.T, s *Store) *Store {
	t.Helper()
	if err := s.db.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(s.path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// commitAt commits one event of 45.134.26.17 at each of times and returns their Seqs'
// last.
func commitAt(t *testing.T, s *Store, times ...time.Time) uint64 {
	t.Helper()
	var evs []abusewatch.Event
	for _, at := range times {
		evs = append(evs, ev("45.134.26.17", at))
	}
	out, err := s.Commit(evs, nil)
	if err != nil {
		t.Fatal(err)
	}
	return out[len(out)-1].Seq
}

func checkUncorrelated(t *testing.T, s *Store, what string, events int, from, to time.Time, through uint64) {
	t.Helper()
	u, err := s.Uncorrelated()
	if err != nil {
		t.Fatal(err)
	}
	if u.Events != events || events > 0 && (!u.From.Equal(from) || !u.To.Equal(to) || u.Through != through) {
		t.Errorf("%s: Uncorrelated = %d events from %s to %s through %d; want %d from %s to %s through %d",
			what, u.Events, u.From, u.To, u.Through, events, from, to, through)
	}
}

// A batch committed is past the correlation mark until its incidents are stored with
// the mark (PutBatchIncidents), or until the next transaction that writes the mark when
// it made none (NoteCorrelated): a kill before leaves it, with its time span, for the
// next start; a failed correlation leaves it and the batches after it until
// MarkCorrelated.
func TestCorrelationMarkSurvivesAKill(t *testing.T) {
	s, _ := openNew(t)
	t.Cleanup(func() { s.Close() })
	t0 := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
	checkUncorrelated(t, s, "a new store", 0, t0, t0, 0)

	a := commitAt(t, s, t0.Add(2*time.Second), t0, t0.Add(time.Second))
	checkUncorrelated(t, s, "a batch committed", 3, t0, t0.Add(2*time.Second), a)
	s = killed(t, s)
	checkUncorrelated(t, s, "killed after the commit", 3, t0, t0.Add(2*time.Second), a)

	// Correlated without an incident: noted, written with the next commit.
	s.NoteCorrelated(a)
	checkUncorrelated(t, s, "noted correlated", 0, t0, t0, 0)
	b := commitAt(t, s, t0.Add(time.Hour))
	s = killed(t, s)
	checkUncorrelated(t, s, "killed after the next commit", 1, t0.Add(time.Hour), t0.Add(time.Hour), b)

	// Its incidents stored with the mark.
	inc := abusewatch.Incident{ID: "i1", Key: "ip:45.134.26.17", First: t0, Last: t0.Add(time.Hour)}
	if err := s.PutBatchIncidents([]abusewatch.Incident{inc}, b); err != nil {
		t.Fatal(err)
	}
	s = killed(t, s)
	checkUncorrelated(t, s, "killed after its incidents", 0, t0, t0, 0)

	// A correlation fails: the batches after it wait with it, whatever they made.
	c := commitAt(t, s, t0.Add(3*time.Hour))
	d := commitAt(t, s, t0.Add(2*time.Hour))
	if err := s.PutBatchIncidents([]abusewatch.Incident{inc}, 0); err != nil {
		t.Fatal(err)
	}
	s = killed(t, s)
	checkUncorrelated(t, s, "two batches after a failed correlation", 2, t0.Add(2*time.Hour), t0.Add(3*time.Hour), d)
	if c >= d {
		t.Fatalf("Seqs %d, %d out of order", c, d)
	}
	if err := s.MarkCorrelated(d); err != nil {
		t.Fatal(err)
	}
	s = killed(t, s)
	checkUncorrelated(t, s, "caught up", 0, t0, t0, 0)

	// A clean stop writes what was noted.
	e := commitAt(t, s, t0.Add(4*time.Hour))
	s.NoteCorrelated(e)
	path := s.path
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	checkUncorrelated(t, s, "closed after noting the last batch", 0, t0, t0, 0)
}

// A store kept by a version before the correlation mark starts with the mark at its
// newest event: an upgrade does not judge the whole store again. So does a store an
// older version committed to after the mark (downgraded, then upgraded again).
func TestCorrelationMarkOfAnOlderStoreStartsAtItsNewestEvent(t *testing.T) {
	s, _ := openNew(t)
	t.Cleanup(func() { s.Close() })
	t0 := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
	commitAt(t, s, t0, t0.Add(time.Minute))
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Delete(metaCorrelated) }); err != nil {
		t.Fatal(err)
	}
	s = killed(t, s)
	checkUncorrelated(t, s, "an older store", 0, t0, t0, 0)
	last := commitAt(t, s, t0.Add(time.Hour))
	checkUncorrelated(t, s, "its first batch since", 1, t0.Add(time.Hour), t0.Add(time.Hour), last)

	// An older version commits after the mark (which it does not know): the mark
	// takes those events as correlated, and keeps what it held.
	var mark []byte
	if err := s.db.View(func(tx *bolt.Tx) error {
		mark = append(mark, tx.Bucket(bucketMeta).Get(metaCorrelated)...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	commitAt(t, s, t0.Add(5*time.Hour))
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(metaCorrelated, mark) }); err != nil {
		t.Fatal(err)
	}
	s = killed(t, s)
	u, err := s.Uncorrelated()
	if err != nil {
		t.Fatal(err)
	}
	if !u.From.Equal(t0.Add(time.Hour)) || !u.To.Equal(t0.Add(time.Hour)) {
		t.Errorf("after an older version's commit: Uncorrelated from %s to %s; want the batch the mark held, at %s", u.From, u.To, t0.Add(time.Hour))
	}
	if err := s.MarkCorrelated(u.Through); err != nil {
		t.Fatal(err)
	}
	checkUncorrelated(t, s, "caught up", 0, t0, t0, 0)
}
