package correlate

import (
	"context"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/store"
)

// countedStore is a store that counts its reads of each network's events.
type countedStore struct {
	*store.Store
	mu    sync.Mutex
	reads map[netip.Prefix]int // by network, by address (a single-address prefix)
}

func (s *countedStore) EventsByAddr(a netip.Addr, from, to time.Time) ([]abusewatch.Event, error) {
	s.mu.Lock()
	s.reads[netip.PrefixFrom(a, a.BitLen())]++
	s.mu.Unlock()
	return s.Store.EventsByAddr(a, from, to)
}

func (s *countedStore) EventsByNetwork(p netip.Prefix, from, to time.Time) ([]abusewatch.Event, error) {
	s.mu.Lock()
	s.reads[p]++
	s.mu.Unlock()
	return s.Store.EventsByNetwork(p, from, to)
}

// liveRun is how runLive feeds its batches.
type liveRun struct {
	memo    bool           // keepNetworkSources
	limit   int            // events the Correlator holds (recentLimit when zero)
	restart []int          // the batches before which a new Correlator takes over (a restart)
	exclude []netip.Prefix // excluded networks
}

// runLive stores and correlates batches one after the other as the daemon does, over a
// store of its own, and returns the incidents made, by ID in their last form, and the
// reads of each network's events from the store.
func runLive(t *testing.T, opts Options, batches [][]abusewatch.Event, run liveRun) (map[string]abusewatch.Incident, map[netip.Prefix]int) {
	t.Helper()
	defer func(k bool) { keepNetworkSources = k }(keepNetworkSources)
	keepNetworkSources = run.memo
	st := &countedStore{Store: tempStore(t), reads: map[netip.Prefix]int{}}
	var c *Correlator
	start := func() {
		var err error
		if c, err = New(opts, st, st.Store, st.Store); err != nil {
			t.Fatal(err)
		}
		if run.limit > 0 {
			c.recent.limit = run.limit
		}
		for _, p := range run.exclude {
			c.Exclude(p)
		}
	}
	start()
	got := map[string]abusewatch.Incident{}
	for i, batch := range batches {
		if slices.Contains(run.restart, i) {
			start()
		}
		stored, err := st.Commit(batch, nil)
		if err != nil {
			t.Fatal(err)
		}
		incs, err := c.Correlate(context.Background(), stored)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.PutIncidents(incs); err != nil {
			t.Fatal(err)
		}
		for _, inc := range incs {
			got[inc.ID] = inc
		}
	}
	return got, st.reads
}

// sameIncidents reports where got differs from want (by ID and digest).
func sameIncidents(t *testing.T, what string, want, got map[string]abusewatch.Incident) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d incidents, %d without the memo: %v against %v", what, len(got), len(want), slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
		return
	}
	for id, w := range want {
		if g, ok := got[id]; !ok || store.IncidentDigest(g) != store.IncidentDigest(w) {
			t.Errorf("%s: incident %s (%s) is\n%+v\nwithout the memo\n%+v", what, id, w.Key, g, w)
		}
	}
}

