package daemon

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/configs"
	"github.com/abusewatch/abusewatch/correlate"
	"github.com/abusewatch/abusewatch/detect"
	"github.com/abusewatch/abusewatch/lookup"
	"github.com/abusewatch/abusewatch/mailer"
	"github.com/abusewatch/abusewatch/store"
)

// Counters count what the pipeline did; they serve the tests, the scan summary and, later,
// status and metrics.
type Counters struct {
	Lines     atomic.Int64 // records read
	Unparsed  atomic.Int64 // records without a readable syslog header (garbage, binary, over-long)
	Normal    atomic.Int64 // records dropped by a normal rule
	Unknown   atomic.Int64 // records neither normal nor recognised
	Continued atomic.Int64 // PostgreSQL's lines that continue the record before (detect.Continuation)
	Events    atomic.Int64 // records recognised as events
	Skipped   atomic.Int64 // records older than --since
	Redated   atomic.Int64 // records dated more than maxSkew after they were read, or by a clock more than a month fast, dated when read (clock.go)
	Stale     atomic.Int64 // syslog messages an attack rule recognised, dated more than policy.max_age before they arrived: no event (clock.go)
	Duplicate atomic.Int64 // lines an attack rule recognised whose record another source carried first: no event (duplicates.go)
	// Lines an attack rule recognised whose record a scan found stored before (a merged
	// log's, a file read again with --reread): no event (scan_stored.go).
	AlreadyStored atomic.Int64
	Incidents     atomic.Int64 // incidents created or grown
	Reports       atomic.Int64 // reports written to the outbox
	Delivered     atomic.Int64 // reports delivered
	Alerted       atomic.Int64 // possible compromises mailed to the admin
	Batches       atomic.Int64 // batches committed
	// Events committed but not correlated (a stop between the two, a correlation that
	// failed), correlated later by CatchUp.
	CaughtUp atomic.Int64

	Lookups       atomic.Int64 // abuse-contact lookups
	LookupSeconds atomicFloat  // time spent in lookups
	// Lookups by result, each once: a contact found; an answer that names no one; no
	// registry answered (lookup.ErrNoAnswer: a timeout, a server's error, a rate limit);
	// an address on the do-not-contact list.
	LookupFound, LookupNotFound, LookupFailed, LookupDNC atomic.Int64

	mu      sync.Mutex
	byClass map[abusewatch.Class]int64 // events by class
}

// countClasses counts the events of evs by class.
func (c *Counters) countClasses(evs []abusewatch.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byClass == nil {
		c.byClass = map[abusewatch.Class]int64{}
	}
	for i := range evs {
		c.byClass[evs[i].Class]++
	}
}

// batchCounts are a batch's lines by what became of them, before it is committed.
type batchCounts struct{ unparsed, normal, unknown, continued, events, skipped, redated, stale, duplicate, stored int64 }

// ByClass returns the number of events of each class.
func (c *Counters) ByClass() map[abusewatch.Class]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.byClass)
}

// atomicFloat is a float64 that goroutines may add to.
type atomicFloat struct{ bits atomic.Uint64 }

