package correlate

import (
	"container/heap"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/abusewatch/abusewatch"
)

// recurrence applies the recurrence rule to scope (an address or its /24, IPv6 /64)
// after new events between from and to: active on Days distinct days within Period. It
// reads the daily counters, not the raw events, so it sees further back than the raw
// events are kept. The evidence is the first few raw events that remain of the first
// active day (twice Evidence: the rest of that day would be read only to be sampled
// away) and the new events. The incident's First is its first event, or, when the raw
// events of its first day are gone, that day (midnight UTC): the counters know days.
// A new one begins after the scope's own incident of the short windows (batch: those
// this batch made or grew; see reportedUntil), whose lines it would only repeat. It
// returns the incident made or grown if it is to be handed on now (made), and whether
// scope recurs. During a pass over history the incident is held instead
// (heldRecurrence) and handed on when it can no longer grow.
func (c *Correlator) recurrence(scope netip.Prefix, from, to time.Time, batch []abusewatch.Incident) (inc abusewatch.Incident, made, recurs bool, err error) {
	return c.recurrenceBut(scope, from, to, batch, nil)
}

// networkRecurrence is recurrence of network scope (a /24, IPv6 /64) by its addresses
// but those that recur on their own (recurringMembers; found: those the batch found
// recurring).
func (c *Correlator) networkRecurrence(scope netip.Prefix, from, to time.Time, batch []abusewatch.Incident, found []netip.Addr) (inc abusewatch.Incident, made, recurs bool, err error) {
	minus, err := c.recurringMembers(scope, to, found)
	if err != nil {
		return abusewatch.Incident{}, false, false, fmt.Errorf("correlate recur:%s: %w", scope, err)
	}
	return c.recurrenceBut(scope, from, to, batch, minus)
}

