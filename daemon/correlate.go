package daemon

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/correlate"
	"github.com/abusewatch/abusewatch/store"
)

// The correlation rules' config, the periodic re-correlation (run from Tick, on the
// main loop, because the Correlator is not safe for concurrent use) and the background
// retention pass (its own goroutine: it only deletes, in small transactions, so
// ingestion waits for one chunk at most).

const day = 24 * time.Hour

// correlateDefaults fills the defaults of the [correlate] rules and [retention]. A rule
// set to 0 in the file stays off.
func (c *Config) correlateDefaults() {
	k := &c.Correlate
	setInt := func(key string, v *int, def int) {
		if *v == 0 && keyLine(c.doc, "correlate."+key) == 0 {
			*v = def
		}
	}
	setDur := func(v *Duration, def time.Duration) {
		if v.Duration == 0 {
			v.Duration = def
		}
	}
	setInt("network_addresses", &k.NetworkAddresses, 10)
	setDur(&k.NetworkWindow, time.Hour)
	if len(k.NetworkSizes) == 0 {
		k.NetworkSizes = []int{24}
	}
	setInt("port_scan_ports", &k.PortScanPorts, 20)
	setDur(&k.PortScanWindow, 10*time.Minute)
	setInt("sweep_hosts", &k.SweepHosts, 3)
	setDur(&k.SweepWindow, 10*time.Minute)
	setInt("recurrence_days", &k.RecurrenceDays, 10)
	setDur(&k.RecurrencePeriod, 180*day)
	setDur(&k.RecurrenceGap, 30*day)
	if k.RateFactor == 0 && keyLine(c.doc, "correlate.rate_factor") == 0 {
		k.RateFactor = 10
	}
	setDur(&k.RateBaseline, 7*day)
	setInt("rate_min", &k.RateMin, 100)
	if k.SuccessLookback.Duration == 0 && keyLine(c.doc, "correlate.success_lookback") == 0 {
		k.SuccessLookback.Duration = 7 * day
	}
	if k.RecorrelateInterval.Duration == 0 && keyLine(c.doc, "correlate.recorrelate_interval") == 0 {
		k.RecorrelateInterval.Duration = time.Hour
	}
	setDur(&c.Retention.Events, 30*day)
	setDur(&c.Retention.Counters, 400*day)
	setDur(&c.Retention.Incidents, 400*day)
	setDur(&c.Retention.Reports, 400*day)
	setDur(&c.Retention.Interval, time.Hour)
}

