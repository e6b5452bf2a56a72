package store

import (
	"errors"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
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

// The first open of a store kept by a version before the marks notes what that version
// had told the admin: the incidents of a login off the work list, and its last event.
// A new store and one of a version with the marks have nothing to seed; a seed keeps
// the marks this version stored since, and is made once.
func TestAStoreOfAVersionBeforeTheMarksIsSeededOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.UnmarkedAlerts(time.Time{}); ok || err != nil {
		t.Errorf("a new store has marks to seed (%v)", err)
	}
	t0 := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	incident := func(id string, last time.Time, success bool) abusewatch.Incident {
		a := netip.MustParseAddr("91.240.118.5")
		return abusewatch.Incident{ID: id, Key: "success:" + id, Addr: a, Network: netip.PrefixFrom(a, 32),
			First: last.Add(-time.Minute), Last: last, Count: 6, Success: success, AdminOnly: true}
	}
	told, untold := incident("told", t0, true), incident("untold", t0, true)
	old := incident("told-long-ago", t0.Add(-48*time.Hour), true)
	if err := s.PutIncidents([]abusewatch.Incident{told, untold, old, incident("attack", t0, false)}); err != nil {
		t.Fatal(err)
	}
	if err := s.ExpireUnreported([]string{"told", "told-long-ago"}); err != nil {
		t.Fatal(err)
	}
	stored, err := s.Commit([]abusewatch.Event{ev("91.240.118.5", t0)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	LeaveAsBeforeAlertMarks(t, path)

	if s, err = Open(path, time.Second); err != nil {
		t.Fatal(err)
	}
	// The new version reads on before its first round: "told" grows (back on the work
	// list), another event is stored.
	told.Last, told.Count = t0.Add(time.Minute), 7
	if err := s.PutIncidents([]abusewatch.Incident{told}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit([]abusewatch.Event{ev("91.240.118.5", t0.Add(time.Minute))}, nil); err != nil {
		t.Fatal(err)
	}
	seed, ok, err := s.UnmarkedAlerts(t0.Add(-24 * time.Hour))
	var ids []string
	for _, inc := range seed.Incidents {
		ids = append(ids, inc.ID)
	}
	if !ok || err != nil || !slices.Equal(ids, []string{"told"}) || seed.ReadUpTo != stored[0].Seq {
		t.Fatalf("to seed: %v (read up to %d), %v, %v; want the incident told within the day, read up to %d", ids, seed.ReadUpTo, ok, err, stored[0].Seq)
	}
	mine := AlertMark{Login: t0, Mailed: t0.Add(2 * time.Minute)} // mailed by this version meanwhile
	if err := s.SaveAlertMarks(map[string]AlertMark{"told": mine}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := s.SeedAlertMarks(map[string]AlertMark{"told": {Login: t0, Mailed: t0.Add(3 * time.Minute)}}); err != nil {
		t.Fatal(err)
	}
	if marks, err := s.AlertMarks(time.Time{}); err != nil || marks["told"] != mine {
		t.Errorf("marks after the seed: %+v, %v; want this version's own", marks, err)
	}
	s.Close()
	if s, err = Open(path, time.Second); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, ok, err := s.UnmarkedAlerts(time.Time{}); ok || err != nil {
		t.Errorf("seeded, then opened again: marks to seed (%v)", err)
	}
}

// A note of what to seed that cannot be read to its end still gives what it holds
// before the damage, and the error says what is wrong: the seed goes on.
func TestADamagedNoteOfTheAlertsToSeedGivesWhatItHolds(t *testing.T) {
	s := openTemp(t)
	t0 := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	a := netip.MustParseAddr("91.240.118.5")
	told := abusewatch.Incident{ID: "told", Key: "success:told", Addr: a, Network: netip.PrefixFrom(a, 32),
		First: t0.Add(-time.Minute), Last: t0, Count: 6, Success: true, AdminOnly: true}
	if err := s.PutIncidents([]abusewatch.Incident{told}); err != nil {
		t.Fatal(err)
	}
	if err := s.ExpireUnreported([]string{"told"}); err != nil {
		t.Fatal(err)
	}
	if err := s.db.Update(func(tx *bolt.Tx) error {
		if err := noteUnseededAlertMarks(tx); err != nil {
			return err
		}
		meta := tx.Bucket(bucketMeta)
		return meta.Put(metaAlertMarksUnseeded, append(slices.Clone(meta.Get(metaAlertMarksUnseeded)), 9, 'x'))
	}); err != nil {
		t.Fatal(err)
	}
	seed, ok, err := s.UnmarkedAlerts(t0.Add(-time.Hour))
	if !ok || len(seed.Incidents) != 1 || seed.Incidents[0].ID != "told" || !errors.Is(err, errCorruptAlertSeed) {
		t.Errorf("a damaged note gives %+v, %v, %v; want the incident before the damage and an error saying so", seed.Incidents, ok, err)
	}
}
