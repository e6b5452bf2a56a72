package main

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/lookup/lookuptest"
	"github.com/abusewatch/abusewatch/store"
)

// whoisZone is the DNS the whois tests see: 3.3.3.3 has a confirmed reverse name,
// dual.example.test two addresses.
const whoisZone = `
3.3.3.3.in-addr.arpa.  60 IN PTR ec2-3-3-3-3.compute.example.test.
ec2-3-3-3-3.compute.example.test. 60 IN A 3.3.3.3
dual.example.test.     60 IN A 3.3.3.3
dual.example.test.     60 IN A 3.3.3.4
`

// whoisPeers starts the loopback RDAP server (ARIN's real answer for 3.0.0.0/9) and DNS
// server, and writes a config that names them, with its own state database; it returns
// the flags to use.
func whoisPeers(t *testing.T) (dir string, r *lookuptest.RDAP, flags []string) {
	t.Helper()
	dir = t.TempDir()
	r = lookuptest.NewRDAP(t)
	r.AnswerFile("3.0.0.0/9", repoPath(t, "lookup/testdata/rdap/ip_network_arin_3_3_3_3.json"))
	dnsServer, _ := lookuptest.ServeZone(t, whoisZone)
	config := filepath.Join(dir, "abusewatch.toml")
	doc := fmt.Sprintf("[policy]\nmode = \"observe\"\n[store]\npath = %q\n[lookup]\nrdap_server = %q\nresolvers = [%q]\n[[cert]]\ncountry = \"US\"\nemails = [\"cert@us-cert.example\"]\n",
		filepath.Join(dir, "state.db"), r.URL+"/", dnsServer)
	if err := os.WriteFile(config, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, r, []string{"--config", config}
}

// TestWhoisJSONShape: --json prints exactly the documented object.
func TestWhoisJSONShape(t *testing.T) {
	dir, _, flags := whoisPeers(t)
	stdout, stderr, code := runBinary(t, dir, append([]string{"whois", "--json"}, append(flags, "3.3.3.3")...)...)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, stdout)
	}
	want := map[string]any{
		"query":          "3.3.3.3",
		"addrs":          []any{"3.3.3.3"},
		"ptr":            "ec2-3-3-3-3.compute.example.test",
		"ptr_confirmed":  true,
		"registry":       "127.0.0.1",
		"network":        "3.0.0.0/9",
		"country":        "",
		"contacts":       []any{map[string]any{"email": "abuse@amazonaws.com", "role": "abuse", "source": "rdap"}},
		"never_reported": "",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("whois --json =\n%s\nwant %v", stdout, want)
	}
}

