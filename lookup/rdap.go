package lookup

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/mail"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/abusewatch/abusewatch"
	"github.com/openrdap/rdap"
	"github.com/openrdap/rdap/bootstrap"
)

// ErrRateLimited is wrapped by the error Contact returns when an RDAP server kept answering
// 429 for longer than the lookup may wait, so the caller can try again later.
var ErrRateLimited = errors.New("rate-limited by the RDAP server")

// errNotFound is a registry's 404: a definite answer that it holds no network for the address.
var errNotFound = errors.New("the server has no network for this address (404)")

// maxReferrals bounds how many referrals one lookup follows: the registry's answer is
// data from outside, and a loop or a chain of links must not make us query forever.
const maxReferrals = 3

// maxBackoff bounds the wait after repeated 429s without Retry-After, and a Retry-After
// far in the future (a misconfigured server must not silence a registry for a day).
const maxBackoff = time.Hour

// rdapAnswer is one ip network a server answered with, and the URL that answered.
type rdapAnswer struct {
	ipn     *rdap.IPNetwork
	url     *url.URL     // after redirects
	network netip.Prefix // the largest prefix of rng that holds the address asked about
	rng     addrRange    // the addresses the answer says it is for
	stated  bool         // the answer states its range (else rng is the address alone)
}

// addrRange is first..last, both included.
type addrRange struct{ first, last netip.Addr }

// holds says whether o lies within r.
func (r addrRange) holds(o addrRange) bool {
	return r.first.Is4() == o.first.Is4() && r.first.Compare(o.first) <= 0 && o.last.Compare(r.last) <= 0
}

func (r addrRange) String() string {
	if r.first == r.last {
		return r.first.String()
	}
	return r.first.String() + "-" + r.last.String()
}

// registryContact returns what the registry says about the network holding addr: from the
// cache when it is fresh, else from RDAP, then cached. A Contact without Emails (Problem
// set) is a definite answer without an address (cached for the negative TTL); an error is
// a failure to get an answer, to be retried later.
func (f *Finder) registryContact(ctx context.Context, addr netip.Addr, fd *Finding) (abusewatch.Contact, error) {
	if c, ok := f.cachedContact(addr, fd); ok {
		return c, nil
	}
	base, err := f.baseFor(addr)
	if err != nil {
		return abusewatch.Contact{}, err
	}
	// The server the config or the bootstrap names may be a plain-http mirror the admin
	// chose; nothing else is asked over plain http.
	trusted := ""
	if base.Scheme == "http" {
		trusted = base.Hostname()
	}
	srv := f.server(base)
	select {
	case srv.lock <- struct{}{}:
		defer func() { <-srv.lock }()
	case <-ctx.Done():
		return abusewatch.Contact{}, fmt.Errorf("lookup: waiting for the previous RDAP query to %s: %w", base.Host, ctx.Err())
	}
	// Lookups for one server queue on its lock; whoever held it may have cached this very
	// block meanwhile, so a burst from one address (or IPv6 /64) costs one query.
	if c, ok := f.cachedContact(addr, fd); ok {
		return c, nil
	}

	until := time.Now().Add(f.rateLimitWait)
	first := ipURL(base, addr)
	ans, err := f.fetch(ctx, srv, first, addr, until, trusted)
	if errors.Is(err, errNotFound) {
		c := abusewatch.Contact{
			Network:  netip.PrefixFrom(addr, addr.BitLen()),
			Source:   first.String(),
			Registry: registryName(first),
			Problem:  fmt.Sprintf("RDAP %s: %v", first, err),
			Fetched:  time.Now(),
		}
		fd.note("registry %s: no network for %s (404)", c.Registry, addr)
		f.store(addr, c, fd, false)
		return c, nil
	}
	if err != nil {
		return abusewatch.Contact{}, fmt.Errorf("lookup: RDAP %s: %w", first, err)
	}
	fd.note("registry %s (%s) answers with %s %s", registryName(ans.url), ans.url, ans.network, nameOf(ans.ipn))
	referred, failed := f.followReferrals(ctx, addr, ans, until, trusted, fd)
	c := pickContact(append([]rdapAnswer{ans}, referred...), fd)
	if failed != "" && len(c.Emails) == 0 {
		c.Problem += "; " + failed
	}
	f.store(addr, c, fd, failed != "")
	return c, nil
}

