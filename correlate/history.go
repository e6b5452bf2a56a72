package correlate

import (
	"net/netip"
	"slices"
	"sort"
	"time"

	"github.com/abusewatch/abusewatch"
)

// A pass over history (Recorrelate) feeds months of events in time order, and every
// batch asks again for each address's and network's recent events and newest incident.
// recentEvents and latestIncidents answer those from memory: the events of the last
// span (the longest window a rule looks back over) and the incidents seen or made
// during the pass. What reaches further back (the success rule's week, recurrence's
// first day) is read from the store as before.

// recentEvents holds the events from covered on, by address and by the networks the
// rules read, and answers reads that lie within them. Each event is held once; the
// indexes hold its position in the order added, each index in time order. Events may
// come a little out of order (several hosts, a delayed syslog); one older than covered
// is left to the store.
type recentEvents struct {
	store   EventReader
	span    time.Duration
	limit   int       // events held at most
	covered time.Time // every event added at or after it is held; zero: none added yet
	sizes   []func(netip.Addr) netip.Prefix

	held   []abusewatch.Event // in the order added
	first  int                // the position of held[0]
	byAddr map[netip.Addr][]int
	byNet  map[netip.Prefix][]int
}

func newRecentEvents(store EventReader, from time.Time, span time.Duration, limit int, sizes []func(netip.Addr) netip.Prefix) *recentEvents {
	return &recentEvents{store: store, span: span, limit: limit, covered: from, sizes: sizes,
		byAddr: map[netip.Addr][]int{}, byNet: map[netip.Prefix][]int{}}
}

// add takes in the next batch and lets go of what lies more than span before the
// batch's oldest event, or over the limit.
func (r *recentEvents) add(batch []abusewatch.Event) {
	if len(batch) == 0 {
		return
	}
	oldest := batch[0].Time
	for _, e := range batch {
		if e.Time.Before(oldest) {
			oldest = e.Time
		}
	}
	if r.covered.IsZero() {
		r.covered = oldest
	}
	for _, e := range batch {
		if !e.Addr.IsValid() || e.Time.Before(r.covered) {
			continue
		}
		a := e.Addr.Unmap()
		at := r.first + len(r.held)
		r.held = append(r.held, e)
		r.byAddr[a] = r.insert(r.byAddr[a], at)
		for _, size := range r.sizes {
			p := size(a)
			r.byNet[p] = r.insert(r.byNet[p], at)
		}
	}
	drop := 0
	for drop < len(r.held) && (len(r.held)-drop > r.limit || oldest.Sub(r.held[drop].Time) > r.span) {
		e := r.held[drop]
		a := e.Addr.Unmap()
		at := r.first + drop
		remove(r.byAddr, a, at)
		for _, size := range r.sizes {
			remove(r.byNet, size(a), at)
		}
		if !e.Time.Before(r.covered) {
			r.covered = e.Time.Add(time.Nanosecond)
		}
		drop++
	}
	if drop > 0 {
		r.held, r.first = r.held[drop:], r.first+drop
		if cap(r.held) > 2*len(r.held)+1024 {
			r.held = slices.Clone(r.held) // let go of the dropped events' memory
		}
	}
}

// insert adds position at to the positions in time order list.
func (r *recentEvents) insert(list []int, at int) []int {
	t := r.held[at-r.first].Time
	i := len(list)
	for i > 0 && r.held[list[i-1]-r.first].Time.After(t) {
		i--
	}
	return slices.Insert(list, i, at)
}

// remove drops position at from m[k], deleting the key when none is left.
func remove[K comparable](m map[K][]int, k K, at int) {
	list := m[k]
	switch i := slices.Index(list, at); {
	case i == 0:
		list = list[1:] // the usual case: no copy
	case i > 0:
		list = slices.Delete(list, i, i+1)
	}
	if len(list) == 0 {
		delete(m, k)
	} else {
		m[k] = list
	}
}

func (r *recentEvents) EventsByAddr(addr netip.Addr, from, to time.Time) ([]abusewatch.Event, error) {
	if from.Before(r.covered) {
		return r.store.EventsByAddr(addr, from, to)
	}
	return r.between(r.byAddr[addr.Unmap()], from, to), nil
}

func (r *recentEvents) EventsByNetwork(p netip.Prefix, from, to time.Time) ([]abusewatch.Event, error) {
	held := false
	for _, size := range r.sizes {
		held = held || size(p.Addr()) == p
	}
	if !held || from.Before(r.covered) {
		return r.store.EventsByNetwork(p, from, to)
	}
	return r.between(r.byNet[p], from, to), nil
}

// between returns the held events at positions at (in time order) with
// from <= Time <= to.
func (r *recentEvents) between(at []int, from, to time.Time) []abusewatch.Event {
	lo := sort.Search(len(at), func(i int) bool { return !r.held[at[i]-r.first].Time.Before(from) })
	hi := sort.Search(len(at), func(i int) bool { return r.held[at[i]-r.first].Time.After(to) })
	if lo >= hi {
		return nil
	}
	out := make([]abusewatch.Event, 0, hi-lo)
	for _, i := range at[lo:hi] {
		out = append(out, r.held[i-r.first])
	}
	return out
}

// latestIncidents remembers the newest incident of each key read or made during a
// pass.
type latestIncidents struct {
	store IncidentReader
	known map[string]*abusewatch.Incident // nil: the store has none
	held  int                             // known incidents (not nil)
}

// full says whether the memory should be emptied: incidents carry their evidence
// lines, a few kilobytes each.
func (l *latestIncidents) full() bool { return l.held > heldIncidents || len(l.known) > knownLimit }

func (l *latestIncidents) LatestIncident(key string) (abusewatch.Incident, bool, error) {
	if inc, ok := l.known[key]; ok {
		if inc == nil {
			return abusewatch.Incident{}, false, nil
		}
		return *inc, true, nil
	}
	inc, ok, err := l.store.LatestIncident(key)
	if err != nil {
		return inc, ok, err
	}
	l.remember(key, inc, ok)
	return inc, ok, nil
}

func (l *latestIncidents) remember(key string, inc abusewatch.Incident, ok bool) {
	if old, seen := l.known[key]; seen && old != nil {
		l.held--
	}
	if ok {
		l.known[key] = &inc
		l.held++
	} else {
		l.known[key] = nil
	}
}

// forget empties the memory (once what the pass made is stored).
func (l *latestIncidents) forget() { clear(l.known); l.held = 0 }

// made records incidents the pass made or grew (and stores).
func (l *latestIncidents) made(incs []abusewatch.Incident) {
	for _, inc := range incs {
		l.remember(inc.Key, inc, true)
	}
}
