package store

import (
	"net/netip"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	bolt "go.etcd.io/bbolt"
)

// An incident is first stored when it is made, and keeps that time as it grows and
// moves (a pass over history finds an earlier first event): the summary tells a
// recurrence made today, weeks after its first event, from one that grew.
func TestAnIncidentKeepsWhenItWasFirstStored(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "state.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t0 := time.Date(2026, 10, 20, 3, 0, 0, 0, time.UTC)
	inc := abusewatch.Incident{ID: "r1", Key: "ip:45.134.26.17", Rule: "recurrence", Addr: netip.MustParseAddr("45.134.26.17"),
		First: t0, Last: t0.AddDate(0, 0, 20), Count: 30, Evidence: []abusewatch.Event{ev("45.134.26.17", t0)}}
	before := time.Now()
	if err := s.PutIncidents([]abusewatch.Incident{inc}); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	got, err := s.FirstStored([]string{inc.ID, "none"})
	stored, ok := got[inc.ID]
	if err != nil || !ok || len(got) != 1 || stored.Before(before) || stored.After(after) {
		t.Fatalf("FirstStored = %v, %v; want r1 alone, between %v and %v", got, err, before, after)
	}
	// It grows, and begins earlier: written again, it keeps its time.
	inc.First, inc.Last, inc.Count = t0.AddDate(0, 0, -3), inc.Last.AddDate(0, 0, 1), 33
	if err := s.PutIncidents([]abusewatch.Incident{inc}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.FirstStored([]string{inc.ID}); err != nil || !got[inc.ID].Equal(stored) {
		t.Errorf("FirstStored after it grew = %v, %v; want %v", got, err, stored)
	}
}

// A version 10 file's incident_last values do not say when an incident was first
// stored: they stay readable, the time stays unknown (it was not stored now) when one
// is written again, and an incident made after the upgrade has its own.
func TestVersion10IncidentsStayReadableWithoutWhenTheyWereStored(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "state.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	inc := abusewatch.Incident{ID: "b1", Key: "ip:45.134.26.17", Rule: "per-address", Addr: netip.MustParseAddr("45.134.26.17"),
		First: t0, Last: t0.Add(time.Minute), Count: 5, Evidence: []abusewatch.Event{ev("45.134.26.17", t0)}}
	if err := s.PutIncidents([]abusewatch.Incident{inc}); err != nil {
		t.Fatal(err)
	}
	// What version 10 wrote: the last and first event, the digest and the flags.
	s = reopenAsVersion(t, s, 10, func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketIncidentLast).Get([]byte(inc.ID))
		return tx.Bucket(bucketIncidentLast).Put([]byte(inc.ID), slices.Clone(v[:25]))
	})
	if incs, _, err := s.IncidentsSince(t0, 0); err != nil || len(incs) != 1 || IncidentDigest(incs[0]) != IncidentDigest(inc) {
		t.Errorf("IncidentsSince = %d, %v; want the incident", len(incs), err)
	}
	if got, err := s.IncidentDigests([]string{inc.ID}); err != nil || got[0] != IncidentDigest(inc) {
		t.Errorf("IncidentDigests = %x, %v; want %x", got, err, IncidentDigest(inc))
	}
	if got, err := s.FirstStored([]string{inc.ID}); err != nil || len(got) != 0 {
		t.Errorf("FirstStored of an incident of version 10 = %v, %v; want it left out", got, err)
	}
	inc.Last, inc.Count = inc.Last.Add(time.Minute), 6
	other := abusewatch.Incident{ID: "b2", Key: "ip:45.134.26.18", Rule: "per-address", Addr: netip.MustParseAddr("45.134.26.18"),
		First: t0, Last: t0.Add(time.Minute), Count: 5, Evidence: []abusewatch.Event{ev("45.134.26.18", t0)}}
	if err := s.PutIncidents([]abusewatch.Incident{inc, other}); err != nil {
		t.Fatal(err)
	}
	got, err := s.FirstStored([]string{inc.ID, other.ID})
	if _, known := got[inc.ID]; err != nil || known {
		t.Errorf("FirstStored of a version 10 incident written again = %v, %v; want it still unknown", got, err)
	}
	if _, known := got[other.ID]; !known {
		t.Errorf("FirstStored of an incident made after the upgrade = %v; want its time", got)
	}
	if incs, _, err := s.IncidentsSince(t0, 0); err != nil || len(incs) != 2 {
		t.Errorf("IncidentsSince after the writes = %d, %v; want 2", len(incs), err)
	}
}