// pickContact picks the contact from a chain of answers, each within the one before it:
// the most specific network that names someone. A less specific network's contact is
// kept for the most specific network answered only, since a sibling of that network (the
// next /24 of a national registry) may name its own.
func pickContact(answers []rdapAnswer, fd *Finding) abusewatch.Contact {
	specific := answers[len(answers)-1]
	var c abusewatch.Contact
	var problems []string
	for i := len(answers) - 1; i >= 0; i-- {
		cand := contactFrom(answers[i], fd)
		if i == len(answers)-1 {
			c = cand
		}
		if len(cand.Emails) == 0 {
			problems = append(problems, cand.Problem)
			continue
		}
		if i < len(answers)-1 {
			fd.note("%s %s names no one: using the contact of the less specific %s %s, for %s only",
				specific.network, nameOf(specific.ipn), answers[i].network, nameOf(answers[i].ipn), specific.network)
			// The memo names whose contact it is: the recipient is not the specific
			// network's own.
			cand.Covering, cand.CoveringName = answers[i].network, nameOf(answers[i].ipn)
			cand.Network, cand.Name = specific.network, nameOf(specific.ipn)
			cand.Country = cmp.Or(countryOf(specific.ipn), cand.Country)
		}
		return cand
	}
	c.Problem = strings.Join(problems, "; ") // what each network lacked, the most specific first
	return c
}

// tooWide says whether p is wider than any network a registry holds: IANA hands the RIRs
// IPv4 in /8s and IPv6 in /12s. No contact is cached for such a network, and a cached one
// (left by a version that trusted any referral) is not used.
func tooWide(p netip.Prefix) bool {
	if p.Addr().Is4() {
		return p.Bits() < 8
	}
	return p.Bits() < 12
}

// cachedContact looks addr up in the cache and notes a hit in fd. A cache that cannot be
// read is a miss (counted and noted): the registry can still be asked. An entry is fresh
// while it is younger than the TTL configured now (the negative TTL for an answer naming
// no one), not only until the expiry stored with it: a TTL lowered after a network
// changed hands takes effect at once.
func (f *Finder) cachedContact(addr netip.Addr, fd *Finding) (abusewatch.Contact, bool) {
	now := time.Now()
	c, ok, err := f.cache.CachedContact(addr, now)
	if err != nil {
		f.Counters.CacheErrors.Add(1)
		fd.note("could not read the cache: %v", err)
		return abusewatch.Contact{}, false
	}
	if !ok {
		return c, false
	}
	// An entry written before referrals and addresses were checked may be wrong: ask again.
	if tooWide(c.Network) {
		fd.note("ignored the cached answer for %s: no registry holds a network that wide", c.Network)
		return abusewatch.Contact{}, false
	}
	ttl := f.cacheTTL
	if len(c.Emails) == 0 {
		ttl = f.negativeTTL
	}
	if age := now.Sub(c.Fetched); age >= ttl {
		fd.note("ignored the cached answer for %s: fetched %s ago, longer than the %s an answer is kept", c.Network, age.Round(time.Second), ttl)
		return abusewatch.Contact{}, false
	}
	for _, e := range append(emailsOf(c.Mailboxes), c.Emails...) {
		if !validEmail(e) {
			fd.note("ignored the cached answer for %s: %q is not one e-mail address", c.Network, printable(e))
			return abusewatch.Contact{}, false
		}
	}
	f.Counters.CacheHits.Add(1)
	fd.Cached = true
	fd.note("cached answer for %s (asked about %s), fetched %s ago", c.Network, askedBlock(addr, c.Network), now.Sub(c.Fetched).Round(time.Second))
	return c, true
}

// store caches c, the answer to a query about addr, for the block that query covers
// (askedBlock): for the normal TTL when it names an address, the negative one otherwise,
// and the negative one too when short (a referral failed, so the more specific network
// may name someone else: ask again soon). A cache that cannot be written costs a later
// query, not this answer: it is counted and noted, and the lookup goes on.
func (f *Finder) store(addr netip.Addr, c abusewatch.Contact, fd *Finding, short bool) {
	if tooWide(c.Network) {
		fd.note("not cached: %s is wider than any network a registry holds", c.Network)
		return
	}
	ttl := f.cacheTTL
	switch {
	case len(c.Emails) == 0:
		ttl = f.negativeTTL
	case short:
		ttl = min(f.negativeTTL, f.cacheTTL)
		fd.note("a referral failed: this answer is cached for %s only", ttl)
	}
	c.PTR = "" // per address, not per network
	block := askedBlock(addr, c.Network)
	if err := f.cache.CacheContact(block, c, c.Fetched.Add(ttl)); err != nil {
		f.Counters.CacheErrors.Add(1)
		fd.note("could not cache the answer: %v", err)
		return
	}
	if block == c.Network {
		fd.note("cached for %s, for %s", block, ttl)
		return
	}
	fd.note("cached for %s only, for %s: the registry does not say which more specific networks %s holds", block, ttl, c.Network)
}