func (f *atomicFloat) Add(v float64) {
	for {
		old := f.bits.Load()
		if f.bits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

func (f *atomicFloat) Load() float64 { return math.Float64frombits(f.bits.Load()) }

// Pipeline is the chain detect → store → correlate → lookup → mailer that both run and
// scan drive. It is safe for one goroutine feeding records and one reporting at a time.
type Pipeline struct {
	// marking keeps the outbox's marking of incidents as reported (writeReport) out of
	// Ingest's correlating and storing of a batch and out of a pass over history
	// (RecorrelateRange): both look whether an incident is reported and then write its
	// growth.
	marking    sync.Mutex
	cfg        *Config
	log        *slog.Logger
	store      *store.Store
	detector   *detect.Detector
	built      time.Time // when detector's rules began deciding what is read
	correlator *correlate.Correlator
	finder     *lookup.Finder
	composer   *mailer.Composer
	transport  mailer.Transport
	since      time.Time
	// With RecordChanges: the IDs of the incidents created or grown, and those changed by
	// re-correlation (RecorrelateRange). nil otherwise: the daemon would keep every ID it
	// ever made, tens of megabytes in a busy host's year.
	touched map[string]bool
	passed  map[string]passedIncident
	rules   Rules
	// Where the next round of Report goes on in the list of unreported incidents (the ID
	// after which it starts; "": the first).
	reportAfter string
	// How long a round of Report may spend on lookups before it leaves the rest of the
	// list to the next round: half of policy.report_interval; 0: no limit (scan).
	roundBudget time.Duration
	// What the last round of Report took up of the list, kept when changes are recorded
	// (RecordChanges: a scan's table says why each incident has no report).
	lastRound *roundTaken
	// How long after its first event an incident gets no report (policy.settle), so that
	// a login read meanwhile holds it (settledAt).
	settle time.Duration
	// scanned: a scan's pipeline, whose incidents made or grown (touched) were read
	// whole: policy.settle does not hold them; it holds those the daemon left waiting.
	scanned bool
	// scanStored: a scan's events stored before it, which its records are not stored
	// again as (scan_stored.go); nil outside Scan. reread: Scan reads each file whole,
	// what was read of it before too (Reread).
	scanStored *storedRecords
	reread     bool

	Counters *Counters // shared with the pipeline a reload replaces
	// The incidents the last rounds found no contact for, and why (shared like Counters).
	misses *contactMisses
	alerts *alertMarks // the possible compromises mailed to the admin
	// senders: the syslog listener's, for the summary (syslogSenders).
	senders *syslogSenders
	quiet   logLimiter   // the warnings of hosts' clocks (checkClock), per source and host
	stepped clockBack    // the warnings of stored times after now: the daemon's clock was set back
	times   *sourceTimes // each source's last time, for the repeated hour of autumn (shared like Counters)
	// copies: the records of the last minutes, so that one two sources carry counts
	// once (duplicates.go; shared like Counters).
	copies *recordCopies
	// behind: the store may hold events committed but not correlated (a stop between a
	// batch's commit and its incidents, a correlation that failed), which CatchUp
	// correlates. Set at start and by a failed correlation.
	behind bool
	// recorrelated is the end of the last periodic re-correlation (Recorrelate); zero
	// before the first.
	recorrelated time.Time
}

// neverReport is policy.never_report as networks, and our own hosts' addresses
// (ownAddresses).
func (c *Config) neverReport() []netip.Prefix {
	never := make([]netip.Prefix, 0, len(c.Policy.NeverReport))
	for _, n := range c.Policy.NeverReport {
		p, _ := parseNetwork(n) // validated
		never = append(never, p)
	}
	return append(never, c.ownNetworks()...)
}

// NewPipeline builds every stage from cfg around an open store. It fails with the
// config or rule file's location when any of them is invalid.
func NewPipeline(cfg *Config, st *store.Store, log *slog.Logger) (*Pipeline, error) {
	rules, err := LoadRules(cfg)
	if err != nil {
		return nil, err
	}
	for _, w := range rules.Warnings { // at start, at reload, and in scan's output
		log.Warn(w.Error())
	}
	corr, err := newCorrelator(cfg, st)
	if err != nil {
		return nil, err
	}
	finder, err := NewFinder(cfg, st)
	if err != nil {
		return nil, err
	}
	composer, err := NewComposer(cfg)
	if err != nil {
		return nil, err
	}
	transport, err := NewTransport(cfg)
	if err != nil {
		return nil, err
	}
	return &Pipeline{
		cfg:         cfg,
		log:         log,
		store:       st,
		detector:    NewDetector(cfg, rules),
		built:       time.Now(),
		correlator:  corr,
		finder:      finder,
		composer:    composer,
		transport:   transport,
		rules:       rules,
		roundBudget: cfg.Policy.ReportInterval.Duration / 2,
		settle:      cfg.Policy.Settle.Duration,
		Counters:    &Counters{},
		misses:      &contactMisses{st: st},
		alerts:      &alertMarks{st: st},
		senders:     &syslogSenders{},
		quiet:       logLimiter{every: quietInterval},
		times:       &sourceTimes{},
		copies:      cfg.recordCopies(),
		behind:      true,
	}, nil
}

// Rules are the loaded normal and attack rules.
type Rules struct {
	Normal *detect.NormalRules
	Attack *detect.AttackRules
	// Warnings are what loads but may not do what the admin meant, with file and line:
	// normal rules that never match, files of a rule directory not read, attack rules
	// of a class nothing counts (a typo). The daemon logs them at start and reload,
	// check-config prints them.
	Warnings []*detect.RuleError
}

// LoadRules loads the shipped rules (unless detect.builtin_rules is false) and the
// configured directories. Every rule that does not compile is reported with its file and
// line (a detect.RuleErrors); the daemon then refuses to start or, on reload, keeps the
// rules it runs with, so a typo never silently drops the rules after it.
func LoadRules(cfg *Config) (Rules, error) {
	var normal, attack []detect.RuleDir
	if *cfg.Detect.BuiltinRules {
		normal = append(normal, detect.RuleDir{FS: configs.FS, Dir: "rules/normal.d", Name: "(built in) configs/rules/normal.d"})
		attack = append(attack, detect.RuleDir{FS: configs.FS, Dir: "rules/attack.d", Name: "(built in) configs/rules/attack.d"})
	}
	for _, d := range cfg.Detect.NormalDirs {
		normal = append(normal, detect.RuleDir{FS: os.DirFS(d), Dir: ".", Name: d})
	}
	for _, d := range cfg.Detect.AttackDirs {
		attack = append(attack, detect.RuleDir{FS: os.DirFS(d), Dir: ".", Name: d})
	}
	var r Rules
	var bad detect.RuleErrors
	var nerr, aerr error
	r.Normal, nerr = detect.LoadNormalRuleDirs(normal...)
	r.Attack, aerr = detect.LoadAttackRuleDirs(attack...)
	for i, err := range []error{nerr, aerr} {
		var errs detect.RuleErrors
		var unreadable *detect.RuleFileError
		switch {
		case err == nil:
		case errors.As(err, &errs):
			bad = append(bad, errs...)
		case errors.As(err, &unreadable) && cfg.file != "":
			return r, cfg.unreadableRuleFile([]string{"detect.normal_dirs", "detect.attack_dirs"}[i], unreadable)
		default:
			return r, err // a directory that cannot be read
		}
	}
	r.Warnings = slices.Concat(r.Normal.Warnings(), r.Attack.Warnings(), cfg.classWarnings(r.Attack))
	if bad != nil {
		return r, bad
	}
	return r, cfg.checkReportable(r.Attack)
}

// unreadableRuleFile is the error of a rule file in a configured directory that the
// user running this may not read, named as the config names it: the key, the directory
// with the file, the user; and for a file its group may read (Debian's logcheck rule
// files are root:logcheck 0640), the fix.
func (c *Config) unreadableRuleFile(key string, e *detect.RuleFileError) error {
	uid := uint32(os.Geteuid())
	ce := &ConfigError{File: c.file, Line: keyOrTableLine(c.doc, key), Key: key,
		Problem: fmt.Sprintf("rule file %q cannot be read by %s: %v%s", e.Path, describeUser(uid), e.Err, relativeTo(e.Dir.Name))}
	if fi, err := os.Stat(e.Path); err == nil && errors.Is(e.Err, fs.ErrPermission) && fi.Mode().Perm()&0o040 != 0 {
		group, user := fileGroup(e.Path), userName(uid)
		ce.Hint = fmt.Sprintf("the file's group %s may read it: add %s to that group (usermod -aG %s %s) and restart the daemon", group, user, group, user)
	}
	return ce
}

// classWarnings name, at its first rule, each class of an attack rule that neither
// abusewatch, nor a shipped rule, nor correlate.reportable names: its events are kept
// but never make an incident of one address, and "auth-failur" made nothing, silently.
// A class of events with no remote end (local-…) makes none whatever its name, and
// nothing else reads it: it is left alone.
func (c *Config) classWarnings(attack *detect.AttackRules) []*detect.RuleError {
	known := append(ownClasses(), c.Correlate.Reportable...)
	shipped, _ := detect.AttackRuleClasses(detect.RuleDir{FS: configs.FS, Dir: "rules/attack.d", Name: "(built in)"})
	for _, cl := range shipped {
		known = append(known, string(cl))
	}
	var warn []*detect.RuleError
	var named []abusewatch.Class
	for _, r := range attack.RuleClasses() {
		if slices.Contains(known, string(r.Class)) || slices.Contains(named, r.Class) || strings.HasPrefix(string(r.Class), "local-") {
			continue
		}
		named = append(named, r.Class)
		problem := fmt.Sprintf("class %s: no shipped rule makes it and [correlate] reportable does not list it, so its events never make an incident of one address", r.Class)
		if near := Nearest(string(r.Class), known); near != "" {
			problem += fmt.Sprintf("; did you mean %s?", near)
		} else {
			problem += ": if it is a class to report, list it in [correlate] reportable"
		}
		warn = append(warn, &detect.RuleError{File: r.File, Line: r.Line, Err: errors.New(problem)})
	}
	return warn
}

// NewFinder builds the lookup stage from the config. cache keeps the registries' answers
// for the addresses asked about (the store, so they outlive a restart); nil keeps them
// in memory.
func NewFinder(cfg *Config, cache lookup.Cache) (*lookup.Finder, error) {
	opts := lookupOptions(cfg)
	opts.Cache = cache
	return lookup.New(opts)
}

// NewComposer builds the memo writer from the config's reporter and template.
func NewComposer(cfg *Config) (*mailer.Composer, error) {
	tmpl, err := fs.ReadFile(configs.FS, "report.tmpl")
	if err != nil {
		return nil, err
	}
	if cfg.Mail.Template != "" {
		if tmpl, err = os.ReadFile(cfg.Mail.Template); err != nil {
			return nil, &ConfigError{File: cfg.file, Line: keyLine(cfg.doc, "mail.template"), Key: "mail.template", Problem: err.Error()}
		}
	}
	r := cfg.Reporter
	c, err := mailer.NewComposer(string(tmpl), mailer.Reporter{
		Name: r.Name, Organisation: r.Organisation, Role: r.Role, Email: r.Email,
		Location: Location(r.Timezone),
	}, cfg.Mail.From)
	if err != nil {
		if cfg.Mail.Template != "" {
			// The mailer names the template report.tmpl; the admin's file is this one.
			return nil, &ConfigError{File: cfg.file, Line: keyLine(cfg.doc, "mail.template"), Key: "mail.template",
				Problem: fmt.Sprintf("%s: %s", cfg.Mail.Template, strings.Replace(err.Error(), "report.tmpl:", filepath.Base(cfg.Mail.Template)+":", 1))}
		}
		return nil, fmt.Errorf("report template: %w", err)
	}
	return c, nil
}

// NewTransport builds the configured way out: an SMTP relay or a local maildir.
func NewTransport(cfg *Config) (mailer.Transport, error) {
	m := cfg.Mail
	if m.Transport == "maildir" {
		return &mailer.Maildir{Dir: m.Maildir}, nil
	}
	var password string
	if m.PasswordFile != "" {
		b, err := os.ReadFile(m.PasswordFile)
		if err != nil {
			return nil, &ConfigError{File: cfg.file, Line: keyLine(cfg.doc, "mail.password_file"), Key: "mail.password_file", Problem: err.Error()}
		}
		password = strings.TrimSpace(string(b))
	}
	tlsConfig := &tls.Config{ServerName: m.TLSServerName}
	if m.CAFile != "" {
		roots, err := loadCAFile(m.CAFile)
		if err != nil {
			return nil, &ConfigError{File: cfg.file, Line: keyLine(cfg.doc, "mail.ca_file"), Key: "mail.ca_file", Problem: err.Error()}
		}
		tlsConfig.RootCAs = roots
	}
	host, _ := os.Hostname()
	return &mailer.SMTP{
		Addr: m.Server, TLS: m.TLS, Username: m.Username, Password: password,
		From: m.From, HeloName: host, TLSConfig: tlsConfig,
		Timeout: m.Timeout.Duration, ReplyTimeout: m.ReplyTimeout.Duration,
		// A stop lets a delivery under way go on this long, within the unit's
		// TimeoutStopSec (45s) with the rest of the stop.
		StopGrace: min(m.Timeout.Duration, maxStopGrace),
	}, nil
}

// maxStopGrace is the longest a stop waits for a delivery under way (mailer.SMTP's
// StopGrace): deploy/abusewatch.service gives the whole stop 45 seconds.
const maxStopGrace = 30 * time.Second

// loadCAFile reads mail.ca_file: the PEM certificates (the relay's own, or the CA that
// issued it) trusted for the relay instead of the system's roots. Its errors name the
// file and what is wrong with it.
func loadCAFile(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read the relay's CA certificates: %w", err)
	}
	roots := x509.NewCertPool()
	n := 0
	for rest := b; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue // a key or parameters beside the certificate
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: certificate %d does not parse: %w", path, n+1, err)
		}
		roots.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("%s holds no PEM certificate (a block from -----BEGIN CERTIFICATE----- to -----END CERTIFICATE-----): give the relay's certificate, or the CA's that issued it, in PEM", path)
	}
	return roots, nil
}

