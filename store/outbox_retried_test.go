package store

import (
	"bytes"
	"path/filepath"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	bolt "go.etcd.io/bbolt"
)

// A report's LastTried and Retried (what mail.give_up_after counts besides FirstTried)
// are kept with it and outlast a restart; a report as a version before them stored it
// reads with both zero, which the outbox takes as that version's count, and a report
// never tried is stored without them, as before.
func TestAReportKeepsItsRetryCount(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	first := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	if _, err := s.AddReport(abusewatch.Report{ID: "fresh", State: abusewatch.ReportQueued, Message: []byte("m")}); err != nil {
		t.Fatal(err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		// As the version before the fields wrote a report it had tried.
		old := `{"ID":"old","State":"queued","Attempts":3,"FirstTried":"2026-11-20T09:00:00Z"}`
		return tx.Bucket(bucketReports).Put([]byte("old"), []byte(old))
	})
	if err != nil {
		t.Fatal(err)
	}
	s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketReports).Get([]byte("fresh")); bytes.Contains(v, []byte("Tried")) || bytes.Contains(v, []byte("Retried")) {
			t.Errorf("a report never tried is stored with its retry count: %s", v)
		}
		return nil
	})
	r, ok, err := s.Report("old")
	if err != nil || !ok || !r.FirstTried.Equal(first) || !r.LastTried.IsZero() || r.Retried != 0 {
		t.Fatalf("the old report reads %+v, %v, %v; want FirstTried %s and no LastTried, Retried", r, ok, err, first)
	}
	last := first.Add(90 * time.Minute)
	if err := s.UpdateReport("old", func(r *abusewatch.Report) error {
		r.LastTried, r.Retried = last, 80*time.Minute
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(path, time.Second); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, _, err = s.Report("old")
	if err != nil || !r.FirstTried.Equal(first) || !r.LastTried.Equal(last) || r.Retried != 80*time.Minute || r.Attempts != 3 {
		t.Fatalf("after a restart: %+v, %v", r, err)
	}
}