// baseFor is the RDAP base URL to ask about addr: the override, else the bootstrap's choice.
func (f *Finder) baseFor(addr netip.Addr) (*url.URL, error) {
	if f.override != nil {
		u := *f.override
		return &u, nil
	}
	return f.bootstrap.serverFor(addr)
}

// ipURL is the RDAP query for addr at base, e.g. https://rdap.arin.net/registry/ip/3.3.3.3.
func ipURL(base *url.URL, addr netip.Addr) *url.URL {
	u := *base
	return (&rdap.Request{Type: rdap.IPRequest, Query: addr.String(), Server: &u}).URL()
}

// nameOf is the network's name (or handle) in the answer, as printable text: the answer
// may come from a referral to the attacker's own provider, and the name is shown on the
// admin's terminal (whois, the steps) and in the memo.
func nameOf(ipn *rdap.IPNetwork) string {
	return printable(cmp.Or(ipn.Name, ipn.Handle))
}

// printable is s from outside on one line of at most maxNameRunes runes, without control
// or invisible format characters.
func printable(s string) string {
	return Printable(s, maxNameRunes)
}

// Printable is s from outside (a registry, a DNS answer) made safe for a terminal or a
// mail: one line without control or invisible format characters (no escape sequences,
// no carriage return to draw over a line, no bidi overrides), of at most max runes (0: no
// limit). Whois passes every string it prints through it.
func Printable(s string, max int) string {
	var b strings.Builder
	n := 0
	for _, r := range strings.ToValidUTF8(s, string(utf8.RuneError)) {
		switch {
		case max > 0 && n == max:
			return b.String()
		case unicode.IsSpace(r):
			r = ' '
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
			continue
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

// maxNameRunes bounds a registry's name for a network (the longest in the corpora is
// a LACNIC organisation's, 31).
const maxNameRunes = 100

// countryOf is the answer's country code: two letters, or none.
func countryOf(ipn *rdap.IPNetwork) string {
	c := strings.ToUpper(strings.TrimSpace(ipn.Country))
	if len(c) != 2 || c[0] < 'A' || c[0] > 'Z' || c[1] < 'A' || c[1] > 'Z' {
		return ""
	}
	return c
}

// contactFrom picks the contact from an answer, noting in fd what it set aside.
func contactFrom(a rdapAnswer, fd *Finding) abusewatch.Contact {
	mbs, why, notes := pickMailboxes(a.ipn)
	for _, n := range notes {
		fd.note("%s %s: %s", a.network, nameOf(a.ipn), n)
	}
	c := abusewatch.Contact{
		Network:   a.network,
		Mailboxes: mbs,
		Emails:    emailsOf(mbs),
		Source:    a.url.String(),
		Registry:  registryName(a.url),
		Name:      nameOf(a.ipn),
		Country:   countryOf(a.ipn),
		Fetched:   time.Now(),
	}
	if len(mbs) > 0 {
		c.Role = mbs[0].Role
		return c
	}
	for _, r := range a.ipn.Remarks {
		if strings.Contains(strings.ToLower(r.Type), "truncated") {
			why += "; the server says: " + r.Type
		}
	}
	c.Problem = fmt.Sprintf("RDAP %s: %s", a.url, why)
	return c
}

// followReferrals follows related links (and the referrals they are) from ans to other
// RDAP servers, asking each about addr, and returns the answers it got. An answer must lie
// within the network of the answer that referred to it: a referral is data from outside,
// and the server it leads to must not speak for more than the registry gave it (an answer
// for all of IPv4 would name its contact for every address). failed says that a referral
// was not answered or its answer was ignored, and why.
func (f *Finder) followReferrals(ctx context.Context, addr netip.Addr, ans rdapAnswer, until time.Time, trusted string, fd *Finding) (out []rdapAnswer, failed string) {
	visited := map[string]bool{ans.url.String(): true}
	for range maxReferrals {
		next, ok := referral(ans, addr, trusted, fd)
		if !ok || visited[next.String()] {
			break
		}
		visited[next.String()] = true
		f.Counters.Referrals.Add(1)
		// No lock here: a lookup holding one server's lock must not wait for another's,
		// or two referrals in opposite directions would deadlock. The back-off still holds.
		got, err := f.fetch(ctx, f.server(next), next, addr, until, trusted)
		if err != nil {
			failed = fmt.Sprintf("referral to %s: %v", next, err)
			fd.note("%s", failed)
			return out, failed
		}
		if !got.stated || !ans.rng.holds(got.rng) {
			what := "states no network"
			if got.stated {
				what = "is for " + got.rng.String()
			}
			failed = fmt.Sprintf("ignored the answer of the referral to %s (%s): it %s, which is not within %s, the network of the answer that referred to it",
				registryName(got.url), got.url, what, ans.rng)
			fd.note("%s", failed)
			return out, failed
		}
		fd.note("followed the referral to %s (%s): %s %s", registryName(got.url), got.url, got.network, nameOf(got.ipn))
		out = append(out, got)
		ans = got
	}
	return out, ""
}

// referral finds in ans a related link to another RDAP server's ip network containing
// addr, and returns that server's query URL for addr (the most specific network it holds).
// Links must be https: a plain-http link to a registry is upgraded (APNIC's older answers
// write every link as http://, and the registries serve RDAP over https), one to the
// configured plain-http server (trusted, a host name) is kept, and any other is refused.
func referral(ans rdapAnswer, addr netip.Addr, trusted string, fd *Finding) (*url.URL, bool) {
	for _, l := range ans.ipn.Links {
		if !strings.EqualFold(l.Rel, "related") {
			continue
		}
		if l.Type != "" && !strings.Contains(strings.ToLower(l.Type), "json") {
			continue
		}
		u, err := url.Parse(l.Href)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			continue
		}
		if strings.EqualFold(u.Host, ans.url.Host) {
			continue // the same server already gave its most specific answer
		}
		i := strings.LastIndex(u.Path, "/ip/")
		if i < 0 {
			continue // e.g. NIC.br's related reverse domain
		}
		// The link names a network (or one address of it): it must be about addr's.
		target := u.Path[i+len("/ip/"):]
		if p, err := netip.ParsePrefix(target); err == nil {
			if !abusewatch.UnmapPrefix(p).Contains(addr) {
				continue
			}
		} else if _, err := parseRDAPAddr(target); err != nil {
			continue
		}
		if u.Scheme == "http" {
			_, isRegistry := registryOf(u.Hostname())
			switch {
			case trusted != "" && strings.EqualFold(u.Hostname(), trusted):
			case isRegistry:
				u.Scheme = "https"
				fd.note("the related link %s is plain http: asking %s over https instead", printable(l.Href), registryName(u))
			default:
				fd.note("refused the related link %s: plain http, to neither a registry nor the configured RDAP server", printable(l.Href))
				continue
			}
		}
		base := &url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path[:i+1]}
		return ipURL(base, addr), true
	}
	return nil, false
}

// redirectPolicy refuses the redirects an RDAP query must not follow: from https to plain
// http (that would hand the answer to anyone on the path), and to plain http anywhere but
// the configured plain-http server (trusted, a host name, "" for none). next is the
// client's own policy, if any.
func redirectPolicy(trusted string, next func(*http.Request, []*http.Request) error) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		prev := via[len(via)-1].URL
		if req.URL.Scheme != "https" {
			if prev.Scheme == "https" {
				return fmt.Errorf("refused the redirect from %s to plain-http %s", prev.Redacted(), req.URL.Redacted())
			}
			if trusted == "" || !strings.EqualFold(req.URL.Hostname(), trusted) {
				return fmt.Errorf("refused the redirect to %s: plain http, and not the configured RDAP server", req.URL.Redacted())
			}
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
}

// rdapServer is one RDAP server: one lookup at a time (the courteous rate, and what makes
// lookups for one network coalesce) and the back-off its 429 answers asked for.
type rdapServer struct {
	lock chan struct{} // a one-slot channel so that waiting for it honours the context

	mu         sync.Mutex
	notBefore  time.Time // no request before this
	strikes    int       // 429s in a row
	retryAfter string    // the last Retry-After, for the error
}

// server returns the state of the server u points to.
func (f *Finder) server(u *url.URL) *rdapServer {
	key := strings.ToLower(u.Scheme + "://" + u.Host)
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.servers[key]
	if s == nil {
		s = &rdapServer{lock: make(chan struct{}, 1)}
		f.servers[key] = s
	}
	return s
}

// wait waits until the server may be asked again. It gives up at once with ErrRateLimited
// when that is after until or after the context's deadline: better to fail now and be
// retried later than to hold the caller for nothing.
func (s *rdapServer) wait(ctx context.Context, until time.Time) error {
	s.mu.Lock()
	nb, ra := s.notBefore, s.retryAfter
	s.mu.Unlock()
	d := time.Until(nb)
	if d <= 0 {
		return nil
	}
	dl, hasDeadline := ctx.Deadline()
	if nb.After(until) || (hasDeadline && nb.After(dl)) {
		if ra != "" {
			return fmt.Errorf("%w: it asks for %s more (Retry-After: %s)", ErrRateLimited, d.Round(time.Second), ra)
		}
		return fmt.Errorf("%w: backing off for %s more", ErrRateLimited, d.Round(time.Second))
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting out the server's rate limit: %w", ctx.Err())
	}
}

// limited records a 429: wait as long as Retry-After says, else floor doubled per 429 in a row.
func (s *rdapServer) limited(retryAfter string, floor time.Duration, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.strikes++
	d := floor << min(s.strikes-1, 12)
	if v, ok := parseRetryAfter(retryAfter, now); ok && v > 0 {
		d = v
	}
	d = min(d, maxBackoff)
	if nb := now.Add(d); nb.After(s.notBefore) {
		s.notBefore = nb
	}
	s.retryAfter = retryAfter
}

func (s *rdapServer) succeeded() {
	s.mu.Lock()
	s.strikes, s.retryAfter = 0, ""
	s.mu.Unlock()
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
		return time.Duration(min(n, int64(maxBackoff/time.Second))) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// fetch asks srv for u, riding out 429s until the server lets us or until is reached.
// trusted is the configured plain-http server's host name, if any (see redirectPolicy).
func (f *Finder) fetch(ctx context.Context, srv *rdapServer, u *url.URL, addr netip.Addr, until time.Time, trusted string) (rdapAnswer, error) {
	for {
		if err := srv.wait(ctx, until); err != nil {
			return rdapAnswer{}, err
		}
		f.Counters.RDAPRequests.Add(1)
		ans, retryAfter, limited, err := f.get(ctx, u, addr, trusted)
		if limited {
			f.Counters.RateLimited.Add(1)
			srv.limited(retryAfter, f.backoffFloor, time.Now())
			continue
		}
		srv.succeeded()
		return ans, err
	}
}

// get sends one query. limited reports a 429 with its Retry-After.
func (f *Finder) get(ctx context.Context, u *url.URL, addr netip.Addr, trusted string) (ans rdapAnswer, retryAfter string, limited bool, err error) {
	// The library ignores Request.Timeout; only the context bounds the query.
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	hc := *f.http // shares the transport; only the redirect policy is per query
	hc.CheckRedirect = redirectPolicy(trusted, f.http.CheckRedirect)
	// A client per query: rdap.Client is not safe for concurrent use, and it is cheap.
	client := &rdap.Client{HTTP: &hc, Bootstrap: &bootstrap.Client{}, Verbose: func(string) {},
		UserAgent: "abusewatch (abuse contact lookup)"}
	target := *u
	resp, err := client.Do((&rdap.Request{Type: rdap.RawRequest, Server: &target}).WithContext(ctx))
	final := u
	if resp != nil {
		for _, h := range resp.HTTP {
			if h.Response == nil {
				continue
			}
			// 429, or 503 with Retry-After (RFC 9110 15.6.4: overloaded, come back then).
			ra := h.Response.Header.Get("Retry-After")
			if h.Response.StatusCode == http.StatusTooManyRequests || (h.Response.StatusCode == http.StatusServiceUnavailable && ra != "") {
				return rdapAnswer{}, ra, true, nil
			}
			if h.Response.Request != nil && h.Response.Request.URL != nil {
				final = h.Response.Request.URL // after redirects
			}
		}
	}
	if err != nil {
		return rdapAnswer{}, "", false, explainRDAPError(ctx, resp, err)
	}
	var ipn *rdap.IPNetwork
	switch obj := resp.Object.(type) {
	case *rdap.IPNetwork:
		ipn = obj
	case *rdap.Error:
		return rdapAnswer{}, "", false, fmt.Errorf("server error %s: %s", obj.Title, strings.Join(obj.Description, " "))
	case *rdap.Help:
		// Old RIPE answers lack objectClassName, so the library takes them for help
		// responses. Decode the body again as the ip network it is.
		if ipn, err = redecodeIPNetwork(resp); err != nil {
			return rdapAnswer{}, "", false, err
		}
	default:
		return rdapAnswer{}, "", false, fmt.Errorf("answer is a %T, not an ip network", obj)
	}
	// Every answer must hold the address asked about, or it speaks of another network.
	network, rng, stated, err := networkOf(ipn, addr)
	if err != nil {
		return rdapAnswer{}, "", false, fmt.Errorf("%s: %v: ignored", final, err)
	}
	return rdapAnswer{ipn: ipn, url: final, network: network, rng: rng, stated: stated}, "", false, nil
}

// explainRDAPError turns the library's generic "no working servers" into what happened.
func explainRDAPError(ctx context.Context, resp *rdap.Response, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("no answer: %w", ctx.Err())
	}
	var ce *rdap.ClientError
	if errors.As(err, &ce) && ce.Type == rdap.ObjectDoesNotExist {
		return errNotFound
	}
	if resp != nil {
		for _, h := range resp.HTTP {
			switch {
			case h.Error != nil:
				return h.Error
			case h.Response != nil && (h.Response.StatusCode < 200 || h.Response.StatusCode > 299):
				return fmt.Errorf("server answered %s", h.Response.Status)
			}
		}
	}
	return err
}

// redecodeIPNetwork decodes the last body of resp as an ip network, if it looks like one.
func redecodeIPNetwork(resp *rdap.Response) (*rdap.IPNetwork, error) {
	if len(resp.HTTP) == 0 {
		return nil, errors.New("answer is not an ip network")
	}
	var doc map[string]any
	if err := json.Unmarshal(resp.HTTP[len(resp.HTTP)-1].Body, &doc); err != nil {
		return nil, err
	}
	if _, ok := doc["startAddress"]; !ok {
		return nil, errors.New("answer is not an ip network (no objectClassName, no startAddress)")
	}
	doc["objectClassName"] = "ip network"
	body, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	obj, err := rdap.NewDecoder(body).Decode()
	if err != nil {
		return nil, err
	}
	ipn, ok := obj.(*rdap.IPNetwork)
	if !ok {
		return nil, fmt.Errorf("answer is a %T, not an ip network", obj)
	}
	return ipn, nil
}

// pickMailboxes returns the addresses of the best role present, searching nested entities
// too (ARIN puts the abuse POC inside the registrant). In order:
//
//   - the addresses of abuse-role entities, those whose vCard types them "abuse" (RIPE's
//     abuse-mailbox) first and alone, as the others of an abuse entity are often a NOC or
//     a person;
//   - an address typed "abuse" on an entity of another role (a nested NOC, a reseller);
//   - an address that a remark of the network itself or of its abuse entity gives for
//     abuse reports ("please send abuse reports to …", as a person reading the record
//     would take it; old AFRINIC answers have no abuse entity, NIC.br's has no address);
//   - the technical, administrative and registrant roles.
//
// Every value must be one plain e-mail address (validEmail); others are dropped and noted.
// A registry's own mailbox (see registries) is set aside: when nothing else is found, why
// says that only the registry is named. When there is none, why says what the entities
// lacked; notes say what was dropped or set aside.
func pickMailboxes(ipn *rdap.IPNetwork) (mbs []abusewatch.Mailbox, why string, notes []string) {
	roles := []string{"abuse", "technical", "administrative", "registrant"} // best first
	var abuseTyped, otherTyped, noEmail, otherRole, remarked, registryOwn, malformed []string
	byRole := map[string][]string{}
	// usable says whether an address may be reported to, noting why not.
	usable := func(e string) bool {
		if r, ok := registryMailbox(e); ok {
			if !slices.Contains(registryOwn, e) {
				registryOwn = append(registryOwn, e)
				notes = append(notes, fmt.Sprintf("%s is the registry %s's own mailbox: not the network's contact", e, r.name))
			}
			return false
		}
		return true
	}
	remarks := func(rs []rdap.Remark) {
		for _, r := range rs {
			for _, e := range remarkAddresses(strings.Join(r.Description, " ")) {
				if usable(e) {
					remarked = append(remarked, e)
				}
			}
		}
	}
	remarks(ipn.Remarks)
	var walk func([]rdap.Entity, int)
	walk = func(es []rdap.Entity, depth int) {
		if depth > 8 {
			return // nesting is data from outside: bound it
		}
		for _, e := range es {
			var all, typed []string
			hadRegistryOwn := false
			if e.VCard != nil {
				for _, p := range e.VCard.Get("email") {
					isTyped := slices.ContainsFunc(p.Parameters["type"], func(t string) bool { return strings.EqualFold(t, "abuse") })
					for _, v := range p.Values() {
						addr, ok := vcardEmail(v)
						switch {
						case !ok:
							if strings.TrimSpace(v) != "" {
								notes = append(notes, fmt.Sprintf("dropped %q of %s: not one e-mail address", printable(v), printable(e.Handle)))
								malformed = append(malformed, fmt.Sprintf("%q of %s", printable(v), printable(e.Handle)))
							}
							continue
						case !usable(addr):
							hadRegistryOwn = true
							continue
						}
						all = append(all, addr)
						if isTyped {
							typed = append(typed, addr)
						}
					}
				}
			}
			used, isAbuse := false, false
			for _, r := range e.Roles {
				r = strings.ToLower(strings.TrimSpace(r))
				if !slices.Contains(roles, r) {
					continue
				}
				used = true
				isAbuse = isAbuse || r == "abuse"
				byRole[r] = append(byRole[r], all...)
				if len(all) == 0 && !hadRegistryOwn {
					noEmail = append(noEmail, r+" "+printable(e.Handle))
				}
			}
			if isAbuse {
				abuseTyped = append(abuseTyped, typed...)
				remarks(e.Remarks) // the abuse desk's own words; other entities' remarks are not about reports
			} else {
				otherTyped = append(otherTyped, typed...)
			}
			if !used && len(all) > 0 {
				otherRole = append(otherRole, printable(fmt.Sprintf("%s (roles: %s)", e.Handle, strings.Join(e.Roles, ","))))
			}
			walk(e.Entities, depth+1)
		}
	}
	walk(ipn.Entities, 0)

	mailboxes := func(emails []string, role string) []abusewatch.Mailbox {
		var out []abusewatch.Mailbox
		for _, e := range dedupe(emails) {
			out = append(out, abusewatch.Mailbox{Email: e, Role: role, Source: "rdap"})
		}
		return out
	}
	for _, c := range [][]string{abuseTyped, byRole["abuse"], otherTyped, remarked} {
		if len(c) > 0 {
			return mailboxes(c, "abuse"), "", notes
		}
	}
	for _, r := range roles[1:] {
		if len(byRole[r]) > 0 {
			return mailboxes(byRole[r], r), "", notes
		}
	}
	if len(registryOwn) > 0 {
		var names []string
		for _, e := range registryOwn {
			r, _ := registryMailbox(e)
			if !slices.Contains(names, r.name) {
				names = append(names, r.name)
			}
		}
		why = fmt.Sprintf("no abuse contact found: only the registry answered (%s names no one but itself, %s, and a registry does not run the networks it holds or administers for others)",
			strings.Join(names, ", "), strings.Join(registryOwn, ", "))
		return nil, why, notes
	}
	why = "no e-mail address in any abuse, technical, administrative or registrant entity"
	if len(noEmail) > 0 {
		why += "; without e-mail: " + strings.Join(noEmail, ", ")
	}
	if len(otherRole) > 0 {
		why += "; e-mail only in entities of other roles: " + strings.Join(otherRole, ", ")
	}
	if len(malformed) > 0 {
		why += "; dropped, not one e-mail address: " + strings.Join(malformed, ", ")
	}
	return nil, why, notes
}

// vcardEmail returns the address in a vCard email value, and whether it is one plain
// address. A mailto: URI (where the vCard wants the bare address) gives its address
// without the query: "?cc=…" adds recipients, it is not part of the address.
func vcardEmail(v string) (string, bool) {
	v = strings.TrimSpace(v)
	if len(v) > 7 && strings.EqualFold(v[:7], "mailto:") {
		v = v[7:]
		if i := strings.IndexByte(v, '?'); i >= 0 {
			v = v[:i]
		}
		if u, err := url.PathUnescape(v); err == nil {
			v = u
		}
	}
	return v, validEmail(v)
}

// maxEmailLength is the longest address SMTP carries (RFC 5321 4.5.3.1.3, 256 with the
// angle brackets).
const maxEmailLength = 254

// validEmail says whether s, from a registry, is exactly one plain e-mail address: what
// net/mail parses it to is s itself (so no list, display name, comment, group, or
// header after a line break), without spaces or control characters, at a domain name with
// a dot (not "localhost", not an address literal).
func validEmail(s string) bool {
	if s == "" || len(s) > maxEmailLength || strings.ContainsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || unicode.Is(unicode.Cf, r)
	}) {
		return false
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s {
		return false
	}
	domain := s[strings.LastIndexByte(s, '@')+1:]
	return strings.Contains(domain, ".") && hostName(domain)
}

