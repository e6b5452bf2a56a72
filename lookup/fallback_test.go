package lookup

import (
	"errors"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/lookup/lookuptest"
)

// TestContactGuessFromConfirmedPTR: the registry holds no network for 192.0.2.1, whose
// reverse name host1.example.test resolves back to it: abuse@ and security@ of
// example.test, marked as guesses.
func TestContactGuessFromConfirmedPTR(t *testing.T) {
	f, _ := newRDAPFinderWith(t, Options{Guess: true})
	c, err := f.Contact(t.Context(), netip.MustParseAddr("192.0.2.1"))
	if err != nil {
		t.Fatal(err)
	}
	want := []abusewatch.Mailbox{
		{Email: "abuse@example.test", Role: "abuse", Source: "guess"},
		{Email: "security@example.test", Role: "security", Source: "guess"},
	}
	if !slices.Equal(c.Mailboxes, want) || !c.Guess || c.PTR != "host1.example.test" || c.Source != "guess" {
		t.Errorf("got %+v; want the two guesses from host1.example.test", c)
	}
}

// TestContactNoGuessFromUnconfirmedPTR: 192.0.2.2's reverse name points elsewhere, so it
// says nothing about who runs the address.
func TestContactNoGuessFromUnconfirmedPTR(t *testing.T) {
	f, _ := newRDAPFinderWith(t, Options{Guess: true})
	_, err := f.Contact(t.Context(), netip.MustParseAddr("192.0.2.2"))
	if err == nil || !strings.Contains(err.Error(), "no forward-confirmed reverse name") {
		t.Errorf("error = %v, want one saying there is no confirmed name to guess from", err)
	}
}

// TestContactNoGuessWhenGuessesOff: guesses are a choice of the config.
func TestContactNoGuessWhenGuessesOff(t *testing.T) {
	f, _ := newRDAPFinderWith(t, Options{})
	if _, err := f.Contact(t.Context(), netip.MustParseAddr("192.0.2.1")); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("error = %v, want the registry's 404", err)
	}
}

func TestGuessMailboxes(t *testing.T) {
	addr := netip.MustParseAddr("198.51.100.7") // spelled by none of the names
	for ptr, want := range map[string]string{
		"dsl-1-2-3-4.pool.example.co.uk.": "example.co.uk",
		"Mail.Example.COM":                "example.com",
		"host1.example.test":              "example.test",
		"myhost.blogspot.com":             "myhost.blogspot.com", // a private suffix: the user's own domain
	} {
		got, refused := guessMailboxes(ptr, addr)
		if len(got) != 2 || got[0].Email != "abuse@"+want || got[1].Email != "security@"+want || refused != "" {
			t.Errorf("guessMailboxes(%q) = %+v, %q; want abuse@ and security@%s", ptr, got, refused, want)
		}
	}
	for _, ptr := range []string{"", "co.uk", "com"} {
		if got, _ := guessMailboxes(ptr, addr); got != nil {
			t.Errorf("guessMailboxes(%q) = %+v, want none", ptr, got)
		}
	}
}

// TestGuessMailboxesRefusesNamesSpellingTheAddress: wildcard DNS services resolve any
// name that spells an address to that address, so an attacker can use one as a forward-
// confirmed reverse name: a name that spells the address it was found for is no guess.
func TestGuessMailboxesRefusesNamesSpellingTheAddress(t *testing.T) {
	for ptr, addr := range map[string]string{
		"177.1.2.3.nip.io.":                            "177.1.2.3",
		"app-177-1-2-3.nip.io":                         "177.1.2.3",
		"b1010203.nip.io":                              "177.1.2.3",
		"www.177-1-2-3.sslip.io":                       "177.1.2.3",
		"x.xip.io":                                     "177.1.2.3",   // a wildcard service, whatever the name
		"177-1-2-3.wildcard.example.com":               "177.1.2.3",   // an unknown service: it spells the address
		"3.2.1.177.in-addr.example.net":                "177.1.2.3",   // reversed
		"h177001002003.example.org":                    "177.1.2.3",   // zero-padded, no separators
		"dsl-177-1-2-3.pool.isp.example":               "177.1.2.3",   // an ISP's generic name: cannot be told apart
		"2001-db8--1.sslip.io":                         "2001:db8::1", // sslip.io's IPv6 form
		"x-2001-db8-0-0-0-0-0-1.evil.net":              "2001:db8::1",
		"20010db8000000000000000000000001.example.org": "2001:db8::1",
	} {
		got, refused := guessMailboxes(ptr, netip.MustParseAddr(addr))
		if got != nil || refused == "" {
			t.Errorf("guessMailboxes(%q, %s) = %+v, %q; want a refusal", ptr, addr, got, refused)
		}
	}
	// Numbers that are not the address in a row.
	for ptr, addr := range map[string]string{
		"host-177-1-2-4.example.net": "177.1.2.3",
		"177-1.example.net":          "177.1.2.3",
		"web1.example.net":           "2001:db8::1",
	} {
		if got, refused := guessMailboxes(ptr, netip.MustParseAddr(addr)); got == nil {
			t.Errorf("guessMailboxes(%q, %s) refused: %s", ptr, addr, refused)
		}
	}
}

