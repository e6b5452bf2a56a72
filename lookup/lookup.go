// Package lookup finds who is responsible for an address, as a person doing it by hand
// would: a Finder turns an address into the abusewatch.Contact to send reports to. The
// config's do-not-contact list is checked first, its static contacts override everything,
// and otherwise the registry is asked over RDAP (an embedded IANA bootstrap, referrals
// followed down to the most specific network, per-server back-off on 429) with a cache per
// address asked about (askedBlock), then an optional DNS abuse-contact zone, then abuse@/security@ of the domain of
// a forward-confirmed reverse name that does not spell the address, marked as guesses; a
// national CERT table adds the network's country's CERT. A registry's answer is data from
// outside and is checked as such: every answer must hold the address, a referred one must
// lie within the network that referred to it, queries go over https except to a plain-http
// server the admin configured, only exact e-mail addresses are taken, and a registry that
// names only its own mailbox names no one. It also answers the DNS questions a report
// needs (reverse names with forward confirmation, names found in logs). It is the only
// package that talks DNS or RDAP; every network call takes a context and a per-query
// timeout.
package lookup

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/mail"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/abusewatch/abusewatch"
)

// StaticContact is an entry of the config's [[contact]] table: it overrides everything for its network.
type StaticContact struct {
	Network netip.Prefix
	Emails  []string
}

// DoNotContact is a network whose responsible party must never be written to, with why.
type DoNotContact struct {
	Network netip.Prefix
	Reason  string
}

// NationalCERT is who to tell, besides the network's own contact, about a network in Country.
type NationalCERT struct {
	Country string // ISO 3166 alpha-2, e.g. "BR"
	Emails  []string
}

// Options configure a Finder. The zero value uses /etc/resolv.conf, a 5s timeout, no RDAP,
// an in-memory cache, no DNS zone and no guesses.
type Options struct {
	Resolvers     []string      // DNS servers "host:port"; empty: read /etc/resolv.conf (if unreadable, DNS lookups are skipped with a clear error)
	Timeout       time.Duration // per query (DNS and RDAP), default 5s
	RDAP          bool          // query RDAP at all
	RDAPServer    string        // optional base URL every RDAP query goes to instead of the bootstrap's choice
	BootstrapDir  string        // optional directory holding ipv4.json/ipv6.json that replace the embedded IANA bootstrap
	RateLimitWait time.Duration // how long one lookup rides out 429s before giving up with ErrRateLimited, default 1m
	AbuseZone     string        // optional DNS abuse-contact zone, e.g. "abuse-contacts.abusix.zone"; empty: off
	Guess         bool          // fall back to abuse@/security@ of a confirmed reverse name's domain
	Static        []StaticContact
	DoNotContact  []DoNotContact
	CERTs         []NationalCERT
	Cache         Cache         // where registry answers are kept per address asked about; nil: in memory
	CacheTTL      time.Duration // how long an answer with an address is kept, default 7 days, at most MaxCacheTTL
	NegativeTTL   time.Duration // how long an answer without one is kept, default 1 hour, at most MaxCacheTTL
	HTTPClient    *http.Client  // optional, for RDAP
}

// Defaults for the zero values of Options.
const (
	DefaultTimeout       = 5 * time.Second
	DefaultRateLimitWait = time.Minute
	DefaultCacheTTL      = 7 * 24 * time.Hour
	DefaultNegativeTTL   = time.Hour
	// MaxCacheTTL bounds how long an answer (with an address or without) is trusted:
	// networks change hands and abuse desks move, and a registry's answer a season old
	// may send reports about a new customer to the old one.
	MaxCacheTTL = 30 * 24 * time.Hour
)

// maxRDAPResponse bounds an RDAP answer: real ones are a few KiB, and a hostile or broken
// server must not make the daemon buffer without limit.
const maxRDAPResponse = 1 << 20

// ErrDoNotContact is wrapped by the error Contact returns for an address in a network on
// the do-not-contact list: the caller must not report it, not try again later.
var ErrDoNotContact = errors.New("the network is on the do-not-contact list")

// ErrNoAnswer is matched (errors.Is) by the error Contact returns when no registry
// answered (a timeout, a refused connection, a server's error, a rate limit that
// outlasted the wait): unlike an answer that names no one, the address may well have a
// contact. The error's text is the failure's own.
var ErrNoAnswer = errors.New("no answer from the registry")

// noAnswer is a failure to get a registry's answer: it is ErrNoAnswer.
type noAnswer struct{ error }

func (e noAnswer) Unwrap() error        { return e.error }
func (e noAnswer) Is(target error) bool { return target == ErrNoAnswer }

