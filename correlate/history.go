package correlate

import (
	"net/netip"
	"slices"
	"time"

	"github.com/abusewatch/abusewatch"
)

// A pass over history (Recorrelate) feeds months of events in time order, and every
// batch asks again for each address's and network's recent events and newest incident.
// recentEvents and latestIncidents answer those from memory: the events of the last
// span (the longest window a rule looks back over) and the incidents seen or made
// during the pass. What reaches further back (the success rule's week, recurrence's
// first day) is read from the store as before.

// recentEvents holds the events of a pass from covered on, by address and by the
// networks the rules read, and answers reads that lie within them.
type recentEvents struct {
	store   EventReader
	span    time.Duration
	limit   int       // events held at most
	covered time.Time // every event of the pass at or after it is held
	sizes   []func(netip.Addr) netip.Prefix

	held   []abusewatch.Event // in the order added (time order)
	byAddr map[netip.Addr][]abusewatch.Event
	byNet  map[netip.Prefix][]abusewatch.Event
}

func newRecentEvents(store EventReader, from time.Time, span time.Duration, limit int, sizes []func(netip.Addr) netip.Prefix) *recentEvents {
	return &recentEvents{store: store, span: span, limit: limit, covered: from, sizes: sizes,
		byAddr: map[netip.Addr][]abusewatch.Event{}, byNet: map[netip.Prefix][]abusewatch.Event{}}
}

// add takes in the next batch of the pass (in time order) and lets go of what lies
// more than span before the batch's oldest event, or over the limit.
func (r *recentEvents) add(batch []abusewatch.Event) {
	if len(batch) == 0 {
		return
	}
	oldest := batch[0].Time
	for _, e := range batch {
		if e.Time.Before(oldest) {
			oldest = e.Time
		}
		if !e.Addr.IsValid() {
			continue
		}
		a := e.Addr.Unmap()
		r.held = append(r.held, e)
		r.byAddr[a] = append(r.byAddr[a], e)
		for _, size := range r.sizes {
			p := size(a)
			r.byNet[p] = append(r.byNet[p], e)
		}
	}
	drop := 0
	for drop < len(r.held) && (len(r.held)-drop > r.limit || oldest.Sub(r.held[drop].Time) > r.span) {
		e := r.held[drop]
		a := e.Addr.Unmap()
		r.byAddr[a] = trimFront(r.byAddr, a)
		for _, size := range r.sizes {
			p := size(a)
			r.byNet[p] = trimFront(r.byNet, p)
		}
		if !e.Time.Before(r.covered) {
			r.covered = e.Time.Add(time.Nanosecond)
		}
		drop++
	}
	if drop > 0 {
		r.held = slices.Clone(r.held[drop:])
	}
}

// trimFront drops the oldest event of m[k], deleting the key when none is left.
func trimFront[K comparable](m map[K][]abusewatch.Event, k K) []abusewatch.Event {
	evs := m[k]
	if len(evs) <= 1 {
		delete(m, k)
		return nil
	}
	return evs[1:]
}

func (r *recentEvents) EventsByAddr(addr netip.Addr, from, to time.Time) ([]abusewatch.Event, error) {
	if from.Before(r.covered) {
		return r.store.EventsByAddr(addr, from, to)
	}
	return between(r.byAddr[addr.Unmap()], from, to), nil
}

func (r *recentEvents) EventsByNetwork(p netip.Prefix, from, to time.Time) ([]abusewatch.Event, error) {
	held := false
	for _, size := range r.sizes {
		held = held || size(p.Addr()) == p
	}
	if !held || from.Before(r.covered) {
		return r.store.EventsByNetwork(p, from, to)
	}
	return between(r.byNet[p], from, to), nil
}

// between returns a copy of the events of evs (in time order) with from <= Time <= to.
func between(evs []abusewatch.Event, from, to time.Time) []abusewatch.Event {
	lo, _ := slices.BinarySearchFunc(evs, from, func(e abusewatch.Event, t time.Time) int {
		if e.Time.Before(t) {
			return -1
		}
		return 1
	})
	hi, _ := slices.BinarySearchFunc(evs, to, func(e abusewatch.Event, t time.Time) int {
		if e.Time.After(t) {
			return 1
		}
		return -1
	})
	if lo >= hi {
		return nil
	}
	return slices.Clone(evs[lo:hi])
}

// latestIncidents remembers the newest incident of each key read or made during a
// pass.
type latestIncidents struct {
	store IncidentReader
	known map[string]*abusewatch.Incident // nil: the store has none
}

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
	if ok {
		l.known[key] = &inc
	} else {
		l.known[key] = nil
	}
	return inc, ok, nil
}

// made records incidents the pass made or grew (and stores).
func (l *latestIncidents) made(incs []abusewatch.Incident) {
	for i := range incs {
		inc := incs[i]
		l.known[inc.Key] = &inc
	}
}
