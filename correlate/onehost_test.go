package correlate_test

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/correlate"
)

// oneHostOpts are the shipped defaults of the short-window rules.
var oneHostOpts = correlate.Options{Threshold: 5, Window: 10 * time.Minute,
	Network:  correlate.NetworkRule{SetRule: correlate.SetRule{Count: 10, Window: time.Hour}, Sizes: []int{24}},
	PortScan: correlate.SetRule{Count: 20, Window: 10 * time.Minute},
	Sweep:    correlate.SetRule{Count: 3, Window: 10 * time.Minute}}

// feedEach feeds evs in one batch or a batch each and returns, by key, the newest form
// of each incident (an incident that grows comes again).
func feedEach(t *testing.T, opts correlate.Options, evs []abusewatch.Event, batched bool) map[string]abusewatch.Incident {
	t.Helper()
	h := newHarness(t, opts)
	got := map[string]abusewatch.Incident{}
	keep := func(incs []abusewatch.Incident) {
		for _, inc := range incs {
			got[inc.Key] = inc
		}
	}
	if batched {
		for _, e := range evs {
			keep(h.feed(e))
		}
	} else {
		keep(h.feed(evs...))
	}
	return got
}

func keysOf(m map[string]abusewatch.Incident) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// One IPv6 host rotates its source address inside its /64 (review 26 finding 1: nine
// addresses, four failed logins each, 36 in four minutes, made no incident). Its /64 is
// one source for the per-address windows: threshold-1 attempts from its addresses make
// nothing, threshold make one network incident of the /64, reportable, naming them.
// One address's attempts stay its own incident, and an IPv4 /24 still needs
// network_addresses addresses.
func TestARotatingSlash64IsOneSourceAtTheThreshold(t *testing.T) {
	v6 := func(i int) string { return fmt.Sprintf("2a01:4f8:1c1c:5678::%x", i+1) }
	v4 := func(i int) string { return fmt.Sprintf("45.134.26.%d", i+1) }
	opts := oneHostOpts
	opts.Windows = []correlate.Window{{Threshold: 20, Window: time.Hour}}
	for _, tc := range []struct {
		name  string
		n     int
		addr  func(i int) string
		every time.Duration
		want  []string // keys of the incidents made
	}{
		{"4 attempts from 4 addresses of a /64", 4, v6, time.Minute, nil},
		{"5 attempts from 5 addresses of a /64", 5, v6, time.Minute, []string{"net:2a01:4f8:1c1c:5678::/64"}},
		{"5 from 5 addresses spanning exactly 10 minutes", 5, v6, 150 * time.Second, nil},
		{"5 from 5 addresses within 10 minutes by a second", 5, v6, 149 * time.Second, []string{"net:2a01:4f8:1c1c:5678::/64"}},
		{"19 from 9 addresses in 57 minutes (the hour's window)", 19, func(i int) string { return v6(i % 9) }, 3*time.Minute + 10*time.Second, nil},
		{"20 from 9 addresses in 60 minutes (the hour's window)", 20, func(i int) string { return v6(i % 9) }, 3 * time.Minute, []string{"net:2a01:4f8:1c1c:5678::/64"}},
		{"5 from one address of a /64: its own incident", 5, func(int) string { return v6(0) }, time.Minute, []string{"ip:2a01:4f8:1c1c:5678::1"}},
		{"5 from 5 addresses of an IPv4 /24", 5, v4, time.Minute, nil},
	} {
		for _, batched := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s, a batch each %v", tc.name, batched), func(t *testing.T) {
				var evs []abusewatch.Event
				for i := range tc.n {
					evs = append(evs, at(tc.addr(i), t0.Add(time.Duration(i)*tc.every), uint16(40000+i)))
				}
				got := feedEach(t, opts, evs, batched)
				if keys := keysOf(got); fmt.Sprint(keys) != fmt.Sprint(tc.want) {
					t.Fatalf("incidents %v, want %v", keys, tc.want)
				}
				inc, ok := got["net:2a01:4f8:1c1c:5678::/64"]
				if !ok {
					return
				}
				addrs := map[string]bool{}
				for i := range tc.n {
					addrs[tc.addr(i)] = true
				}
				if inc.AdminOnly || inc.Rule != "network" || inc.Count != tc.n || inc.Attempts != tc.n || len(inc.Sources) != len(addrs) {
					t.Errorf("the /64's incident: %s, admin only %v, %d lines, %d connections, sources %v; want a reportable network incident of %d naming %d addresses",
						inc.Rule, inc.AdminOnly, inc.Count, inc.Attempts, inc.Sources, tc.n, len(addrs))
				}
			})
		}
	}
}