// TestContactNoGuessFromWildcardDNSName: the attacker at 177.1.2.3 (NIC.br's real answer
// names no one) made its reverse name 177.1.2.3.nip.io, which nip.io resolves back to it:
// forward-confirmed, but nip.io's owner is not responsible, so there is no guess.
func TestContactNoGuessFromWildcardDNSName(t *testing.T) {
	r := lookuptest.NewRDAP(t)
	r.AnswerFile("177.0.0.0/14", "testdata/rdap/ip_network_br.json")
	dnsServer, _ := lookuptest.ServeZone(t, `
3.2.1.177.in-addr.arpa. 60 IN PTR 177.1.2.3.nip.io.
177.1.2.3.nip.io.       60 IN A   177.1.2.3
`)
	f, err := New(Options{Resolvers: []string{dnsServer}, RDAP: true, RDAPServer: r.URL, Guess: true})
	if err != nil {
		t.Fatal(err)
	}
	fd, err := f.Whois(t.Context(), "177.1.2.3")
	if err == nil || len(fd.Contact.Emails) != 0 || !fd.PTRConfirmed {
		t.Fatalf("Whois = %q, %v (PTR confirmed %v); want no contact", fd.Contact.Emails, err, fd.PTRConfirmed)
	}
	if !strings.Contains(err.Error(), "wildcard DNS") || !strings.Contains(strings.Join(fd.Notes, "\n"), "no guess from the reverse name 177.1.2.3.nip.io") {
		t.Errorf("error %v, notes %q; want both to say why there is no guess", err, fd.Notes)
	}
}

// abuseZone is a DNS abuse-contact zone in the Abusix format, served with testZone.
const abuseZone = testZone + `
1.2.0.192.abuse.zone.test. 60 IN TXT "abuse@zone-listed.example"
1.0.0.41.abuse.zone.test.  60 IN TXT "noc@vodacom.example, abuse@vodacom.example"
`

