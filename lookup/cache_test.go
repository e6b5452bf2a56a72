package lookup

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/lookup/lookuptest"
)

// TestContactOneQueryPerAddress: 200 concurrent lookups of 20 addresses of one /9 cost
// one RDAP query per address: they queue on the server and find the first lookup's
// answer for their address in the cache, but not the answer for another address of the
// network, which may lie in a more specific network of its own.
func TestContactOneQueryPerAddress(t *testing.T) {
	r := lookuptest.NewRDAP(t)
	r.AnswerFile("3.0.0.0/9", "testdata/rdap/ip_network_arin_3_3_3_3.json")
	f := newFinderFor(t, r, Options{})
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := range 200 {
		wg.Go(func() {
			_, err := f.Contact(t.Context(), netip.AddrFrom4([4]byte{3, byte(i % 20), 0, 1}))
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := r.Requests.Load(); n != 20 {
		t.Errorf("RDAP requests = %d, want 20", n)
	}
	if n := f.Counters.CacheHits.Load(); n != 180 {
		t.Errorf("cache hits = %d, want 180", n)
	}
}

// TestContactNegativeAnswerCached: a registry's 404 is kept for the negative TTL, so the
// next lookup of the address asks nobody.
func TestContactNegativeAnswerCached(t *testing.T) {
	r := lookuptest.NewRDAP(t)
	f := newFinderFor(t, r, Options{})
	for range 2 {
		if _, err := f.Contact(t.Context(), netip.MustParseAddr("198.51.100.1")); err == nil {
			t.Fatal("no error for an address no registry holds")
		}
	}
	if n := r.Requests.Load(); n != 1 {
		t.Errorf("RDAP requests = %d, want 1", n)
	}
}

// TestContactExpiredAnswerAskedAgain: once the TTL has passed, the registry is asked again.
func TestContactExpiredAnswerAskedAgain(t *testing.T) {
	r := lookuptest.NewRDAP(t)
	r.Answer("198.51.100.0/24", lookuptest.NetworkAnswer(netip.MustParsePrefix("198.51.100.0/24"), "NET", "", "abuse@net.example"))
	f := newFinderFor(t, r, Options{CacheTTL: time.Nanosecond})
	for range 2 {
		if _, err := f.Contact(t.Context(), netip.MustParseAddr("198.51.100.1")); err != nil {
			t.Fatal(err)
		}
	}
	if n := r.Requests.Load(); n != 2 {
		t.Errorf("RDAP requests = %d, want 2", n)
	}
}

// TestMemoryCacheMostSpecificEntry: the most specific block holding the address answers;
// when it has expired, the lookup misses instead of using the wider block around it.
func TestMemoryCacheMostSpecificEntry(t *testing.T) {
	m := NewMemoryCache()
	now := time.Now()
	wide := abusewatch.Contact{Network: netip.MustParsePrefix("2001:db8::/32"), Emails: []string{"wide@example.net"}}
	narrow := abusewatch.Contact{Network: netip.MustParsePrefix("2001:db8:1:2::/120"), Emails: []string{"narrow@example.net"}}
	m.CacheContact(netip.MustParsePrefix("2001:db8:1:2::/64"), wide, now.Add(time.Hour))
	m.CacheContact(netip.MustParsePrefix("2001:db8:1:2::/120"), narrow, now.Add(time.Minute))
	m.CacheContact(netip.MustParsePrefix("10.1.2.3/32"), narrow, now.Add(time.Minute))
	for _, tc := range []struct {
		addr string
		at   time.Time
		want string // "" for a miss
	}{
		{"2001:db8:1:2::7", now, "narrow@example.net"},
		{"2001:db8:1:2::1:7", now, "wide@example.net"},
		{"2001:db8:1:3::7", now, ""},
		{"2001:db8:1:2::7", now.Add(2 * time.Minute), ""},
		{"10.1.2.3", now, "narrow@example.net"},
		{"::ffff:10.1.2.3", now, "narrow@example.net"},
		{"10.1.2.4", now, ""},
	} {
		c, ok, err := m.CachedContact(netip.MustParseAddr(tc.addr), tc.at)
		got := ""
		if ok {
			got = c.Emails[0]
		}
		if err != nil || got != tc.want {
			t.Errorf("CachedContact(%s, %v) = %q, %v; want %q", tc.addr, tc.at.Sub(now), got, err, tc.want)
		}
	}
	if n, err := m.ForgetContacts(netip.MustParseAddr("2001:db8:1:2::7")); n != 2 || err != nil {
		t.Errorf("ForgetContacts = %d, %v; want the /120 and the /64 forgotten", n, err)
	}
	if _, ok, _ := m.CachedContact(netip.MustParseAddr("2001:db8:1:2::1:7"), now); ok {
		t.Error("the /64 still answers after ForgetContacts")
	}
}

// TestContactBurstFrom500AddressesCostsAtMost500Queries is the performance target's
// count: 10,000 lookups of 500 attacking addresses from 50 networks, by 8 workers at
// once, cost one query per address.
func TestContactBurstFrom500AddressesCostsAtMost500Queries(t *testing.T) {
	r, addrs := burstServer(t)
	f := newFinderFor(t, r, Options{})
	if err := lookupAll(t, f, addrs, 8); err != nil {
		t.Fatal(err)
	}
	if n := r.Requests.Load(); n > 500 {
		t.Errorf("RDAP requests for 10,000 lookups of 500 addresses = %d, want at most 500", n)
	}
}

// burstServer serves 50 /16 networks and returns 10,000 lookups of 500 addresses spread
// over them (an attacker's address is looked up again for each of its incidents).
func burstServer(t testing.TB) (*lookuptest.RDAP, []netip.Addr) {
	r := lookuptest.NewRDAP(t)
	for n := range 50 {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{100 + byte(n), 20, 0, 0}), 16)
		r.Answer(p.String(), lookuptest.NetworkAnswer(p, fmt.Sprintf("NET-%d", n), "DE", fmt.Sprintf("abuse@isp%d.example", n)))
	}
	addrs := make([]netip.Addr, 0, 10000)
	for i := range 10000 {
		j := i % 500
		addrs = append(addrs, netip.AddrFrom4([4]byte{100 + byte(j%50), 20, byte(j * 7 % 256), byte(j*13%254 + 1)}))
	}
	return r, addrs
}

// lookupAll looks every address up with workers goroutines and returns the first error.
func lookupAll(t testing.TB, f *Finder, addrs []netip.Addr, workers int) error {
	next := make(chan netip.Addr)
	errs := make(chan error, len(addrs))
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for a := range next {
				if _, err := f.Contact(t.Context(), a); err != nil {
					errs <- err
				}
			}
		})
	}
	for _, a := range addrs {
		next <- a
	}
	close(next)
	wg.Wait()
	close(errs)
	return <-errs
}

