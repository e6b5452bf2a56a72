package correlate

import (
	"net/netip"
	"slices"
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