// recurrenceBut is recurrence of scope but for the events, days and counts of the
// addresses minus (sorted), which recur on their own.
func (c *Correlator) recurrenceBut(scope netip.Prefix, from, to time.Time, batch []abusewatch.Incident, minus []netip.Addr) (inc abusewatch.Incident, made, recurs bool, err error) {
	r := c.opts.Recurrence
	h, ended := c.openHeld(scope, from)
	if h != nil {
		return abusewatch.Incident{}, false, true, c.growHeld(h, from, to, minus)
	}
	key := "recur:" + scope.String()
	// One that starts within the batch is open too: a pass over history meets the
	// incident it stored before in a batch that reaches back before its first event
	// (to the scope's burst, which the recurrence begins after).
	// A pass reads it whole only to grow it: most often it holds the batch's days
	// already (a pass over a store with its incidents), and what is returned then is
	// not handed on (the pass holds it, c.held). That read was a ninth of such a pass.
	// Outside a pass it is handed on as it is: read whole at once.
	prevWhole := true
	openHead := func() (abusewatch.Incident, bool, error) {
		return c.incidents.OpenIncident(key, from.Add(-r.Gap), to, true)
	}
	if h, ok := c.incidents.(interface {
		OpenIncidentHead(key string, since, at time.Time) (abusewatch.Incident, bool, error)
	}); ok && c.held != nil {
		prevWhole, openHead = false, func() (abusewatch.Incident, bool, error) { return h.OpenIncidentHead(key, from.Add(-r.Gap), to) }
	}
	prev, open, err := openHead()
	if err != nil {
		return abusewatch.Incident{}, false, false, err
	}
	if !open && prev.ID != "" && prev.Last.Before(from) && prev.Last.After(ended) {
		ended = prev.Last // the newest incident of scope, closed
	}
	// One that has a report stays as it was reported, as the other rules' do: the
	// days after its last event follow it as a new recurrence, with no count of days
	// to reach again (the scope recurs still). A pass meets the stored follow-ups of
	// a chain one after the other, as it met the first.
	follows := false
	for open {
		rep, err := c.isReported(prev.ID)
		if err != nil {
			return abusewatch.Incident{}, false, false, err
		}
		if !prev.Last.Before(to) {
			// It already holds these events (a pass over history judged before): it
			// stays as it is (a pass has nothing to write), and still says that the
			// scope recurs.
			return prev, c.held == nil && !rep, true, nil
		}
		if !rep {
			break
		}
		open, follows = false, true
		if prev.Last.After(ended) {
			ended = prev.Last
		}
		// Its follow-up, if stored, begins after the day of its last event. Outside
		// a pass the reported one was the newest of the key, and this finds it again.
		next, ok, err := c.incidents.OpenIncident(key, dayOf(prev.Last).Add(24*time.Hour), to, true)
		if err != nil {
			return abusewatch.Incident{}, false, false, err
		}
		if ok && next.ID != prev.ID && next.First.After(prev.Last) {
			prev, open, prevWhole = next, true, true
		}
	}
	if open && !prevWhole {
		whole, ok, err := c.incidents.OpenIncident(key, from.Add(-r.Gap), to, true)
		if err == nil && (!ok || whole.ID != prev.ID) {
			err = fmt.Errorf("incident %s of %s changed while it was judged", prev.ID, key)
		}
		if err != nil {
			return abusewatch.Incident{}, false, false, err
		}
		prev = whole
	}
	if _, candidate := c.recurring[scope]; !open && !follows && c.recurring != nil && !candidate {
		return abusewatch.Incident{}, false, false, nil // not active on enough days in the whole pass
	}
	start := to.Add(-r.Period)
	if open && prev.First.Before(start) {
		start = prev.First
	}
	active, err := c.activeDays(scope, start, to)
	if err == nil {
		active, err = c.ownDays(scope, minus, active, dayOf(to))
	}
	if err != nil {
		return abusewatch.Incident{}, false, false, fmt.Errorf("correlate %s: %w", key, err)
	}
	periodStart := dayOf(to.Add(-r.Period))
	inPeriod := len(active) - sort.Search(len(active), func(i int) bool { return !active[i].Before(periodStart) })
	if len(active) == 0 || (!open && !follows && inPeriod < r.Days) {
		return abusewatch.Incident{}, false, false, nil
	}
	var first time.Time // the first active day; of an open incident, its first event
	if !open {
		var ok bool
		if first, ok = firstDayAfter(active, ended); !ok {
			return abusewatch.Incident{}, false, false, nil
		}
		// The scope's incident of the short windows that holds its first day (the
		// burst that was reported on its own, or will be) holds its lines already:
		// the recurrence begins after it, as after one of its own that closed.
		until, err := c.reportedUntil(scope, first, to, batch)
		if err != nil {
			return abusewatch.Incident{}, false, false, fmt.Errorf("correlate %s: %w", key, err)
		}
		if !until.IsZero() {
			if first, ok = firstDayAfter(active, until); !ok {
				return abusewatch.Incident{}, false, true, nil // it recurs; its days so far are the burst's
			}
		}
		if scope.IsSingleIP() {
			// Its network's recurrence reported with its lines, before it recurred on
			// its own, holds them: it begins after that, as after a burst.
			if until, err = c.reportedNetworkUntil(scope.Addr(), first, to); err != nil {
				return abusewatch.Incident{}, false, false, fmt.Errorf("correlate %s: %w", key, err)
			}
			if !until.IsZero() {
				if first, ok = firstDayAfter(active, until); !ok {
					return abusewatch.Incident{}, false, true, nil
				}
			}
		}
	} else {
		first = prev.First
	}
	// The counts of the days before today cannot change while today lasts (late events
	// aside): they are summed as days pass, and each batch reads only today's (a pass
	// over history, once a day).
	today := dayOf(to)
	cur, err := c.pastActivity(scope, dayOf(first), today, active, minus)
	if err != nil {
		return abusewatch.Incident{}, false, false, fmt.Errorf("correlate %s: %w", key, err)
	}
	isMinus := func(a netip.Addr) bool {
		_, found := slices.BinarySearchFunc(minus, a.Unmap(), netip.Addr.Compare)
		return found
	}
	var evs []*abusewatch.Event
	var seen []netip.Addr // of a new /24's: the addresses its events since its first day name (addressesBetween)
	if open {
		evs = pointersTo(prev.Evidence)
		if len(minus) > 0 && slices.ContainsFunc(evs, func(e *abusewatch.Event) bool { return isMinus(e.Addr) }) {
			// An address of it recurs on its own since: its lines are its own.
			evs = slices.DeleteFunc(slices.Clone(evs), func(e *abusewatch.Event) bool { return isMinus(e.Addr) })
		}
	} else if captured, addrs, ok := c.firstDays.take(scope, first, to); ok {
		evs, seen = captured, addrs
	} else if firstDay, err := c.firstDay(scope, first); err != nil {
		return abusewatch.Incident{}, false, false, fmt.Errorf("correlate %s: %w", key, err)
	} else {
		evs = firstDay
		if !scope.IsSingleIP() {
			// From its first day on, as the pass's (firstDays): it names every address
			// of that day's events it reads, not only those of the few it keeps.
			if seen, err = c.addressesBetween(scope, first, from); err != nil {
				return abusewatch.Incident{}, false, false, fmt.Errorf("correlate %s: %w", key, err)
			}
		}
	}
	recent, err := c.read.scopeEvents(scope, from, to)
	if err != nil {
		return abusewatch.Incident{}, false, false, fmt.Errorf("correlate %s: %w", key, err)
	}
	have := make(map[uint64]bool, len(evs))
	for _, e := range evs {
		have[e.Seq] = true
	}
	for _, e := range recent {
		if !have[e.Seq] {
			evs = append(evs, e)
		}
	}
	included := c.notExcludedIn(scope)
	evs = slices.DeleteFunc(evs, func(e *abusewatch.Event) bool {
		// A new one begins on its first day: the batch may reach back before it, to
		// the end of the scope's last incident or the burst reported on its own.
		return e.Class == abusewatch.ClassAuthSuccess || !included(e) || (!open && e.Time.Before(first)) || isMinus(e.Addr)
	})
	slices.SortStableFunc(evs, func(a, b *abusewatch.Event) int { return a.Time.Compare(b.Time) })
	// The evidence of the open incident, when all of it is still the first of evs,
	// is handed to describe as the incident's own, not as news: sample copies the
	// strings of the news it takes, and the same ten events were copied again at
	// every visit of a scope that recurs for months.
	var old []abusewatch.Event
	if open && leads(prev.Evidence, evs) {
		old, evs = prev.Evidence, evs[len(prev.Evidence):]
	}

	inc = abusewatch.Incident{Key: key, Rule: "recurrence", Network: scope, First: first, Last: to}
	if open {
		inc.ID, inc.Hosts = prev.ID, prev.Hosts
	} else {
		// Named by its first day, as it always was: a pass finds the ones it stored.
		h := sha256.Sum256(fmt.Appendf(nil, "%s|%d", key, first.Unix()))
		inc.ID = hex.EncodeToString(h[:8])
		if rep, err := c.isReported(inc.ID); err != nil || rep {
			// A reported one of this first day that the reader did not hand back
			// (none should be left): it stays as it was reported.
			return abusewatch.Incident{}, false, err == nil, err
		}
		// First is the first event of that day that remains: what an abuse desk looks
		// up a dynamic address's customer by. evs hold the day's oldest events
		// (successful logins aside), unless retention has deleted them.
		if len(evs) > 0 && dayOf(evs[0].Time).Equal(first) {
			inc.First = evs[0].Time
		}
	}
	if scope.IsSingleIP() {
		inc.Addr = scope.Addr()
	} else {
		// A network's recurrence names the addresses that sent reportable, unforgeable
		// evidence alone (review 21b H3, as the network rule: named): one forged
		// packet a day "from" each neighbour of one real address made a report that
		// named them all. Its Sources are those, whether it is reported or not (a
		// stored one's are what it named before: its evidence is a sample, and the
		// addresses of the lines it no longer holds are known by them alone).
		if open {
			inc.Sources = prev.Sources
			if slices.ContainsFunc(inc.Sources, isMinus) {
				inc.Sources = slices.DeleteFunc(slices.Clone(inc.Sources), isMinus)
			}
		}
		for _, e := range evs {
			if a := e.Addr.Unmap(); c.reportable(e) && !holdsSource(inc.Sources, a) {
				inc.Sources = addAddr(slices.Clone(inc.Sources), a)
			}
		}
		for _, a := range seen {
			if !holdsSource(inc.Sources, a) && !isMinus(a) && included(&abusewatch.Event{Addr: a}) {
				inc.Sources = addAddr(slices.Clone(inc.Sources), a)
			}
		}
		inc.Addr = scope.Addr()
		if len(evs) > 0 {
			inc.Addr = evs[len(evs)-1].Addr.Unmap()
		}
		for i := len(evs) - 1; i >= 0; i-- {
			if a := evs[i].Addr.Unmap(); holdsSource(inc.Sources, a) {
				inc.Addr = a // looked up through an address it names
				break
			}
		}
	}
	inc.Attempts = c.recurrenceConnections(prev, open, evs, cur.reportableDays)
	// A login from its address (of a /24, from one of the addresses of its events)
	// within success_lookback of its events: possibly our own user, as for the other
	// rules. Open, only the new events are asked about (it carries what was found).
	if open {
		inc.Success = prev.Success
	}
	if news := evs; !inc.Success && len(news) > 0 {
		if open && len(old) == 0 {
			news = news[sort.Search(len(news), func(i int) bool { return news[i].Time.After(prev.Last) }):]
		}
		if len(news) > 0 {
			if inc.Success, err = c.loginNear(rule{network: scope}, news); err != nil {
				return abusewatch.Incident{}, false, false, err
			}
		}
	}
	// A network's recurrence needs as many named addresses as the network rule counts;
	// with them, its evidence is theirs alone.
	namedEnough := c.namesEnough(inc)
	if !scope.IsSingleIP() && namedEnough {
		unnamed := func(e *abusewatch.Event) bool { return !holdsSource(inc.Sources, e.Addr.Unmap()) }
		if slices.ContainsFunc(evs, unnamed) {
			evs = slices.DeleteFunc(slices.Clone(evs), unnamed)
		}
		if slices.ContainsFunc(old, func(e abusewatch.Event) bool { return unnamed(&e) }) {
			old = slices.DeleteFunc(slices.Clone(old), func(e abusewatch.Event) bool { return unnamed(&e) })
		}
	}
	// What it says to the desk if it is reported: its reportable, unforgeable lines
	// alone. The incident keeps all for the admin until then (counted).
	told := c.toldOf(prev, open, old, evs)
	inc.Evidence = old
	reportable := c.describe(&inc, evs, ownNews) || slices.ContainsFunc(old, func(e abusewatch.Event) bool { return c.reportable(&e) })
	reportable = reportable && namedEnough
	if c.held != nil {
		c.hold(inc, reportable, minus, told)
		return abusewatch.Incident{}, false, true, nil
	}
	if err := c.counted(&inc, cur, reportable, active, minus, told); err != nil {
		return abusewatch.Incident{}, false, false, fmt.Errorf("correlate %s: %w", key, err)
	}
	return inc, true, true, nil
}

// firstDayAfter is the first of active (days, in order) after the day of ended (any
// day if ended is zero), if there is one. A recurrence begins on it: the counters,
// which it sums, know days.
func firstDayAfter(active []time.Time, ended time.Time) (time.Time, bool) {
	if ended.IsZero() {
		return active[0], true
	}
	i := sort.Search(len(active), func(i int) bool { return active[i].After(ended) })
	if i == len(active) {
		return time.Time{}, false
	}
	return active[i], true
}

