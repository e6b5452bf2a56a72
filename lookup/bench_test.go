package lookup

import (
	"net/netip"
	"testing"

	"github.com/abusewatch/abusewatch/lookup/lookuptest"
)

// BenchmarkContactCachedNetwork is a lookup for an address already cached (among 4,096
// of its network): the performance target is under a millisecond (see bench/lookup.sh).
func BenchmarkContactCachedNetwork(b *testing.B) {
	r := lookuptest.NewRDAP(b)
	r.AnswerFile("3.0.0.0/9", "testdata/rdap/ip_network_arin_3_3_3_3.json")
	f := newFinderFor(b, r, Options{})
	const n = 1 << 12
	for i := range n {
		if _, err := f.Contact(b.Context(), netip.AddrFrom4([4]byte{3, 0, byte(i >> 8), byte(i)})); err != nil {
			b.Fatal(err)
		}
	}
	i := 0
	for b.Loop() {
		i = (i + 1) % n
		if _, err := f.Contact(b.Context(), netip.AddrFrom4([4]byte{3, 0, byte(i >> 8), byte(i)})); err != nil {
			b.Fatal(err)
		}
	}
	if r.Requests.Load() != n {
		b.Fatalf("RDAP requests = %d, want %d", r.Requests.Load(), n)
	}
}

// BenchmarkContactBurst10000From50Networks looks up 10,000 times 500 attacking addresses
// from 50 networks with 8 workers and an empty cache, and reports the RDAP requests it
// cost (the target: at most 500, one per address).
func BenchmarkContactBurst10000From50Networks(b *testing.B) {
	r, addrs := burstServer(b)
	var bursts int64
	for b.Loop() {
		// No DNS is needed: every network has an abuse desk.
		f, err := New(Options{Resolvers: []string{"127.0.0.1:9"}, RDAP: true, RDAPServer: r.URL})
		if err != nil {
			b.Fatal(err)
		}
		if err := lookupAll(b, f, addrs, 8); err != nil {
			b.Fatal(err)
		}
		bursts++
	}
	b.ReportMetric(float64(r.Requests.Load())/float64(bursts), "rdap-requests/burst")
}
