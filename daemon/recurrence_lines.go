package daemon

import (
	"net/netip"
	"slices"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/correlate"
	"github.com/abusewatch/abusewatch/mailer"
	"github.com/abusewatch/abusewatch/store"
)

// recurrenceLines is what the store holds of the lines recurrence inc (a whole one or
// a party's share) reports outside (mailer.Recurrence): the lines of the addresses it
// names (of an address, its own; of a /24, its Sources) within its times, of its
// classes that cannot be forged (correlate.Forgeable, or any packet a firewall
// logged), successful logins aside: the first of them, how many, on how many days of
// each class, and whether a report of an earlier recurrence of its key went out. A
// recurrence is made from daily counters, which know classes by day and not addresses:
// a /24's First was the time of the first event of its first day, a packet "from" a
// neighbour it does not name, and its count took in that neighbour's lines (review 22
// D2). The days whose raw events retention deleted are read from the named addresses'
// daily counters, as the recurrence is counted; of such a day the first is the day.
//
// A day counts only with a line that no incident of held (those with a report whose
// lines inc's report leaves out: mailer.Known.Reported) may hold, of the days whose
// raw events the store holds: a burst reported on its own is not one of its days.
func recurrenceLines(st *store.Store, inc abusewatch.Incident, held []abusewatch.Incident) (mailer.Recurrence, error) {
	var r mailer.Recurrence
	named := map[netip.Addr]bool{}
	for _, a := range inc.Sources {
		named[a.Unmap()] = true
	}
	if !inc.AboutNetwork() {
		a := inc.Addr
		if !a.IsValid() {
			a = inc.Network.Addr()
		}
		named = map[netip.Addr]bool{a.Unmap(): true}
	}
	counts := func(c abusewatch.Class) bool {
		return c != abusewatch.ClassAuthSuccess && !correlate.Forgeable(c) && slices.Contains(inc.Classes, c)
	}
	if len(named) == 0 || !slices.ContainsFunc(inc.Classes, counts) {
		return r, nil
	}
	oldest, complete, err := rawCompleteFrom(st)
	if err != nil {
		return r, err
	}
	days := map[abusewatch.Class]map[time.Time]bool{}
	class := func(c abusewatch.Class) {
		if i, found := slices.BinarySearch(r.Classes, c); !found {
			r.Classes = slices.Insert(r.Classes, i, c)
		}
	}
	seen := func(c abusewatch.Class, day time.Time) {
		if days[c] == nil {
			days[c] = map[time.Time]bool{}
		}
		days[c][day] = true
	}
	evs, err := st.EventsByNetwork(scopeOf(inc), inc.First, inc.Last)
	if err != nil {
		return r, err
	}
	// What the store holds, and of what retention deleted, the lines inc kept.
	for i := range inc.Evidence {
		if e := inc.Evidence[i]; e.Time.Before(oldest) {
			evs = append(evs, e)
		}
	}
	slices.SortStableFunc(evs, func(a, b abusewatch.Event) int { return a.Time.Compare(b.Time) })
	kept := map[time.Time]int{} // of the days before complete, the lines known
	var first time.Time         // the first line known
	for _, e := range evs {
		if !counts(e.Class) || e.Proto != "" || !named[e.Addr.Unmap()] {
			continue
		}
		if first.IsZero() {
			first = e.Time
		}
		class(e.Class)
		day := counterDay(e.Time)
		if day.Before(complete) {
			kept[day]++
			continue
		}
		r.Lines++
		if !slices.ContainsFunc(held, func(h abusewatch.Incident) bool { return h.ID != inc.ID && holdsLine(&h, &e) }) {
			seen(e.Class, day)
		}
	}
	if counterDay(inc.First).Before(complete) {
		until := complete.Add(-time.Nanosecond)
		if inc.Last.Before(until) {
			until = inc.Last
		}
		perDay := map[time.Time]int{}
		for a := range named {
			ds, err := st.Days(netip.PrefixFrom(a, a.BitLen()), inc.First, until)
			if err != nil {
				return r, err
			}
			for _, d := range ds {
				for c, n := range d.ByClass {
					if n > 0 && counts(c) {
						perDay[d.Start.UTC()] += n
						class(c)
						seen(c, d.Start.UTC())
					}
				}
			}
		}
		gone := time.Time{} // the first day with lines the store no longer holds
		for day, n := range perDay {
			r.Lines += n
			if kept[day] < n && (gone.IsZero() || day.Before(gone)) {
				gone = day
			}
		}
		if !gone.IsZero() && (first.IsZero() || !gone.After(counterDay(first))) {
			// When on that day, the counters do not say; not before inc's own first,
			// which is a line's time when it is the first line known.
			line := first
			if first = gone; inc.First.After(gone) {
				first = inc.First
			}
			r.FirstDay = !first.Equal(line)
		}
	}
	r.First = first
	for c, ds := range days {
		if r.Days == nil {
			r.Days = map[abusewatch.Class]int{}
		}
		r.Days[c] = len(ds)
	}
	r.AfterReport, err = afterReport(st, inc)
	return r, err
}

// afterReport says whether a report of an earlier recurrence of inc's key (the one
// before it, or one before that not reported) went out or is queued to: inc then comes
// back after days we reported (a follow-up, or one after a gap). Reported ones are
// kept for the recurrence's period; a few are looked at, as a chain of follow-ups
// holds one reported after another.
func afterReport(st *store.Store, inc abusewatch.Incident) (bool, error) {
	at := inc.First.Add(-time.Nanosecond)
	for range 8 {
		prev, _, _, err := st.OpenIncidentAt(inc.Key, at, at, false)
		if err != nil || prev.ID == "" || prev.ID == inc.ID || prev.First.After(at) || !prev.Last.Before(inc.First) {
			return false, err
		}
		id, ok, err := st.ReportFor(prev.ID)
		if err != nil {
			return false, err
		}
		if ok {
			rep, found, err := st.Report(id)
			if err != nil {
				return false, err
			}
			switch rep.State {
			case abusewatch.ReportQueued, abusewatch.ReportSending, abusewatch.ReportSent:
				if found {
					return true, nil
				}
			}
		}
		at = prev.First.Add(-time.Nanosecond)
	}
	return false, nil
}

// holdsLine says whether incident h may hold the line e: within its times, of a class
// it counts, from its address or its network.
func holdsLine(h *abusewatch.Incident, e *abusewatch.Event) bool {
	if e.Time.Before(h.First) || e.Time.After(h.Last) || !slices.Contains(h.Classes, e.Class) {
		return false
	}
	if h.AboutNetwork() {
		return abusewatch.UnmapPrefix(h.Network).Contains(e.Addr.Unmap())
	}
	return h.Addr.Unmap() == e.Addr.Unmap()
}