// The network rule reads a network's events only when the memo of its sources says
// that the rule may be met, and makes the same incidents then as without the memo. At
// the boundaries of the window (the window holds the events less than its length
// before the newest; a rule reads from a window before the batch's first event).
func TestNetworkRuleReadsOnlyANetworkThatMayMeetIt(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	opts := Options{Threshold: 1000, Window: 10 * time.Minute, Network: NetworkRule{SetRule: SetRule{Count: 3, Window: time.Hour}}}
	net := netip.MustParsePrefix("45.134.26.0/24")
	type ev struct {
		host  byte // 45.134.26.host
		at    time.Duration
		class abusewatch.Class
	}
	fail := func(host byte, at time.Duration) ev { return ev{host, at, abusewatch.ClassAuthFailure} }
	for _, tc := range []struct {
		name     string
		batches  [][]ev
		exclude  string
		restart  int  // a new Correlator before this batch (0: none)
		incident bool // the network's incident is made
		read     bool // the network's events are read from the store
	}{
		{name: "three addresses within the window", incident: true, read: true,
			batches: [][]ev{{fail(1, 0)}, {fail(2, 30*time.Minute)}, {fail(3, time.Hour-1)}}},
		{name: "the first a window before the third: possible, not met", read: true,
			batches: [][]ev{{fail(1, 0)}, {fail(2, 30*time.Minute)}, {fail(3, time.Hour)}}},
		{name: "the first a window and a nanosecond before the third",
			batches: [][]ev{{fail(1, 0)}, {fail(2, 30*time.Minute)}, {fail(3, time.Hour+1)}}},
		{name: "two addresses, many lines",
			batches: [][]ev{{fail(1, 0), fail(2, time.Second)}, {fail(1, time.Minute), fail(2, 2*time.Minute)}, {fail(1, 3*time.Minute)}, {fail(2, 4*time.Minute)}}},
		{name: "the third a successful login, which the rule does not count",
			batches: [][]ev{{fail(1, 0)}, {fail(2, time.Minute)}, {{3, 2 * time.Minute, abusewatch.ClassAuthSuccess}}, {fail(1, 3*time.Minute)}}},
		{name: "an address's newest line two hours after its first, in one batch", incident: true, read: true,
			batches: [][]ev{{fail(1, 0), fail(1, 2*time.Hour)}, {fail(2, 2*time.Hour+time.Minute)}, {fail(3, 2*time.Hour+2*time.Minute)}}},
		{name: "a late line brings the third", incident: true, read: true,
			batches: [][]ev{{fail(1, 0), fail(2, time.Minute)}, {fail(2, 20*time.Minute)}, {fail(3, 10*time.Minute)}}},
		{name: "the third excluded: the memo counts it, the rule does not", exclude: "45.134.26.3/32", read: true,
			batches: [][]ev{{fail(1, 0)}, {fail(2, time.Minute)}, {fail(3, 2*time.Minute)}, {fail(1, 3*time.Minute)}}},
		{name: "three, two stored before a restart", restart: 2, incident: true, read: true,
			batches: [][]ev{{fail(1, 0)}, {fail(2, time.Minute)}, {fail(3, 2*time.Minute)}}},
		{name: "two stored before a restart", restart: 2, read: true, // once, to learn what was stored
			batches: [][]ev{{fail(1, 0)}, {fail(2, time.Minute)}, {fail(1, 2*time.Minute)}, {fail(2, 3*time.Minute)}, {fail(1, 4*time.Minute)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var batches [][]abusewatch.Event
			n := 0
			for _, b := range tc.batches {
				var batch []abusewatch.Event
				for _, e := range b {
					n++
					a := netip.AddrFrom4([4]byte{45, 134, 26, e.host})
					batch = append(batch, abusewatch.Event{Time: t0.Add(e.at), Addr: a, Port: uint16(30000 + n), Class: e.class,
						Service: "sshd", Host: "web1", Line: fmt.Sprintf("line %d", n)})
				}
				batches = append(batches, batch)
			}
			// The store holds only the newest batch: every window is read from the store.
			run := liveRun{limit: 1}
			if tc.exclude != "" {
				run.exclude = []netip.Prefix{netip.MustParsePrefix(tc.exclude)}
			}
			if tc.restart > 0 {
				run.restart = []int{tc.restart}
			}
			want, wantReads := runLive(t, opts, batches, run)
			run.memo = true
			got, reads := runLive(t, opts, batches, run)
			sameIncidents(t, "with the memo", want, got)
			made := slices.ContainsFunc(slices.Collect(maps.Values(got)), func(inc abusewatch.Incident) bool { return inc.Key == "net:"+net.String() })
			if made != tc.incident {
				t.Errorf("network incident made: %v, want %v", made, tc.incident)
			}
			if (reads[net] > 0) != tc.read {
				t.Errorf("the network's events read %d times with the memo (%d without), want read: %v", reads[net], wantReads[net], tc.read)
			}
			if tc.restart > 0 && !tc.incident && reads[net] != 1 {
				t.Errorf("read %d times after a restart, want once", reads[net])
			}
		})
	}
}

// floodEvents are events of networks around the network rule's count (10): of /24s with
// 8 to 12 addresses, an IPv6 /48 with as many /64s, a /64 with as many addresses, some
// successful logins, each address coming at random times over four hours.
func floodEvents(r *rand.Rand, t0 time.Time) []abusewatch.Event {
	var evs []abusewatch.Event
	add := func(a netip.Addr, n int) {
		for range n {
			class := abusewatch.ClassAuthFailure
			if r.IntN(20) == 0 {
				class = abusewatch.ClassAuthSuccess
			}
			evs = append(evs, abusewatch.Event{Time: t0.Add(time.Duration(r.Int64N(int64(4 * time.Hour)))), Addr: a,
				Port: uint16(30000 + len(evs)), Class: class, Service: "sshd", Host: "web1", Line: fmt.Sprintf("line %d", len(evs))})
		}
	}
	for net := range 5 {
		for host := range 8 + net {
			add(netip.AddrFrom4([4]byte{45, 134, byte(26 + net), byte(1 + host)}), 2+r.IntN(6))
		}
	}
	for i := range 11 {
		add(netip.AddrFrom16([16]byte{0x2a, 0x01, 0x4f, 0x8, 0, 0, 0, byte(i), 15: 1}), 2+r.IntN(6))
		add(netip.AddrFrom16([16]byte{0x2a, 0x01, 0x4f, 0x9, 0, 0, 0, 0, 15: byte(1 + i)}), 2+r.IntN(6))
	}
	return evs
}

// The same events give the same incidents with the memo of sources as without it: in
// one batch, in many small ones, out of order, over a restart, holding few events, and
// through a pass over history.
func TestNetworkSourcesChangeNoIncident(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	r := rand.New(rand.NewPCG(29, 1))
	evs := floodEvents(r, t0)
	inOrder := slices.Clone(evs)
	slices.SortStableFunc(inOrder, func(a, b abusewatch.Event) int { return a.Time.Compare(b.Time) })
	batchesOf := func(evs []abusewatch.Event, size int) [][]abusewatch.Event {
		var out [][]abusewatch.Event
		for i := 0; i < len(evs); i += size {
			out = append(out, evs[i:min(i+size, len(evs))])
		}
		return out
	}
	// Out of order: the batches in time order but for one in five, which comes up to
	// two hours late.
	late := slices.Clone(inOrder)
	for i := range late {
		if r.IntN(5) == 0 {
			late[i].Time = late[i].Time.Add(-time.Duration(r.Int64N(int64(2 * time.Hour))))
		}
	}
	opts := Options{Threshold: 5, Window: 10 * time.Minute, Network: NetworkRule{SetRule: SetRule{Count: 10, Window: time.Hour}, Sizes: []int{24, 16}},
		PortScan: SetRule{Count: 3, Window: time.Hour}}
	for _, tc := range []struct {
		name    string
		batches [][]abusewatch.Event
		run     liveRun
	}{
		{"one batch", [][]abusewatch.Event{inOrder}, liveRun{}},
		{"batches of 7", batchesOf(inOrder, 7), liveRun{}},
		{"batches of 7 holding 20 events", batchesOf(inOrder, 7), liveRun{limit: 20}},
		{"shuffled", batchesOf(evs, 13), liveRun{limit: 50}},
		{"late lines", batchesOf(late, 5), liveRun{limit: 30}},
		{"restarts", batchesOf(inOrder, 9), liveRun{limit: 30, restart: []int{10, 40, 41}}},
		{"excluded", batchesOf(late, 11), liveRun{exclude: []netip.Prefix{netip.MustParsePrefix("45.134.28.3/32"), netip.MustParsePrefix("2a01:4f9::4/128")}}},
	} {
		want, _ := runLive(t, opts, tc.batches, tc.run)
		tc.run.memo = true
		got, _ := runLive(t, opts, tc.batches, tc.run)
		sameIncidents(t, tc.name, want, got)
		if rules(slices.Collect(maps.Values(want)))["network"] == 0 {
			t.Errorf("%s: no network incident: the test tests nothing", tc.name)
		}
	}
	// A pass over the stored events, in batches of 20,000 and of 9.
	defer func(k bool, b int) { keepNetworkSources, recorrelateBatch = k, b }(keepNetworkSources, recorrelateBatch)
	for _, batch := range []int{20_000, 9} {
		recorrelateBatch = batch
		pass := func(memo bool) map[string]abusewatch.Incident {
			keepNetworkSources = memo
			st := tempStore(t)
			if _, err := st.Commit(late, nil); err != nil {
				t.Fatal(err)
			}
			// From the middle: what lies before the pass's start is read from the store.
			return recorrelated(t, opts, st, t0.Add(90*time.Minute), t0.Add(5*time.Hour))
		}
		want := pass(false)
		sameIncidents(t, fmt.Sprintf("a pass in batches of %d", batch), want, pass(true))
		if rules(slices.Collect(maps.Values(want)))["network"] == 0 {
			t.Errorf("a pass in batches of %d: no network incident", batch)
		}
	}
}

// The memo holds at most the rule's count of sources per network, and lets go of the
// networks not seen for two spans, or the older half over its limit; it still answers
// as an upper bound for what it let go of, by reading once.
func TestNetworkSourcesStayBounded(t *testing.T) {
	st := &countedStore{Store: tempStore(t), reads: map[netip.Prefix]int{}}
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	defer func(l int) { networkSourcesLimit = l }(networkSourcesLimit)
	networkSourcesLimit = 1000
	m := newNetworkSources(st, 10, func(p netip.Prefix) bool { return p.Bits() == 24 }, time.Time{}, 15*time.Minute)
	recent := newRecentEvents(st, time.Time{}, time.Hour, 1000, []func(netip.Addr) netip.Prefix{net24})
	recent.sources = m
	var all []abusewatch.Event
	for i := range 50 {
		var batch []abusewatch.Event
		for j := range 1000 {
			k := i*1000 + j
			// 5,000 /24s in turn, an event every 100 ms: each comes back every
			// 500 s with a new address (5 in all), and the memo outgrows its limit;
			// then 5,000 others, and the first are let go of for their age.
			n := k%5000 + 5000*(k/25000)
			a := netip.AddrFrom4([4]byte{45, byte(n / 250), byte(n % 250), byte(1 + k%25000/5000)})
			at := t0.Add(time.Duration(k) * 100 * time.Millisecond)
			batch = append(batch, abusewatch.Event{Time: at, Addr: a, Class: abusewatch.ClassAuthFailure, Line: fmt.Sprint(k)})
		}
		stored, err := st.Commit(batch, nil)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, stored...)
		recent.add(stored)
		if len(m.byNet) > networkSourcesLimit+1000 {
			t.Fatalf("batch %d: %d networks in the memo, limit %d", i, len(m.byNet), networkSourcesLimit)
		}
		sources := 0
		for p, l := range m.byNet {
			if len(l.src) > m.need {
				t.Fatalf("%s: %d sources kept, the rule needs %d", p, len(l.src), m.need)
			}
			sources += len(l.src)
		}
		if sources != m.sources || sources > 4*networkSourcesLimit+1000 {
			t.Fatalf("batch %d: %d sources counted, %d held; limit %d", i, m.sources, sources, 4*networkSourcesLimit)
		}
	}
	// Every network, let go of or not, answers at least what the store holds, and
	// an address said to have no event before those held has none.
	end := all[len(all)-1].Time
	held := 0
	for _, start := range []time.Time{t0, end.Add(-30 * time.Minute), end.Add(-time.Minute)} {
		for n := 0; n < 10_000; n += 7 {
			p := net24(netip.AddrFrom4([4]byte{45, byte(n / 250), byte(n % 250), 1}))
			for host := range 6 {
				a := netip.AddrFrom4([4]byte{45, byte(n / 250), byte(n % 250), byte(1 + host)})
				if recent.heldFrom(a, start) {
					held++
					if evs, _ := st.Store.EventsByAddr(a, start, recent.covered.Add(-1)); len(evs) > 0 {
						t.Fatalf("%s from %s: said to have no event before %s, has %d", a, start, recent.covered, len(evs))
					}
				}
			}
			evs, err := st.Store.EventsByNetwork(p, start, end)
			if err != nil {
				t.Fatal(err)
			}
			need := min(10, len(slices.CompactFunc(sortedAddrs(evs), func(a, b netip.Addr) bool { return a == b })))
			if ok, err := m.possible(p, start, need); err != nil || (!ok && need > 0) {
				t.Fatalf("%s from %s: possible = %v, %v; the store holds %d sources", p, start, ok, err, need)
			}
		}
	}
	if held == 0 {
		t.Error("no address known to have its events held")
	}
	if m.horizon == math.MinInt64 || m.evictedCut == math.MinInt64 {
		t.Errorf("the memo let go of nothing for its age (%d) or over its limit (%d)", m.horizon, m.evictedCut)
	}
}