// reportedUntil is the last event of an incident of scope's short-window rule
// (per-address for an address, the network rule's for a /24) that holds part of day,
// a recurrence's first: of batch (the incidents the batch made or grew, not stored
// yet), and the newest stored if it overlaps day to to (only that one is read: one
// stored before it is not found). Zero if there is none. A recurrence that took in
// its lines would report them again, counted twice, to the abuse desk that had them
// already. (One that begins later lies within the recurrence: both hold its lines.)
func (c *Correlator) reportedUntil(scope netip.Prefix, day, to time.Time, batch []abusewatch.Incident) (time.Time, error) {
	key := "net:" + scope.String()
	if scope.IsSingleIP() {
		key = "ip:" + scope.Addr().String()
	}
	var until time.Time
	holds := func(inc *abusewatch.Incident) {
		if inc.Key == key && !inc.Last.Before(day) && inc.First.Before(day.Add(24*time.Hour)) && inc.Last.After(until) {
			until = inc.Last
		}
	}
	stored, ok, err := c.incidents.OpenIncident(key, day, to, false)
	if err != nil {
		return time.Time{}, err
	}
	if ok {
		stored.Key = key // it may come with its ID and times alone
		holds(&stored)
	}
	for i := range batch {
		holds(&batch[i])
	}
	return until, nil
}

// reportedNetworkUntil is the last event of the newest recurrence of a's /24 (IPv6
// /64) that has a report, names a among its sources and holds part of day or later,
// or zero. Such a recurrence took in a's lines while a did not recur on its own; once
// a does, its recurrence would report them again. (An unreported one leaves a's lines
// out from now on: recurringMembers.) It looks back over the network's few newest
// recurrences, those of a chain of follow-ups.
func (c *Correlator) reportedNetworkUntil(a netip.Addr, day, to time.Time) (time.Time, error) {
	key := "recur:" + net24(a).String()
	open := c.incidents.OpenIncident
	if st, ok := c.incidents.(interface {
		OpenIncidentAt(key string, since, at time.Time, whole bool) (abusewatch.Incident, bool, bool, error)
	}); ok {
		// The store answers about the newest alone, but for this: the one before it
		// is asked for when it is not the one.
		open = func(key string, since, at time.Time, whole bool) (abusewatch.Incident, bool, error) {
			inc, ok, _, err := st.OpenIncidentAt(key, since, at, whole)
			return inc, ok, err
		}
	}
	for range 8 {
		inc, ok, err := open(key, day, to, true)
		if err != nil || !ok || inc.Last.Before(day) {
			return time.Time{}, err
		}
		if _, named := slices.BinarySearchFunc(sourcesOf(inc), a.Unmap(), netip.Addr.Compare); named {
			rep, err := c.isReported(inc.ID)
			if err != nil || rep {
				return inc.Last, err
			}
		}
		to = inc.First.Add(-time.Nanosecond) // the one before it
	}
	return time.Time{}, nil
}

// sourcesRead is how many events of the days between its first and the batch a new
// recurrence of a /24 reads for their addresses (once, when it is made, outside a
// pass, which keeps them as it reads: firstDays): a /24 that comes back low and slow
// has a few a day; a busy one is named by those and by its first day's and its new
// events'.
const sourcesRead = 4096

// addressesBetween lists the addresses of the oldest sourcesRead events of network
// scope from from to before to that name their address (names), sorted: those its
// recurrence names. Only those are counted: any number of others (dropped packets)
// before them no longer crowd them out (review 21d D0).
func (c *Correlator) addressesBetween(scope netip.Prefix, from, to time.Time) ([]netip.Addr, error) {
	if !from.Before(to) {
		return nil, nil
	}
	evs, err := c.read.firstNaming(scope, from, to.Add(-time.Nanosecond), sourcesRead, c.names)
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, e := range evs {
		out = addAddr(out, e.Addr.Unmap())
	}
	return out, nil
}

// names says whether e names its address in a recurrence of its network: reportable,
// unforgeable evidence (review 21b H3), a successful login never.
func (c *Correlator) names(e *abusewatch.Event) bool {
	return e.Class != abusewatch.ClassAuthSuccess && c.reportable(e)
}

// firstDay reads the evidence of a recurrence's first day, day: its oldest
// firstDayEvents events, what the admin sees it begin with, and the oldest as many of
// those that name an address (names), which any number of packets before them would
// otherwise crowd out (review 21d D0). A pass keeps the same (firstDays).
func (c *Correlator) firstDay(scope netip.Prefix, day time.Time) ([]*abusewatch.Event, error) {
	end := day.Add(24*time.Hour - time.Nanosecond)
	all, err := c.read.firstEvents(scope, day, end, c.firstDayEvents())
	if err != nil {
		return nil, err
	}
	named, err := c.read.firstNaming(scope, day, end, c.firstDayEvents(), c.names)
	if err != nil {
		return nil, err
	}
	return oldestOf(all, named), nil
}

// counted sets what a recurrence incident takes from its scope's counters (cur): its
// count of events, its classes and its severity, and, with reportable (whether its
// evidence holds a reportable event), whether it is for the admin only. active are its
// scope's active days over the rule's period to its last event (and since its first),
// but those of the addresses minus.
func (c *Correlator) counted(inc *abusewatch.Incident, cur activity, reportable bool, active []time.Time, minus []netip.Addr, told toldLines) error {
	inc.Count = cur.count
	inc.Severity = 2
	if cur.days >= 2*c.opts.Recurrence.Days {
		inc.Severity = 3
	}
	inc.Severity = max(inc.Severity, severity(*inc))
	inc.Classes = slices.Clone(cur.classes)
	// The counters know classes, not packets: an outside report also needs one piece of
	// evidence that is neither weak nor spoofable, which describe has looked for, and
	// as many days of reportable, unforgeable classes as the rule's days (review 21b
	// H3): one failed login among nine days of forged packets recurred on one day, not
	// ten, and its memo said "on many different days".
	enough := false
	if cur.reportableClass && reportable && c.namesEnough(*inc) {
		var err error
		if enough, err = c.enoughReportableDays(inc, cur.reportableDays, active, minus); err != nil {
			return err
		}
	}
	inc.AdminOnly = !enough
	if enough {
		// Reported, it is about its unforgeable evidence: the packets of its
		// addresses (anyone's to send with their source) are not counted, named as
		// a class or quoted to the desk (review 21d D1: one real failed login a day
		// and a SYN each day were "at least 10 (20 log lines)", half the lines quoted
		// packets). The admin has them still (ip, net).
		// Nor are its lines of classes not in reportable, nor successful logins
		// (review42 M5): the desk gets what the admin listed as reportable, as of a
		// network incident (named). They counted toward the rule's days above.
		inc.Count = max(cur.reportableCount, 1)
		notReported := func(class abusewatch.Class) bool {
			return Forgeable(class) || !slices.Contains(c.opts.Reportable, class)
		}
		if slices.ContainsFunc(inc.Classes, notReported) {
			inc.Classes = slices.DeleteFunc(inc.Classes, notReported) // cloned above
		}
		inc.Evidence, inc.Hosts = told.evidence, told.hosts
	}
	return nil
}

// toldLines is what a recurrence says to an abuse desk of its lines when it is
// reported (review42 M5): a sample of its reportable, unforgeable lines (names) and
// the hosts they hit. The incident holds all of its lines for the admin, who reads it
// whole, until counted knows it is reported: its evidence is then this.
type toldLines struct {
	evidence []abusewatch.Event
	hosts    []string
	// A held recurrence grows its sample in every batch of a pass: the one before the
	// last is the memory of the next (spare), when grow made it (own: the first may be
	// the stored incident's evidence, which others hold). Sampled into new memory each
	// time, it was 400 MB of a 10M-event first pass's 10 GB of allocations.
	spare []abusewatch.Event
	own   bool
}

