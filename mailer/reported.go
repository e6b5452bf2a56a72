package mailer

import (
	"cmp"
	"net/netip"
	"slices"

	"github.com/abusewatch/abusewatch"
)

// A recurrence is counted from daily counters, which know days, not lines: its span
// takes in every line of its address (or /24) on its days, those of a burst that was
// reported on its own as well. A network incident takes in every line of its network
// within its window, those of an address's incident reported before it formed as
// well. Reported again, the abuse desk was told those lines twice and a count above
// its own logs'. The rules cannot leave single events out, so the report does: the
// lines an earlier report holds (to anyone, in any state) are left out of its
// evidence, and its counts are what remains, as closely as the incidents' own counts
// and kept lines tell ("at least" where they tell only bounds).

// takesIn says whether inc may take in the lines of incidents reported before it: a
// recurrence, or a network incident. (A network incident that follows a reported one
// of its key begins after it, though maybe within the same second, which its times
// cannot tell apart: those of its own key are left aside.)
func takesIn(inc *abusewatch.Incident) bool {
	return inc.Rule == "recurrence" || (inc.Rule == "network" && inc.AboutNetwork())
}

// lowered says which counts of an incident became lower bounds when the lines earlier
// reports hold were taken out of them, and whether it had lines it did not keep.
type lowered struct{ lines, conns, unkept bool }

// besidesReported is inc (takesIn) without what the incidents of reported (each with a
// report; those of this report, ids, aside) hold of its lines, and whether any of them
// did.
func besidesReported(inc abusewatch.Incident, reported []abusewatch.Incident, ids []string) (abusewatch.Incident, lowered, bool) {
	var held, partial []abusewatch.Incident
	incLines := linesOf(&inc)
	for i := range reported {
		r := &reported[i]
		if slices.Contains(ids, r.ID) || (inc.Rule == "network" && r.Key != "" && r.Key == inc.Key) || !mayShare(&inc, r) {
			continue
		}
		if holds(&inc, r, incLines, linesOf(r)) {
			held = append(held, *r)
		} else {
			partial = append(partial, *r)
		}
	}
	if len(held)+len(partial) == 0 {
		return inc, lowered{}, false
	}
	told := slices.Concat(held, partial)
	var kept []abusewatch.Event
	for _, e := range incLines.evs {
		if !slices.ContainsFunc(told, func(r abusewatch.Incident) bool { return mayHold(&r, e) }) {
			kept = append(kept, *e)
		}
	}
	// At most what they hold of inc's lines and connections.
	var lines, conns bounds
	if len(held) > 0 {
		// Network incidents first, each kind in order of First, as merge wants them.
		slices.SortStableFunc(held, func(a, b abusewatch.Incident) int {
			switch {
			case a.AboutNetwork() && !b.AboutNetwork():
				return -1
			case !a.AboutNetwork() && b.AboutNetwork():
				return 1
			}
			return cmp.Or(a.First.Compare(b.First), cmp.Compare(a.ID, b.ID))
		})
		s := merge(held)
		lines, conns = s.lines, s.conns
	}
	for i := range partial {
		l, c := within(&inc, &partial[i])
		lines.hi, conns.hi = lines.hi+l, conns.hi+c
	}
	// What held ones take out is exact when their union is known; inc's connections
	// less theirs are its others (theirs are among inc's), for a recurrence a lower
	// bound (merge says so).
	count := inc.Count - lines.hi
	lw := lowered{lines: len(partial) > 0 || lines.lo != lines.hi || count < len(kept), unkept: !incLines.complete}
	inc.Count = max(count, len(kept))
	evs := make([]*abusewatch.Event, len(kept))
	for i := range kept {
		evs[i] = &kept[i]
	}
	conn := inc.Attempts - conns.hi
	lw.conns = len(partial) > 0 || conns.lo != conns.hi || conn < connsOf(evs) || conn < min(inc.Count, 1) || conn > inc.Count
	inc.Attempts = min(max(conn, connsOf(evs), min(inc.Count, 1)), inc.Count)
	inc.Evidence = kept
	if inc.AboutNetwork() && incLines.complete && len(kept) > 0 {
		// Every line of the network is known: what it tells besides the earlier
		// reports begins and ends with the lines kept, and comes from their addresses
		// alone. (A follow-up of one address's line after its neighbour's report said
		// "First seen" at the neighbour's reported line and listed the neighbour.)
		inc.First, inc.Last = kept[0].Time, kept[0].Time
		from := map[netip.Addr]bool{}
		for _, e := range kept {
			inc.First, inc.Last = minTime(inc.First, e.Time), maxTime(inc.Last, e.Time)
			from[e.Addr.Unmap()] = true
		}
		inc.Sources = slices.DeleteFunc(slices.Clone(inc.Sources), func(a netip.Addr) bool { return !from[a.Unmap()] })
	}
	return inc, lw, true
}

// mayShare says whether r may hold lines that inc counts: their times meet, they share
// a class, and r is about inc's address or network, a network that holds it, or (of a
// network inc) an address or network within it.
func mayShare(inc, r *abusewatch.Incident) bool {
	if r.ID == inc.ID || !overlap(inc, r) || !slices.ContainsFunc(r.Classes, func(c abusewatch.Class) bool { return slices.Contains(inc.Classes, c) }) {
		return false
	}
	if inc.AboutNetwork() {
		p := abusewatch.UnmapPrefix(inc.Network)
		if r.AboutNetwork() {
			return p.Overlaps(abusewatch.UnmapPrefix(r.Network))
		}
		return r.Addr.IsValid() && p.Contains(r.Addr.Unmap())
	}
	a := inc.Addr.Unmap()
	if r.AboutNetwork() {
		return abusewatch.UnmapPrefix(r.Network).Contains(a)
	}
	return r.Addr.Unmap() == a
}

