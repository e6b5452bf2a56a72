package lookup

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"github.com/abusewatch/abusewatch"
)

// Finding is everything a lookup found about one query, step by step, for the admin
// (abusewatch whois) rather than for a report.
type Finding struct {
	Query        string             // what was asked: an address or a name
	Addrs        []netip.Addr       // the addresses of the query (the first is the one looked up)
	Ambiguous    bool               // a name with several addresses or none
	PTR          string             // the reverse name of the address, confirmed or not
	PTRConfirmed bool               // PTR resolves back to the address
	PTRError     string             // why the reverse name could not be had or confirmed
	Contact      abusewatch.Contact // who to tell, with Registry, Network, Country and Mailboxes
	Cached       bool               // the registry's answer came from the cache (Contact.Fetched is its age)
	Notes        []string           // each step, in the order taken

	trace bool // record Notes (Contact does not, to stay cheap)
}

func (fd *Finding) note(format string, args ...any) {
	if fd != nil && fd.trace {
		fd.Notes = append(fd.Notes, fmt.Sprintf(format, args...))
	}
}

// Whois looks query (an address or a host name) up the way Contact does, and also resolves
// the reverse name whether or not it is needed, noting every step. A name that resolves to
// several addresses is marked ambiguous and its first address is looked up. The error is
// the one Contact would return; the Finding holds what was found up to it.
func (f *Finder) Whois(ctx context.Context, query string) (Finding, error) {
	return f.whois(ctx, query, false)
}

// Refresh is Whois that asks the registry again: the cached answers for the address are
// forgotten first, so the registry's answer now replaces them (an admin who knows a
// network changed hands need not wait out cache_ttl).
func (f *Finder) Refresh(ctx context.Context, query string) (Finding, error) {
	return f.whois(ctx, query, true)
}

func (f *Finder) whois(ctx context.Context, query string, refresh bool) (Finding, error) {
	query = strings.TrimSpace(query)
	var addrs []netip.Addr
	ambiguous := false
	if a, err := netip.ParseAddr(query); err == nil {
		addrs = []netip.Addr{a.Unmap()}
	} else {
		n, err := f.LookupName(ctx, query)
		if err != nil {
			return Finding{Query: query}, err
		}
		addrs, ambiguous = n.Addrs, n.Ambiguous
		if len(addrs) == 0 {
			return Finding{Query: query, Ambiguous: true}, fmt.Errorf("lookup: %s has no A or AAAA record: nothing to look up", query)
		}
	}
	var forgot []string
	if refresh {
		n, err := f.cache.ForgetContacts(addrs[0])
		if err != nil {
			return Finding{Query: query, Addrs: addrs, Ambiguous: ambiguous}, fmt.Errorf("lookup: forgetting the cached answers for %s: %w", addrs[0], err)
		}
		forgot = append(forgot, fmt.Sprintf("refresh: forgot %d cached answer(s) holding %s", n, addrs[0]))
	}
	fd, err := f.find(ctx, addrs[0], true, f.guess)
	fd.Query, fd.Addrs, fd.Ambiguous = query, addrs, ambiguous
	fd.Notes = append(forgot, fd.Notes...)
	if ambiguous {
		fd.Notes = append([]string{fmt.Sprintf("%s resolves to %d addresses, so it is ambiguous: looked up the first, %s", query, len(addrs), addrs[0])}, fd.Notes...)
	}
	return fd, err
}
