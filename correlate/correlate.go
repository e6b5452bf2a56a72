// Package correlate decides which events belong together and which of them make an
// incident worth acting on, over minutes to months. Its rules, each switched off by a
// zero option:
//
//   - per address: N attempts of reportable classes within W, for several (N, W) at once;
//   - network: M distinct addresses of one /24 (/16, /8; IPv6 /64, /48, /32) within W,
//     one network-scale incident instead of M small ones; an IPv6 /64 is one host, so
//     its events from two or more of its addresses that meet a rule of one address
//     (per address, port scan, sweep) make its network incident too (onehost.go);
//   - port scan: one address touching K distinct ports of ours within W;
//   - sweep: one address hitting one service on H of our hosts within W;
//   - recurrence: an address or /24 active on D distinct days within a period (180 days),
//     read from the store's daily counters, so pacing under short windows does not hide;
//   - rate anomaly: a class at F times its usual hourly level (admin only);
//   - success after failures: a login from an address (or its /24) that failed before
//     (admin only, never outside).
//
// Perspective: every class but a successful login counts toward the network and
// recurrence rules, yet an incident is reported outside only when its evidence holds a
// reportable class that is not spoofable (any packet a firewall logged, a refused DNS
// query), and a network incident only when such evidence came from as many distinct
// addresses as the network rule counts (of an IPv6 /64, or when it alone meets a rule
// of one address); otherwise it is AdminOnly. A reportable network
// incident is about those addresses alone (named): the others' events, forgeable or
// weak, stay in the store for the admin but are not the incident's, so no consumer
// names them outside. A recurrence is reported only when its days with reportable,
// unforgeable classes reach the rule's days (a /24's also needs the network rule's
// count of named addresses, an IPv6 /64's one, and names only those). Private, reserved, documentation
// and never-report networks make nothing, nor does what a network did while the admin
// had it excluded (HeldBack), once it is no longer.
// Incidents are stable: one with the same key whose window is still open grows (same
// ID) instead of being made again. One with a report stays as it was reported: the
// attack's later lines make its follow-up, and the lines of it that come after the
// report but are dated within its reach (late: a host's clock behind) make nothing. The package reads events, incidents and counters
// through the small interfaces below and writes nothing itself; it keeps the events of
// the last lookback (the longest window a rule looks back over) in memory, so each
// batch does not read them again (history.go). A Correlator is not safe for concurrent
// use, but for Progress and Excluded.
package correlate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/bits"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/abusewatch/abusewatch"
)

// EventReader gives the stored events of one address or one indexed network (/24, /16,
// /8; IPv6 /64, /48, /32) in a time range, oldest first; FirstEvents only the oldest n
// of a network or (a single-address prefix) an address.
type EventReader interface {
	EventsByAddr(addr netip.Addr, from, to time.Time) ([]abusewatch.Event, error)
	EventsByNetwork(p netip.Prefix, from, to time.Time) ([]abusewatch.Event, error)
	FirstEvents(p netip.Prefix, from, to time.Time, n int) ([]abusewatch.Event, error)
}

// IncidentReader gives the newest incident with a key if it may be open over since to
// at: its last event at or after since, its first at or before at. Otherwise ok is
// false and, if the key has incidents, only the newest one's ID, First and Last are
// set: most keys a batch asks about ended long ago, and their incidents are not read.
// Unless whole, an open one may come with only its ID, First, Last and Success: a rule
// reads the rest only when it grows the incident.
type IncidentReader interface {
	OpenIncident(key string, since, at time.Time, whole bool) (inc abusewatch.Incident, ok bool, err error)
}

// Count is the events of one day or hour, by class.
type Count = abusewatch.Count

// LoginDays is the span of the days of days (daily counters, in order) that counted a
// successful login: from the start of the first to the end of the last; ok is false
// when none did. Whoever looks for the logins near an incident reads only those days.
func LoginDays(days []Count) (lo, hi time.Time, ok bool) {
	for _, d := range days {
		if d.ByClass[abusewatch.ClassAuthSuccess] > 0 {
			if lo.IsZero() {
				lo = d.Start
			}
			hi = d.Start.Add(24*time.Hour - 1)
		}
	}
	return lo, hi, !lo.IsZero()
}

// CounterReader gives the long-memory counters: per address or indexed network (the
// zero Prefix: every event) and UTC day, and for every event per hour. Days and hours
// without events are left out. ActiveDays lists the days (midnight UTC) an address or
// /24 (IPv6 /64) had an event other than a successful login, oldest first; Recurring
// the addresses and /24s with at least n such days in a range, each with those days.
type CounterReader interface {
	Days(p netip.Prefix, from, to time.Time) ([]Count, error)
	Hours(from, to time.Time) ([]Count, error)
	ActiveDays(p netip.Prefix, from, to time.Time) ([]time.Time, error)
	Recurring(from, to time.Time, n int) (map[netip.Prefix][]time.Time, error)
}

// Window is one per-address threshold: Threshold attempts within Window.
type Window struct {
	Threshold int
	Window    time.Duration
}

// SetRule makes an incident when Count distinct things (addresses, ports, hosts) are
// seen within Window. A zero Count switches the rule off.
type SetRule struct {
	Count  int
	Window time.Duration
}

// NetworkRule is SetRule over the distinct addresses of a network, for the IPv4 prefix
// lengths in Sizes (24, 16, 8; IPv6 uses 64, 48, 32 in their place, and counts the
// distinct /64s of a /48 or /32). With 24 among them, an IPv6 /64 is also judged as
// one source by the rules of one address (OneHost).
type NetworkRule struct {
	SetRule
	Sizes []int
}

// RecurrenceRule makes an incident when an address or its /24 (IPv6 /64) was active on
// Days distinct days within Period; a network by its addresses that do not recur on
// their own. An incident stays open (grows) while new activity comes within Gap of its
// last.
type RecurrenceRule struct {
	Days   int
	Period time.Duration
	Gap    time.Duration
}

// RateRule makes an admin-only incident when the events of a class in one hour reach
// Factor times the class's average hour over the Baseline before, and at least Min.
type RateRule struct {
	Factor   float64
	Baseline time.Duration
	Min      int
}

// Options are the rules' thresholds. Threshold and Window are the first per-address
// window; Windows adds more. Every other rule is off when its count is zero.
type Options struct {
	Threshold  int                // attempts within Window that make an incident
	Window     time.Duration      // the window
	Windows    []Window           // further per-address windows (hours, days)
	Reportable []abusewatch.Class // classes that count toward the per-address threshold and may be reported
	Never      []netip.Prefix     // networks that never make an incident (own and allow-listed)
	Evidence   int                // how many evidence events an incident keeps (first, sample, last)

	Network    NetworkRule
	PortScan   SetRule
	Sweep      SetRule
	Recurrence RecurrenceRule
	Rate       RateRule
	// SuccessLookback is how far back failures from an address or its /24 make a
	// later successful login a possible compromise; zero switches the rule off.
	SuccessLookback time.Duration
}

// DefaultReportable are the classes that count when the config names none.
func DefaultReportable() []abusewatch.Class {
	return []abusewatch.Class{abusewatch.ClassAuthFailure, abusewatch.ClassInvalidUser}
}

// Correlator applies the rules to newly stored events.
type Correlator struct {
	opts         Options
	windows      []Window // every per-address window, shortest first
	growth       time.Duration
	never        atomic.Pointer[[]netip.Prefix] // replaced whole by Exclude: Excluded may run beside it
	excludedThen atomic.Pointer[[]HeldBack]     // the times networks were excluded (HoldBack); nil: none
	events       EventReader                    // the store
	incidents    IncidentReader
	// stored is the store's IncidentReader, which a pass does not replace with its
	// memory (incidents): the reported incidents near late lines (reportedAround) are
	// read from it, every one of them stored before the pass, at any time of it.
	stored   IncidentReader
	counters CounterReader
	// reported says whether an incident has a report (in any state); nil: none has.
	// A reported incident no longer grows: what came after it makes a new incident,
	// what is dated within its reach makes none (apply's lateOf).
	reported func(id string) (bool, error)
	// reportedAt says when the report of an incident was written (ok false: it has
	// none, or the store does not say): the lines dated before it that come after it
	// are late (reportedAround). nil: the store does not say.
	reportedAt func(id string) (at time.Time, ok bool, err error)
	recent     *recentEvents // the events of the last lookback, as Correlate got them
	// The successful logins the rules have seen (loginMemory): those of Correlate's
	// batches, and a pass's own when it starts before them (for c.read then).
	liveLogins *loginMemory
	passLogins *loginMemory
	passOwner  *recentEvents // the pass (its c.read) passLogins goes with
	loginsNow  *loginMemory  // the one of the batch being judged
	read       *recentEvents // where the rules read events: recent, or a pass's own

	recorrelated time.Time    // the end of the last periodic re-correlation
	judged       atomic.Int64 // events the running or last Recorrelate judged (Progress)
	through      atomic.Int64 // ... up to this UnixNano

	// During a pass over history, the only scopes recurrence may find recurring (nil:
	// any may), with their active days from recurringFrom on. Read by the rules of
	// several addresses at once, written between passes.
	recurring     map[netip.Prefix][]time.Time
	recurringFrom time.Time
	firstDays     firstDays // the first events of their first active day in the pass
	// The running Recorrelate's number (of passes), 0 outside one. During a pass, an
	// incident a windowed rule makes keeps the strings of its evidence where they were
	// read (the frames of the batches it came from) until it grows (evidenceStrings),
	// and recurrence remembers each scope's counters of a day (pastSum).
	pass   uint64
	passes uint64

	// During a pass over history, the recurrence incidents it holds open, by scope,
	// and those let go of since Recorrelate last asked (held.go); nil outside a pass.
	heldMu     sync.Mutex
	held       map[netip.Prefix]*heldRecurrence
	heldDone   []*heldRecurrence
	heldCloses time.Time // none of held can close before (zero: none held)

	pastMu  sync.Mutex               // guards past, pastDay and own (the rules of several addresses run at once)
	past    map[netip.Prefix]pastSum // recurrence: the counts of recurring scopes' past days
	pastDay time.Time

	// Recurrence: the addresses known to recur, by their /24 (IPv6 /64), whose lines
	// are not their network's (recurringMembers): found by the batches, and read from
	// the activity index before the first (members); in a pass, its recurring scopes
	// (passMembers). own: the days a network had events of its other addresses.
	members     map[netip.Prefix][]knownRecurring
	membersDay  time.Time
	passMembers map[netip.Prefix][]netip.Addr
	own         map[netip.Prefix]ownDaysMemo
	// recursOn: whether a known member recurred on a day, as recurringMembers found it
	// (guarded by pastMu): the batches of a day ask again of each (a pass over 10
	// million events read their active days 3 s of CPU).
	recursOn map[netip.Addr]recursMemo
}

