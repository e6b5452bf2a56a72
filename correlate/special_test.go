package correlate_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/correlate"
)

// IPv6 outside global unicast 2000::/3 is named by the registered block that holds it
// (the IANA special-purpose and IPv6 address space registries), never by ::/3,
// 4000::/2 or 8000::/1, which no registry lists; at the edges of each block too.
func TestSpecialPurposeNamesARegisteredIPv6Block(t *testing.T) {
	c := newHarness(t, correlate.Options{Threshold: 5, Window: time.Hour}).c
	for _, tc := range []struct{ addr, net string }{
		{"64:ff9b::2d86:1a08", "64:ff9b::/96"}, // the review's NAT64 address
		{"64:ff9b::ffff:ffff", "64:ff9b::/96"},
		{"64:ff9b::1:0:0", "::/8"}, // just past NAT64's /96
		{"64:ff9b:1::5", "64:ff9b:1::/48"},
		{"100::1", "100::/64"},
		{"100::ffff:ffff:ffff:ffff", "100::/64"},
		{"100:0:0:1::", "100::/8"},
		{"::2d86:1a0a", "::/8"}, // IPv4-compatible
		{"::2", "::/8"},
		{"::1", "::1/128"},
		{"::", "::/128"},
		{"1::1", "::/8"},
		{"300::1", "200::/7"},
		{"1fff:ffff::1", "1000::/4"},
		{"4000::1", "4000::/3"},
		{"5f00::1", "5f00::/16"},
		{"7fff::1", "6000::/3"},
		{"8000::1", "8000::/3"},
		{"f000::1", "f000::/5"},
		{"fe00::1", "fe00::/9"},
		{"fec0::1", "fec0::/10"},
		{"fc00::1", "fc00::/7"},
		{"fe80::1", "fe80::/10"},
		{"ff02::1", "ff00::/8"},
		{"2001:db8::1", "2001:db8::/32"},
		{"2000::1", ""},
		{"3ffe::1", ""},
	} {
		a := netip.MustParseAddr(tc.addr)
		p, ok := correlate.SpecialPurpose(a)
		if got := map[bool]string{true: p.String(), false: ""}[ok]; got != tc.net {
			t.Errorf("SpecialPurpose(%s) = %q, want %q", tc.addr, got, tc.net)
		}
		if ok && !p.Contains(a) {
			t.Errorf("SpecialPurpose(%s) = %s, which does not hold it", tc.addr, p)
		}
		if c.Excluded(a) != ok {
			t.Errorf("%s: Excluded = %v, SpecialPurpose = %v", tc.addr, c.Excluded(a), ok)
		}
	}
}
