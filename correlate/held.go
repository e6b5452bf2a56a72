package correlate

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/abusewatch/abusewatch"
)

// A pass over history holds each recurrence incident open in memory (heldRecurrence)
// from the batch that makes it, or first grows a stored one, until it can no longer
// grow. A recurring scope (a returning address, a busy /24) comes back in batch after
// batch for months, and rebuilding its incident in each, with the counters summed
// again and handed on to be remembered and queued, was a third of a first pass over
// 10 million events (7,120 incidents built 189,597 times: 15.5 s against 10.5 s with
// the rule off). Held, it grows in place by the new events' evidence, hosts and
// connections, and takes what the counters say (its count of events, classes,
// severity) once, when it is handed on (the pass: 15.2 to 17.4 s against 16.9 to
// 18.9 s before, alternated). Its evidence strings are its own, as the batches' memory
// is used again.

// heldRecurrence is a recurrence incident a pass holds open.
type heldRecurrence struct {
	inc        abusewatch.Incident // of scope inc.Network; Count, Classes, Severity and AdminOnly are set when it is let go of
	reportable bool                // its evidence held a reportable event
	minus      []netip.Addr        // of a network: its addresses that recur on their own (recurringMembers)
	told       toldLines           // what it says to a desk if it is reported: its evidence then
	spare      []abusewatch.Event  // the memory of its evidence before the last
}

// hold makes inc, just made or grown by a pass, the held recurrence of its scope.
func (c *Correlator) hold(inc abusewatch.Incident, reportable bool, minus []netip.Addr, told toldLines) {
	c.heldMu.Lock()
	defer c.heldMu.Unlock()
	c.held[inc.Network] = &heldRecurrence{inc: inc, reportable: reportable, minus: minus, told: told}
	if closes := inc.Last.Add(c.opts.Recurrence.Gap); c.heldCloses.IsZero() || closes.Before(c.heldCloses) {
		c.heldCloses = closes
	}
}

// openHeld returns the held recurrence of scope if it may grow by events from from on
// (its last event within Gap before). One that can no longer grow is let go of
// (Recorrelate hands it on with the next that close), and its last event returned.
func (c *Correlator) openHeld(scope netip.Prefix, from time.Time) (open *heldRecurrence, ended time.Time) {
	if c.held == nil {
		return nil, time.Time{}
	}
	c.heldMu.Lock()
	defer c.heldMu.Unlock()
	h := c.held[scope]
	if h == nil || !h.inc.Last.Before(from.Add(-c.opts.Recurrence.Gap)) {
		return h, time.Time{}
	}
	delete(c.held, scope)
	c.heldDone = append(c.heldDone, h)
	return nil, h.inc.Last
}

