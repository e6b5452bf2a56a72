package correlate

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/abusewatch/abusewatch"
)

// atLeastHosts stops at the n-th host: it must agree with hostCount of every spelling,
// which it can only if adding a spelling never lowers the count.
func TestAtLeastHostsAgreesWithACount(t *testing.T) {
	names := []string{"web1", "WEB1", "web1.example.org", "web1.example.org.", "web1.a.example", "web1.b.example",
		"web2", "Web2.Example.Org", "db1", "db1.example.org", "192.0.2.7", "192.0.2.8", "2001:db8::1", "2001:DB8::1", "web"}
	r := rand.New(rand.NewPCG(4343, 1))
	for range 2000 {
		var evs []*abusewatch.Event
		var spelled []ourHost
		for size := r.IntN(12); len(evs) < size; {
			h := names[r.IntN(len(names))]
			evs = append(evs, &abusewatch.Event{Host: h})
			if o := ourHostOf(h); !slices.Contains(spelled, o) {
				before := hostCount(spelled)
				spelled = append(spelled, o)
				if hostCount(spelled) < before {
					t.Fatalf("%v: adding %q lowered the count from %d", spelled[:len(spelled)-1], h, before)
				}
			}
		}
		count := hostCount(spelled)
		for n := 1; n <= 8; n++ {
			if got := atLeastHosts(evs, n); got != (count >= n) {
				t.Fatalf("%v: atLeastHosts(%d) = %v, hostCount %d", spelled, n, got, count)
			}
		}
	}
}