// toldOf is the toldLines of a recurrence of evidence old (its open incident prev's,
// when it leads evs) and events evs. Of a reported-shaped prev (not for the admin
// alone, every line of its evidence told) its hosts are those told before; of another
// they are those of the lines of its evidence told: the others it held may have hit
// hosts of lines not told.
func (c *Correlator) toldOf(prev abusewatch.Incident, open bool, old []abusewatch.Event, evs []*abusewatch.Event) toldLines {
	var t toldLines
	untold := func(e abusewatch.Event) bool { return !c.names(&e) }
	if open && !prev.AdminOnly && !slices.ContainsFunc(prev.Evidence, untold) {
		t.hosts = slices.Clone(prev.Hosts)
	}
	if slices.ContainsFunc(old, untold) {
		old = slices.DeleteFunc(slices.Clone(old), untold)
	}
	if t.hosts == nil {
		t.hosts = hostsOf(old)
	}
	told := make([]*abusewatch.Event, 0, len(evs))
	for _, e := range evs {
		if c.names(e) {
			told = append(told, e)
		}
	}
	t.evidence = old
	t.grow(told, c.opts.Evidence)
	return t
}

// grow adds told (reportable, unforgeable lines, after those t holds) to t: their
// hosts, and to the sample of n lines. The strings of the lines taken are copied.
func (t *toldLines) grow(told []*abusewatch.Event, n int) {
	for _, e := range told {
		if e.Host != "" && !slices.Contains(t.hosts, e.Host) {
			t.hosts = append(t.hosts, strings.Clone(e.Host))
		}
	}
	slices.Sort(t.hosts)
	if len(told) == 0 {
		return
	}
	if t.spare == nil {
		t.spare = make([]abusewatch.Event, 0, n)
	}
	out, fromOld := sampleInto(t.spare[:0], t.evidence, told, n)
	if t.spare = nil; t.own {
		t.spare = t.evidence
	}
	t.evidence, t.own = out, true
	abusewatch.OwnStrings(t.evidence[fromOld:])
}

// hostsOf lists the hosts evs hit, sorted.
func hostsOf(evs []abusewatch.Event) []string {
	var out []string
	for _, e := range evs {
		if e.Host != "" && !slices.Contains(out, e.Host) {
			out = append(out, e.Host)
		}
	}
	slices.Sort(out)
	return out
}

// namesEnough says whether recurrence inc names enough addresses to be reported: of a
// network, as many as the network rule counts (at least one with the rule off), as a
// network incident needs (reportableSources); of an IPv6 /64, one host (OneHost), one;
// of an address, itself.
func (c *Correlator) namesEnough(inc abusewatch.Incident) bool {
	need := max(c.opts.Network.Count, 1)
	if OneHost(inc.Network) {
		need = 1
	}
	return inc.Network.IsSingleIP() || len(inc.Sources) >= need
}

// enoughReportableDays says whether recurrence inc has enough days with an event of a
// reportable, unforgeable class for an outside report: as many as the rule's days
// within its period, as the rule counts active days to make it. days are those of its
// own (from its first day), at least one; the days of the period before it (a
// recurrence that follows one reported, or one that ended) count too, read from the
// counters of active's days (its scope's but minus's), only when its own fall short.
// A follow-up of a reported recurrence has no count of days to reach to be made, but
// to be reported it needs the rule's days as any other (review 22 D4): its reported
// one's days within the period count, so an attack that keeps going is reported as it
// grows, while one failed login months after a report, a chain of forged packets
// between, is for the admin.
func (c *Correlator) enoughReportableDays(inc *abusewatch.Incident, days int, active []time.Time, minus []netip.Addr) (bool, error) {
	need := c.opts.Recurrence.Days
	if days >= need {
		return true, nil
	}
	if days == 0 {
		return false, nil
	}
	first, periodStart := dayOf(inc.First), dayOf(inc.Last.Add(-c.opts.Recurrence.Period))
	i := sort.Search(len(active), func(i int) bool { return !active[i].Before(periodStart) })
	for i < len(active) && active[i].Before(first) && days < need {
		// A read for each run of consecutive days, as pastActivity reads them.
		j := i + 1
		for j < len(active) && active[j].Before(first) && active[j].Sub(active[j-1]) <= 24*time.Hour {
			j++
		}
		counts, err := c.ownCounts(inc.Network, active[i], active[j-1].Add(24*time.Hour-time.Nanosecond), minus)
		if err != nil {
			return false, err
		}
		var before activity
		before.addDays(counts, c.opts.Reportable)
		days += before.reportableDays
		i = j
	}
	return days >= need, nil
}

// activeDays lists the days from start's to to on which scope was active: one read of
// the activity index, or of what a pass read of it at its start.
func (c *Correlator) activeDays(scope netip.Prefix, start, to time.Time) ([]time.Time, error) {
	known, candidate := c.recurring[scope]
	if !candidate || start.Before(c.recurringFrom) {
		days, err := c.counters.ActiveDays(scope, start, to)
		if err != nil {
			return nil, err
		}
		return c.notHeldDays(scope, days)
	}
	day := dayOf(start)
	lo := sort.Search(len(known), func(i int) bool { return !known[i].Before(day) })
	hi := sort.Search(len(known), func(i int) bool { return known[i].After(to) })
	return c.notHeldDays(scope, known[lo:max(lo, hi)])
}

// recurrenceConnections is how many connections a recurrence incident may claim: never
// more than it saw. The daily counters count log lines, three or four to a failed SSH
// login, which as connections overstated the attack threefold. Open (prev), it adds the
// connections among the reportable events after prev's last to prev's (newConnections);
// new, it counts those among the reportable events it read (evs: a first day's first
// events and the new ones), and one for each other day with a reportable event (of
// reportableDays).
func (c *Correlator) recurrenceConnections(prev abusewatch.Incident, open bool, evs []*abusewatch.Event, reportableDays int) int {
	var read []*abusewatch.Event
	for _, e := range evs {
		if c.reportable(e) && (!open || e.Time.After(prev.Last)) {
			read = append(read, e)
		}
	}
	if open {
		return prev.Attempts + newConnections(prev.Evidence, read, c.reportable)
	}
	days := map[time.Time]bool{}
	for _, e := range read {
		days[dayOf(e.Time)] = true
	}
	return max(attempts(read)+reportableDays-len(days), 1)
}

// leads says whether evs start with the events of evidence themselves (not copies), in
// their order.
func leads(evidence []abusewatch.Event, evs []*abusewatch.Event) bool {
	if len(evidence) == 0 || len(evidence) > len(evs) {
		return false
	}
	for i := range evidence {
		if evs[i] != &evidence[i] {
			return false
		}
	}
	return true
}

// firstDayEvents is how many events of its first day a recurrence incident takes as
// evidence before sampling: twice Evidence (the rest of that day would be read only to
// be sampled away).
func (c *Correlator) firstDayEvents() int { return 2 * c.opts.Evidence }

// activity sums the active days (with events other than successful logins) of a
// scope.
type activity struct {
	days            int                // active days
	reportableDays  int                // of them, those with an event of a reportable, unforgeable class
	count           int                // their events
	forgeable       int                // of them, those of a forgeable class (ForgeableClasses)
	reportableCount int                // of them, those of a reportable, unforgeable class
	classes         []abusewatch.Class // sorted; shared by copies of the sum, so never changed in place
	reportableClass bool
}

// addDays adds each of days that was active.
func (a *activity) addDays(days []abusewatch.Count, reportable []abusewatch.Class) {
	for _, d := range days {
		a.add(d, reportable)
	}
}

// add adds day d if it was active.
func (a *activity) add(d Count, reportableClasses []abusewatch.Class) {
	active, reportable := false, false
	classes := a.classes
	for class, k := range d.ByClass {
		if class == abusewatch.ClassAuthSuccess || k == 0 {
			continue
		}
		active = true
		a.count += k
		if Forgeable(class) {
			a.forgeable += k
		}
		// A forgeable class (check-config refuses it in reportable) never makes a
		// day reportable: its events may all be forged packets.
		if slices.Contains(reportableClasses, class) && !Forgeable(class) {
			a.reportableClass, reportable = true, true
			a.reportableCount += k
		}
		if i, found := slices.BinarySearch(classes, class); !found {
			classes = slices.Insert(slices.Clip(classes), i, class) // a new slice: the old one may be shared
		}
	}
	a.classes = classes
	if active {
		a.days++
	}
	if reportable {
		a.reportableDays++
	}
}

