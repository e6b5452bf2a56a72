package correlate

import "net/netip"

// registeredIPv6 are the blocks of the IANA registries that hold the IPv6 addresses
// outside global unicast 2000::/3 (beside fc00::/7, fe80::/10 and ff00::/8, which
// nonGlobalNetworks holds): first the special-purpose ones (RFC 6890's registry), then
// the rest of the IPv6 address space registry, reserved by the IETF or unassigned.
// SpecialPurpose names an address by the first that holds it: ::/3, 4000::/2 and
// 8000::/1 cover them all, but they are no registered block.
func registeredIPv6() []netip.Prefix {
	return []netip.Prefix{
		netip.MustParsePrefix("64:ff9b::/96"),   // NAT64, RFC 6052
		netip.MustParsePrefix("64:ff9b:1::/48"), // local-use NAT64, RFC 8215
		netip.MustParsePrefix("100::/64"),       // discard-only, RFC 6666
		netip.MustParsePrefix("5f00::/16"),      // SRv6 SIDs, RFC 9602
		netip.MustParsePrefix("::/8"),           // reserved by the IETF (IPv4-compatible ::/96 among them)
		netip.MustParsePrefix("100::/8"),
		netip.MustParsePrefix("200::/7"),
		netip.MustParsePrefix("400::/6"),
		netip.MustParsePrefix("800::/5"),
		netip.MustParsePrefix("1000::/4"),
		netip.MustParsePrefix("4000::/3"),
		netip.MustParsePrefix("6000::/3"),
		netip.MustParsePrefix("8000::/3"),
		netip.MustParsePrefix("a000::/3"),
		netip.MustParsePrefix("c000::/3"),
		netip.MustParsePrefix("e000::/4"),
		netip.MustParsePrefix("f000::/5"),
		netip.MustParsePrefix("f800::/6"),
		netip.MustParsePrefix("fe00::/9"),
		netip.MustParsePrefix("fec0::/10"), // site-local, deprecated by RFC 3879
	}
}