func sortedAddrs(evs []abusewatch.Event) []netip.Addr {
	out := make([]netip.Addr, len(evs))
	for i := range evs {
		out[i] = evs[i].Addr
	}
	slices.SortFunc(out, func(a, b netip.Addr) int { return a.Compare(b) })
	return out
}

// The events held hold at most their bytes, whatever the length of the lines (review
// 29 F2: 100,000 events of 8 KiB lines), but for the newest batch, and as many events
// as before when the lines are typical; what they let go of is read from the store.
func TestRecentEventsHoldAtMostTheirBytes(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		line     int  // bytes
		distinct bool // a new address (and /24) a line
		counted  bool // the count of events, not their bytes, is what it runs up to
	}{
		{"typical lines", 300, false, true},
		{"typical lines, a new address each", 300, true, true},
		{"lines of 8 KiB", 8 << 10, false, false},
		{"lines of 8 KiB, a new address each", 8 << 10, true, false},
	} {
		st := tempStore(t)
		const limit = 2_000
		recent := newRecentEvents(st, time.Time{}, time.Hour, limit, []func(netip.Addr) netip.Prefix{net24})
		most := 0
		for b := range 20 {
			var batch []abusewatch.Event
			for i := range 250 {
				k := b*250 + i
				a := netip.AddrFrom4([4]byte{45, 134, 26, byte(1 + k%5)})
				if tc.distinct {
					a = netip.AddrFrom4([4]byte{45, byte(k >> 8), byte(k), 7})
				}
				line := fmt.Sprintf("%d Failed password for invalid user %s", k, strings.Repeat("x", tc.line))[:tc.line]
				batch = append(batch, abusewatch.Event{Time: t0.Add(time.Duration(k) * time.Second), Addr: a,
					Class: abusewatch.ClassAuthFailure, Host: "web1", Service: "sshd", Line: line})
			}
			stored, err := st.Commit(batch, nil)
			if err != nil {
				t.Fatal(err)
			}
			recent.add(stored)
			bytes := 0
			for _, h := range recent.batches {
				bytes += heldBytes(h.evs, h.groups)
			}
			if bytes != recent.bytes {
				t.Fatalf("%s: %d bytes counted, %d held", tc.name, recent.bytes, bytes)
			}
			if len(recent.batches) > 1 && (recent.bytes > recent.maxBytes || recent.end()-recent.first > limit) {
				t.Fatalf("%s: %d events, %d bytes in %d batches; at most %d and %d", tc.name, recent.end()-recent.first, recent.bytes, len(recent.batches), limit, recent.maxBytes)
			}
			most = max(most, recent.end()-recent.first)
			// What it let go of comes from the store.
			a := netip.MustParseAddr("45.134.26.1")
			got, _ := recent.netEvents(net24(a), t0, stored[len(stored)-1].Time)
			want, _ := st.EventsByNetwork(net24(a), t0, stored[len(stored)-1].Time)
			if !sameSeqs(got, want) {
				t.Fatalf("%s: %d events read, %d stored", tc.name, len(got), len(want))
			}
		}
		if tc.counted && most < limit {
			t.Errorf("%s: held %d events at most, want %d", tc.name, most, limit)
		}
		if !tc.counted && most > limit/4 {
			t.Errorf("%s: held %d events at most", tc.name, most)
		}
	}
}