// validateCorrelate checks the [correlate] rules and [retention].
func (c *Config) validateCorrelate() error {
	bad := func(key, format string, args ...any) error {
		return &ConfigError{File: c.file, Line: keyLine(c.doc, key), Key: key, Problem: fmt.Sprintf(format, args...)}
	}
	k := c.Correlate
	for i, w := range k.Windows {
		if w.Threshold < 1 || w.Window.Duration <= 0 {
			return bad("correlate.windows", "window %d needs threshold >= 1 and a positive window, e.g. {threshold = 20, window = \"24h\"}", i+1)
		}
	}
	for _, n := range []struct {
		key string
		v   int
	}{{"network_addresses", k.NetworkAddresses}, {"port_scan_ports", k.PortScanPorts}, {"sweep_hosts", k.SweepHosts},
		{"recurrence_days", k.RecurrenceDays}, {"rate_min", k.RateMin}} {
		if n.v < 0 {
			return bad("correlate."+n.key, "must be 0 (off) or more, not %d", n.v)
		}
	}
	// A class whose events are all forgeable (firewall packets, refused DNS queries)
	// would never be reported alone anyway, but the daily counters know classes, not
	// packets: a recurrence would count its days as an attack's, and the admin who
	// named it would believe such events make reports.
	for _, class := range k.Reportable {
		if correlate.Forgeable(abusewatch.Class(class)) {
			return bad("correlate.reportable", "names %q, whose events are always forgeable (%s): anyone can make them name another's address, so they never make an outside report; remove it (such events still count toward incidents, for you)",
				class, forgeableWhy(abusewatch.Class(class)))
		}
	}
	if k.NetworkAddresses == 1 {
		return bad("correlate.network_addresses", "1 address is not a network pattern: use 2 or more, or 0 to switch the rule off")
	}
	if k.SweepHosts == 1 {
		return bad("correlate.sweep_hosts", "1 host is not a sweep: use 2 or more, or 0 to switch the rule off")
	}
	for _, b := range k.NetworkSizes {
		if b != 24 && b != 16 && b != 8 {
			return bad("correlate.network_sizes", "/%d is not indexed: use 24, 16 or 8 (IPv6 /64, /48, /32 follow)", b)
		}
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"network_window", k.NetworkWindow.Duration}, {"port_scan_window", k.PortScanWindow.Duration}, {"sweep_window", k.SweepWindow.Duration},
		{"recurrence_period", k.RecurrencePeriod.Duration}, {"recurrence_gap", k.RecurrenceGap.Duration}, {"rate_baseline", k.RateBaseline.Duration},
		{"success_lookback", k.SuccessLookback.Duration}, {"recorrelate_interval", k.RecorrelateInterval.Duration}} {
		if d.v < 0 {
			return bad("correlate."+d.key, "must not be negative")
		}
	}
	if k.RecurrenceDays > 0 && time.Duration(k.RecurrenceDays)*day > k.RecurrencePeriod.Duration {
		return bad("correlate.recurrence_days", "%d days cannot fit in recurrence_period %s: lower it or lengthen the period", k.RecurrenceDays, k.RecurrencePeriod)
	}
	if k.RateFactor < 0 || (k.RateFactor > 0 && k.RateFactor <= 1) {
		return bad("correlate.rate_factor", "must be above 1 (times the usual hourly level), or 0 to switch the rule off, not %g", k.RateFactor)
	}
	if k.RateFactor > 0 && k.RateBaseline.Duration < day {
		return bad("correlate.rate_baseline", "must be at least 1d: the usual level of an hour needs a day of history")
	}
	r := c.Retention
	if r.Events.Duration < day {
		return bad("retention.events", "must be at least 1d (raw events are the evidence of reports), not %s", r.Events)
	}
	if r.Counters.Duration < r.Events.Duration {
		return bad("retention.counters", "must be at least retention.events (%s): the counters are the long memory", r.Events)
	}
	if r.Incidents.Duration < r.Events.Duration {
		return bad("retention.incidents", "must be at least retention.events (%s): an incident outlives its evidence lines", r.Events)
	}
	if r.Reports.Duration < r.Events.Duration {
		return bad("retention.reports", "must be at least retention.events (%s): a report's mail is the record of what was sent", r.Events)
	}
	if k.RecurrenceDays > 0 && r.Counters.Duration < k.RecurrencePeriod.Duration {
		return bad("retention.counters", "must cover correlate.recurrence_period (%s), or recurrence forgets", k.RecurrencePeriod)
	}
	if r.Interval.Duration < time.Minute {
		return bad("retention.interval", "must be at least 1m")
	}
	return nil
}

// forgeableWhy says why the events of class, one of correlate.ForgeableClasses, are forgeable.
func forgeableWhy(class abusewatch.Class) string {
	switch class {
	case "refused-query":
		return "DNS queries come over UDP, whose source address is not checked"
	case "firewall-accept":
		return "the first packet of a connection, logged before any handshake"
	case "wrapper-refused":
		return "TCP wrappers and xinetd refuse UDP services too, after one datagram, and their line does not say which"
	case "mysql-auth-failure", "mysql-protocol-probe":
		return "MariaDB and MySQL log a client's user name with its newlines, so a client that connects writes whole lines of its own"
	}
	return "packets a firewall logged, none of which completed a handshake"
}

