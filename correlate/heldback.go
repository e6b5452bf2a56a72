package correlate

import (
	"maps"
	"net/netip"
	"slices"
	"sort"
	"time"

	"github.com/abusewatch/abusewatch"
)

// HeldBack is a time a network was excluded and no longer is (`exclude`, then
// `exclude --remove`). What the network did then was declared ours or authorised (a
// pen-test): its events dated within the time, or stored while it lasted (the lines
// read then, whatever their date), never count toward an incident, even once the
// exclusion is gone. They stay in the store for the admin.
type HeldBack struct {
	Network netip.Prefix
	// Dated from From (zero: since ever, an exclusion recorded before its start was)
	// up to To, not included.
	From, To time.Time
	// Stored with a Seq from FromSeq (0: since ever) up to ToSeq, not included.
	FromSeq, ToSeq uint64
}

// holds says whether e is held back by h.
func (h *HeldBack) holds(e *abusewatch.Event) bool {
	if !h.Network.Contains(e.Addr.Unmap()) {
		return false
	}
	return (e.Seq >= h.FromSeq && e.Seq < h.ToSeq) || (!e.Time.Before(h.From) && e.Time.Before(h.To))
}

// HoldBack replaces the times networks were excluded whose events never count
// (HeldBack). Like Exclude, it may run beside Excluded only.
func (c *Correlator) HoldBack(held []HeldBack) {
	spans := make([]HeldBack, len(held))
	for i, h := range held {
		h.Network = abusewatch.UnmapPrefix(h.Network).Masked()
		spans[i] = h
	}
	c.excludedThen.Store(&spans)
}

// heldBackIn returns the test whether an event of network p is held back (HeldBack),
// or nil when no time held back overlaps p: the usual case, which costs one load.
func (c *Correlator) heldBackIn(p netip.Prefix) func(e *abusewatch.Event) bool {
	held := c.excludedThen.Load()
	if held == nil || len(*held) == 0 {
		return nil
	}
	p = abusewatch.UnmapPrefix(p)
	var spans []*HeldBack
	for i := range *held {
		if h := &(*held)[i]; !p.IsValid() || h.Network.Overlaps(p) {
			spans = append(spans, h)
		}
	}
	if len(spans) == 0 {
		return nil
	}
	return func(e *abusewatch.Event) bool {
		return slices.ContainsFunc(spans, func(h *HeldBack) bool { return h.holds(e) })
	}
}

// heldBack says whether e is held back (HeldBack): for the rules that ask of single
// events of any network.
func (c *Correlator) heldBack(e *abusewatch.Event) bool {
	held := c.excludedThen.Load()
	if held == nil {
		return false
	}
	for i := range *held {
		if (*held)[i].holds(e) {
			return true
		}
	}
	return false
}

// countsUnlessHeld is counts, but false for the events held back in p (HeldBack);
// counts itself when none is.
func (c *Correlator) countsUnlessHeld(p netip.Prefix, counts func(e *abusewatch.Event) bool) func(e *abusewatch.Event) bool {
	held := c.heldBackIn(p)
	if held == nil {
		return counts
	}
	return func(e *abusewatch.Event) bool { return counts(e) && !held(e) }
}

// notHeldDays is days (UTC midnights, oldest first) but those that lie whole within a
// time a network was excluded (HeldBack) and had no event of scope but its: the
// recurrence rule reads active days from the daily counters, which count every event,
// and a day of what was declared ours is no day of an attack. Of a network that holds
// scope, such a day goes as it is; of one within scope (an address of a /24), when
// scope's counters of the day hold nothing else of note (as ownCounts subtracts the
// addresses that recur on their own). A day it was excluded in part stays: its
// counters do not say which of its events were held back (those that were are left
// out of the incident's evidence all the same).
func (c *Correlator) notHeldDays(scope netip.Prefix, days []time.Time) ([]time.Time, error) {
	held := c.excludedThen.Load()
	if held == nil || len(*held) == 0 || len(days) == 0 {
		return days, nil
	}
	scope = abusewatch.UnmapPrefix(scope)
	var gone []time.Time
	for i := range *held {
		h := &(*held)[i]
		if !h.Network.Overlaps(scope) {
			continue
		}
		lo := sort.Search(len(days), func(i int) bool { return !days[i].Before(h.From) })
		hi := lo
		for hi < len(days) && !days[hi].Add(24*time.Hour).After(h.To) {
			hi++
		}
		if lo == hi {
			continue
		}
		if h.Network.Bits() <= scope.Bits() {
			gone = append(gone, days[lo:hi]...)
			continue
		}
		from, to := days[lo], days[hi-1].Add(24*time.Hour-time.Nanosecond)
		counts, err := c.ownCounts(scope, from, to, nil)
		if err != nil {
			return nil, err
		}
		theirs, err := c.counters.Days(h.Network, from, to)
		if err != nil {
			return nil, err
		}
		for _, d := range counts {
			if !slices.ContainsFunc(days[lo:hi], d.Start.Equal) {
				continue
			}
			left := maps.Clone(d.ByClass)
			if j := slices.IndexFunc(theirs, func(t Count) bool { return t.Start.Equal(d.Start) }); j >= 0 {
				for class, k := range theirs[j].ByClass {
					left[class] -= k
				}
			}
			if !activeDay(Count{Start: d.Start, ByClass: left}) {
				gone = append(gone, d.Start)
			}
		}
	}
	if len(gone) == 0 {
		return days, nil
	}
	return slices.DeleteFunc(slices.Clone(days), func(d time.Time) bool { return slices.ContainsFunc(gone, d.Equal) }), nil
}
