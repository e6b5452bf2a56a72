package lookup

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/miekg/dns"
)

// maxPTRNames bounds how many reverse names we try to confirm: the attacker controls the
// reverse zone and could list many names to make us do many lookups.
const maxPTRNames = 4

// systemResolvers reads the name servers from a resolv.conf file.
func systemResolvers(path string) ([]string, error) {
	cfg, err := dns.ClientConfigFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("lookup: no DNS resolvers: %w (set the resolvers in the config)", err)
	}
	if len(cfg.Servers) == 0 {
		return nil, fmt.Errorf("lookup: no DNS resolvers: %s lists no nameserver (set the resolvers in the config)", path)
	}
	var out []string
	for _, s := range cfg.Servers {
		out = append(out, net.JoinHostPort(s, cfg.Port))
	}
	return out, nil
}

// PTR returns the reverse name of addr and whether it is forward-confirmed (the name
// resolves back to addr via A/AAAA). An address without a reverse name gives "", false
// and no error; errors are failures to get an answer.
func (f *Finder) PTR(ctx context.Context, addr netip.Addr) (name string, confirmed bool, err error) {
	if !addr.IsValid() {
		return "", false, errors.New("lookup: PTR: invalid address")
	}
	addr = addr.Unmap()
	rev, err := dns.ReverseAddr(addr.String())
	if err != nil {
		return "", false, fmt.Errorf("lookup: PTR %s: %w", addr, err)
	}
	r, err := f.query(ctx, rev, dns.TypePTR)
	if err != nil {
		return "", false, fmt.Errorf("lookup: PTR %s: %w", addr, err)
	}
	var names []string
	for _, rr := range r.Answer {
		if p, ok := rr.(*dns.PTR); ok && len(names) < maxPTRNames {
			names = append(names, p.Ptr)
		}
	}
	if len(names) == 0 {
		return "", false, nil
	}

	qtype := dns.TypeAAAA
	if addr.Is4() {
		qtype = dns.TypeA
	}
	var errs []error
	for _, n := range names {
		addrs, err := f.addrs(ctx, n, qtype)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if slices.Contains(addrs, addr) {
			return strings.TrimSuffix(n, "."), true, nil
		}
	}
	if len(errs) > 0 {
		// Unconfirmed because we could not ask, not because the name points elsewhere.
		return strings.TrimSuffix(names[0], "."), false, fmt.Errorf("lookup: PTR %s: forward confirmation: %w", addr, errors.Join(errs...))
	}
	return strings.TrimSuffix(names[0], "."), false, nil
}

// Resolve returns the A and AAAA addresses of name.
func (f *Finder) Resolve(ctx context.Context, name string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(name); err == nil {
		return []netip.Addr{a.Unmap()}, nil
	}
	var out []netip.Addr
	for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA} {
		addrs, err := f.addrs(ctx, name, qtype)
		if err != nil {
			return nil, fmt.Errorf("lookup: resolve %s: %w", name, err)
		}
		out = append(out, addrs...)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("lookup: resolve %s: no such host or no A/AAAA records", name)
	}
	return out, nil
}

// addrs returns the addresses of type qtype (A or AAAA) for name. A resolver follows
// CNAMEs for us, so every address record in the answer counts.
func (f *Finder) addrs(ctx context.Context, name string, qtype uint16) ([]netip.Addr, error) {
	r, err := f.query(ctx, name, qtype)
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, rr := range r.Answer {
		var ip net.IP
		switch rr := rr.(type) {
		case *dns.A:
			ip = rr.A
		case *dns.AAAA:
			ip = rr.AAAA
		default:
			continue
		}
		if a, ok := netip.AddrFromSlice(ip); ok && rr.Header().Rrtype == qtype {
			out = append(out, a.Unmap())
		}
	}
	return out, nil
}

// query asks the resolvers in turn until one gives a definite answer (an answer or
// NXDOMAIN); SERVFAIL, REFUSED and network errors move on to the next resolver.
func (f *Finder) query(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	if len(f.resolvers) == 0 {
		if f.dnsErr != nil {
			return nil, f.dnsErr
		}
		return nil, errors.New("lookup: no DNS resolvers configured")
	}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	// A larger UDP buffer avoids most TCP retries; 1232 is the size safe from fragmentation.
	m.SetEdns0(1232, false)

	var errs []error
	for _, server := range f.resolvers {
		r, err := f.exchange(ctx, m, server)
		if err != nil {
			if ctx.Err() != nil {
				return nil, err
			}
			errs = append(errs, err)
			continue
		}
		if r.Rcode == dns.RcodeSuccess || r.Rcode == dns.RcodeNameError {
			return r, nil
		}
		errs = append(errs, fmt.Errorf("%s answered %s", server, dns.RcodeToString[r.Rcode]))
	}
	return nil, errors.Join(errs...)
}