// reportableClasses are correlate.reportable's classes.
func (c *Config) reportableClasses() []abusewatch.Class {
	classes := make([]abusewatch.Class, len(c.Correlate.Reportable))
	for i, class := range c.Correlate.Reportable {
		classes[i] = abusewatch.Class(class)
	}
	return classes
}

// correlateOptions turns the config into the Correlator's options.
func correlateOptions(cfg *Config, never []netip.Prefix) correlate.Options {
	k := cfg.Correlate
	classes := cfg.reportableClasses()
	opts := correlate.Options{
		Threshold:  k.Threshold,
		Window:     k.Window.Duration,
		Reportable: classes,
		Never:      never,
		Evidence:   k.Evidence,
		Network: correlate.NetworkRule{SetRule: correlate.SetRule{Count: k.NetworkAddresses, Window: k.NetworkWindow.Duration},
			Sizes: k.NetworkSizes},
		PortScan:        correlate.SetRule{Count: k.PortScanPorts, Window: k.PortScanWindow.Duration},
		Sweep:           correlate.SetRule{Count: k.SweepHosts, Window: k.SweepWindow.Duration},
		Recurrence:      correlate.RecurrenceRule{Days: k.RecurrenceDays, Period: k.RecurrencePeriod.Duration, Gap: k.RecurrenceGap.Duration},
		Rate:            correlate.RateRule{Factor: k.RateFactor, Baseline: k.RateBaseline.Duration, Min: k.RateMin},
		SuccessLookback: k.SuccessLookback.Duration,
	}
	for _, w := range k.Windows {
		opts.Windows = append(opts.Windows, correlate.Window{Threshold: w.Threshold, Window: w.Window.Duration})
	}
	return opts
}

// Recorrelate runs the rules again over the events stored since the last run when
// correlate.recorrelate_interval has passed, so events that arrived late or out of
// order (several hosts, delayed syslog) are judged with everything around them. The
// first call only marks the start: old data is the one-shot `abusewatch correlate`'s
// job, and a restart must not hold up reading the logs (what was committed and never
// correlated is CatchUp's, which it calls first). Tick calls it, on the main loop.
func (p *Pipeline) Recorrelate(ctx context.Context, now time.Time) error {
	// What a failed correlation left (CatchUp) is judged even when no new batch comes.
	caughtUp := p.CatchUp(ctx)
	every := p.cfg.Correlate.RecorrelateInterval.Duration
	if every <= 0 {
		return caughtUp
	}
	last := p.recorrelated
	if !last.IsZero() && now.Sub(last) < every {
		return caughtUp
	}
	from := last
	if last.IsZero() {
		from = now
	}
	n, err := p.RecorrelateRange(ctx, from, now)
	if err != nil {
		return errors.Join(caughtUp, err)
	}
	p.recorrelated = now
	if n > 0 {
		p.log.Info("re-correlation created or grew incidents", "incidents", n, "from", from)
	}
	return caughtUp
}

