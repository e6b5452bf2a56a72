// Package lookup finds who is responsible for an address: a Finder turns an address into the
// abusewatch.Contact to send reports to, from the config's static contacts first and RDAP
// (through an embedded IANA bootstrap) otherwise, and answers the DNS questions a report
// needs (reverse names with forward confirmation, name resolution). It is the only package
// that talks DNS or RDAP; every network call takes a context and a per-query timeout.
package lookup

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/openrdap/rdap"
)

// StaticContact is an entry of the config's [[contact]] table: it overrides everything for its network.
type StaticContact struct {
	Network netip.Prefix
	Emails  []string
}

// Options configure a Finder. The zero value uses /etc/resolv.conf, a 5s timeout, no RDAP.
type Options struct {
	Resolvers    []string      // DNS servers "host:port"; empty: read /etc/resolv.conf (if unreadable, DNS lookups are skipped with a clear error)
	Timeout      time.Duration // per query (DNS and RDAP), default 5s
	RDAP         bool          // query RDAP at all
	BootstrapDir string        // optional directory holding ipv4.json/ipv6.json that replace the embedded IANA bootstrap
	Static       []StaticContact
	HTTPClient   *http.Client // optional, for RDAP
}

// DefaultTimeout bounds each DNS and RDAP query when Options.Timeout is zero.
const DefaultTimeout = 5 * time.Second

// maxRDAPResponse bounds an RDAP answer: real ones are a few KiB, and a hostile or broken
// server must not make the daemon buffer without limit.
const maxRDAPResponse = 1 << 20

// Finder answers lookups. It is safe for concurrent use.
type Finder struct {
	timeout   time.Duration
	static    []StaticContact // most specific first
	resolvers []string
	dnsErr    error // why there are no resolvers, reported by every DNS lookup
	bootstrap *bootstrapRegistry
	rdapOn    bool

	// rdapLock is a mutex for rdap, which is not safe for concurrent use; a one-slot
	// channel so that waiting for it honours the caller's context. Holding it for the
	// whole query also serialises our queries to the registries, the courteous rate anyway.
	rdapLock chan struct{}
	rdap     *rdap.Client
}

// New checks opts and returns a Finder. A bad bootstrap file, resolver address or static
// contact is refused with an error that names it.
func New(opts Options) (*Finder, error) {
	f := &Finder{timeout: opts.Timeout, rdapOn: opts.RDAP}
	if f.timeout == 0 {
		f.timeout = DefaultTimeout
	}
	if f.timeout < 0 {
		return nil, fmt.Errorf("lookup: timeout %v is negative", opts.Timeout)
	}

	static, err := checkStatic(opts.Static)
	if err != nil {
		return nil, err
	}
	f.static = static

	if len(opts.Resolvers) > 0 {
		for _, r := range opts.Resolvers {
			addr, err := resolverAddr(r)
			if err != nil {
				return nil, err
			}
			f.resolvers = append(f.resolvers, addr)
		}
	} else {
		// A host without resolv.conf can still report to static contacts and via RDAP,
		// so this is not fatal: DNS lookups fail with this error instead.
		f.resolvers, f.dnsErr = systemResolvers("/etc/resolv.conf")
	}

	if f.bootstrap, err = loadBootstrap(opts.BootstrapDir); err != nil {
		return nil, err
	}

	hc := &http.Client{}
	if opts.HTTPClient != nil {
		c := *opts.HTTPClient // a copy: the caller's client keeps its own transport
		hc = &c
	}
	next := hc.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	hc.Transport = limitTransport{next: next, max: maxRDAPResponse}
	f.rdap = &rdap.Client{HTTP: hc, UserAgent: "abusewatch (abuse contact lookup)"}
	f.rdapLock = make(chan struct{}, 1)
	return f, nil
}

// checkStatic validates the static contacts and sorts them most specific first, so the
// first one that contains an address is the one that applies.
func checkStatic(in []StaticContact) ([]StaticContact, error) {
	out := make([]StaticContact, 0, len(in))
	for i, s := range in {
		if !s.Network.IsValid() {
			return nil, fmt.Errorf("lookup: static contact %d: no valid network", i+1)
		}
		p := s.Network
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			// Addresses are unmapped before matching, so mapped prefixes must be too.
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		p = p.Masked()
		if len(s.Emails) == 0 {
			return nil, fmt.Errorf("lookup: static contact for %s: no e-mail address", p)
		}
		for _, e := range s.Emails {
			if !strings.Contains(e, "@") {
				return nil, fmt.Errorf("lookup: static contact for %s: %q is not an e-mail address", p, e)
			}
		}
		out = append(out, StaticContact{Network: p, Emails: slices.Clone(s.Emails)})
	}
	slices.SortStableFunc(out, func(a, b StaticContact) int { return cmp.Compare(b.Network.Bits(), a.Network.Bits()) })
	return out, nil
}

// resolverAddr accepts "host:port" and, as a convenience, a bare IP address for port 53.
func resolverAddr(s string) (string, error) {
	if _, _, err := net.SplitHostPort(s); err == nil {
		return s, nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return net.JoinHostPort(a.String(), "53"), nil
	}
	return "", fmt.Errorf("lookup: resolver %q: want host:port, e.g. 127.0.0.53:53", s)
}

// Contact finds who is responsible for addr: the most specific static contact if one covers
// addr (Role "static", Source "config"); otherwise RDAP, preferring abuse contacts over
// technical, administrative and registrant ones. PTR is filled only when forward-confirmed.
// The error says what failed when no contact address can be found at all.
func (f *Finder) Contact(ctx context.Context, addr netip.Addr) (abusewatch.Contact, error) {
	if !addr.IsValid() {
		return abusewatch.Contact{}, fmt.Errorf("lookup: contact: invalid address")
	}
	addr = addr.Unmap()

	var c abusewatch.Contact
	if s, ok := f.staticFor(addr); ok {
		c = abusewatch.Contact{
			Network: s.Network,
			Emails:  slices.Clone(s.Emails),
			Role:    "static",
			Source:  "config",
			Fetched: time.Now(),
		}
	} else if !f.rdapOn {
		return abusewatch.Contact{}, fmt.Errorf("lookup: contact for %s: no static contact covers it and RDAP is disabled", addr)
	} else {
		var err error
		if c, err = f.rdapContact(ctx, addr); err != nil {
			return abusewatch.Contact{}, err
		}
	}

	// The reverse name only decorates the report, so failing to get it is not an error.
	if name, ok, err := f.PTR(ctx, addr); err == nil && ok {
		c.PTR = name
	}
	return c, nil
}

func (f *Finder) staticFor(addr netip.Addr) (StaticContact, bool) {
	for _, s := range f.static {
		if s.Network.Contains(addr) {
			return s, true
		}
	}
	return StaticContact{}, false
}
