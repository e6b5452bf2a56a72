package lookup

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
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
	url     *url.URL // after redirects
	network netip.Prefix
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
	srv := f.server(base)
	select {
	case srv.lock <- struct{}{}:
		defer func() { <-srv.lock }()
	case <-ctx.Done():
		return abusewatch.Contact{}, fmt.Errorf("lookup: waiting for the previous RDAP query to %s: %w", base.Host, ctx.Err())
	}
	// Lookups for one server queue on its lock; whoever held it may have cached this very
	// network meanwhile, so a burst from one /16 costs one query.
	if c, ok := f.cachedContact(addr, fd); ok {
		return c, nil
	}

	until := time.Now().Add(f.rateLimitWait)
	first := ipURL(base, addr)
	ans, err := f.fetch(ctx, srv, first, addr, until)
	if errors.Is(err, errNotFound) {
		c := abusewatch.Contact{
			Network:  netip.PrefixFrom(addr, addr.BitLen()),
			Source:   first.String(),
			Registry: registryName(first),
			Problem:  fmt.Sprintf("RDAP %s: %v", first, err),
			Fetched:  time.Now(),
		}
		fd.note("registry %s: no network for %s (404)", c.Registry, addr)
		f.store(c, fd)
		return c, nil
	}
	if err != nil {
		return abusewatch.Contact{}, fmt.Errorf("lookup: RDAP %s: %w", first, err)
	}
	fd.note("registry %s (%s) answers with %s %s", registryName(ans.url), ans.url, ans.network, nameOf(ans.ipn))
	answers := append([]rdapAnswer{ans}, f.followReferrals(ctx, addr, ans, until, fd)...)

	// The most specific network that names an address; else the most specific one.
	slices.SortStableFunc(answers, func(a, b rdapAnswer) int { return b.network.Bits() - a.network.Bits() })
	c := contactFrom(answers[0])
	for _, a := range answers {
		if cand := contactFrom(a); len(cand.Emails) > 0 {
			c = cand
			break
		}
	}
	f.store(c, fd)
	return c, nil
}

// cachedContact looks addr up in the cache and notes a hit in fd. A cache that cannot be
// read is a miss (counted and noted): the registry can still be asked.
func (f *Finder) cachedContact(addr netip.Addr, fd *Finding) (abusewatch.Contact, bool) {
	c, ok, err := f.cache.CachedContact(addr, time.Now())
	if err != nil {
		f.Counters.CacheErrors.Add(1)
		fd.note("could not read the cache: %v", err)
		return abusewatch.Contact{}, false
	}
	if ok {
		f.Counters.CacheHits.Add(1)
		fd.Cached = true
		fd.note("cached answer for %s, fetched %s ago", c.Network, time.Since(c.Fetched).Round(time.Second))
	}
	return c, ok
}

