package correlate

import (
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

// networkSources is the memo of the sources of the networks the network rule judges.
// add takes each batch in before the rules run; possible is asked by the rules of
// several networks at once.
type networkSources struct {
	store  EventReader
	need   int                     // the rule's count: sources kept per network
	tracks func(netip.Prefix) bool // the networks the rule judges
	span   time.Duration           // the longest a rule looks back: older memos are let go of
	limit  int                     // networks remembered at most

	mu sync.Mutex
	// Every event added at or after base is known (UnixNano; math.MinInt64: every
	// event), and of a network with no memo, every one at or after horizon (memos let
	// go of hold none later).
	base, horizon int64
	byNet         map[netip.Prefix]*sourceList
	newest        int64 // of the events added
	swept         int64 // newest when memos were last let go of
}

// sourceList is the memo of one network: its need sources with the newest last events,
// complete for the events at or after from (UnixNano).
type sourceList struct {
	from, newest int64
	src          []sourceAt
}

// sourceAt is a source (an address, or a /64's first address, in 16 bytes) and the time
// of its newest event known (UnixNano).
type sourceAt struct {
	key [16]byte
	at  int64
}

// networkSourcesLimit is how many networks the memo holds at most (a few hundred bytes
// each): past it, those seen longest ago are let go of and read once again when they
// come back.
var networkSourcesLimit = 100_000

// newNetworkSources is the memo of the events added from base on (zero: all of them).
func newNetworkSources(store EventReader, need int, tracks func(netip.Prefix) bool, base time.Time, span time.Duration) *networkSources {
	m := &networkSources{store: store, need: need, tracks: tracks, span: span, limit: networkSourcesLimit,
		base: math.MinInt64, horizon: math.MinInt64, byNet: map[netip.Prefix]*sourceList{}, newest: math.MinInt64}
	if !base.IsZero() {
		m.base = base.UnixNano()
	}
	m.swept = math.MinInt64
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

// add takes in the sources of batch g: the newest event of each address of each
// network, but for successful logins, which the rule does not count.
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
	for k := range g.addrs {
		ag := &g.addrs[k]
		if ag.counted.n == 0 {
			continue
		}
		at := ag.counted.to.UnixNano()
		m.newest = max(m.newest, at)
		for _, j := range ag.nets[:ag.nnets] {
			if p := g.nets[j].p; tracked[j] {
				m.see(m.list(p), networkSource(p, ag.addr), at)
			}
		}
	}
	if m.swept == math.MinInt64 {
		m.swept = m.newest
	}
	if m.newest-m.swept > int64(m.span)/4 || len(m.byNet) > m.limit {
		m.sweep()
	}
}

// list is the memo of p, a new one when it has none.
func (m *networkSources) list(p netip.Prefix) *sourceList {
	l := m.byNet[p]
	if l == nil {
		l = &sourceList{from: max(m.base, m.horizon), newest: math.MinInt64}
		m.byNet[p] = l
	}
	return l
}

// see records an event of source a at at in l.
func (m *networkSources) see(l *sourceList, a netip.Addr, at int64) {
	key := a.As16()
	l.newest = max(l.newest, at)
	oldest := -1
	for i := range l.src {
		if l.src[i].key == key {
			l.src[i].at = max(l.src[i].at, at)
			return
		}
		if oldest < 0 || l.src[i].at < l.src[oldest].at {
			oldest = i
		}
	}
	switch {
	case len(l.src) < m.need:
		l.src = append(l.src, sourceAt{key, at})
	case at > l.src[oldest].at:
		// The one let go of is no newer than any kept: it counts for no start that
		// need sources do not meet without it.
		l.src[oldest] = sourceAt{key, at}
	}
}

// sweep lets go of the memos of the networks with no event within two spans of the
// newest added (a batch may bring events up to a span older than its newest), and,
// over the limit, of the half seen longest ago: what comes back of them is read from
// the store once (horizon).
func (m *networkSources) sweep() {
	m.swept = m.newest
	cut := m.newest - 2*int64(m.span)
	if len(m.byNet) > m.limit {
		newest := make([]int64, 0, len(m.byNet))
		for _, l := range m.byNet {
			newest = append(newest, l.newest)
		}
		slices.Sort(newest)
		cut = max(cut, newest[len(newest)/2]+1)
	}
	if cut <= m.horizon {
		return
	}
	for p, l := range m.byNet {
		if l.newest < cut {
			delete(m.byNet, p)
		}
	}
	m.horizon = cut
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
			if e := &evs[i]; e.Class != abusewatch.ClassAuthSuccess && e.Addr.IsValid() {
				m.see(l, networkSource(p, e.Addr.Unmap()), e.Time.UnixNano())
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