// Review 26 finding 1 (sweep): one IPv4 address failing once on each of three hosts is
// a sweep; three addresses of one /64 doing the same are one host's sweep too, and make
// the /64's incident, reportable. Two hosts are no sweep; three addresses of an IPv4
// /24 are three sources.
func TestASweepFromAddressesOfOneSlash64(t *testing.T) {
	for _, tc := range []struct {
		name  string
		addrs []string
		hosts []string
		want  []string
	}{
		{"3 addresses of a /64 on 3 hosts", []string{"2a01:4f8:1c1c:7777::1", "2a01:4f8:1c1c:7777::2", "2a01:4f8:1c1c:7777::3"},
			[]string{"web1", "web2", "web3"}, []string{"net:2a01:4f8:1c1c:7777::/64"}},
		{"2 addresses of a /64 on 2 hosts", []string{"2a01:4f8:1c1c:7777::1", "2a01:4f8:1c1c:7777::2"},
			[]string{"web1", "web2"}, nil},
		{"3 addresses of an IPv4 /24 on 3 hosts", []string{"45.134.26.1", "45.134.26.2", "45.134.26.3"},
			[]string{"web1", "web2", "web3"}, nil},
		{"one IPv4 address on 3 hosts", []string{"45.134.26.50", "45.134.26.50", "45.134.26.50"},
			[]string{"web1", "web2", "web3"}, []string{"sweep:45.134.26.50|sshd"}},
	} {
		for _, batched := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s, a batch each %v", tc.name, batched), func(t *testing.T) {
				var evs []abusewatch.Event
				for i, a := range tc.addrs {
					e := at(a, t0.Add(time.Duration(i)*5*time.Second), 47000)
					e.Host = tc.hosts[i]
					evs = append(evs, e)
				}
				got := feedEach(t, oneHostOpts, evs, batched)
				if keys := keysOf(got); fmt.Sprint(keys) != fmt.Sprint(tc.want) {
					t.Fatalf("incidents %v, want %v", keys, tc.want)
				}
				if inc, ok := got["net:2a01:4f8:1c1c:7777::/64"]; ok {
					if inc.AdminOnly || len(inc.Sources) != 3 || fmt.Sprint(inc.Hosts) != "[web1 web2 web3]" {
						t.Errorf("the /64's sweep: admin only %v, sources %v, hosts %v; want reportable, 3 addresses, 3 hosts", inc.AdminOnly, inc.Sources, inc.Hosts)
					}
				}
			})
		}
	}
}

// A /64 judged as one source is still judged like an address: forged packets count
// toward its incident but never make it reportable. Twenty ports probed from two of
// its addresses are a port scan for the admin; SYNs from eleven of its addresses
// beside one real failed login are the admin's too (an address's one failed login is
// below the threshold), and so beside five failed logins of one address: those are
// that address's own incident, reported as such, and forged packets of others made the
// /64 a second report of the same lines (review 27).
func TestASlash64OfForgedPacketsStaysForTheAdmin(t *testing.T) {
	const p = "net:2a01:4f8:1c1c:8888::/64"
	addr := func(i int) string { return fmt.Sprintf("2a01:4f8:1c1c:8888::%x", i+1) }
	for _, tc := range []struct {
		name          string
		evs           func() []abusewatch.Event
		wantAdminOnly bool
		wantSources   int
	}{
		{"20 ports probed from 2 addresses", func() (out []abusewatch.Event) {
			for i := range 20 {
				out = append(out, probe(addr(i%2), t0.Add(time.Duration(i)*time.Second), 55555, uint16(1000+i), "TCP", "SYN"))
			}
			return out
		}, true, 2},
		{"SYNs from 11 addresses, one failed login", func() (out []abusewatch.Event) {
			for i := range 11 {
				out = append(out, probe(addr(i), t0.Add(time.Duration(i)*time.Second), 55555, 22, "TCP", "SYN"))
			}
			return append(out, at(addr(20), t0.Add(time.Minute), 40000))
		}, true, 12},
		{"SYNs from 11 addresses, five failed logins of one", func() (out []abusewatch.Event) {
			for i := range 11 {
				out = append(out, probe(addr(i), t0.Add(time.Duration(i)*time.Second), 55555, 22, "TCP", "SYN"))
			}
			for i := range 5 {
				out = append(out, at(addr(20), t0.Add(time.Minute+time.Duration(i)*time.Second), uint16(40000+i)))
			}
			return out
		}, true, 12},
		{"five failed logins of one, then 20 ports probed from 2 others", func() (out []abusewatch.Event) {
			for i := range 5 {
				out = append(out, at(addr(20), t0.Add(time.Duration(i)*7*time.Second), uint16(40000+i)))
			}
			for i := range 20 {
				out = append(out, probe(addr(i%2), t0.Add(time.Minute+time.Duration(i)*time.Second), 55555, uint16(1000+i), "TCP", "SYN"))
			}
			return out
		}, true, 3},
	} {
		for _, batched := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s, a batch each %v", tc.name, batched), func(t *testing.T) {
				got := feedEach(t, oneHostOpts, tc.evs(), batched)
				inc, ok := got[p]
				if !ok {
					t.Fatalf("no incident of the /64: %v", keysOf(got))
				}
				if inc.AdminOnly != tc.wantAdminOnly || len(inc.Sources) != tc.wantSources {
					t.Errorf("admin only %v, sources %v; want %v, %d sources", inc.AdminOnly, inc.Sources, tc.wantAdminOnly, tc.wantSources)
				}
				if !inc.AdminOnly && slices.ContainsFunc(inc.Evidence, func(e abusewatch.Event) bool { return e.Proto != "" }) {
					t.Errorf("reportable, its evidence holds forged packets: %+v", inc.Evidence)
				}
			})
		}
	}
}

