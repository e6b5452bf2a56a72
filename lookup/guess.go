package lookup

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/abusewatch/abusewatch"
	"golang.org/x/net/publicsuffix"
)

// guessMailboxes returns abuse@ and security@ of the registrable domain of a forward-
// confirmed reverse name (host1.example.co.uk → example.co.uk), the addresses a person
// would try when the registry names no one. Both are marked as guesses.
//
// A name that spells addr (177.1.2.3.nip.io, ip-177-1-2-3.example.net, b1010203.example.org)
// is refused, and refused says why: wildcard services (nip.io, sslip.io, xip.io and their
// like) resolve any such name to the address it spells, so the attacker can make one its
// reverse name, forward-confirmed, and the guess would go to the service's innocent owner.
// A name cannot tell a wildcard service from an ISP's own generic names, so both go.
func guessMailboxes(ptr string, addr netip.Addr) (mbs []abusewatch.Mailbox, refused string) {
	name := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(ptr), "."))
	if name == "" {
		return nil, ""
	}
	domain, err := publicsuffix.EffectiveTLDPlusOne(name)
	if err != nil {
		return nil, "" // the name is a public suffix itself, or not a domain name
	}
	if wildcardDNS(domain) {
		return nil, domain + " is a wildcard DNS service: its names resolve to whatever address they spell"
	}
	if addr.IsValid() && spellsAddr(name, addr.Unmap()) {
		return nil, "the name spells the address itself, as the names of wildcard DNS services (nip.io, sslip.io) do, which resolve for anyone"
	}
	return []abusewatch.Mailbox{
		{Email: "abuse@" + domain, Role: "abuse", Source: "guess"},
		{Email: "security@" + domain, Role: "security", Source: "guess"},
	}, ""
}

// wildcardDNS says whether domain is a known service whose names resolve to the address
// they spell (or to loopback), so that nobody there runs the host.
func wildcardDNS(domain string) bool {
	switch domain {
	case "nip.io", "sslip.io", "xip.io", "traefik.me", "localtest.me", "lvh.me":
		return true
	}
	return false
}

// spellsAddr says whether name holds addr: an IPv4 address as its four numbers in a row,
// in order or reversed, with any separators ("177.1.2.3", "ip-177-1-2-3", "3.2.1.177") or
// none ("177001002003"); an IPv6 address in a label with dashes for colons, as sslip.io
// writes it ("2001-db8--1"); either as its hex digits ("b1010203").
func spellsAddr(name string, addr netip.Addr) bool {
	b := addr.AsSlice()
	if strings.Contains(strings.NewReplacer("-", "", ".", "").Replace(name), hex.EncodeToString(b)) {
		return true
	}
	if addr.Is6() {
		for label := range strings.SplitSeq(name, ".") {
			parts := strings.Split(label, "-")
			for i := range parts {
				for j := i + 1; j <= len(parts); j++ {
					if a, err := netip.ParseAddr(strings.Join(parts[i:j], ":")); err == nil && a == addr {
						return true
					}
				}
			}
		}
		return false
	}
	padded := ""
	for _, x := range b {
		padded += fmt.Sprintf("%03d", x)
	}
	if strings.Contains(name, padded) {
		return true
	}
	// The runs of digits in the name, as numbers: four in a row equal to the octets.
	nums := strings.FieldsFunc(name, func(r rune) bool { return r < '0' || r > '9' })
	for i := 0; i+4 <= len(nums); i++ {
		forward, backward := true, true
		for j := range 4 {
			n, err := strconv.Atoi(nums[i+j])
			forward = forward && err == nil && n == int(b[j])
			backward = backward && err == nil && n == int(b[3-j])
		}
		if forward || backward {
			return true
		}
	}
	return false
}
