package store

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
)

// After retention deleted most of the events, the file keeps its size until Compact,
// which gives the free pages back and keeps everything that is left, and the mode.
func TestCompactGivesBackWhatRetentionFreed(t *testing.T) {
	s, path := openNew(t)
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for d := range 60 {
		var evs []abusewatch.Event
		for i := range 500 {
			e := ev(fmt.Sprintf("45.134.%d.%d", d, 1+i%250), t0.AddDate(0, 0, d).Add(time.Duration(i)*time.Second))
			e.Line = fmt.Sprintf("web1 sshd[%d]: Failed password for root from %s port %d ssh2 (day %d)", i, e.Addr, 40000+i, d)
			evs = append(evs, e)
		}
		if _, err := s.Commit(evs, nil); err != nil {
			t.Fatal(err)
		}
	}
	cut := t0.AddDate(0, 0, 50)
	if _, err := s.PruneEvents(context.Background(), cut, 0); err != nil {
		t.Fatal(err)
	}
	wantCount, _ := s.EventCount()
	// The free pages are a floor of what Compact gives back: it packs the pages in
	// use too.
	if st, err := s.Stats(); err != nil || st.FreeBytes*8 < st.SizeBytes || st.FreeBytes >= st.SizeBytes {
		t.Errorf("Stats = %+v, %v; want an eighth of the file or more free after the prune", st, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	res, err := Compact(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if res.After != fi.Size() || res.After*2 > res.Before {
		t.Errorf("Compact = %+v (file %d bytes); want it at most half the size", res, fi.Size())
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v after compacting, want 0600", fi.Mode().Perm())
	}
	if _, err := os.Stat(path + ".compact"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the copy is left beside the file: %v", err)
	}
	s, err = Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n, _ := s.EventCount(); n != wantCount {
		t.Errorf("%d events after compacting, want %d", n, wantCount)
	}
	got, err := s.EventsByAddr(netip.MustParseAddr("45.134.55.7"), t0, t0.AddDate(1, 0, 0))
	if err != nil || len(got) != 2 || got[0].Line == "" {
		t.Errorf("EventsByAddr after compacting = %d events, %v", len(got), err)
	}
	days, err := s.Days(netip.MustParsePrefix("45.0.0.0/8"), t0, t0.AddDate(1, 0, 0))
	if err != nil || len(days) != 60 {
		t.Errorf("the counters after compacting: %d days, %v; want 60", len(days), err)
	}
}

// Compact refuses a file another process holds (the daemon), and leaves it as it was.
func TestCompactRefusesAStoreInUse(t *testing.T) {
	s, path := openNew(t)
	defer s.Close()
	if _, err := s.Commit([]abusewatch.Event{ev("45.134.26.17", time.Now())}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := Compact(path, 50*time.Millisecond); !errors.Is(err, ErrLocked) {
		t.Fatalf("Compact of a store in use = %v, want ErrLocked", err)
	}
	if n, err := s.EventCount(); err != nil || n != 1 {
		t.Errorf("the store in use has %d events (%v) after the refusal", n, err)
	}
}