// A flood of new addresses is judged from memory: the memo of each one's /24 tells that
// it has no event before those held, where the window of its per-address rule begins
// before them. An address that came before is read from the store.
func TestANewAddressIsNotReadFromTheStore(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	opts := Options{Threshold: 3, Window: 10 * time.Minute, Network: NetworkRule{SetRule: SetRule{Count: 10, Window: time.Hour}}}
	var batches [][]abusewatch.Event
	for b := range 40 {
		var batch []abusewatch.Event
		for i := range 50 {
			k := b*50 + i
			// A new address of a new /24 a line, but for 45.1.1.1, which comes back
			// with two lines every 10 batches, and three in the last: its incident
			// grows by lines whose window reaches behind the 2 batches held.
			a := netip.AddrFrom4([4]byte{46, byte(k >> 8), byte(k), 7})
			if i < 2 && b%10 == 9 || i < 3 && b == 39 {
				a = netip.MustParseAddr("45.1.1.1")
			}
			batch = append(batch, abusewatch.Event{Time: t0.Add(time.Duration(k) * 100 * time.Millisecond), Addr: a, Port: uint16(1000 + k),
				Class: abusewatch.ClassAuthFailure, Service: "sshd", Host: "web1", Line: fmt.Sprintf("line %d", k)})
		}
		batches = append(batches, batch)
	}
	run := liveRun{limit: 100}
	want, wantReads := runLive(t, opts, batches, run)
	run.memo = true
	got, reads := runLive(t, opts, batches, run)
	sameIncidents(t, "with the memo", want, got)
	back := netip.MustParsePrefix("45.1.1.1/32")
	if reads[back] == 0 || len(got) != 1 {
		t.Errorf("the address that came back read %d times, %d incidents; want it read, and its incident", reads[back], len(got))
	}
	n, without := 0, 0
	for p, k := range reads {
		if p.IsSingleIP() && p != back {
			n += k
		}
	}
	for p, k := range wantReads {
		if p.IsSingleIP() && p != back {
			without += k
		}
	}
	if n > 0 || without == 0 {
		t.Errorf("new addresses read %d times from the store (%d without the memo), want none", n, without)
	}
}

