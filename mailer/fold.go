package mailer

import (
	"cmp"
	"net/netip"
	"slices"
	"time"

	"github.com/abusewatch/abusewatch"
)

// A report often holds several incidents about the same lines: a sweep and the
// per-address incident of the same address, a network incident and the incident of
// one of its addresses that began before it. Shown apart, their lines were counted
// twice and the desk's tooling opened two tickets for one address. The memo lists
// sources instead: every address once, on its own or within the network incident
// whose times it overlaps, with counts that take each line once.
//
// An incident keeps only a sample of its lines (its Evidence), so where two incidents
// overlap and neither holds the other whole, how many lines they share is known only
// within bounds. The memo then gives the lower bound and says "at least": it never
// claims more than there were.

// source is one entry of the memo: an address or a network, and the incidents of the
// report it stands for.
type source struct {
	inc abusewatch.Incident // what the memo shows: the incidents merged, Count and Attempts the lower bounds
	// linesAtLeast, connsAtLeast: inc.Count, inc.Attempts are lower bounds, not exact.
	linesAtLeast, connsAtLeast bool
	members                    []abusewatch.Incident // the incidents it stands for, network incidents first
	// Of a network: its addresses that have incidents of their own in the report,
	// those incidents merged per address, each with its own lines and times.
	addrs []*source
	// Of a network: its Sources may leave addresses out (a recurrence read only some
	// of its lines, unless Known.AllSources says otherwise, and a list stops at
	// abusewatch.MaxSources).
	partialSources bool
	// lines, conns: what inc.Count, inc.Attempts are known to lie within.
	lines, conns bounds
	// told: the lines an earlier report holds were left out of one of its incidents
	// that did not keep all its lines, and its count became a lower bound: that it
	// keeps as many lines as it counts no longer tells that all of them are known.
	told bool
	// firstDay, lastDay: inc.First (inc.Last) is known only as a day (Inexact).
	firstDay, lastDay bool
}

// sourcesOf groups the report's incidents (sorted by First, then ID) into the
// sources the memo shows, ordered by their first event. allSources are the IDs of the
// recurrences whose Sources are known to name every address (Known.AllSources).
func sourcesOf(incidents []abusewatch.Incident, allSources map[string]bool) []*source {
	var out []*source
	var nets []*netGroup
	netOf := map[netip.Prefix]*netGroup{}
	var addrOrder []netip.Addr
	addrOf := map[netip.Addr][]abusewatch.Incident{}
	for _, inc := range incidents {
		switch {
		case inc.AboutNetwork():
			p := abusewatch.UnmapPrefix(inc.Network)
			g := netOf[p]
			if g == nil {
				g = &netGroup{}
				netOf[p] = g
				nets = append(nets, g)
			}
			g.members = append(g.members, inc)
		case inc.Addr.IsValid():
			a := inc.Addr.Unmap()
			if addrOf[a] == nil {
				addrOrder = append(addrOrder, a)
			}
			addrOf[a] = append(addrOf[a], inc)
		default:
			out = append(out, &source{inc: inc, members: []abusewatch.Incident{inc}})
		}
	}
	nets = foldNested(nets)
	for _, a := range addrOrder {
		s := merge(addrOf[a])
		// The narrowest network incident of the report whose times one of the address's
		// incidents overlaps takes it in.
		var into *netGroup
		bits := -1
		for _, g := range nets {
			p := g.prefix()
			if !p.Contains(a) || p.Bits() <= bits {
				continue
			}
			if slices.ContainsFunc(s.members, func(x abusewatch.Incident) bool {
				return slices.ContainsFunc(g.members, func(n abusewatch.Incident) bool { return overlap(&x, &n) })
			}) {
				into, bits = g, p.Bits()
			}
		}
		if into == nil {
			out = append(out, s)
			continue
		}
		into.addrs = append(into.addrs, s)
	}
	for _, g := range nets {
		all := slices.Clone(g.members)
		for _, a := range g.addrs {
			all = append(all, a.members...)
		}
		s := merge(all)
		s.addrs = g.addrs
		// Every address with lines of its own in the network counts among its sources.
		hasSources := false
		for _, n := range g.members {
			hasSources = hasSources || n.Sources != nil
			s.partialSources = s.partialSources || (n.Rule == "recurrence" && !allSources[n.ID])
		}
		if hasSources {
			var sources []netip.Addr
			for _, n := range g.members {
				for _, a := range n.Sources {
					if a = a.Unmap(); !slices.Contains(sources, a) {
						sources = append(sources, a)
					}
				}
			}
			for _, a := range g.addrs {
				if a := a.inc.Addr.Unmap(); !slices.Contains(sources, a) {
					sources = append(sources, a)
				}
			}
			slices.SortFunc(sources, netip.Addr.Compare)
			if len(sources) >= abusewatch.MaxSources {
				sources, s.partialSources = sources[:abusewatch.MaxSources], true
			}
			s.inc.Sources = sources
		}
		out = append(out, s)
	}
	slices.SortStableFunc(out, func(a, b *source) int {
		return cmp.Or(a.inc.First.Compare(b.inc.First), cmp.Compare(a.inc.ID, b.inc.ID))
	})
	return out
}

