package lookup

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// TestWhoisNameStepByStep: a name is resolved, its address's reverse name confirmed, the
// registry asked; the Finding says each step.
func TestWhoisNameStepByStep(t *testing.T) {
	f, _ := newRDAPFinderWith(t, Options{Guess: true})
	fd, err := f.Whois(t.Context(), "host1.example.test")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(fd.Addrs, []netip.Addr{netip.MustParseAddr("192.0.2.1")}) || fd.Ambiguous ||
		fd.PTR != "host1.example.test" || !fd.PTRConfirmed || !fd.Contact.Guess {
		t.Errorf("got %+v", fd)
	}
	notes := strings.Join(fd.Notes, "\n")
	for _, want := range []string{"404", "guessing from the registrable domain"} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes %q do not mention %q", notes, want)
		}
	}
}

// TestWhoisCachedSecondTime: the second whois of a network says it came from the cache.
func TestWhoisCachedSecondTime(t *testing.T) {
	f, _ := newRDAPFinder(t)
	for i, want := range []bool{false, true} {
		fd, err := f.Whois(t.Context(), "3.3.3.3")
		if err != nil {
			t.Fatal(err)
		}
		if fd.Cached != want || fd.Contact.Registry != "127.0.0.1" || fd.Contact.Network != netip.MustParsePrefix("3.0.0.0/9") {
			t.Errorf("whois %d: Cached, Registry, Network = %v, %q, %s; want %v, the test server, 3.0.0.0/9", i+1, fd.Cached, fd.Contact.Registry, fd.Contact.Network, want)
		}
	}
}

// TestWhoisAmbiguousName: a name with two addresses is marked ambiguous and the first looked up.
func TestWhoisAmbiguousName(t *testing.T) {
	f, _ := newRDAPFinder(t, StaticContact{Network: netip.MustParsePrefix("192.0.2.0/24"), Emails: []string{"noc@example.net"}})
	fd, err := f.Whois(t.Context(), "dual.example.test")
	if err != nil {
		t.Fatal(err)
	}
	if !fd.Ambiguous || len(fd.Addrs) != 2 || fd.Contact.Emails[0] != "noc@example.net" || !strings.Contains(fd.Notes[0], "ambiguous") {
		t.Errorf("got %+v; want ambiguous, two addresses, the first one's static contact", fd)
	}
}

// TestWhoisUnknownName: a name without addresses has nothing to look up.
func TestWhoisUnknownName(t *testing.T) {
	f, _ := newRDAPFinder(t)
	fd, err := f.Whois(t.Context(), "nowhere.example.test")
	if err == nil || !strings.Contains(err.Error(), "no A or AAAA") || !fd.Ambiguous {
		t.Errorf("Whois = %+v, %v; want an error saying the name has no address", fd, err)
	}
}