// TestWhoisStepByStep: the human output names each step: address, reverse name and its
// confirmation, registry, network, cache, contacts with roles.
func TestWhoisStepByStep(t *testing.T) {
	dir, _, flags := whoisPeers(t)
	stdout, stderr, code := runBinary(t, dir, append([]string{"whois"}, append(flags, "3.3.3.3")...)...)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	for _, want := range []string{
		"address       3.3.3.3",
		"reverse name  ec2-3-3-3-3.compute.example.test (forward-confirmed)",
		"registry      127.0.0.1 (http://127.0.0.1:",
		"network       3.0.0.0/9  AT-88-Z",
		"cache         no cache: ", // the database does not exist before the first run
		"contacts      abuse@amazonaws.com  abuse  rdap",
		"steps:",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
}

// TestWhoisSaysWhatIsNeverReported: whois tells an address abusewatch never reports,
// whoever answers for it: special-purpose space, and the config's policy.never_report.
func TestWhoisSaysWhatIsNeverReported(t *testing.T) {
	dir, _, flags := whoisPeers(t)
	config := flags[1]
	doc, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	doc = []byte(strings.Replace(string(doc), "[policy]\n", "[policy]\nnever_report = [\"3.3.3.0/24\"]\n", 1))
	if err := os.WriteFile(config, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, _ := runBinary(t, dir, append([]string{"whois"}, append(flags, "3.3.3.3")...)...)
	if want := "reported      never: policy.never_report lists 3.3.3.0/24"; !strings.Contains(stdout, want) {
		t.Errorf("output lacks %q:\n%s%s", want, stdout, stderr)
	}
	stdout, stderr, _ = runBinary(t, dir, append([]string{"whois", "--json"}, append(flags, "::ffff:198.51.100.9")...)...)
	var got whoisJSON
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s%s", err, stdout, stderr)
	}
	if want := "198.51.100.0/24 is special-purpose"; !strings.HasPrefix(got.NeverReported, want) {
		t.Errorf("never_reported = %q, want it to begin %q", got.NeverReported, want)
	}
	stdout, _, _ = runBinary(t, dir, append([]string{"whois"}, append(flags, "3.3.4.4")...)...)
	if strings.Contains(stdout, "never") {
		t.Errorf("an address that may be reported is said not to be:\n%s", stdout)
	}
}

// Private and reserved space is never reported and no registry answers for it: whois
// says so and asks no one (it asked the registry about 10.20.0.77, then claimed an
// answer "cached for 1h" with the cache not used, and exited 1 with RDAP off).
func TestWhoisAsksNoOneAboutSpecialPurposeSpace(t *testing.T) {
	dir, r, flags := whoisPeers(t)
	for _, q := range []string{"10.20.0.77", "192.0.2.7", "::ffff:10.1.2.3"} {
		stdout, stderr, code := runBinary(t, dir, append([]string{"whois"}, append(flags, q)...)...)
		if code != 0 || !strings.Contains(stdout, "is special-purpose") || !strings.Contains(stdout, "not looked up") ||
			strings.Contains(stdout, "cached for") {
			t.Errorf("whois %s: exit %d\n%s%s", q, code, stdout, stderr)
		}
	}
	if hits := r.Hits(); len(hits) != 0 {
		t.Errorf("the registry was asked %d times about special-purpose space: %+v", len(hits), hits)
	}
	if _, err := os.Stat(filepath.Join(dir, "state.db")); err == nil {
		t.Error("whois of special-purpose space made a state database")
	}
}

// TestWhoisCacheAgeFromDatabase: with a state database no daemon holds, the second whois
// finds the first one's answer there and says how old it is, without asking the registry.
func TestWhoisCacheAgeFromDatabase(t *testing.T) {
	dir, r, flags := whoisPeers(t)
	st, err := store.Open(filepath.Join(dir, "state.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	for i, want := range []string{"not cached: asked the registry now", "from the cache"} {
		stdout, stderr, code := runBinary(t, dir, append([]string{"whois"}, append(flags, "3.3.3.3")...)...)
		if code != 0 {
			t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
		}
		if !strings.Contains(stdout, want) || (i == 1 && !strings.Contains(stdout, "answer fetched")) {
			t.Errorf("whois %d does not say %q:\n%s", i+1, want, stdout)
		}
	}
	if n := r.Requests.Load(); n != 1 {
		t.Errorf("RDAP requests = %d, want 1", n)
	}
}

// TestWhoisDaemonHoldsDatabase: while another process holds the state database, whois says
// so and looks up without the cache instead of failing.
func TestWhoisDaemonHoldsDatabase(t *testing.T) {
	dir, _, flags := whoisPeers(t)
	st, err := store.Open(filepath.Join(dir, "state.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	stdout, stderr, code := runBinary(t, dir, append([]string{"whois"}, append(flags, "3.3.3.3")...)...)
	if code != 0 || !strings.Contains(stdout, "the daemon holds the state database") || !strings.Contains(stdout, "abuse@amazonaws.com") {
		t.Errorf("exit %d\n%s%s", code, stdout, stderr)
	}
}

// TestWhoisAmbiguousName: a name with two addresses is marked ambiguous, the first looked up.
func TestWhoisAmbiguousName(t *testing.T) {
	dir, _, flags := whoisPeers(t)
	stdout, stderr, code := runBinary(t, dir, append([]string{"whois"}, append(flags, "dual.example.test")...)...)
	if code != 0 || !strings.Contains(stdout, "3.3.3.3, 3.3.3.4 (ambiguous") {
		t.Errorf("exit %d\n%s%s", code, stdout, stderr)
	}
}

// TestWhoisNationalCERT: the config's CERT table adds the CERT of the network's country.
func TestWhoisNationalCERT(t *testing.T) {
	dir, r, flags := whoisPeers(t)
	r.Answer("45.134.26.0/24", lookuptest.NetworkAnswer(netip.MustParsePrefix("45.134.26.0/24"), "EXAMPLE-US", "US", "abuse@isp.example"))
	stdout, stderr, code := runBinary(t, dir, append([]string{"whois"}, append(flags, "45.134.26.9")...)...)
	if code != 0 || !strings.Contains(stdout, "abuse@isp.example") || !strings.Contains(stdout, "cert@us-cert.example  cert") ||
		!strings.Contains(stdout, "country US") {
		t.Errorf("exit %d\n%s%s", code, stdout, stderr)
	}
}

// TestWhoisNoContactExitsNonZero: nothing found is exit status 1 with the reason, and the
// JSON still says what was found.
func TestWhoisNoContactExitsNonZero(t *testing.T) {
	dir, _, flags := whoisPeers(t)
	stdout, stderr, code := runBinary(t, dir, append([]string{"whois", "--json"}, append(flags, "5.6.7.1")...)...)
	if code != 1 || !strings.Contains(stderr, "404") {
		t.Errorf("exit %d, want 1 and the registry's 404 on stderr\n%s%s", code, stdout, stderr)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(stdout), &got); err != nil || len(got["contacts"].([]any)) != 0 {
		t.Errorf("--json without a contact: %v\n%s", err, stdout)
	}
}

func TestWhoisUsage(t *testing.T) {
	for _, args := range [][]string{{"whois"}, {"whois", "a", "b"}, {"whois", "--rdap-server", "not a url", "3.3.3.3"}} {
		_, stderr, code := runBinary(t, t.TempDir(), args...)
		if code != 2 || !strings.Contains(stderr, "Try: abusewatch whois -h") {
			t.Errorf("%q: exit %d, want 2 with a hint\n%s", args, code, stderr)
		}
	}
}

// A query that is neither an address nor a host name (a network, a word with a "!", an
// address with an IPv6 zone) is a mistake in the command line: exit 2, and no JSON
// answer on stdout. It was looked up: exit 1, beside an answer with "addrs": [], and
// the zone was taken into the network it printed.
func TestWhoisRefusesWhatIsNeitherAnAddressNorAName(t *testing.T) {
	dir, _, flags := whoisPeers(t)
	for _, q := range []string{"45.1.2.0/24", "not_a_host!", "fe80::1%eth0", "a..example"} {
		stdout, stderr, code := runBinary(t, dir, append([]string{"whois", "--json"}, append(flags, q)...)...)
		if code != 2 || stdout != "" || !strings.Contains(stderr, "Try: abusewatch whois -h") {
			t.Errorf("whois %s: exit %d, want 2 and nothing on stdout\n%s%s", q, code, stdout, stderr)
		}
	}
	if _, stderr, _ := runBinary(t, dir, append([]string{"whois"}, append(flags, "45.1.2.0/24")...)...); !strings.Contains(stderr, "abusewatch net 45.1.2.0/24") {
		t.Errorf("whois of a network does not point to net:\n%s", stderr)
	}
}

// TestWhoisPrintsRegistryTextWithoutControlCharacters: what a registry said reaches the
// admin's terminal, and may come from the attacker's own provider (by referral) or from a
// cache entry written before addresses were checked: an ESC sequence or a CR (which draws a
// fake "contacts" line over the real one) must not reach the terminal, nor the JSON.
func TestWhoisPrintsRegistryTextWithoutControlCharacters(t *testing.T) {
	dir, r, flags := whoisPeers(t)
	st, err := store.Open(filepath.Join(dir, "state.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	hostile := abusewatch.Contact{
		Network:   netip.MustParsePrefix("3.0.0.0/9"),
		Emails:    []string{"abuse@amazonaws.com"},
		Mailboxes: []abusewatch.Mailbox{{Email: "abuse@amazonaws.com", Role: "abuse\rcontacts      abuse@victim.example  abuse  rdap\x1b[8m", Source: "rdap\x1b]0;owned\x07"}},
		Role:      "abuse",
		Source:    "http://127.0.0.1/ip/3.3.3.3\x1b[2J",
		Registry:  "ARIN\r\x1b[1A",
		Name:      "AT-88-Z\x1b[31m\u009b2J\u202e",
		Country:   "U\x1bS",
		Fetched:   time.Now(),
	}
	if err := st.CacheContact(netip.MustParsePrefix("3.3.3.3/32"), hostile, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	st.Close()
	for _, args := range [][]string{{"whois"}, {"whois", "--json"}} {
		stdout, stderr, code := runBinary(t, dir, append(args, append(flags, "3.3.3.3")...)...)
		if code != 0 || !strings.Contains(stdout, "abuse@amazonaws.com") {
			t.Fatalf("%q: exit %d\n%s%s", args, code, stdout, stderr)
		}
		if strings.ContainsAny(stdout, "\r\x1b\x07\u009b\u202e") || strings.Contains(stdout, `\u001b`) || strings.Contains(stdout, `\r`) {
			t.Errorf("%q: control characters reach the terminal:\n%q", args, stdout)
		}
	}
	if n := r.Requests.Load(); n != 0 {
		t.Errorf("RDAP requests = %d, want the cached answer used", n)
	}
}

// TestWhoisReferralForWholeSpaceNotCached: NIC.br's answer links to a server answering for
// all of IPv4 with a bystander's address. whois ignores that answer, says so, and leaves
// nothing in the state database that another address (8.8.8.8) would be answered with.
func TestWhoisReferralForWholeSpaceNotCached(t *testing.T) {
	dir, r, flags := whoisPeers(t)
	evil := lookuptest.NewRDAP(t)
	evil.Answer("0.0.0.0/0", lookuptest.NetworkAnswer(netip.MustParsePrefix("0.0.0.0/0"), "EVIL", "", "abuse@victim.example"))
	br, err := os.ReadFile(repoPath(t, "lookup/testdata/rdap/ip_network_br.json"))
	if err != nil {
		t.Fatal(err)
	}
	r.Answer("177.0.0.0/14", lookuptest.WithRelatedLink(t, br, evil.URL+"/ip/177.0.0.0/14"))
	st, err := store.Open(filepath.Join(dir, "state.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	stdout, stderr, _ := runBinary(t, dir, append([]string{"whois"}, append(flags, "177.1.2.3")...)...)
	if strings.Contains(stdout, "victim") || !strings.Contains(stdout, "which is not within 177.0.0.0-177.3.255.255") {
		t.Errorf("177.1.2.3: want the referred answer ignored, with the reason\n%s%s", stdout, stderr)
	}
	stdout, stderr, _ = runBinary(t, dir, append([]string{"whois"}, append(flags, "8.8.8.8")...)...)
	if strings.Contains(stdout, "victim") || strings.Contains(stdout, "from the cache") {
		t.Errorf("8.8.8.8 is answered from the cache:\n%s%s", stdout, stderr)
	}
}