// remarkAddress finds mail addresses in a remark's free text.
var remarkAddress = regexp.MustCompile(`[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}`)

// remarkSentenceEnd splits a remark into sentences (addresses have no dot before a space).
var remarkSentenceEnd = regexp.MustCompile(`[.!?;]+(\s+|$)`)

// remarkForAbuse is a sentence's text before an address that gives the address for abuse
// reports: the word "abuse", then a word that directs reports there, or a colon
// ("abuse reports to", "abuse contact:", "abuse reporting can be done via").
var remarkForAbuse = regexp.MustCompile(`(?i)\babuse\b.*(\b(to|at|via|contact|contacts|report|reports|reporting|send|mail|e-?mail|mailbox|address)\b|:)`)

// remarkNegated is a negation anywhere in the sentence: "abuse reports are NOT handled by
// ceo@…" names who not to write to.
var remarkNegated = regexp.MustCompile(`(?i)\b(not|never|no|nor|cannot)\b|n't\b`)

// remarkAddresses returns the addresses a remark gives for abuse reports, at most
// maxRemarkAddresses: free text is data from outside, so only a sentence that says so
// plainly counts, never one with a negation.
func remarkAddresses(text string) []string {
	var out []string
	for _, sentence := range remarkSentenceEnd.Split(text, -1) {
		locs := remarkAddress.FindAllStringIndex(sentence, -1)
		if len(locs) == 0 {
			continue
		}
		// The words around the addresses, without them: "abuse" or "no" inside an
		// address says nothing.
		masked := []byte(sentence)
		for _, l := range locs {
			for i := l[0]; i < l[1]; i++ {
				masked[i] = ' '
			}
		}
		if remarkNegated.Match(masked) {
			continue
		}
		for _, l := range locs {
			if e := sentence[l[0]:l[1]]; remarkForAbuse.Match(masked[:l[0]]) && validEmail(e) && len(out) < maxRemarkAddresses {
				out = append(out, e)
			}
		}
	}
	return out
}

