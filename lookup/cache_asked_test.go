package lookup

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/lookup/lookuptest"
)

// A negative answer holds for the address asked about only (review 21, case NG): NIC.br's
// real answer for its /14 names no one, and a customer's /24 inside it names a desk. After
// an address of the /14 got "no one", an address of the /24 is asked about and gets the
// customer's desk; the first address's "no one" is still taken from the cache.
func TestANegativeAnswerDoesNotHideAMoreSpecificNetworksDesk(t *testing.T) {
	r := lookuptest.NewRDAP(t)
	r.AnswerFile("177.0.0.0/14", "testdata/rdap/ip_network_br.json")
	r.Answer("177.0.5.0/24", lookuptest.NetworkAnswer(netip.MustParsePrefix("177.0.5.0/24"), "BRCUST", "BR", "abuse@brcust.com.br"))
	f := newFinderFor(t, r, Options{})
	if c, err := f.Contact(t.Context(), netip.MustParseAddr("177.0.0.9")); err == nil || len(c.Emails) != 0 {
		t.Fatalf("177.0.0.9: %q, %v; want no one named", c.Emails, err)
	}
	c, err := f.Contact(t.Context(), netip.MustParseAddr("177.0.5.9"))
	if err != nil || !slices.Equal(c.Emails, []string{"abuse@brcust.com.br"}) || c.Network != netip.MustParsePrefix("177.0.5.0/24") {
		t.Errorf("177.0.5.9: %q for %s, %v; want the customer's desk for its /24", c.Emails, c.Network, err)
	}
	if _, err := f.Contact(t.Context(), netip.MustParseAddr("177.0.0.9")); err == nil {
		t.Error("177.0.0.9 asked again: the customer's /24 names someone for 177.0.0.9 now")
	}
	if n, hits := r.Requests.Load(), f.Counters.CacheHits.Load(); n != 2 || hits != 1 {
		t.Errorf("RDAP requests %d, cache hits %d; want 2 and 1 (the first address's negative answer)", n, hits)
	}
}

// An entry is fresh only while younger than the TTL the Finder has now (review 21 D6):
// an answer cached with a year's expiry is asked again once the admin lowers cache_ttl
// (or negative_ttl) below its age, and is still used by a Finder whose TTL it is within.
func TestALoweredCacheTTLAppliesToAnswersCachedBefore(t *testing.T) {
	addr, gone := netip.MustParseAddr("198.51.100.7"), netip.MustParseAddr("198.51.100.8")
	fetched := time.Now().Add(-2 * time.Hour)
	old := abusewatch.Contact{Network: netip.MustParsePrefix("198.51.100.0/24"), Emails: []string{"abuse@old-holder.example"},
		Mailboxes: []abusewatch.Mailbox{{Email: "abuse@old-holder.example", Role: "abuse", Source: "rdap"}}, Role: "abuse", Fetched: fetched}
	none := abusewatch.Contact{Network: netip.MustParsePrefix("198.51.100.0/24"), Problem: "no one", Fetched: fetched}
	for _, tc := range []struct {
		name     string
		opts     Options
		asked    int64  // RDAP requests
		want7    string // the contact of addr
		wantGone bool   // gone's negative answer is asked again
	}{
		{"both TTLs longer than the entries' age", Options{CacheTTL: 3 * time.Hour, NegativeTTL: 3 * time.Hour}, 0, "abuse@old-holder.example", false},
		{"cache_ttl lowered below the age", Options{CacheTTL: time.Hour, NegativeTTL: 3 * time.Hour}, 1, "abuse@new-holder.example", false},
		{"negative_ttl lowered below the age", Options{CacheTTL: 3 * time.Hour, NegativeTTL: time.Hour}, 1, "abuse@old-holder.example", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := lookuptest.NewRDAP(t)
			r.Answer("198.51.100.0/24", lookuptest.NetworkAnswer(netip.MustParsePrefix("198.51.100.0/24"), "NEW-HOLDER", "NL", "abuse@new-holder.example"))
			cache := NewMemoryCache()
			// As a Finder with cache_ttl = "365d" left them.
			cache.CacheContact(netip.PrefixFrom(addr, 32), old, fetched.Add(365*24*time.Hour))
			cache.CacheContact(netip.PrefixFrom(gone, 32), none, fetched.Add(365*24*time.Hour))
			tc.opts.Cache = cache
			f := newFinderFor(t, r, tc.opts)
			fd, err := f.Whois(t.Context(), addr.String())
			if err != nil || !slices.Equal(fd.Contact.Emails, []string{tc.want7}) {
				t.Errorf("%s: %q, %v; want %s", addr, fd.Contact.Emails, err, tc.want7)
			}
			if tc.asked == 1 && !tc.wantGone && !strings.Contains(strings.Join(fd.Notes, "\n"), "longer than the 1h0m0s an answer is kept") {
				t.Errorf("the steps do not say why the cached answer was not used: %q", fd.Notes)
			}
			_, err = f.Contact(t.Context(), gone)
			if askedAgain := err == nil; askedAgain != tc.wantGone {
				t.Errorf("%s: %v; want asked again %v", gone, err, tc.wantGone)
			}
			if n := r.Requests.Load(); n != tc.asked {
				t.Errorf("RDAP requests %d, want %d", n, tc.asked)
			}
		})
	}
}

// Refresh forgets what the cache holds for the address and asks the registry again; its
// new answer replaces the old one for later lookups.
func TestRefreshAsksTheRegistryAgainAndReplacesTheEntry(t *testing.T) {
	r := lookuptest.NewRDAP(t)
	r.Answer("198.51.100.0/24", lookuptest.NetworkAnswer(netip.MustParsePrefix("198.51.100.0/24"), "OLD-HOLDER", "NL", "abuse@old-holder.example"))
	f := newFinderFor(t, r, Options{})
	addr := netip.MustParseAddr("198.51.100.7")
	if c, err := f.Contact(t.Context(), addr); err != nil || c.Emails[0] != "abuse@old-holder.example" {
		t.Fatalf("%q, %v", c.Emails, err)
	}
	r.Answer("198.51.100.0/24", lookuptest.NetworkAnswer(netip.MustParsePrefix("198.51.100.0/24"), "NEW-HOLDER", "NL", "abuse@new-holder.example"))
	fd, err := f.Refresh(t.Context(), addr.String())
	if err != nil || fd.Cached || !slices.Equal(fd.Contact.Emails, []string{"abuse@new-holder.example"}) || !strings.Contains(fd.Notes[0], "forgot 1 cached answer") {
		t.Errorf("Refresh: %q (cached %v), %v, %q; want the registry asked again", fd.Contact.Emails, fd.Cached, err, fd.Notes)
	}
	fd, err = f.Whois(t.Context(), addr.String())
	if err != nil || !fd.Cached || !slices.Equal(fd.Contact.Emails, []string{"abuse@new-holder.example"}) || r.Requests.Load() != 2 {
		t.Errorf("Whois after Refresh: %q (cached %v), %v, %d requests; want the new answer from the cache", fd.Contact.Emails, fd.Cached, err, r.Requests.Load())
	}
}