// contact finds the abuse contact of addr, counting lookups, failures and their time.
func (p *Pipeline) contact(ctx context.Context, addr netip.Addr) (abusewatch.Contact, error) {
	start := time.Now()
	c, err := p.finder.Contact(ctx, addr)
	p.countLookup(start, err)
	return c, err
}

// countLookup counts a lookup that started at start and ended with err, by its result.
func (p *Pipeline) countLookup(start time.Time, err error) {
	p.Counters.Lookups.Add(1)
	p.Counters.LookupSeconds.Add(time.Since(start).Seconds())
	switch {
	case err == nil:
		p.Counters.LookupFound.Add(1)
	case errors.Is(err, lookup.ErrNoAnswer):
		p.Counters.LookupFailed.Add(1)
	case errors.Is(err, lookup.ErrDoNotContact):
		p.Counters.LookupDNC.Add(1)
	default:
		p.Counters.LookupNotFound.Add(1)
	}
}

// lookupResults are the lookups by result, for the metrics.
func (c *Counters) lookupResults() map[string]int64 {
	return map[string]int64{"found": c.LookupFound.Load(), "not-found": c.LookupNotFound.Load(),
		"failed": c.LookupFailed.Load(), "do-not-contact": c.LookupDNC.Load()}
}

// SetTransport replaces the way out (tests use it to trust a loopback server's certificate).
func (p *Pipeline) SetTransport(t mailer.Transport) { p.transport = t }