// Counters count what a Finder did, for tests, benchmarks and the admin.
type Counters struct {
	RDAPRequests atomic.Int64 // HTTP requests sent to RDAP servers
	RateLimited  atomic.Int64 // 429 answers received
	CacheHits    atomic.Int64 // registry answers taken from the cache
	Referrals    atomic.Int64 // referrals and related links followed
	CacheErrors  atomic.Int64 // cache reads and writes that failed
}

// Finder answers lookups. It is safe for concurrent use.
type Finder struct {
	timeout   time.Duration
	static    []StaticContact // most specific first
	dnc       []DoNotContact  // most specific first
	certs     map[string][]string
	resolvers []string
	dnsErr    error // why there are no resolvers, reported by every DNS lookup
	bootstrap *bootstrapRegistry
	override  *url.URL // Options.RDAPServer
	rdapOn    bool
	zone      string
	guess     bool

	cache       Cache
	cacheTTL    time.Duration
	negativeTTL time.Duration

	http          *http.Client
	rateLimitWait time.Duration
	backoffFloor  time.Duration // the first wait after a 429 without Retry-After; doubles per 429
	mu            sync.Mutex
	servers       map[string]*rdapServer // by scheme://host

	// Counters are this Finder's own unless the caller gives it others (a daemon's
	// new Finder at a reload goes on counting where the old one stopped).
	Counters *Counters
}

// New checks opts and returns a Finder. A bad bootstrap file, resolver address, RDAP server,
// static contact, do-not-contact network or CERT is refused with an error that names it.
func New(opts Options) (*Finder, error) {
	f := &Finder{
		timeout:       cmp.Or(opts.Timeout, DefaultTimeout),
		rdapOn:        opts.RDAP,
		zone:          strings.Trim(strings.TrimSpace(opts.AbuseZone), "."),
		guess:         opts.Guess,
		cache:         opts.Cache,
		cacheTTL:      cmp.Or(opts.CacheTTL, DefaultCacheTTL),
		negativeTTL:   cmp.Or(opts.NegativeTTL, DefaultNegativeTTL),
		rateLimitWait: cmp.Or(opts.RateLimitWait, DefaultRateLimitWait),
		backoffFloor:  time.Second,
		servers:       map[string]*rdapServer{},
		certs:         map[string][]string{},
		Counters:      &Counters{},
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"timeout", opts.Timeout}, {"rate-limit wait", opts.RateLimitWait}, {"cache TTL", opts.CacheTTL}, {"negative TTL", opts.NegativeTTL}} {
		if d.v < 0 {
			return nil, fmt.Errorf("lookup: %s %v is negative", d.name, d.v)
		}
	}
	if f.cacheTTL > MaxCacheTTL || f.negativeTTL > MaxCacheTTL {
		return nil, fmt.Errorf("lookup: cache TTL %v or negative TTL %v is longer than the %v an answer may be trusted", f.cacheTTL, f.negativeTTL, MaxCacheTTL)
	}
	if f.cache == nil {
		f.cache = NewMemoryCache()
	}

	static, err := checkStatic(opts.Static)
	if err != nil {
		return nil, err
	}
	f.static = static
	if f.dnc, err = checkDoNotContact(opts.DoNotContact); err != nil {
		return nil, err
	}
	for _, c := range opts.CERTs {
		country := strings.ToUpper(strings.TrimSpace(c.Country))
		if len(country) != 2 {
			return nil, fmt.Errorf("lookup: national CERT %q: want a two-letter country code such as \"BR\"", c.Country)
		}
		if err := checkEmails("national CERT for "+country, c.Emails); err != nil {
			return nil, err
		}
		f.certs[country] = append(f.certs[country], c.Emails...)
	}

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
	if opts.RDAPServer != "" {
		u, err := url.Parse(opts.RDAPServer)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("lookup: RDAP server %q: want a base URL such as https://rdap.arin.net/registry/", opts.RDAPServer)
		}
		if !strings.HasSuffix(u.Path, "/") {
			u.Path += "/"
		}
		f.override = u
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
	f.http = hc
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
		p := abusewatch.UnmapPrefix(s.Network)
		if len(s.Emails) == 0 {
			return nil, fmt.Errorf("lookup: static contact for %s: no e-mail address", p)
		}
		if err := checkEmails("static contact for "+p.String(), s.Emails); err != nil {
			return nil, err
		}
		out = append(out, StaticContact{Network: p, Emails: slices.Clone(s.Emails)})
	}
	slices.SortStableFunc(out, func(a, b StaticContact) int { return cmp.Compare(b.Network.Bits(), a.Network.Bits()) })
	return out, nil
}

