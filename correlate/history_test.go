package correlate

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/store"
)

// What a pass holds in memory must read exactly like the store, and what it no longer
// holds must come from the store.
func TestRecentEventsReadLikeTheStore(t *testing.T) {
	st := tempStore(t)
	r := rand.New(rand.NewPCG(1, 2))
	t0 := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	var all []abusewatch.Event
	for i := range 3000 {
		a := netip.AddrFrom4([4]byte{45, 134, byte(26 + r.IntN(2)), byte(1 + r.IntN(6))})
		all = append(all, abusewatch.Event{Time: t0.Add(time.Duration(i) * 7 * time.Second), Class: abusewatch.ClassAuthFailure, Addr: a, Line: fmt.Sprint(i)})
	}
	// Several hosts: within a batch the events come a little out of order, and now
	// and then one is an hour late.
	for i := range all {
		if j := i + r.IntN(5); j < len(all) {
			all[i], all[j] = all[j], all[i]
		}
		if r.IntN(100) == 0 {
			all[i].Time = all[i].Time.Add(-time.Hour)
		}
	}
	sizes := []func(netip.Addr) netip.Prefix{net24}
	recent := newRecentEvents(st, time.Time{}, 30*time.Minute, 400, sizes) // as Correlate keeps it
	for i := 0; i < len(all); i += 250 {
		batch, err := st.Commit(all[i:i+250], nil)
		if err != nil {
			t.Fatal(err)
		}
		recent.add(batch)
		end := batch[0].Time
		for _, e := range batch {
			end = maxTime(end, e.Time)
		}
		for _, back := range []time.Duration{0, 10 * time.Minute, 40 * time.Minute, 3 * time.Hour} {
			from := batch[0].Time.Add(-back)
			for _, a := range []string{"45.134.26.1", "45.134.27.6"} {
				addr := netip.MustParseAddr(a)
				got, _ := recent.addrEvents(addr, from, end)
				want, _ := st.EventsByAddr(addr, from, end)
				if !sameSeqs(got, want) {
					t.Fatalf("batch %d, %s back, %s: %d events from memory, %d in the store", i/250, back, a, len(got), len(want))
				}
				p := net24(addr)
				got, _ = recent.netEvents(p, from, end)
				want, _ = st.EventsByNetwork(p, from, end)
				if !sameSeqs(got, want) {
					t.Fatalf("batch %d, %s back, %s: %d events from memory, %d in the store", i/250, back, p, len(got), len(want))
				}
			}
		}
		if n := recent.end() - recent.first; n > 400 {
			t.Fatalf("%d events held, the limit is 400", n)
		}
	}
	if recent.covered.Before(t0.Add(time.Hour)) {
		t.Error("the window never let go of an event")
	}
}

func sameSeqs(held []*abusewatch.Event, stored []abusewatch.Event) bool {
	return slices.EqualFunc(held, stored, func(h *abusewatch.Event, s abusewatch.Event) bool { return h.Seq == s.Seq })
}