// Ingest runs records through detect, commits the events with the positions reached in
// one transaction, and correlates them.
func (p *Pipeline) Ingest(ctx context.Context, recs []abusewatch.Record, positions []store.Position) error {
	events := make([]abusewatch.Event, 0, len(recs)/4)
	var shapes map[string]*store.Shape // the batch's unknown records, by shape
	// The batch's counts reach Counters once it is committed: a batch the store refused
	// (a full disk) is read again, and would be counted at every try.
	var n batchCounts
	var senders map[string]time.Time // the syslog listener's senders of the batch: when read
	// Events counts the lines an attack rule recognised: with normal, unknown,
	// continued and unparsed, every line once. An unknown line with an address in a trusted position
	// is stored as an event of class unknown too, but counted as unknown, as `rules test`
	// counts it.
	stale := false // the record's event is kept out (checkClock)
	copies := p.copies.begin()
	keep := func(rec abusewatch.Record, v *detect.Verdict, recognised bool) {
		ev := v.Event
		if stale {
			// With normal, unknown, unparsed and events, every line once: an unknown
			// line's event kept out is counted unknown.
			if recognised {
				n.stale++
			}
			return
		}
		if !p.since.IsZero() && ev.Time.Before(p.since) {
			n.skipped++
			return
		}
		if copies.duplicate(rec.Source, v.Header, ev, recognised) {
			if recognised {
				n.duplicate++
			}
			return
		}
		if p.storedBefore(&ev) {
			if recognised {
				n.stored++
			}
			return
		}
		if recognised {
			n.events++
		}
		events = append(events, ev)
	}
	// Each source's lines are read in the order they were written: their local times
	// of autumn's repeated hour are dated by that order.
	times := p.times.begin()
	for _, rec := range recs {
		v := p.detector.ExplainInOrder(rec, times.source(rec.Source))
		stale = false
		if v.Outcome != detect.Unparsed && v.Outcome != detect.Continuation {
			stale = p.checkClock(rec, &v, &n)
		}
		if rec.Source == syslogSource && v.Outcome != detect.Unparsed && v.Header.Host != "" {
			if senders == nil {
				senders = map[string]time.Time{}
			}
			if rec.Read.After(senders[v.Header.Host]) {
				senders[v.Header.Host] = rec.Read
			}
		}
		switch v.Outcome {
		case detect.Unparsed:
			n.unparsed++
		case detect.Normal:
			n.normal++
		case detect.Continuation:
			n.continued++
		case detect.Unknown:
			n.unknown++
			key := detect.Shape(v.Header.Program, v.Header.Message)
			switch sh := shapes[key]; {
			case p.scanStored.tallied(rec): // read again (scan --reread): tallied when first read
			case sh != nil:
				sh.Count++
				if v.Header.Time.Before(sh.First) {
					sh.First = v.Header.Time
				}
				if v.Header.Time.After(sh.Last) {
					sh.Last = v.Header.Time
				}
			default:
				if shapes == nil {
					shapes = map[string]*store.Shape{}
				}
				shapes[key] = &store.Shape{Shape: key, Count: 1, First: v.Header.Time, Last: v.Header.Time, Sample: rec.Line}
			}
			// An address in a generic trusted position makes an event of class
			// "unknown": correlated and summarised, reported only where the policy says.
			if v.Event.Class != "" {
				keep(rec, &v, false)
			}
		case detect.Recognised:
			keep(rec, &v, true)
		}
	}
	// Events an earlier batch committed and did not correlate (a correlation that
	// failed, or a start that did not catch up) are correlated first: when that fails
	// too, the batch is still committed (reading goes on), and its correlation leaves
	// the mark where it is.
	var catchUpErr error
	if p.behind {
		if catchUpErr = p.CatchUp(ctx); catchUpErr != nil {
			catchUpErr = &afterCommitError{catchUpErr}
		}
	}
	if ingestFault != nil {
		if err := ingestFault(recs, false); err != nil {
			return err
		}
	}
	stored, err := p.store.Commit(events, positions)
	if err != nil {
		return err
	}
	times.keep()
	copies.keep(p.log)
	if senders != nil {
		p.senders.saw(senders)
	}
	c := p.Counters
	c.Lines.Add(int64(len(recs)))
	c.Unparsed.Add(n.unparsed)
	c.Normal.Add(n.normal)
	c.Unknown.Add(n.unknown)
	c.Continued.Add(n.continued)
	c.Events.Add(n.events)
	c.Skipped.Add(n.skipped)
	c.Redated.Add(n.redated)
	c.Stale.Add(n.stale)
	c.Duplicate.Add(n.duplicate)
	c.AlreadyStored.Add(n.stored)
	c.countClasses(events)
	var shapesErr error
	if ingestFault != nil {
		if err := ingestFault(recs, true); err != nil {
			shapesErr = &afterCommitError{fmt.Errorf("tallying the unknown records' shapes: %w", err)}
		}
	}
	if len(shapes) > 0 && shapesErr == nil {
		// Shapes are tuning statistics, not evidence: a crash between the two commits
		// loses (or, on a re-read, repeats) one batch's counts, never an event, and
		// a tally the store refuses does not keep the batch from being correlated
		// (nothing would correlate its events later).
		batch := make([]store.Shape, 0, len(shapes))
		for _, sh := range shapes {
			batch = append(batch, *sh)
		}
		if err := p.store.AddShapes(batch); err != nil {
			shapesErr = &afterCommitError{fmt.Errorf("tallying the unknown records' shapes: %w", err)}
		}
	}
	p.Counters.Batches.Add(1)
	// A committed batch is correlated even when the caller stops meanwhile (SIGTERM, a
	// scan's Ctrl-C): one batch is a moment's work, as the daemon's last flush is. What
	// a SIGKILL or a failed correlation leaves is past the store's correlation mark, and
	// CatchUp correlates it: at the next start, or after the next batch.
	incs, err := p.correlateAndStore(context.WithoutCancel(ctx), stored)
	if err != nil {
		p.behind = true
		return errors.Join(catchUpErr, shapesErr, &afterCommitError{fmt.Errorf("correlating the batch (it is correlated again before the next batch, or at the next start): %w", err)})
	}
	p.Counters.Incidents.Add(int64(len(incs)))
	if p.touched != nil {
		for _, inc := range incs {
			p.touched[inc.ID] = true
		}
	}
	return errors.Join(catchUpErr, shapesErr)
}

