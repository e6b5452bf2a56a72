package correlate_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/correlate"
)

// One IPv6 host has as many addresses of its /64 as it likes: the network rule counts
// distinct /64s toward a /48 (a site) or a /32 (an allocation), so those are told the
// desk only when as many customers attacked (IPv6 fleet review, M3). A /64 still counts
// addresses, and so does every IPv4 size.
func TestWideIPv6NetworksCountTheirSlash64s(t *testing.T) {
	opts := correlate.Options{Threshold: 5, Window: 10 * time.Minute,
		Network: correlate.NetworkRule{SetRule: correlate.SetRule{Count: 10, Window: time.Hour}, Sizes: []int{24, 16, 8}}}
	for _, tc := range []struct {
		name string
		addr func(i int) string
		n    int
		want map[string]int // network incidents by key
	}{
		{"12 addresses of one /64", func(i int) string { return fmt.Sprintf("2a01:4f8:20:5::%x", i+1) }, 12,
			map[string]int{"net:2a01:4f8:20:5::/64": 1}},
		{"10 /64s of one /48", func(i int) string { return fmt.Sprintf("2a01:4f8:20:%x::1", i+1) }, 10,
			map[string]int{"net:2a01:4f8:20::/48": 1, "net:2a01:4f8::/32": 1}},
		{"9 /64s of one /48", func(i int) string { return fmt.Sprintf("2a01:4f8:20:%x::1", i+1) }, 9,
			map[string]int{}},
		{"10 /48s of one /32", func(i int) string { return fmt.Sprintf("2a01:4f8:%x::1", i+1) }, 10,
			map[string]int{"net:2a01:4f8::/32": 1}},
		{"12 addresses of one IPv4 /24", func(i int) string { return fmt.Sprintf("5.6.7.%d", i+1) }, 12,
			map[string]int{"net:5.6.7.0/24": 1, "net:5.6.0.0/16": 1, "net:5.0.0.0/8": 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, opts)
			got := map[string]int{}
			for i := range tc.n {
				for _, inc := range h.feed(at(tc.addr(i), t0.Add(time.Duration(i)*time.Minute), uint16(40000+i))) {
					if inc.Rule == "network" {
						got[inc.Key] = 1
					}
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("network incidents %v, want %v", got, tc.want)
			}
		})
	}
}
