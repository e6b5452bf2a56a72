package main

import (
	"fmt"
	"net/netip"
	"strings"
)

// Admins copy addresses from log lines, where they come in brackets (postfix's
// "unknown[2001:db8::7]", exim's "[2001:db8::7]:25"), with a port, or with a length: ip
// and net say what they take and what to write, not only that the text is not one
// (review 46 finding 6).

// ipArgError is why ip refuses arg, which netip.ParseAddr refused.
func ipArgError(arg string) error {
	const want = "ip takes one address, such as 203.0.113.7 or 2001:db8::7"
	if a, ok := unbracketed(arg); ok {
		return &usageError{fmt.Sprintf("%s is not an IP address: %s, without brackets or port: abusewatch ip %s", arg, want, a)}
	}
	if p, err := netip.ParsePrefix(arg); err == nil {
		if p.IsSingleIP() {
			return &usageError{fmt.Sprintf("%s is not an IP address: %s, without a length: abusewatch ip %s", arg, want, p.Addr().Unmap())}
		}
		return &usageError{fmt.Sprintf("%s is not an IP address: %s; for a network use net CIDR: abusewatch net %s", arg, want, arg)}
	}
	return &usageError{fmt.Sprintf("%s is not an IP address: %s", arg, want)}
}

// netArgError is why net refuses arg, which netip.ParsePrefix refused.
func netArgError(arg string) error {
	const want = "net takes a network in CIDR notation, such as 203.0.113.0/24 or 2001:db8:1::/48"
	a, err := netip.ParseAddr(arg)
	if err != nil {
		var ok bool
		if a, ok = unbracketed(arg); !ok {
			return &usageError{fmt.Sprintf("%s is not a network: %s", arg, want)}
		}
	}
	a = a.Unmap()
	host := netip.PrefixFrom(a, 24).Masked() // what ip and the rules take for an address's network
	if a.Is6() {
		host = netip.PrefixFrom(a, 64).Masked()
	}
	return &usageError{fmt.Sprintf("%s is not a network: %s; for one address use ip ADDR: abusewatch ip %s (its /%d: abusewatch net %s)",
		arg, want, a, host.Bits(), host)}
}

// unbracketed is the address of "[ADDR]", "[ADDR]:PORT" or "ADDR:PORT", as programs
// write it.
func unbracketed(arg string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(arg); err == nil && ap.Addr().Zone() == "" {
		return ap.Addr().Unmap(), true
	}
	if inner, ok := strings.CutPrefix(arg, "["); ok {
		if inner, ok = strings.CutSuffix(inner, "]"); ok {
			if a, err := netip.ParseAddr(inner); err == nil && a.Zone() == "" {
				return a.Unmap(), true
			}
		}
	}
	return netip.Addr{}, false
}