// Review 26 finding 2: a /64 that comes back on ten days from three of its addresses
// (round robin, none of them on ten days itself) is one host's recurrence and reported,
// naming the three; nine days are not enough, and an IPv4 /24 still needs
// network_addresses of its addresses.
func TestASlash64RecurringFromThreeAddressesIsReportable(t *testing.T) {
	for _, tc := range []struct {
		name          string
		prefix        string
		addr          func(i int) string
		days          int
		wantAdminOnly bool
		wantNone      bool
	}{
		{"10 days of a /64 from 3 addresses", "2a01:4f8:1c1c:9999::/64", func(i int) string { return fmt.Sprintf("2a01:4f8:1c1c:9999::%x", i+1) }, 10, false, false},
		{"9 days of a /64 from 3 addresses", "2a01:4f8:1c1c:9999::/64", func(i int) string { return fmt.Sprintf("2a01:4f8:1c1c:9999::%x", i+1) }, 9, false, true},
		{"10 days of an IPv4 /24 from 3 addresses", "45.134.27.0/24", func(i int) string { return fmt.Sprintf("45.134.27.%d", i+1) }, 10, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, recurrenceOpts)
			var evs []abusewatch.Event
			for d := range tc.days {
				a := tc.addr(d % 3)
				for j := range 2 {
					evs = append(evs, at(a, onDay(d, 3*time.Hour+time.Duration(j)*5*time.Second), uint16(45000+10*d+j)))
				}
			}
			h.feedDays(evs)
			inc, ok := h.stored("recur:" + tc.prefix)
			if tc.wantNone {
				if ok {
					t.Fatalf("a recurrence of %d days: %+v", tc.days, inc)
				}
				return
			}
			if !ok {
				t.Fatal("no recurrence of the network")
			}
			if inc.AdminOnly != tc.wantAdminOnly || len(inc.Sources) != 3 {
				t.Errorf("admin only %v, sources %v; want %v, the 3 addresses", inc.AdminOnly, inc.Sources, tc.wantAdminOnly)
			}
			for i := range 3 {
				a := netip.MustParseAddr(tc.addr(i))
				if _, ok := h.stored("recur:" + netip.PrefixFrom(a, a.BitLen()).String()); ok {
					t.Errorf("%s recurs on its own", a)
				}
			}
		})
	}
}

// Every per-address window is asked of a /64: one address's burst meets the shortest
// alone (its own incident), while the hour's window holds another address's slow
// attempts too, twenty in all (15 over 42 minutes, then 5 in a minute, 11 minutes on).
func TestASlash64MeetsALongerWindowBesideOneAddressBurst(t *testing.T) {
	opts := oneHostOpts
	opts.Windows = []correlate.Window{{Threshold: 20, Window: time.Hour}}
	var evs []abusewatch.Event
	for i := range 15 {
		evs = append(evs, at("2a01:4f8:1c1c:5678::2", t0.Add(time.Duration(i)*3*time.Minute), uint16(41000+i)))
	}
	for i := range 5 {
		evs = append(evs, at("2a01:4f8:1c1c:5678::1", t0.Add(53*time.Minute+time.Duration(i)*10*time.Second), uint16(42000+i)))
	}
	for _, batched := range []bool{false, true} {
		got := feedEach(t, opts, evs, batched)
		want := "[ip:2a01:4f8:1c1c:5678::1 net:2a01:4f8:1c1c:5678::/64]"
		if keys := keysOf(got); fmt.Sprint(keys) != want {
			t.Fatalf("a batch each %v: incidents %v, want %s", batched, keys, want)
		}
		if inc := got["net:2a01:4f8:1c1c:5678::/64"]; inc.AdminOnly || inc.Count != 20 || len(inc.Sources) != 2 {
			t.Errorf("a batch each %v: the /64's incident: admin only %v, %d lines, sources %v; want reportable, 20, both", batched, inc.AdminOnly, inc.Count, inc.Sources)
		}
	}
}