func checkDoNotContact(in []DoNotContact) ([]DoNotContact, error) {
	out := make([]DoNotContact, 0, len(in))
	for i, d := range in {
		if !d.Network.IsValid() {
			return nil, fmt.Errorf("lookup: do-not-contact entry %d: no valid network", i+1)
		}
		out = append(out, DoNotContact{Network: abusewatch.UnmapPrefix(d.Network), Reason: d.Reason})
	}
	slices.SortStableFunc(out, func(a, b DoNotContact) int { return cmp.Compare(b.Network.Bits(), a.Network.Bits()) })
	return out, nil
}

func checkEmails(what string, emails []string) error {
	if len(emails) == 0 {
		return fmt.Errorf("lookup: %s: no e-mail address", what)
	}
	for _, e := range emails {
		if a, err := mail.ParseAddress(e); err != nil || a.Address != e {
			return fmt.Errorf("lookup: %s: %q is not an e-mail address", what, e)
		}
	}
	return nil
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

// Contact finds who is responsible for addr. In order: an address on the do-not-contact
// list is refused with ErrDoNotContact; the most specific static contact wins (Role
// "static", Source "config"); otherwise the registry's answer (cached per address asked about),
// preferring abuse contacts over technical, administrative and registrant ones, with the
// DNS abuse-contact zone asked when the registry names no abuse contact; otherwise, with
// guesses on, abuse@ and security@ of the domain of addr's forward-confirmed reverse name.
// The national CERT of the network's country is added when the config names one.
//
// Contact asks DNS only when it needs a reverse name for a guess, so a lookup in a cached
// network needs no network traffic at all; Whois shows every step. The error says what
// failed when no address can be found at all; a failure to reach the registry is an error
// (try again later), not a reason to guess.
func (f *Finder) Contact(ctx context.Context, addr netip.Addr) (abusewatch.Contact, error) {
	fd, err := f.find(ctx, addr, false, f.guess)
	return fd.Contact, err
}

// Listed is Contact without the guess: whom the config, the registry (its cached
// answer while fresh, so asked again once an answer naming no one is older than the
// negative TTL) or the abuse-contact zone names for addr, with the national CERT. The
// outbox asks it about the address of a report written to a guess that has not gone
// yet: once the registry names someone (it was down, or its answer changed), the
// report goes to them instead.
func (f *Finder) Listed(ctx context.Context, addr netip.Addr) (abusewatch.Contact, error) {
	fd, err := f.find(ctx, addr, false, false)
	return fd.Contact, err
}

// find does the work of Contact, and with whois also resolves the reverse name always and
// notes each step in the Finding; guess says whether to guess when no one is named.
func (f *Finder) find(ctx context.Context, addr netip.Addr, whois, guess bool) (Finding, error) {
	if !addr.IsValid() {
		return Finding{}, errors.New("lookup: contact: invalid address")
	}
	addr = addr.Unmap()
	fd := Finding{Query: addr.String(), Addrs: []netip.Addr{addr}, trace: whois}

	if d, ok := f.doNotContact(addr); ok {
		reason := ""
		if d.Reason != "" {
			reason = " (" + d.Reason + ")"
		}
		fd.Contact = abusewatch.Contact{Network: d.Network, Problem: fmt.Sprintf("%s is on the do-not-contact list%s", d.Network, reason)}
		return fd, fmt.Errorf("lookup: contact for %s: %w: %s%s", addr, ErrDoNotContact, d.Network, reason)
	}

	ptr := func() {
		name, ok, err := f.PTR(ctx, addr)
		fd.PTR, fd.PTRConfirmed = name, ok
		if err != nil {
			fd.PTRError = err.Error()
		}
		switch {
		case err != nil:
			fd.note("reverse name: %v", err)
		case name == "":
			fd.note("reverse name: none")
		case ok:
			fd.Contact.PTR = name
			fd.note("reverse name %s resolves back to %s: forward-confirmed", name, addr)
		default:
			fd.note("reverse name %s does not resolve back to %s: not confirmed", name, addr)
		}
	}

	if s, ok := f.staticFor(addr); ok {
		fd.Contact = abusewatch.Contact{Network: s.Network, Role: "static", Source: "config", Fetched: time.Now()}
		for _, e := range s.Emails {
			fd.Contact.Mailboxes = append(fd.Contact.Mailboxes, abusewatch.Mailbox{Email: e, Role: "static", Source: "static"})
		}
		fd.note("the static [[contact]] table covers %s with %s", addr, s.Network)
		if whois {
			ptr()
		}
		fd.Contact.Emails = emailsOf(fd.Contact.Mailboxes)
		return fd, nil
	}

	var c abusewatch.Contact
	if f.rdapOn {
		var err error
		if c, err = f.registryContact(ctx, addr, &fd); err != nil {
			fd.Contact = c
			if whois {
				ptr()
			}
			return fd, noAnswer{err}
		}
	} else {
		c = abusewatch.Contact{Network: netip.PrefixFrom(addr, addr.BitLen()), Problem: "RDAP is disabled"}
		fd.note("RDAP is disabled")
	}
	c.Mailboxes = slices.Clone(c.Mailboxes) // appended to below; the cache keeps its own
	if len(c.Mailboxes) > 0 {
		fd.note("the registry names %s as %s", strings.Join(emailsOf(c.Mailboxes), ", "), c.Role)
	} else if c.Problem != "" {
		fd.note("the registry names no one: %s", c.Problem)
	}

	if c.Role != "abuse" && f.zone != "" {
		mbs, err := f.zoneContact(ctx, addr)
		switch {
		case err != nil:
			fd.note("abuse-contact zone %s: %v", f.zone, err)
		case len(mbs) == 0:
			fd.note("abuse-contact zone %s: no TXT record for %s", f.zone, addr)
		default:
			fd.note("abuse-contact zone %s names %s", f.zone, strings.Join(emailsOf(mbs), ", "))
			c.Mailboxes, c.Role, c.Source = mbs, "abuse", f.zone
		}
	}

	if whois || (len(c.Mailboxes) == 0 && guess) {
		fd.Contact = c
		ptr()
		c.PTR = fd.Contact.PTR
	}
	if len(c.Mailboxes) == 0 && guess {
		mbs, refused := guessMailboxes(c.PTR, addr)
		switch {
		case len(mbs) > 0:
			fd.note("guessing from the registrable domain of the confirmed reverse name %s", c.PTR)
			c.Mailboxes, c.Role, c.Source, c.Guess = mbs, mbs[0].Role, "guess", true
		case refused != "":
			fd.note("no guess from the reverse name %s: %s", c.PTR, refused)
			c.Problem = cmp.Or(c.Problem, "no contact address found") + "; no guess from the reverse name " + c.PTR + ": " + refused
		case fd.PTR != "" && !fd.PTRConfirmed:
			fd.note("the reverse name %s is not forward-confirmed: not used for a guess", fd.PTR)
		}
	}
	if certs := f.certs[strings.ToUpper(c.Country)]; len(certs) > 0 {
		fd.note("the national CERT table names %s for %s", strings.Join(certs, ", "), strings.ToUpper(c.Country))
		for _, e := range certs {
			c.Mailboxes = append(c.Mailboxes, abusewatch.Mailbox{Email: e, Role: "cert", Source: "static"})
		}
		if c.Role == "" {
			c.Role, c.Source = "cert", "config"
		}
	}
	c.Mailboxes = dedupeMailboxes(c.Mailboxes)
	c.Emails = emailsOf(c.Mailboxes)
	fd.Contact = c
	if len(c.Emails) == 0 {
		problem := cmp.Or(c.Problem, "no contact address found")
		if guess && c.PTR == "" {
			problem += "; no forward-confirmed reverse name to guess from"
		}
		return fd, fmt.Errorf("lookup: contact for %s: %s", addr, problem)
	}
	fd.Contact.Problem = ""
	return fd, nil
}

func (f *Finder) staticFor(addr netip.Addr) (StaticContact, bool) {
	for _, s := range f.static {
		if s.Network.Contains(addr) {
			return s, true
		}
	}
	return StaticContact{}, false
}

func (f *Finder) doNotContact(addr netip.Addr) (DoNotContact, bool) {
	for _, d := range f.dnc {
		if d.Network.Contains(addr) {
			return d, true
		}
	}
	return DoNotContact{}, false
}

func emailsOf(mbs []abusewatch.Mailbox) []string {
	out := make([]string, 0, len(mbs))
	for _, m := range mbs {
		out = append(out, m.Email)
	}
	return out
}

// dedupeMailboxes drops repeated addresses (compared without case), keeping the first,
// which came from the better source.
func dedupeMailboxes(in []abusewatch.Mailbox) []abusewatch.Mailbox {
	var out []abusewatch.Mailbox
	seen := map[string]bool{}
	for _, m := range in {
		k := strings.ToLower(m.Email)
		if !seen[k] {
			seen[k] = true
			out = append(out, m)
		}
	}
	return out
}
