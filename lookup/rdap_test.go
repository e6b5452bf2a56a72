package lookup

import (
	"context"
	"encoding/json"
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
	"github.com/openrdap/rdap"
)

// rdapAnswers maps the address a test asks about to the real registry answer served for it.
var rdapAnswers = map[string]string{
	"3.3.3.3":                   "ip_network_arin_3_3_3_3.json",
	"193.0.0.0":                 "ip_network_ripe_193_0_0_0.json",
	"1.1.1.1":                   "ip_network_apnic_1_1_1_1.json",
	"41.0.0.1":                  "ip_network_afrinic.json",
	"177.0.0.1":                 "ip_network_br.json",
	"179.0.0.1":                 "ip_network_lacnic.json",
	"74.125.225.229":            "arin_74.125.225.229.json",
	"62.239.237.1":              "ripe_62.239.237.1.json",
	"2001:4860:4860::8888":      "arin_2001_4860_4860__8888.json",
	"196.11.240.215":            "afrinic_196.11.240.215.json",
	"2001:43f8:7b0::1":          "afrinic_2001_43f8_7b0__.json",
	"2001:240:10c:1::ca20:9d1d": "apnic_2001_240_10c_1__ca20_9d1d.json",
	"210.107.73.73":             "apnic_210.107.73.73.json",
	"200.57.141.161":            "lacnic_200.57.141.161.json",
	"2801:10:c000::":            "lacnic_2801_10_c000__.json",
	"2a00:2381:ffff::1":         "ripe_2a00_2381_ffff__1.json",
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
		[]string{"1.0.0.0/8", "3.0.0.0/8", "41.0.0.0/8", "62.0.0.0/8", "74.0.0.0/8", "177.0.0.0/8", "179.0.0.0/8", "193.0.0.0/8",
			"196.0.0.0/8", "200.0.0.0/8", "210.0.0.0/8", "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"},
		[]string{"2001::/16", "2801::/16", "2a00::/12"})
}

// newRDAPFinder returns a Finder whose RDAP and DNS peers are all on loopback.
func newRDAPFinder(t *testing.T, static ...StaticContact) (*Finder, *httptest.Server) {
	t.Helper()
	return newRDAPFinderWith(t, Options{Static: static})
}

// newRDAPFinderWith is newRDAPFinder with more options; it fills in the peers.
func newRDAPFinderWith(t *testing.T, opts Options) (*Finder, *httptest.Server) {
	t.Helper()
	srv := httptest.NewServer(rdapHandler(t))
	t.Cleanup(srv.Close)
	_, dnsServer := newZoneServer(t)
	opts.Resolvers = []string{dnsServer}
	opts.Timeout = 5 * time.Second
	opts.RDAP = true
	opts.BootstrapDir = writeBootstrap(t, srv.URL)
	f, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return f, srv
}

