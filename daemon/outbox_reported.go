package daemon

import (
	"net/netip"
	"slices"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/store"
)

// roundReported answers, for one outbox round, which incidents with a report may hold
// lines of an incident of the round (store.ReportedIncidentsOver), reading each scope
// that two or more of the round's incidents share once, over the span of all of them,
// instead of once per incident. An address that attacks for months has hundreds of
// incidents, and after `abusewatch correlate` they all wait in one work list: read per
// incident, each round read every reported incident of the address once per
// unreported one (5,000 incidents of one address: 90 s a round, past the round's
// budget, so other parties waited). Nothing gets a report while the round's loop runs
// (reports are written after it, and a pass over history waits for the round), so a
// read at its start holds for the whole loop.
type roundReported struct {
	st     *store.Store
	shared map[netip.Prefix]timeSpan              // the scopes of two or more incidents: their spans' union
	read   map[netip.Prefix][]abusewatch.Incident // of those, what was read, oldest first
}

// timeSpan is the times from one to another, both included.
type timeSpan struct{ from, to time.Time }

// newRoundReported prepares the reads of a round of incs.
func newRoundReported(st *store.Store, incs []abusewatch.Incident) *roundReported {
	r := &roundReported{st: st, shared: map[netip.Prefix]timeSpan{}, read: map[netip.Prefix][]abusewatch.Incident{}}
	first := map[netip.Prefix]timeSpan{}
	for _, inc := range incs {
		scope := scopeOf(inc)
		s, seen := first[scope]
		if !seen {
			first[scope] = timeSpan{inc.First, inc.Last}
			continue
		}
		if u, ok := r.shared[scope]; ok {
			s = u
		}
		if inc.First.Before(s.from) {
			s.from = inc.First
		}
		if inc.Last.After(s.to) {
			s.to = inc.Last
		}
		r.shared[scope] = s
	}
	return r
}

// over is store.ReportedIncidentsOver(scopeOf(inc), inc.First, inc.Last, ""): the
// incidents with a report whose times meet inc's, oldest first.
func (r *roundReported) over(inc abusewatch.Incident) ([]abusewatch.Incident, error) {
	scope := scopeOf(inc)
	span, shared := r.shared[scope]
	if !shared {
		return r.st.ReportedIncidentsOver(scope, inc.First, inc.Last, "")
	}
	all, ok := r.read[scope]
	if !ok {
		var err error
		if all, err = r.st.ReportedIncidentsOver(scope, span.from, span.to, ""); err != nil {
			return nil, err
		}
		r.read[scope] = all
	}
	// The store's own test: the incident ends at or after from and starts at or
	// before to. Most often all of them meet it (the incidents of one attack), and
	// they are not copied.
	meets := func(o *abusewatch.Incident) bool { return !o.Last.Before(inc.First) && !o.First.After(inc.Last) }
	i := 0
	for i < len(all) && meets(&all[i]) {
		i++
	}
	if i == len(all) {
		return all, nil
	}
	out := slices.Clip(all[:i])
	for j := i + 1; j < len(all); j++ {
		if meets(&all[j]) {
			out = append(out, all[j])
		}
	}
	return out, nil
}