// recursMemo is whether an address recurred at a day's batches.
type recursMemo struct {
	day    time.Time
	recurs bool
}

// New checks opts and returns a Correlator reading from events, incidents and counters
// (counters may be nil when the recurrence and rate rules are off).
func New(opts Options, events EventReader, incidents IncidentReader, counters CounterReader) (*Correlator, error) {
	if opts.Threshold < 1 {
		return nil, fmt.Errorf("correlate: threshold must be at least 1, not %d", opts.Threshold)
	}
	if opts.Window <= 0 {
		return nil, fmt.Errorf("correlate: window must be positive, not %s", opts.Window)
	}
	windows := append([]Window{{opts.Threshold, opts.Window}}, opts.Windows...)
	for _, w := range windows {
		if w.Threshold < 1 || w.Window <= 0 {
			return nil, fmt.Errorf("correlate: a per-address window needs a threshold of at least 1 and a positive duration, not %d in %s", w.Threshold, w.Window)
		}
	}
	slices.SortFunc(windows, func(a, b Window) int { return int(a.Window - b.Window) })
	for _, r := range []struct {
		name string
		r    SetRule
	}{{"network", opts.Network.SetRule}, {"port scan", opts.PortScan}, {"sweep", opts.Sweep}} {
		if r.r.Count > 0 && r.r.Window <= 0 {
			return nil, fmt.Errorf("correlate: the %s rule needs a positive window", r.name)
		}
	}
	for _, b := range opts.Network.Sizes {
		if b != 24 && b != 16 && b != 8 {
			return nil, fmt.Errorf("correlate: network size /%d: use 24, 16 or 8 (IPv6 /64, /48, /32 follow)", b)
		}
	}
	var sizes []int // each once
	for _, b := range opts.Network.Sizes {
		if !slices.Contains(sizes, b) {
			sizes = append(sizes, b)
		}
	}
	opts.Network.Sizes = sizes
	if opts.Network.Count > 0 && len(opts.Network.Sizes) == 0 {
		opts.Network.Sizes = []int{24}
	}
	if (opts.Recurrence.Days > 0 || opts.Rate.Factor > 0) && counters == nil {
		return nil, fmt.Errorf("correlate: the recurrence and rate rules need the daily counters")
	}
	if opts.Recurrence.Days > 0 {
		if opts.Recurrence.Period <= 0 {
			opts.Recurrence.Period = 180 * 24 * time.Hour
		}
		if opts.Recurrence.Gap <= 0 {
			opts.Recurrence.Gap = 30 * 24 * time.Hour
		}
	}
	if opts.Rate.Factor > 0 {
		if opts.Rate.Baseline <= 0 {
			opts.Rate.Baseline = 7 * 24 * time.Hour
		}
		opts.Rate.Min = max(opts.Rate.Min, 1)
	}
	if len(opts.Reportable) == 0 {
		opts.Reportable = DefaultReportable()
	}
	if opts.Evidence < 2 {
		opts.Evidence = 10
	}
	never := append(reservedNetworks(), opts.Never...)
	c := &Correlator{opts: opts, windows: windows, growth: windows[len(windows)-1].Window,
		events: events, incidents: incidents, stored: incidents, counters: counters}
	c.never.Store(&never)
	if st, ok := incidents.(interface {
		ReportFor(incidentID string) (string, bool, error)
	}); ok {
		c.reported = func(id string) (bool, error) {
			_, ok, err := st.ReportFor(id)
			return ok, err
		}
		if rs, ok := incidents.(interface {
			Report(id string) (abusewatch.Report, bool, error)
		}); ok {
			c.reportedAt = func(id string) (time.Time, bool, error) {
				rid, ok, err := st.ReportFor(id)
				if err != nil || !ok {
					return time.Time{}, false, err
				}
				r, ok, err := rs.Report(rid)
				return r.Created, ok && !r.Created.IsZero(), err
			}
		}
	}
	// What is stored already (by an earlier run) is read from the store: the window
	// holds what comes after the newest stored event.
	var after time.Time
	if st, ok := events.(interface {
		NewestEvent() (time.Time, bool, error)
	}); ok {
		newest, ok, err := st.NewestEvent()
		if err != nil {
			return nil, fmt.Errorf("correlate: %w", err)
		}
		if ok {
			after = newest.Add(time.Nanosecond)
		}
	}
	c.recent = c.newRecent(after)
	c.liveLogins = c.newLoginMemory(after)
	c.read = c.recent
	return c, nil
}

// Correlate looks at the addresses of batch, which is already stored, and returns the
// incidents that the batch created or made grow, ready to be stored. It keeps the
// events of the last lookback in memory (the rules read them again with every batch
// that brings their address or network); what lies before the first batch it got, or
// beyond what it holds, is read from the store.
func (c *Correlator) Correlate(ctx context.Context, batch []abusewatch.Event) ([]abusewatch.Incident, error) {
	g := c.recent.add(slices.Clone(batch)) // the caller's slice stays the caller's
	return c.correlate(ctx, batch, g)
}

// correlate applies the rules to batch, whose groups are g, reading events through
// c.read.
func (c *Correlator) correlate(ctx context.Context, batch []abusewatch.Event, g *batchGroups) ([]abusewatch.Incident, error) {
	// The memory of logins goes with c.read; found here, not by the rules running
	// in parallel.
	c.loginsNow = c.logins()
	if len(g.successes) > 0 {
		c.loginsNow.add(batch, g)
	}
	// The addresses judged (not excluded, tested once each), and the networks with
	// events of them other than logins, over the span of those events.
	excluded := make([]bool, len(g.addrs))
	var order []int32
	netSpans := make([]span, len(g.nets))
	for k := range g.addrs {
		ag := &g.addrs[k]
		if excluded[k] = c.Excluded(ag.addr); excluded[k] {
			continue
		}
		order = append(order, int32(k))
		if ag.counted.n > 0 {
			for _, j := range ag.nets[:ag.nnets] {
				netSpans[j].widen(ag.counted.from)
				netSpans[j].widen(ag.counted.to)
			}
		}
	}
	var netOrder []int32
	for j := range g.nets {
		if netSpans[j].n > 0 {
			netOrder = append(netOrder, int32(j))
		}
	}
	var out []abusewatch.Incident
	// A /24 (IPv6 /64) recurs by its addresses that do not recur on their own: one
	// address coming back is that address's recurrence, and its lines are not its
	// network's too (recurringMembers). The batch tells those it found recurring.
	recurs := map[netip.Prefix][]netip.Addr{}
	addrRecurs := make([]bool, len(g.addrs))
	byAddr, err := inParallel(ctx, order, func(k int32) ([]abusewatch.Incident, error) {
		ag := &g.addrs[k]
		news := make([]*abusewatch.Event, len(ag.at))
		for i, at := range ag.at {
			news[i] = &batch[at]
		}
		incs, recur, err := c.address(ag.addr, ag.all.from, ag.all.to, news)
		addrRecurs[k] = recur
		return incs, err
	})
	for i, incs := range byAddr {
		if a := g.addrs[order[i]].addr; addrRecurs[order[i]] {
			recurs[net24(a)] = append(recurs[net24(a)], a)
		}
		out = append(out, incs...)
	}
	if err != nil {
		return out, err
	}
	if c.opts.Recurrence.Days > 0 {
		if err := c.knowRecurring(recurs, g.all.to); err != nil {
			return out, err
		}
	}
	byNet, err := inParallel(ctx, netOrder, func(j int32) ([]abusewatch.Incident, error) {
		p := g.nets[j].p
		return c.network(p, netSpans[j].from, netSpans[j].to, recurs[p])
	})
	for _, incs := range byNet {
		out = append(out, incs...)
	}
	if err != nil {
		return out, err
	}
	for _, s := range g.successes {
		if excluded[s.addr] {
			continue
		}
		e := batch[s.at]
		if out, err = c.markLogin(out, e); err != nil {
			return out, err
		}
		if carried, err := c.carriesLogin(out, e); err != nil || carried {
			if err != nil {
				return out, err
			}
			continue // the address's own incident already carries the login
		}
		inc, ok, err := c.successAfterFailures(e)
		if err != nil {
			return out, err
		}
		if ok {
			out = append(out, inc)
		}
	}
	incs, err := c.rate(batch)
	if err != nil {
		return out, err
	}
	return append(out, incs...), nil
}

// inParallel applies judge to each of keys on as many goroutines as there are cores
// (one for a small batch) and returns the results in the order of keys, up to the first
// key that failed. The rules of different addresses, or of different networks, read
// what the others do not write; the memories they share lock (latestIncidents, the
// recurrence sums).
func inParallel[K any](ctx context.Context, keys []K, judge func(K) ([]abusewatch.Incident, error)) ([][]abusewatch.Incident, error) {
	out := make([][]abusewatch.Incident, len(keys))
	errs := make([]error, len(keys))
	workers := min(runtime.GOMAXPROCS(0), 4, max(len(keys)/32, 1))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(keys) {
					return
				}
				if errs[i] = ctx.Err(); errs[i] == nil {
					out[i], errs[i] = judge(keys[i])
				}
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return out[:i], err
		}
	}
	return out, nil
}

// carriesLogin says whether the per-address incident of the login e's address, made
// or grown by this batch (out) or stored, already holds it as its Success.
func (c *Correlator) carriesLogin(out []abusewatch.Incident, e abusewatch.Event) (bool, error) {
	a := e.Addr.Unmap()
	holds := func(inc abusewatch.Incident) bool {
		return inc.Rule == "per-address" && inc.Success && inc.Addr == a &&
			!e.Time.Before(inc.First) && !e.Time.After(inc.Last.Add(c.growth))
	}
	if slices.ContainsFunc(out, holds) {
		return true, nil
	}
	prev, ok, err := c.incidents.OpenIncident("ip:"+a.String(), e.Time.Add(-c.growth), e.Time, true) // holds reads its rule and address
	return ok && holds(prev), err
}

// loginMemory is the successful logins of the batches the rules judged (Correlate's,
// or a pass's), by loginScope (an IPv6 login by its /64): the first and the last seen.
// It lets an incident know, without a read, that a login from one of its addresses
// (IPv6: their /64s) came within success_lookback before its events (one after them is
// markLogin's). Logins are few next to failures:
// it costs a map lookup per incident made or grown, and nothing while it is empty.
// What lies before from (the first batch, or what was let go of) is read from the
// store when an incident needs it.
type loginMemory struct {
	from time.Time     // every login judged at or after it is here
	keep time.Duration // how far back from the newest batch it keeps them
	at   map[netip.Prefix]loginSpan
	kept int // len(at) after the last let-go
	// users are the logins by account, oldest first: one for an account that failed
	// on a new address says it may be our own user (typedElsewhere).
	users map[string][]userLogin
}

