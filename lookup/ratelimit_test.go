package lookup

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/lookup/lookuptest"
)

// newFinderFor returns a Finder that sends every RDAP query to r.
func newFinderFor(t testing.TB, r *lookuptest.RDAP, opts Options) *Finder {
	t.Helper()
	_, dnsServer := newZoneServer(t)
	opts.Resolvers = []string{dnsServer}
	opts.RDAP = true
	opts.RDAPServer = r.URL
	f, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestContactRDAPRateLimitStormRiddenOut: the registry answers 429 (Retry-After: 1) to the
// first three requests while six lookups for six networks are under way. Every lookup gets
// its answer, and no request arrives before the Retry-After of the 429 before it ran out.
func TestContactRDAPRateLimitStormRiddenOut(t *testing.T) {
	r := lookuptest.NewRDAP(t)
	for i := range 6 {
		r.Answer(fmt.Sprintf("198.51.%d.0/24", i), lookuptest.NetworkAnswer(netip.MustParsePrefix(fmt.Sprintf("198.51.%d.0/24", i)), fmt.Sprintf("NET-%d", i), "NL", fmt.Sprintf("abuse@net%d.example", i)))
	}
	r.Storm(3, "1")
	f := newFinderFor(t, r, Options{})

	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range 6 {
		wg.Go(func() {
			c, err := f.Contact(t.Context(), netip.MustParseAddr(fmt.Sprintf("198.51.%d.7", i)))
			if err == nil && c.Emails[0] != fmt.Sprintf("abuse@net%d.example", i) {
				err = fmt.Errorf("got %q", c.Emails)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("lookup %d during the storm: %v", i, err)
		}
	}
	hits := r.Hits()
	if n := f.Counters.RateLimited.Load(); n != 3 {
		t.Errorf("429s seen by the client = %d, want 3", n)
	}
	if len(hits) != 9 {
		t.Errorf("requests = %d, want 9 (3 refused, 6 answered)", len(hits))
	}
	for i := 1; i < len(hits); i++ {
		if hits[i-1].Status == http.StatusTooManyRequests && hits[i].Time.Sub(hits[i-1].Time) < time.Second {
			t.Errorf("request %d came %v after a 429 with Retry-After: 1", i, hits[i].Time.Sub(hits[i-1].Time))
		}
	}
}

// TestContactRDAPBackoffWithoutRetryAfter: a 429 without Retry-After makes the client wait
// its floor, doubled for each 429 in a row.
func TestContactRDAPBackoffWithoutRetryAfter(t *testing.T) {
	r := lookuptest.NewRDAP(t)
	r.Answer("198.51.100.0/24", lookuptest.NetworkAnswer(netip.MustParsePrefix("198.51.100.0/24"), "NET", "", "abuse@net.example"))
	r.Storm(3, "")
	f := newFinderFor(t, r, Options{})
	f.backoffFloor = 20 * time.Millisecond
	if _, err := f.Contact(t.Context(), netip.MustParseAddr("198.51.100.1")); err != nil {
		t.Fatal(err)
	}
	hits := r.Hits()
	if len(hits) != 4 {
		t.Fatalf("requests = %d, want 4", len(hits))
	}
	for i, want := range []time.Duration{20 * time.Millisecond, 40 * time.Millisecond, 80 * time.Millisecond} {
		if gap := hits[i+1].Time.Sub(hits[i].Time); gap < want {
			t.Errorf("wait after 429 number %d = %v, want at least %v", i+1, gap, want)
		}
	}
}

// TestContactRDAPOverloadedWithRetryAfter: a 503 with Retry-After is waited out like a 429.
func TestContactRDAPOverloadedWithRetryAfter(t *testing.T) {
	r := lookuptest.NewRDAP(t)
	r.Answer("198.51.100.0/24", lookuptest.NetworkAnswer(netip.MustParsePrefix("198.51.100.0/24"), "NET", "", "abuse@net.example"))
	r.StormWith(1, http.StatusServiceUnavailable, "1")
	f := newFinderFor(t, r, Options{})
	if _, err := f.Contact(t.Context(), netip.MustParseAddr("198.51.100.1")); err != nil {
		t.Fatal(err)
	}
	if hits := r.Hits(); len(hits) != 2 || hits[1].Time.Sub(hits[0].Time) < time.Second {
		t.Errorf("hits = %+v; want the retry a second after the 503", hits)
	}
}

// TestContactRDAPRateLimitLongerThanTheWait: a Retry-After longer than the lookup may
// wait fails at once with ErrRateLimited, and so does the next lookup to that server,
// without a request, until the Retry-After runs out.
func TestContactRDAPRateLimitLongerThanTheWait(t *testing.T) {
	r := lookuptest.NewRDAP(t)
	r.Answer("198.51.100.0/24", lookuptest.NetworkAnswer(netip.MustParsePrefix("198.51.100.0/24"), "NET", "", "abuse@net.example"))
	r.Storm(100, "600")
	f := newFinderFor(t, r, Options{RateLimitWait: time.Second})
	for _, a := range []string{"198.51.100.1", "198.51.100.2"} {
		_, err := f.Contact(t.Context(), netip.MustParseAddr(a))
		if !errors.Is(err, ErrRateLimited) {
			t.Errorf("%s: error = %v, want ErrRateLimited", a, err)
		}
	}
	if n := r.Requests.Load(); n != 1 {
		t.Errorf("requests = %d, want 1: the second lookup must respect the back-off", n)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"120":                           2 * time.Minute,
		"0":                             0,
		"Sun, 22 Nov 2026 10:00:30 GMT": 30 * time.Second,
		"Sun, 22 Nov 2026 09:00:00 GMT": 0,
		"99999999":                      maxBackoff,
	} {
		got, ok := parseRetryAfter(in, now)
		if !ok || got != want {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v", in, got, ok, want)
		}
	}
	for _, bad := range []string{"", "soon", "-5"} {
		if _, ok := parseRetryAfter(bad, now); ok {
			t.Errorf("parseRetryAfter(%q): accepted", bad)
		}
	}
}
