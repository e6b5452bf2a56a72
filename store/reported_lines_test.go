package store

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
)

// The incidents whose lines a recurrence of an address (or a /24) may take in are
// those with a report whose times meet its own, of its addresses or of a network that
// holds it, whatever address the network's is looked up through.
func TestReportedIncidentsOverAScope(t *testing.T) {
	s := openTemp(t)
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	from, to := t0, t0.AddDate(0, 0, 10)
	inc := func(id, key, addr, network string, first, last time.Time) abusewatch.Incident {
		return abusewatch.Incident{ID: id, Key: key, Rule: "per-address", Addr: netip.MustParseAddr(addr), Network: netip.MustParsePrefix(network),
			First: first, Last: last, Count: 1, Attempts: 1, Classes: []abusewatch.Class{abusewatch.ClassAuthFailure}}
	}
	incs := []abusewatch.Incident{
		inc("burst", "ip:45.134.26.4", "45.134.26.4", "45.134.26.4/32", t0.AddDate(0, 0, 5), t0.AddDate(0, 0, 5).Add(5*time.Minute)),
		inc("unreported", "ip:45.134.26.4", "45.134.26.4", "45.134.26.4/32", t0.AddDate(0, 0, 7), t0.AddDate(0, 0, 7).Add(5*time.Minute)),
		inc("ends-at-from", "ip:45.134.26.4", "45.134.26.4", "45.134.26.4/32", from.Add(-time.Hour), from),
		inc("ends-before-from", "ip:45.134.26.4", "45.134.26.4", "45.134.26.4/32", from.Add(-time.Hour), from.Add(-time.Nanosecond)),
		inc("starts-at-to", "ip:45.134.26.4", "45.134.26.4", "45.134.26.4/32", to, to.Add(time.Hour)),
		inc("starts-after-to", "ip:45.134.26.4", "45.134.26.4", "45.134.26.4/32", to.Add(time.Nanosecond), to.Add(time.Hour)),
		inc("net24", "net:45.134.26.0/24", "45.134.26.9", "45.134.26.0/24", t0.AddDate(0, 0, 3), t0.AddDate(0, 0, 3).Add(time.Hour)),
		inc("net16", "net:45.134.0.0/16", "45.134.99.1", "45.134.0.0/16", t0.AddDate(0, 0, 3), t0.AddDate(0, 0, 3).Add(time.Hour)),
		inc("other-net", "net:45.135.26.0/24", "45.135.26.4", "45.135.26.0/24", t0.AddDate(0, 0, 3), t0.AddDate(0, 0, 3).Add(time.Hour)),
		inc("other-addr", "ip:45.134.26.5", "45.134.26.5", "45.134.26.5/32", t0.AddDate(0, 0, 3), t0.AddDate(0, 0, 3).Add(time.Hour)),
	}
	if err := s.PutIncidents(incs); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, inc := range incs {
		if inc.ID != "unreported" {
			ids = append(ids, inc.ID)
		}
	}
	if _, err := s.AddReport(abusewatch.Report{ID: "r", State: abusewatch.ReportSent, Incidents: ids[1:]}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddReport(abusewatch.Report{ID: "r0", State: abusewatch.ReportRejected, Incidents: ids[:1]}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		scope  string
		except string
		want   []string
	}{
		{"45.134.26.4/32", "", []string{"burst", "ends-at-from", "net16", "net24", "starts-at-to"}},
		{"45.134.26.0/24", "", []string{"burst", "ends-at-from", "net16", "net24", "other-addr", "starts-at-to"}},
		{"45.134.26.4/32", "r0", []string{"ends-at-from", "net16", "net24", "starts-at-to"}},
		{"45.134.26.4/32", "r", []string{"burst"}},
	} {
		got, err := s.ReportedIncidentsOver(netip.MustParsePrefix(tc.scope), from, to, tc.except)
		if err != nil {
			t.Fatal(err)
		}
		var gotIDs []string
		for _, inc := range got {
			gotIDs = append(gotIDs, inc.ID)
		}
		slices.Sort(gotIDs)
		if !slices.Equal(gotIDs, tc.want) {
			t.Errorf("%s but report %q's: %v, want %v", tc.scope, tc.except, gotIDs, tc.want)
		}
	}
}
