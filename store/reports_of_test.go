package store

import (
	"slices"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	bolt "go.etcd.io/bbolt"
)

// splitShares are the reports of a network incident split between two parties (each
// party's share names the whole incident), a report of an incident whose ID begins with
// the first's, and one to send still.
func splitShares() []abusewatch.Report {
	t0 := time.Date(2026, 12, 8, 3, 0, 0, 0, time.UTC)
	share := func(id, to string, created time.Time, incs ...string) abusewatch.Report {
		return abusewatch.Report{ID: id, MessageID: "<" + id + "@example.org>", Incidents: incs, State: abusewatch.ReportSent,
			Contact: abusewatch.Contact{Emails: []string{to}}, Created: created, Message: []byte("Subject: " + id + "\r\n\r\nbody\r\n")}
	}
	return []abusewatch.Report{
		share("low", "abuse@lowhalf.example", t0.Add(time.Second), "net-1"),
		share("high", "abuse@highhalf.example", t0, "net-1"),
		share("other", "abuse@lowhalf.example", t0, "net-10"),
		share("both", "abuse@highhalf.example", t0.Add(time.Minute), "ip-1", "net-10"),
	}
}

// idsOf are the IDs of rs, in their order, checking that none carries its message.
func idsOf(t *testing.T, rs []abusewatch.Report) []string {
	t.Helper()
	var ids []string
	for _, r := range rs {
		if r.Message != nil {
			t.Errorf("report %s is read with its message", r.ID)
		}
		ids = append(ids, r.ID)
	}
	return ids
}

// Review 48 M2: ReportFor keeps one report per incident, so of a network incident split
// between two parties only one party's share was found, and the other party's follow-up
// threaded to nothing. ReportsOf gives every report that names the incident, oldest
// first, and none of an incident whose ID merely begins the same.
func TestReportsOfGivesEveryShareOfASplitIncident(t *testing.T) {
	s := openTemp(t)
	for _, r := range splitShares() {
		if _, err := s.AddReport(r); err != nil {
			t.Fatal(err)
		}
	}
	if id, ok, err := s.ReportFor("net-1"); err != nil || !ok || (id != "low" && id != "high") {
		t.Fatalf("ReportFor(net-1) = %q, %v, %v", id, ok, err)
	}
	for inc, want := range map[string][]string{
		"net-1": {"high", "low"}, "net-10": {"other", "both"}, "ip-1": {"both"}, "net": nil, "net-100": nil,
	} {
		rs, err := s.ReportsOf(inc)
		if got := idsOf(t, rs); err != nil || !slices.Equal(got, want) {
			t.Errorf("ReportsOf(%s) = %v, %v; want %v", inc, got, err, want)
		}
	}
}

// An incident marked reported by a report that does not name it (MarkReportedBy: an
// earlier report holds all its lines) has that report among its own.
func TestReportsOfGivesTheReportAnIncidentIsMarkedReportedBy(t *testing.T) {
	s := openTemp(t)
	for _, r := range splitShares() {
		if _, err := s.AddReport(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketReported).Put([]byte("held"), []byte("low")) }); err != nil {
		t.Fatal(err)
	}
	if rs, err := s.ReportsOf("held"); err != nil || !slices.Equal(idsOf(t, rs), []string{"low"}) {
		t.Errorf("ReportsOf(held) = %v, %v; want the report it is marked reported by", idsOf(t, rs), err)
	}
}

// Version 12 kept one report per incident (incident_reports) and no list of them all; 13
// lists every report under each incident it names, and the migration lists the reports
// written before, so that a follow-up to each party of a network incident split before
// the upgrade threads to its own share.
func TestOpenMigratesVersion12ReportsOfEachIncident(t *testing.T) {
	s := openTemp(t)
	for _, r := range splitShares() {
		if _, err := s.AddReport(r); err != nil {
			t.Fatal(err)
		}
	}
	s = reopenAsVersion(t, s, 12, func(tx *bolt.Tx) error { return tx.DeleteBucket(bucketReportsOf) })
	if m, ok := s.Migrated(); !ok || m.From != 12 || m.To != SchemaVersion {
		t.Errorf("Migrated = %+v, %v; want from schema 12", m, ok)
	}
	for inc, want := range map[string][]string{"net-1": {"high", "low"}, "net-10": {"other", "both"}, "ip-1": {"both"}} {
		rs, err := s.ReportsOf(inc)
		if got := idsOf(t, rs); err != nil || !slices.Equal(got, want) {
			t.Errorf("after the migration, ReportsOf(%s) = %v, %v; want %v", inc, got, err, want)
		}
	}
	// A report written since is listed as well.
	late := abusewatch.Report{ID: "late", Incidents: []string{"net-1"}, State: abusewatch.ReportQueued, Created: time.Date(2026, 12, 9, 0, 0, 0, 0, time.UTC)}
	if _, err := s.AddReport(late); err != nil {
		t.Fatal(err)
	}
	if rs, err := s.ReportsOf("net-1"); err != nil || !slices.Equal(idsOf(t, rs), []string{"high", "low", "late"}) {
		t.Errorf("ReportsOf(net-1) = %v, %v; want the shares and the report written since", idsOf(t, rs), err)
	}
}
