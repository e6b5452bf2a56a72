package correlate

import (
	"hash/maphash"
	"math"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/abusewatch/abusewatch"
)

// The network rule needs network_addresses distinct sources (addresses; /64s of an IPv6
// network wider than /64) within its window. Under a flood of a few addresses of one
// /24, past what recentEvents holds, it read the /24's whole window from the store in
// every batch, and never found enough (review 29 F1: from 10,000 to 1,000 lines a
// second, and RSS to 1 GB). networkSources remembers, of each network the rule judges,
// its sources with their newest events: one whose sources since the window's start are
// fewer than the rule needs is not read at all.
//
// The memo is an upper bound, never less than what a read would find: every event of
// the network added at or after its from (events are added before they are judged, in
// any time order) is known, and so are those read from the store to fill it; an event
// since forgotten (retention) or excluded stays in it, which only makes a read more
// likely. Of each network it keeps the need sources with the newest last events: the
// need-th newest is all a count up to need asks for (an older source that comes back
// takes the place of the oldest kept, or stays out when it is older still).
//
// A network that never had more sources than it keeps (most: a flood of new addresses
// brings one or two to each /24) knows every source's first event too: the memo of an
// address's /24 (IPv6 /64) tells that the address has no event before the ones held in
// memory, and its rules read those instead of the store (firstHeld).

// networkSources is the memo of the sources of the networks the network rule judges.
// add takes each batch in before the rules run; possible and firstHeld are asked by the
// rules of several networks and addresses at once.
type networkSources struct {
	store  EventReader
	need   int                     // the rule's count: sources kept per network
	tracks func(netip.Prefix) bool // the networks the rule judges
	span   time.Duration           // the longest a rule looks back: older memos are let go of
	limit  int                     // networks remembered at most

	mu sync.Mutex
	// Every event added at or after base is known (UnixNano; math.MinInt64: every
	// event), and of a network with no memo, every one at or after horizon (the memos
	// let go of for their age hold none later), or at or after evictedCut if it may be
	// one of evicted (those let go of over the limit).
	base, horizon int64
	evicted       bloom
	evictedCut    int64
	byNet         map[netip.Prefix]*sourceList
	sources       int   // held in byNet, at most 4 × limit (a rule of many addresses)
	now           int64 // the newest of the batches' oldest events (a line dated ahead moves it not)
	swept         int64 // now when memos were last let go of
}

// sourceList is the memo of one network: its need sources with the newest last events,
// complete for the events at or after from (UnixNano), the newest of any at newest.
// Until one is let go of (full), it holds every source, with its first event.
type sourceList struct {
	from, newest int64
	full         bool
	src          []sourceAt
}

// sourceAt is a source (an address, or a /64's first address, in 16 bytes) and the times
// of its first event known and of its newest the rule counts (UnixNano; math.MinInt64
// for none: successful logins alone).
type sourceAt struct {
	key       [16]byte
	first, at int64
}

// networkSourcesLimit is how many networks the memo holds at most (about 150 bytes
// each), and a quarter of the sources (32 bytes each): past either, those seen longest
// ago are let go of, and read once again when they come back within the window.
var networkSourcesLimit = 100_000

// newNetworkSources is the memo of the events added from base on (zero: all of them).
func newNetworkSources(store EventReader, need int, tracks func(netip.Prefix) bool, base time.Time, span time.Duration) *networkSources {
	m := &networkSources{store: store, need: need, tracks: tracks, span: span, limit: networkSourcesLimit,
		base: math.MinInt64, horizon: math.MinInt64, evictedCut: math.MinInt64, byNet: map[netip.Prefix]*sourceList{},
		now: math.MinInt64, swept: math.MinInt64}
	if !base.IsZero() {
		m.base = base.UnixNano()
	}
	return m
}

// networkSource is what the network rule counts of an address a (unmapped) in network
// p: the address, or its /64 in an IPv6 network wider than /64.
func networkSource(p netip.Prefix, a netip.Addr) netip.Addr {
	if p.Addr().Is6() && p.Bits() < 64 {
		return net24(a).Addr()
	}
	return a
}

