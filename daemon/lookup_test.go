package daemon

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/lookup"
	"github.com/abusewatch/abusewatch/lookup/lookuptest"
	"github.com/abusewatch/abusewatch/store"
	"github.com/prometheus/client_golang/prometheus"
)

// lookupConfig is a config whose lookups go to the loopback RDAP server r.
func lookupConfig(t testing.TB, r *lookuptest.RDAP, extra string) *Config {
	t.Helper()
	dnsServer, _ := lookuptest.ServeZone(t, "host.example.test. 60 IN A 192.0.2.1\n")
	boot := lookuptest.WriteBootstrap(t, r.URL, []string{"0.0.0.0/0"}, []string{"::/0"})
	doc := fmt.Sprintf("[[source]]\nfiles = [\"/var/log/auth.log\"]\n[reporter]\nname = \"Test Admin\"\n[mail]\nfrom = \"a@example.org\"\n"+
		"[lookup]\nresolvers = [%q]\nbootstrap_dir = %q\n%s", dnsServer, boot, extra)
	cfg, err := ParseConfig("lookup.toml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestLookupConfigKeys(t *testing.T) {
	r := lookuptest.NewRDAP(t)
	cfg := lookupConfig(t, r, `rate_limit_wait = "30s"
abuse_zone = "abuse-contacts.abusix.zone"
guess = false
cache_ttl = "2d"
negative_ttl = "10m"
[[cert]]
country = "BR"
emails = ["cert@cert.br"]
[[do_not_contact]]
network = "203.0.113.0/24"
reason = "threatens us"
`)
	l := cfg.Lookup
	if l.RateLimitWait.Duration != 30*time.Second || l.AbuseZone != "abuse-contacts.abusix.zone" || *l.Guess ||
		l.CacheTTL.Duration != 48*time.Hour || l.NegativeTTL.Duration != 10*time.Minute {
		t.Errorf("lookup = %+v", l)
	}
	if len(cfg.CERTs) != 1 || cfg.CERTs[0].Country != "BR" || len(cfg.DoNotContact) != 1 || cfg.DoNotContact[0].Reason != "threatens us" {
		t.Errorf("cert, do_not_contact = %+v, %+v", cfg.CERTs, cfg.DoNotContact)
	}
	f, err := NewFinder(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Contact(t.Context(), netip.MustParseAddr("203.0.113.9")); !errors.Is(err, lookup.ErrDoNotContact) {
		t.Errorf("do-not-contact network: %v", err)
	}
}

func TestLookupConfigBadValues(t *testing.T) {
	base := "[[source]]\nfiles = [\"/var/log/auth.log\"]\n[mail]\nfrom = \"a@example.org\"\n"
	for _, tc := range []struct{ doc, want string }{
		{"[lookup]\nabuse_zone = \"not a zone!\"\n", "lookup.toml:6: lookup.abuse_zone"},
		{"[lookup]\ncache_ttl = \"-1h\"\n", "lookup.toml:6: lookup.cache_ttl: must be positive"},
		{"[lookup]\nresolvers = [\"dns.example\"]\n", "lookup.toml:6: lookup.resolvers"},
		{"[lookup]\nrdap_server = \"rdap.example\"\n", "lookup.toml:6: lookup.rdap_server"},
		{"[[cert]]\ncountry = \"Brazil\"\nemails = [\"cert@cert.br\"]\n", "lookup.toml:6: cert[0].country"},
		{"[[cert]]\ncountry = \"BR\"\n", "lookup.toml:5: cert[0].emails: a [[cert]] needs at least one address"},
		{"[[cert]]\ncountry = \"BR\"\nemails = [\"CERT <cert@cert.br>\"]\n", "lookup.toml:7: cert[0].emails"},
		{"[[do_not_contact]]\nnetwork = \"203.0.113.0/33\"\n", "lookup.toml:6: do_not_contact[0].network"},
		{"[[do_not_contact]]\nnetwork = \"203.0.113.7/24\"\n", "lookup.toml:6: do_not_contact[0].network: 203.0.113.7/24 has address bits set past /24"},
		{"[[do_not_contact]]\nnetwrok = \"203.0.113.0/24\"\n", `did you mean "network"?`},
		{"[lookup]\nnegative_ttl = 3600\n", "lookup.toml:6: lookup.negative_ttl: wrong type"},
	} {
		_, err := ParseConfig("lookup.toml", []byte(base+tc.doc))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error = %v, want %q", tc.doc, err, tc.want)
		}
	}
}

// TestFinderCacheInStoreOutlivesRestart: the registries' answers are kept in the state
// database, so the daemon started again does not ask them again about the same address.
func TestFinderCacheInStoreOutlivesRestart(t *testing.T) {
	r := lookuptest.NewRDAP(t)
	r.AnswerFile("3.0.0.0/9", "../lookup/testdata/rdap/ip_network_arin_3_3_3_3.json")
	cfg := lookupConfig(t, r, "")
	path := filepath.Join(t.TempDir(), "state.db")
	for run := range 2 {
		st, err := store.Open(path, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		f, err := NewFinder(cfg, st)
		if err != nil {
			t.Fatal(err)
		}
		c, err := f.Contact(t.Context(), netip.MustParseAddr("3.3.3.3"))
		st.Close()
		if err != nil || !slices.Equal(c.Emails, []string{"abuse@amazonaws.com"}) {
			t.Fatalf("run %d: %q, %v", run+1, c.Emails, err)
		}
	}
	if n := r.Requests.Load(); n != 1 {
		t.Errorf("RDAP requests over two runs = %d, want 1", n)
	}
}

// BenchmarkFinderCachedInStore is the daemon's lookup for an address cached in the state
// database: the target is under a millisecond (bench/lookup.sh).
func BenchmarkFinderCachedInStore(b *testing.B) {
	r := lookuptest.NewRDAP(b)
	r.AnswerFile("3.0.0.0/9", "../lookup/testdata/rdap/ip_network_arin_3_3_3_3.json")
	st, err := store.Open(filepath.Join(b.TempDir(), "state.db"), time.Second)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	f, err := NewFinder(lookupConfig(b, r, ""), st)
	if err != nil {
		b.Fatal(err)
	}
	const n = 1 << 10
	for i := range n {
		if _, err := f.Contact(b.Context(), netip.AddrFrom4([4]byte{3, 3, byte(i >> 8), byte(i)})); err != nil {
			b.Fatal(err)
		}
	}
	i := 0
	for b.Loop() {
		i = (i + 1) % n
		if _, err := f.Contact(b.Context(), netip.AddrFrom4([4]byte{3, 3, byte(i >> 8), byte(i)})); err != nil {
			b.Fatal(err)
		}
	}
	if r.Requests.Load() != n {
		b.Fatalf("RDAP requests = %d, want %d", r.Requests.Load(), n)
	}
}

// Each lookup is counted under its result, as the metric abusewatch_lookups_total shows
// it: a registry that fails (here a 500) is "failed", not "not-found" (which said the
// address had no contact, and with it every timeout).
func TestLookupsAreCountedByTheirResult(t *testing.T) {
	r := lookuptest.NewRDAP(t)
	r.Answer("45.9.0.0/16", lookuptest.NetworkAnswer(netip.MustParsePrefix("45.9.0.0/16"), "NET-A", "DE", "abuse@a.example"))
	cfg := lookupConfig(t, r, "guess = false\n[[do_not_contact]]\nnetwork = \"45.11.0.0/16\"\n[store]\npath = \""+filepath.Join(t.TempDir(), "state.db")+"\"\n")
	p, err := NewPipeline(cfg, openTestStore(t, cfg), discardLog())
	if err != nil {
		t.Fatal(err)
	}
	r.StormWith(1, 500, "") // the next request fails
	if _, err := p.contact(t.Context(), netip.MustParseAddr("45.9.0.1")); !errors.Is(err, lookup.ErrNoAnswer) {
		t.Errorf("a lookup the registry answered with a 500: %v; want lookup.ErrNoAnswer", err)
	}
	if _, err := p.contact(t.Context(), netip.MustParseAddr("45.9.0.1")); err != nil {
		t.Errorf("a lookup the registry answered: %v", err)
	}
	if _, err := p.contact(t.Context(), netip.MustParseAddr("45.10.0.1")); err == nil || errors.Is(err, lookup.ErrNoAnswer) {
		t.Errorf("a lookup the registry answered with no network (404): %v; want an error, not lookup.ErrNoAnswer", err)
	}
	if _, err := p.contact(t.Context(), netip.MustParseAddr("45.11.0.1")); !errors.Is(err, lookup.ErrDoNotContact) {
		t.Errorf("a lookup of a do-not-contact network: %v", err)
	}
	want := map[string]int64{"found": 1, "not-found": 1, "failed": 1, "do-not-contact": 1}
	if got := p.Counters.lookupResults(); !maps.Equal(got, want) {
		t.Errorf("lookups by result %v; want %v", got, want)
	}
}

// The registry's own requests are metrics of their own (abusewatch_lookups_total counts
// the outbox's questions, the [[contact]] table's and the cache's answers as well), and
// a reload's new Finder goes on counting from where the old one was: a counter that
// fell to 0 at each reload read as a restart.
func TestRDAPRequestsAreCountedAcrossAReload(t *testing.T) {
	r := lookuptest.NewRDAP(t)
	r.Answer("45.9.0.0/16", lookuptest.NetworkAnswer(netip.MustParsePrefix("45.9.0.0/16"), "NET-A", "DE", "abuse@a.example"))
	dnsServer, _ := lookuptest.ServeZone(t, "host.example.test. 60 IN A 192.0.2.1\n")
	lookupKeys := fmt.Sprintf("[lookup]\nresolvers = [%q]\nbootstrap_dir = %q\nguess = false\n", dnsServer,
		lookuptest.WriteBootstrap(t, r.URL, []string{"0.0.0.0/0"}, []string{"::/0"}))
	dir := t.TempDir()
	cfg, err := LoadConfig(writeQuietConfig(t, dir, lookupKeys))
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(cfg, discardLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.store.Close() })
	metric := func(name string) string {
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(&collector{d})
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range families {
			if f.GetName() == name {
				return fmt.Sprint(f.GetMetric()[0].GetCounter().GetValue())
			}
		}
		return "none"
	}
	if _, err := d.pipe.contact(t.Context(), netip.MustParseAddr("45.9.0.1")); err != nil {
		t.Fatal(err)
	}
	if _, err := d.pipe.contact(t.Context(), netip.MustParseAddr("45.9.0.1")); err != nil { // the cache's answer
		t.Fatal(err)
	}
	asked := fmt.Sprint(r.Requests.Load())
	if got := metric("abusewatch_rdap_requests_total"); got != asked || asked == "0" {
		t.Errorf("abusewatch_rdap_requests_total %s; the registry got %s", got, asked)
	}
	if got := metric("abusewatch_lookup_cache_hits_total"); got != "1" {
		t.Errorf("abusewatch_lookup_cache_hits_total %s, want 1", got)
	}
	writeQuietConfig(t, dir, lookupKeys)
	if _, err := d.reload(); err != nil {
		t.Fatal(err)
	}
	if got := metric("abusewatch_rdap_requests_total"); got != asked {
		t.Errorf("after a reload, abusewatch_rdap_requests_total %s, want %s", got, asked)
	}
}