// checkClock holds v, the verdict on rec, to the rule of clock.go: no record is dated
// after it was read (its event neither). One dated more than maxSkew after it was read,
// or a syslog message's year-less one that a clock more than a month fast put more than
// max_age back, is counted (redated) and its host's clock warned of, with the offset seen (once
// a minute per source and host, with the count so far). A syslog message dated more than
// policy.max_age before it arrived is warned of the same way, and stale says that it
// makes no event.
func (p *Pipeline) checkClock(rec abusewatch.Record, v *detect.Verdict, n *batchCounts) (stale bool) {
	t, shift := v.Header.Time, rec.HostsAhead[v.Header.Host]
	if shift > 0 {
		// Lines read at once (a scan's file, a followed file's backlog, a journal's
		// read, a relay's flush): the host's lines are all dated earlier by as much as
		// its last is after it was written, which keeps their spacing (clock.go).
		t = t.Add(-shift)
	}
	j := clockRule{maxAge: p.cfg.Policy.MaxAge.Duration, zone: p.cfg.Detect.Timezone}.judge(rec, t)
	if j.verdict == clockAhead {
		j.offset += shift // how far ahead the host dated the line
	} else if j.verdict == clockBelieved && shift > maxSkew {
		j.verdict, j.offset = clockShifted, shift
	}
	switch j.verdict {
	case clockShifted:
		n.redated++
		p.logClock("ahead", rec, v.Header, "the host's last line of those read at once (a scan's file, a followed file's backlog, a journal's read, a relay's flush) "+
			"is dated more than 5 minutes after it was written: every line of the host among them is dated that much earlier, which keeps their spacing; the clock of the host is fast, "+
			"or the host writes its local time without an offset from another zone than detect.timezone",
			"ahead", offsetText(j.offset), "redated", p.Counters.Redated.Load()+n.redated)
	case clockAhead:
		n.redated++
		p.logClock("ahead", rec, v.Header, "a line dated more than 5 minutes after it was read is dated when it was read: the clock of the host that wrote it is fast, "+
			"or the host writes its local time without an offset from another zone than detect.timezone",
			"ahead", offsetText(j.offset), "redated", p.Counters.Redated.Load()+n.redated)
	case clockFast:
		n.redated++
		p.logClock("ahead", rec, v.Header, "syslog: a message without a year, dated more than policy.max_age before it arrived, is dated when it arrived: "+
			"the clock of the host that wrote it is more than a month fast (its time is next year's, not last year's)",
			"ahead", offsetText(j.offset), "redated", p.Counters.Redated.Load()+n.redated)
	case clockBehind:
		p.logClock("behind", rec, v.Header, "syslog: a message dated more than policy.max_age before it arrived makes no event: the sender's clock is far behind, or a relay held the message that long",
			"behind", offsetText(j.offset), "max_age", p.cfg.Policy.MaxAge.String())
		return true
	}
	v.Header.Time = j.time
	if v.Event.Class != "" {
		v.Event.Time = j.time
	}
	return false
}

