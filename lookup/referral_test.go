package lookup

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/abusewatch/abusewatch/lookup/lookuptest"
)

// withRelatedLink returns the registry answer in file with a "related" link to href added,
// as a regional registry links to the national registry that holds the assignment.
func withRelatedLink(t *testing.T, file, href string) []byte {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("testdata", "rdap", file))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	links, _ := doc["links"].([]any)
	doc["links"] = append(links, map[string]any{"value": href, "rel": "related", "href": href, "type": "application/rdap+json"})
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestContactRDAPReferralToNationalRegistry: APNIC's answer for a /17 links to a national
// registry, whose answer for the /24 names the customer's abuse desk: that one is used.
func TestContactRDAPReferralToNationalRegistry(t *testing.T) {
	nir := lookuptest.NewRDAP(t)
	nir.AnswerFile("210.107.73.0/24", filepath.Join("testdata", "rdap", "referral_krnic_210.107.73.0.json"))
	rir := lookuptest.NewRDAP(t)
	rir.Answer("210.107.0.0/17", withRelatedLink(t, "apnic_210.107.73.73.json", nir.URL+"/ip/210.107.73.0/24"))
	f := newFinderFor(t, rir, Options{})

	c, err := f.Contact(t.Context(), netip.MustParseAddr("210.107.73.73"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Network != netip.MustParsePrefix("210.107.73.0/24") || !slices.Equal(c.Emails, []string{"abuse@customer.example"}) ||
		c.Name != "EXAMPLE-CUSTOMER-KR" || c.Source != nir.URL+"/ip/210.107.73.73" {
		t.Errorf("got %+v; want the national registry's /24 and its abuse desk", c)
	}
	if rir.Requests.Load() != 1 || nir.Requests.Load() != 1 || f.Counters.Referrals.Load() != 1 {
		t.Errorf("requests RIR, NIR, referrals = %d, %d, %d; want 1 each", rir.Requests.Load(), nir.Requests.Load(), f.Counters.Referrals.Load())
	}
	// The /24 is cached: another address in it costs nothing, one elsewhere in the /17 does.
	if _, err := f.Contact(t.Context(), netip.MustParseAddr("210.107.73.1")); err != nil {
		t.Fatal(err)
	}
	if rir.Requests.Load()+nir.Requests.Load() != 2 {
		t.Errorf("a second address in the cached /24 sent a query")
	}
}

// TestContactRDAPReferralWithoutContactKeepsParent: the referred server's network names
// nobody, so the less specific network's abuse contact is used.
func TestContactRDAPReferralWithoutContactKeepsParent(t *testing.T) {
	nir := lookuptest.NewRDAP(t)
	nir.Answer("210.107.73.0/24", []byte(`{"objectClassName":"ip network","handle":"X","startAddress":"210.107.73.0","endAddress":"210.107.73.255"}`))
	rir := lookuptest.NewRDAP(t)
	rir.Answer("210.107.0.0/17", withRelatedLink(t, "apnic_210.107.73.73.json", nir.URL+"/ip/210.107.73.0/24"))
	f := newFinderFor(t, rir, Options{})
	c, err := f.Contact(t.Context(), netip.MustParseAddr("210.107.73.73"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Network != netip.MustParsePrefix("210.107.0.0/17") || !slices.Equal(c.Emails, []string{"hostmaster@nic.or.kr"}) {
		t.Errorf("got %s %q; want the /17 and KRNIC's abuse address", c.Network, c.Emails)
	}
}

// TestContactRDAPReferralLoop: two servers whose answers link to each other are each asked
// once.
func TestContactRDAPReferralLoop(t *testing.T) {
	a := lookuptest.NewRDAP(t)
	b := lookuptest.NewRDAP(t)
	a.Answer("210.107.0.0/17", withRelatedLink(t, "apnic_210.107.73.73.json", b.URL+"/ip/210.107.0.0/17"))
	b.Answer("210.107.0.0/17", withRelatedLink(t, "apnic_210.107.73.73.json", a.URL+"/ip/210.107.0.0/17"))
	f := newFinderFor(t, a, Options{})
	if _, err := f.Contact(t.Context(), netip.MustParseAddr("210.107.73.73")); err != nil {
		t.Fatal(err)
	}
	if a.Requests.Load() != 1 || b.Requests.Load() != 1 {
		t.Errorf("requests = %d, %d; want 1 each", a.Requests.Load(), b.Requests.Load())
	}
}

// TestContactRDAPRelatedLinkNotAnIPNetwork: NIC.br's related link points at a reverse
// domain, not at a network: it is not followed.
func TestContactRDAPRelatedLinkNotAnIPNetwork(t *testing.T) {
	other := lookuptest.NewRDAP(t)
	rir := lookuptest.NewRDAP(t)
	rir.Answer("210.107.0.0/17", withRelatedLink(t, "apnic_210.107.73.73.json", other.URL+"/domain/107.210.in-addr.arpa"))
	f := newFinderFor(t, rir, Options{})
	if _, err := f.Contact(t.Context(), netip.MustParseAddr("210.107.73.73")); err != nil {
		t.Fatal(err)
	}
	if other.Requests.Load() != 0 {
		t.Error("followed a related link to a domain object")
	}
}

// TestContactRDAPRedirect: a registry that answers for another one with an HTTP redirect
// (ARIN does for addresses it does not hold): the answer and the registry named are the
// ones redirected to.
func TestContactRDAPRedirect(t *testing.T) {
	ripe := lookuptest.NewRDAP(t)
	ripe.AnswerFile("193.0.0.0/21", filepath.Join("testdata", "rdap", "ip_network_ripe_193_0_0_0.json"))
	arin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, ripe.URL+r.URL.Path, http.StatusMovedPermanently)
	}))
	t.Cleanup(arin.Close)
	_, dnsServer := newZoneServer(t)
	f, err := New(Options{Resolvers: []string{dnsServer}, RDAP: true, RDAPServer: arin.URL})
	if err != nil {
		t.Fatal(err)
	}
	c, err := f.Contact(t.Context(), netip.MustParseAddr("193.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Source != ripe.URL+"/ip/193.0.0.1" || !slices.Equal(c.Emails, []string{"abuse@ripe.net"}) {
		t.Errorf("Source, Emails = %s, %q; want the server redirected to", c.Source, c.Emails)
	}
}
