package daemon

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"strings"
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
	Events    atomic.Int64 // records recognised as events
	Skipped   atomic.Int64 // records older than --since
	Incidents atomic.Int64 // incidents created or grown
	Reports   atomic.Int64 // reports written to the outbox
	Delivered atomic.Int64 // reports delivered
	Batches   atomic.Int64 // batches committed
}

// Pipeline is the chain detect → store → correlate → lookup → mailer that both run and
// scan drive. It is safe for one goroutine feeding records and one reporting at a time.
type Pipeline struct {
	cfg        *Config
	log        *slog.Logger
	store      *store.Store
	detector   *detect.Detector
	correlator *correlate.Correlator
	finder     *lookup.Finder
	composer   *mailer.Composer
	transport  mailer.Transport
	since      time.Time
	touched    map[string]bool // IDs of the incidents created or grown

	Counters Counters
}

// NewPipeline builds every stage from cfg around an open store. It fails with the
// config or rule file's location when any of them is invalid.
func NewPipeline(cfg *Config, st *store.Store, log *slog.Logger) (*Pipeline, error) {
	rules, err := LoadRules(cfg)
	if err != nil {
		return nil, err
	}
	never := make([]netip.Prefix, 0, len(cfg.Policy.NeverReport))
	for _, n := range cfg.Policy.NeverReport {
		p, _ := parseNetwork(n) // validated
		never = append(never, p)
	}
	classes := make([]abusewatch.Class, len(cfg.Correlate.Reportable))
	for i, c := range cfg.Correlate.Reportable {
		classes[i] = abusewatch.Class(c)
	}
	corr, err := correlate.New(correlate.Options{
		Threshold:  cfg.Correlate.Threshold,
		Window:     cfg.Correlate.Window.Duration,
		Reportable: classes,
		Never:      never,
		Evidence:   cfg.Correlate.Evidence,
	}, st, st)
	if err != nil {
		return nil, err
	}
	finder, err := NewFinder(cfg)
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
		cfg:        cfg,
		log:        log,
		store:      st,
		detector:   detect.New(rules.Normal, rules.Attack, Location(cfg.Detect.Timezone)),
		correlator: corr,
		finder:     finder,
		composer:   composer,
		transport:  transport,
		touched:    map[string]bool{},
	}, nil
}

// Rules are the loaded normal and attack rules.
type Rules struct {
	Normal *detect.NormalRules
	Attack *detect.AttackRules
}

// LoadRules loads the shipped rules (unless detect.builtin_rules is false) and the
// configured directories. A rule that does not compile is an error with file and line.
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
	var err error
	if r.Normal, err = detect.LoadNormalRuleDirs(normal...); err != nil {
		return r, err
	}
	r.Attack, err = detect.LoadAttackRuleDirs(attack...)
	return r, err
}

// NewFinder builds the lookup stage from the config.
func NewFinder(cfg *Config) (*lookup.Finder, error) {
	var static []lookup.StaticContact
	for _, c := range cfg.Contacts {
		p, _ := netip.ParsePrefix(c.Network) // validated
		static = append(static, lookup.StaticContact{Network: p.Masked(), Emails: c.Emails})
	}
	return lookup.New(lookup.Options{
		Resolvers:    cfg.Lookup.Resolvers,
		Timeout:      cfg.Lookup.Timeout.Duration,
		RDAP:         *cfg.Lookup.RDAP,
		BootstrapDir: cfg.Lookup.BootstrapDir,
		Static:       static,
	})
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
	host, _ := os.Hostname()
	return &mailer.SMTP{
		Addr: m.Server, TLS: m.TLS, Username: m.Username, Password: password,
		From: m.From, HeloName: host, Timeout: m.Timeout.Duration,
	}, nil
}

// SetTransport replaces the way out (tests use it to trust a loopback server's certificate).
func (p *Pipeline) SetTransport(t mailer.Transport) { p.transport = t }

// Ingest runs records through detect, commits the events with the positions reached in
// one transaction, and correlates them.
func (p *Pipeline) Ingest(ctx context.Context, recs []abusewatch.Record, positions []store.Position) error {
	events := make([]abusewatch.Event, 0, len(recs)/4)
	for _, rec := range recs {
		p.Counters.Lines.Add(1)
		outcome, ev := p.detector.Classify(rec)
		switch outcome {
		case detect.Unparsed:
			p.Counters.Unparsed.Add(1)
		case detect.Normal:
			p.Counters.Normal.Add(1)
		case detect.Unknown:
			p.Counters.Unknown.Add(1)
		case detect.Recognised:
			if !p.since.IsZero() && ev.Time.Before(p.since) {
				p.Counters.Skipped.Add(1)
				continue
			}
			p.Counters.Events.Add(1)
			events = append(events, ev)
		}
	}
	stored, err := p.store.Commit(events, positions)
	if err != nil {
		return err
	}
	p.Counters.Batches.Add(1)
	incs, err := p.correlator.Correlate(ctx, stored)
	if err != nil {
		return err
	}
	if len(incs) == 0 {
		return nil
	}
	if err := p.store.PutIncidents(incs); err != nil {
		return err
	}
	p.Counters.Incidents.Add(int64(len(incs)))
	for _, inc := range incs {
		p.touched[inc.ID] = true
	}
	return nil
}

// TouchedIncident is an incident this pipeline created or made grow, with its report.
type TouchedIncident struct {
	Incident abusewatch.Incident
	Reported bool
	Report   abusewatch.Report
}

// Touched returns the incidents created or grown since the pipeline was built, as stored
// now, each with the report that covers it.
func (p *Pipeline) Touched() ([]TouchedIncident, error) {
	all, err := p.store.Incidents()
	if err != nil {
		return nil, err
	}
	var out []TouchedIncident
	for _, inc := range all {
		if !p.touched[inc.ID] {
			continue
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
		out = append(out, t)
	}
	return out, nil
}

// Excluded says whether addr is in a network that is never reported.
func (p *Pipeline) Excluded(addr netip.Addr) bool { return p.correlator.Excluded(addr) }

// Check builds every part the config names (rules, template, lookup, transport, sources)
// without opening the store, and summarises what it found.
func Check(cfg *Config) (string, error) {
	rules, err := LoadRules(cfg)
	if err != nil {
		return "", err
	}
	if _, err := NewFinder(cfg); err != nil {
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
	return fmt.Sprintf("%d normal rules, %d attack rules, %d log files, mode %s",
		rules.Normal.Len(), rules.Attack.Len(), len(files), cfg.Policy.Mode), nil
}