// A network's memo that let go of a source (more sources than the rule needs, or one
// older than all it keeps) no longer says which of its addresses came before: their
// windows are read from the store.
func TestAnAddressOfAFullMemoIsReadFromTheStore(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	opts := Options{Threshold: 2, Window: 10 * time.Minute, Network: NetworkRule{SetRule: SetRule{Count: 3, Window: time.Hour}}}
	type ev struct {
		host byte // 45.134.26.host
		at   time.Duration
	}
	for _, tc := range []struct {
		name    string
		batches [][]ev
	}{
		{"a fourth source takes the place of the first, which comes back",
			[][]ev{{{1, 0}}, {{2, time.Minute}, {3, time.Minute + 1}, {4, time.Minute + 2}}, {{1, 5 * time.Minute}}}},
		{"a late source older than those kept, which comes back as late",
			[][]ev{{{2, 10 * time.Minute}, {3, 10*time.Minute + 1}, {4, 10*time.Minute + 2}}, {{5, time.Minute}}, {{5, 2 * time.Minute}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var batches [][]abusewatch.Event
			n := 0
			for _, b := range tc.batches {
				var batch []abusewatch.Event
				for _, e := range b {
					n++
					batch = append(batch, abusewatch.Event{Time: t0.Add(e.at), Addr: netip.AddrFrom4([4]byte{45, 134, 26, e.host}), Port: uint16(30000 + n),
						Class: abusewatch.ClassAuthFailure, Service: "sshd", Host: "web1", Line: fmt.Sprintf("line %d", n)})
				}
				batches = append(batches, batch)
			}
			run := liveRun{limit: 1}
			want, _ := runLive(t, opts, batches, run)
			run.memo = true
			got, _ := runLive(t, opts, batches, run)
			sameIncidents(t, "with the memo", want, got)
			back := batches[len(batches)-1][0].Addr
			if !slices.ContainsFunc(slices.Collect(maps.Values(got)), func(inc abusewatch.Incident) bool { return inc.Key == "ip:"+back.String() }) {
				t.Errorf("no incident of %s, which came back", back)
			}
		})
	}
}

// A memo let go of for its age still answers for what it held: asked about the time
// it held, it reads the store.
func TestANetworkLetGoOfForItsAgeIsReadAgain(t *testing.T) {
	st := &countedStore{Store: tempStore(t), reads: map[netip.Prefix]int{}}
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	recent := newRecentEvents(st, time.Time{}, time.Hour, 10, []func(netip.Addr) netip.Prefix{net24})
	m := newNetworkSources(st, 3, func(p netip.Prefix) bool { return p.Bits() == 24 }, time.Time{}, time.Hour)
	recent.sources = m
	old := netip.MustParseAddr("45.134.26.1")
	feed := func(a netip.Addr, at time.Time) {
		stored, err := st.Commit([]abusewatch.Event{{Time: at, Addr: a, Class: abusewatch.ClassAuthFailure, Line: at.String()}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		recent.add(stored)
	}
	feed(old, t0)
	feed(netip.MustParseAddr("45.134.26.2"), t0.Add(time.Minute))
	for i := range 40 { // another network for three hours
		feed(netip.MustParseAddr("45.134.27.1"), t0.Add(time.Duration(i)*5*time.Minute))
	}
	if _, ok := m.byNet[net24(old)]; ok || m.horizon == math.MinInt64 {
		t.Fatalf("the memo of %s is kept three hours on (horizon %d)", net24(old), m.horizon)
	}
	if recent.heldFrom(old, t0) {
		t.Errorf("%s is said to have no event before %s", old, recent.covered)
	}
	if ok, err := m.possible(net24(old), t0, 2); !ok || err != nil || st.reads[net24(old)] != 1 {
		t.Errorf("possible = %v, %v after %d reads; want true, after one", ok, err, st.reads[net24(old)])
	}
}