// RecorrelateRange runs the rules over the stored events between from and to, stores
// the incidents they create or grow (`abusewatch correlate --since`) and returns how
// many differ from what was stored before: going over events already correlated
// rebuilds their incidents, which is no news.
func (p *Pipeline) RecorrelateRange(ctx context.Context, from, to time.Time) (int, error) {
	// The pass reads which incidents have a report once, at its start: none is marked
	// reported while it runs (the outbox's round waits), or the pass could grow it.
	p.marking.Lock()
	defer p.marking.Unlock()
	// Per incident ID: digests (never zero) of it as stored before this run (zero:
	// new), as stored now and as the run made it, and what the summary tells of it; a
	// few dozen bytes, where a pass over months makes hundreds of thousands. Without a
	// pointer, under IDs read as numbers (they are 16 hex digits), the collector never
	// looks into the map (a 10M first pass: 31.2 and 32.6 s against 34.9 and 37.0 s).
	all := &seenIncidents{byNumber: map[uint64]seenIncident{}, byString: map[string]seenIncident{}}
	// The changed incidents, compressed, until writeEvery of them make one transaction:
	// a write costs most per transaction, and the pass hands them in smaller groups.
	// A transaction is written while the next group is gathered (one at a time, in
	// order): it ends waiting on the disk, and the pass, which hands over its incidents
	// through here, stood still meanwhile.
	var pending []store.IncidentWrite
	var writing chan error // the transaction being written; nil: none
	wait := func() error {
		if writing == nil {
			return nil
		}
		err := <-writing
		writing = nil
		return err
	}
	flush := func() error {
		if err := wait(); err != nil {
			return err
		}
		ws, done := pending, make(chan error, 1)
		pending, writing = make([]store.IncidentWrite, 0, writeEvery), done
		go func() { done <- p.store.PutIncidentWrites(ws) }()
		return nil
	}
	_, err := p.correlator.Recorrelate(ctx, p.store, from, to, func(incs []abusewatch.Incident) error {
		// What was stored before, for the incidents not met yet: one read of the
		// index, where each incident's digest is kept.
		var ids []string
		for _, inc := range incs {
			if _, known := all.get(inc.ID); !known {
				ids = append(ids, inc.ID)
			}
		}
		before, err := p.store.IncidentDigests(ids)
		if err != nil {
			return err
		}
		for i, id := range ids {
			all.set(id, seenIncident{before: before[i], stored: before[i]})
		}
		// Only what differs from the store is written: rules that did not change
		// rebuild the same incidents, and a pass over months writes nothing.
		for _, inc := range incs {
			s, _ := all.get(inc.ID)
			var w store.IncidentWrite
			var changed bool
			s.after, w, changed = store.EncodeChanged(inc, s.stored)
			s.rule, s.outside, s.last = all.ruleNumber(inc.Rule), !inc.AdminOnly && !inc.Success, inc.Last.UnixNano()
			if changed {
				pending = append(pending, w)
				s.stored = s.after
			}
			all.set(inc.ID, s)
		}
		if len(pending) >= writeEvery {
			return flush()
		}
		return nil
	})
	// What the pass made before it failed or was stopped is as good as the rest.
	if len(pending) > 0 {
		err = errors.Join(err, flush())
	}
	// The last transaction is written while the tally is made: a pass over months ends
	// with one of tens of thousands of incidents, and nothing else left to do.
	changed := 0
	all.each(func(id string, s seenIncident) {
		if s.after != s.before {
			changed++
			if p.passed != nil {
				p.touched[id] = true
				p.passed[id] = passedIncident{rule: all.rules[s.rule], outside: s.outside, last: time.Unix(0, s.last).UTC()}
			}
		}
	})
	p.Counters.Incidents.Add(int64(changed))
	return changed, errors.Join(err, wait())
}

// RecorrelationProgress is how far the running RecorrelateRange got: the events it
// judged and the time of the newest of them. It may be called from another goroutine.
func (p *Pipeline) RecorrelationProgress() (events int, through time.Time) {
	return p.correlator.Progress()
}

// writeEvery is how many changed incidents a re-correlation writes in one transaction
// (BenchmarkPutIncidents: 11,700 a second in groups of 2,000, 21,000 in groups of
// 8,000, 35,000 in groups of 32,000; about 40 MB held meanwhile. The 10M pass: 32.7 s
// against 36.6 s with 8,000, medians of 4 alternated).
const writeEvery = 32000

// seenIncident is what RecorrelateRange keeps of each incident the pass made: no
// pointer, so that a map of them is never marked by the collector.
type seenIncident struct {
	before, stored, after uint64
	last                  int64 // UnixNano
	rule                  uint8 // in seenIncidents.rules
	outside               bool
}

// seenIncidents are seenIncident by ID: under the ID's number when it is 16 lowercase
// hex digits (as the rules make them), else under the ID itself.
type seenIncidents struct {
	byNumber map[uint64]seenIncident
	byString map[string]seenIncident
	rules    []string // the rules' names, by seenIncident.rule
}