// netGroup is the incidents of a report about one network (and, after they are
// folded in, about networks within it), and its addresses with incidents of their own.
type netGroup struct {
	members []abusewatch.Incident
	addrs   []*source
}

func (g *netGroup) prefix() netip.Prefix { return abusewatch.UnmapPrefix(g.members[0].Network) }

// foldNested folds each network group of a report into the widest other group whose
// network holds its network and whose times one of its incidents meets, and returns
// the groups left, in their order. One burst makes a network incident at every size
// network_sizes asks for (/24, /16, /8; IPv6 /64, /48, /32), each holding the lines of
// the narrower ones: shown apart, 23 lines were stated as 58 connections, and an
// address got an X-ARF part at every size. A group's own incidents stay first among
// its members, so the widest names the source.
func foldNested(groups []*netGroup) []*netGroup {
	byWidth := slices.Clone(groups)
	slices.SortStableFunc(byWidth, func(a, b *netGroup) int { return cmp.Compare(a.prefix().Bits(), b.prefix().Bits()) })
	folded := map[*netGroup]*netGroup{} // a group folded: the group that takes it in
	for i, g := range byWidth {
		p := g.prefix()
		for _, w := range byWidth[:i] { // the widest first
			if q := w.prefix(); q.Bits() >= p.Bits() || !q.Contains(p.Addr()) {
				continue
			}
			if slices.ContainsFunc(g.members, func(x abusewatch.Incident) bool {
				return slices.ContainsFunc(w.members, func(n abusewatch.Incident) bool { return overlap(&x, &n) })
			}) {
				folded[g] = w
				break
			}
		}
	}
	// The narrowest first, so that what a group took in goes on with it into a wider
	// one; each goes into the widest at the end of its chain.
	for i := len(byWidth) - 1; i >= 0; i-- {
		g := byWidth[i]
		if folded[g] == nil {
			continue
		}
		into := folded[g]
		for folded[into] != nil {
			into = folded[into]
		}
		into.members = append(into.members, g.members...)
	}
	return slices.DeleteFunc(groups, func(g *netGroup) bool { return folded[g] != nil })
}

// overlap says whether the times of x and y meet.
func overlap(x, y *abusewatch.Incident) bool {
	return !x.First.After(y.Last) && !y.First.After(x.Last)
}

// lineKey tells lines apart: the store's Seq, or for an event without one its time,
// address and text.
type lineKey struct {
	seq  uint64
	t    int64
	addr netip.Addr
	line string
}

func keyOf(e *abusewatch.Event) lineKey {
	if e.Seq != 0 {
		return lineKey{seq: e.Seq}
	}
	return lineKey{t: e.Time.UnixNano(), addr: e.Addr.Unmap(), line: e.Line}
}

// connKey is a connection as correlate counts one: the lines of one remote port of
// one address to one service of one host. (Correlate may tell more connections apart,
// e.g. by our port too: then these keys count fewer, which only loosens the bounds.)
type connKey struct {
	host, service string
	addr          netip.Addr
	port          uint16
}

