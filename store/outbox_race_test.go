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

// AddReportsOf adds the shares of one incident together or not at all: marked reported
// with one share added and the process killed before the next, a party was never told.
func TestAddReportsOfAddsEveryShareOrNone(t *testing.T) {
	s := openTemp(t)
	t0 := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	p := netip.MustParsePrefix("5.6.7.0/24")
	inc := abusewatch.Incident{ID: "n", Key: "net:5.6.7.0/24", Rule: "network", Addr: netip.MustParseAddr("5.6.7.1"), Network: p,
		First: t0, Last: t0.Add(time.Minute), Count: 12, Attempts: 12}
	if err := s.PutIncidents([]abusewatch.Incident{inc}); err != nil {
		t.Fatal(err)
	}
	_, digests, err := s.IncidentsAsStored([]string{"n"})
	if err != nil {
		t.Fatal(err)
	}
	shares := []abusewatch.Report{
		{ID: "ra", Incidents: []string{"n"}, State: abusewatch.ReportQueued, Message: []byte("a")},
		{ID: "rb", Incidents: []string{"n"}, State: abusewatch.ReportQueued, Message: []byte("b")},
	}
	grown := inc
	grown.Count, grown.Last = 13, t0.Add(2*time.Minute)
	if err := s.PutIncidents([]abusewatch.Incident{grown}); err != nil {
		t.Fatal(err)
	}
	if n, changed, err := s.AddReportsOf(shares, digests); err != nil || n != 0 || !slices.Equal(changed, []string{"n"}) {
		t.Fatalf("AddReportsOf of a changed incident = %d, %v, %v; want none added, n changed", n, changed, err)
	}
	for _, id := range []string{"ra", "rb"} {
		if _, ok, _ := s.Report(id); ok {
			t.Errorf("share %s added though the incident changed", id)
		}
	}
	_, digests, _ = s.IncidentsAsStored([]string{"n"})
	if n, changed, err := s.AddReportsOf(shares, digests); err != nil || n != 2 || len(changed) > 0 {
		t.Fatalf("AddReportsOf as stored = %d, %v, %v; want both added", n, changed, err)
	}
	for _, id := range []string{"ra", "rb"} {
		if _, ok, _ := s.Report(id); !ok {
			t.Errorf("share %s not added", id)
		}
	}
	if _, ok, _ := s.ReportFor("n"); !ok {
		t.Error("the incident is not marked reported")
	}
}