func (m seenIncidents) get(id string) (seenIncident, bool) {
	if n, ok := correlate.IDNumber(id); ok {
		s, found := m.byNumber[n]
		return s, found
	}
	s, found := m.byString[id]
	return s, found
}

func (m seenIncidents) set(id string, s seenIncident) {
	if n, ok := correlate.IDNumber(id); ok {
		m.byNumber[n] = s
	} else {
		m.byString[id] = s
	}
}

func (m seenIncidents) each(fn func(id string, s seenIncident)) {
	for n, s := range m.byNumber {
		fn(fmt.Sprintf("%016x", n), s)
	}
	for id, s := range m.byString {
		fn(id, s)
	}
}

// ruleNumber is the number of the rule named name in m.rules, added if new (the rules
// are a handful).
func (m *seenIncidents) ruleNumber(name string) uint8 {
	if i := slices.Index(m.rules, name); i >= 0 {
		return uint8(i)
	}
	m.rules = append(m.rules, name)
	return uint8(len(m.rules) - 1)
}

// passedIncident is what a re-correlation remembers of each incident it changed, for
// its summary: a few bytes, where a pass over months changes hundreds of thousands.
type passedIncident struct {
	rule    string
	outside bool // may be reported outside
	last    time.Time
}

// RecorrelationSummary is what the re-correlations of this pipeline changed: how many
// incidents, by rule, how many may be reported outside, and the newest few in full.
type RecorrelationSummary struct {
	Changed int            `json:"changed"`
	ByRule  map[string]int `json:"by_rule"`
	Outside int            `json:"reportable"`
	Newest  []IncidentInfo `json:"newest"` // the newest, by last event, oldest first; snake_case as every incident's JSON
}

// Recorrelated summarises the incidents the re-correlations changed since
// RecordChanges, with the newest limit of them read in full.
func (p *Pipeline) Recorrelated(limit int) (RecorrelationSummary, error) {
	sum := RecorrelationSummary{ByRule: map[string]int{}, Newest: []IncidentInfo{}}
	type idLast struct {
		id   string
		last time.Time
	}
	// The limit newest, newest first, kept as they come: not a sort of all of them (a
	// first pass over months changes hundreds of thousands).
	newer := func(a, b idLast) int { return cmp.Or(b.last.Compare(a.last), cmp.Compare(a.id, b.id)) }
	var newest []idLast
	for id, b := range p.passed {
		sum.Changed++
		sum.ByRule[cmp.Or(b.rule, "other")]++
		if b.outside {
			sum.Outside++
		}
		x := idLast{id, b.last}
		if len(newest) >= limit && (limit <= 0 || newer(x, newest[limit-1]) > 0) {
			continue
		}
		i, _ := slices.BinarySearchFunc(newest, x, newer)
		newest = slices.Insert(newest, i, x)
		newest = newest[:min(len(newest), limit)]
	}
	for _, x := range newest {
		inc, ok, err := p.store.Incident(x.id)
		if err != nil {
			return sum, err
		}
		if ok {
			sum.Newest = append(sum.Newest, IncidentInfo{Incident: inc})
		}
	}
	slices.Reverse(sum.Newest)
	return sum, nil
}