// pastSum is a scope's activity summed from its first day up to (not including)
// through.
type pastSum struct {
	first, through time.Time
	sum            activity
	used           time.Time // the last day it was asked for
	// The counts of day as pass (a Recorrelate's number) read them: a pass reads
	// a day's counters of a scope once, not in every batch of the day that brings it
	// (nothing writes the counters while it runs), and sums them into the past without
	// reading them again once the day is over.
	day       time.Time
	dayCounts []abusewatch.Count
	pass      uint64
	minus     []netip.Addr // of a network: the addresses left out (recurringMembers)
}

// pastActivity returns the activity of scope on the active days from first up to
// today, and on today, but for the events of the addresses minus (ownCounts), adding
// the days that passed since it was last asked (one read per run of active days) or
// summing them afresh when first or minus changed or the pass went back in time.
func (c *Correlator) pastActivity(scope netip.Prefix, first, today time.Time, active []time.Time, minus []netip.Addr) (activity, error) {
	c.pastMu.Lock()
	if len(c.past) > pastLimit && !c.pastDay.Equal(today) {
		// Bounded memory: once a day, forget the scopes not asked about for a week.
		maps.DeleteFunc(c.past, func(_ netip.Prefix, m pastSum) bool {
			return today.Sub(m.used) > 7*24*time.Hour || m.used.After(today)
		})
		maps.DeleteFunc(c.own, func(_ netip.Prefix, m ownDaysMemo) bool {
			return today.Sub(m.used) > 7*24*time.Hour || m.used.After(today)
		})
	}
	c.pastDay = today
	m, ok := c.past[scope]
	c.pastMu.Unlock()
	switch {
	case !slices.Equal(m.minus, minus):
		m = pastSum{first: first, through: first, minus: minus}
	case !ok || !m.first.Equal(first) || m.through.After(today):
		m = pastSum{first: first, through: first, day: m.day, dayCounts: m.dayCounts, pass: m.pass, minus: minus}
	}
	if c.pass == 0 || m.pass != c.pass {
		m.day, m.dayCounts, m.pass = time.Time{}, nil, 0 // not read in this pass
	}
	// The active days that passed since, a read for each run of consecutive ones: the
	// counters are a table per day, each searched for the scope, and a weekly visitor's
	// week holds one active day among seven. The memory is not held meanwhile (the
	// rules of one batch ask about each scope once, so no other reads or writes it).
	i := sort.Search(len(active), func(i int) bool { return !active[i].Before(m.through) })
	for i < len(active) && active[i].Before(today) {
		if m.pass != 0 && active[i].Equal(m.day) {
			m.sum.addDays(m.dayCounts, c.opts.Reportable)
			i++
			continue
		}
		j := i + 1
		for j < len(active) && active[j].Before(today) && active[j].Sub(active[j-1]) <= 24*time.Hour && !active[j].Equal(m.day) {
			j++
		}
		days, err := c.ownCounts(scope, active[i], active[j-1].Add(24*time.Hour-time.Nanosecond), minus)
		if err != nil {
			return activity{}, err
		}
		m.sum.addDays(days, c.opts.Reportable)
		i = j
	}
	m.through, m.used = today, today
	now := m.dayCounts
	if m.pass == 0 || !m.day.Equal(today) {
		var err error
		if now, err = c.ownCounts(scope, today, today.Add(24*time.Hour-time.Nanosecond), minus); err != nil {
			return activity{}, err
		}
		if c.pass != 0 {
			m.day, m.dayCounts, m.pass = today, now, c.pass
		}
	}
	cur := m.sum
	cur.addDays(now, c.opts.Reportable)
	c.pastMu.Lock()
	defer c.pastMu.Unlock()
	if c.past == nil {
		c.past = map[netip.Prefix]pastSum{}
	}
	c.past[scope] = m
	return cur, nil
}

func dayOf(t time.Time) time.Time { return t.UTC().Truncate(24 * time.Hour) }

