package lookup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/openrdap/rdap"
)

// ErrRateLimited is wrapped by the error Contact returns when an RDAP server answered 429,
// so the caller can back off instead of retrying at once.
var ErrRateLimited = errors.New("rate-limited by the RDAP server")

// rdapContact queries the registry that holds addr and picks the contact from its answer.
func (f *Finder) rdapContact(ctx context.Context, addr netip.Addr) (abusewatch.Contact, error) {
	server, err := f.bootstrap.serverFor(addr)
	if err != nil {
		return abusewatch.Contact{}, err
	}
	req := &rdap.Request{Type: rdap.IPRequest, Query: addr.String(), Server: server}
	source := req.URL().String()

	ipn, err := f.queryIP(ctx, req)
	if err != nil {
		return abusewatch.Contact{}, fmt.Errorf("lookup: RDAP %s: %w", source, err)
	}

	emails, role, msg := pickEmails(ipn.Entities)
	if len(emails) == 0 {
		for _, r := range ipn.Remarks {
			if strings.Contains(strings.ToLower(r.Type), "truncated") {
				msg += "; the server says: " + r.Type
			}
		}
		return abusewatch.Contact{}, fmt.Errorf("lookup: RDAP %s: %s", source, msg)
	}

	name := ipn.Name
	if name == "" {
		name = ipn.Handle
	}
	return abusewatch.Contact{
		Network:  networkOf(ipn, addr),
		Emails:   emails,
		Role:     role,
		Source:   source,
		Registry: registryName(server),
		Name:     name,
		Country:  ipn.Country,
		Fetched:  time.Now(),
	}, nil
}

// queryIP runs req and returns the ip network it answers with.
func (f *Finder) queryIP(ctx context.Context, req *rdap.Request) (*rdap.IPNetwork, error) {
	select {
	case f.rdapLock <- struct{}{}:
		defer func() { <-f.rdapLock }()
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for the previous RDAP query: %w", ctx.Err())
	}
	// The library ignores Request.Timeout; only the context bounds the query.
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	resp, err := f.rdap.Do(req.WithContext(ctx))
	if err != nil {
		return nil, explainRDAPError(ctx, resp, err)
	}
	switch obj := resp.Object.(type) {
	case *rdap.IPNetwork:
		return obj, nil
	case *rdap.Error:
		return nil, fmt.Errorf("server error %s: %s", obj.Title, strings.Join(obj.Description, " "))
	case *rdap.Help:
		// Old RIPE answers lack objectClassName, so the library takes them for help
		// responses. Decode the body again as the ip network it is.
		return redecodeIPNetwork(resp)
	default:
		return nil, fmt.Errorf("answer is a %T, not an ip network", obj)
	}
}

// explainRDAPError turns the library's generic "no working servers" into what happened.
func explainRDAPError(ctx context.Context, resp *rdap.Response, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("no answer: %w", ctx.Err())
	}
	var ce *rdap.ClientError
	if errors.As(err, &ce) && ce.Type == rdap.ObjectDoesNotExist {
		return errors.New("the server has no network for this address (404)")
	}
	if resp != nil {
		for _, h := range resp.HTTP {
			switch {
			case h.Response != nil && h.Response.StatusCode == http.StatusTooManyRequests:
				if ra := h.Response.Header.Get("Retry-After"); ra != "" {
					return fmt.Errorf("%w (Retry-After: %s)", ErrRateLimited, ra)
				}
				return ErrRateLimited
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

// pickEmails returns the addresses of the best role present, searching nested entities too
// (ARIN puts the abuse POC inside the registrant). For abuse, a vCard email typed "abuse"
// (RIPE's abuse-mailbox) beats the other addresses of abuse entities, which are often a
// NOC or a person. When there is none, why says what the entities lacked.
func pickEmails(entities []rdap.Entity) (emails []string, role string, why string) {
	roles := []string{"abuse", "technical", "administrative", "registrant"} // best first
	var typedAbuse, noEmail, otherRole []string
	byRole := map[string][]string{}
	var walk func([]rdap.Entity)
	walk = func(es []rdap.Entity) {
		for _, e := range es {
			var all []string
			if e.VCard != nil {
				for _, p := range e.VCard.Get("email") {
					for _, v := range p.Values() {
						v = strings.TrimSpace(v)
						if v == "" {
							continue
						}
						all = append(all, v)
						if slices.Contains(p.Parameters["type"], "abuse") {
							typedAbuse = append(typedAbuse, v)
						}
					}
				}
			}
			used := false
			for _, r := range e.Roles {
				r = strings.ToLower(r)
				if !slices.Contains(roles, r) {
					continue
				}
				used = true
				byRole[r] = append(byRole[r], all...)
				if len(all) == 0 {
					noEmail = append(noEmail, r+" "+e.Handle)
				}
			}
			if !used && len(all) > 0 {
				otherRole = append(otherRole, fmt.Sprintf("%s (roles: %s)", e.Handle, strings.Join(e.Roles, ",")))
			}
			walk(e.Entities)
		}
	}
	walk(entities)

	if len(typedAbuse) > 0 {
		return dedupe(typedAbuse), "abuse", ""
	}
	for _, r := range roles {
		if len(byRole[r]) > 0 {
			return dedupe(byRole[r]), r, ""
		}
	}
	why = "no e-mail address in any abuse, technical, administrative or registrant entity"
	if len(noEmail) > 0 {
		why += "; without e-mail: " + strings.Join(noEmail, ", ")
	}
	if len(otherRole) > 0 {
		why += "; e-mail only in entities of other roles: " + strings.Join(otherRole, ", ")
	}
	return nil, "", why
}

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
