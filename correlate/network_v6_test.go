package correlate_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
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

// A /48's incident is reported outside only when network_addresses of its /64s sent
// reportable evidence: twelve addresses of one /64 failing logins, beside a UDP probe
// from each of nine other /64s, are one customer's attack, not the site's.
func TestAWideIPv6NetworkIsReportableByItsSlash64s(t *testing.T) {
	opts := correlate.Options{Threshold: 50, Window: 10 * time.Minute,
		Network: correlate.NetworkRule{SetRule: correlate.SetRule{Count: 10, Window: time.Hour}, Sizes: []int{24, 16}}}
	for _, tc := range []struct {
		name      string
		reporting int // /64s with failed logins (the rest of the 10 send a UDP probe)
		adminOnly bool
	}{
		{"one /64 of failed logins from 12 addresses", 1, true},
		{"ten /64s of failed logins", 10, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, opts)
			var evs []abusewatch.Event
			for n := range 10 {
				if n < tc.reporting {
					for i := range 12 {
						evs = append(evs, at(fmt.Sprintf("2a01:4f8:20:%x::%x", n+1, i+1), t0.Add(time.Duration(n*12+i)*time.Second), uint16(40000+i)))
					}
				} else {
					evs = append(evs, probe(fmt.Sprintf("2a01:4f8:20:%x::1", n+1), t0.Add(time.Duration(200+n)*time.Second), 5353, 53, "UDP", ""))
				}
			}
			var found bool
			for _, inc := range h.feed(evs...) {
				if inc.Key == "net:2a01:4f8:20::/48" {
					found = true
					if inc.AdminOnly != tc.adminOnly {
						t.Errorf("the /48's incident: admin only %v, want %v", inc.AdminOnly, tc.adminOnly)
					}
				}
			}
			if !found {
				t.Error("no incident of the /48")
			}
		})
	}
}
