package abusewatch

import (
	"net/netip"
	"testing"
)

// An incident about a network is shown as the network, though it names an address to
// be looked up through; one about an address as the address.
func TestIncidentSource(t *testing.T) {
	a := netip.MustParseAddr("203.0.113.7")
	for _, tc := range []struct {
		name    string
		inc     Incident
		network bool
		want    string
	}{
		{"per-address", Incident{Addr: a, Network: netip.PrefixFrom(a, 32)}, false, "203.0.113.7"},
		{"network, with the address it is looked up through", Incident{Addr: a, Network: netip.MustParsePrefix("203.0.113.0/24")}, true, "203.0.113.0/24"},
		{"network alone", Incident{Network: netip.MustParsePrefix("2001:db8::/64")}, true, "2001:db8::/64"},
		{"address alone", Incident{Addr: a}, false, "203.0.113.7"},
		{"rate anomaly", Incident{}, false, "all sources"},
	} {
		if got := tc.inc.Source(); got != tc.want || tc.inc.AboutNetwork() != tc.network {
			t.Errorf("%s: Source %q, AboutNetwork %v; want %q, %v", tc.name, got, tc.inc.AboutNetwork(), tc.want, tc.network)
		}
	}
}

func TestUnmapPrefix(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.7/24":         "203.0.113.0/24",
		"::ffff:203.0.113.7/120": "203.0.113.0/24",
		"::ffff:203.0.113.7/128": "203.0.113.7/32",
		"::ffff:0.0.0.0/80":      "::/80", // wider than the mapped space: stays IPv6
		"2001:db8::1/64":         "2001:db8::/64",
	} {
		if got := UnmapPrefix(netip.MustParsePrefix(in)); got.String() != want {
			t.Errorf("UnmapPrefix(%s) = %s, want %s", in, got, want)
		}
	}
}