// logClock warns of the clock of h's host, which wrote rec, at most once a minute per
// source, host and kind.
func (p *Pipeline) logClock(kind string, rec abusewatch.Record, h detect.Header, msg string, args ...any) {
	ok, held := p.quiet.allow(kind+" "+rec.Source+" "+h.Host, time.Now())
	if !ok {
		return
	}
	args = append([]any{"source", rec.Source, "host", h.Host, "dated", h.Time.UTC().Format(time.RFC3339), "read", rec.Read.UTC().Format(time.RFC3339)}, args...)
	if held > 0 {
		args = append(args, "not_logged_since", held)
	}
	p.log.Warn(msg, args...)
}

// ingestFault, when not nil, is called by Ingest with each batch just before its commit
// (committed false: an error is taken as the store's refusal of the commit) and just
// after it (true: as the store's refusal of the unknown lines' tally, which follows).
// Only tests set it: short of damaging the database or filling the disk, nothing makes
// either fail on demand, and a scan must stop at the one and read on after the other.
var ingestFault func(recs []abusewatch.Record, committed bool) error

// afterCommitError is an error of Ingest after it committed the batch (in storing its
// shapes, or in correlating it): the batch is in the store and must not be ingested
// again, or its events are stored twice. A batch of the syslog listener carries no
// position that the store could show it by.
type afterCommitError struct{ err error }

