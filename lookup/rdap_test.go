package lookup

import (
	"context"
	"errors"
	"fmt"
	"net"
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

// rdapAnswers maps the address a test asks about to the real registry answer served for it.
var rdapAnswers = map[string]string{
	"3.3.3.3":              "ip_network_arin_3_3_3_3.json",
	"193.0.0.0":            "ip_network_ripe_193_0_0_0.json",
	"1.1.1.1":              "ip_network_apnic_1_1_1_1.json",
	"41.0.0.1":             "ip_network_afrinic.json",
	"177.0.0.1":            "ip_network_br.json",
	"179.0.0.1":            "ip_network_lacnic.json",
	"74.125.225.229":       "arin_74.125.225.229.json",
	"62.239.237.1":         "ripe_62.239.237.1.json",
	"2001:4860:4860::8888": "arin_2001_4860_4860__8888.json",
	"196.11.240.215":       "afrinic_196.11.240.215.json",
}

// rdapHandler serves testdata answers under /ip/, and the failure cases on 203.0.113.0/24.
func rdapHandler(t *testing.T) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, q, _ := strings.Cut(r.URL.Path, "/ip/") // registries serve under a path, e.g. /registry/ip/
		switch q {
		case "203.0.113.5":
			w.Header().Set("Retry-After", "120")
			http.Error(w, "slow down", http.StatusTooManyRequests)
			return
		case "203.0.113.8":
			<-r.Context().Done() // a server that never answers
			return
		case "203.0.113.6":
			w.Header().Set("Content-Type", "application/rdap+json")
			fmt.Fprintf(w, `{"objectClassName":"ip network","name":"%s"}`, strings.Repeat("x", 2<<20))
			return
		}
		file, ok := rdapAnswers[q]
		if !ok {
			http.NotFound(w, r)
			return
		}
		body, err := os.ReadFile(filepath.Join("testdata", "rdap", file))
		if err != nil {
			t.Error(err)
			return
		}
		w.Header().Set("Content-Type", "application/rdap+json")
		w.Write(body)
	})
}

// writeBootstrap writes a bootstrap directory that sends every address the tests use to base.
func writeBootstrap(t *testing.T, base string) string {
	return lookuptest.WriteBootstrap(t, base,
		[]string{"1.0.0.0/8", "3.0.0.0/8", "41.0.0.0/8", "62.0.0.0/8", "74.0.0.0/8", "177.0.0.0/8", "179.0.0.0/8", "193.0.0.0/8", "196.0.0.0/8", "203.0.113.0/24"},
		[]string{"2001:4800::/23"})
}

// newRDAPFinder returns a Finder whose RDAP and DNS peers are all on loopback.
func newRDAPFinder(t *testing.T, static ...StaticContact) (*Finder, *httptest.Server) {
	t.Helper()
	srv := httptest.NewServer(rdapHandler(t))
	t.Cleanup(srv.Close)
	_, dnsServer := newZoneServer(t)
	f, err := New(Options{
		Resolvers:    []string{dnsServer},
		Timeout:      5 * time.Second,
		RDAP:         true,
		BootstrapDir: writeBootstrap(t, srv.URL),
		Static:       static,
	})
	if err != nil {
		t.Fatal(err)
	}
	return f, srv
}

func TestContactRDAP(t *testing.T) {
	f, srv := newRDAPFinder(t)
	for _, tc := range []struct {
		addr, network, role, name, country string
		emails                             []string
	}{
		// ARIN: the abuse POC is nested inside the registrant entity.
		{"3.3.3.3", "3.0.0.0/9", "abuse", "AT-88-Z", "", []string{"abuse@amazonaws.com"}},
		// RIPE: the abuse entity also lists ops@; the vCard email typed "abuse" wins.
		{"193.0.0.0", "193.0.0.0/21", "abuse", "RIPE-NCC", "NL", []string{"abuse@ripe.net"}},
		// APNIC: the IRT lists the same address twice.
		{"1.1.1.1", "1.1.1.0/24", "abuse", "APNIC-LABS", "AU", []string{"abuse@apnic.net"}},
		// AFRINIC: no abuse entity at all, so the technical contact.
		{"41.0.0.1", "41.0.0.0/16", "technical", "41.0.0.0 - 41.0.255.255", "ZA", []string{"Jacques.hendricks@vodacom.co.za"}},
		{"179.0.0.1", "179.0.0.0/23", "abuse", "179.0.0.0/23", "", []string{"tomas.cribb@neuralsoft.com"}},
		// 2015 ARIN: zero-padded IPv4 and IPv6 range ends.
		{"74.125.225.229", "74.125.0.0/16", "abuse", "GOOGLE", "", []string{"arin-contact@google.com"}},
		{"2001:4860:4860::8888", "2001:4860::/32", "abuse", "GOOGLE-IPV6", "", []string{"arin-contact@google.com"}},
		// 2015 RIPE: no objectClassName, addresses with a "/32" suffix.
		{"62.239.237.1", "62.239.237.0/24", "abuse", "BT-CORPORATE", "GB", []string{"zzdnsr@bt.com", "steve.a.marshall@bt.com", "lee.bailey-hague@bt.com"}},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			before := time.Now()
			c, err := f.Contact(t.Context(), netip.MustParseAddr(tc.addr))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(c.Emails, tc.emails) || c.Role != tc.role {
				t.Errorf("Emails, Role = %q, %q; want %q, %q", c.Emails, c.Role, tc.emails, tc.role)
			}
			if c.Network != netip.MustParsePrefix(tc.network) || c.Name != tc.name || c.Country != tc.country {
				t.Errorf("Network, Name, Country = %s, %q, %q; want %s, %q, %q", c.Network, c.Name, c.Country, tc.network, tc.name, tc.country)
			}
			if want := srv.URL + "/ip/" + tc.addr; c.Source != want {
				t.Errorf("Source = %q, want %q", c.Source, want)
			}
			if want := "127.0.0.1"; c.Registry != want {
				t.Errorf("Registry = %q, want the test server's host %q", c.Registry, want)
			}
			if c.Fetched.Before(before) || c.PTR != "" {
				t.Errorf("Fetched, PTR = %v, %q; want a fresh time and no PTR", c.Fetched, c.PTR)
			}
		})
	}
}