// connsOf counts the connections of evs the way correlate does, or fewer: ported lines
// by connKey, and each line of a service that gives no port anywhere in evs.
func connsOf(evs []*abusewatch.Event) int {
	type svc struct {
		host, service string
		addr          netip.Addr
	}
	conns := map[connKey]bool{}
	ported := map[svc]bool{}
	for _, e := range evs {
		if e.Port != 0 {
			conns[connKey{e.Host, e.Service, e.Addr.Unmap(), e.Port}] = true
			ported[svc{e.Host, e.Service, e.Addr.Unmap()}] = true
		}
	}
	n := len(conns)
	for _, e := range evs {
		if e.Port == 0 && !ported[svc{e.Host, e.Service, e.Addr.Unmap()}] {
			n++
		}
	}
	return n
}

// portedConns is the set of the connections with a remote port among evs.
func portedConns(evs []*abusewatch.Event) map[connKey]bool {
	out := map[connKey]bool{}
	for _, e := range evs {
		if e.Port != 0 {
			out[connKey{e.Host, e.Service, e.Addr.Unmap(), e.Port}] = true
		}
	}
	return out
}

// countsLine says whether x surely counts the line e: e lies within x's times, and x
// counts every line of its kind there. A network incident counts every line of its
// network; an address's own (per-address, recurrence) every line of its address of
// the classes it counted. A sweep or a port scan counts a part only.
func countsLine(x *abusewatch.Incident, e *abusewatch.Event) bool {
	if e.Time.Before(x.First) || e.Time.After(x.Last) || !e.Addr.IsValid() {
		return false
	}
	if x.AboutNetwork() {
		return abusewatch.UnmapPrefix(x.Network).Contains(e.Addr.Unmap())
	}
	return (x.Rule == "per-address" || x.Rule == "recurrence") && x.Addr.Unmap() == e.Addr.Unmap() && slices.Contains(x.Classes, e.Class)
}

// lines is an incident's evidence with each line once, and whether it is all the
// lines the incident counts.
type lines struct {
	evs      []*abusewatch.Event
	keys     map[lineKey]bool
	complete bool
}

func linesOf(inc *abusewatch.Incident) lines {
	l := lines{keys: map[lineKey]bool{}}
	for i := range inc.Evidence {
		if k := keyOf(&inc.Evidence[i]); !l.keys[k] {
			l.keys[k] = true
			l.evs = append(l.evs, &inc.Evidence[i])
		}
	}
	l.complete = len(l.evs) >= inc.Count
	return l
}

// holds says whether x counts every line of y (xl and yl their lines): y lies within
// x's times, and x counts every line of y's kind there, or the lines of both are all
// known and y's are among x's.
func holds(x, y *abusewatch.Incident, xl, yl lines) bool {
	if y.First.Before(x.First) || y.Last.After(x.Last) {
		return false
	}
	if !x.AboutNetwork() && (y.AboutNetwork() || x.Addr.Unmap() != y.Addr.Unmap()) {
		return false
	}
	if xl.complete && yl.complete && !slices.ContainsFunc(yl.evs, func(e *abusewatch.Event) bool { return !xl.keys[keyOf(e)] }) {
		return true
	}
	if x.AboutNetwork() {
		p := abusewatch.UnmapPrefix(x.Network)
		if y.AboutNetwork() {
			q := abusewatch.UnmapPrefix(y.Network)
			return p.Bits() <= q.Bits() && p.Contains(q.Addr())
		}
		return y.Addr.IsValid() && p.Contains(y.Addr.Unmap())
	}
	if x.Rule != "per-address" && x.Rule != "recurrence" {
		return false
	}
	return !slices.ContainsFunc(y.Classes, func(c abusewatch.Class) bool { return !slices.Contains(x.Classes, c) })
}

// bounds is a count known to lie between lo and hi.
type bounds struct{ lo, hi int }

