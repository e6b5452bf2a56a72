package daemon

import (
	"context"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/store"
)

// `ip` and `net` list the reports that name an address or network after [retention]
// incidents deleted their incidents: the reports stay in the outbox.
func TestQueryNetworkListsReportsOfDeletedIncidents(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "state.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	a, b, c := netip.MustParseAddr("45.134.26.7"), netip.MustParseAddr("45.134.26.8"), netip.MustParseAddr("81.2.69.10")
	incs := []abusewatch.Incident{
		{ID: "a-old", Key: "ip:45.134.26.7", Rule: "per-address", Addr: a, First: now.Add(-61 * day), Last: now.Add(-60 * day), Count: 28},
		{ID: "c-old", Key: "ip:81.2.69.10", Rule: "per-address", Addr: c, First: now.Add(-61 * day), Last: now.Add(-60 * day), Count: 9},
		{ID: "b-old", Key: "ip:45.134.26.8", Rule: "per-address", Addr: b, First: now.Add(-61 * day), Last: now.Add(-60 * day), Count: 7},
		{ID: "c-new", Key: "ip:81.2.69.10", Rule: "per-address", Addr: c, First: now.Add(-2 * day), Last: now.Add(-day), Count: 6},
	}
	if err := st.PutIncidents(incs); err != nil {
		t.Fatal(err)
	}
	for _, r := range []abusewatch.Report{
		// One source: its subject names it.
		{ID: "r-a", State: abusewatch.ReportSent, Incidents: []string{"a-old"}, Created: now.Add(-59 * day), Updated: now.Add(-59 * day),
			Subject: "Abuse report: repeated SSH login attempts from 45.134.26.7", Contact: abusewatch.Contact{Emails: []string{"abuse@hostco.example"}}},
		// Two: the subject names the first, the X-ARF part the other.
		{ID: "r-cb", State: abusewatch.ReportSent, Incidents: []string{"b-old", "c-old"}, Created: now.Add(-59 * day), Updated: now.Add(-59 * day),
			Subject: "Abuse report: repeated SSH login attempts from 81.2.69.10 and 1 other source", Contact: abusewatch.Contact{Emails: []string{"abuse@isp.example"}},
			Message: []byte("Subject: x\r\n\r\n--b\r\nContent-Description: X-ARF 4 report: login_attack from 81.2.69.10\r\n\r\n{}\r\n--b\r\nContent-Description: X-ARF 4 report: login_attack from 45.134.26.8\r\n\r\n{}\r\n--b--\r\n")},
		// Its incident is still stored.
		{ID: "r-c", State: abusewatch.ReportQueued, Incidents: []string{"c-new"}, Created: now.Add(-day), Updated: now.Add(-day),
			Subject: "Abuse report: repeated SSH login attempts from 81.2.69.10", Contact: abusewatch.Contact{Emails: []string{"abuse@isp.example"}}},
	} {
		if _, err := st.AddReport(r); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := st.PruneIncidents(context.Background(), now.Add(-30*day), now.Add(-30*day), 0); err != nil || n != 3 {
		t.Fatalf("retention deleted %d incidents (%v); want 3", n, err)
	}
	for _, tc := range []struct {
		network string
		want    []string
		kept    []int
	}{
		{"45.134.26.7/32", []string{"r-a"}, []int{0}},
		{"45.134.26.8/32", []string{"r-cb"}, []int{0}},
		{"45.134.26.9/32", nil, nil},
		{"45.134.26.0/24", []string{"r-a", "r-cb"}, []int{0, 0}},
		{"81.2.69.10/32", []string{"r-cb", "r-c"}, []int{0, 1}},
		{"81.2.0.0/16", []string{"r-cb", "r-c"}, []int{0, 1}},
	} {
		t.Run(tc.network, func(t *testing.T) {
			info, err := QueryNetwork(st, netip.MustParsePrefix(tc.network), now.Add(-30*day), now, time.UTC, nil)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			var kept []int
			for _, r := range info.Reports {
				got = append(got, r.ID)
				kept = append(kept, r.IncidentsKept)
			}
			if len(got) != len(tc.want) || info.Reports == nil {
				t.Fatalf("reports %v (kept %v); want %v", got, kept, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] || kept[i] != tc.kept[i] {
					t.Errorf("reports %v, incidents kept %v; want %v, %v", got, kept, tc.want, tc.kept)
				}
			}
		})
	}
}