// growHeld adds to h the events of its scope between from and to: they lie after its
// last one (the batches of a pass come in time order), but for those of minus (of a
// network, its addresses that recur on their own). It does for a recurrence what
// describe does for the other rules, but for the classes, which its counters give.
func (c *Correlator) growHeld(h *heldRecurrence, from, to time.Time, minus []netip.Addr) error {
	scope := h.inc.Network
	recent, err := c.read.scopeEvents(scope, from, to)
	if err != nil {
		return fmt.Errorf("correlate %s: %w", h.inc.Key, err)
	}
	inc := &h.inc
	isMinus := func(a netip.Addr) bool {
		_, found := slices.BinarySearchFunc(minus, a.Unmap(), netip.Addr.Compare)
		return found
	}
	if !slices.Equal(h.minus, minus) {
		// An address of it began to recur on its own: its lines are its own.
		h.minus = minus
		inc.Evidence = slices.DeleteFunc(slices.Clone(inc.Evidence), func(e abusewatch.Event) bool { return isMinus(e.Addr) })
		h.told.evidence = slices.DeleteFunc(slices.Clone(h.told.evidence), func(e abusewatch.Event) bool { return isMinus(e.Addr) })
		inc.Sources = slices.DeleteFunc(slices.Clone(inc.Sources), isMinus)
	}
	included := c.notExcludedIn(scope)
	last := inc.Last
	news := slices.DeleteFunc(recent, func(e *abusewatch.Event) bool {
		return e.Class == abusewatch.ClassAuthSuccess || !included(e) || isMinus(e.Addr) ||
			(!e.Time.After(last) && slices.ContainsFunc(inc.Evidence, func(o abusewatch.Event) bool { return o.Seq == e.Seq }))
	})
	if !scope.IsSingleIP() {
		// It names the addresses of reportable, unforgeable evidence alone, and with
		// enough of them its lines are theirs alone, as recurrence has it.
		var named netip.Addr // the last address found named: a batch's lines of one come together
		for _, e := range news {
			if a := e.Addr.Unmap(); a != named && c.reportable(e) {
				if named = a; !holdsSource(inc.Sources, a) {
					inc.Sources = addAddr(slices.Clone(inc.Sources), a)
				}
			}
		}
		if c.namesEnough(*inc) {
			var seen netip.Addr // the last address looked up, and whether it is named
			var named bool
			unnamed := func(e *abusewatch.Event) bool {
				if a := e.Addr.Unmap(); a != seen || !seen.IsValid() {
					seen, named = a, holdsSource(inc.Sources, a)
				}
				return !named
			}
			news = slices.DeleteFunc(news, unnamed)
			if slices.ContainsFunc(inc.Evidence, func(e abusewatch.Event) bool { return unnamed(&e) }) {
				inc.Evidence = slices.DeleteFunc(slices.Clone(inc.Evidence), func(e abusewatch.Event) bool { return unnamed(&e) })
			}
			if slices.ContainsFunc(h.told.evidence, func(e abusewatch.Event) bool { return unnamed(&e) }) {
				h.told.evidence = slices.DeleteFunc(slices.Clone(h.told.evidence), func(e abusewatch.Event) bool { return unnamed(&e) })
			}
		}
	}
	var read []*abusewatch.Event // the reportable events after its last
	var told []*abusewatch.Event // the lines it would tell a desk (names)
	host := ""                   // the last host added or found (a scope's events mostly hit one)
	for _, e := range news {
		// news holds no successful login: the reportable lines are those it names.
		if c.reportable(e) {
			h.reportable = true
			if e.Time.After(last) {
				read = append(read, e)
			}
			told = append(told, e)
		}
		if e.Host != "" && e.Host != host {
			if host = e.Host; !slices.Contains(inc.Hosts, host) {
				inc.Hosts = append(inc.Hosts, strings.Clone(host))
				slices.Sort(inc.Hosts)
			}
		}
	}
	inc.Attempts += newConnections(inc.Evidence, read, c.reportable)
	if !inc.Success && len(news) > 0 {
		// A login near the new events, as recurrence asks when it makes it.
		if inc.Success, err = c.loginNear(rule{network: scope}, news); err != nil {
			return err
		}
	}
	if !scope.IsSingleIP() {
		for i := len(news) - 1; i >= 0; i-- {
			if a := news[i].Addr.Unmap(); holdsSource(inc.Sources, a) {
				inc.Addr = a // looked up through an address it names
				break
			}
		}
	}
	inc.Last = to
	// The evidence is sampled into the memory of the one before it, which nothing
	// else holds: a recurring scope comes back in batch after batch.
	var fromOld int
	h.spare, fromOld = sampleInto(h.spare[:0], inc.Evidence, news, c.opts.Evidence)
	inc.Evidence, h.spare = h.spare, inc.Evidence
	abusewatch.OwnStrings(inc.Evidence[fromOld:])
	h.told.grow(told, c.opts.Evidence)
	return nil
}

// closeHeld lets go of the held recurrences that can no longer grow at now (all of
// them with all), and of those let go of since the last call, and returns them whole.
func (c *Correlator) closeHeld(now time.Time, all bool) ([]abusewatch.Incident, error) {
	c.heldMu.Lock()
	done := c.heldDone
	c.heldDone = nil
	// Held recurrences only grow later: none closes before the soonest closing time
	// the last look found. Most batches are not looked through.
	if all || c.heldCloses.Before(now) {
		c.heldCloses = time.Time{}
		for scope, h := range c.held {
			switch closes := h.inc.Last.Add(c.opts.Recurrence.Gap); {
			case all || closes.Before(now):
				done = append(done, h)
				delete(c.held, scope)
			case c.heldCloses.IsZero() || closes.Before(c.heldCloses):
				c.heldCloses = closes
			}
		}
	}
	c.heldMu.Unlock()
	out := make([]abusewatch.Incident, 0, len(done))
	for _, h := range done {
		inc := h.inc
		start := inc.Last.Add(-c.opts.Recurrence.Period)
		if inc.First.Before(start) {
			start = inc.First
		}
		active, err := c.activeDays(inc.Network, start, inc.Last)
		if err == nil {
			active, err = c.ownDays(inc.Network, h.minus, active, dayOf(inc.Last))
		}
		if err != nil {
			return out, fmt.Errorf("correlate %s: %w", inc.Key, err)
		}
		cur, err := c.pastActivity(inc.Network, dayOf(inc.First), dayOf(inc.Last), active, h.minus)
		if err != nil {
			return out, fmt.Errorf("correlate %s: %w", inc.Key, err)
		}
		if err := c.counted(&inc, cur, h.reportable, active, h.minus, h.told); err != nil {
			return out, fmt.Errorf("correlate %s: %w", inc.Key, err)
		}
		out = append(out, inc)
	}
	return out, nil
}

// holdsSource says whether sources, sorted as incidents keep them (AddSources,
// addAddr), hold a: a held recurrence asks of every event of every batch.
func holdsSource(sources []netip.Addr, a netip.Addr) bool {
	_, found := slices.BinarySearchFunc(sources, a, netip.Addr.Compare)
	return found
}