type loginSpan struct{ first, last time.Time }

func (c *Correlator) newLoginMemory(from time.Time) *loginMemory {
	m := &loginMemory{from: from, keep: c.opts.SuccessLookback + c.lookback(), at: map[netip.Prefix]loginSpan{}, users: map[string][]userLogin{}}
	if m.keep > 0 && c.counters != nil && !from.IsZero() {
		// Most stores hold no login in the days before (the every-event counters
		// say so in one read): then no incident needs to read the store for one.
		days, err := c.counters.Days(netip.Prefix{}, from.Add(-m.keep), from)
		if err == nil && !slices.ContainsFunc(days, func(d Count) bool { return d.ByClass[abusewatch.ClassAuthSuccess] > 0 }) {
			m.from = dayOf(from.Add(-m.keep))
		}
	}
	return m
}

// logins is the memory of logins that goes with c.read: Correlate's, which a pass
// within what it covers (the daemon's periodic one) shares, or, for a pass that starts
// before (correlate --since), one of the pass's own from its start.
func (c *Correlator) logins() *loginMemory {
	if c.read == c.recent {
		c.passLogins, c.passOwner = nil, nil
		return c.liveLogins
	}
	if c.passOwner != c.read {
		c.passLogins, c.passOwner = c.liveLogins, c.read
		if from := c.read.covered; from.Before(c.liveLogins.from) {
			c.passLogins = c.newLoginMemory(from)
		}
	}
	return c.passLogins
}

// add takes in the logins of batch (groups g), and lets go of those more than keep
// before its newest event once the memory has doubled since the last let-go.
func (m *loginMemory) add(batch []abusewatch.Event, g *batchGroups) {
	if m.keep <= 0 || len(batch) == 0 { // the success rule is off
		return
	}
	for _, s := range g.successes {
		a, t := loginScope(g.addrs[s.addr].addr), batch[s.at].Time
		l, ok := m.at[a]
		switch {
		case !ok:
			l = loginSpan{t, t}
		case t.Before(l.first):
			l.first = t
		case t.After(l.last):
			l.last = t
		}
		m.at[a] = l
		if e := batch[s.at]; e.User != "" {
			ls := append(m.users[e.User], userLogin{e.Addr.Unmap(), e.Time, e})
			if len(ls) > 64 { // an account that logs in all day: keep what is recent
				horizon := e.Time.Add(-m.keep)
				ls = slices.DeleteFunc(ls, func(l userLogin) bool { return l.at.Before(horizon) })
			}
			m.users[e.User] = ls
		}
	}
	if len(m.at) > 2*m.kept+1024 {
		horizon := g.all.to.Add(-m.keep)
		for a, l := range m.at {
			if l.last.Before(horizon) {
				delete(m.at, a)
			}
		}
		for u, ls := range m.users {
			if ls = slices.DeleteFunc(ls, func(l userLogin) bool { return l.at.Before(horizon) }); len(ls) == 0 {
				delete(m.users, u)
			} else {
				m.users[u] = ls
			}
		}
		m.kept = len(m.at)
		if m.from.Before(horizon) {
			m.from = horizon
		}
	}
}

// loginNear says whether a login from an address of evs (of rule r, oldest first), or
// for IPv6 from its /64 (loginScope), came within success_lookback before their first
// or after their last.
func (c *Correlator) loginNear(r rule, evs []*abusewatch.Event) (bool, error) {
	lb, m := c.opts.SuccessLookback, c.loginsNow
	if lb <= 0 || len(evs) == 0 || m == nil {
		return false, nil
	}
	from, to := evs[0].Time.Add(-lb), evs[len(evs)-1].Time.Add(lb)
	if len(m.at) > 0 {
		var prev netip.Prefix // the lines of one connection come together
		for _, e := range evs {
			a := loginScope(e.Addr)
			if a == prev {
				continue
			}
			prev = a
			// Only the first and the last login are known: one before from and one
			// after to may have others between them, so they count (a report held
			// back for the admin, never one sent wrongly).
			if l, ok := m.at[a]; ok && !l.first.After(to) && !l.last.Before(from) {
				return true, nil
			}
		}
	}
	if !from.Before(m.from) {
		return false, nil
	}
	if m.from.Before(to) {
		to = m.from
	}
	p := r.network
	if p.IsValid() && p.Addr().Is6() && p.Bits() > 64 {
		p = loginScope(p.Addr())
	}
	return c.loginStored(p, evs, from, to)
}

// loginStored says whether the store holds a login between from and to from an
// address of evs or, for IPv6, of their /64s (sameLogin), which lie in p (an address or
// a network). The daily counters say first on which days p had logins at all, so a
// week of events is read only when one of them did.
func (c *Correlator) loginStored(p netip.Prefix, evs []*abusewatch.Event, from, to time.Time) (bool, error) {
	if !p.IsValid() || to.Before(from) {
		return false, nil
	}
	if c.counters != nil {
		days, err := c.counters.Days(p, from, to)
		if err != nil {
			return false, fmt.Errorf("correlate: logins of %s: %w", p, err)
		}
		lo, hi, ok := LoginDays(days)
		if !ok {
			return false, nil
		}
		if from.Before(lo) {
			from = lo
		}
		if hi.Before(to) {
			to = hi
		}
	}
	var stored []abusewatch.Event
	var err error
	if p.IsSingleIP() {
		stored, err = c.events.EventsByAddr(p.Addr(), from, to)
	} else {
		stored, err = c.events.EventsByNetwork(p, from, to)
	}
	if err != nil {
		return false, fmt.Errorf("correlate: logins of %s: %w", p, err)
	}
	for i := range stored {
		if e := &stored[i]; e.Class == abusewatch.ClassAuthSuccess && !c.Excluded(e.Addr) &&
			(p.IsSingleIP() || slices.ContainsFunc(evs, func(o *abusewatch.Event) bool { return sameLogin(o.Addr, e.Addr) })) {
			return true, nil
		}
	}
	return false, nil
}

// markLogin marks with Success the incidents that hold the address of login e (for
// IPv6, an address of its /64: loginScope) and whose events came within
// success_lookback before it (or after it: a login read late): the address's own, its
// port scan's and its networks'. A network's holds it when its events include the
// address. Those in out (made or grown by the batch) are marked there; a stored one is
// added to out.
func (c *Correlator) markLogin(out []abusewatch.Incident, e abusewatch.Event) ([]abusewatch.Incident, error) {
	lb := c.opts.SuccessLookback
	if lb <= 0 {
		return out, nil
	}
	a := e.Addr.Unmap()
	// The other addresses of an IPv6 login's /64 with events near it: their
	// incidents are marked too. One whose events come within success_lookback of the
	// login has one within the lookback (the longest growth) of that span.
	addrs := []netip.Addr{a}
	others, err := c.loginNeighbours(a, e.Time.Add(-lb-c.lookback()), e.Time.Add(lb))
	if err != nil {
		return out, err
	}
	addrs = append(addrs, others...)
	var keys []string
	for _, b := range addrs {
		keys = append(keys, "ip:"+b.String())
		if c.opts.PortScan.Count > 0 {
			keys = append(keys, "scan:"+b.String())
		}
	}
	if c.opts.Network.Count > 0 {
		for _, b := range c.opts.Network.Sizes {
			keys = append(keys, "net:"+networkOf(a, b).String())
		}
	}
	var scopes []netip.Prefix // the recurrence rule's, beside its keys
	if c.opts.Recurrence.Days > 0 {
		for _, b := range addrs {
			scopes = append(scopes, netip.PrefixFrom(b, b.BitLen()))
		}
		scopes = append(scopes, net24(a))
		for _, p := range scopes {
			keys = append(keys, "recur:"+p.String())
		}
	}
	within := func(inc *abusewatch.Incident) bool {
		return !e.Time.Before(inc.First.Add(-lb)) && !e.Time.After(inc.Last.Add(lb))
	}
	mark := func(inc *abusewatch.Incident) {
		inc.Success = true
		inc.Severity = max(inc.Severity, severity(*inc))
	}
	for _, key := range keys {
		// The batch's own, newest first: it holds the key's newest form.
		found := false
		for i := len(out) - 1; i >= 0 && !found; i-- {
			if inc := &out[i]; inc.Key == key && within(inc) {
				found = true
				if held, err := c.holdsAddr(inc, a); err != nil {
					return out, err
				} else if held && !inc.Success {
					mark(inc)
				}
			}
		}
		if found {
			continue
		}
		if i := slices.IndexFunc(scopes, func(p netip.Prefix) bool { return "recur:"+p.String() == key }); i >= 0 && c.held != nil {
			// A pass holds its recurrence incidents (held.go): the held one is the
			// newest form of its key.
			c.heldMu.Lock()
			h := c.held[scopes[i]]
			c.heldMu.Unlock()
			if h != nil && within(&h.inc) {
				if held, err := c.holdsAddr(&h.inc, a); err != nil {
					return out, err
				} else if held {
					h.inc.Success = true // its severity is set when it is let go of (counted)
				}
				continue
			}
		}
		inc, ok, err := c.incidents.OpenIncident(key, e.Time.Add(-lb), e.Time.Add(lb), false)
		if err != nil {
			return out, err
		}
		if !ok || inc.Success || !within(&inc) {
			continue
		}
		if inc, ok, err = c.incidents.OpenIncident(key, e.Time.Add(-lb), e.Time.Add(lb), true); err != nil {
			return out, err
		}
		if !ok || inc.Success {
			continue
		}
		if held, err := c.holdsAddr(&inc, a); err != nil {
			return out, err
		} else if held {
			mark(&inc)
			out = append(out, inc)
		}
	}
	return out, nil
}

// holdsAddr says whether inc holds events of the login scope of address a (a itself;
// for IPv6, its /64): always, for an incident about one address; for a network's, when
// an address of the scope is among its sources, or, when it names as many as it may,
// when the scope has events other than logins between its first and last.
func (c *Correlator) holdsAddr(inc *abusewatch.Incident, a netip.Addr) (bool, error) {
	if !inc.AboutNetwork() {
		return true, nil
	}
	scope := loginScope(a)
	sources := sourcesOf(*inc)
	if i, _ := slices.BinarySearchFunc(sources, scope.Addr(), netip.Addr.Compare); i < len(sources) && scope.Contains(sources[i]) {
		return true, nil
	}
	if len(sources) < abusewatch.MaxSources {
		return false, nil
	}
	evs, err := c.read.scopeEvents(scope, inc.First, inc.Last)
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(evs, func(e *abusewatch.Event) bool { return e.Class != abusewatch.ClassAuthSuccess }), nil
}