// merge is one source standing for incidents (network incidents first, each kind in
// order of First): their lines and connections counted once.
func merge(incidents []abusewatch.Incident) *source {
	s := &source{members: incidents}
	// Those another one holds whole add nothing to the counts.
	ls := make([]lines, len(incidents))
	for i := range incidents {
		ls[i] = linesOf(&incidents[i])
	}
	var m merger
	for i := range incidents {
		x := &incidents[i]
		held := false
		for j := range incidents {
			y := &incidents[j]
			if i == j || !holds(y, x, ls[j], ls[i]) {
				continue
			}
			// Two that hold each other: the first with the most lines counts.
			if !holds(x, y, ls[i], ls[j]) || y.Count > x.Count || (y.Count == x.Count && j < i) {
				held = true
				break
			}
		}
		if !held {
			m.add(x, ls[i])
		}
	}

	first := incidents[0]
	inc := first
	inc.Classes, inc.Hosts, inc.Evidence, inc.Sources = nil, nil, nil, first.Sources
	seen := map[lineKey]bool{}
	for _, x := range incidents {
		if x.First.Before(inc.First) {
			inc.First = x.First
		}
		if x.Last.After(inc.Last) {
			inc.Last = x.Last
		}
		for _, c := range x.Classes {
			if !slices.Contains(inc.Classes, c) {
				inc.Classes = append(inc.Classes, c)
			}
		}
		for _, h := range x.Hosts {
			if !slices.Contains(inc.Hosts, h) {
				inc.Hosts = append(inc.Hosts, h)
			}
		}
		for i := range x.Evidence {
			if k := keyOf(&x.Evidence[i]); !seen[k] {
				seen[k] = true
				inc.Evidence = append(inc.Evidence, x.Evidence[i])
			}
		}
		inc.Severity = max(inc.Severity, x.Severity)
		inc.Success = inc.Success || x.Success
		if inc.PTR == "" && !x.AboutNetwork() {
			inc.PTR = x.PTR
		}
	}
	if len(incidents) > 1 {
		slices.Sort(inc.Classes)
		slices.Sort(inc.Hosts)
	}
	// The lines and connections of all are at least those of each, one held whole by
	// another too (a recurrence claims fewer connections than an incident it holds).
	for _, x := range incidents {
		m.lines.lo, m.conns.lo = max(m.lines.lo, x.Count), max(m.conns.lo, min(x.Attempts, x.Count))
	}
	m.lines.hi, m.conns.hi = max(m.lines.hi, m.lines.lo), max(m.conns.hi, m.conns.lo)
	slices.SortStableFunc(inc.Evidence, func(a, b abusewatch.Event) int { return a.Time.Compare(b.Time) })
	inc.Count, inc.Attempts = m.lines.lo, m.conns.lo
	s.lines, s.conns = m.lines, m.conns
	s.linesAtLeast, s.connsAtLeast = m.lines.lo != m.lines.hi, m.conns.lo != m.conns.hi
	// A recurrence claims only the connections it saw, at least one a day: a lower
	// bound, unless there are no more lines than that.
	if slices.ContainsFunc(incidents, func(x abusewatch.Incident) bool { return x.Rule == "recurrence" }) &&
		(s.linesAtLeast || inc.Attempts < inc.Count) {
		s.connsAtLeast = true
	}
	s.inc = inc
	return s
}

// merger counts the lines and connections of the incidents added to it, each once, as
// closely as their evidence tells.
type merger struct {
	members      []*abusewatch.Incident
	first, last  time.Time
	lines, conns bounds
	evidence     []*abusewatch.Event // distinct
	keys         map[lineKey]bool
	classes      []abusewatch.Class
	allKnown     bool // every line of the members is in evidence
}

