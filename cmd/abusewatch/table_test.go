package main

import (
	"net/netip"
	"testing"

	"github.com/abusewatch/abusewatch"
)

// A network incident's cell counts its addresses, and says "+" when its list is full:
// the list stops at abusewatch.MaxSources, and 300 attacking addresses of a /64 were
// shown as 256.
func TestSourceCellCountsAddresses(t *testing.T) {
	addrs := func(n int) []netip.Addr {
		out := make([]netip.Addr, n)
		for i := range out {
			out[i] = netip.AddrFrom16([16]byte{0x2a, 0x01, 0x04, 0xf8, 0, 0x20, 0, 5, 14: byte(i >> 8), 15: byte(i)})
		}
		return out
	}
	net := netip.MustParsePrefix("2a01:4f8:20:5::/64")
	for _, c := range []struct {
		inc  abusewatch.Incident
		want string
	}{
		{abusewatch.Incident{Rule: "per-address", Addr: net.Addr(), Network: netip.PrefixFrom(net.Addr(), 128)}, "2a01:4f8:20:5::"},
		{abusewatch.Incident{Rule: "network", Network: net, Sources: addrs(1)}, "2a01:4f8:20:5::/64"},
		{abusewatch.Incident{Rule: "network", Network: net, Sources: addrs(12)}, "2a01:4f8:20:5::/64 (12 addresses)"},
		{abusewatch.Incident{Rule: "network", Network: net, Sources: addrs(abusewatch.MaxSources - 1)}, "2a01:4f8:20:5::/64 (255 addresses)"},
		{abusewatch.Incident{Rule: "network", Network: net, Sources: addrs(abusewatch.MaxSources)}, "2a01:4f8:20:5::/64 (256+ addresses)"},
	} {
		if got := sourceCell(c.inc); got != c.want {
			t.Errorf("sourceCell(%s, %d sources) = %q; want %q", c.inc.Rule, len(c.inc.Sources), got, c.want)
		}
	}
}
