package correlate_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/correlate"
)

// Every packet a firewall logged is forgeable, whatever its TCP flags: a dropped packet
// never completed a handshake (review 21b M1: ACK, RST, FIN, an ECN SYN and SYN+URG
// were taken as completed connections). So is a refused DNS query, which carries no
// protocol. Even with their classes reportable (which check-config refuses), such
// events make no incident of their own that could be reported; failed sshd logins of
// the same address do.
func TestEveryFirewallPacketAndRefusedQueryIsForgeable(t *testing.T) {
	opts := correlate.Options{Threshold: 5, Window: 10 * time.Minute,
		Reportable: []abusewatch.Class{abusewatch.ClassAuthFailure, "port-probe", "refused-query", "firewall-accept"}}
	named := func(a string, t time.Time) abusewatch.Event {
		return abusewatch.Event{Time: t, Class: "refused-query", Addr: netip.MustParseAddr(a), Port: 53531, Service: "named",
			Host: "ns1", Line: "client @0x7f0000000000 " + a + "#53531 (example.com): query (cache) 'example.com/ANY/IN' denied"}
	}
	for _, tc := range []struct {
		name          string
		ev            func(a string, t time.Time) abusewatch.Event
		wantAdminOnly bool
	}{
		{"bare SYN", func(a string, t time.Time) abusewatch.Event { return probe(a, t, 5555, 22, "TCP", "SYN") }, true},
		{"ACK", func(a string, t time.Time) abusewatch.Event { return probe(a, t, 5555, 22, "TCP", "ACK") }, true},
		{"ACK PSH", func(a string, t time.Time) abusewatch.Event { return probe(a, t, 5555, 22, "TCP", "ACK PSH") }, true},
		{"RST", func(a string, t time.Time) abusewatch.Event { return probe(a, t, 5555, 22, "TCP", "RST") }, true},
		{"Xmas", func(a string, t time.Time) abusewatch.Event { return probe(a, t, 5555, 22, "TCP", "FIN PSH URG") }, true},
		{"ECN SYN", func(a string, t time.Time) abusewatch.Event { return probe(a, t, 5555, 22, "TCP", "CWR ECE SYN") }, true},
		{"SYN URG", func(a string, t time.Time) abusewatch.Event { return probe(a, t, 5555, 22, "TCP", "SYN URG") }, true},
		{"UDP", func(a string, t time.Time) abusewatch.Event { return probe(a, t, 5555, 161, "UDP", "") }, true},
		{"ufw ALLOW (no protocol captured)", func(a string, t time.Time) abusewatch.Event {
			return abusewatch.Event{Time: t, Class: "firewall-accept", Addr: netip.MustParseAddr(a), Service: "kernel", Host: "fw1", Line: "[UFW ALLOW] SRC=" + a}
		}, true},
		{"named refused query (no protocol)", named, true},
		{"sshd failed login", func(a string, t time.Time) abusewatch.Event { return at(a, t, 40000) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, opts)
			var evs []abusewatch.Event
			for i := range 6 {
				e := tc.ev("7.7.7.7", t0.Add(time.Duration(i)*time.Second))
				if e.Port != 0 {
					e.Port += uint16(i) // six connections
				}
				evs = append(evs, e)
			}
			var perAddress []abusewatch.Incident
			for _, inc := range h.feed(evs...) {
				if inc.Rule == "per-address" {
					perAddress = append(perAddress, inc)
				}
			}
			// The per-address rule counts reportable evidence only: forgeable events
			// make none (the network, scan and recurrence rules count them, for the admin).
			switch {
			case tc.wantAdminOnly && len(perAddress) != 0:
				t.Errorf("forgeable events made a per-address incident: %+v", perAddress)
			case !tc.wantAdminOnly && (len(perAddress) != 1 || perAddress[0].AdminOnly):
				t.Errorf("per-address incidents %+v; want one reportable", perAddress)
			}
		})
	}
	for _, class := range []abusewatch.Class{"port-probe", "firewall-accept", "refused-query"} {
		if !correlate.Forgeable(class) {
			t.Errorf("Forgeable(%q) = false", class)
		}
	}
	for _, class := range []abusewatch.Class{abusewatch.ClassAuthFailure, abusewatch.ClassInvalidUser, "protocol-probe"} {
		if correlate.Forgeable(class) {
			t.Errorf("Forgeable(%q) = true", class)
		}
	}
}