// newZoneFinder returns a Finder using the loopback RDAP server and a DNS server for abuseZone.
func newZoneFinder(t *testing.T, opts Options) *Finder {
	t.Helper()
	srv := httptest.NewServer(rdapHandler(t))
	t.Cleanup(srv.Close)
	dnsServer, _ := lookuptest.ServeZone(t, abuseZone)
	opts.Resolvers = []string{dnsServer}
	opts.RDAP = true
	opts.BootstrapDir = writeBootstrap(t, srv.URL)
	f, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestContactAbuseZoneWhenRegistryHasNone: the registry holds no network for 192.0.2.1; the
// abuse-contact zone names one.
func TestContactAbuseZoneWhenRegistryHasNone(t *testing.T) {
	f := newZoneFinder(t, Options{AbuseZone: "abuse.zone.test", Guess: true})
	c, err := f.Contact(t.Context(), netip.MustParseAddr("192.0.2.1"))
	if err != nil {
		t.Fatal(err)
	}
	want := []abusewatch.Mailbox{{Email: "abuse@zone-listed.example", Role: "abuse", Source: "dns"}}
	if !slices.Equal(c.Mailboxes, want) || c.Source != "abuse.zone.test" || c.Guess {
		t.Errorf("got %+v; want the zone's address, not a guess", c)
	}
}

// TestContactAbuseZoneBeatsTechnicalRole: AFRINIC names only a technical contact for
// 41.0.0.1; the zone's abuse addresses come first.
func TestContactAbuseZoneBeatsTechnicalRole(t *testing.T) {
	f := newZoneFinder(t, Options{AbuseZone: "abuse.zone.test"})
	c, err := f.Contact(t.Context(), netip.MustParseAddr("41.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Emails, []string{"noc@vodacom.example", "abuse@vodacom.example"}) || c.Role != "abuse" || c.Network != netip.MustParsePrefix("41.0.0.0/16") || c.Country != "ZA" {
		t.Errorf("got %+v; want the zone's addresses for the registry's network", c)
	}
}

// TestContactAbuseZoneNotAskedForRegistryAbuseDesk: the registry's abuse contact stands.
func TestContactAbuseZoneNotAskedForRegistryAbuseDesk(t *testing.T) {
	f := newZoneFinder(t, Options{AbuseZone: "abuse.zone.test"})
	c, err := f.Contact(t.Context(), netip.MustParseAddr("3.3.3.3"))
	if err != nil || c.Emails[0] != "abuse@amazonaws.com" {
		t.Errorf("got %q, %v; want ARIN's abuse POC", c.Emails, err)
	}
}

// TestContactNationalCERTWhenRegistryNamesNoOne: NIC.br's answer has no address at all; its
// country is BR, and the CERT table names CERT.br.
func TestContactNationalCERTWhenRegistryNamesNoOne(t *testing.T) {
	f, _ := newRDAPFinderWith(t, Options{CERTs: []NationalCERT{{Country: "br", Emails: []string{"cert@cert.br"}}}})
	c, err := f.Contact(t.Context(), netip.MustParseAddr("177.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	want := []abusewatch.Mailbox{{Email: "cert@cert.br", Role: "cert", Source: "static"}}
	if !slices.Equal(c.Mailboxes, want) || c.Country != "BR" || c.Network != netip.MustParsePrefix("177.0.0.0/14") {
		t.Errorf("got %+v; want CERT.br for 177.0.0.0/14", c)
	}
}

// TestContactNationalCERTAddedToAbuseDesk: the CERT is told besides the network's own desk.
func TestContactNationalCERTAddedToAbuseDesk(t *testing.T) {
	f, _ := newRDAPFinderWith(t, Options{CERTs: []NationalCERT{{Country: "GB", Emails: []string{"cert@ncsc.example"}}}})
	c, err := f.Contact(t.Context(), netip.MustParseAddr("62.239.237.1"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Emails, []string{"zzdnsr@bt.com", "steve.a.marshall@bt.com", "lee.bailey-hague@bt.com", "cert@ncsc.example"}) || c.Role != "abuse" {
		t.Errorf("got %q, role %s; want BT's abuse desk, then the CERT", c.Emails, c.Role)
	}
}

// TestContactDoNotContact: a network on the list is refused before anything is asked, even
// when a static contact covers it.
func TestContactDoNotContact(t *testing.T) {
	r := lookuptest.NewRDAP(t)
	r.AnswerFile("3.0.0.0/9", "testdata/rdap/ip_network_arin_3_3_3_3.json")
	f := newFinderFor(t, r, Options{
		DoNotContact: []DoNotContact{{Network: netip.MustParsePrefix("3.3.0.0/16"), Reason: "answers with legal threats"}},
		Static:       []StaticContact{{Network: netip.MustParsePrefix("3.3.3.0/24"), Emails: []string{"override@example.net"}}},
	})
	_, err := f.Contact(t.Context(), netip.MustParseAddr("3.3.3.3"))
	if !errors.Is(err, ErrDoNotContact) || !strings.Contains(err.Error(), "legal threats") || !strings.Contains(err.Error(), "3.3.0.0/16") {
		t.Errorf("error = %v, want ErrDoNotContact naming the network and the reason", err)
	}
	if r.Requests.Load() != 0 {
		t.Error("the registry was asked about a do-not-contact network")
	}
	if _, err := f.Contact(t.Context(), netip.MustParseAddr("3.4.0.1")); err != nil {
		t.Errorf("an address outside the listed network: %v", err)
	}
}