// successAfterFailures applies the success-after-failures rule to the successful login
// e: failures of a reportable class from its address or its /24 (IPv6 /64) within
// SuccessLookback before it make an admin-only incident of the highest severity. It
// counts the address's own failures (its Count, Attempts and First: a login of an
// address that never failed is one line, no failed connection, at its own time); the
// /24's are its context, told apart: Sources names every address of the /24 that
// failed, and the evidence holds their lines too (each names its address) in the room
// the address's own lines and the login leave.
func (c *Correlator) successAfterFailures(e abusewatch.Event) (abusewatch.Incident, bool, error) {
	lb := c.opts.SuccessLookback
	if lb <= 0 {
		return abusewatch.Incident{}, false, nil
	}
	a := e.Addr.Unmap()
	key := "success:" + a.String()
	near, err := c.read.netEvents(net24(a), e.Time.Add(-lb), e.Time)
	if err != nil {
		return abusewatch.Incident{}, false, fmt.Errorf("correlate %s: %w", key, err)
	}
	fails := slices.DeleteFunc(near, func(o *abusewatch.Event) bool {
		return !c.reportable(o) || !o.Time.Before(e.Time) || c.Excluded(o.Addr) || c.heldBack(o)
	})
	if len(fails) == 0 {
		return abusewatch.Incident{}, false, nil
	}
	prev, open, err := c.incidents.OpenIncident(key, e.Time.Add(-lb), e.Time, false)
	if err != nil {
		return abusewatch.Incident{}, false, err
	}
	own := make([]*abusewatch.Event, 0, len(fails)+1)
	var others []*abusewatch.Event
	for _, o := range fails {
		if o.Addr.Unmap() == a {
			own = append(own, o)
		} else {
			others = append(others, o)
		}
	}
	first := e.Time
	if len(own) > 0 {
		first = own[0].Time
	}
	// Named by the first failure that made it, as it always was.
	h := sha256.Sum256(fmt.Appendf(nil, "%s|%d|%d", key, fails[0].Time.UnixNano(), fails[0].Seq))
	inc := abusewatch.Incident{
		ID: hex.EncodeToString(h[:8]), Key: key, Rule: "success-after-failure", Addr: a,
		Network: netip.PrefixFrom(a, a.BitLen()), First: first, Last: e.Time,
		Count: len(own) + 1, Attempts: attempts(own), Success: true, AdminOnly: true, Severity: 5,
	}
	if open {
		inc.ID = prev.ID
		if prev.First.Before(inc.First) {
			inc.First = prev.First
		}
	}
	c.describe(&inc, append(own, &e), ownNews)
	// The evidence must show the login itself, whatever the sample left out.
	if !slices.ContainsFunc(inc.Evidence, func(o abusewatch.Event) bool { return o.Seq == e.Seq && o.Time.Equal(e.Time) }) {
		inc.Evidence[len(inc.Evidence)-1] = ownStrings(e)
	}
	if len(others) > 0 {
		// The /24's failures: where the login came from, not what the address did.
		inc.Sources = abusewatch.AddSources(nil, fails)
		if room := c.opts.Evidence - len(inc.Evidence); room > 0 {
			context := []abusewatch.Event{*others[len(others)-1]} // the nearest the login
			if room > 1 {
				context, _ = sample(nil, others, room)
			}
			abusewatch.OwnStrings(context)
			inc.Evidence = append(inc.Evidence, context...)
			slices.SortStableFunc(inc.Evidence, func(x, y abusewatch.Event) int { return x.Time.Compare(y.Time) })
		}
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
	// The newest event of each class, in order of first appearance: a batch has a
	// handful of classes, looked up for each of its events.
	type classTime struct {
		class abusewatch.Class
		t     time.Time
	}
	var newest []classTime
	for i := range batch {
		e := &batch[i]
		j := slices.IndexFunc(newest, func(n classTime) bool { return n.class == e.Class })
		switch {
		case j < 0:
			newest = append(newest, classTime{e.Class, e.Time})
		case e.Time.After(newest[j].t):
			newest[j].t = e.Time
		}
	}
	var out []abusewatch.Incident
	for _, n := range newest {
		class := n.class
		hour := n.t.UTC().Truncate(time.Hour)
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
		usual, known, err := c.usualRate(class, hour)
		if err != nil {
			return out, err
		}
		if !known || float64(now) < r.Factor*usual {
			continue
		}
		key := "rate:" + string(class)
		prev, open, err := c.incidents.OpenIncident(key, hour, n.t, true)
		if err != nil {
			return out, err
		}
		if open && prev.Count == now && !n.t.After(prev.Last) {
			// The hour holds no event the incident has not counted (a pass over data
			// read before): drawing its evidence again would change it for nothing.
			continue
		}
		var evs []*abusewatch.Event
		if open {
			evs = pointersTo(prev.Evidence)
		}
		for i, e := range batch {
			if e.Class == class && !e.Time.Before(hour) && (!open || !slices.ContainsFunc(prev.Evidence, func(p abusewatch.Event) bool { return sameEvent(p, e) })) {
				evs = append(evs, &batch[i])
			}
		}
		h := sha256.Sum256(fmt.Appendf(nil, "%s|%d", key, hour.Unix()))
		inc := abusewatch.Incident{
			ID: hex.EncodeToString(h[:8]), Key: key, Rule: "rate-anomaly", First: evs[0].Time, Last: n.t,
			Count: now, Attempts: now, AdminOnly: true, Severity: 3,
		}
		if open {
			inc.ID, inc.First = prev.ID, prev.First
		}
		c.describe(&inc, evs, ownNews)
		out = append(out, inc)
	}
	return out, nil
}

// usualRate is the average number of class events an hour in the Baseline before hour,
// from the hourly counters, over the hours the store covers: from the first hour with
// counters (when there are none in the Baseline before it, the store began then) to the
// hour before, hours without events counting as none. known is false with less than a
// day of history: divided by the whole Baseline, 29 hours of 20 events an hour made 150
// in an hour 58 times the usual level.
func (c *Correlator) usualRate(class abusewatch.Class, hour time.Time) (usual float64, known bool, err error) {
	r := c.opts.Rate
	start := hour.Add(-r.Baseline)
	base, err := c.counters.Hours(start, hour.Add(-time.Nanosecond))
	if err != nil || len(base) == 0 || base[0].Start.After(hour.Add(-24*time.Hour)) {
		return 0, false, err // too little history to know what is usual
	}
	covered := r.Baseline
	if base[0].Start.After(start) {
		// Quiet hours at the start of the Baseline, or no store yet: only counters
		// before the Baseline tell which.
		before, err := c.counters.Hours(start.Add(-r.Baseline), start.Add(-time.Nanosecond))
		if err != nil {
			return 0, false, err
		}
		if len(before) == 0 {
			covered = hour.Sub(base[0].Start)
		}
	}
	sum := 0
	for _, h := range base {
		sum += h.ByClass[class]
	}
	return float64(sum) / covered.Hours(), true, nil
}

// sameEvent says whether a and b are the same stored event.
func sameEvent(a, b abusewatch.Event) bool {
	return a.Seq == b.Seq && a.Time.Equal(b.Time) && a.Line == b.Line
}

// History gives the stored events of a time range in time order, in batches. One that
// can also Recycle([]abusewatch.Event) gets back each batch a pass is done with.
type History interface {
	EachEvent(from, to time.Time, batch int, fn func([]abusewatch.Event) error) error
}

// Recorrelate runs the rules over the stored events between from and to, oldest first,
// as if they arrived now, so new or changed rules apply to old data. put stores the
// incidents created or grown, in groups, each in its newest form (the rules read them
// back from memory meanwhile), in no particular order: of the incidents of a key, it
// must keep the one that ended last as the key's newest (store.PutIncidents does). It
// returns the number handed to put.
func (c *Correlator) Recorrelate(ctx context.Context, h History, from, to time.Time, put func([]abusewatch.Incident) error) (int, error) {
	read, incidents := c.read, c.incidents
	recent := c.newRecent(from)
	if rc, ok := h.(interface{ Recycle([]abusewatch.Event) }); ok {
		// Nothing keeps a batch's events once it is let go of: incidents copy their
		// evidence (sample), and the memory of incidents holds incidents.
		recent.release = rc.Recycle
	}
	latest, err := newLatestIncidents(incidents, to.Sub(from) > 24*time.Hour)
	if err != nil {
		return 0, fmt.Errorf("correlate: %w", err)
	}
	// Which incidents have a report, read once: a pass meets every stored incident.
	reported := c.reported
	if st, ok := h.(interface {
		ReportedIncidents() (map[string]struct{}, error)
	}); ok && reported != nil {
		set, err := st.ReportedIncidents()
		if err != nil {
			return 0, fmt.Errorf("correlate: %w", err)
		}
		c.reported = func(id string) (bool, error) {
			_, ok := set[id]
			return ok, nil
		}
	}
	c.passes++
	c.read, c.incidents, c.pass = recent, latest, c.passes
	defer func() {
		c.reported = reported
		c.read, c.incidents, c.recurring, c.firstDays.scopes, c.pass = read, incidents, nil, nil, 0
		c.held, c.heldDone, c.heldCloses, c.passMembers = nil, nil, time.Time{}, nil
	}()
	if r := c.opts.Recurrence; r.Days > 0 {
		c.held = map[netip.Prefix]*heldRecurrence{}
		// Most addresses are seen on a day or two: one read of the activity index
		// spares asking about each of them in every batch.
		c.recurringFrom = from.Add(-r.Period)
		if c.recurring, err = c.counters.Recurring(c.recurringFrom, to, r.Days); err != nil {
			return 0, fmt.Errorf("correlate: %w", err)
		}
		// The addresses that may recur on their own, by network (recurringMembers).
		c.passMembers = map[netip.Prefix][]netip.Addr{}
		for sc := range c.recurring {
			if a := sc.Addr(); sc.IsSingleIP() {
				c.passMembers[net24(a)] = append(c.passMembers[net24(a)], a)
			}
		}
		if keepFirstDays {
			c.firstDays.start(c.firstDayEvents(), from, c.names)
		}
	}
	// An incident is handed to put once it can no longer grow (the pass is past its
	// last event by more than its rule's growth), by a goroutine of its own while the
	// next batches are judged: a long attack, or a network or address that recurs for
	// months, grows in batch after batch and is written once, not after every one.
	w := newPutter(put)
	open := map[string]abusewatch.Incident{} // by ID, in their newest form
	var closing closingIncidents             // when each of open can no longer grow
	var closed []abusewatch.Incident
	c.judged.Store(0)
	c.through.Store(from.UnixNano())
	err = h.EachEvent(from, to, recorrelateBatch, func(batch []abusewatch.Event) error {
		g := recent.add(batch)
		if c.firstDays.scopes != nil {
			c.keepFirstDays(batch, g)
		}
		incs, err := c.correlate(ctx, batch, g)
		if err != nil {
			return err
		}
		latest.made(incs, c.growthOf)
		// The held recurrences that can no longer grow are closed already.
		done, err := c.closeHeld(batch[0].Time, false)
		if err != nil {
			return err
		}
		latest.made(done, c.growthOf)
		closed = append(closed, done...)
		c.judged.Add(int64(len(batch)))
		c.through.Store(batch[len(batch)-1].Time.UnixNano()) // the batches come in time order
		// What can no longer grow at the batch's newest event is closed already (the
		// next batches come after it): most of a pass's incidents, visits of minutes in
		// a batch of hours, skip the open ones and their heap.
		newest := batch[len(batch)-1].Time.UnixNano()
		for _, inc := range incs {
			if closes := inc.Last.Add(c.growthOf(inc.Rule)).UnixNano(); closes < newest {
				closed = append(closed, inc)
				delete(open, inc.ID) // an earlier form, if any; its heap entry finds it gone
			} else {
				open[inc.ID] = inc
				heap.Push(&closing, closingIncident{closes, inc.ID})
			}
		}
		// The batches come in time order: what ended more than its growth before this
		// batch's first event stays as it is. The soonest to close are looked at, not
		// all that are open (a recurrence incident stays open for a month).
		for now := batch[0].Time.UnixNano(); len(closing) > 0 && closing[0].at < now; {
			next := heap.Pop(&closing).(closingIncident)
			inc, ok := open[next.id]
			if !ok || inc.Last.Add(c.growthOf(inc.Rule)).UnixNano() != next.at {
				continue // closed already, or grown since: a later entry is its own
			}
			closed = append(closed, inc)
			delete(open, next.id)
		}
		if len(closed) >= putEvery {
			w.put(closed)
			closed = nil
			if err := w.failed(); err != nil {
				return err
			}
		}
		if latest.full() {
			// Bounded memory. What can no longer grow is forgotten whether or not it
			// is written yet: read back, an older version of it, or none, is as far
			// from open as it is.
			latest.forget(batch[0].Time)
		}
		return nil
	})
	if err == nil {
		for _, inc := range open {
			closed = append(closed, inc)
		}
		var done []abusewatch.Incident
		done, err = c.closeHeld(time.Time{}, true)
		closed = append(closed, done...)
		if len(closed) > 0 {
			w.put(closed)
		}
	}
	n, werr := w.close()
	if err == nil {
		err = werr
	}
	if err == nil {
		c.recorrelated = to
	}
	return n, err
}

// keepFirstDays hands the events of batch (groups g) of each recurring scope, an
// address or its /24 (IPv6 /64), to firstDays, after telling it the batch's day.
func (c *Correlator) keepFirstDays(batch []abusewatch.Event, g *batchGroups) {
	today := dayOf(batch[0].Time)
	c.firstDays.pass(today, dayOf(today.Add(-c.opts.Recurrence.Period)))
	for _, ag := range g.addrs {
		scope := netip.PrefixFrom(ag.addr, ag.addr.BitLen())
		if days, ok := c.recurring[scope]; ok {
			c.firstDays.keep(scope, days, batch, ag.at)
		}
	}
	var members [][]int32 // by network group, its address groups: made once a batch, when needed
	for j, ng := range g.nets {
		if ng.p != net24(ng.p.Addr()) {
			continue
		}
		days, ok := c.recurring[ng.p]
		if !ok {
			continue
		}
		if members == nil {
			members = make([][]int32, len(g.nets))
			for k := range g.addrs {
				for _, n := range g.addrs[k].nets[:g.addrs[k].nnets] {
					members[n] = append(members[n], int32(k))
				}
			}
		}
		// Past its first day, only the addresses of a busy /24 are kept: one look per
		// address of the batch, not per event (a hot /24 has a sixth of a pass's).
		var from time.Time
		for n, k := range members[j] {
			if f := g.addrs[k].all.from; n == 0 || f.Before(from) {
				from = f
			}
		}
		if fd := c.firstDays.pastFirstDay(ng.p, from); fd != nil {
			for _, k := range members[j] {
				if ag := &g.addrs[k]; ag.counted.n > 0 {
					fd.addrs = addAddr(fd.addrs, ag.addr)
				}
			}
			continue
		}
		c.firstDays.keep(ng.p, days, batch, ng.at)
	}
}

// growthOf is how long after its last event an incident of rule may still grow.
func (c *Correlator) growthOf(rule string) time.Duration {
	switch rule {
	case "per-address":
		return c.growth
	case "port-scan":
		return c.opts.PortScan.Window
	case "sweep":
		return c.opts.Sweep.Window
	case "network":
		return c.opts.Network.Window
	case "recurrence":
		return c.opts.Recurrence.Gap
	case "success-after-failure":
		return c.opts.SuccessLookback
	}
	return time.Hour // rate-anomaly: the hour of its newest event
}

// closingIncident is when an open incident can no longer grow (UnixNano).
type closingIncident struct {
	at int64
	id string
}

// closingIncidents is a heap of closingIncident, the soonest first.
type closingIncidents []closingIncident

func (h closingIncidents) Len() int           { return len(h) }
func (h closingIncidents) Less(i, j int) bool { return h[i].at < h[j].at }
func (h closingIncidents) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *closingIncidents) Push(x any)        { *h = append(*h, x.(closingIncident)) }
func (h *closingIncidents) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// putter hands groups of incidents to put, in order, on a goroutine of its own.
type putter struct {
	todo chan []abusewatch.Incident
	done chan struct{}
	mu   sync.Mutex
	err  error
	n    int
}