// maxRemarkAddresses bounds what one remark may add: free text is data from outside.
const maxRemarkAddresses = 4

// dedupe drops repeated addresses (compared without case), keeping the first spelling.
func dedupe(in []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range in {
		k := strings.ToLower(s)
		if !seen[k] {
			seen[k] = true
			out = append(out, s)
		}
	}
	return out
}

// networkOf returns the network the answer speaks for that contains addr: the largest
// prefix inside startAddress..endAddress (ranges need not be one CIDR block), else the
// cidr0 prefix that contains addr, and that range. An answer whose range does not hold
// addr is an error; one that states no range is taken for addr alone (stated false).
func networkOf(n *rdap.IPNetwork, addr netip.Addr) (network netip.Prefix, rng addrRange, stated bool, err error) {
	start, err1 := parseRDAPAddr(n.StartAddress)
	end, err2 := parseRDAPAddr(n.EndAddress)
	if err1 == nil && err2 == nil {
		rng = addrRange{start, end}
		if start.Is4() != addr.Is4() || end.Is4() != addr.Is4() || start.Compare(addr) > 0 || addr.Compare(end) > 0 {
			return netip.Prefix{}, rng, true, fmt.Errorf("the answer is for %s, which does not hold %s", rng, addr)
		}
		for bits := 0; bits <= addr.BitLen(); bits++ {
			p := netip.PrefixFrom(addr, bits).Masked()
			if start.Compare(p.Addr()) <= 0 && lastAddr(p).Compare(end) <= 0 {
				return p, rng, true, nil
			}
		}
	}
	if n.DecodeData != nil {
		var others []string
		cidrs, _ := n.DecodeData.Value("cidr0_cidrs").([]any)
		for _, c := range cidrs {
			m, _ := c.(map[string]any)
			prefix, _ := m["v4prefix"].(string)
			if prefix == "" {
				prefix, _ = m["v6prefix"].(string)
			}
			length, _ := m["length"].(float64)
			a, err := parseRDAPAddr(prefix)
			if err != nil {
				continue
			}
			p, err := a.Prefix(int(length))
			if err != nil {
				continue
			}
			if p.Contains(addr) {
				return p, addrRange{p.Addr(), lastAddr(p)}, true, nil
			}
			others = append(others, p.String())
		}
		if len(others) > 0 {
			return netip.Prefix{}, addrRange{}, true, fmt.Errorf("the answer is for %s, which does not hold %s", strings.Join(others, ", "), addr)
		}
	}
	return netip.PrefixFrom(addr, addr.BitLen()), addrRange{addr, addr}, false, nil
}

