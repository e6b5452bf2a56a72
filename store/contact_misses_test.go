package store

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The outbox's misses are kept across processes: set, replaced, cleared, and forgotten
// once no round took their incident on for a while; a damaged entry is an error that
// names its incident, not a reason made up.
func TestContactMissesAreKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	round1 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	round2 := round1.Add(25 * time.Hour)
	err = s.SaveContactMisses(map[string]ContactMiss{
		"aaaa": {Code: "no-contact", Why: "no abuse contact found at 2026-11-20 10:00", At: round1},
		"bbbb": {Code: "do-not-contact", Why: "its network is on the do-not-contact list", At: round1},
		"cccc": {Code: "no-contact", Why: "no abuse contact found", At: round1},
	}, nil, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = Open(path, time.Second); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if m, ok, err := s.ContactMissOf("aaaa"); err != nil || !ok || m.Code != "no-contact" || m.Why != "no abuse contact found at 2026-11-20 10:00" || !m.At.Equal(round1) {
		t.Errorf("after a restart: %+v, %v, %v", m, ok, err)
	}
	// The next round: aaaa has a contact now, bbbb is tried again, cccc left the work
	// list a day ago.
	err = s.SaveContactMisses(map[string]ContactMiss{"bbbb": {Code: "do-not-contact", Why: "again", At: round2}},
		[]string{"aaaa", "never-missed"}, round2.Add(-24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{"aaaa": "", "bbbb": "again", "cccc": ""} {
		m, ok, err := s.ContactMissOf(id)
		if err != nil || ok != (want != "") || m.Why != want {
			t.Errorf("%s: %+v, %v, %v; want %q", id, m, ok, err, want)
		}
	}
	if err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketContactMisses).Put([]byte("dddd"), []byte{0, 0, 0, 0, 0, 0, 0, 1, 9, 'x'})
	}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.ContactMissOf("dddd"); !errors.Is(err, errCorruptContactMiss) {
		t.Errorf("a damaged entry: %v; want errCorruptContactMiss", err)
	}
}