func (m *merger) add(y *abusewatch.Incident, yl lines) {
	ys := yl.evs
	yLines, yConns := max(y.Count, len(ys)), max(y.Attempts, 1)
	if len(m.members) == 0 {
		m.members, m.first, m.last = []*abusewatch.Incident{y}, y.First, y.Last
		m.lines, m.conns = bounds{yLines, yLines}, bounds{yConns, yConns}
		m.keys = map[lineKey]bool{}
		m.evidence, m.allKnown = m.addLines(nil, ys), len(ys) >= y.Count
		m.classes = slices.Clone(y.Classes)
		return
	}
	var sLo, sHi, cLo, cHi int // lines and connections in both: at least, at most
	from, to := maxTime(m.first, y.First), minTime(m.last, y.Last)
	meet := !from.After(to) && slices.ContainsFunc(y.Classes, func(c abusewatch.Class) bool { return slices.Contains(m.classes, c) })
	if meet {
		in := func(e *abusewatch.Event) bool { return !e.Time.Before(from) && !e.Time.After(to) }
		var sure, yOut, yIn, mOut, mIn []*abusewatch.Event
		for _, e := range ys {
			if m.keys[keyOf(e)] || slices.ContainsFunc(m.members, func(x *abusewatch.Incident) bool { return countsLine(x, e) }) {
				sure = append(sure, e)
			}
			if in(e) {
				yIn = append(yIn, e)
			} else {
				yOut = append(yOut, e)
			}
		}
		for _, e := range m.evidence {
			if !yl.keys[keyOf(e)] && countsLine(y, e) {
				sure = append(sure, e)
			}
			if in(e) {
				mIn = append(mIn, e)
			} else {
				mOut = append(mOut, e)
			}
		}
		sLo, cLo = len(sure), len(portedConns(sure))
		// The lines outside the times of the other are not in it.
		sHi = min(yLines-len(yOut), m.lines.lo-len(mOut))
		cHi = min(yConns-outConns(yOut, yIn), m.conns.lo-outConns(mOut, mIn))
		// A network incident's lines of its other addresses are not an address's:
		// each of those gave it at least one line and one connection.
		if n := others(m.members, y); n > 0 {
			sHi, cHi = min(sHi, m.lines.lo-n), min(cHi, m.conns.lo-n)
		}
		if n := others([]*abusewatch.Incident{y}, m.members...); n > 0 {
			sHi, cHi = min(sHi, yLines-n), min(cHi, yConns-n)
		}
		if m.allKnown && len(ys) >= y.Count { // every line is known: what they share is known
			sHi = sLo
		}
		sHi, cHi = max(sHi, 0), max(cHi, 0)
	}
	m.members = append(m.members, y)
	m.first, m.last = minTime(m.first, y.First), maxTime(m.last, y.Last)
	m.evidence = m.addLines(m.evidence, ys)
	m.allKnown = m.allKnown && len(ys) >= y.Count
	for _, c := range y.Classes {
		if !slices.Contains(m.classes, c) {
			m.classes = append(m.classes, c)
		}
	}
	m.lines = bounds{max(m.lines.lo+yLines-sHi, m.lines.lo, yLines), m.lines.hi + yLines - sLo}
	m.conns = bounds{max(m.conns.lo+yConns-cHi, m.conns.lo, yConns), m.conns.hi + yConns - cLo}
	if m.allKnown {
		// Counted from the lines themselves (as correlate counts them, or fewer).
		m.lines.lo = max(m.lines.lo, len(m.evidence))
		m.conns.lo = max(m.conns.lo, connsOf(m.evidence))
	}
	m.lines.hi, m.conns.hi = max(m.lines.hi, m.lines.lo), max(m.conns.hi, m.conns.lo)
	m.conns.lo, m.conns.hi = min(m.conns.lo, m.lines.lo), min(m.conns.hi, m.lines.hi)
}

func (m *merger) addLines(to, evs []*abusewatch.Event) []*abusewatch.Event {
	for _, e := range evs {
		if k := keyOf(e); !m.keys[k] {
			m.keys[k] = true
			to = append(to, e)
		}
	}
	return to
}

// outConns counts the connections of the lines out that none of the lines in shares:
// with a remote port only, so never more than there are.
func outConns(out, in []*abusewatch.Event) int {
	inside := portedConns(in)
	n := 0
	for k := range portedConns(out) {
		if !inside[k] {
			n++
		}
	}
	return n
}

// others is how many addresses the network incidents among nets name (their Sources,
// and the addresses of the address incidents among nets) that none of the address
// incidents among addrs is about: each gave the network lines no address incident
// of addrs holds. Zero when nets hold no network incident or addrs no address's.
func others(nets []*abusewatch.Incident, addrs ...*abusewatch.Incident) int {
	var mine []netip.Addr
	for _, a := range addrs {
		if a.AboutNetwork() || !a.Addr.IsValid() {
			return 0
		}
		mine = append(mine, a.Addr.Unmap())
	}
	seen := map[netip.Addr]bool{}
	network := false
	for _, n := range nets {
		if n.AboutNetwork() {
			network = true
			for _, a := range n.Sources {
				seen[a.Unmap()] = true
			}
		} else if n.Addr.IsValid() {
			seen[n.Addr.Unmap()] = true
		}
	}
	if !network {
		return 0
	}
	for _, a := range mine {
		delete(seen, a)
	}
	return len(seen)
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