func newPutter(put func([]abusewatch.Incident) error) *putter {
	w := &putter{todo: make(chan []abusewatch.Incident, 1), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for incs := range w.todo {
			w.mu.Lock()
			failed := w.err != nil
			w.mu.Unlock()
			if !failed {
				err := put(incs)
				w.mu.Lock()
				w.err, w.n = err, w.n+len(incs)
				w.mu.Unlock()
			}
		}
	}()
	return w
}

func (w *putter) put(incs []abusewatch.Incident) {
	w.todo <- incs
}

func (w *putter) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// close waits for the last group and returns how many incidents were put.
func (w *putter) close() (int, error) {
	close(w.todo)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n, w.err
}

// A pass over history judges batches of recorrelateBatch events (the per-batch work
// of each address and network is paid once for all of its events in the batch) and
// holds at most recentLimit events in memory.
const (
	recentLimit = 100_000
	pastLimit   = 100_000 // recurring scopes whose past is summed in memory
)

// How much of its events and incidents a pass holds (variables for the tests).
var (
	recorrelateBatch = 20_000
	putEvery         = 2_000   // incidents that can no longer grow handed to put at once
	knownLimit       = 200_000 // incident keys remembered
	heldIncidents    = 5_000   // whole incidents (a few kB each) held beyond those that may still grow
	keepFirstDays    = true    // a pass keeps the first days of recurring scopes (firstDays)
)

// lookback is the longest a windowed rule looks back from an event: what a pass keeps
// in memory.
func (c *Correlator) lookback() time.Duration {
	return max(c.growth, c.opts.Network.Window, c.opts.PortScan.Window, c.opts.Sweep.Window)
}

// keepNetworkSources says whether the network rule keeps the memo of its sources
// (networkSources); the tests switch it off to compare.
var keepNetworkSources = true

// newRecent is the memory of the events added from from on (zero: every event), with
// the network rule's memo of sources.
func (c *Correlator) newRecent(from time.Time) *recentEvents {
	r := newRecentEvents(c.events, from, c.lookback(), recentLimit, c.heldNetworks())
	if n := c.opts.Network; n.Count > 0 && keepNetworkSources {
		r.sources = newNetworkSources(c.events, n.Count, c.judgesNetwork, from, c.lookback())
	}
	return r
}

// heldNetworks are the networks the rules read the events of, as functions of an
// address.
func (c *Correlator) heldNetworks() []func(netip.Addr) netip.Prefix {
	var out []func(netip.Addr) netip.Prefix
	for _, b := range c.opts.Network.Sizes {
		out = append(out, func(a netip.Addr) netip.Prefix { return networkOf(a, b) })
	}
	if c.opts.Recurrence.Days > 0 && !slices.Contains(c.opts.Network.Sizes, 24) {
		out = append(out, net24)
	}
	return out
}

// Recorrelated is the end of the last completed Recorrelate, zero before the first.
func (c *Correlator) Recorrelated() time.Time { return c.recorrelated }

// Progress is how far the running (or last) Recorrelate got: the events it judged and
// the time of the newest of them. Unlike the other methods, it may be called while
// Recorrelate runs, from another goroutine.
func (c *Correlator) Progress() (events int, through time.Time) {
	return int(c.judged.Load()), time.Unix(0, c.through.Load()).UTC()
}

// knownRecurring is an address known to recur, and when it was last found recurring.
type knownRecurring struct {
	addr netip.Addr
	seen time.Time
}

