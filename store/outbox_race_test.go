package store

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
)

// AddReportOf marks incidents reported only if they are stored as the report was
// composed from, in the same transaction; ReplaceReport with digests likewise.
func TestAddReportOfAddsNothingWhenAnIncidentChanged(t *testing.T) {
	s := openTemp(t)
	t0 := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	a := netip.MustParseAddr("45.134.26.7")
	inc := abusewatch.Incident{ID: "a", Key: "ip:45.134.26.7", Rule: "per-address", Addr: a, Network: netip.PrefixFrom(a, 32),
		First: t0, Last: t0.Add(time.Minute), Count: 5, Attempts: 5}
	if err := s.PutIncidents([]abusewatch.Incident{inc}); err != nil {
		t.Fatal(err)
	}
	read, digests, err := s.IncidentsAsStored([]string{"a", "gone"})
	if err != nil || len(read) != 1 || digests["a"] != IncidentDigest(inc) {
		t.Fatalf("IncidentsAsStored = %d incidents, %x, %v", len(read), digests, err)
	}
	grown := inc
	grown.Count, grown.Last = 6, t0.Add(2*time.Minute)
	if err := s.PutIncidents([]abusewatch.Incident{grown}); err != nil {
		t.Fatal(err)
	}
	r := abusewatch.Report{ID: "r1", Incidents: []string{"a"}, State: abusewatch.ReportQueued, Message: []byte("x")}
	added, changed, err := s.AddReportOf(r, digests)
	if err != nil || added || !slices.Equal(changed, []string{"a"}) {
		t.Fatalf("AddReportOf of a changed incident = %v, %v, %v; want nothing added, a changed", added, changed, err)
	}
	if _, ok, _ := s.ReportFor("a"); ok {
		t.Fatal("the changed incident is marked reported")
	}
	if un, _, _ := s.UnreportedIncidents("", 0); len(un) != 1 {
		t.Fatalf("%d unreported incidents, want 1", len(un))
	}
	if _, ok, _ := s.Report("r1"); ok {
		t.Fatal("report added")
	}
	_, digests, _ = s.IncidentsAsStored([]string{"a"})
	if added, changed, err = s.AddReportOf(r, digests); err != nil || !added || len(changed) > 0 {
		t.Fatalf("AddReportOf as stored = %v, %v, %v; want added", added, changed, err)
	}
	if id, ok, _ := s.ReportFor("a"); !ok || id != "r1" {
		t.Fatalf("incident reported by %q, want r1", id)
	}
	// Reported by r1 now: another report of it is refused.
	if added, changed, _ = s.AddReportOf(abusewatch.Report{ID: "r9", Incidents: []string{"a"}}, digests); added || len(changed) != 1 {
		t.Errorf("a second report of a reported incident: added %v, changed %v", added, changed)
	}

	// ReplaceReport: r1's incident changed since it was read: nothing changes.
	stale := map[string]uint64{"a": IncidentDigest(inc)}
	nr := abusewatch.Report{ID: "r2", Incidents: []string{"a"}, State: abusewatch.ReportQueued, Message: []byte("y")}
	if _, err := s.ReplaceReport("r1", "why", t0, nr, stale); !errors.Is(err, ErrIncidentsChanged) {
		t.Fatalf("ReplaceReport with a changed incident: %v, want ErrIncidentsChanged", err)
	}
	if old, _, _ := s.Report("r1"); old.State != abusewatch.ReportQueued {
		t.Errorf("r1 is %s, want still queued", old.State)
	}
	if added, err := s.ReplaceReport("r1", "why", t0, nr, digests); err != nil || !added {
		t.Fatalf("ReplaceReport as stored = %v, %v", added, err)
	}
	if id, _, _ := s.ReportFor("a"); id != "r2" {
		t.Errorf("incident reported by %q, want r2", id)
	}
}
