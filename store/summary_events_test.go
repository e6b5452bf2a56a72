package store

import (
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
)

// A summary counts the events stored since the one before, whatever their date (a log
// read late), and those stored before it but dated after what it counted (a clock
// ahead), each once; what is stored after it read LastSeq waits for the next.
func TestSummaryEventsAreThoseStoredSinceOrDatedAfterTheLast(t *testing.T) {
	s := openTemp(t)
	day := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	last := day.Add(6 * time.Hour) // the last summary's end
	commit := func(evs ...abusewatch.Event) {
		t.Helper()
		if _, err := s.Commit(evs, nil); err != nil {
			t.Fatal(err)
		}
	}
	// Before the last summary: one it counted, one dated after it (not counted then).
	commit(ev("45.134.26.1", last.Add(-time.Hour)), ev("45.134.26.2", last.Add(2*time.Hour)))
	next, err := s.LastSeq()
	if err != nil {
		t.Fatal(err)
	}
	next++
	// After it: a line logged before it (read late), one logged after it.
	commit(ev("45.134.26.3", last.Add(-30*time.Minute)), ev("45.134.26.4", last.Add(3*time.Hour)))
	through, err := s.LastSeq()
	if err != nil {
		t.Fatal(err)
	}
	commit(ev("45.134.26.5", last.Add(4*time.Hour))) // after this summary read LastSeq
	now := last.Add(24 * time.Hour)
	evs, n, err := s.SummaryEvents(next, through, last.Add(-time.Nanosecond), day.Add(-7*24*time.Hour), now, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range evs {
		got = append(got, e.Addr.String())
	}
	want := []string{"45.134.26.3", "45.134.26.2", "45.134.26.4"}
	if n != len(want) || len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("counted %v (%d); want %v, oldest first", got, n, want)
	}
	// Past the limit, only the count grows: from the blocks' index when it can.
	if evs, n, err := s.SummaryEvents(next, through, last.Add(-time.Nanosecond), day.Add(-7*24*time.Hour), now, 1); err != nil || n != 3 || len(evs) != 1 {
		t.Errorf("with a limit of 1: %d events of %d, %v; want 1 of 3", len(evs), n, err)
	}
}
