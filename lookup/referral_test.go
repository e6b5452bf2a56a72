package lookup

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

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
	return lookuptest.WithRelatedLink(t, body, href)
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
	// The answer is cached for the address asked about: that address again costs
	// nothing; another one of the /24 is asked about (a /29 in it may have its own desk).
	if _, err := f.Contact(t.Context(), netip.MustParseAddr("210.107.73.73")); err != nil {
		t.Fatal(err)
	}
	if rir.Requests.Load()+nir.Requests.Load() != 2 {
		t.Errorf("the address asked about again sent a query")
	}
	if _, err := f.Contact(t.Context(), netip.MustParseAddr("210.107.73.1")); err != nil {
		t.Fatal(err)
	}
	if rir.Requests.Load()+nir.Requests.Load() != 4 {
		t.Errorf("requests RIR, NIR = %d, %d; want another address of the /24 asked about", rir.Requests.Load(), nir.Requests.Load())
	}
}

// TestContactRDAPReferralWithoutContactKeepsParent: the referred server's network names
// nobody, so the less specific network's contact is used, for the referred /24 only.
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
	if c.Network != netip.MustParsePrefix("210.107.73.0/24") || !slices.Equal(c.Emails, []string{"ipadm@nic.bora.net", "abuse@bora.net", "security@bora.net"}) || c.Role != "technical" {
		t.Errorf("got %s %q %s; want the /17's technical contact for the /24", c.Network, c.Emails, c.Role)
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
	ripe.AnswerFile("62.239.237.0/24", filepath.Join("testdata", "rdap", "ripe_62.239.237.1.json"))
	arin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, ripe.URL+r.URL.Path, http.StatusMovedPermanently)
	}))
	t.Cleanup(arin.Close)
	_, dnsServer := newZoneServer(t)
	f, err := New(Options{Resolvers: []string{dnsServer}, RDAP: true, RDAPServer: arin.URL})
	if err != nil {
		t.Fatal(err)
	}
	c, err := f.Contact(t.Context(), netip.MustParseAddr("62.239.237.1"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Source != ripe.URL+"/ip/62.239.237.1" || c.Emails[0] != "zzdnsr@bt.com" {
		t.Errorf("Source, Emails = %s, %q; want the server redirected to", c.Source, c.Emails)
	}
}

// wholeSpace is an answer for all of IPv4 naming a bystander, as a server a related link
// leads to could give.
var wholeSpace = lookuptest.NetworkAnswer(netip.MustParsePrefix("0.0.0.0/0"), "EVIL", "", "abuse@victim.example")

// TestContactRDAPReferralForWholeSpaceIgnored: NIC.br's real answer for 177.0.0.0/14 (its
// abuse entity has no address) links to a server answering 0.0.0.0-255.255.255.255 with
// abuse@victim.example. That answer is not within the /14: it is ignored, and nothing is
// cached for all of IPv4, so another address asks its own registry.
func TestContactRDAPReferralForWholeSpaceIgnored(t *testing.T) {
	evil := lookuptest.NewRDAP(t)
	evil.Answer("0.0.0.0/0", wholeSpace)
	rir := lookuptest.NewRDAP(t)
	rir.Answer("177.0.0.0/14", withRelatedLink(t, "ip_network_br.json", evil.URL+"/ip/177.0.0.0/14"))
	rir.AnswerFile("3.0.0.0/9", filepath.Join("testdata", "rdap", "ip_network_arin_3_3_3_3.json"))
	cache := NewMemoryCache()
	f := newFinderFor(t, rir, Options{Cache: cache})

	fd, err := f.Whois(t.Context(), "177.1.2.3")
	if err == nil || !strings.Contains(err.Error(), "ignored the answer of the referral") || len(fd.Contact.Emails) != 0 || fd.Contact.Network != netip.MustParsePrefix("177.0.0.0/14") {
		t.Errorf("177.1.2.3: %q for %s, %v; want no contact for NIC.br's /14", fd.Contact.Emails, fd.Contact.Network, err)
	}
	if evil.Requests.Load() != 1 || !strings.Contains(strings.Join(fd.Notes, "\n"), "which is not within 177.0.0.0-177.3.255.255") {
		t.Errorf("requests to the referred server %d, notes %q; want one, ignored with the reason", evil.Requests.Load(), fd.Notes)
	}
	for _, a := range []string{"3.3.3.3", "9.9.9.9"} {
		if c, ok, _ := cache.CachedContact(netip.MustParseAddr(a), time.Now()); ok {
			t.Errorf("the cache answers %s with %q for %s", a, c.Emails, c.Network)
		}
	}
	c, err := f.Contact(t.Context(), netip.MustParseAddr("3.3.3.3"))
	if err != nil || !slices.Equal(c.Emails, []string{"abuse@amazonaws.com"}) {
		t.Errorf("3.3.3.3: %q, %v; want ARIN's answer", c.Emails, err)
	}
}

// TestContactRDAPReferralOutsideTheAddressIgnored: the referred server answers with a
// network that does not hold the address at all (and would have been taken for the address
// alone, the most specific answer of all).
func TestContactRDAPReferralOutsideTheAddressIgnored(t *testing.T) {
	evil := lookuptest.NewRDAP(t)
	evil.Answer("0.0.0.0/0", lookuptest.NetworkAnswer(netip.MustParsePrefix("1.0.0.0/24"), "ELSEWHERE", "", "abuse@victim.example"))
	rir := lookuptest.NewRDAP(t)
	rir.Answer("210.107.0.0/17", withRelatedLink(t, "apnic_210.107.73.73.json", evil.URL+"/ip/210.107.73.0/24"))
	f := newFinderFor(t, rir, Options{})
	fd, err := f.Whois(t.Context(), "210.107.73.73")
	if err != nil {
		t.Fatal(err)
	}
	if c := fd.Contact; c.Network != netip.MustParsePrefix("210.107.0.0/17") || slices.Contains(c.Emails, "abuse@victim.example") {
		t.Errorf("got %q for %s; want the registry's /17", c.Emails, c.Network)
	}
	if notes := strings.Join(fd.Notes, "\n"); !strings.Contains(notes, "does not hold 210.107.73.73: ignored") {
		t.Errorf("notes %q do not say the answer was ignored", notes)
	}
}

// TestContactRDAPReferralOverhangingIgnored: the referred range starts inside the
// registry's /17 and runs past its end: it claims addresses the registry did not give it.
func TestContactRDAPReferralOverhangingIgnored(t *testing.T) {
	evil := lookuptest.NewRDAP(t)
	evil.Answer("0.0.0.0/0", []byte(`{"objectClassName":"ip network","handle":"OVER","startAddress":"210.107.64.0","endAddress":"210.108.255.255",
		"entities":[{"objectClassName":"entity","handle":"A","roles":["abuse"],"vcardArray":["vcard",[["version",{},"text","4.0"],["email",{},"text","abuse@victim.example"]]]}]}`))
	rir := lookuptest.NewRDAP(t)
	rir.Answer("210.107.0.0/17", withRelatedLink(t, "apnic_210.107.73.73.json", evil.URL+"/ip/210.107.73.0/24"))
	f := newFinderFor(t, rir, Options{})
	c, err := f.Contact(t.Context(), netip.MustParseAddr("210.107.73.73"))
	if err != nil || slices.Contains(c.Emails, "abuse@victim.example") || c.Network != netip.MustParsePrefix("210.107.0.0/17") {
		t.Errorf("got %q for %s, %v; want the registry's /17", c.Emails, c.Network, err)
	}
}

// TestContactRDAPRegistryAnswerOutsideTheAddress: the registry's own answer must hold the
// address too; one that does not is no answer (an error: ask again later), and not cached.
func TestContactRDAPRegistryAnswerOutsideTheAddress(t *testing.T) {
	rir := lookuptest.NewRDAP(t)
	rir.Answer("0.0.0.0/0", lookuptest.NetworkAnswer(netip.MustParsePrefix("1.0.0.0/24"), "ELSEWHERE", "", "abuse@victim.example"))
	f := newFinderFor(t, rir, Options{})
	for range 2 {
		c, err := f.Contact(t.Context(), netip.MustParseAddr("177.1.2.3"))
		if err == nil || !strings.Contains(err.Error(), "does not hold 177.1.2.3") || len(c.Emails) != 0 {
			t.Errorf("got %q, %v; want an error saying the answer does not hold the address", c.Emails, err)
		}
	}
	if n := rir.Requests.Load(); n != 2 {
		t.Errorf("requests = %d, want 2 (nothing cached)", n)
	}
}

// nirCustomers serves a national registry with two /24s of 210.107.0.0/17: the first's
// answer names no one, the second's its own abuse desk.
func nirCustomers(t *testing.T) *lookuptest.RDAP {
	nir := lookuptest.NewRDAP(t)
	nir.Answer("210.107.73.0/24", []byte(`{"objectClassName":"ip network","handle":"CUST-A","name":"CUST-A","startAddress":"210.107.73.0","endAddress":"210.107.73.255",
		"entities":[{"objectClassName":"entity","handle":"R","roles":["registrant"],"vcardArray":["vcard",[["version",{},"text","4.0"],["fn",{},"text","Customer A"]]]}]}`))
	nir.Answer("210.107.99.0/24", lookuptest.NetworkAnswer(netip.MustParsePrefix("210.107.99.0/24"), "CUST-B", "KR", "abuse@customer-b.example"))
	return nir
}

// TestContactRDAPParentContactNotCachedForSiblings: the national registry's /24 names no
// one, so the RIR's /17's contact is used, but cached for that /24 only: a sibling /24
// with its own abuse desk is still asked about.
func TestContactRDAPParentContactNotCachedForSiblings(t *testing.T) {
	nir := nirCustomers(t)
	rir := lookuptest.NewRDAP(t)
	rir.Answer("210.107.0.0/17", withRelatedLink(t, "apnic_210.107.73.73.json", nir.URL+"/ip/210.107.0.0/17"))
	f := newFinderFor(t, rir, Options{})
	a, err := f.Contact(t.Context(), netip.MustParseAddr("210.107.73.73"))
	if err != nil || a.Network != netip.MustParsePrefix("210.107.73.0/24") || a.Name != "CUST-A" || a.Emails[0] != "ipadm@nic.bora.net" {
		t.Errorf("210.107.73.73: %q for %s %s, %v; want the /17's contact for CUST-A's /24", a.Emails, a.Network, a.Name, err)
	}
	b, err := f.Contact(t.Context(), netip.MustParseAddr("210.107.99.1"))
	if err != nil || !slices.Equal(b.Emails, []string{"abuse@customer-b.example"}) || b.Network != netip.MustParsePrefix("210.107.99.0/24") {
		t.Errorf("210.107.99.1: %q for %s, %v; want CUST-B's own abuse desk", b.Emails, b.Network, err)
	}
}

// TestContactRDAPReferralFailureCachedBriefly: the national registry does not answer in
// time, so the RIR's answer is used, but cached for the negative TTL only: the national
// registry is asked again soon, not in a week.
func TestContactRDAPReferralFailureCachedBriefly(t *testing.T) {
	silent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	t.Cleanup(silent.Close)
	rir := lookuptest.NewRDAP(t)
	rir.Answer("210.107.0.0/17", withRelatedLink(t, "apnic_210.107.73.73.json", silent.URL+"/ip/210.107.0.0/17"))
	cache := NewMemoryCache()
	f := newFinderFor(t, rir, Options{Cache: cache, Timeout: 200 * time.Millisecond, NegativeTTL: time.Minute})
	fd, err := f.Whois(t.Context(), "210.107.99.1")
	if err != nil || fd.Contact.Network != netip.MustParsePrefix("210.107.0.0/17") || len(fd.Contact.Emails) == 0 {
		t.Fatalf("got %q for %s, %v; want the RIR's contact", fd.Contact.Emails, fd.Contact.Network, err)
	}
	if notes := strings.Join(fd.Notes, "\n"); !strings.Contains(notes, "cached for 1m0s only") {
		t.Errorf("notes %q do not say the answer is cached briefly", notes)
	}
	addr := netip.MustParseAddr("210.107.99.1")
	if _, ok, _ := cache.CachedContact(addr, time.Now().Add(50*time.Second)); !ok {
		t.Error("not cached at all")
	}
	if c, ok, _ := cache.CachedContact(addr, time.Now().Add(2*time.Minute)); ok {
		t.Errorf("still cached after the negative TTL: %q for %s", c.Emails, c.Network)
	}
}