// add takes in the sources of batch g: the first and the newest counted event (any
// but a successful login) of each address of each network.
func (m *networkSources) add(g *batchGroups) {
	tracked := make([]bool, len(g.nets))
	any := false
	for j := range g.nets {
		tracked[j] = m.tracks(g.nets[j].p)
		any = any || tracked[j]
	}
	if !any {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.now = max(m.now, g.all.from.UnixNano())
	for k := range g.addrs {
		ag := &g.addrs[k]
		first, last, at := ag.all.from.UnixNano(), ag.all.to.UnixNano(), int64(math.MinInt64)
		if ag.counted.n > 0 {
			at = ag.counted.to.UnixNano()
		}
		for _, j := range ag.nets[:ag.nnets] {
			if p := g.nets[j].p; tracked[j] {
				m.see(m.list(p), networkSource(p, ag.addr), first, last, at)
			}
		}
	}
	if m.swept == math.MinInt64 {
		m.swept = m.now
	}
	if m.now-m.swept > int64(m.span)/4 || m.over() {
		m.sweep()
	}
}

// list is the memo of p, a new one when it has none.
func (m *networkSources) list(p netip.Prefix) *sourceList {
	l := m.byNet[p]
	if l == nil {
		l = &sourceList{from: max(m.base, m.horizon), newest: math.MinInt64}
		if m.evictedCut > l.from && m.evicted.has(p) {
			l.from = m.evictedCut
		}
		m.byNet[p] = l
	}
	return l
}

// see records events of source a from first to last, the newest counted at at, in l.
func (m *networkSources) see(l *sourceList, a netip.Addr, first, last, at int64) {
	key := a.As16()
	l.newest = max(l.newest, last)
	oldest := -1
	for i := range l.src {
		if s := &l.src[i]; s.key == key {
			s.first, s.at = min(s.first, first), max(s.at, at)
			return
		}
		if oldest < 0 || l.src[i].at < l.src[oldest].at {
			oldest = i
		}
	}
	switch {
	case len(l.src) < m.need:
		if len(l.src) == cap(l.src) { // to need, not past it
			l.src = append(make([]sourceAt, 0, min(max(2*cap(l.src), 1), m.need)), l.src...)
		}
		l.src = append(l.src, sourceAt{key, first, at})
		m.sources++
	case at > l.src[oldest].at:
		// The one let go of is no newer than any kept: it counts for no start that
		// need sources do not meet without it.
		l.src[oldest] = sourceAt{key, first, at}
		l.full = true
	default:
		l.full = true
	}
}

// sweep lets go of the memos of the networks with no event within two spans of now (a
// batch may bring events up to a span older than its newest), and, over the limit, of
// the half seen longest ago: what comes back of them is read from the store once.
func (m *networkSources) sweep() {
	m.swept = m.now
	if cut := m.now - 2*int64(m.span); cut > m.horizon {
		for p, l := range m.byNet {
			if l.newest < cut {
				m.sources -= len(l.src)
				delete(m.byNet, p)
			}
		}
		m.horizon = cut
		if m.evictedCut != math.MinInt64 && m.evictedCut <= m.horizon {
			m.evicted.clear() // the horizon answers for them
			m.evictedCut = math.MinInt64
		}
	}
	if !m.over() {
		return
	}
	newest := make([]int64, 0, len(m.byNet))
	for _, l := range m.byNet {
		newest = append(newest, l.newest)
	}
	slices.Sort(newest)
	cut := newest[len(newest)/2] + 1
	if m.evicted.bits == nil {
		m.evicted = newBloom(64 * m.limit)
	}
	for p, l := range m.byNet {
		if l.newest < cut {
			m.sources -= len(l.src)
			delete(m.byNet, p)
			m.evicted.add(p)
		}
	}
	m.evictedCut = max(m.evictedCut, cut)
}

// over says whether the memo holds more networks, or sources, than it may.
func (m *networkSources) over() bool {
	return len(m.byNet) > m.limit || m.sources > 4*m.limit
}

// possible says whether network p may hold events from need distinct sources from start
// on: false only when the memo knows it cannot. A memo that does not reach back to
// start (the events stored before the Correlator or the pass began, or let go of) is
// filled from the store first, once.
func (m *networkSources) possible(p netip.Prefix, start time.Time, need int) (bool, error) {
	if !m.tracks(p) || need > m.need {
		return true, nil
	}
	s := start.UnixNano()
	m.mu.Lock()
	l := m.list(p)
	from := l.from
	m.mu.Unlock()
	if s < from {
		// Only the rules of p, one batch at a time, fill its memo; add waits for them.
		evs, err := m.store.EventsByNetwork(p, start, time.Unix(0, from-1))
		if err != nil {
			return true, err
		}
		m.mu.Lock()
		for i := range evs {
			if e := &evs[i]; e.Addr.IsValid() {
				t, at := e.Time.UnixNano(), e.Time.UnixNano()
				if e.Class == abusewatch.ClassAuthSuccess {
					at = math.MinInt64
				}
				m.see(l, networkSource(p, e.Addr.Unmap()), t, t, at)
			}
		}
		l.from = min(l.from, s)
		m.mu.Unlock()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, src := range l.src {
		if src.at >= s {
			n++
		}
	}
	return n >= need, nil
}

// firstHeld says whether the memo knows that address a (unmapped) has no event from
// start on before covered: its /24 (IPv6 /64) is judged by the rule, its memo reaches
// back to start and holds every source. Its events from start on are then those held
// from covered on.
func (m *networkSources) firstHeld(a netip.Addr, start, covered time.Time) bool {
	p := net24(a)
	if !m.tracks(p) {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.byNet[p]
	if l == nil || l.full || l.from > start.UnixNano() {
		return false
	}
	key := a.As16()
	for _, s := range l.src {
		if s.key == key {
			return s.first >= covered.UnixNano()
		}
	}
	return true // no event since from
}

// bloom is a Bloom filter of networks: has may say yes of one never added, never no of
// one added.
type bloom struct {
	seed maphash.Seed
	bits []uint64
}

func newBloom(n int) bloom {
	return bloom{seed: maphash.MakeSeed(), bits: make([]uint64, max(n/64, 1))}
}

// at calls fn with the four bits of p.
func (b *bloom) at(p netip.Prefix, fn func(word int, bit uint64) bool) bool {
	h := maphash.Comparable(b.seed, p)
	h1, h2 := h, h>>32|1
	n := uint64(len(b.bits)) * 64
	for i := range uint64(4) {
		x := (h1 + i*h2) % n
		if !fn(int(x/64), 1<<(x%64)) {
			return false
		}
	}
	return true
}

func (b *bloom) add(p netip.Prefix) {
	b.at(p, func(w int, bit uint64) bool { b.bits[w] |= bit; return true })
}

func (b *bloom) has(p netip.Prefix) bool {
	return b.bits != nil && b.at(p, func(w int, bit uint64) bool { return b.bits[w]&bit != 0 })
}

func (b *bloom) clear() { clear(b.bits) }