// TestContactRDAP serves every real registry answer in testdata/rdap and checks the contact
// picked from each: the right role in the right order, the network, name and country.
func TestContactRDAP(t *testing.T) {
	f, srv := newRDAPFinder(t)
	for _, tc := range []struct {
		addr, network, role, name, country string
		emails                             []string
	}{
		// ARIN: the abuse POC is nested inside the registrant entity.
		{"3.3.3.3", "3.0.0.0/9", "abuse", "AT-88-Z", "", []string{"abuse@amazonaws.com"}},
		// APNIC Labs: the IRT is APNIC's own (abuse@apnic.net, not the network's operator);
		// the network's remark says "All Cloudflare abuse reporting can be done via …".
		{"1.1.1.1", "1.1.1.0/24", "abuse", "APNIC-LABS", "AU", []string{"resolver-abuse@cloudflare.com"}},
		// AFRINIC: no abuse entity at all, so the technical contact.
		{"41.0.0.1", "41.0.0.0/16", "technical", "41.0.0.0 - 41.0.255.255", "ZA", []string{"Jacques.hendricks@vodacom.co.za"}},
		{"179.0.0.1", "179.0.0.0/23", "abuse", "179.0.0.0/23", "", []string{"tomas.cribb@neuralsoft.com"}},
		// 2015 ARIN: zero-padded IPv4 and IPv6 range ends.
		{"74.125.225.229", "74.125.0.0/16", "abuse", "GOOGLE", "", []string{"arin-contact@google.com"}},
		{"2001:4860:4860::8888", "2001:4860::/32", "abuse", "GOOGLE-IPV6", "", []string{"arin-contact@google.com"}},
		// 2015 RIPE: no objectClassName, addresses with a "/32" (or "/128") suffix.
		{"62.239.237.1", "62.239.237.0/24", "abuse", "BT-CORPORATE", "GB", []string{"zzdnsr@bt.com", "steve.a.marshall@bt.com", "lee.bailey-hague@bt.com"}},
		{"2a00:2381:ffff::1", "2a00:2381:ffff::/64", "abuse", "BT-WORLD-IPVSIX-LAUNCH", "GB", []string{"zzdnsr@bt.com", "steve.a.marshall@bt.com", "lee.bailey-hague@bt.com"}},
		// 2015 APNIC: the abuse entity is the KRNIC IRT, the national registry's own
		// hostmaster; the ISP's technical entity names its own addresses.
		{"210.107.73.73", "210.107.0.0/17", "technical", "BORANET-NET-210-107", "KR", []string{"ipadm@nic.bora.net", "abuse@bora.net", "security@bora.net"}},
		// 2015 LACNIC: one entity with every role; single-address networks.
		{"200.57.141.161", "200.57.141.161/32", "abuse", "Triara.com, S.A. de C.V.", "MX", []string{"operacion.redes@TRIARA.COM"}},
		{"2801:10:c000::", "2801:10:c000::/128", "abuse", "Universidad Catolica de Oriente", "CO", []string{"sistemas.red@UCO.EDU.CO"}},
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
			for i, m := range c.Mailboxes {
				if m.Email != tc.emails[i] || m.Role != tc.role || m.Source != "rdap" {
					t.Errorf("Mailboxes[%d] = %+v, want %s with role %s from rdap", i, m, tc.emails[i], tc.role)
				}
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
			if c.Fetched.Before(before) || c.PTR != "" || c.Guess || c.Problem != "" {
				t.Errorf("Fetched, PTR, Guess, Problem = %v, %q, %v, %q; want a fresh time and nothing else", c.Fetched, c.PTR, c.Guess, c.Problem)
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

// TestContactRDAPOnlyRolelessEntities: old AFRINIC answers give entities no role at all;
// an address whose role nobody stated is not an abuse desk, so nothing is picked.
func TestContactRDAPOnlyRolelessEntities(t *testing.T) {
	f, _ := newRDAPFinder(t)
	_, err := f.Contact(t.Context(), netip.MustParseAddr("2001:43f8:7b0::1"))
	if err == nil || !strings.Contains(err.Error(), "TT8-AFRINIC") {
		t.Errorf("error = %v, want one naming the role-less entity TT8-AFRINIC", err)
	}
}

// TestContactRDAPAbuseAddressInRemark: the same old AFRINIC format, where the record's
// remark says "please send abuse reports to abuse@mtnbusiness.co.za": that address is taken,
// as a person reading the record would.
func TestContactRDAPAbuseAddressInRemark(t *testing.T) {
	f, _ := newRDAPFinder(t)
	c, err := f.Contact(t.Context(), netip.MustParseAddr("196.11.240.215"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Emails, []string{"abuse@mtnbusiness.co.za"}) || c.Role != "abuse" || c.Network != netip.MustParsePrefix("196.11.240.0/22") || c.Country != "ZA" {
		t.Errorf("got %+v; want the remark's abuse address for 196.11.240.0/22", c)
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
	addrs := []string{"3.3.3.3", "62.239.237.1", "1.1.1.1", "41.0.0.1", "2001:4860:4860::8888"}
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
		"3.3.3.3":      {"ARIN", "https://rdap.arin.net/registry/ip/3.3.3.3"},
		"62.239.237.1": {"RIPE NCC", "https://rdap.db.ripe.net/ip/62.239.237.1"},
		"1.1.1.1":      {"APNIC", "https://rdap.apnic.net/ip/1.1.1.1"},
		"41.0.0.1":     {"AFRINIC", "https://rdap.afrinic.net/rdap/ip/41.0.0.1"},
		"179.0.0.1":    {"LACNIC", "https://rdap.lacnic.net/rdap/ip/179.0.0.1"},
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

// TestPickMailboxesQuirks: quirks seen in registry data that the shared answers lack.
func TestPickMailboxesQuirks(t *testing.T) {
	for _, tc := range []struct{ name, doc, role string }{
		{"mailto URI and upper-case role", `{"objectClassName":"ip network","entities":[{"handle":"A","roles":["Abuse"],
			"vcardArray":["vcard",[["version",{},"text","4.0"],["email",{},"text","mailto:abuse@isp.example"]]]}]}`, "abuse"},
		{"abuse remark beats the technical role", `{"objectClassName":"ip network","remarks":[{"description":["Abuse reports: abuse@isp.example please"]}],
			"entities":[{"handle":"T","roles":["technical"],"vcardArray":["vcard",[["version",{},"text","4.0"],["email",{},"text","noc@isp.example"]]]}]}`, "abuse"},
		{"a remark without the word is not an abuse address", `{"objectClassName":"ip network","remarks":[{"description":["Questions: info@other.example"]}],
			"entities":[{"handle":"T","roles":["technical"],"vcardArray":["vcard",[["version",{},"text","4.0"],["email",{},"text","abuse@isp.example"]]]}]}`, "technical"},
	} {
		obj, err := rdap.NewDecoder([]byte(tc.doc)).Decode()
		if err != nil {
			t.Fatal(err)
		}
		mbs, why, _ := pickMailboxes(obj.(*rdap.IPNetwork))
		if len(mbs) != 1 || mbs[0].Email != "abuse@isp.example" || mbs[0].Role != tc.role {
			t.Errorf("%s: %+v (%s); want abuse@isp.example as %s", tc.name, mbs, why, tc.role)
		}
	}
}

// What an answer names is shown on the admin's terminal (whois and its steps) and in
// the memo, and an answer may come from a referral to the attacking network's own
// provider: its name and country arrive as printable text, or not at all.
func TestContactRDAPNameIsPrintable(t *testing.T) {
	r := lookuptest.NewRDAP(t)
	r.Answer("3.0.0.0/9", lookuptest.NetworkAnswer(netip.MustParsePrefix("3.0.0.0/9"), "EVIL\x1b]0;owned\x07\x1b[2J\u009b2J\u202eNET\nnext line", "U\x1bS", "abuse@evil.example"))
	f := newFinderFor(t, r, Options{})
	c, err := f.Contact(t.Context(), netip.MustParseAddr("3.3.3.3"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "EVIL]0;owned[2J2JNET next line" || c.Country != "" {
		t.Errorf("Name, Country = %q, %q", c.Name, c.Country)
	}
	if c.Emails[0] != "abuse@evil.example" {
		t.Errorf("Emails = %q", c.Emails)
	}
}

// netDoc is an ip network answer for 198.51.0.0/16 with the given remarks and entities (JSON).
func netDoc(remarks, entities string) []byte {
	return []byte(`{"objectClassName":"ip network","handle":"CUST","name":"CUST","startAddress":"198.51.0.0","endAddress":"198.51.255.255",
		"remarks":[` + remarks + `],"entities":[` + entities + `]}`)
}

// entityDoc is an entity with roles (JSON list), vCard email properties (JSON), remarks (JSON) and nested entities (JSON).
func entityDoc(handle, roles, emails, remarks, nested string) string {
	props := `["version",{},"text","4.0"],["fn",{},"text","` + handle + `"]`
	if emails != "" {
		props += "," + emails
	}
	return `{"objectClassName":"entity","handle":"` + handle + `","roles":` + roles + `,"vcardArray":["vcard",[` + props + `]],
		"remarks":[` + remarks + `],"entities":[` + nested + `]}`
}

// TestContactRDAPMalformedEmailsDropped: a vCard value that is not exactly one address
// (a list, a display name, a mailto URI with more recipients, half an address, a header
// after a line break) is dropped and noted, so the technical contact is used instead; a
// mailto URI gives its address without its query.
func TestContactRDAPMalformedEmailsDropped(t *testing.T) {
	for _, tc := range []struct{ value, want string }{
		{"abuse@a.example; victim@b.example", "noc@customer.example"},
		{"abuse@a.example, victim@b.example", "noc@customer.example"},
		{"abuse@a.example (24/7)", "noc@customer.example"},
		{"Abuse Desk <victim@b.example>", "noc@customer.example"},
		{"abuse@", "noc@customer.example"},
		{"@", "noc@customer.example"},
		{"abuse @ a.example", "noc@customer.example"},
		{"abuse@a.example\r\nBcc: victim@b.example", "noc@customer.example"},
		{"abuse@a.example\x1b[8m", "noc@customer.example"},
		{"root@localhost", "noc@customer.example"},
		{"mailto:abuse@a.example,victim@b.example", "noc@customer.example"},
		{"mailto:abuse@a.example?cc=victim@b.example", "abuse@a.example"},
		{" MAILTO:abuse@a.example ", "abuse@a.example"},
	} {
		value, _ := json.Marshal(tc.value)
		r := lookuptest.NewRDAP(t)
		r.Answer("198.51.0.0/16", netDoc("", entityDoc("A", `["abuse"]`, `["email",{},"text",`+string(value)+`]`, "", "")+","+
			entityDoc("T", `["technical"]`, `["email",{},"text","noc@customer.example"]`, "", "")))
		f := newFinderFor(t, r, Options{})
		fd, err := f.Whois(t.Context(), "198.51.1.1")
		if err != nil || !slices.Equal(fd.Contact.Emails, []string{tc.want}) {
			t.Errorf("%q: got %q, %v; want %s", tc.value, fd.Contact.Emails, err, tc.want)
		}
		if notes := strings.Join(fd.Notes, "\n"); tc.want != "abuse@a.example" && !strings.Contains(notes, "not one e-mail address") {
			t.Errorf("%q: notes %q do not say it was dropped", tc.value, notes)
		}
	}
}

// TestContactRDAPAbuseEntityBeatsTypedAbuseElsewhere: an address typed "abuse" on an
// entity of another role (an upstream's NOC nested in the registrant, a reseller) does not
// beat the abuse entity's own; it is used only when no abuse entity has an address.
func TestContactRDAPAbuseEntityBeatsTypedAbuseElsewhere(t *testing.T) {
	registrant := entityDoc("ORG", `["registrant"]`, "", "", entityDoc("UPSTREAM-NOC", `["noc"]`, `["email",{"type":"abuse"},"text","abuse@upstream.example"]`, "", ""))
	reseller := entityDoc("RES", `["reseller"]`, `["email",{"type":"abuse"},"text","abuse@reseller.example"]`, "", "")
	for name, tc := range map[string]struct {
		abuse string
		want  []string
	}{
		"abuse entity with an address": {entityDoc("ABUSE", `["abuse"]`, `["email",{},"text","abuse@customer.example"]`, "", ""), []string{"abuse@customer.example"}},
		"abuse entity without one":     {entityDoc("ABUSE", `["abuse"]`, "", "", ""), []string{"abuse@upstream.example", "abuse@reseller.example"}},
	} {
		r := lookuptest.NewRDAP(t)
		r.Answer("198.51.0.0/16", netDoc("", tc.abuse+","+registrant+","+reseller))
		c, err := newFinderFor(t, r, Options{}).Contact(t.Context(), netip.MustParseAddr("198.51.7.7"))
		if err != nil || !slices.Equal(c.Emails, tc.want) || c.Role != "abuse" {
			t.Errorf("%s: got %q as %s, %v; want %q", name, c.Emails, c.Role, err, tc.want)
		}
	}
}

// TestContactRDAPRemarkAddresses: a remark gives an address for abuse reports only when it
// is the network's own or its abuse entity's, and says so plainly; never in a negated
// sentence, never from another entity's remarks.
func TestContactRDAPRemarkAddresses(t *testing.T) {
	tech := entityDoc("TECH", `["technical"]`, `["email",{},"text","noc@customer.example"]`, "", "")
	remark := func(lines ...string) string { return `{"description":[` + strings.Join(lines, ",") + `]}` }
	for name, tc := range map[string]struct {
		remarks, entities, want string
	}{
		"negated, in the network's remarks":   {remark(`"Abuse reports about our customers are NOT handled by ceo@customer.example or by legal@lawfirm.example."`), tech, "noc@customer.example"},
		"in the registrant's remarks":         {"", tech + "," + entityDoc("ORG", `["registrant"]`, "", remark(`"Please send abuse reports to ceo@customer.example"`), ""), "noc@customer.example"},
		"no word for where reports go":        {remark(`"Abuse is taken seriously. Sales: sales@customer.example"`), tech, "noc@customer.example"},
		"in the abuse entity's remarks":       {"", tech + "," + entityDoc("ABUSE", `["abuse"]`, "", remark(`"Abuse reports: abuse-desk@customer.example"`), ""), "abuse-desk@customer.example"},
		"over two lines":                      {remark(`"All abuse reporting can be done via"`, `"abuse-desk@customer.example"`), tech, "abuse-desk@customer.example"},
		"one sentence negated, the other not": {remark(`"Do not send abuse reports to ceo@customer.example. Send abuse reports to abuse-desk@customer.example."`), tech, "abuse-desk@customer.example"},
	} {
		r := lookuptest.NewRDAP(t)
		r.Answer("198.51.0.0/16", netDoc(tc.remarks, tc.entities))
		c, err := newFinderFor(t, r, Options{}).Contact(t.Context(), netip.MustParseAddr("198.51.7.7"))
		if err != nil || !slices.Equal(c.Emails, []string{tc.want}) {
			t.Errorf("%s: got %q, %v; want %s", name, c.Emails, err, tc.want)
		}
	}
}

// TestContactRDAPRegistryOwnMailboxIsNoContact: a registry names itself for space it holds
// (RIPE NCC's own /21, an unallocated /8) or administers for others (JPNIC's hostmaster
// for an ISP's /32): it does not run those networks, so there is no contact, and the
// error and the steps say that only the registry answered, naming it.
func TestContactRDAPRegistryOwnMailboxIsNoContact(t *testing.T) {
	f, _ := newRDAPFinder(t)
	r := lookuptest.NewRDAP(t)
	r.Answer("185.0.0.0/8", []byte(`{"objectClassName":"ip network","handle":"RIPE-NCC-185-BLOCK","startAddress":"185.0.0.0","endAddress":"185.255.255.255",
		"entities":[`+entityDoc("OPS4-RIPE", `["abuse"]`, `["email",{"type":"abuse"},"text","abuse@ripe.net"]`, "", "")+`]}`))
	block := newFinderFor(t, r, Options{})
	for _, tc := range []struct {
		f              *Finder
		addr, registry string
	}{
		{f, "193.0.0.0", "RIPE NCC"},
		{f, "2001:240:10c:1::ca20:9d1d", "JPNIC"},
		{block, "185.1.2.3", "RIPE NCC"},
	} {
		fd, err := tc.f.Whois(t.Context(), tc.addr)
		if err == nil || len(fd.Contact.Emails) != 0 {
			t.Errorf("%s: got %q, %v; want no contact", tc.addr, fd.Contact.Emails, err)
			continue
		}
		for _, s := range []string{err.Error(), strings.Join(fd.Notes, "\n")} {
			if !strings.Contains(s, "only the registry answered ("+tc.registry+" names no one but itself") {
				t.Errorf("%s: %q does not say only %s answered", tc.addr, s, tc.registry)
			}
		}
	}
}

func TestRemarkAddresses(t *testing.T) {
	for text, want := range map[string][]string{
		"please send abuse reports to abuse@mtnbusiness.co.za":                                                         {"abuse@mtnbusiness.co.za"},
		"--------------- All Cloudflare abuse reporting can be done via resolver-abuse@cloudflare.com ---------------": {"resolver-abuse@cloudflare.com"},
		"Abuse contact: a@x.example, b@y.example":                                                                      {"a@x.example", "b@y.example"},
		"Abuse reports are NOT handled by ceo@customer.example":                                                        nil,
		"We never read abuse mail sent to x@y.example":                                                                 nil,
		"Abuse reports don't go to x@y.example":                                                                        nil,
		"If related with spam, send mail to abuse@bora.net":                                                            nil, // "abuse" only inside the address
		"Contact: info@x.example":                                                                                      nil,
		"Abuse: 1@x.example 2@x.example 3@x.example 4@x.example 5@x.example 6@x.example":                               {"1@x.example", "2@x.example", "3@x.example", "4@x.example"},
	} {
		if got := remarkAddresses(text); !slices.Equal(got, want) {
			t.Errorf("remarkAddresses(%q) = %q, want %q", text, got, want)
		}
	}
}
