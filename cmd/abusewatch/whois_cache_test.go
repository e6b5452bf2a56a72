package main

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/lookup/lookuptest"
	"github.com/abusewatch/abusewatch/store"
)

// cachedEmails is what the state database in dir caches for addr (nil: nothing).
func cachedEmails(t *testing.T, dir, addr string) []string {
	t.Helper()
	st, err := store.Open(filepath.Join(dir, "state.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c, ok, err := st.CachedContact(netip.MustParseAddr(addr), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		return nil
	}
	return c.Emails
}

// Review 21 D9: whois --rdap-server URL (or --dns-server) overrides the config for one
// call, so what that server answers is neither written to the state database's cache,
// which the next scan's reports are addressed from, nor is the cache read for it.
func TestWhoisWithAnOverrideLeavesTheCacheAlone(t *testing.T) {
	dir, r, flags := whoisPeers(t)
	other := lookuptest.NewRDAP(t)
	other.Answer("3.0.0.0/9", lookuptest.NetworkAnswer(netip.MustParsePrefix("3.0.0.0/9"), "NEW-OWNER", "US", "abuse@newowner.example"))
	st, err := store.Open(filepath.Join(dir, "state.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	override := append([]string{"whois"}, append(flags, "--rdap-server", other.URL, "3.3.3.3")...)

	stdout, stderr, code := runBinary(t, dir, override...)
	if code != 0 || !strings.Contains(stdout, "abuse@newowner.example") {
		t.Fatalf("whois --rdap-server: exit %d\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "neither read nor written") {
		t.Errorf("whois --rdap-server does not say the cache is not used:\n%s", stdout)
	}
	if got := cachedEmails(t, dir, "3.3.3.3"); got != nil {
		t.Fatalf("the override server's answer is in the state database: %q", got)
	}
	stdout, stderr, _ = runBinary(t, dir, append([]string{"whois"}, append(flags, "3.3.3.3")...)...)
	if !strings.Contains(stdout, "abuse@amazonaws.com") || strings.Contains(stdout, "newowner") || !strings.Contains(stdout, "not cached: asked the registry now") {
		t.Errorf("whois after the override does not ask the configured registry:\n%s%s", stdout, stderr)
	}
	// The configured registry's answer is cached now; the override does not take it.
	stdout, _, _ = runBinary(t, dir, override...)
	if !strings.Contains(stdout, "abuse@newowner.example") || other.Requests.Load() != 2 {
		t.Errorf("the override server asked %d times, want 2 (the cache not read):\n%s", other.Requests.Load(), stdout)
	}
	if got := cachedEmails(t, dir, "3.3.3.3"); !slices.Equal(got, []string{"abuse@amazonaws.com"}) {
		t.Errorf("the state database caches %q for 3.3.3.3, want the configured registry's answer", got)
	}
	if n := r.Requests.Load(); n != 1 {
		t.Errorf("the configured registry asked %d times, want 1", n)
	}
}

// whois --refresh asks the registry again although the state database holds a fresh
// answer, and its answer replaces the cached one (review 21 D6: a network changed hands).
func TestWhoisRefreshReplacesTheCachedAnswer(t *testing.T) {
	dir, r, flags := whoisPeers(t)
	st, err := store.Open(filepath.Join(dir, "state.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	whois := append([]string{"whois"}, append(flags, "3.3.3.3")...)
	if stdout, stderr, code := runBinary(t, dir, whois...); code != 0 || !strings.Contains(stdout, "abuse@amazonaws.com") {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	r.Answer("3.0.0.0/9", lookuptest.NetworkAnswer(netip.MustParsePrefix("3.0.0.0/9"), "NEW-HOLDER", "US", "abuse@newholder.example"))
	stdout, stderr, code := runBinary(t, dir, append([]string{"whois", "--refresh"}, append(flags, "3.3.3.3")...)...)
	if code != 0 || !strings.Contains(stdout, "abuse@newholder.example") || !strings.Contains(stdout, "refreshed: asked the registry again") ||
		!strings.Contains(stdout, "forgot 1 cached answer") {
		t.Errorf("whois --refresh: exit %d\n%s%s", code, stdout, stderr)
	}
	stdout, _, _ = runBinary(t, dir, whois...)
	if !strings.Contains(stdout, "abuse@newholder.example") || !strings.Contains(stdout, "from the cache") || r.Requests.Load() != 2 {
		t.Errorf("whois after --refresh (%d requests): want the new answer from the cache\n%s", r.Requests.Load(), stdout)
	}

	// With an override there is nothing of the state database's to refresh; while the
	// daemon holds the database its entry cannot be replaced: both say so.
	if _, stderr, code := runBinary(t, dir, append([]string{"whois", "--refresh", "--rdap-server", r.URL}, append(flags, "3.3.3.3")...)...); code != 2 || !strings.Contains(stderr, "--refresh") {
		t.Errorf("--refresh with --rdap-server: exit %d, want 2\n%s", code, stderr)
	}
	st, err = store.Open(filepath.Join(dir, "state.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, stderr, code := runBinary(t, dir, append([]string{"whois", "--refresh"}, append(flags, "3.3.3.3")...)...); code == 0 || !strings.Contains(stderr, "the daemon holds the state database") {
		t.Errorf("--refresh while the database is held: exit %d\n%s", code, stderr)
	}
}

// The cache keeps an IPv6 answer for the /64 of the address asked: whois of another
// address of that /64 answers from it, and says that the registry's URL is the query
// whose answer the cache kept (another address's), not one made for this address.
func TestWhoisOfAnotherAddressOfACachedSlash64SaysWhoseQueryItWas(t *testing.T) {
	dir := t.TempDir()
	r := lookuptest.NewRDAP(t)
	r.AnswerFile("2001:4860::/32", repoPath(t, "lookup/testdata/rdap/arin_2001_4860_4860__8888.json"))
	dnsServer, _ := lookuptest.ServeZone(t, whoisZone)
	config := filepath.Join(dir, "abusewatch.toml")
	doc := fmt.Sprintf("[policy]\nmode = \"observe\"\n[store]\npath = %q\n[lookup]\nrdap_server = %q\nresolvers = [%q]\n",
		filepath.Join(dir, "state.db"), r.URL+"/", dnsServer)
	if err := os.WriteFile(config, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(dir, "state.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	runBinary(t, dir, "whois", "--config", config, "2001:4860:4860::8888")
	stdout, stderr, code := runBinary(t, dir, "whois", "--config", config, "2001:4860:4860::8844")
	want := "/ip/2001:4860:4860::8888: the query whose answer the cache kept)"
	if code != 0 || !strings.Contains(stdout, want) || !strings.Contains(stdout, "from the cache") || r.Requests.Load() != 1 {
		t.Errorf("whois of another address of the /64 (%d requests): exit %d, want %q\n%s%s", r.Requests.Load(), code, want, stdout, stderr)
	}
}