// KeysAround returns the keys of the incidents that may be about a network holding all
// of p, larger than p: the network rule's (/24, /16, /8; IPv6 /64, /48, /32) and the
// recurrence rule's (/24; IPv6 /64). Such an incident names only one of its addresses
// (the one it is looked up through), so a question about another finds it by these.
func KeysAround(p netip.Prefix) []string {
	p = abusewatch.UnmapPrefix(p)
	var keys []string
	for _, b := range []int{24, 16, 8} {
		if n := networkOf(p.Addr(), b); n.IsValid() && n.Bits() < p.Bits() {
			keys = append(keys, "net:"+n.String())
			if b == 24 {
				keys = append(keys, "recur:"+n.String())
			}
		}
	}
	return keys
}

// v6Bits is the IPv6 prefix length that stands for IPv4 network size b: /64 for /24,
// /48 for /16, /32 for /8.
func v6Bits(b int) int {
	switch b {
	case 24:
		return 64
	case 16:
		return 48
	case 8:
		return 32
	}
	return 0
}

// net24 is the /24 of an IPv4 address, the /64 of an IPv6 one.
func net24(a netip.Addr) netip.Prefix { return networkOf(a, 24) }

// networkOf is the network of a of IPv4 size b (24, 16, 8), or of the IPv6 size that
// stands for it.
func networkOf(a netip.Addr, b int) netip.Prefix {
	if a.Is6() {
		b = v6Bits(b)
	}
	p, _ := a.Prefix(b)
	return p
}

// ForgeableClasses are the classes whose events are always evidence a forged source
// address, or a client's own text, could have made: every packet the kernel firewall
// rules log ("port-probe", and "firewall-accept", what ufw let through: the first
// packet of a connection), BIND's refused queries ("refused-query"), which come over
// UDP (a zone transfer comes over TCP, but the line does not say which, so it is judged
// as the queries are), TCP wrappers' and xinetd's refusals ("wrapper-refused"), which
// guard UDP services too and do not say which, and MariaDB's and MySQL's lines
// ("mysql-auth-failure", "mysql-protocol-probe"), whose client writes whole lines of
// its own with newlines in its user name (configs/rules/attack.d/mysql).
// correlate.reportable may not name them (check-config refuses it): counted by day,
// such a class would make a recurrence of forged packets look like a real attack.
var ForgeableClasses = []abusewatch.Class{"port-probe", "firewall-accept", "refused-query", "wrapper-refused",
	"mysql-auth-failure", "mysql-protocol-probe"}

// Forgeable says whether every event of class is forgeable (ForgeableClasses).
func Forgeable(class abusewatch.Class) bool { return slices.Contains(ForgeableClasses, class) }

// spoofable says whether e is evidence a forged source address could have made, which
// never makes an outside report on its own: a packet a firewall logged (it carries a
// protocol), whatever its protocol and TCP flags, and an event of a class whose events
// are always forgeable. A dropped packet never completed a handshake, so its flags
// prove nothing: an ACK, a RST, a FIN, an ECN SYN ("CWR ECE SYN") or a Xmas packet is
// as easily sent with someone else's address as a bare SYN. No rule of ours knows
// whether a logged packet belongs to an established connection (the kernel's LOG line
// does not say), so none is taken as unforgeable.
func spoofable(e *abusewatch.Event) bool {
	return e.Proto != "" || Forgeable(e.Class)
}

// reportable says whether e may, by itself, be the reason for an outside report.
func (c *Correlator) reportable(e *abusewatch.Event) bool {
	return slices.Contains(c.opts.Reportable, e.Class) && !spoofable(e)
}

// rule is one windowed rule applied to one key: an incident starts at the event that
// brings measure(events within window) to threshold and takes in every later event
// that comes within its growth (growthOf its name) of its last one.
type rule struct {
	name      string
	key       string
	addr      netip.Addr
	network   netip.Prefix
	threshold func(evs []*abusewatch.Event) bool // over the counted events within the window
	monotone  bool                               // threshold never holds for a subset when it fails for the whole
	window    time.Duration
	counts    func(e *abusewatch.Event) bool
	// possible, when set, says cheaply whether the events from start on may meet the
	// threshold at all; no: a rule with no open incident is not applied.
	possible func(start time.Time) (bool, error)
	// distinct, when set, is threshold as a count: at least need distinct values of it
	// among the window's events. The walk over the events keeps that count as the
	// window slides, where threshold reads the whole window again at each event (a
	// busy /24 holds hundreds of events of a few addresses in an hour: 1.4 s of a 10M
	// pass).
	distinct func(e *abusewatch.Event) netip.Addr
	need     int
	// exact, when set with distinct, is asked once the window holds need distinct
	// values (n of them): whether the window's events meet the rule (a /64's: hostRule).
	exact func(evs []*abusewatch.Event, n int) bool
	// beside, when set, is the key of the address's per-address rule (of a sweep or a
	// port scan): the late lines of its reported incidents that it counts start or
	// join no incident of this rule either. On time, the same report would have told
	// both; late, a second report about the same minutes went to the same desk.
	beside string
}