func TestContactRDAPAbuseEntityWithoutEmail(t *testing.T) {
	// NIC.br truncates the answer: the abuse entity and every other one lack an address.
	f, _ := newRDAPFinder(t)
	_, err := f.Contact(t.Context(), netip.MustParseAddr("177.0.0.1"))
	if err == nil {
		t.Fatal("no error for an answer without any e-mail address")
	}
	for _, want := range []string{"abuse CSIOI", "technical BTC14", "truncated"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestContactRDAPOnlyRolelessEntities(t *testing.T) {
	f, _ := newRDAPFinder(t)
	_, err := f.Contact(t.Context(), netip.MustParseAddr("196.11.240.215"))
	if err == nil || !strings.Contains(err.Error(), "MBIP-AFRINIC") {
		t.Errorf("error = %v, want one naming the role-less entity MBIP-AFRINIC", err)
	}
}

func TestContactRDAPRateLimited(t *testing.T) {
	f, _ := newRDAPFinder(t)
	_, err := f.Contact(t.Context(), netip.MustParseAddr("203.0.113.5"))
	if !errors.Is(err, ErrRateLimited) || !strings.Contains(err.Error(), "rate-limited") || !strings.Contains(err.Error(), "120") {
		t.Errorf("error = %v, want ErrRateLimited with the Retry-After", err)
	}
}

func TestContactRDAPResponseTooLarge(t *testing.T) {
	f, _ := newRDAPFinder(t)
	_, err := f.Contact(t.Context(), netip.MustParseAddr("203.0.113.6"))
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("error = %v, want a response size error", err)
	}
}

func TestContactRDAPTimeout(t *testing.T) {
	f, _ := newRDAPFinder(t)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := f.Contact(ctx, netip.MustParseAddr("203.0.113.8"))
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error = %v, want a deadline error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Contact did not honour the context deadline")
	}
}

func TestContactRDAPNotFound(t *testing.T) {
	f, _ := newRDAPFinder(t)
	_, err := f.Contact(t.Context(), netip.MustParseAddr("203.0.113.7"))
	if err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("error = %v, want a 404 error", err)
	}
}

func TestContactRDAPDisabled(t *testing.T) {
	_, dnsServer := newZoneServer(t)
	f, err := New(Options{Resolvers: []string{dnsServer}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Contact(t.Context(), netip.MustParseAddr("3.3.3.3"))
	if err == nil || !strings.Contains(err.Error(), "RDAP is disabled") {
		t.Errorf("error = %v, want one saying RDAP is disabled", err)
	}
}

func TestContactRDAPConcurrent(t *testing.T) {
	f, _ := newRDAPFinder(t)
	addrs := []string{"3.3.3.3", "193.0.0.0", "1.1.1.1", "41.0.0.1", "2001:4860:4860::8888"}
	errs := make(chan error, len(addrs))
	for _, a := range addrs {
		go func() {
			_, err := f.Contact(t.Context(), netip.MustParseAddr(a))
			errs <- err
		}()
	}
	for range addrs {
		select {
		case err := <-errs:
			if err != nil {
				t.Error(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("concurrent lookups did not finish")
		}
	}
}

// TestContactRDAPEmbeddedBootstrapRegistry goes through the embedded bootstrap to the real
// registry URLs, with a dialer that connects every one of them to the loopback server.
func TestContactRDAPEmbeddedBootstrapRegistry(t *testing.T) {
	srv := httptest.NewTLSServer(rdapHandler(t))
	t.Cleanup(srv.Close)
	tr := srv.Client().Transport.(*http.Transport).Clone()
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, srv.Listener.Addr().String())
	}
	tr.TLSClientConfig = tr.TLSClientConfig.Clone()
	tr.TLSClientConfig.ServerName = "example.com" // the name httptest's certificate is for
	_, dnsServer := newZoneServer(t)
	f, err := New(Options{
		Resolvers:  []string{dnsServer},
		RDAP:       true,
		HTTPClient: &http.Client{Transport: tr},
	})
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]struct{ registry, source string }{
		"3.3.3.3":   {"ARIN", "https://rdap.arin.net/registry/ip/3.3.3.3"},
		"193.0.0.0": {"RIPE NCC", "https://rdap.db.ripe.net/ip/193.0.0.0"},
		"1.1.1.1":   {"APNIC", "https://rdap.apnic.net/ip/1.1.1.1"},
		"41.0.0.1":  {"AFRINIC", "https://rdap.afrinic.net/rdap/ip/41.0.0.1"},
		"179.0.0.1": {"LACNIC", "https://rdap.lacnic.net/rdap/ip/179.0.0.1"},
	} {
		c, err := f.Contact(t.Context(), netip.MustParseAddr(addr))
		if err != nil {
			t.Errorf("%s: %v", addr, err)
			continue
		}
		if c.Registry != want.registry || c.Source != want.source {
			t.Errorf("%s: Registry, Source = %q, %q; want %q, %q", addr, c.Registry, c.Source, want.registry, want.source)
		}
	}
}
