package lookup

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/abusewatch/abusewatch/lookup/lookuptest"
)

// An RDAP answer decides who gets a report, so it must come over https from the server the
// bootstrap or the config names, or from servers it refers to over https. Plain http is
// for a mirror the admin configured, and no one else.

// onLoopback returns a client for srv (a TLS test server) that connects every host name to
// it, so that a test can stand for real registry hosts, and counts the dials per address.
func onLoopback(t *testing.T, srv *httptest.Server, dials *sync.Map) *http.Client {
	t.Helper()
	tr := srv.Client().Transport.(*http.Transport).Clone()
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		n, _ := dials.LoadOrStore(addr, new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
		var d net.Dialer
		return d.DialContext(ctx, network, srv.Listener.Addr().String())
	}
	tr.TLSClientConfig = tr.TLSClientConfig.Clone()
	tr.TLSClientConfig.ServerName = "example.com" // the name httptest's certificate is for
	return &http.Client{Transport: tr}
}

// TestContactRDAPRedirectToPlainHTTPRefused: the registry's https server redirects to
// plain http on another host: whoever is on that path could answer, so the redirect is
// refused and the lookup fails (to be tried again), naming both URLs.
func TestContactRDAPRedirectToPlainHTTPRefused(t *testing.T) {
	plain := lookuptest.NewRDAP(t)
	plain.Answer("0.0.0.0/0", lookuptest.NetworkAnswer(netip.MustParsePrefix("198.51.0.0/16"), "MITM", "", "victim@victim.example"))
	plainPort := plain.URL[strings.LastIndex(plain.URL, ":"):]
	tlsrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://localhost"+plainPort+r.URL.Path, http.StatusFound)
	}))
	t.Cleanup(tlsrv.Close)
	_, dnsServer := newZoneServer(t)
	f, err := New(Options{Resolvers: []string{dnsServer}, RDAP: true, RDAPServer: tlsrv.URL, HTTPClient: tlsrv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	c, err := f.Contact(t.Context(), netip.MustParseAddr("198.51.1.1"))
	if err == nil || !strings.Contains(err.Error(), "refused the redirect from https://") || len(c.Emails) != 0 {
		t.Errorf("got %q, %v; want the redirect refused", c.Emails, err)
	}
	if n := plain.Requests.Load(); n != 0 {
		t.Errorf("the plain-http server got %d requests", n)
	}
}

// TestContactRDAPRedirectToAnotherPlainHTTPHostRefused: a configured plain-http mirror is
// trusted, but not where it redirects to on another host over plain http.
func TestContactRDAPRedirectToAnotherPlainHTTPHostRefused(t *testing.T) {
	other := lookuptest.NewRDAP(t)
	other.Answer("0.0.0.0/0", lookuptest.NetworkAnswer(netip.MustParsePrefix("198.51.0.0/16"), "MITM", "", "victim@victim.example"))
	otherPort := other.URL[strings.LastIndex(other.URL, ":"):]
	mirror := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://localhost"+otherPort+r.URL.Path, http.StatusFound)
	}))
	t.Cleanup(mirror.Close)
	_, dnsServer := newZoneServer(t)
	f, err := New(Options{Resolvers: []string{dnsServer}, RDAP: true, RDAPServer: mirror.URL})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Contact(t.Context(), netip.MustParseAddr("198.51.1.1"))
	if err == nil || !strings.Contains(err.Error(), "not the configured RDAP server") || other.Requests.Load() != 0 {
		t.Errorf("error %v, %d requests to the other host; want the redirect refused", err, other.Requests.Load())
	}
}

// TestContactRDAPReferralOverPlainHTTPRefused: a related link to plain http on a host that
// is neither a registry nor the configured server is not followed, and the steps say so.
func TestContactRDAPReferralOverPlainHTTPRefused(t *testing.T) {
	nir := lookuptest.NewRDAP(t)
	nir.AnswerFile("210.107.73.0/24", filepath.Join("testdata", "rdap", "referral_krnic_210.107.73.0.json"))
	nirPort := nir.URL[strings.LastIndex(nir.URL, ":"):]
	rir := lookuptest.NewRDAP(t) // the configured server: 127.0.0.1, plain http
	rir.Answer("210.107.0.0/17", withRelatedLink(t, "apnic_210.107.73.73.json", "http://localhost"+nirPort+"/ip/210.107.73.0/24"))
	f := newFinderFor(t, rir, Options{})
	fd, err := f.Whois(t.Context(), "210.107.73.73")
	if err != nil {
		t.Fatal(err)
	}
	if nir.Requests.Load() != 0 || fd.Contact.Network != netip.MustParsePrefix("210.107.0.0/17") {
		t.Errorf("requests to the linked server %d, network %s; want none and the registry's /17", nir.Requests.Load(), fd.Contact.Network)
	}
	if notes := strings.Join(fd.Notes, "\n"); !strings.Contains(notes, "refused the related link http://localhost") {
		t.Errorf("notes %q do not say the link was refused", notes)
	}
}

// TestContactRDAPReferralToRegistryUpgradedToHTTPS: APNIC's answers (the 2015 one in
// testdata, for one) write their links as http://. A plain-http related link to a
// registry's host is asked over https instead: the registries serve RDAP over https, and
// nothing on the path can answer for them.
func TestContactRDAPReferralToRegistryUpgradedToHTTPS(t *testing.T) {
	apnic := withRelatedLink(t, "apnic_210.107.73.73.json", "http://rdap.nic.or.kr/ip/210.107.73.0/24")
	krnic, err := os.ReadFile(filepath.Join("testdata", "rdap", "referral_krnic_210.107.73.0.json"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/rdap+json")
		switch r.Host {
		case "rdap.apnic.net":
			w.Write(apnic)
		case "rdap.nic.or.kr":
			w.Write(krnic)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	var dials sync.Map
	_, dnsServer := newZoneServer(t)
	f, err := New(Options{Resolvers: []string{dnsServer}, RDAP: true, RDAPServer: "https://rdap.apnic.net/", HTTPClient: onLoopback(t, srv, &dials)})
	if err != nil {
		t.Fatal(err)
	}
	fd, err := f.Whois(t.Context(), "210.107.73.73")
	if err != nil {
		t.Fatal(err)
	}
	if c := fd.Contact; c.Source != "https://rdap.nic.or.kr/ip/210.107.73.73" || !slices.Equal(c.Emails, []string{"abuse@customer.example"}) || c.Registry != "KRNIC" {
		t.Errorf("got %q from %s (%s); want KRNIC's answer over https", c.Emails, c.Source, c.Registry)
	}
	if _, plain := dials.Load("rdap.nic.or.kr:80"); plain {
		t.Error("connected to rdap.nic.or.kr over plain http")
	}
	if notes := strings.Join(fd.Notes, "\n"); !strings.Contains(notes, "asking KRNIC over https instead") {
		t.Errorf("notes %q do not say the link was upgraded", notes)
	}
}
