package lookup

import (
	"net/netip"
	"testing"

	"github.com/abusewatch/abusewatch/lookup/lookuptest"
)

// Listed is Contact without the guess: the outbox asks it whether the registry names
// someone for the address of a report written to a guess. While the registry answers
// "not found" it names no one (and asks no DNS for a reverse name: the guess's
// queries are not repeated), while Contact guesses; once the answer naming no one is
// older than the negative TTL the registry is asked again, and RIPE's real answer
// names BT's abuse desk.
func TestListedNamesNoGuessAndAsksAgainAfterTheNegativeTTL(t *testing.T) {
	r := lookuptest.NewRDAP(t)
	dnsServer, zone := lookuptest.ServeZone(t, `
9.237.239.62.in-addr.arpa. 60 IN PTR vps9.freedns-shared.com.
vps9.freedns-shared.com.   60 IN A   62.239.237.9
`)
	addr := netip.MustParseAddr("62.239.237.9")
	f, err := New(Options{Resolvers: []string{dnsServer}, RDAP: true, RDAPServer: r.URL, Guess: true, NegativeTTL: 1})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := f.Contact(t.Context(), addr); err != nil || !c.Guess {
		t.Fatalf("Contact = %+v, %v; want the guess", c, err)
	}
	dnsAsked := zone.Queries.Load()
	if c, err := f.Listed(t.Context(), addr); err == nil || len(c.Emails) != 0 || c.Guess {
		t.Errorf("Listed = %q (guess %v), %v; want no one", c.Emails, c.Guess, err)
	}
	if n := zone.Queries.Load() - dnsAsked; n != 0 {
		t.Errorf("Listed asked DNS %d times; it makes no guess", n)
	}

	r.AnswerFile("62.239.237.0/24", "testdata/rdap/ripe_62.239.237.1.json")
	c, err := f.Listed(t.Context(), addr)
	if err != nil || c.Guess || c.Role != "abuse" || len(c.Emails) == 0 || c.Emails[0] != "zzdnsr@bt.com" {
		t.Errorf("Listed = %q (role %q, guess %v), %v; want BT's abuse desk", c.Emails, c.Role, c.Guess, err)
	}
}