// parseRDAPAddr parses an address as registries write it: ARIN once zero-padded IPv4
// ("074.125.000.000", decimal, not octal) and RIPE once appended a prefix length
// ("62.239.237.0/32").
func parseRDAPAddr(s string) (netip.Addr, error) {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '/'); i >= 0 {
		s = s[:i]
	}
	if strings.Contains(s, ":") {
		a, err := netip.ParseAddr(s)
		return a.Unmap(), err
	}
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return netip.Addr{}, fmt.Errorf("bad IPv4 address %q", s)
	}
	var b [4]byte
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 8)
		if err != nil {
			return netip.Addr{}, fmt.Errorf("bad IPv4 address %q", s)
		}
		b[i] = byte(n)
	}
	return netip.AddrFrom4(b), nil
}

// lastAddr returns the highest address in p.
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr()
	b := a.AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	last, _ := netip.AddrFromSlice(b)
	return last
}

// limitTransport bounds the size of every response body it returns.
type limitTransport struct {
	next http.RoundTripper
	max  int64
}

func (t limitTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = &limitedBody{ReadCloser: resp.Body, max: t.max, left: t.max}
	return resp, nil
}

// limitedBody fails, rather than silently truncating, once more than left bytes arrive.
type limitedBody struct {
	io.ReadCloser
	max, left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.ReadCloser.Read(p)
	if int64(n) > b.left {
		b.left = 0
		return 0, fmt.Errorf("RDAP response larger than %d bytes", b.max)
	}
	b.left -= int64(n)
	return n, err
}
