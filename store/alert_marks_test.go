package store

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The marks of the alerts mailed are kept across processes: put, read back after a
// restart, replaced, and forgotten a day after their mail; a damaged one is named in the
// error, the others still read, and the next save deletes it.
func TestAlertMarksAreKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	mailed := time.Date(2026, 11, 20, 9, 5, 0, 0, time.UTC)
	login := time.Date(2026, 11, 20, 9, 1, 25, 0, time.UTC)
	err = s.SaveAlertMarks(map[string]AlertMark{
		"succ-91.240.118.5": {Login: login, Mailed: mailed},
		"inc-91.240.118.9":  {Mailed: mailed}, // an incident whose login the store no longer holds
	}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = Open(path, time.Second); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	marks, err := s.AlertMarks(mailed.Add(-24 * time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if m := marks["succ-91.240.118.5"]; len(marks) != 2 || !m.Login.Equal(login) || !m.Mailed.Equal(mailed) {
		t.Errorf("after a restart: %+v", marks)
	}
	if m := marks["inc-91.240.118.9"]; !m.Login.IsZero() || !m.Mailed.Equal(mailed) {
		t.Errorf("a mark without a login reads back as %+v", m)
	}
	if marks, err := s.AlertMarks(mailed.Add(time.Second)); err != nil || len(marks) != 0 {
		t.Errorf("marks mailed since after them: %+v, %v", marks, err)
	}

	// A day on: succ-91.240.118.5 is mailed again (another login), the other is
	// forgotten.
	later := mailed.Add(25 * time.Hour)
	if err := s.SaveAlertMarks(map[string]AlertMark{"succ-91.240.118.5": {Login: later.Add(-time.Minute), Mailed: later}},
		later.Add(-24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	marks, err = s.AlertMarks(time.Time{})
	if m := marks["succ-91.240.118.5"]; err != nil || len(marks) != 1 || !m.Mailed.Equal(later) || !m.Login.Equal(later.Add(-time.Minute)) {
		t.Errorf("after the next mail: %+v, %v", marks, err)
	}

	if err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAlertMarks).Put([]byte("succ-damaged"), []byte{0, 0, 1})
	}); err != nil {
		t.Fatal(err)
	}
	marks, err = s.AlertMarks(time.Time{})
	if !errors.Is(err, errCorruptAlertMark) || !strings.Contains(err.Error(), "succ-damaged") || len(marks) != 1 {
		t.Errorf("with a damaged mark: %+v, %v; want the other mark and an error naming the damaged one", marks, err)
	}
	if err := s.SaveAlertMarks(nil, later.Add(-24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if marks, err := s.AlertMarks(time.Time{}); err != nil || len(marks) != 1 {
		t.Errorf("after the next save: %+v, %v; want the damaged mark deleted", marks, err)
	}
}
