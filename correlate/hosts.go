package correlate

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/abusewatch/abusewatch"
)

// ourHost is one spelling of one of our hosts (an event's Host) as the sweep rule
// compares it: hostnames are case-insensitive (RFC 4343) and the root's trailing dot
// says nothing, so "WEB1" is "web1" and "web1.example.org." is "web1.example.org". An
// address (a sender that gave no hostname) is compared as an address.
type ourHost struct {
	name string // lower case, no trailing dot; the address's canonical form
	addr bool   // name is an address, not a hostname
}

func ourHostOf(h string) ourHost {
	// The syslog listener writes a sender that named no host as "[address]".
	if inner, ok := strings.CutPrefix(h, "["); ok && strings.HasSuffix(inner, "]") {
		h = strings.TrimSuffix(inner, "]")
	}
	if a, err := netip.ParseAddr(h); err == nil {
		return ourHost{name: a.Unmap().String(), addr: true}
	}
	return ourHost{name: strings.ToLower(strings.TrimSuffix(h, "."))}
}

// fqdn says whether h is a hostname with a domain.
func (h ourHost) fqdn() bool { return !h.addr && strings.Contains(h.name, ".") }

// hostCount is how many of our hosts hosts (distinct spellings) are at least, so that
// a sweep is never made of one host named several ways. The same machine reaches us as
// its short name from some senders and its FQDN from others, so a short name that is
// the first label of one of the FQDNs may be that host and does not count again;
// FQDNs count apart (web1.a.example and web1.b.example are two hosts), and so does a
// short name no FQDN begins with. An address is a sender that named no host: it may be
// any of the named ones, so the addresses count only when there are more of them.
func hostCount(hosts []ourHost) int {
	named, addrs := 0, 0
	for _, h := range hosts {
		switch {
		case h.addr:
			addrs++
		case h.fqdn():
			named++
		default:
			short := true
			for _, f := range hosts {
				if f.fqdn() && strings.HasPrefix(f.name, h.name) && f.name[len(h.name)] == '.' {
					short = false
					break
				}
			}
			if short {
				named++
			}
		}
	}
	return max(named, addrs)
}

// atLeastHosts says whether evs name at least n of our hosts, as hostCount counts
// them. The count never falls as spellings are added, so it stops at the n-th.
func atLeastHosts(evs []*abusewatch.Event, n int) bool {
	if len(evs) < n {
		return false
	}
	var arr [32]ourHost // on the stack: the rule asks for a handful (3 hosts by default)
	seen := arr[:0]
	var last string // the lines of one connection name one host
	for _, e := range evs {
		if e.Host == "" || e.Host == last {
			continue
		}
		last = e.Host
		if h := ourHostOf(e.Host); !slices.Contains(seen, h) {
			if seen = append(seen, h); hostCount(seen) >= n {
				return true
			}
		}
	}
	return false
}
