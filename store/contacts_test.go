package store

import (
	"encoding/json"
	"net/netip"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	bolt "go.etcd.io/bbolt"
)

func contact(network, email string) abusewatch.Contact {
	return abusewatch.Contact{
		Network:   netip.MustParsePrefix(network),
		Emails:    []string{email},
		Mailboxes: []abusewatch.Mailbox{{Email: email, Role: "abuse", Source: "rdap"}},
		Role:      "abuse", Registry: "RIPE NCC", Country: "NL",
		Fetched: time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC),
	}
}

// TestCachedContactMostSpecificBlock: the entry of the most specific cached block
// holding the address answers, with everything the registry said; an address of the
// answer's network outside every block is a miss.
func TestCachedContactMostSpecificBlock(t *testing.T) {
	s := openTemp(t)
	now := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	for block, c := range map[string]abusewatch.Contact{
		"193.0.6.139/32":       contact("193.0.0.0/21", "abuse@ripe.net"),
		"2001:db8:0:1::/64":    contact("2001:db8::/32", "v6@example.net"),
		"2001:db8:0:1::/120":   contact("2001:db8:0:1::/120", "v6-120@example.net"),
		"::ffff:193.0.7.1/128": contact("193.0.0.0/21", "mapped@example.net"),
	} {
		if err := s.CacheContact(netip.MustParsePrefix(block), c, now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	for addr, want := range map[string]string{
		"193.0.6.139":        "abuse@ripe.net",
		"::ffff:193.0.6.139": "abuse@ripe.net",
		"193.0.6.140":        "",
		"193.0.7.1":          "mapped@example.net",
		"2001:db8:0:1::5":    "v6-120@example.net",
		"2001:db8:0:1::1:5":  "v6@example.net",
		"2001:db8:0:2::5":    "",
	} {
		c, ok, err := s.CachedContact(netip.MustParseAddr(addr), now)
		got := ""
		if ok {
			got = c.Emails[0]
		}
		if err != nil || got != want {
			t.Errorf("CachedContact(%s) = %q, %v; want %q", addr, got, err, want)
		}
	}
	c, _, _ := s.CachedContact(netip.MustParseAddr("193.0.6.139"), now)
	if want := contact("193.0.0.0/21", "abuse@ripe.net"); !slices.Equal(c.Mailboxes, want.Mailboxes) || c.Network != want.Network || c.Country != "NL" || !c.Fetched.Equal(want.Fetched) {
		t.Errorf("cached contact = %+v, want %+v", c, want)
	}
	if n, err := s.ForgetContacts(netip.MustParseAddr("2001:db8:0:1::5")); n != 2 || err != nil {
		t.Errorf("ForgetContacts = %d, %v; want the /120 and the /64", n, err)
	}
	if _, ok, _ := s.CachedContact(netip.MustParseAddr("2001:db8:0:1::1:5"), now); ok {
		t.Error("the /64 still answers after ForgetContacts")
	}
}

// TestCachedContactExpiredMisses: an expired entry is a miss, even with a wider block
// cached around it; a negative entry (no addresses, a problem) is kept as it was.
func TestCachedContactExpiredMisses(t *testing.T) {
	s := openTemp(t)
	now := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	s.CacheContact(netip.MustParsePrefix("2001:db8:0:1::/64"), contact("2001:db8::/32", "wide@example.net"), now.Add(7*24*time.Hour))
	s.CacheContact(netip.MustParsePrefix("2001:db8:0:1::/120"), contact("2001:db8:0:1::/120", "narrow@example.net"), now.Add(time.Hour))
	if _, ok, _ := s.CachedContact(netip.MustParseAddr("2001:db8:0:1::5"), now.Add(2*time.Hour)); ok {
		t.Error("an expired /120 fell back to the /64")
	}
	neg := abusewatch.Contact{Network: netip.MustParsePrefix("198.51.100.7/32"), Problem: "404"}
	s.CacheContact(neg.Network, neg, now.Add(time.Hour))
	c, ok, err := s.CachedContact(netip.MustParseAddr("198.51.100.7"), now)
	if err != nil || !ok || c.Problem != "404" || len(c.Emails) != 0 {
		t.Errorf("negative entry = %+v, %v, %v", c, ok, err)
	}
}

// An upgraded store does not keep answering from the entries schema 11 cached per
// network: the migration drops them, so an address of a cached /16 is asked about.
func TestOpenMigratesVersion11ContactsPerNetworkAway(t *testing.T) {
	s := openTemp(t)
	now := time.Now()
	s = reopenAsVersion(t, s, 11, func(tx *bolt.Tx) error {
		v, err := json.Marshal(cachedContact{Contact: contact("62.239.0.0/16", "abuse@lir.example"), Expires: now.Add(time.Hour)})
		if err != nil {
			return err
		}
		return tx.Bucket(bucketContacts).Put(prefixKey(netip.MustParsePrefix("62.239.0.0/16")), v)
	})
	if c, ok, err := s.CachedContact(netip.MustParseAddr("62.239.237.9"), now); ok || err != nil {
		t.Errorf("after the upgrade the /16 cached by schema 11 answers for 62.239.237.9: %q, %v", c.Emails, err)
	}
}

// TestCachedContactSurvivesReopen: the cache is in the state file, so a restarted daemon
// does not ask the registries again.
func TestCachedContactSurvivesReopen(t *testing.T) {
	s, path := openNew(t)
	var err error
	now := time.Now()
	if err := s.CacheContact(netip.MustParsePrefix("193.0.0.1/32"), contact("193.0.0.0/21", "abuse@ripe.net"), now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = Open(path, time.Second); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, ok, err := s.CachedContact(netip.MustParseAddr("193.0.0.1"), now); !ok || err != nil {
		t.Errorf("after reopening: %v, %v", ok, err)
	}
}

func TestPruneContacts(t *testing.T) {
	s := openTemp(t)
	now := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	for i, exp := range []time.Duration{-time.Hour, time.Hour, -time.Minute, -time.Second, time.Minute} {
		s.CacheContact(netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 51, byte(i), 1}), 32), contact(netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 51, byte(i), 0}), 24).String(), "a@example.net"), now.Add(exp))
	}
	n, err := s.PruneContacts(now)
	if err != nil || n != 3 {
		t.Errorf("PruneContacts = %d, %v; want 3", n, err)
	}
	for i, want := range []bool{false, true, false, false, true} {
		if _, ok, _ := s.CachedContact(netip.AddrFrom4([4]byte{198, 51, byte(i), 1}), now.Add(-2*time.Hour)); ok != want {
			t.Errorf("entry %d kept = %v, want %v", i, ok, want)
		}
	}
}

// BenchmarkCachedContact is one cache read for a cached address (the
// lookup target is under a millisecond for the whole lookup; see bench/lookup.sh).
func BenchmarkCachedContact(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "state.db"), time.Second)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	now := time.Now()
	for i := range 1000 {
		s.CacheContact(netip.PrefixFrom(netip.AddrFrom4([4]byte{100, byte(i / 256), byte(i), 1}), 32), contact(netip.PrefixFrom(netip.AddrFrom4([4]byte{100, byte(i / 256), byte(i), 0}), 24).String(), "a@example.net"), now.Add(time.Hour))
	}
	i := 0
	for b.Loop() {
		i++
		if _, ok, err := s.CachedContact(netip.AddrFrom4([4]byte{100, byte(i % 1000 / 256), byte(i % 1000), 1}), now); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}
