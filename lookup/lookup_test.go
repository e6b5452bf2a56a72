package lookup

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/openrdap/rdap"
)

func TestEmbeddedBootstrapServers(t *testing.T) {
	b, err := loadBootstrap("")
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]string{
		"3.3.3.3":              "https://rdap.arin.net/registry/",
		"193.0.0.1":            "https://rdap.db.ripe.net/",
		"1.1.1.1":              "https://rdap.apnic.net/",
		"41.0.0.1":             "https://rdap.afrinic.net/rdap/",
		"177.0.0.1":            "https://rdap.lacnic.net/rdap/",
		"::ffff:3.3.3.3":       "https://rdap.arin.net/registry/",
		"2001:4860:4860::8888": "https://rdap.arin.net/registry/",
		"2a00:2381:ffff::1":    "https://rdap.db.ripe.net/",
	} {
		u, err := b.serverFor(netip.MustParseAddr(addr))
		if err != nil {
			t.Errorf("%s: %v", addr, err)
			continue
		}
		if u.String() != want {
			t.Errorf("%s: server %s, want %s", addr, u, want)
		}
	}
	if _, err := b.serverFor(netip.MustParseAddr("10.1.2.3")); err == nil {
		t.Error("private address: no error")
	}
}

func TestBootstrapDirBadFile(t *testing.T) {
	for name, content := range map[string]string{
		"not JSON":     "{",
		"no services":  `{"services":[]}`,
		"IPv6 as IPv4": `{"services":[[["2001:4800::/23"],["https://rdap.arin.net/registry/"]]]}`,
		"bad services": `{"services":[[["3.0.0.0/8"]]]}`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "ipv4.json")
			if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := New(Options{Resolvers: []string{"127.0.0.1:53"}, BootstrapDir: dir})
			if err == nil || !strings.Contains(err.Error(), path) {
				t.Errorf("error = %v, want one naming %s", err, path)
			}
		})
	}
	if _, err := New(Options{Resolvers: []string{"127.0.0.1:53"}, BootstrapDir: t.TempDir()}); err == nil {
		t.Error("empty bootstrap directory: no error")
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	for name, opts := range map[string]Options{
		"resolver without port":  {Resolvers: []string{"dns.example"}},
		"static without emails":  {Resolvers: []string{"127.0.0.1:53"}, Static: []StaticContact{{Network: netip.MustParsePrefix("192.0.2.0/24")}}},
		"static without network": {Resolvers: []string{"127.0.0.1:53"}, Static: []StaticContact{{Emails: []string{"a@example.net"}}}},
		"static bad email":       {Resolvers: []string{"127.0.0.1:53"}, Static: []StaticContact{{Network: netip.MustParsePrefix("192.0.2.0/24"), Emails: []string{"nobody"}}}},
		"negative timeout":       {Resolvers: []string{"127.0.0.1:53"}, Timeout: -1},
		"negative cache TTL":     {Resolvers: []string{"127.0.0.1:53"}, CacheTTL: -1},
		"RDAP server not a URL":  {Resolvers: []string{"127.0.0.1:53"}, RDAPServer: "rdap.example"},
		"CERT without country":   {Resolvers: []string{"127.0.0.1:53"}, CERTs: []NationalCERT{{Country: "Brazil", Emails: []string{"cert@cert.br"}}}},
		"CERT without emails":    {Resolvers: []string{"127.0.0.1:53"}, CERTs: []NationalCERT{{Country: "BR"}}},
		"do-not-contact no net":  {Resolvers: []string{"127.0.0.1:53"}, DoNotContact: []DoNotContact{{Reason: "x"}}},
	} {
		if _, err := New(opts); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	f, err := New(Options{Resolvers: []string{"127.0.0.1"}})
	if err != nil || f.resolvers[0] != "127.0.0.1:53" {
		t.Errorf("bare resolver address: %v, %v; want port 53 added", f, err)
	}
}

// TestContactStaticMostSpecificWins: the static table overrides the registry, the most
// specific entry first, and asks no one (no RDAP, no DNS).
func TestContactStaticMostSpecificWins(t *testing.T) {
	f, _ := newRDAPFinder(t,
		StaticContact{Network: netip.MustParsePrefix("192.0.0.0/8"), Emails: []string{"wide@example.net"}},
		StaticContact{Network: netip.MustParsePrefix("192.0.2.0/24"), Emails: []string{"narrow@example.net", "noc@example.net"}},
		StaticContact{Network: netip.MustParsePrefix("3.3.0.0/16"), Emails: []string{"amazon-override@example.net"}},
		StaticContact{Network: netip.MustParsePrefix("2001:db8::/32"), Emails: []string{"v6@example.net"}},
	)
	for addr, want := range map[string]struct {
		network string
		emails  []string
	}{
		"192.0.2.1":        {"192.0.2.0/24", []string{"narrow@example.net", "noc@example.net"}},
		"::ffff:192.0.2.2": {"192.0.2.0/24", []string{"narrow@example.net", "noc@example.net"}},
		"192.0.3.1":        {"192.0.0.0/8", []string{"wide@example.net"}},
		"3.3.3.3":          {"3.3.0.0/16", []string{"amazon-override@example.net"}},
		"2001:db8::1":      {"2001:db8::/32", []string{"v6@example.net"}},
	} {
		c, err := f.Contact(t.Context(), netip.MustParseAddr(addr))
		if err != nil {
			t.Errorf("%s: %v", addr, err)
			continue
		}
		if c.Network != netip.MustParsePrefix(want.network) || !slices.Equal(c.Emails, want.emails) ||
			c.Role != "static" || c.Source != "config" || c.Registry != "" || c.Fetched.IsZero() {
			t.Errorf("%s: got %+v, want network %s, emails %q, role static, source config", addr, c, want.network, want.emails)
		}
		for _, m := range c.Mailboxes {
			if m.Role != "static" || m.Source != "static" {
				t.Errorf("%s: mailbox %+v, want role and source static", addr, m)
			}
		}
	}
	if n := f.Counters.RDAPRequests.Load(); n != 0 {
		t.Errorf("RDAP requests = %d, want none", n)
	}
}

func TestParseRDAPAddr(t *testing.T) {
	for in, want := range map[string]string{
		"074.125.000.000":                         "74.125.0.0",
		"62.239.237.255/32":                       "62.239.237.255",
		"2001:4860:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF": "2001:4860:ffff:ffff:ffff:ffff:ffff:ffff",
		"2801:10:c000:0:0:0:0:0":                  "2801:10:c000::",
	} {
		got, err := parseRDAPAddr(in)
		if err != nil || got != netip.MustParseAddr(want) {
			t.Errorf("parseRDAPAddr(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "256.0.0.1", "1.2.3", "08.x.0.0"} {
		if _, err := parseRDAPAddr(bad); err == nil {
			t.Errorf("parseRDAPAddr(%q): no error", bad)
		}
	}
}

func TestNetworkOf(t *testing.T) {
	for _, tc := range []struct{ doc, addr, want string }{
		// A range that is no single CIDR block: the largest block inside it holding addr.
		{`{"objectClassName":"ip network","startAddress":"196.11.239.0","endAddress":"196.11.246.255"}`, "196.11.240.215", "196.11.240.0/22"},
		{`{"objectClassName":"ip network","startAddress":"196.11.239.0","endAddress":"196.11.246.255"}`, "196.11.239.7", "196.11.239.0/24"},
		// No usable range: cidr0.
		{`{"objectClassName":"ip network","cidr0_cidrs":[{"v4prefix":"10.0.0.0","length":8},{"v4prefix":"41.0.0.0","length":16}]}`, "41.0.3.4", "41.0.0.0/16"},
		{`{"objectClassName":"ip network","cidr0_cidrs":[{"v6prefix":"2001:db8::","length":32}]}`, "2001:db8::5", "2001:db8::/32"},
		// Nothing usable: the address alone.
		{`{"objectClassName":"ip network","startAddress":"garbage"}`, "192.0.2.1", "192.0.2.1/32"},
	} {
		obj, err := rdap.NewDecoder([]byte(tc.doc)).Decode()
		if err != nil {
			t.Fatal(err)
		}
		got, _, _, err := networkOf(obj.(*rdap.IPNetwork), netip.MustParseAddr(tc.addr))
		if err != nil || got != netip.MustParsePrefix(tc.want) {
			t.Errorf("networkOf(%s, %s) = %s, %v; want %s", tc.doc, tc.addr, got, err, tc.want)
		}
	}
	// An answer whose range does not hold the address speaks of another network.
	for _, tc := range []struct{ doc, addr string }{
		{`{"objectClassName":"ip network","startAddress":"1.0.0.0","endAddress":"1.0.0.255"}`, "177.1.2.3"},
		{`{"objectClassName":"ip network","startAddress":"::","endAddress":"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}`, "177.1.2.3"},
		{`{"objectClassName":"ip network","startAddress":"10.0.0.9","endAddress":"10.0.0.1"}`, "10.0.0.5"},
		{`{"objectClassName":"ip network","cidr0_cidrs":[{"v4prefix":"10.0.0.0","length":8}]}`, "41.0.3.4"},
	} {
		obj, err := rdap.NewDecoder([]byte(tc.doc)).Decode()
		if err != nil {
			t.Fatal(err)
		}
		if got, _, _, err := networkOf(obj.(*rdap.IPNetwork), netip.MustParseAddr(tc.addr)); err == nil {
			t.Errorf("networkOf(%s, %s) = %s, want an error", tc.doc, tc.addr, got)
		}
	}
}