// store caches c: for the normal TTL when it names an address, the negative one otherwise.
// A cache that cannot be written costs a later query, not this answer: it is counted and
// noted, and the lookup goes on.
func (f *Finder) store(c abusewatch.Contact, fd *Finding) {
	ttl := f.cacheTTL
	if len(c.Emails) == 0 {
		ttl = f.negativeTTL
	}
	c.PTR = "" // per address, not per network
	if err := f.cache.CacheContact(c, c.Fetched.Add(ttl)); err != nil {
		f.Counters.CacheErrors.Add(1)
		fd.note("could not cache the answer: %v", err)
	}
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
	var b strings.Builder
	n := 0
	for _, r := range strings.ToValidUTF8(s, string(utf8.RuneError)) {
		switch {
		case n == maxNameRunes:
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

// contactFrom picks the contact from an answer.
func contactFrom(a rdapAnswer) abusewatch.Contact {
	mbs, why := pickMailboxes(a.ipn)
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
// RDAP servers, asking each about addr, and returns the answers it got.
func (f *Finder) followReferrals(ctx context.Context, addr netip.Addr, ans rdapAnswer, until time.Time, fd *Finding) []rdapAnswer {
	var out []rdapAnswer
	visited := map[string]bool{ans.url.String(): true}
	for range maxReferrals {
		next, ok := referral(ans, addr)
		if !ok || visited[next.String()] {
			break
		}
		visited[next.String()] = true
		f.Counters.Referrals.Add(1)
		// No lock here: a lookup holding one server's lock must not wait for another's,
		// or two referrals in opposite directions would deadlock. The back-off still holds.
		got, err := f.fetch(ctx, f.server(next), next, addr, until)
		if err != nil {
			fd.note("referral to %s: %v", next, err)
			break
		}
		fd.note("followed the referral to %s (%s): %s %s", registryName(got.url), got.url, got.network, nameOf(got.ipn))
		out = append(out, got)
		ans = got
	}
	return out
}

// referral finds in ans a related link to another RDAP server's ip network containing
// addr, and returns that server's query URL for addr (the most specific network it holds).
func referral(ans rdapAnswer, addr netip.Addr) (*url.URL, bool) {
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
		base := &url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path[:i+1]}
		return ipURL(base, addr), true
	}
	return nil, false
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
func (f *Finder) fetch(ctx context.Context, srv *rdapServer, u *url.URL, addr netip.Addr, until time.Time) (rdapAnswer, error) {
	for {
		if err := srv.wait(ctx, until); err != nil {
			return rdapAnswer{}, err
		}
		f.Counters.RDAPRequests.Add(1)
		ans, retryAfter, limited, err := f.get(ctx, u, addr)
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
func (f *Finder) get(ctx context.Context, u *url.URL, addr netip.Addr) (ans rdapAnswer, retryAfter string, limited bool, err error) {
	// The library ignores Request.Timeout; only the context bounds the query.
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	// A client per query: rdap.Client is not safe for concurrent use, and it is cheap.
	client := &rdap.Client{HTTP: f.http, Bootstrap: &bootstrap.Client{}, Verbose: func(string) {},
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
	return rdapAnswer{ipn: ipn, url: final, network: networkOf(ipn, addr)}, "", false, nil
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
// too (ARIN puts the abuse POC inside the registrant). For abuse, a vCard email typed
// "abuse" (RIPE's abuse-mailbox) beats the other addresses of abuse entities, which are
// often a NOC or a person. Without an abuse entity that has an address (NIC.br has one
// without, old AFRINIC answers none), a remark that gives an address for abuse reports
// ("please send abuse reports to …", as a person reading the record would take it) comes
// next, then the technical, administrative and registrant roles. When there is none, why
// says what the entities lacked.
func pickMailboxes(ipn *rdap.IPNetwork) (mbs []abusewatch.Mailbox, why string) {
	entities := ipn.Entities
	roles := []string{"abuse", "technical", "administrative", "registrant"} // best first
	var typedAbuse, noEmail, otherRole, remarked []string
	byRole := map[string][]string{}
	remarks := func(rs []rdap.Remark) {
		for _, r := range rs {
			text := strings.Join(r.Description, " ")
			if strings.Contains(strings.ToLower(text), "abuse") {
				remarked = append(remarked, remarkAddress.FindAllString(text, maxRemarkAddresses)...)
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
			var all []string
			if e.VCard != nil {
				for _, p := range e.VCard.Get("email") {
					for _, v := range p.Values() {
						v = strings.TrimSpace(v)
						if len(v) > 7 && strings.EqualFold(v[:7], "mailto:") {
							v = v[7:] // a URI where the vCard wants the bare address
						}
						if v == "" || !strings.Contains(v, "@") {
							continue
						}
						all = append(all, v)
						if slices.ContainsFunc(p.Parameters["type"], func(t string) bool { return strings.EqualFold(t, "abuse") }) {
							typedAbuse = append(typedAbuse, v)
						}
					}
				}
			}
			used := false
			for _, r := range e.Roles {
				r = strings.ToLower(strings.TrimSpace(r))
				if !slices.Contains(roles, r) {
					continue
				}
				used = true
				byRole[r] = append(byRole[r], all...)
				if len(all) == 0 {
					noEmail = append(noEmail, r+" "+printable(e.Handle))
				}
			}
			if !used && len(all) > 0 {
				otherRole = append(otherRole, printable(fmt.Sprintf("%s (roles: %s)", e.Handle, strings.Join(e.Roles, ","))))
			}
			remarks(e.Remarks)
			walk(e.Entities, depth+1)
		}
	}
	walk(entities, 0)

	mailboxes := func(emails []string, role string) []abusewatch.Mailbox {
		var out []abusewatch.Mailbox
		for _, e := range dedupe(emails) {
			out = append(out, abusewatch.Mailbox{Email: e, Role: role, Source: "rdap"})
		}
		return out
	}
	if len(typedAbuse) > 0 {
		return mailboxes(typedAbuse, "abuse"), ""
	}
	if len(byRole["abuse"]) > 0 {
		return mailboxes(byRole["abuse"], "abuse"), ""
	}
	if len(remarked) > 0 {
		return mailboxes(remarked, "abuse"), ""
	}
	for _, r := range roles[1:] {
		if len(byRole[r]) > 0 {
			return mailboxes(byRole[r], r), ""
		}
	}
	why = "no e-mail address in any abuse, technical, administrative or registrant entity"
	if len(noEmail) > 0 {
		why += "; without e-mail: " + strings.Join(noEmail, ", ")
	}
	if len(otherRole) > 0 {
		why += "; e-mail only in entities of other roles: " + strings.Join(otherRole, ", ")
	}
	return nil, why
}

// remarkAddress finds mail addresses in a remark's free text.
var remarkAddress = regexp.MustCompile(`[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}`)

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
// cidr0 prefix that contains addr, else addr alone.
func networkOf(n *rdap.IPNetwork, addr netip.Addr) netip.Prefix {
	start, err1 := parseRDAPAddr(n.StartAddress)
	end, err2 := parseRDAPAddr(n.EndAddress)
	if err1 == nil && err2 == nil && start.Compare(addr) <= 0 && addr.Compare(end) <= 0 {
		for bits := 0; bits <= addr.BitLen(); bits++ {
			p := netip.PrefixFrom(addr, bits).Masked()
			if start.Compare(p.Addr()) <= 0 && lastAddr(p).Compare(end) <= 0 {
				return p
			}
		}
	}
	if n.DecodeData != nil {
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
			if p, err := a.Prefix(int(length)); err == nil && p.Contains(addr) {
				return p
			}
		}
	}
	return netip.PrefixFrom(addr, addr.BitLen())
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