func TestRecorrelateReturnsTheErrorOfPut(t *testing.T) {
	st := tempStore(t)
	t0 := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	var evs []abusewatch.Event
	for i := range 10 {
		evs = append(evs, abusewatch.Event{Time: t0.Add(time.Duration(i) * time.Second), Class: abusewatch.ClassAuthFailure,
			Addr: netip.MustParseAddr("45.134.26.17"), Port: uint16(40000 + i), Line: "x"})
	}
	if _, err := st.Commit(evs, nil); err != nil {
		t.Fatal(err)
	}
	c, err := New(Options{Threshold: 5, Window: 10 * time.Minute}, st, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	full := errors.New("disk full")
	if _, err := c.Recorrelate(context.Background(), st, t0, t0.Add(time.Hour), func([]abusewatch.Incident) error { return full }); !errors.Is(err, full) {
		t.Errorf("Recorrelate = %v, want the error of put", err)
	}
	if !c.Recorrelated().IsZero() {
		t.Error("a failed pass counts as done")
	}
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// A pass that must let go of what it remembers (tiny limits) finds the same incidents
// as one that keeps everything.
func TestRecorrelateWithTinyMemoryFindsTheSame(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	r := rand.New(rand.NewPCG(3, 4))
	var evs []abusewatch.Event
	for i := range 400 { // bursts of 6 from 40 addresses over 10 days
		a := netip.AddrFrom4([4]byte{45, 134, 26, byte(1 + r.IntN(40))})
		at := t0.Add(time.Duration(r.Int64N(int64(240 * time.Hour))))
		for j := range 6 {
			evs = append(evs, abusewatch.Event{Time: at.Add(time.Duration(j) * time.Second), Class: abusewatch.ClassAuthFailure,
				Addr: a, Port: uint16(30000 + 10*i + j), Service: "sshd", Host: "web1", Line: "x"})
		}
	}
	slices.SortFunc(evs, func(a, b abusewatch.Event) int { return a.Time.Compare(b.Time) })
	opts := Options{Threshold: 5, Window: 10 * time.Minute, Network: NetworkRule{SetRule: SetRule{Count: 10, Window: time.Hour}},
		PortScan: SetRule{Count: 3, Window: time.Hour}}
	pass := func() map[string]abusewatch.Incident {
		st := tempStore(t)
		for i := 0; i < len(evs); i += 500 {
			if _, err := st.Commit(evs[i:min(i+500, len(evs))], nil); err != nil {
				t.Fatal(err)
			}
		}
		return recorrelated(t, opts, st, t0, t0.Add(11*24*time.Hour))
	}
	want := pass()
	defer func(b, p, h, k int) { recorrelateBatch, putEvery, heldIncidents, knownLimit = b, p, h, k }(recorrelateBatch, putEvery, heldIncidents, knownLimit)
	recorrelateBatch, putEvery, heldIncidents, knownLimit = 50, 1, 1, 3
	got := pass()
	if len(want) < 10 || len(got) != len(want) {
		t.Fatalf("%d incidents with tiny memory, %d without (want at least 10)", len(got), len(want))
	}
	for id, w := range want {
		if g, ok := got[id]; !ok || g.Count != w.Count || !g.Last.Equal(w.Last) {
			t.Errorf("incident %s (%s): %+v with tiny memory, %+v without", id, w.Key, g, w)
		}
	}
}

// A second pass with the same rules over the same events rebuilds every incident as the
// first stored it: stored incidents that end after the batch being judged (the first
// pass's final state) are not grown again from their middle.
func TestSecondPassRebuildsTheSameIncidents(t *testing.T) {
	st := tempStore(t)
	t0 := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	ev := func(addr string, at time.Time, class abusewatch.Class, port uint16) abusewatch.Event {
		return abusewatch.Event{Time: at, Class: class, Addr: netip.MustParseAddr(addr), Port: port, Service: "sshd", Host: "web1", Line: "x"}
	}
	var evs []abusewatch.Event
	for day := 0; day < 120; day += 7 { // a weekly attacker: an address recurrence
		evs = append(evs, ev("80.94.95.115", t0.AddDate(0, 0, day).Add(3*time.Hour), abusewatch.ClassAuthFailure, uint16(30000+day)))
	}
	for day := range 20 { // a /24 whose addresses each come once: a network recurrence
		evs = append(evs, ev(fmt.Sprintf("80.94.96.%d", 1+day), t0.AddDate(0, 0, 3*day).Add(5*time.Hour), abusewatch.ClassAuthFailure, 40000))
	}
	for _, day := range []int{50, 55} { // bursts from one address, a login from its /24 after the first
		for i := range 30 {
			evs = append(evs, ev("81.2.69.10", t0.AddDate(0, 0, day).Add(time.Duration(i)*time.Second), abusewatch.ClassAuthFailure, uint16(50000+i)))
		}
	}
	evs = append(evs, ev("81.2.69.20", t0.AddDate(0, 0, 51), abusewatch.ClassAuthSuccess, 0))
	for i := range 72 { // an HTTP probe an hour for three days, then 30 in an hour
		evs = append(evs, ev(fmt.Sprintf("82.%d.1.1", i), t0.AddDate(0, 0, 60).Add(time.Duration(i)*time.Hour), "http-probe", 0))
	}
	for i := range 30 {
		evs = append(evs, ev(fmt.Sprintf("83.%d.1.1", i), t0.AddDate(0, 0, 63).Add(time.Duration(i)*time.Minute), "http-probe", 0))
	}
	slices.SortFunc(evs, func(a, b abusewatch.Event) int { return a.Time.Compare(b.Time) })
	for i := 0; i < len(evs); i += 3 {
		if _, err := st.Commit(evs[i:min(i+3, len(evs))], nil); err != nil {
			t.Fatal(err)
		}
	}
	opts := Options{Threshold: 5, Window: 10 * time.Minute, Recurrence: RecurrenceRule{Days: 5}, SuccessLookback: 7 * 24 * time.Hour,
		Rate: RateRule{Factor: 10, Baseline: 48 * time.Hour, Min: 20}}
	defer func(b int) { recorrelateBatch = b }(recorrelateBatch)
	recorrelateBatch = 5
	pass := func() map[string]abusewatch.Incident { return recorrelated(t, opts, st, t0, t0.AddDate(0, 0, 130)) }
	first := pass()
	if r := rules(slices.Collect(maps.Values(first))); r["recurrence"] != 2 || r["per-address"] != 2 || r["success-after-failure"] != 1 || r["rate-anomaly"] == 0 {
		t.Fatalf("first pass: %v; want 2 recurrences, 2 per-address incidents, a success after failures and rate anomalies", r)
	}
	// With a memory that forgets after every batch: what it reads back from the store
	// then is the first pass's newest incident of each key, which lies ahead of it.
	defer func(p, h, k int) { putEvery, heldIncidents, knownLimit = p, h, k }(putEvery, heldIncidents, knownLimit)
	putEvery, heldIncidents, knownLimit = 1, 0, 0
	for id, inc := range pass() {
		if want, ok := first[id]; !ok || store.IncidentDigest(inc) != store.IncidentDigest(want) {
			t.Errorf("second pass changed %s (%s): %+v, first %+v", id, inc.Key, inc, want)
		}
	}
}

// tempStore opens a store in a new temporary directory, closed when the test ends.
func tempStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "state.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// recorrelated runs a new Correlator's pass over st from from to to, stores what it
// makes and returns it by ID.
func recorrelated(t *testing.T, opts Options, st *store.Store, from, to time.Time) map[string]abusewatch.Incident {
	t.Helper()
	c, err := New(opts, st, st, st)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]abusewatch.Incident{}
	if _, err := c.Recorrelate(context.Background(), st, from, to, func(incs []abusewatch.Incident) error {
		for _, inc := range incs {
			got[inc.ID] = inc
		}
		return st.PutIncidents(incs)
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

func rules(incs []abusewatch.Incident) map[string]int {
	out := map[string]int{}
	for _, inc := range incs {
		out[inc.Rule]++
	}
	return out
}

// Where notExcludedIn answers "every address" for a network, no address of it is
// Excluded: networks that hold private, special or never-report space in part (a /8
// around 172.16/12, 169.254/16 or 100.64/10) test each address.
func TestNotExcludedInAgreesWithExcluded(t *testing.T) {
	c, err := New(Options{Threshold: 1, Window: time.Minute, Never: []netip.Prefix{netip.MustParsePrefix("45.134.26.16/28")}}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for _, s := range []string{"172.0.0.0/8", "169.0.0.0/8", "100.0.0.0/8", "192.0.0.0/8", "192.168.0.0/16", "45.134.26.0/24",
		"45.134.0.0/16", "45.134.27.0/24", "255.255.255.0/24", "224.0.0.0/8", "127.0.0.0/8", "0.0.0.0/8", "fe80::/64",
		"fc00::/48", "2001:db8::/32", "2a01:4f8::/32", "::ffff:172.16.0.0/108", "::ffff:45.134.27.0/120"} {
		p := netip.MustParsePrefix(s)
		counts := c.notExcludedIn(p)
		// The first and last address of p, and 20,000 at random within it.
		for i := range 20_002 {
			a := p.Masked().Addr().AsSlice()
			for j := range a {
				host := byte(0xff)
				if bits := p.Bits() - 8*j; bits >= 8 {
					host = 0
				} else if bits > 0 {
					host = 0xff >> bits
				}
				switch i {
				case 0:
				case 1:
					a[j] |= host
				default:
					a[j] |= byte(r.Uint32()) & host
				}
			}
			addr, _ := netip.AddrFromSlice(a)
			if counts(&abusewatch.Event{Addr: addr}) && c.Excluded(addr) {
				t.Errorf("notExcludedIn(%s) counts %s, which is excluded", p, addr)
				break
			}
			if c.ExcludedNetwork(p) && !c.Excluded(addr) {
				t.Errorf("ExcludedNetwork(%s), yet %s is not excluded", p, addr)
				break
			}
		}
	}
	if !c.notExcludedIn(netip.MustParsePrefix("45.134.27.0/24"))(&abusewatch.Event{Addr: netip.MustParseAddr("45.134.27.1")}) {
		t.Error("a public /24 does not count its addresses")
	}
}

// ExcludedNetwork holds for a network within one never-report, private or reserved
// network, and not for one that such a network only overlaps (its other addresses are
// still reported).
func TestExcludedNetworkIsTheWholeNetwork(t *testing.T) {
	c, err := New(Options{Threshold: 1, Window: time.Minute, Never: []netip.Prefix{netip.MustParsePrefix("45.134.26.16/28")}}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Exclude(netip.MustParsePrefix("80.94.95.7/32"))
	for s, want := range map[string]bool{
		"45.134.26.16/28": true, "45.134.26.24/29": true, "45.134.26.16/32": true, "45.134.26.0/24": false,
		"45.134.27.0/24": false, "80.94.95.7/32": true, "80.94.95.0/24": false,
		"10.1.2.0/24": true, "192.168.0.0/16": true, "172.0.0.0/8": false, "100.64.1.0/24": true,
		"2001:db8:1::/48": true, "fe80::/64": true, "2a01:4f8::/32": false,
		"::ffff:10.0.0.0/104": true, "::ffff:45.134.26.16/124": true, "::ffff:45.134.26.0/120": false,
	} {
		if got := c.ExcludedNetwork(netip.MustParsePrefix(s)); got != want {
			t.Errorf("ExcludedNetwork(%s) = %v, want %v", s, got, want)
		}
	}
}

// IPv6 outside 2000::/3 is never global unicast (NAT64, IPv4-compatible, site-local,
// unallocated): no incident is made of it, whoever a static contact names for ::/0.
func TestIPv6OutsideGlobalUnicastIsNeverReported(t *testing.T) {
	c, err := New(Options{Threshold: 1, Window: time.Minute}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for a, want := range map[string]bool{
		"64:ff9b::a01:203": true, "64:ff9b::2d86:1a11": true, "fec0::1": true, "::a01:204": true, "4000::1": true, "5f00::1": true,
		"::ffff:45.134.26.17": false, "2a01:4f8::1": false, "2600::1": false, "3ffe::1": false,
	} {
		if got := c.Excluded(netip.MustParseAddr(a)); got != want {
			t.Errorf("Excluded(%s) = %v, want %v", a, got, want)
		}
	}
}

// Include undoes Exclude and the Never option for that network alone: a network around
// it, and the reserved networks, stay excluded.
func TestIncludeTakesOffThatNetworkAlone(t *testing.T) {
	c, err := New(Options{Threshold: 1, Window: time.Minute, Never: []netip.Prefix{netip.MustParsePrefix("45.134.26.0/24")}}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Exclude(netip.MustParsePrefix("::ffff:80.94.95.0/120"))
	c.Exclude(netip.MustParsePrefix("80.94.0.0/16"))
	c.Exclude(netip.MustParsePrefix("192.0.2.0/24"))
	c.Include(netip.MustParsePrefix("45.134.26.0/24"))
	c.Include(netip.MustParsePrefix("80.94.95.0/24"))
	c.Include(netip.MustParsePrefix("192.0.2.0/24"))
	for a, want := range map[string]bool{"45.134.26.7": false, "80.94.95.7": true, "80.95.0.1": false, "192.0.2.1": true, "10.0.0.1": true} {
		if got := c.Excluded(netip.MustParseAddr(a)); got != want {
			t.Errorf("Excluded(%s) = %v, want %v", a, got, want)
		}
	}
	c.Include(netip.MustParsePrefix("80.94.0.0/16"))
	if c.Excluded(netip.MustParseAddr("80.94.95.7")) {
		t.Error("80.94.95.7 still excluded once its networks were included")
	}
}

// A size named twice counts once: a batch's address groups have room for each size
// and the /24 once.
func TestNetworksOfAnAddressAreDistinct(t *testing.T) {
	c, err := New(Options{Threshold: 1, Window: time.Minute, Network: NetworkRule{SetRule: SetRule{Count: 2, Window: time.Hour}, Sizes: []int{24, 16, 24, 8, 8, 16}},
		Recurrence: RecurrenceRule{Days: 3}}, nil, nil, &store.Store{})
	if err != nil {
		t.Fatal(err)
	}
	sizes := c.heldNetworks()
	for _, a := range []string{"45.134.26.17", "2001:67c:2e8::1"} {
		var nets []netip.Prefix
		for _, size := range sizes {
			nets = append(nets, size(netip.MustParseAddr(a)))
		}
		if len(nets) != 3 || nets[0].Bits() < nets[1].Bits() || nets[1].Bits() < nets[2].Bits() {
			t.Errorf("networks of %s: %v", a, nets)
		}
	}
}

// A batch's groups hold each event with an address once under its address (mapped IPv4
// as IPv4) and once under each network held, in batch order, with the spans of its
// events and of those other than logins.
func TestBatchGroupsHoldEveryEventOnce(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	t0 := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	addrs := []netip.Addr{netip.MustParseAddr("45.134.26.1"), netip.MustParseAddr("::ffff:45.134.26.1"),
		netip.MustParseAddr("45.134.26.9"), netip.MustParseAddr("45.134.27.1"), netip.MustParseAddr("2001:67c:2e8::1"),
		netip.MustParseAddr("2001:67c:2e8::2"), {}}
	var batch []abusewatch.Event
	for i := range 500 {
		e := abusewatch.Event{Time: t0.Add(time.Duration(r.IntN(3600)) * time.Second), Class: abusewatch.ClassAuthFailure, Addr: addrs[r.IntN(len(addrs))], Seq: uint64(i)}
		if r.IntN(10) == 0 {
			e.Class = abusewatch.ClassAuthSuccess
		}
		batch = append(batch, e)
	}
	sizes := []func(netip.Addr) netip.Prefix{net24, func(a netip.Addr) netip.Prefix { return networkOf(a, 16) }}
	g := newRecentEvents(nil, time.Time{}, time.Hour, 1000, sizes).group(batch)

	wantAddr := map[netip.Addr][]int32{}
	wantNet := map[netip.Prefix][]int32{}
	var wantSuccesses []int32
	for i, e := range batch {
		if !e.Addr.IsValid() {
			continue
		}
		a := e.Addr.Unmap()
		wantAddr[a] = append(wantAddr[a], int32(i))
		for _, size := range sizes {
			wantNet[size(a)] = append(wantNet[size(a)], int32(i))
		}
		if e.Class == abusewatch.ClassAuthSuccess {
			wantSuccesses = append(wantSuccesses, int32(i))
		}
	}
	if len(g.addrs) != len(wantAddr) || len(g.nets) != len(wantNet) {
		t.Fatalf("%d address groups and %d network groups, want %d and %d", len(g.addrs), len(g.nets), len(wantAddr), len(wantNet))
	}
	for _, ag := range g.addrs {
		if !slices.Equal(ag.at, wantAddr[ag.addr]) {
			t.Errorf("%s: events %v, want %v", ag.addr, ag.at, wantAddr[ag.addr])
		}
		var all, counted span
		for _, i := range ag.at {
			all.widen(batch[i].Time)
			if batch[i].Class != abusewatch.ClassAuthSuccess {
				counted.widen(batch[i].Time)
			}
		}
		if ag.all != all || ag.counted != counted {
			t.Errorf("%s: spans %v %v, want %v %v", ag.addr, ag.all, ag.counted, all, counted)
		}
		for _, j := range ag.nets[:ag.nnets] {
			if !g.nets[j].p.Contains(ag.addr) {
				t.Errorf("%s is grouped under %s", ag.addr, g.nets[j].p)
			}
		}
	}
	for _, ng := range g.nets {
		if !slices.Equal(ng.at, wantNet[ng.p]) {
			t.Errorf("%s: events %v, want %v", ng.p, ng.at, wantNet[ng.p])
		}
	}
	var successes []int32
	for _, s := range g.successes {
		successes = append(successes, s.at)
		if g.addrs[s.addr].addr != batch[s.at].Addr.Unmap() {
			t.Errorf("login %d is grouped under %s", s.at, g.addrs[s.addr].addr)
		}
	}
	if !slices.Equal(successes, wantSuccesses) {
		t.Errorf("logins %v, want %v", successes, wantSuccesses)
	}
}

// A second pass over an address's visits finds each visit's incident where the first
// pass stored it, not only the newest: it makes none again, and a changed visit still
// grows.
func TestASecondPassFindsEveryVisitStored(t *testing.T) {
	st := tempStore(t)
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var evs []abusewatch.Event
	for day := range 4 {
		for i := range 6 {
			evs = append(evs, abusewatch.Event{Time: t0.Add(time.Duration(day)*48*time.Hour + time.Duration(i)*time.Second), Class: abusewatch.ClassAuthFailure,
				Addr: netip.MustParseAddr("45.134.26.17"), Port: uint16(40000 + 10*day + i), Line: "x"})
		}
	}
	if _, err := st.Commit(evs, nil); err != nil {
		t.Fatal(err)
	}
	opts := Options{Threshold: 5, Window: 10 * time.Minute}
	from, to := t0, t0.Add(10*24*time.Hour)
	if first := recorrelated(t, opts, st, from, to); len(first) != 4 {
		t.Fatalf("the first pass made %d incidents, want one per visit, 4", len(first))
	}
	if again := recorrelated(t, opts, st, from, to); len(again) != 0 {
		t.Errorf("the second pass made %d incidents again, want none: %v", len(again), again)
	}
	// One more attempt in the second visit: that visit grows, the others stay.
	late := abusewatch.Event{Time: t0.Add(48*time.Hour + 10*time.Second), Class: abusewatch.ClassAuthFailure,
		Addr: netip.MustParseAddr("45.134.26.17"), Port: 41000, Line: "late"}
	if _, err := st.Commit([]abusewatch.Event{late}, nil); err != nil {
		t.Fatal(err)
	}
	grown := recorrelated(t, opts, st, from, to)
	if len(grown) != 1 {
		t.Fatalf("after a late attempt the pass made or grew %d incidents, want 1: %v", len(grown), grown)
	}
	for _, inc := range grown {
		if inc.Count != 7 || !inc.First.Equal(t0.Add(48*time.Hour)) {
			t.Errorf("the grown visit: %d events from %s, want 7 from %s", inc.Count, inc.First, t0.Add(48*time.Hour))
		}
	}
}

// A pass takes a recurring scope's first-day evidence from the events it read
// (firstDays) instead of the store: the incidents are the same either way. The first
// day holds more events than are kept, some at the same instant in separate commits
// (Seq breaks the tie) and across batches; a scope whose first day began before the
// pass is read from the store.
func TestFirstDaysKeptByAPassAreWhatTheStoreHolds(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	ev := func(addr string, at time.Time, port uint16) abusewatch.Event {
		return abusewatch.Event{Time: at, Class: abusewatch.ClassAuthFailure, Addr: netip.MustParseAddr(addr), Port: port,
			Service: "sshd", Host: "web1", Line: fmt.Sprintf("Failed password from %s port %d", addr, port)}
	}
	var evs []abusewatch.Event
	for day := 0; day < 70; day += 7 { // weekly, 30 attempts a visit, two a second
		for i := range 30 {
			evs = append(evs, ev("80.94.95.115", t0.AddDate(0, 0, day).Add(3*time.Hour+time.Duration(i/2)*time.Second), uint16(30000+100*day+i)))
		}
	}
	for day := range 20 { // a /24 whose addresses each come once, the first day twice
		evs = append(evs, ev(fmt.Sprintf("80.94.96.%d", 1+day), t0.AddDate(0, 0, 3*day).Add(5*time.Hour), 40000))
	}
	evs = append(evs, ev("80.94.96.200", t0.Add(15*time.Hour), 40001))
	for day := 0; day < 50; day += 5 { // its first day begins before the pass
		evs = append(evs, ev("81.2.69.10", t0.AddDate(0, 0, day).Add(2*time.Hour), uint16(50000+day)),
			ev("81.2.69.10", t0.AddDate(0, 0, day).Add(20*time.Hour), uint16(51000+day)))
	}
	got := keptAsRead(t, evs, Options{Threshold: 1000, Window: time.Minute, Recurrence: RecurrenceRule{Days: 5}}, t0.Add(10*time.Hour), t0.AddDate(0, 0, 80))
	if r := rules(slices.Collect(maps.Values(got))); r["recurrence"] != 3 {
		t.Fatalf("incidents %v; want 3 recurrences", r)
	}
}

// A scope whose first day was taken, or let go of as the period slid past it, is not
// kept again from a day the pass had begun reading without it: its recurrence of a
// later first day reads that day from the store, whole.
func TestFirstDaysAreNotKeptFromTheMiddleOfADay(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	var evs []abusewatch.Event
	for _, day := range []int{0, 1, 3, 7, 8, 10} { // recurs on day 1 (first day 0), closes, recurs on day 3 (first day 1)...
		for i := range 14 { // two batches of the day
			evs = append(evs, abusewatch.Event{Time: t0.AddDate(0, 0, day).Add(time.Duration(i) * time.Hour), Class: abusewatch.ClassAuthFailure,
				Addr: netip.MustParseAddr("80.94.95.115"), Port: uint16(30000 + 100*day + i), Service: "sshd", Host: "web1",
				Line: fmt.Sprintf("Failed password day %d hour %d", day, i)})
		}
	}
	opts := Options{Threshold: 1000, Window: time.Minute, Evidence: 4,
		Recurrence: RecurrenceRule{Days: 2, Period: 2 * 24 * time.Hour, Gap: time.Hour}}
	got := keptAsRead(t, evs, opts, t0, t0.AddDate(0, 0, 12))
	if r := rules(slices.Collect(maps.Values(got))); r["recurrence"] < 3 {
		t.Fatalf("incidents %v; want at least 3 recurrences", r)
	}
}

// keptAsRead runs a pass over evs (stored three to a commit, each three in reverse
// order) from from to to twice, with firstDays and with the store's first days, in
// batches of 7 events, checks that both make the same incidents, and returns them.
func keptAsRead(t *testing.T, evs []abusewatch.Event, opts Options, from, to time.Time) map[string]abusewatch.Incident {
	t.Helper()
	slices.SortStableFunc(evs, func(a, b abusewatch.Event) int { return a.Time.Compare(b.Time) })
	stored := func() *store.Store {
		st := tempStore(t)
		for i := 0; i < len(evs); i += 3 {
			// Each pair at one instant goes in two commits, the later one first.
			part := slices.Clone(evs[i:min(i+3, len(evs))])
			slices.Reverse(part)
			if _, err := st.Commit(part, nil); err != nil {
				t.Fatal(err)
			}
		}
		return st
	}
	defer func(b int, k bool) { recorrelateBatch, keepFirstDays = b, k }(recorrelateBatch, keepFirstDays)
	recorrelateBatch = 7
	keepFirstDays = false
	read := recorrelated(t, opts, stored(), from, to)
	keepFirstDays = true
	kept := recorrelated(t, opts, stored(), from, to)
	for id, want := range read {
		if got, ok := kept[id]; !ok || store.IncidentDigest(got) != store.IncidentDigest(want) {
			t.Errorf("%s (%s): evidence %v\nwith the store's first day: %v", id, want.Key, evidenceLines(got), evidenceLines(want))
		}
	}
	if len(kept) != len(read) {
		t.Errorf("%d incidents with firstDays, %d without", len(kept), len(read))
	}
	return read
}

func evidenceLines(inc abusewatch.Incident) []string {
	var out []string
	for _, e := range inc.Evidence {
		out = append(out, fmt.Sprintf("%s %d %s", e.Time.Format(time.TimeOnly), e.Seq, e.Line))
	}
	return out
}

// A pass reads a recurring scope's counters of a day once for all the batches of that
// day, and sums them into its past when the day is over; the next pass reads them
// again (events may have come since).
func TestRecurrenceReadsADayOnceInAPassAndAgainInTheNext(t *testing.T) {
	st := tempStore(t)
	t0 := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	visit := func(day, hour, n int) (evs []abusewatch.Event) {
		for i := range n {
			evs = append(evs, abusewatch.Event{Time: t0.AddDate(0, 0, day).Add(time.Duration(hour)*time.Hour + time.Duration(i)*time.Second),
				Class: abusewatch.ClassAuthFailure, Addr: netip.MustParseAddr("80.94.95.117"), Port: uint16(30000 + 100*day + 10*hour + i),
				Service: "sshd", Host: "web1", Line: "x"})
		}
		return evs
	}
	for day := range 4 {
		for hour := 1; hour < 24; hour += 4 { // six visits a day, in three batches
			if _, err := st.Commit(visit(day, hour, 1), nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	defer func(b int) { recorrelateBatch = b }(recorrelateBatch)
	recorrelateBatch = 2
	opts := Options{Threshold: 1000, Window: 10 * time.Minute, Recurrence: RecurrenceRule{Days: 3}}
	c, err := New(opts, st, st, st)
	if err != nil {
		t.Fatal(err)
	}
	count := func(c *Correlator, from time.Time) int {
		t.Helper()
		var last abusewatch.Incident
		if _, err := c.Recorrelate(context.Background(), st, from, t0.AddDate(0, 0, 4), func(incs []abusewatch.Incident) error {
			for _, inc := range incs {
				if inc.Rule == "recurrence" && inc.Last.After(last.Last) {
					last = inc
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return last.Count
	}
	if n := count(c, t0); n != 24 {
		t.Errorf("first pass: a recurrence of %d events, want 24", n)
	}
	if _, err := st.Commit(visit(3, 23, 3), nil); err != nil {
		t.Fatal(err)
	}
	// Over the last day only: the first thing the pass reads is that day.
	if n := count(c, t0.AddDate(0, 0, 3)); n != 27 {
		t.Errorf("second pass, after 3 more events on the last day: a recurrence of %d events, want 27", n)
	}
}

// A pass holds each recurrence open and takes its counts once, when it can no longer
// grow (held.go): what it ends with is what the rules applied batch by batch as the
// events came make, but for the evidence sampled.
func TestAPassEndsWithTheRecurrencesTheLiveRulesMake(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	ev := func(addr string, at time.Time, port uint16, host string) abusewatch.Event {
		return abusewatch.Event{Time: at, Class: abusewatch.ClassAuthFailure, Addr: netip.MustParseAddr(addr), Port: port,
			Service: "sshd", Host: host, Line: "Failed password for root from " + addr}
	}
	opts := Options{Threshold: 1000, Window: 10 * time.Minute, Recurrence: RecurrenceRule{Days: 3, Gap: 30 * 24 * time.Hour}}
	t.Run("weekly visitor and network", func(t *testing.T) {
		// A weekly visitor whose failed logins write three lines each, on a second
		// host from its fifth visit on, and a /24 whose addresses each come once.
		var evs []abusewatch.Event
		for day := 0; day < 120; day += 7 {
			for c := range 2 {
				host := "web1"
				if c == 1 && day >= 28 {
					host = "web2"
				}
				for l := range 3 {
					evs = append(evs, ev("80.94.95.115", t0.AddDate(0, 0, day).Add(time.Duration(60*c+l)*time.Second), uint16(30000+10*day+c), host))
				}
			}
		}
		for day := range 20 {
			evs = append(evs, ev(fmt.Sprintf("80.94.96.%d", 1+day), t0.AddDate(0, 0, 2*day).Add(5*time.Hour), 40000, "web1"))
		}
		want, got := liveAndPass(t, opts, evs, 3)
		if len(want) != 2 || want[0].Key != "recur:80.94.95.115/32" || want[1].Key != "recur:80.94.96.0/24" || len(want[0].Hosts) != 2 ||
			want[0].Sources != nil || len(want[1].Sources) != 20 {
			// The /24's: every address whose events are stored, the one of the day
			// between its first and the day it was made too.
			t.Fatalf("the live rules made %+v; want a recurrence of the visitor on two hosts, and of the /24 from its 20 addresses", want)
		}
		sameRecurrences(t, want, got)
	})
	t.Run("back after the gap", func(t *testing.T) {
		// An address back after more than the gap, in a batch that begins before its
		// incident can close: that incident is let go of then, and a new one made
		// from the day it is back (its first 4 days still count toward the rule's 3).
		var evs []abusewatch.Event
		for _, day := range []int{0, 1, 2, 3, 35, 36, 37} {
			evs = append(evs, ev("81.2.69.10", t0.AddDate(0, 0, day).Add(9*time.Hour), uint16(50000+day), "web1"))
		}
		evs = append(evs, ev("82.1.1.1", t0.AddDate(0, 0, 33), 1, "web1")) // the gap ends at 09:00
		want, got := liveAndPass(t, opts, evs, 2)
		if len(want) != 2 || want[0].Count != 4 || want[1].Count != 3 || !want[1].First.Equal(t0.AddDate(0, 0, 35).Add(9*time.Hour)) {
			t.Fatalf("the live rules made %+v; want a recurrence of the first 4 days, and one of the last 3", want)
		}
		sameRecurrences(t, want, got)
	})
}

// liveAndPass applies the rules of opts to evs as they come, two at a time, and in a
// pass over them (batches of batch), each over a store of its own, and returns the
// recurrence incidents each made, by key, in their last form.
func liveAndPass(t *testing.T, opts Options, evs []abusewatch.Event, batch int) (live, pass []abusewatch.Incident) {
	t.Helper()
	slices.SortStableFunc(evs, func(a, b abusewatch.Event) int { return a.Time.Compare(b.Time) })
	made := appliedLive(t, opts, evs, 2)
	recurrences := func(m map[string]abusewatch.Incident) []abusewatch.Incident {
		var out []abusewatch.Incident
		for _, inc := range m {
			if inc.Rule == "recurrence" {
				out = append(out, inc)
			}
		}
		slices.SortFunc(out, func(a, b abusewatch.Incident) int {
			return cmp.Or(strings.Compare(a.Key, b.Key), a.First.Compare(b.First))
		})
		return out
	}
	st := tempStore(t)
	if _, err := st.Commit(evs, nil); err != nil {
		t.Fatal(err)
	}
	defer func(b int) { recorrelateBatch = b }(recorrelateBatch)
	recorrelateBatch = batch
	return recurrences(made), recurrences(recorrelated(t, opts, st, evs[0].Time, evs[len(evs)-1].Time.Add(time.Hour)))
}

// sameRecurrences reports where the incidents of a pass (got) differ from those of the
// live rules (want), but for the evidence each sampled and the sources of the events
// each read (the pass's batches are larger: it may name more).
func sameRecurrences(t *testing.T, want, got []abusewatch.Incident) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("the pass made %d recurrences, the live rules %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.ID != w.ID || g.Count != w.Count || g.Attempts != w.Attempts || !g.First.Equal(w.First) || !g.Last.Equal(w.Last) ||
			!slices.Equal(g.Hosts, w.Hosts) || !slices.Equal(g.Classes, w.Classes) || g.Severity != w.Severity ||
			g.AdminOnly != w.AdminOnly || g.Addr != w.Addr || len(g.Evidence) == 0 ||
			slices.ContainsFunc(w.Sources, func(a netip.Addr) bool { return !slices.Contains(g.Sources, a) }) {
			t.Errorf("%s: the pass made\n%+v\nthe live rules\n%+v", w.Key, g, w)
		}
	}
}