// brokenCache is a cache whose disk is full: reads miss, writes fail.
type brokenCache struct{}

func (brokenCache) CachedContact(netip.Addr, time.Time) (abusewatch.Contact, bool, error) {
	return abusewatch.Contact{}, false, nil
}
func (brokenCache) CacheContact(netip.Prefix, abusewatch.Contact, time.Time) error {
	return errors.New("no space left on device")
}
func (brokenCache) ForgetContacts(netip.Addr) (int, error) {
	return 0, errors.New("no space left on device")
}

// TestContactCacheWriteFailureKeepsAnswer: an answer the cache cannot keep is still the
// answer; the failure is counted.
func TestContactCacheWriteFailureKeepsAnswer(t *testing.T) {
	r := lookuptest.NewRDAP(t)
	r.AnswerFile("3.0.0.0/9", "testdata/rdap/ip_network_arin_3_3_3_3.json")
	f := newFinderFor(t, r, Options{Cache: brokenCache{}})
	c, err := f.Contact(t.Context(), netip.MustParseAddr("3.3.3.3"))
	if err != nil || c.Emails[0] != "abuse@amazonaws.com" || f.Counters.CacheErrors.Load() != 1 {
		t.Errorf("Contact = %q, %v, cache errors %d; want the answer and one cache error", c.Emails, err, f.Counters.CacheErrors.Load())
	}
}

// TestContactLegacyCacheEntriesAskedAgain: a state database written before referrals and
// addresses were checked may hold a contact for all of IPv4 (from a referral that answered
// for 0.0.0.0/0) or an address list; such an entry is not used, the registry is asked.
func TestContactLegacyCacheEntriesAskedAgain(t *testing.T) {
	for name, c := range map[string]abusewatch.Contact{
		"all of IPv4":  {Network: netip.MustParsePrefix("0.0.0.0/0"), Emails: []string{"abuse@victim.example"}, Mailboxes: []abusewatch.Mailbox{{Email: "abuse@victim.example", Role: "abuse", Source: "rdap"}}},
		"address list": {Network: netip.MustParsePrefix("3.0.0.0/9"), Emails: []string{"a@amazonaws.com, victim@b.example"}, Mailboxes: []abusewatch.Mailbox{{Email: "a@amazonaws.com, victim@b.example", Role: "abuse", Source: "rdap"}}},
	} {
		r := lookuptest.NewRDAP(t)
		r.AnswerFile("3.0.0.0/9", "testdata/rdap/ip_network_arin_3_3_3_3.json")
		cache := NewMemoryCache()
		if err := cache.CacheContact(netip.MustParsePrefix("3.3.3.3/32"), c, time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		f := newFinderFor(t, r, Options{Cache: cache})
		fd, err := f.Whois(t.Context(), "3.3.3.3")
		if err != nil || !slices.Equal(fd.Contact.Emails, []string{"abuse@amazonaws.com"}) || fd.Cached || r.Requests.Load() != 1 {
			t.Errorf("%s: got %q (cached %v), %v, %d requests; want ARIN asked", name, fd.Contact.Emails, fd.Cached, err, r.Requests.Load())
		}
		if notes := strings.Join(fd.Notes, "\n"); !strings.Contains(notes, "ignored the cached answer") {
			t.Errorf("%s: notes %q do not say the entry was ignored", name, notes)
		}
	}
}
