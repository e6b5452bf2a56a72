package correlate_test

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/correlate"
)

// A reportable network incident is its named addresses' reportable, unforgeable lines
// alone, as a per-address incident is (review privacy40 H3, M3): an attacker's
// neighbour who is our customer (45.134.26.70, one mistyped password) also has lines
// of classes the admin did not list in reportable, "unknown" (her successful mail
// submission) and refused-connect (naming our internal host db7), which the report to
// the network's party quoted, counted, described and listed the hosts of. So made
// (build), grown by her lines (grow) or made reportable by a tenth address after her
// lines came (namedOnly), it holds none of them; the store keeps them for the admin.
func TestNetworkIncidentHoldsItsNamedAddressesReportableLinesAlone(t *testing.T) {
	opts := correlate.Options{Threshold: 5, Window: 10 * time.Minute,
		Network:    correlate.NetworkRule{SetRule: correlate.SetRule{Count: 10, Window: time.Hour}, Sizes: []int{24}},
		Reportable: []abusewatch.Class{abusewatch.ClassAuthFailure}}
	attacker := func(i int) abusewatch.Event {
		return at(fmt.Sprintf("45.134.26.%d", 30+i), t0.Add(time.Duration(i)*time.Minute), uint16(30000+i))
	}
	carol := func(from time.Time) []abusewatch.Event {
		a := netip.MustParseAddr("45.134.26.70")
		return []abusewatch.Event{
			{Time: from, Class: abusewatch.ClassAuthFailure, Addr: a, Port: 50000, Service: "postfix", Host: "mx1",
				Line: "warning: unknown[45.134.26.70]: SASL PLAIN authentication failed"},
			{Time: from.Add(7 * time.Second), Class: abusewatch.ClassUnknown, Addr: a, Service: "postfix", Host: "mx1",
				Line: "4F2A11C0B3: client=unknown[45.134.26.70], sasl_method=PLAIN, sasl_username=carol@customer.example"},
			{Time: from.Add(20 * time.Second), Class: "refused-connect", Addr: a, Port: 50420, Service: "sshd", Host: "db7",
				Line: "drop connection #0 from [45.134.26.70]:50420 on [10.0.0.5]:22 penalty: failed authentication"},
		}
	}
	for _, tc := range []struct {
		name    string
		batches func() [][]abusewatch.Event
	}{
		{"made at once", func() [][]abusewatch.Event {
			var b []abusewatch.Event
			for i := range 10 {
				b = append(b, attacker(i))
			}
			return [][]abusewatch.Event{append(b, carol(t0.Add(10*time.Minute))...)}
		}},
		{"grown by her lines", func() [][]abusewatch.Event {
			var b []abusewatch.Event
			for i := range 10 {
				b = append(b, attacker(i))
			}
			return [][]abusewatch.Event{b, carol(t0.Add(10 * time.Minute))}
		}},
		{"reportable once a tenth address came", func() [][]abusewatch.Event {
			var b []abusewatch.Event
			for i := range 9 {
				b = append(b, attacker(i))
			}
			return [][]abusewatch.Event{append(b, carol(t0.Add(9*time.Minute))...), {attacker(10)}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, opts)
			var inc abusewatch.Incident
			for _, b := range tc.batches() {
				for _, i := range h.feed(b...) {
					if i.Rule == "network" {
						inc = i
					}
				}
			}
			if inc.ID == "" || inc.AdminOnly {
				t.Fatalf("network incident %+v, want a reportable one", inc)
			}
			if !slices.Equal(inc.Classes, []abusewatch.Class{abusewatch.ClassAuthFailure}) || !slices.Equal(inc.Hosts, []string{"mx1", "web1"}) {
				t.Errorf("classes %v, hosts %v: want auth-failure alone, on mx1 and web1", inc.Classes, inc.Hosts)
			}
			if inc.Count != 11 || len(inc.Sources) != 11 {
				t.Errorf("count %d, %d sources: want the 11 failed logins of 11 addresses", inc.Count, len(inc.Sources))
			}
			for _, e := range inc.Evidence {
				if e.Class != abusewatch.ClassAuthFailure {
					t.Errorf("evidence holds %s line %q", e.Class, e.Line)
				}
			}
			evs, err := h.st.EventsByAddr(netip.MustParseAddr("45.134.26.70"), t0, t0.Add(time.Hour))
			if err != nil || len(evs) != 3 {
				t.Errorf("the store holds %d of her 3 lines (%v)", len(evs), err)
			}
		})
	}
}