// knowRecurring remembers the addresses a batch (whose newest event is at to) found
// recurring, found by their /24 (IPv6 /64), for recurringMembers to ask about when
// their networks come back without them. Before the first batch's, it reads those that
// recur by then from the activity index (one scan, as a pass does), and once a day it
// forgets those that cannot matter any more. A pass has its own (passMembers).
func (c *Correlator) knowRecurring(found map[netip.Prefix][]netip.Addr, to time.Time) error {
	if c.recurring != nil {
		return nil
	}
	r := c.opts.Recurrence
	add := func(a netip.Addr, seen time.Time) {
		a = a.Unmap()
		p := net24(a)
		i := slices.IndexFunc(c.members[p], func(k knownRecurring) bool { return k.addr == a })
		switch {
		case i < 0:
			c.members[p] = append(c.members[p], knownRecurring{a, seen})
		case seen.After(c.members[p][i].seen):
			c.members[p][i].seen = seen
		}
	}
	if c.members == nil {
		rec, err := c.counters.Recurring(to.Add(-r.Period), to, r.Days)
		if err != nil {
			return fmt.Errorf("correlate: %w", err)
		}
		c.members, c.membersDay = map[netip.Prefix][]knownRecurring{}, dayOf(to)
		for sc, days := range rec {
			if sc.IsSingleIP() && len(days) > 0 {
				add(sc.Addr(), days[len(days)-1])
			}
		}
	}
	for _, addrs := range found {
		for _, a := range addrs {
			add(a, to)
		}
	}
	if today := dayOf(to); today.After(c.membersDay) {
		c.membersDay = today
		horizon := to.Add(-r.Period - r.Gap)
		for p, ks := range c.members {
			if ks = slices.DeleteFunc(ks, func(k knownRecurring) bool { return k.seen.Before(horizon) }); len(ks) == 0 {
				delete(c.members, p)
			} else {
				c.members[p] = ks
			}
		}
	}
	return nil
}

// recurringMembers are the addresses of network p (a /24, IPv6 /64) that recur on
// their own at to, sorted: those the batch found recurring (found), and those known to
// recur (knowRecurring; in a pass, its recurring scopes) that were active on Days days
// within the Period up to to. Their lines are their own recurrence's, not p's: p recurs
// by its other addresses' days and lines, so one address coming back is never its
// network's recurrence too, whatever the batches it came in. Most networks have none:
// a map lookup.
func (c *Correlator) recurringMembers(p netip.Prefix, to time.Time, found []netip.Addr) ([]netip.Addr, error) {
	var known []netip.Addr
	if c.recurring != nil {
		known = c.passMembers[p]
	} else {
		for _, k := range c.members[p] {
			known = append(known, k.addr)
		}
	}
	if len(found) == 0 && len(known) == 0 {
		return nil, nil
	}
	day, r := dayOf(to), c.opts.Recurrence
	out := make([]netip.Addr, 0, len(found)+len(known))
	for _, a := range found {
		out = append(out, a.Unmap())
	}
	// Asked before today: an address that recurs recurs all day (its days count
	// whole), and one that did not and comes back today is in a batch's found. One
	// lock for all of them: a busy /24 has hundreds of known members.
	var ask []netip.Addr
	c.pastMu.Lock()
	if c.recursOn == nil || len(c.recursOn) > 1<<16 {
		c.recursOn = map[netip.Addr]recursMemo{}
	}
	for _, a := range out {
		c.recursOn[a] = recursMemo{day, true}
	}
	for _, a := range known {
		switch m, ok := c.recursOn[a]; {
		case !ok || !m.day.Equal(day):
			ask = append(ask, a)
		case m.recurs:
			out = append(out, a)
		}
	}
	c.pastMu.Unlock()
	for _, a := range ask {
		days, err := c.activeDays(netip.PrefixFrom(a, a.BitLen()), to.Add(-r.Period), to)
		if err != nil {
			return nil, err
		}
		recurs := len(days) >= r.Days
		c.pastMu.Lock()
		c.recursOn[a] = recursMemo{day, recurs}
		c.pastMu.Unlock()
		if recurs {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out), nil
}

// ownDaysMemo is what ownDays found of a network's days from from to before through,
// and, in pass pass, whether day today was one.
type ownDaysMemo struct {
	minus         []netip.Addr
	from, through time.Time
	own           []time.Time
	used          time.Time
	today         time.Time
	todayOwn      bool
	pass          uint64
}

// ownDays are the days of active (a network's active days, in order, up to today) on
// which it had events of addresses other than minus. The days before today are
// decided once (a read of the counters of the network and of minus for the days that
// passed since it was last asked), today's at every call, but once a day in a pass
// over history, whose days are done (the pastSum of activity keeps its today so too):
// a busy /24 is asked about at every batch, and these reads were a twentieth of a 10M
// first pass.
func (c *Correlator) ownDays(scope netip.Prefix, minus []netip.Addr, active []time.Time, today time.Time) ([]time.Time, error) {
	if len(minus) == 0 || len(active) == 0 {
		return active, nil
	}
	c.pastMu.Lock()
	m := c.own[scope]
	c.pastMu.Unlock()
	if !slices.Equal(m.minus, minus) || active[0].Before(m.from) || m.through.After(today) {
		m = ownDaysMemo{minus: minus, from: active[0], through: active[0]}
	}
	var own []time.Time
	for _, d := range m.own {
		if !d.Before(active[0]) {
			own = append(own, d)
		}
	}
	undecided := active[sort.Search(len(active), func(i int) bool { return !active[i].Before(m.through) }):]
	todayKnown := false
	if n := len(undecided); n > 0 && undecided[n-1].Equal(today) && c.pass != 0 && m.pass == c.pass && m.today.Equal(today) {
		undecided, todayKnown = undecided[:n-1], true
	}
	if len(undecided) > 0 {
		counts, err := c.ownCounts(scope, undecided[0], undecided[len(undecided)-1].Add(24*time.Hour-time.Nanosecond), minus)
		if err != nil {
			return nil, err
		}
		m.own = slices.Clip(m.own)
		for _, d := range counts {
			if !activeDay(d) {
				continue
			}
			own = append(own, d.Start)
			if d.Start.Before(today) {
				m.own = append(m.own, d.Start)
			}
		}
		if c.pass != 0 && undecided[len(undecided)-1].Equal(today) {
			m.today, m.pass, m.todayOwn = today, c.pass, len(own) > 0 && own[len(own)-1].Equal(today)
		}
	}
	if todayKnown && m.todayOwn {
		own = append(own, today)
	}
	if today.After(m.through) {
		m.through = today
	}
	m.used = today
	c.pastMu.Lock()
	defer c.pastMu.Unlock()
	if c.own == nil {
		c.own = map[netip.Prefix]ownDaysMemo{}
	}
	c.own[scope] = m
	return own, nil
}

// ownCounts are the daily counters of scope from from to to, less those of the
// addresses minus.
func (c *Correlator) ownCounts(scope netip.Prefix, from, to time.Time, minus []netip.Addr) ([]Count, error) {
	days, err := c.counters.Days(scope, from, to)
	if err != nil || len(minus) == 0 || len(days) == 0 {
		return days, err
	}
	for _, a := range minus {
		theirs, err := c.counters.Days(netip.PrefixFrom(a, a.BitLen()), from, to)
		if err != nil {
			return nil, err
		}
		for _, t := range theirs {
			i := slices.IndexFunc(days, func(d Count) bool { return d.Start.Equal(t.Start) })
			if i < 0 {
				continue
			}
			left := maps.Clone(days[i].ByClass)
			for class, k := range t.ByClass {
				if left[class] -= k; left[class] <= 0 {
					delete(left, class)
				}
			}
			days[i].ByClass = left
		}
	}
	return slices.DeleteFunc(days, func(d Count) bool { return len(d.ByClass) == 0 }), nil
}

// activeDay says whether day d had an event other than a successful login.
func activeDay(d Count) bool {
	for class, k := range d.ByClass {
		if class != abusewatch.ClassAuthSuccess && k > 0 {
			return true
		}
	}
	return false
}