func (e *afterCommitError) Error() string { return e.err.Error() }
func (e *afterCommitError) Unwrap() error { return e.err }

// correlateAndStore correlates the stored events of a batch and stores the incidents
// they made or grew, with no report marked in between (marking), and with them the
// store's correlation mark past the batch, unless an earlier batch waits for CatchUp
// (behind). A batch that makes no incident moves the mark with the next transaction
// that writes it: a transaction of its own would be a second sync for each batch.
func (p *Pipeline) correlateAndStore(ctx context.Context, stored []abusewatch.Event) ([]abusewatch.Incident, error) {
	p.marking.Lock()
	defer p.marking.Unlock()
	incs, err := p.correlator.Correlate(ctx, stored)
	if err != nil || len(stored) == 0 {
		return nil, err
	}
	var through uint64 // the batch's last Seq: Commit gives them out in order
	if !p.behind {
		through = stored[len(stored)-1].Seq
	}
	if len(incs) == 0 {
		p.store.NoteCorrelated(through)
		return nil, nil
	}
	return incs, p.store.PutBatchIncidents(incs, through)
}

// RecordChanges makes the pipeline remember the incidents it creates, grows or changes
// from now on, for Touched and Recorrelated: the one-shot commands (scan, correlate)
// report on them.
func (p *Pipeline) RecordChanges() {
	p.touched, p.passed = map[string]bool{}, map[string]passedIncident{}
}