// exchange sends m to server over UDP, and again over TCP when the answer is truncated,
// all within one per-query timeout.
func (f *Finder) exchange(ctx context.Context, m *dns.Msg, server string) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	r, err := f.exchangeOver(ctx, "udp", m, server)
	if err == nil && r.Truncated {
		r, err = f.exchangeOver(ctx, "tcp", m, server)
	}
	return r, err
}

func (f *Finder) exchangeOver(ctx context.Context, network string, m *dns.Msg, server string) (*dns.Msg, error) {
	c := &dns.Client{Net: network, Timeout: f.timeout}
	conn, err := c.DialContext(ctx, server)
	if err != nil {
		return nil, fmt.Errorf("%s over %s: %w", server, network, err)
	}
	defer conn.Close()
	// The library applies only the context's deadline; cancelling must end the wait too.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()

	r, _, err := c.ExchangeWithConnContext(ctx, m, conn)
	if err != nil {
		// The socket deadline is the context's, and may fire a moment before the context
		// reports it: both mean the context ended.
		if ctx.Err() != nil {
			err = ctx.Err()
		} else if errors.Is(err, os.ErrDeadlineExceeded) {
			err = context.DeadlineExceeded
		}
		return nil, fmt.Errorf("%s over %s: %w", server, network, err)
	}
	return r, nil
}

// Name is what a host name found in a log resolves to.
type Name struct {
	Name      string
	Addrs     []netip.Addr // A then AAAA
	Ambiguous bool         // several addresses or none: the log line does not say which one connected
}

// LookupName resolves name's A and AAAA records. A name that does not exist or has no
// address is not an error but an ambiguous Name without addresses; errors are failures to
// get an answer (SERVFAIL from every resolver, timeouts).
func (f *Finder) LookupName(ctx context.Context, name string) (Name, error) {
	n := Name{Name: strings.TrimSuffix(strings.TrimSpace(name), ".")}
	if !hostName(n.Name) {
		return n, fmt.Errorf("lookup: %q is neither an address nor a host name", name)
	}
	for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA} {
		addrs, err := f.addrs(ctx, n.Name, qtype)
		if err != nil {
			return n, fmt.Errorf("lookup: resolve %s: %w", n.Name, err)
		}
		for _, a := range addrs {
			if !slices.Contains(n.Addrs, a) {
				n.Addrs = append(n.Addrs, a)
			}
		}
	}
	n.Ambiguous = len(n.Addrs) != 1
	return n, nil
}

// maxZoneAddresses bounds what one TXT answer of an abuse-contact zone may add.
const maxZoneAddresses = 8

// zoneContact asks the DNS abuse-contact zone (TXT at <reversed address>.<zone>, the
// Abusix convention) for addr's abuse addresses. No record is no addresses, not an error.
func (f *Finder) zoneContact(ctx context.Context, addr netip.Addr) ([]abusewatch.Mailbox, error) {
	rev, err := dns.ReverseAddr(addr.String())
	if err != nil {
		return nil, err
	}
	rev = strings.TrimSuffix(strings.TrimSuffix(rev, "in-addr.arpa."), "ip6.arpa.")
	r, err := f.query(ctx, rev+f.zone+".", dns.TypeTXT)
	if err != nil {
		return nil, err
	}
	var out []abusewatch.Mailbox
	for _, rr := range r.Answer {
		txt, ok := rr.(*dns.TXT)
		if !ok {
			continue
		}
		for _, s := range txt.Txt {
			for _, field := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' || r == ' ' || r == '\t' }) {
				a, err := mail.ParseAddress(field)
				if err != nil || len(out) >= maxZoneAddresses {
					continue
				}
				out = append(out, abusewatch.Mailbox{Email: a.Address, Role: "abuse", Source: "dns"})
			}
		}
	}
	return dedupeMailboxes(out), nil
}

// hostName says whether s is a host name: dot-separated labels of letters, digits, '-' and
// '_', each at most 63 bytes, at most 253 in all. Names in logs are attacker-controlled.
func hostName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}
