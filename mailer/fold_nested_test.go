package mailer

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
)

// Network incidents of one burst at several sizes (network_sizes = [24, 16, 8]) are one
// source, the widest: each line and address once. Shown apart, 23 lines were stated as
// 58 connections, and an address of the /24 got three X-ARF parts.
func TestNestedNetworksAreOneSource(t *testing.T) {
	t0 := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	for _, keep := range []int{50, 10} { // every line kept, and samples only
		t.Run(fmt.Sprintf("keep %d", keep), func(t *testing.T) {
			l := &foldLog{t0: t0}
			var in24, in16 []abusewatch.Event
			for i := range 12 {
				in24 = append(in24, l.line(fmt.Sprintf("5.6.7.%d", i+1), float64(i), "web1"))
			}
			in16 = append(in16, in24...)
			for i := range 11 {
				in16 = append(in16, l.line(fmt.Sprintf("5.6.%d.9", 20+i), 12+float64(i), "web1"))
			}
			n24 := foldIncident("net-24", "network", netip.MustParsePrefix("5.6.7.0/24"), in24, keep)
			n16 := foldIncident("net-16", "network", netip.MustParsePrefix("5.6.0.0/16"), in16, keep)
			n8 := foldIncident("net-8", "network", netip.MustParsePrefix("5.0.0.0/8"), in16, keep)
			// And an address of the /24 with an incident of its own, over its one line.
			own := foldIncident("ip-1", "per-address", netip.MustParsePrefix("5.6.7.1/32"), in24[:1], keep)
			incs := []abusewatch.Incident{n24, n16, n8, own}
			r, err := xarfComposer(t).Compose(testContact(), incs, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Incidents) != len(incs) {
				t.Errorf("the report names %v; want every incident, so none is reported again", r.Incidents)
			}
			if !strings.HasSuffix(r.Subject, "from 5.0.0.0/8") {
				t.Errorf("Subject = %q; want the widest network, alone", r.Subject)
			}
			_, _, bodies := parts(t, r.Message)
			memo := strings.ReplaceAll(string(bodies[0]), "\r\n", "\n")
			if n := strings.Count(memo, "Source address:") + strings.Count(memo, "Source network:"); n != 1 {
				t.Errorf("%d sources in the memo, want 1:\n%s", n, memo)
			}
			mustContain(t, memo, "Source network:  5.0.0.0/8\nAddresses seen:  23\n")
			if !strings.Contains(memo, "Connections:     23 (23 log lines)\n") && !strings.Contains(memo, "Connections:     at least 23 (at least 23 log lines)\n") {
				t.Errorf("the memo does not count the 23 lines once:\n%s", memo)
			}
			seen := map[string]int{}
			for _, b := range bodies[1:] {
				seen[xarfPart(t, b)["source_identifier"].(string)]++
			}
			for a, n := range seen {
				if n > 1 {
					t.Errorf("%d X-ARF parts for %s; want one", n, a)
				}
			}
		})
	}
}