// mayHold says whether r may hold the line e: it kept it, or e lies within r's times,
// of r's address or network and of a class r counts.
func mayHold(r *abusewatch.Incident, e *abusewatch.Event) bool {
	k := keyOf(e)
	if slices.ContainsFunc(r.Evidence, func(x abusewatch.Event) bool { return keyOf(&x) == k }) {
		return true
	}
	if e.Time.Before(r.First) || e.Time.After(r.Last) || !slices.Contains(r.Classes, e.Class) {
		return false
	}
	if r.AboutNetwork() {
		return abusewatch.UnmapPrefix(r.Network).Contains(e.Addr.Unmap())
	}
	return r.Addr.Unmap() == e.Addr.Unmap()
}

// ownClasses are the classes of inc, a network incident (or a party's share) an
// earlier report took lines out of (besidesReported), that its lines left have: the
// classes of the lines of each address it names that the store holds besides those the
// earlier reports hold (seen, Known.Seen of inc), when seen knows every one of them
// (none Partial, Sources not cut short), else inc's. A share whose only failed logins
// for an existing user were those of an address reported before said "repeated failed
// SSH login attempts" of lines all for user names that do not exist (review desk48 L1).
// A success stays: it is not why we write, and the memo tells it per incident.
func ownClasses(inc *abusewatch.Incident, seen map[netip.Addr]Seen) []abusewatch.Class {
	if !inc.AboutNetwork() || len(seen) == 0 || len(inc.Sources) == 0 || len(inc.Sources) >= abusewatch.MaxSources {
		return inc.Classes
	}
	has := map[abusewatch.Class]bool{abusewatch.ClassAuthSuccess: true}
	for _, a := range inc.Sources {
		sn, ok := seen[a.Unmap()]
		if sn.Partial {
			return inc.Classes
		}
		if !ok {
			continue // none of its lines left
		}
		if len(sn.Classes) == 0 {
			return inc.Classes // its classes not known
		}
		for _, c := range sn.Classes {
			has[c] = true
		}
	}
	for _, e := range inc.Evidence {
		has[e.Class] = true
	}
	out := slices.DeleteFunc(slices.Clone(inc.Classes), func(c abusewatch.Class) bool { return !has[c] })
	if len(out) == 0 {
		return inc.Classes
	}
	return out
}

// ToldBefore says whether a report before holds e, a line of inc, one of the incidents
// of reported (Known.Reported) that inc takes lines in from, as besidesReported leaves
// them out: its X-ARF part of an address read from the store leaves it out too.
func ToldBefore(inc abusewatch.Incident, reported []abusewatch.Incident, e *abusewatch.Event) bool {
	for i := range reported {
		r := &reported[i]
		if r.ID == inc.ID || (inc.Rule == "network" && r.Key != "" && r.Key == inc.Key) || !mayShare(&inc, r) {
			continue
		}
		if mayHold(r, e) {
			return true
		}
	}
	return false
}

// within is at most how many of inc's lines and connections r holds, r not within inc
// whole: its counts less its kept lines that are not inc's and their connections, and
// one line and one connection for each other address it names that none of those is of.
func within(inc, r *abusewatch.Incident) (lines, conns int) {
	scope := abusewatch.UnmapPrefix(inc.Network)
	if !inc.AboutNetwork() {
		scope = netip.PrefixFrom(inc.Addr.Unmap(), inc.Addr.Unmap().BitLen())
	}
	var out, in []*abusewatch.Event
	outside := map[netip.Addr]bool{}
	for _, e := range linesOf(r).evs {
		a := e.Addr.Unmap()
		if e.Time.Before(inc.First) || e.Time.After(inc.Last) || !scope.Contains(a) || !slices.Contains(inc.Classes, e.Class) {
			out = append(out, e)
			if !scope.Contains(a) {
				outside[a] = true
			}
		} else {
			in = append(in, e)
		}
	}
	others := 0
	for _, a := range r.Sources {
		if a = a.Unmap(); !scope.Contains(a) && !outside[a] {
			others++
		}
	}
	return max(r.Count-len(out)-others, 0), max(r.Attempts-outConns(out, in)-others, 0)
}

// lowerBounds marks the counts of the sources (and of the addresses within them) that
// stand for an incident of low as the lower bounds they are.
func lowerBounds(sources []*source, low map[string]lowered) {
	for _, s := range sources {
		for _, m := range s.members {
			if lw, ok := low[m.ID]; ok {
				s.linesAtLeast, s.connsAtLeast = s.linesAtLeast || lw.lines, s.connsAtLeast || lw.conns
				s.told = s.told || (lw.lines && lw.unkept)
			}
		}
		lowerBounds(s.addrs, low)
	}
}

// HeldByReported returns the ID of the incident of reported (each with a report) that
// holds every line of inc, or "" when none does: inc would tell the abuse desk nothing
// an earlier report did not. After a rule change a pass makes new incidents over lines
// already reported (a lower threshold cuts a reported recurrence's days into per-address
// incidents), and they went out again. One of inc's own key (a follow-up of a reported
// incident, which may begin in the second it ended) is not asked.
func HeldByReported(inc abusewatch.Incident, reported []abusewatch.Incident) string {
	incLines := linesOf(&inc)
	for i := range reported {
		r := &reported[i]
		if r.Key != "" && r.Key == inc.Key || !mayShare(&inc, r) {
			continue
		}
		if holds(r, &inc, linesOf(r), incLines) {
			return r.ID
		}
	}
	return ""
}