// TouchedIncident is an incident this pipeline created or made grow, with its report.
type TouchedIncident struct {
	Incident abusewatch.Incident
	Reported bool
	Report   abusewatch.Report
	// Of a network incident split among parties, the other parties' reports (not
	// rejected), oldest first: each party's share is a report of its own.
	Shares []abusewatch.Report
	// Why it is not reported outside ("": its report is written at the next round), as
	// Unreported says.
	Unreported string
}

// Touched returns the incidents created or grown since RecordChanges, as stored now, each
// with the report that covers it, or why none will.
func (p *Pipeline) Touched(now time.Time) ([]TouchedIncident, error) {
	why, err := p.unreported(now)
	if err != nil {
		return nil, err
	}
	var out []TouchedIncident
	shares := &reportIndex{st: p.store}
	for id := range p.touched {
		inc, ok, err := p.store.Incident(id)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue // pardoned since
		}
		t := TouchedIncident{Incident: inc}
		id, ok, err := p.store.ReportFor(inc.ID)
		if err != nil {
			return nil, err
		}
		if ok {
			if t.Report, t.Reported, err = p.store.Report(id); err != nil {
				return nil, err
			}
		}
		if !t.Reported {
			t.Unreported = why.Incident(inc)
		}
		if t.Reported {
			if t.Shares, err = shares.others(inc, t.Report.ID); err != nil {
				return nil, err
			}
		}
		out = append(out, t)
	}
	slices.SortStableFunc(out, func(a, b TouchedIncident) int {
		return cmp.Or(a.Incident.First.Compare(b.Incident.First), cmp.Compare(a.Incident.ID, b.Incident.ID))
	})
	return out, nil
}

// Check builds every part the config names (rules, template, lookup, transport, sources)
// without opening the store, and summarises what it found.
func Check(cfg *Config) (string, error) {
	rules, err := LoadRules(cfg)
	if err != nil {
		return "", err
	}
	if _, err := NewFinder(cfg, nil); err != nil {
		return "", err
	}
	if _, err := NewComposer(cfg); err != nil {
		return "", err
	}
	if _, err := NewTransport(cfg); err != nil {
		return "", err
	}
	files, err := ExpandSources(cfg)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s, %s, %s, mode %s", Counted(rules.Normal.Len(), "normal rule"), Counted(rules.Attack.Len(), "attack rule"),
		Counted(len(files), "log file"), cfg.Policy.Mode), nil
}

// Counted is n and noun, plural unless n is 1: "1 log file", "6 log files".
func Counted(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