// keepRetention starts the background retention pass: at once, then every
// retention.interval, raw events older than retention.events and counters older than
// retention.counters (see Retain) are deleted in small transactions. The returned function stops it
// and waits; Run defers it so the pass ends before the store closes.
func (d *Daemon) keepRetention(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	r := d.cfg.Retention
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(r.Interval.Duration)
		defer tick.Stop()
		for {
			if err := Retain(ctx, d.store, r, d.cfg.Correlate, time.Now(), d.log.Info); err != nil && !errors.Is(err, context.Canceled) {
				d.log.Warn("retention pass", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	})
	return func() { cancel(); wg.Wait() }
}

// reportedKept is how long after its last event an incident that has a report is kept:
// retention.incidents, but at least the recurrence's period when that rule is on. A
// recurrence of its scope begins after it (and one of the short windows' holds lines a
// recurrence would tell again); deleted sooner, the same logs made a follow-up report
// or none, depending on whether retention ran before the follow-up's days were read.
func reportedKept(r RetentionConfig, k CorrelateConfig) time.Duration {
	if k.RecurrenceDays > 0 {
		return max(r.Incidents.Duration, k.RecurrencePeriod.Duration)
	}
	return r.Incidents.Duration
}

// logsClock is the time retention counts ages back from: the newest stored event, or
// now when that is earlier, not the clock alone (policy.max_age counts from now:
// reportCutoff), and whether the store held an event to count from. Reading an old log
// for the first time keeps what it read, and a clock that jumps forward deletes
// nothing on its own.
func logsClock(st *store.Store, now time.Time) (time.Time, bool, error) {
	newest, ok, err := st.NewestEvent()
	if err != nil {
		return now, false, err
	}
	if ok && newest.Before(now) {
		return newest, true, nil
	}
	return now, ok, nil
}

// retainReadNewest runs in Retain right after it read the newest stored event: a test
// commits there what a follower commits at that moment.
var retainReadNewest = func() {}

// Retain deletes what retention r no longer keeps and logs what it deleted; ages count
// back from logsClock. A store that holds no events when the pass reads its newest loses
// nothing but expired cached contacts: the events a follower commits meanwhile (the
// first batch of an old log, on the first start) are judged by the next pass, against
// the newest event then. Of the rules k, the recurrence's period says how long a reported
// incident is kept at least (reportedKept).
func Retain(ctx context.Context, st *store.Store, r RetentionConfig, k CorrelateConfig, now time.Time, logf func(string, ...any)) error {
	// The contact cache keeps an entry per address a registry was asked about, so
	// without this it grows with every attacker ever seen; its expiry is on the clock.
	contacts, err := st.PruneContacts(now)
	if err != nil {
		return err
	}
	now, stored, err := logsClock(st, now)
	if err != nil {
		return err
	}
	retainReadNewest()
	if !stored {
		// A store with no events yet: the daemon's first start. What a follower commits
		// from now on (an old log read for the first time) was not there when the cutoff
		// was set, and a cutoff from the wall clock would delete it; the next pass counts
		// back from its newest event instead.
		if contacts > 0 {
			logf("retention: deleted expired cached contacts", "contacts", contacts)
		}
		return nil
	}
	events, err := st.PruneEvents(ctx, now.Add(-r.Events.Duration), 0)
	if err != nil {
		return err
	}
	counters, err := st.PruneCounters(ctx, now.Add(-r.Counters.Duration), 0)
	if err != nil {
		return err
	}
	incidents, err := st.PruneIncidents(ctx, now.Add(-r.Incidents.Duration), now.Add(-reportedKept(r, k)), 0)
	if err != nil {
		return err
	}
	// The times networks were excluded hold back their raw events and the days of
	// their counters: kept while either is, and a day (a host's clock ahead).
	if err := st.ForgetPastExclusions(now.Add(-max(r.Events.Duration, r.Counters.Duration) - 24*time.Hour)); err != nil {
		return err
	}
	// The unknown shapes not seen while the raw events are kept (the tuning list).
	shapes, err := st.PruneShapes(now.Add(-r.Events.Duration))
	if err != nil {
		return err
	}
	mails, err := st.PruneReportMessages(ctx, now.Add(-r.Reports.Duration), 0)
	if err != nil {
		return err
	}
	if events+counters+incidents+shapes+mails+contacts > 0 {
		logf("retention: deleted old raw events, counters, incidents, unknown-record shapes, report mails and expired cached contacts", "events", events, "counters", counters,
			"incidents", incidents, "shapes", shapes, "report_mails", mails, "contacts", contacts, "events_before", now.Add(-r.Events.Duration).Format(time.DateOnly))
	}
	return nil
}
