package correlate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/abusewatch/abusewatch"
)

// recurrence applies the recurrence rule to scope (an address or its /24, IPv6 /64)
// after new events between from and to: active on Days distinct days within Period. It
// reads the daily counters, not the raw events, so it sees further back than the raw
// events are kept; the evidence is what raw events remain of the first active day and
// the new events.
func (c *Correlator) recurrence(scope netip.Prefix, from, to time.Time) (abusewatch.Incident, bool, error) {
	r := c.opts.Recurrence
	key := "recur:" + scope.String()
	prev, open, err := c.incidents.LatestIncident(key)
	if err != nil {
		return abusewatch.Incident{}, false, err
	}
	open = open && !prev.Last.Before(from.Add(-r.Gap)) && !prev.First.After(from)
	start := to.Add(-r.Period)
	if open && prev.First.Before(start) {
		start = prev.First
	}
	days, err := c.counters.Days(scope, start, to)
	if err != nil {
		return abusewatch.Incident{}, false, fmt.Errorf("correlate %s: %w", key, err)
	}
	var active []Count
	for _, d := range days {
		n := 0
		for class, k := range d.ByClass {
			if class != abusewatch.ClassAuthSuccess {
				n += k
			}
		}
		if n > 0 {
			active = append(active, d)
		}
	}
	inPeriod := 0
	for _, d := range active {
		if !d.Start.Before(dayOf(to.Add(-r.Period))) {
			inPeriod++
		}
	}
	if len(active) == 0 || (!open && inPeriod < r.Days) {
		return abusewatch.Incident{}, false, nil
	}
	first := active[0].Start
	if open {
		first = prev.First
	}
	read := func(from, to time.Time) ([]abusewatch.Event, error) {
		if scope.IsSingleIP() {
			return c.events.EventsByAddr(scope.Addr(), from, to)
		}
		return c.events.EventsByNetwork(scope, from, to)
	}
	var evs []abusewatch.Event
	if open {
		evs = slices.Clone(prev.Evidence)
	} else if firstDay, err := read(first, first.Add(24*time.Hour-time.Nanosecond)); err != nil {
		return abusewatch.Incident{}, false, fmt.Errorf("correlate %s: %w", key, err)
	} else {
		evs = firstDay
	}
	recent, err := read(from, to)
	if err != nil {
		return abusewatch.Incident{}, false, fmt.Errorf("correlate %s: %w", key, err)
	}
	for _, e := range recent {
		if !slices.ContainsFunc(evs, func(o abusewatch.Event) bool { return o.Seq == e.Seq }) {
			evs = append(evs, e)
		}
	}
	evs = slices.DeleteFunc(evs, func(e abusewatch.Event) bool {
		return e.Class == abusewatch.ClassAuthSuccess || c.Excluded(e.Addr)
	})
	slices.SortStableFunc(evs, func(a, b abusewatch.Event) int { return a.Time.Compare(b.Time) })

	h := sha256.Sum256(fmt.Appendf(nil, "%s|%d", key, first.Unix()))
	inc := abusewatch.Incident{
		ID: hex.EncodeToString(h[:8]), Key: key, Rule: "recurrence", Network: scope,
		First: first, Last: to, Severity: 2,
	}
	if open {
		inc.ID, inc.Hosts = prev.ID, prev.Hosts
	}
	if scope.IsSingleIP() {
		inc.Addr = scope.Addr()
	} else if len(evs) > 0 {
		inc.Addr = evs[len(evs)-1].Addr.Unmap()
	} else {
		inc.Addr = scope.Addr()
	}
	classes := map[abusewatch.Class]bool{}
	reportableClass := false
	activeDays := 0
	for _, d := range active {
		if d.Start.Before(dayOf(first)) {
			continue
		}
		activeDays++
		for class, k := range d.ByClass {
			if class == abusewatch.ClassAuthSuccess {
				continue
			}
			inc.Count += k
			if slices.Contains(c.opts.Reportable, class) {
				inc.Attempts += k
				reportableClass = true
			}
			classes[class] = true
		}
	}
	if activeDays >= 2*r.Days {
		inc.Severity = 3
	}
	reportable := c.describe(&inc, evs)
	inc.Classes = inc.Classes[:0]
	for class := range classes {
		inc.Classes = append(inc.Classes, class)
	}
	slices.Sort(inc.Classes)
	// The counters know classes, not packets: an outside report also needs one piece of
	// evidence that is neither weak nor spoofable, which describe has looked for.
	inc.AdminOnly = !reportableClass || !reportable
	return inc, true, nil
}

func dayOf(t time.Time) time.Time { return t.UTC().Truncate(24 * time.Hour) }