// apply runs r over the events of its address or network that fetch reads from a
// start time on (oldest first), for the new events from from on. An open incident (its
// last event within growth of the new ones) grows by the events after its last one;
// what it already holds is not read again, so a long attack costs the same per batch
// as a short one.
func (c *Correlator) apply(r rule, from time.Time, fetch func(start time.Time) ([]*abusewatch.Event, error)) ([]abusewatch.Incident, error) {
	// What was excluded when it happened, or when it was read, counts for no rule
	// after the exclusion's removal either.
	r.counts = c.countsUnlessHeld(r.network, r.counts)
	growth := c.growthOf(r.name)
	prev, open, err := c.incidents.OpenIncident(r.key, from.Add(-growth), from, false)
	if err != nil {
		return nil, err
	}
	// An open incident that has a report stays as it was reported: what comes within
	// its growth after it follows it as a new incident, with no threshold to cross (the
	// attack goes on), reported in its turn. Grown instead, the report would not say
	// what the incident claims was reported, and the rest would never be reported.
	var following bool
	if open {
		if following, err = c.isReported(prev.ID); err != nil {
			return nil, err
		}
	}
	// Open, only the events after its last one are news: a later incident's window
	// (at most growth long) cannot reach back past that last event.
	start := from.Add(-max(r.window, growth))
	if open {
		start = prev.Last
	} else if r.possible != nil {
		if ok, err := r.possible(start); err != nil || !ok {
			return nil, err
		}
	}
	all, err := fetch(start)
	if err != nil {
		return nil, fmt.Errorf("correlate %s: %w", r.key, err)
	}
	if !open && r.monotone {
		// A set rule that all the events read together do not satisfy cannot be
		// satisfied by any window of them: skip the walk.
		counted := make([]*abusewatch.Event, 0, len(all))
		for _, e := range all {
			if !e.Time.Before(start) && e.Class != abusewatch.ClassAuthSuccess && r.counts(e) {
				counted = append(counted, e)
			}
		}
		if len(counted) == 0 || !r.threshold(counted) {
			return nil, nil
		}
	}
	// The counted events since start, oldest first; with r.distinct, how many of those
	// within the window hold each value.
	counted := make([]*abusewatch.Event, 0, len(all))
	var inWindow map[netip.Addr]int
	if r.distinct != nil {
		inWindow = map[netip.Addr]int{}
	}
	var (
		out     []abusewatch.Incident
		lo      int                  // the first of counted within the window of the newest
		cur     []*abusewatch.Event  // the new events of the incident being built
		last    time.Time            // its last event
		growing = open && !following // cur continues prev
		success bool
	)
	if open {
		last = prev.Last
		if growing {
			success = prev.Success
		}
	}
	prevSince, prevAt := from.Add(-growth), from // what prev was asked for as
	// The lines of an attack that arrive after its report (a host whose clock is
	// behind, forwarding that was late) are dated within the reported incident's
	// reach (frozenIncident): on time, they would have been its own, and it stays as
	// it was reported. Such a line neither starts nor joins an incident, nor counts
	// toward one: the walk follows the reported one from there (lateOf, follow), as
	// when it meets it stored, so that what it would make of them (about the same
	// minutes, told again to the same desk) is not made. The reported incidents near
	// the events read are read from the store once, when a line first would start
	// or join one; behind says that prev, followed so, may not be the key's newest.
	// A sweep's or port scan's late lines, of the address's reported per-address
	// incident (beside), are skipped alone: its walk has none of theirs to follow.
	reach := max(r.window, growth)
	var frozen, besides []frozenIncident
	frozenRead, behind := false, false
	lateOf := func(e *abusewatch.Event) (f abusewatch.Incident, own, late bool, err error) {
		if !frozenRead {
			frozenRead = true
			to := all[len(all)-1].Time
			if frozen, err = c.reportedAround(r.key, start, to, reach, growth); err == nil && r.beside != "" {
				besides, err = c.reportedAround(r.beside, start, to, c.growth, c.growth)
			}
			if err != nil {
				return f, false, false, fmt.Errorf("correlate %s: %w", r.key, err)
			}
		}
		for _, f := range frozen {
			if f.holds(e.Time) {
				return f.inc, true, true, nil
			}
		}
		if c.reportable(e) {
			for _, f := range besides {
				if f.holds(e.Time) {
					return f.inc, false, true, nil
				}
			}
		}
		return f, false, false, nil
	}
	flush := func() error {
		if len(cur) > 0 && !success {
			// A login from an address of the new events within success_lookback
			// of them, before or after: possibly our own user.
			var err error
			if success, err = c.loginNear(r, cur); err != nil {
				return err
			}
		}
		switch {
		case growing && (len(cur) > 0 || success != prev.Success):
			// Only now is the rest of it read (its classes, hosts, evidence).
			whole, ok, err := c.incidents.OpenIncident(r.key, prevSince, prevAt, true)
			if err == nil && (!ok || whole.ID != prev.ID) {
				err = fmt.Errorf("incident %s of %s changed while it was judged", prev.ID, r.key)
			}
			if err != nil {
				return err
			}
			inc := c.grow(whole, cur, success)
			if whole.AdminOnly && r.name == "network" && slices.ContainsFunc(cur, c.reportable) {
				// Reportable evidence came from too few new addresses to make the
				// incident reportable alone: count the addresses of all its events.
				// Only an admin-only network incident that takes in reportable
				// events reads them again. Reportable now, it is made again of the
				// events of its named addresses alone (namedOnly).
				all, err := c.read.netEvents(r.network, whole.First, inc.Last)
				if err != nil {
					return fmt.Errorf("correlate %s: %w", r.key, err)
				}
				counted := make([]*abusewatch.Event, 0, len(all))
				for _, e := range all {
					if e.Class != abusewatch.ClassAuthSuccess && r.counts(e) {
						counted = append(counted, e)
					}
				}
				if inc.AdminOnly = !c.reportableSources(r.network, counted, nil); !inc.AdminOnly {
					inc = c.namedOnly(inc, counted)
				}
			}
			if err := c.typedElsewhere(&inc); err != nil {
				return fmt.Errorf("correlate %s: %w", r.key, err)
			}
			out = append(out, inc)
		case !growing && len(cur) > 0:
			inc := c.build(r, cur, success)
			if err := c.typedElsewhere(&inc); err != nil {
				return fmt.Errorf("correlate %s: %w", r.key, err)
			}
			out = append(out, inc)
		}
		cur, growing, following, success = nil, false, false, false
		return nil
	}
	// follow ends the incident being built before late line e of reported incident f
	// (lateOf) and follows f: its lines up to its last are its own, what comes after
	// them within its growth is its follow-up.
	follow := func(f abusewatch.Incident) error {
		if err := flush(); err != nil {
			return err
		}
		behind = behind || !open || !following || f.ID != prev.ID
		prev, open, following, last = f, true, true, f.Last
		return nil
	}
	// skipLate says whether e is a late line (lateOf), which the walk skips, following
	// its reported incident when it is the key's own.
	skipLate := func(e *abusewatch.Event) (bool, error) {
		f, own, late, err := lateOf(e)
		if err != nil || !late {
			return false, err
		}
		if own {
			return true, follow(f)
		}
		return true, nil
	}
	for _, e := range all {
		if e.Time.Before(start) {
			continue
		}
		if e.Class == abusewatch.ClassAuthSuccess {
			// A network's login marks its incident only when the address is one of
			// it: loginNear and markLogin see to that.
			if (len(cur) > 0 || growing) && r.name != "network" {
				success = true
			}
			continue
		}
		if !r.counts(e) {
			continue
		}
		counted = append(counted, e)
		if inWindow != nil {
			inWindow[r.distinct(e)]++
		}
		if open && e.Time.Compare(prev.Last) <= 0 {
			continue // already part of the open incident
		}
		if (len(cur) > 0 || growing || following) && e.Time.Sub(last) <= growth {
			if following && len(cur) == 0 && (c.pass != 0 || behind) {
				// A pass over history meets the stored follow-ups of a reported
				// incident as it meets the first: one that holds e goes on as it is
				// (reported, it is followed in turn), not made again over the events
				// of the follow-ups after it. (Outside a pass the reported one is the
				// newest of the key, its follow-up made now, unless it was followed
				// for a late line: behind.)
				stored, ok, err := c.incidents.OpenIncident(r.key, e.Time, e.Time, false)
				if err != nil {
					return nil, err
				}
				if ok && stored.ID != prev.ID && !e.Time.After(stored.Last) {
					rep, err := c.isReported(stored.ID)
					if err != nil {
						return nil, err
					}
					prev, open, growing, following, last, success = stored, true, !rep, rep, stored.Last, stored.Success && !rep
					prevSince, prevAt = e.Time, e.Time
					continue
				}
			}
			// Growing, e joins what the key's incident open here holds.
			if !growing {
				if late, err := skipLate(e); err != nil || late {
					if err != nil {
						return nil, err
					}
					continue
				}
			}
			cur, last = append(cur, e), e.Time
			continue
		}
		if err := flush(); err != nil {
			return nil, err
		}
		open = false
		// Does e bring the threshold within the window? The window holds the events
		// less than window before e, and e.
		for lo < len(counted)-1 && e.Time.Sub(counted[lo].Time) >= r.window {
			if inWindow != nil {
				k := r.distinct(counted[lo])
				if inWindow[k]--; inWindow[k] == 0 {
					delete(inWindow, k)
				}
			}
			lo++
		}
		met := false
		if inWindow != nil {
			met = len(inWindow) >= r.need
			if met && r.exact != nil {
				met = r.exact(counted[lo:], len(inWindow))
			}
		} else {
			met = r.threshold(counted[lo:])
		}
		if met {
			// A pass over history meets the incidents it stored before: one that
			// holds these events goes on as it is, not made again.
			stored, ok, err := c.incidents.OpenIncident(r.key, counted[lo].Time, e.Time, false)
			if err != nil {
				return nil, err
			}
			if ok && !e.Time.After(stored.Last) {
				rep, err := c.isReported(stored.ID)
				if err != nil {
					return nil, err
				}
				prev, open, growing, following, last, success = stored, true, !rep, rep, stored.Last, stored.Success && !rep
				prevSince, prevAt = counted[lo].Time, e.Time
				continue
			}
			if late, err := skipLate(e); err != nil || late {
				if err != nil {
					return nil, err
				}
				continue
			}
			// Nor do late lines before it count toward a new incident: a sweep of
			// a reported attack's late lines and one line after them is none. (A
			// /64's rules of one address, met through exact, are judged here by the
			// network's count: with late lines in its window, none is started.)
			win := slices.Clone(counted[lo:])
			kept := win[:0]
			for _, x := range win {
				if _, _, late, err := lateOf(x); err != nil {
					return nil, err
				} else if !late {
					kept = append(kept, x)
				}
			}
			if len(kept) < len(win) && !r.threshold(kept) {
				continue
			}
			cur, last = kept, e.Time
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
}

// frozenIncident is an incident with a report, with its ID and times, and the times
// of the lines that, come after its report, are late lines of its attack: from reach
// (its rule's window or growth) before its first line to its last, or, when its
// report was written while it was still open, to the report (at most its growth
// after its last line). On time, such lines would have been its own. Lines dated
// after the report are the attack going on: its follow-up.
type frozenIncident struct {
	inc       abusewatch.Incident
	from, til time.Time
}

func (f frozenIncident) holds(t time.Time) bool { return !t.Before(f.from) && !t.After(f.til) }

// reportedAround returns the incidents of key that have a report and whose late lines
// (frozenIncident, of a rule of reach and growth) may lie from from to to, oldest
// first. They are read from the store (a pass's memory of the newest incident of each
// key stays as it is): its newest incident, and, where it can answer for earlier
// times (OpenIncidentAt), the few before it, those of a chain of follow-ups.
func (c *Correlator) reportedAround(key string, from, to time.Time, reach, growth time.Duration) ([]frozenIncident, error) {
	if c.reported == nil {
		return nil, nil
	}
	if l, ok := c.incidents.(*latestIncidents); ok && !l.storedBefore(key) {
		return nil, nil // a pass: most keys it makes incidents of had none stored
	}
	open := func(since, at time.Time) (abusewatch.Incident, bool, error) {
		return c.stored.OpenIncident(key, since, at, false)
	}
	st, stepBack := c.stored.(interface {
		OpenIncidentAt(key string, since, at time.Time, whole bool) (abusewatch.Incident, bool, bool, error)
	})
	if stepBack {
		open = func(since, at time.Time) (abusewatch.Incident, bool, error) {
			inc, ok, _, err := st.OpenIncidentAt(key, since, at, false)
			return inc, ok, err
		}
	}
	var out []frozenIncident
	at := to.Add(reach)
	for range 8 {
		inc, ok, err := open(from.Add(-growth), at)
		if err != nil || !ok {
			return out, err
		}
		rep, err := c.isReported(inc.ID)
		if err != nil {
			return nil, err
		}
		if rep {
			f := frozenIncident{inc: inc, from: inc.First.Add(-reach), til: inc.Last}
			if c.reportedAt != nil {
				written, ok, err := c.reportedAt(inc.ID)
				if err != nil {
					return nil, err
				}
				if ok && written.After(f.til) {
					if f.til = inc.Last.Add(growth); written.Before(f.til) {
						f.til = written
					}
				}
			}
			out = slices.Insert(out, 0, f)
		}
		if !stepBack {
			break
		}
		at = inc.First.Add(-time.Nanosecond)
	}
	return out, nil
}

// isReported says whether the incident id has a report.
func (c *Correlator) isReported(id string) (bool, error) {
	if c.reported == nil {
		return false, nil
	}
	ok, err := c.reported(id)
	if err != nil {
		return false, fmt.Errorf("correlate: %w", err)
	}
	return ok, nil
}

// grow adds evs, the events after prev's last one, to prev.
func (c *Correlator) grow(prev abusewatch.Incident, evs []*abusewatch.Event, success bool) abusewatch.Incident {
	inc := prev
	inc.Success = success
	if inc.Rule == "network" && !prev.AdminOnly {
		// Reportable, it is about its named addresses alone: the new events of the
		// others (forgeable or weak) are not its own (namedOnly).
		_, evs = c.named(sourcesOf(prev), evs)
	}
	if len(evs) > 0 {
		inc.Last = evs[len(evs)-1].Time
		inc.Count += len(evs)
		inc.Attempts += newConnections(prev.Evidence, evs, nil)
	}
	if inc.AboutNetwork() {
		inc.Sources = abusewatch.AddSources(sourcesOf(prev), evs)
	}
	own := ownNews
	if c.pass != 0 {
		own = ownAll // prev's may share frames: not once it outlives its first batch
	}
	reportable := c.describe(&inc, evs, own)
	if inc.Rule == "network" && prev.AdminOnly && reportable {
		// Enough addresses among the new events alone; apply counts those before,
		// and makes it again of its named addresses' events.
		reportable = c.reportableSources(inc.Network, evs, nil)
	}
	inc.AdminOnly = prev.AdminOnly && !reportable
	return inc
}

// named returns the addresses of evs that are among known (sorted) or sent reportable,
// unforgeable evidence among evs, sorted, and that evidence of theirs (a new slice).
// A reportable network incident names those alone (review 21b H2): an address that
// only sent forgeable packets (UDP, ICMP, any TCP packet a firewall dropped) or weak
// evidence may have been forged by whoever wants its owner reported, and a network
// report would call it an attacker, count its lines, quote them and give it an X-ARF
// part; a sub-delegated party of the network would get a report made of them alone.
// Of the named addresses too it is their reportable lines alone, as a per-address
// incident is (review privacy40 H3, M3): their other lines are our customers' mail
// (a successful authenticated submission, greylisting naming the recipient), lines
// of classes the admin did not list in reportable (a refused connection naming our
// internal address) and "unknown" ones, which no one reviewed for the outside. Those
// stay in the store, for the admin (ip, net, the summary).
func (c *Correlator) named(known []netip.Addr, evs []*abusewatch.Event) ([]netip.Addr, []*abusewatch.Event) {
	// Every address that sent such evidence is named: the evidence kept is all of
	// it, of valid addresses. Its own forgeable packets too are anyone's to send
	// (review 21d D1): a flood of them "from" the named addresses made the report's
	// count, quoted lines and X-ARF parts theirs. They stay for the admin, as do its
	// lines of other classes.
	names := slices.Clone(known)
	kept := make([]*abusewatch.Event, 0, len(evs))
	var last netip.Addr // the last address named: the lines of one come together
	for _, e := range evs {
		if e.Class == abusewatch.ClassAuthSuccess || !c.reportable(e) {
			continue
		}
		a := e.Addr.Unmap()
		if !a.IsValid() {
			continue
		}
		kept = append(kept, e)
		if a == last {
			continue
		}
		last = a
		if i, found := slices.BinarySearchFunc(names, a, netip.Addr.Compare); !found {
			names = slices.Insert(names, i, a)
		}
	}
	return names, kept
}

// namedOnly is network incident inc, reportable, made of the reportable events of its named
// addresses among evs (its counted events, oldest first) alone: its times, counts,
// classes, hosts, evidence, sources and severity are theirs, its ID and success stay.
// The others' events stay in the store, for the admin (ip, net, the summary), and
// count toward the network rule's threshold; they are not what the incident reports.
func (c *Correlator) namedOnly(inc abusewatch.Incident, evs []*abusewatch.Event) abusewatch.Incident {
	_, evs = c.named(nil, evs)
	if len(evs) == 0 {
		return inc // none named: reportableSources said otherwise
	}
	inc.First, inc.Last = evs[0].Time, evs[len(evs)-1].Time
	inc.Count, inc.Attempts = len(evs), attempts(evs)
	inc.Addr = evs[0].Addr.Unmap()
	inc.Sources = abusewatch.AddSources(nil, evs)
	inc.Classes, inc.Hosts, inc.Evidence, inc.Severity = nil, nil, nil, 0
	c.describe(&inc, evs, ownAll)
	inc.AdminOnly = false
	return inc
}

// sourcesOf are the Sources of inc, an incident about a network, or, for one stored
// before they were kept, the addresses of its evidence.
func sourcesOf(inc abusewatch.Incident) []netip.Addr {
	if inc.Sources != nil {
		return inc.Sources
	}
	return abusewatch.AddSources(nil, pointersTo(inc.Evidence))
}

// address applies the per-address, port-scan and sweep rules to the events of a around
// the new ones (news), which lie between from and to, and the recurrence rule to a,
// saying whether a recurs. A set rule none of the new events counts toward is not
// applied: they can neither start nor grow its incident.
func (c *Correlator) address(a netip.Addr, from, to time.Time, news []*abusewatch.Event) (out []abusewatch.Incident, recurs bool, err error) {
	host := netip.PrefixFrom(a, a.BitLen())
	var fetched []*abusewatch.Event
	fetchedFrom := to.Add(time.Nanosecond)
	fetch := func(start time.Time) ([]*abusewatch.Event, error) {
		// The rules share one read: a later rule reaching further back reads again.
		if start.Before(fetchedFrom) {
			evs, err := c.read.addrEvents(a, start, to)
			if err != nil {
				return nil, err
			}
			fetched, fetchedFrom = evs, start
		}
		return fetched, nil
	}
	windows := c.windows
	rules := []rule{{
		name: "per-address", key: "ip:" + a.String(), addr: a, network: host,
		window: windows[len(windows)-1].Window,
		counts: c.reportable,
		threshold: func(evs []*abusewatch.Event) bool {
			_, met := c.windowsMet(evs, evs[len(evs)-1].Time)
			return met
		},
	}}
	if r := c.opts.PortScan; r.Count > 0 && slices.ContainsFunc(news, func(e *abusewatch.Event) bool { return e.LocalPort != 0 }) {
		rules = append(rules, rule{
			name: "port-scan", key: "scan:" + a.String(), addr: a, network: host, window: r.Window, monotone: true, beside: "ip:" + a.String(),
			counts: func(e *abusewatch.Event) bool { return e.LocalPort != 0 },
			threshold: func(evs []*abusewatch.Event) bool {
				type hostPort struct {
					host string
					port uint16
				}
				return atLeastDistinct(evs, r.Count, func(e *abusewatch.Event) hostPort { return hostPort{e.Host, e.LocalPort} })
			},
		})
	}
	if r := c.opts.Sweep; r.Count > 0 {
		// One rule per service the new events name: a sweep is one service on many hosts.
		// A sweep needs as many hosts as its count: when the address's events since
		// the window's start name fewer (most do: one server, or an attacker of one),
		// they are not read. Under a flood, reading every address's last minutes for
		// this was most of the daemon's work.
		possible := func(start time.Time) (bool, error) {
			n, known, err := c.read.hostsOf(a, start, to, r.Count)
			return !known || n >= r.Count, err
		}
		for _, svc := range services(news) {
			rules = append(rules, rule{
				name: "sweep", key: "sweep:" + a.String() + "|" + svc, addr: a, network: host, window: r.Window, monotone: true, beside: "ip:" + a.String(),
				counts: func(e *abusewatch.Event) bool { return e.Host != "" && service(e) == svc },
				threshold: func(evs []*abusewatch.Event) bool {
					return atLeastHosts(evs, r.Count)
				},
				possible: possible,
			})
		}
	}
	for _, r := range rules {
		incs, err := c.apply(r, from, fetch)
		if err != nil {
			return out, false, err
		}
		out = append(out, incs...)
	}
	if c.opts.Recurrence.Days > 0 {
		inc, made, recurs, err := c.recurrence(host, from, to, out)
		if made {
			out = append(out, inc)
		}
		return out, recurs, err
	}
	return out, false, nil
}

// windowsMet says whether evs (counted events, oldest first) meet the threshold of
// any of windows (all the per-address windows when none is named) in the window that
// ends at last, and from which of them it is met.
func (c *Correlator) windowsMet(evs []*abusewatch.Event, last time.Time, windows ...Window) (int, bool) {
	if len(windows) == 0 {
		windows = c.windows
	}
	for _, w := range windows {
		i, _ := slices.BinarySearchFunc(evs, last.Add(-w.Window), func(e *abusewatch.Event, t time.Time) int {
			if e.Time.After(t) {
				return 1
			}
			return -1
		})
		if len(evs)-i >= w.Threshold && attempts(evs[i:]) >= w.Threshold {
			return i, true
		}
	}
	return 0, false
}

// service is what a sweep compares: the service that was attacked. For a server's
// line, the service of its program (serviceOfProgram: sshd and sshd-session are one);
// for a packet filter's, whose program is the kernel's and names no service, the port
// of ours, or the protocol when the packet has no port (a ping sweep).
func service(e *abusewatch.Event) string {
	if e.Proto != "" || e.Service == "kernel" || e.Service == "" {
		switch {
		case e.LocalPort != 0:
			return fmt.Sprintf("port %d", e.LocalPort)
		case e.Proto != "":
			return strings.ToUpper(e.Proto)
		}
		return ""
	}
	return serviceOfProgram(e.Service)
}

// services lists the services of the events in evs that name one, in order of appearance.
func services(evs []*abusewatch.Event) []string {
	var out []string
	var prev *abusewatch.Event // the last event looked at: a run of lines mostly names one service
	for _, e := range evs {
		if prev != nil && e.Service == prev.Service && e.Proto == prev.Proto && e.LocalPort == prev.LocalPort && (e.Host == "") == (prev.Host == "") {
			continue
		}
		prev = e
		if s := service(e); s != "" && e.Host != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// network applies the network rule (M distinct addresses within W; of an IPv6 network
// wider than /64, M distinct /64s) and the recurrence rule (by its addresses but those
// that recur on their own: recurring, those the batch found, and recurringMembers) to
// network p around the new events between from and to.
func (c *Correlator) network(p netip.Prefix, from, to time.Time, recurring []netip.Addr) ([]abusewatch.Incident, error) {
	var out []abusewatch.Incident
	if r := c.opts.Network; c.judgesNetwork(p) {
		// Distinct addresses; of an IPv6 network wider than a /64, distinct /64s: one
		// IPv6 host has as many addresses of its /64 as it likes, and a /48 (a site)
		// or a /32 (an allocation) attacks with many customers (networkSource).
		distinct := func(e *abusewatch.Event) netip.Addr { return e.Addr.Unmap() }
		if p.Addr().Is6() && p.Bits() < 64 {
			distinct = func(e *abusewatch.Event) netip.Addr { return networkSource(p, e.Addr.Unmap()) }
		}
		rl := rule{
			name: "network", key: "net:" + p.String(), network: p, window: r.Window, monotone: true,
			counts: c.notExcludedIn(p),
			threshold: func(evs []*abusewatch.Event) bool {
				return atLeastDistinct(evs, r.Count, distinct)
			},
			distinct: distinct, need: r.Count,
		}
		if OneHost(p) {
			rl = c.hostRule(rl)
		}
		if m := c.read.sources; m != nil {
			// Fewer sources since start than the rule needs (as the memo knows them,
			// never fewer than there are): nothing to read (review 29 F1).
			need := rl.need
			rl.possible = func(start time.Time) (bool, error) { return m.possible(p, start, need) }
		}
		incs, err := c.apply(rl, from, func(start time.Time) ([]*abusewatch.Event, error) {
			return c.read.netEvents(p, start, to)
		})
		if err != nil {
			return nil, err
		}
		out = append(out, incs...)
	}
	if c.opts.Recurrence.Days > 0 && p == net24(p.Addr()) {
		inc, made, _, err := c.networkRecurrence(p, from, to, out, recurring)
		if err != nil {
			return out, err
		}
		if made {
			out = append(out, inc)
		}
	}
	return out, nil
}

// judgesNetwork says whether the network rule judges network p: it is of one of the
// rule's sizes.
func (c *Correlator) judgesNetwork(p netip.Prefix) bool {
	r := c.opts.Network
	return r.Count > 0 && slices.ContainsFunc(r.Sizes, func(b int) bool {
		return b == p.Bits() || (p.Addr().Is6() && v6Bits(b) == p.Bits())
	})
}

// atLeastDistinct says whether evs hold at least n distinct values of key. It stops
// at the n-th, and keeps the values seen in a small slice while there are few (the
// rules ask for a handful: 3 hosts, 10 addresses, 20 ports).
func atLeastDistinct[K comparable](evs []*abusewatch.Event, n int, key func(*abusewatch.Event) K) bool {
	if len(evs) < n {
		return false
	}
	if n <= 32 {
		var arr [32]K // on the stack: the rules ask this of every key of every batch
		seen := arr[:0]
		for _, e := range evs {
			if k := key(e); !slices.Contains(seen, k) {
				if seen = append(seen, k); len(seen) >= n {
					return true
				}
			}
		}
		return false
	}
	seen := make(map[K]bool, n)
	for _, e := range evs {
		if seen[key(e)] = true; len(seen) >= n {
			return true
		}
	}
	return false
}

// build makes the incident of rule r from its events, oldest first.
func (c *Correlator) build(r rule, evs []*abusewatch.Event, success bool) abusewatch.Incident {
	first := evs[0]
	h := sha256.Sum256(fmt.Appendf(nil, "%s|%d|%d", r.key, first.Time.UnixNano(), first.Seq))
	named := r.name == "network" && slices.ContainsFunc(evs, c.reportable) && c.reportableSources(r.network, evs, nil)
	if named {
		// Reportable: about its named addresses alone (namedOnly); its ID stays that
		// of the events that met the threshold, which a pass over history meets again.
		_, evs = c.named(nil, evs)
		first = evs[0]
	}
	inc := abusewatch.Incident{
		ID:       hex.EncodeToString(h[:8]),
		Key:      r.key,
		Rule:     r.name,
		Addr:     r.addr,
		Network:  r.network,
		First:    first.Time,
		Last:     evs[len(evs)-1].Time,
		Count:    len(evs),
		Attempts: attempts(evs),
		Success:  success,
	}
	if !inc.Addr.IsValid() {
		// A network incident is looked up and reported through its first address;
		// the memo names the network, and its addresses.
		inc.Addr = first.Addr.Unmap()
		inc.Sources = abusewatch.AddSources(nil, evs)
	}
	own := ownNews
	if c.pass != 0 {
		own = ownNone
	}
	reportable := c.describe(&inc, evs, own)
	if r.name == "network" {
		reportable = named
	}
	inc.AdminOnly = !reportable
	return inc
}

// reportableSources says whether evs, events of a network incident, hold reportable
// evidence from at least as many distinct addresses as the network rule counts (only
// those for which counts, when set, holds). One failed login among a /24 of forgeable
// SYNs is that address's, not the network's: the network's report would name every
// address as an attacker. Below the count the incident is for the admin only. Of an
// IPv6 network wider than /64 (p), distinct /64s count, as for the network rule.
func (c *Correlator) reportableSources(p netip.Prefix, evs []*abusewatch.Event, counts func(*abusewatch.Event) bool) bool {
	if OneHost(p) && c.hostReportable(evs, counts) {
		return true
	}
	wide := p.Addr().Is6() && !p.Addr().Is4In6() && p.Bits() < 64
	n := c.opts.Network.Count
	var arr [32]netip.Addr // on the stack: the rule asks for a handful (10 by default)
	seen := arr[:0]
	var many map[netip.Addr]bool
	var last netip.Addr // the lines of one connection come together
	for _, e := range evs {
		if e.Class == abusewatch.ClassAuthSuccess || !c.reportable(e) || (counts != nil && !counts(e)) {
			continue
		}
		a := e.Addr.Unmap()
		if wide && a.Is6() {
			a = net24(a).Addr() // its /64
		}
		if a == last {
			continue
		}
		last = a
		switch {
		case many != nil:
			many[a] = true
			if len(many) >= n {
				return true
			}
		case !slices.Contains(seen, a):
			if seen = append(seen, a); len(seen) >= n {
				return true
			}
			if len(seen) == len(arr) {
				many = make(map[netip.Addr]bool, n)
				for _, s := range seen {
					many[s] = true
				}
			}
		}
	}
	return false
}

// evidenceStrings says which of an incident's evidence events describe gives strings
// of their own. A stored event's strings share the memory of its whole frame (200 kB
// of a block), which evidence kept for long must not hold; copying them was a twentieth
// of a pass over history (1.5 s of 30 for 10 million events, 300,000 incidents).
type evidenceStrings int

const (
	// ownNews: those taken from the new events; the incident's own evidence owns its.
	ownNews evidenceStrings = iota
	// ownAll: every one, the incident's old evidence too (it may share frames).
	ownAll
	// ownNone: none. Only for an incident that a pass over history makes: most stop
	// growing within the pass's lookback and are written and dropped while their
	// batches are still held. Those that grow get their own (ownAll); those that stop
	// are forgotten or written a few batches later (heldIncidents bounds the whole
	// ones the pass remembers), so the frames held are those of a few batches more.
	ownNone
)

// describe adds the classes and hosts of evs to inc, merges them into its evidence
// (first, sample, last) whose strings it copies as own says, sets its severity, and
// says whether any of evs may be the reason for an outside report.
func (c *Correlator) describe(inc *abusewatch.Incident, evs []*abusewatch.Event, own evidenceStrings) bool {
	reportable := false
	var class abusewatch.Class // the last class and host looked for: a run of lines mostly shares them
	var host string
	for i, e := range evs {
		// Copies: a stored event's strings share its block's memory (see evidenceStrings).
		if i == 0 || e.Class != class {
			if class = e.Class; !slices.Contains(inc.Classes, class) {
				inc.Classes = append(inc.Classes, abusewatch.Class(strings.Clone(string(class))))
			}
		}
		if e.Host != host {
			if host = e.Host; host != "" && !slices.Contains(inc.Hosts, host) {
				inc.Hosts = append(inc.Hosts, strings.Clone(host))
			}
		}
		reportable = reportable || c.reportable(e)
	}
	slices.Sort(inc.Classes)
	slices.Sort(inc.Hosts)
	var fromOld int
	inc.Evidence, fromOld = sample(inc.Evidence, evs, c.opts.Evidence)
	switch own {
	case ownNews:
		abusewatch.OwnStrings(inc.Evidence[fromOld:])
	case ownAll:
		abusewatch.OwnStrings(inc.Evidence)
	}
	inc.Severity = max(inc.Severity, severity(*inc))
	return reportable
}

// sample keeps at most n of the events of old (an incident's evidence) followed by
// evs: the first ones, a few spread evenly through the middle, and the last ones. It
// also says how many of them came from old (they come first). Their strings are those
// of the events taken (describe copies them as it must).
func sample(old []abusewatch.Event, evs []*abusewatch.Event, n int) ([]abusewatch.Event, int) {
	return sampleInto(make([]abusewatch.Event, 0, min(len(old)+len(evs), n)), old, evs, n)
}

// sampleInto is sample appending to out, which must not share memory with old.
func sampleInto(out, old []abusewatch.Event, evs []*abusewatch.Event, n int) ([]abusewatch.Event, int) {
	total := len(old) + len(evs)
	fromOld := 0 // the events of out taken from old, which come first
	take := func(i int) {
		if i < len(old) {
			out = append(out, old[i])
			fromOld++
		} else {
			out = append(out, *evs[i-len(old)])
		}
	}
	if total <= n {
		for i := range total {
			take(i)
		}
	} else {
		edge := max(n/3, 1)
		mid := n - 2*edge
		for i := range edge {
			take(i)
		}
		inner := total - 2*edge
		for i := range mid {
			take(edge + (i*inner+inner/2)/mid)
		}
		for i := total - edge; i < total; i++ {
			take(i)
		}
	}
	return out, fromOld
}

// ownStrings returns e with copies of its strings, cut from one new string (one
// allocation, not nine).
func ownStrings(e abusewatch.Event) abusewatch.Event {
	one := [1]abusewatch.Event{e}
	abusewatch.OwnStrings(one[:])
	return one[0]
}

// connectionLife is how long after its first line a connection may still write lines:
// a key (host, service, address, ports) seen again later is a new connection that
// happens to use the same ports, as ephemeral ports come back over days. Every service
// we read ends a connection that has not logged in within minutes: sshd after
// LoginGraceTime (2 minutes by default), dovecot's login processes after 3
// (MASTER_LOGIN_TIMEOUT_SECS), a SYN nobody answers after Linux's retries (about 2); a
// firewall's conntrack forgets an unanswered flow after 2 (TCP) or half a minute (UDP).
// Ten minutes leaves room for an admin who raised them, since a connection that lasts
// longer is counted twice (a report may understate, never overstate), and is short
// enough that a client's next connections rarely meet the same port again within it
// (Linux hands them out across about 28,000): a client that does, a fast one, is
// understated.
const connectionLife = 10 * time.Minute

// attempts counts the distinct connections among evs, so the several lines one failed
// login writes (sshd's "Invalid user", PAM's failure, "Failed password", the
// disconnect) count once. A connection is known by our host, the service, the
// remote address and port (a network's addresses may use the same ports) and, when
// the record names it, our port: a scanner that keeps one source port for a whole
// scan (firewall lines give both ports) makes one connection per port of ours it
// tries, not one in all. A line more than connectionLife after the first line of its
// key's connection begins a new one: the same port days later is another login.
// A record without a remote port counts alone unless its address gives ports to its
// service elsewhere in evs (then it is one of those connections' extra lines). Several
// failures in one connection count once: a report may understate, never overstate.
// evs are in time order; a line out of order counts with the connection it follows.
func attempts(evs []*abusewatch.Event) int {
	n, _ := attemptsBefore(evs, len(evs))
	return n
}

// attemptsBefore is attempts of evs, and attempts of evs[:split], in one walk.
func attemptsBefore(evs []*abusewatch.Event, split int) (n, before int) {
	// A window's or a batch's share of one address rarely holds more than 32
	// connections' keys: a small table on the stack first, a larger one when it fills
	// (on the heap past 512 keys).
	if len(evs) <= 128 {
		var table [64]connStart
		if n, before, ok := connections(evs, split, table[:], false); ok {
			return n, before
		}
	}
	var table [1024]connStart
	n, before, _ = connections(evs, split, table[:], true)
	return n, before
}

// connStart is a connection's key in a table of connections (0: a free slot) and the
// time of its first line (Unix nanoseconds).
type connStart struct {
	key   uint64
	start int64
}

// connections is attemptsBefore with table, zero, to hold the connections' keys: when
// they fill half of it, it grows on the heap if grow, and otherwise connections gives
// up (not ok).
func connections(evs []*abusewatch.Event, split int, table []connStart, grow bool) (n, had int, ok bool) {
	// Each (host, service, address) gets a number, found by a look through the few
	// there are (a map once there are many), the one of the line before first, and a
	// connection's key is that number and the ports: integers, hashed into table, not
	// strings (attempts was a tenth of a pass's CPU). The number takes the high 32
	// bits, the remote port the next 16, our port (0: not named) the low 16: never
	// zero, since the remote port is not.
	type svcKey struct {
		host, service string
		addr          netip.Addr
	}
	type svc struct {
		svcKey
		ported bool // it gives ports somewhere in evs
		lone   int  // its lines without a port
	}
	var svcArr [8]svc
	svcs, before := svcArr[:0], 0
	var many map[svcKey]int
	number := func(e *abusewatch.Event) int {
		if before < len(svcs) {
			if s := &svcs[before]; s.addr == e.Addr && s.host == e.Host && s.service == e.Service {
				return before
			}
		}
		k := svcKey{e.Host, e.Service, e.Addr}
		if many != nil {
			if i, ok := many[k]; ok {
				before = i
				return i
			}
		} else {
			for i := range svcs {
				if svcs[i].svcKey == k {
					before = i
					return i
				}
			}
		}
		svcs = append(svcs, svc{svcKey: k})
		if len(svcs) > len(svcArr) {
			if many == nil {
				many = make(map[svcKey]int, 2*len(svcs))
				for i, s := range svcs {
					many[s.svcKey] = i
				}
			}
			many[k] = len(svcs) - 1
		}
		before = len(svcs) - 1
		return before
	}
	conns := connTable{slots: table, shift: 64 - bits.TrailingZeros(uint(len(table))), grow: grow}
	var lastKey uint64 // the line before's connection, and when that began
	var lastStart int64
	lone := func() (n int) { // the lines without a port of services that give none
		for _, s := range svcs {
			if !s.ported {
				n += s.lone
			}
		}
		return n
	}
	for j, e := range evs {
		if j == split {
			had = n + lone()
		}
		i := number(e)
		if e.Port == 0 {
			svcs[i].lone++
			continue
		}
		svcs[i].ported = true
		key, at := uint64(i)<<32|uint64(e.Port)<<16|uint64(e.LocalPort), e.Time.UnixNano()
		if key == lastKey && at-lastStart <= int64(connectionLife) {
			continue // a connection's lines come one after the other
		}
		start, began, ok := conns.see(key, at)
		if !ok {
			return 0, 0, false
		}
		if began {
			n++
		}
		lastKey, lastStart = key, start
	}
	n += lone()
	if split >= len(evs) {
		had = n
	}
	return n, had, true
}

// connTable holds the connections' keys and when each last began: open addressing
// in slots, whose size is 1<<(64-shift), at most half full.
type connTable struct {
	slots []connStart
	shift int
	held  int  // keys in slots
	grow  bool // past half full, a table twice the size on the heap; else give up
}

// see counts a line of the connection key at at: it says when key's connection began
// and whether at did, or gives up (not ok) when the table is full and may not grow.
func (t *connTable) see(key uint64, at int64) (start int64, began, ok bool) {
	s := t.slot(key)
	switch {
	case s.key == 0:
		if t.held++; 2*t.held > len(t.slots) {
			if !t.grow {
				return 0, false, false
			}
			old := t.slots
			t.slots, t.shift = make([]connStart, 2*len(old)), t.shift-1
			for _, c := range old {
				if c.key != 0 {
					*t.slot(c.key) = c
				}
			}
			s = t.slot(key)
		}
		*s = connStart{key, at}
		return at, true, true
	case at-s.start > int64(connectionLife):
		s.start = at
		return at, true, true
	}
	return s.start, false, true
}

// slot is key's slot: the one that holds it or the free one it would take.
func (t *connTable) slot(key uint64) *connStart {
	mask := uint64(len(t.slots) - 1)
	h := key * 0x9e3779b97f4a7c15 >> t.shift
	for t.slots[h].key != 0 && t.slots[h].key != key {
		h = (h + 1) & mask
	}
	return &t.slots[h]
}

// Connections is the number of distinct connections among evs, as an incident counts
// them (its Attempts): a report that leaves some addresses out takes theirs off.
func Connections(evs []*abusewatch.Event) int { return attempts(evs) }

// Sample is at most n of evs (in time order) as an incident keeps them for evidence:
// the first, a few spread through the middle, the last. A party's share of a network
// incident shows its own lines sampled so, not the whole incident's sample cut down.
func Sample(evs []*abusewatch.Event, n int) []abusewatch.Event {
	out, _ := sample(nil, evs, n)
	return out
}

// newConnections is how many connections evs, an incident's events after its last one,
// add to those it had: old is its evidence (those of it that counts, nil: all), which
// ends with its last events, and the lines of a connection that began in them (a batch
// may end between the lines of one login) are not counted again, while its port more
// than connectionLife later is a new connection. The evidence is a sample: where it
// left out a connection's first line, the start seen is nearer its later lines, which
// are not counted again; only one it holds no line of, whose port an older connection
// in it used, could be (it keeps the incident's last lines, where such a connection's
// first ones are). It is asked at every growth of every incident: the evidence is
// pointed at from the stack.
func newConnections(old []abusewatch.Event, evs []*abusewatch.Event, counts func(*abusewatch.Event) bool) int {
	var arr [48]*abusewatch.Event
	before := arr[:0]
	for i := range old {
		if counts == nil || counts(&old[i]) {
			before = append(before, &old[i])
		}
	}
	n, had := attemptsBefore(append(before, evs...), len(before))
	return max(n-had, 0)
}

// severity grows with the number of attempts and is highest when a login succeeded.
func severity(inc abusewatch.Incident) int {
	switch {
	case inc.Success:
		return 5
	case inc.Attempts >= 1000:
		return 4
	case inc.Attempts >= 100:
		return 3
	case inc.Attempts >= 20:
		return 2
	}
	return 1
}

// Exclude adds p to the networks that never make an incident (the admin's `exclude`).
// Like Correlate, it must not run concurrently with the other calls but Excluded.
func (c *Correlator) Exclude(p netip.Prefix) {
	never := append(slices.Clip(*c.never.Load()), abusewatch.UnmapPrefix(p))
	c.never.Store(&never)
}

// Include takes p (that network, not one around it or within it) off the networks that
// never make an incident, undoing Exclude or the Never option; the reserved networks
// stay. Like Exclude, it may run beside Excluded only.
func (c *Correlator) Include(p netip.Prefix) {
	p = abusewatch.UnmapPrefix(p)
	reserved := len(reservedNetworks())
	old := *c.never.Load()
	never := slices.Concat(old[:reserved], slices.DeleteFunc(slices.Clone(old[reserved:]), func(q netip.Prefix) bool { return abusewatch.UnmapPrefix(q) == p }))
	c.never.Store(&never)
}

// Excluded says whether addr belongs to a network that never makes an incident: private,
// loopback, link-local, multicast, shared (CGNAT), documentation, benchmarking and other
// reserved space, and the configured never-report networks. Unlike the other methods
// but Progress, it may run beside them (the outbox asks it on a goroutine of its own).
func (c *Correlator) Excluded(addr netip.Addr) bool {
	addr = addr.Unmap()
	if !addr.IsGlobalUnicast() || addr.IsPrivate() {
		return true
	}
	for _, p := range *c.never.Load() {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// ExcludedNetwork says whether every address of p is Excluded: p lies within one
// network that never makes an incident. Like Excluded, it may run beside the others.
func (c *Correlator) ExcludedNetwork(p netip.Prefix) bool {
	p = abusewatch.UnmapPrefix(p)
	within := func(q netip.Prefix) bool { return q.Bits() <= p.Bits() && q.Contains(p.Addr()) }
	return !p.IsValid() || slices.ContainsFunc(*c.never.Load(), within) || slices.ContainsFunc(nonGlobalNetworks, within)
}

// notExcludedIn returns the test whether an event of network p comes from an address
// that is not Excluded and is not held back (HeldBack): a constant true when no
// excluded network or time held back overlaps p (the usual case; a hot /24's events
// are tested in every batch).
func (c *Correlator) notExcludedIn(p netip.Prefix) func(e *abusewatch.Event) bool {
	p = abusewatch.UnmapPrefix(p)
	overlaps := func(q netip.Prefix) bool { return q.Overlaps(p) }
	excluded := !p.IsValid() || slices.ContainsFunc(*c.never.Load(), overlaps) || slices.ContainsFunc(nonGlobalNetworks, overlaps)
	held := c.heldBackIn(p)
	switch {
	case excluded && held != nil:
		return func(e *abusewatch.Event) bool { return !c.Excluded(e.Addr) && !held(e) }
	case excluded:
		return func(e *abusewatch.Event) bool { return !c.Excluded(e.Addr) }
	case held != nil:
		return func(e *abusewatch.Event) bool { return !held(e) }
	}
	return func(*abusewatch.Event) bool { return true }
}

// SpecialPurpose returns the registered network that makes addr special-purpose
// (private, loopback, link-local, multicast, shared, documentation, benchmarking, NAT64
// or otherwise reserved): an address that never makes an incident, whatever the config
// says. IPv6 outside 2000::/3 is named by its registered block (registeredIPv6), such
// as 64:ff9b::/96, never by the unregistered ::/3 that the rules exclude it by.
func SpecialPurpose(addr netip.Addr) (netip.Prefix, bool) {
	addr = addr.Unmap()
	for _, p := range slices.Concat(nonGlobalNetworks, reservedNetworks()) {
		if p.Contains(addr) {
			if addr.Is6() && p.Bits() <= 3 {
				for _, q := range registeredIPv6() {
					if q.Contains(addr) {
						return q, true
					}
				}
			}
			return p, true
		}
	}
	return netip.Prefix{}, false
}

// nonGlobalNetworks hold every address that IsGlobalUnicast refuses or IsPrivate
// accepts: unspecified, loopback, link-local, multicast, broadcast and private.
var nonGlobalNetworks = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/32"),
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("224.0.0.0/4"),
	netip.MustParsePrefix("255.255.255.255/32"),
	netip.MustParsePrefix("::/128"),
	netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("fc00::/7"),
	netip.MustParsePrefix("fe80::/10"),
	netip.MustParsePrefix("ff00::/8"),
}

// reservedNetworks are special-purpose ranges (RFC 6890 and successors) that
// IsGlobalUnicast and IsPrivate let through.
func reservedNetworks() []netip.Prefix {
	return []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/8"),
		netip.MustParsePrefix("100.64.0.0/10"),
		netip.MustParsePrefix("192.0.0.0/24"),
		netip.MustParsePrefix("192.0.2.0/24"),
		netip.MustParsePrefix("192.88.99.0/24"),
		netip.MustParsePrefix("198.18.0.0/15"),
		netip.MustParsePrefix("198.51.100.0/24"),
		netip.MustParsePrefix("203.0.113.0/24"),
		netip.MustParsePrefix("240.0.0.0/4"),
		// IPv6 outside 2000::/3, the only block IANA allocates for global unicast:
		// NAT64 (64:ff9b::/96, 64:ff9b:1::/48), discard (100::/64), IPv4-compatible
		// (::/96), the deprecated site-local fec0::/10 and the unallocated rest.
		netip.MustParsePrefix("::/3"),
		netip.MustParsePrefix("4000::/2"),
		netip.MustParsePrefix("8000::/1"),
		netip.MustParsePrefix("2001::/23"),
		netip.MustParsePrefix("2001:db8::/32"),
		netip.MustParsePrefix("2002::/16"),
		netip.MustParsePrefix("3fff::/20"),
	}
}