// successAfterFailures applies the success-after-failures rule to the successful login
// e: failures of a reportable class from its address or its /24 (IPv6 /64) within
// SuccessLookback before it make an admin-only incident of the highest severity.
func (c *Correlator) successAfterFailures(e abusewatch.Event) (abusewatch.Incident, bool, error) {
	lb := c.opts.SuccessLookback
	if lb <= 0 {
		return abusewatch.Incident{}, false, nil
	}
	a := e.Addr.Unmap()
	key := "success:" + a.String()
	near, err := c.events.EventsByNetwork(net24(a), e.Time.Add(-lb), e.Time)
	if err != nil {
		return abusewatch.Incident{}, false, fmt.Errorf("correlate %s: %w", key, err)
	}
	fails := slices.DeleteFunc(near, func(o abusewatch.Event) bool {
		return !c.reportable(o) || !o.Time.Before(e.Time) || c.Excluded(o.Addr)
	})
	if len(fails) == 0 {
		return abusewatch.Incident{}, false, nil
	}
	prev, open, err := c.incidents.LatestIncident(key)
	if err != nil {
		return abusewatch.Incident{}, false, err
	}
	open = open && !prev.Last.Before(e.Time.Add(-lb)) && !prev.First.After(e.Time)
	h := sha256.Sum256(fmt.Appendf(nil, "%s|%d|%d", key, fails[0].Time.UnixNano(), fails[0].Seq))
	inc := abusewatch.Incident{
		ID: hex.EncodeToString(h[:8]), Key: key, Rule: "success-after-failure", Addr: a,
		Network: netip.PrefixFrom(a, a.BitLen()), First: fails[0].Time, Last: e.Time,
		Count: len(fails) + 1, Attempts: attempts(fails), Success: true, AdminOnly: true, Severity: 5,
	}
	if open {
		inc.ID, inc.First = prev.ID, prev.First
	}
	evs := append(fails, e)
	c.describe(&inc, evs)
	// The evidence must show the login itself, whatever the sample left out.
	if !slices.ContainsFunc(inc.Evidence, func(o abusewatch.Event) bool { return o.Seq == e.Seq && o.Time.Equal(e.Time) }) {
		inc.Evidence[len(inc.Evidence)-1] = e
	}
	return inc, true, nil
}

// rate applies the rate-anomaly rule to the classes of batch: the events of a class in
// the hour of its newest event against the average hour of the Baseline before it, from
// the hourly counters. It needs a day of history before it judges anything.
func (c *Correlator) rate(batch []abusewatch.Event) ([]abusewatch.Incident, error) {
	r := c.opts.Rate
	if r.Factor <= 0 || len(batch) == 0 {
		return nil, nil
	}
	newest := map[abusewatch.Class]time.Time{}
	var order []abusewatch.Class
	for _, e := range batch {
		t, seen := newest[e.Class]
		if !seen {
			order = append(order, e.Class)
		}
		if !seen || e.Time.After(t) {
			newest[e.Class] = e.Time
		}
	}
	var out []abusewatch.Incident
	for _, class := range order {
		hour := newest[class].UTC().Truncate(time.Hour)
		cur, err := c.counters.Hours(hour, hour)
		if err != nil {
			return out, err
		}
		now := 0
		if len(cur) > 0 {
			now = cur[0].ByClass[class]
		}
		if now < r.Min {
			continue
		}
		base, err := c.counters.Hours(hour.Add(-r.Baseline), hour.Add(-time.Nanosecond))
		if err != nil {
			return out, err
		}
		if len(base) == 0 || base[0].Start.After(hour.Add(-24*time.Hour)) {
			continue // too little history to know what is usual
		}
		sum := 0
		for _, h := range base {
			sum += h.ByClass[class]
		}
		usual := float64(sum) / r.Baseline.Hours()
		if float64(now) < r.Factor*usual {
			continue
		}
		key := "rate:" + string(class)
		prev, open, err := c.incidents.LatestIncident(key)
		if err != nil {
			return out, err
		}
		open = open && !prev.Last.Before(hour) && !prev.First.After(newest[class])
		var evs []abusewatch.Event
		if open {
			evs = slices.Clone(prev.Evidence)
		}
		for _, e := range batch {
			if e.Class == class && !e.Time.Before(hour) {
				evs = append(evs, e)
			}
		}
		h := sha256.Sum256(fmt.Appendf(nil, "%s|%d", key, hour.Unix()))
		inc := abusewatch.Incident{
			ID: hex.EncodeToString(h[:8]), Key: key, Rule: "rate-anomaly", First: evs[0].Time, Last: newest[class],
			Count: now, Attempts: now, AdminOnly: true, Severity: 3,
		}
		if open {
			inc.ID, inc.First = prev.ID, prev.First
		}
		c.describe(&inc, evs)
		out = append(out, inc)
	}
	return out, nil
}

// History gives the stored events of a time range in time order, in batches.
type History interface {
	EachEvent(from, to time.Time, batch int, fn func([]abusewatch.Event) error) error
}

// Recorrelate runs the rules over the stored events between from and to, oldest first,
// as if they arrived now, so new or changed rules apply to old data. put stores each
// batch's incidents before the next batch is judged (the rules read them back). It
// returns the number of incidents created or grown.
func (c *Correlator) Recorrelate(ctx context.Context, h History, from, to time.Time, put func([]abusewatch.Incident) error) (int, error) {
	n := 0
	err := h.EachEvent(from, to, 5000, func(batch []abusewatch.Event) error {
		incs, err := c.Correlate(ctx, batch)
		if err != nil {
			return err
		}
		if len(incs) == 0 {
			return nil
		}
		n += len(incs)
		return put(incs)
	})
	if err == nil {
		c.recorrelated = to
	}
	return n, err
}

// Recorrelated is the end of the last completed Recorrelate, zero before the first.
func (c *Correlator) Recorrelated() time.Time { return c.recorrelated }
