package daemon

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/abusewatch/abusewatch/store"
)

// Status is what `abusewatch status` shows.
type Status struct {
	PID           int              `json:"pid"`
	Started       time.Time        `json:"started"`
	UptimeSeconds float64          `json:"uptime_seconds"`
	Config        string           `json:"config"`
	Mode          string           `json:"mode"`
	Sources       []SourceStatus   `json:"sources"`
	Counters      map[string]int64 `json:"counters"`
	Store         store.Stats      `json:"store"`
	Exclusions    int              `json:"exclusions"`
	Outbox        OutboxStatus     `json:"outbox_round"`
	// Incidents the last rounds found no abuse contact for (tried again every round).
	WithoutContact int `json:"without_contact"`
	// Mailboxes that refused a report for good: reports to them wait for the admin.
	Refused    []store.RefusedMailbox `json:"refused_mailboxes,omitempty"`
	LastErrors []LogEntry             `json:"last_errors"`

	// The store refuses to commit what was read (a full disk): absent while it takes it.
	StoreRefuses *StoreRefusal `json:"store_refuses,omitempty"`
}

// SourceStatus is one source: its counters and, for a file, how far it has been read.
type SourceStatus struct {
	SourceStats
	Offset int64  `json:"offset"` // committed position (files)
	Size   int64  `json:"size"`   // the file's size now (files)
	Error  string `json:"error,omitempty"`
}

// status gathers the Status. It does not wait on the main loop: a batch of a flood, or a
// re-correlation, runs there, and status is what the admin asks then.
func (d *Daemon) status() Status {
	pipe := d.current.Load()
	c := pipe.Counters
	st := Status{
		PID:           os.Getpid(),
		Started:       d.started,
		UptimeSeconds: time.Since(d.started).Seconds(),
		Config:        pipe.cfg.file,
		Mode:          pipe.cfg.Policy.Mode,
		Counters: map[string]int64{
			"lines": c.Lines.Load(), "unparsed": c.Unparsed.Load(), "normal": c.Normal.Load(),
			"unknown": c.Unknown.Load(), "continued": c.Continued.Load(), "events": c.Events.Load(),
			// Syslog messages recognised but dated more than policy.max_age before they
			// arrived (no event), and lines dated when read, their time being too far ahead.
			"stale": c.Stale.Load(), "redated": c.Redated.Load(),
			// Recognised lines whose record another source carried first (duplicates.go).
			"duplicate": c.Duplicate.Load(),
			// Incidents made or grown, as the metric abusewatch_incident_updates_total:
			// "incidents" read as a count of incidents, beside store.incidents, which is.
			"incident_updates": c.Incidents.Load(),
			"reports":          c.Reports.Load(), "delivered": c.Delivered.Load(), "batches": c.Batches.Load(),
		},
		LastErrors:   d.errors.entries(),
		StoreRefuses: d.refusal.Load(),
	}
	if o := d.outboxShown.Load(); o != nil {
		st.Outbox = *o
	}
	st.WithoutContact = pipe.misses.retried()
	for _, c := range d.SourceStats() {
		src := SourceStatus{SourceStats: c}
		src.Duplicates = pipe.copies.droppedFrom(c.Source)
		pos, saved, err := d.store.Position(c.Source)
		if err == nil && saved {
			src.Offset = pos.Offset
		}
		if strings.HasPrefix(c.Source, "/") {
			if fi, err := os.Stat(c.Source); err == nil {
				src.Size = fi.Size()
				// Behind is what is not committed yet: the follower reads ahead of the
				// pipeline, and under a backlog its own figure (at the end of what it
				// read) said 0 while the daemon was megabytes behind.
				if id := identity(c.Source, fi); saved && id.Inode == pos.Inode && id.Dev == pos.Dev && fi.Size() >= pos.Offset {
					src.Lag = fi.Size() - pos.Offset
				}
			} else {
				src.Error = err.Error()
			}
		}
		st.Sources = append(st.Sources, src)
	}
	var err error
	if st.Store, err = d.store.Stats(); err != nil {
		st.LastErrors = append(st.LastErrors, LogEntry{Time: time.Now(), Level: "ERROR", Message: "store: " + err.Error()})
	}
	if ex, err := d.store.Exclusions(); err == nil {
		st.Exclusions = len(ex)
	}
	if rm, err := d.store.RefusedMailboxes(); err == nil {
		st.Refused = rm
	}
	st.Sources, st.LastErrors = orEmpty(st.Sources), orEmpty(st.LastErrors) // [] in JSON, never null
	return st
}

// ReloadResult says what a reload loaded.
type ReloadResult struct {
	Config      string   `json:"config"`
	NormalRules int      `json:"normal_rules"`
	AttackRules int      `json:"attack_rules"`
	Notes       []string `json:"notes,omitempty"`
}

// reload re-reads the config file and the rules it names and, only when all of it is
// valid, replaces the running pipeline. It runs on the main loop.
func (d *Daemon) reload() (ReloadResult, error) {
	d.notify.Reloading()
	defer d.notify.Ready()
	cfg, err := LoadConfig(d.cfg.file)
	if err != nil {
		return ReloadResult{}, err
	}
	if cfg.Store.Path != d.cfg.Store.Path {
		return ReloadResult{}, fmt.Errorf("%s: store.path changed from %s to %s: restart the daemon to move the store",
			cfg.file, d.cfg.Store.Path, cfg.Store.Path)
	}
	pipe, err := NewPipeline(cfg, d.store, d.log)
	if err != nil {
		return ReloadResult{}, err
	}
	res := ReloadResult{Config: cfg.file, NormalRules: pipe.rules.Normal.Len(), AttackRules: pipe.rules.Attack.Len()}
	if files, err := ExpandSources(cfg); err == nil && !slices.Equal(files, d.files) {
		res.Notes = append(res.Notes, "the [[source]] files changed: restart the daemon to follow the new set")
	}
	if cfg.Admin != d.cfg.Admin {
		res.Notes = append(res.Notes, "[admin] changed: restart the daemon to move the admin socket")
	}
	// The listeners and the journal reader are set up at start: a sender taken off
	// syslog.allow is refused only once the daemon restarts, and the admin must know.
	// postgres_prefix is the detector's, which the new pipeline applies at once.
	was, now := d.cfg.Syslog, cfg.Syslog
	was.PostgresPrefix, now.PostgresPrefix = "", ""
	if !reflect.DeepEqual(now, was) {
		res.Notes = append(res.Notes, "[syslog] changed (listeners, certificate or allow): restart the daemon to apply it; until then the old listeners and allow list stay in force")
	}
	wasJ, nowJ := d.cfg.Journal, cfg.Journal
	wasJ.PostgresPrefix, nowJ.PostgresPrefix = "", ""
	if !reflect.DeepEqual(nowJ, wasJ) {
		res.Notes = append(res.Notes, "[journal] changed: restart the daemon to apply it")
	}
	// The metrics listener too: a monitor pointed at the new address found nothing, and
	// reload had said nothing.
	if cfg.Metrics != d.cfg.Metrics {
		res.Notes = append(res.Notes, fmt.Sprintf("[metrics] changed: restart the daemon to apply it; until then the metrics stay on %s",
			cmp.Or(d.cfg.Metrics.Listen, "no address (off)")))
	}
	pipe.Counters, pipe.misses, pipe.alerts, pipe.senders, pipe.times = d.pipe.Counters, d.pipe.misses, d.pipe.alerts, d.pipe.senders, d.pipe.times
	pipe.copies = d.pipe.copies                   // a record read before the reload is not counted again after it
	pipe.finder.Counters = d.pipe.finder.Counters // the metrics' registry requests go on from where they were
	if round := d.outbox.pipe; round != nil {
		// The running round of the outbox has the pipeline it began with until it
		// stops: what the new config never reports, it must not report either.
		for _, p := range cfg.neverReport() {
			round.correlator.Exclude(p)
		}
	}
	if d.outbox.supersede() {
		res.Notes = append(res.Notes, "the outbox round under way stops after the delivery it is making, if any; a round under the new config takes up the rest")
	}
	d.cfg, d.pipe = cfg, pipe
	d.current.Store(pipe)
	d.log.Info("reloaded", "config", cfg.file, "normal_rules", res.NormalRules, "attack_rules", res.AttackRules)
	return res, nil
}

// ExcludeResult says what exclude or pardon changed.
type ExcludeResult struct {
	Network string `json:"network"`
	// What the network is now: "exclude" or "pardon" (an exclude of a pardoned network
	// leaves it pardoned).
	By string `json:"by"`
	// The network's exclusion or pardon before, when it had one: its date stays, and
	// its reason unless a new one was given.
	Already           *ExclusionInfo `json:"already,omitempty"`
	ForgotIncidents   int            `json:"forgot_incidents"`
	RejectedReports   int            `json:"rejected_reports"`
	AlreadyNeverSends bool           `json:"already_never_reported,omitempty"`
	// What kept it from being reported before, wider than an exclusion of its own: a
	// special-purpose network, policy.never_report, another exclusion (CoveredBy).
	CoveredBy string `json:"covered_by,omitempty"`
	// Of a pardon: how many of the incidents it forgot had been reported (their reports
	// stay as they went), and those reports.
	ReportedIncidents int      `json:"reported_incidents,omitempty"`
	SentReports       []string `json:"sent_reports,omitempty"`
}

// exclude records p as never to be reported, in the store and in the running
// correlator, then rejects the unsent reports about it (and with pardon forgets its
// incidents). Only the correlator's part runs on the main loop: a pardon of a busy
// network deletes hundreds of thousands of incidents (seconds), which must not stop
// the reading of the logs.
func (d *Daemon) exclude(ctx context.Context, p netip.Prefix, pardon bool, reason string) (ExcludeResult, error) {
	now := time.Now()
	res, err := recordExclusion(d.store, p, pardon, reason, now)
	if err != nil {
		return res, err
	}
	var cfg *Config
	if err := d.onLoop(ctx, func() {
		cfg = d.cfg
		res.AlreadyNeverSends = d.pipe.correlator.ExcludedNetwork(p)
		d.pipe.correlator.Exclude(p)
		if round := d.outbox.pipe; round != nil && round != d.pipe {
			// A round running since a reload judges with the pipeline it began with:
			// only its Excluded runs beside this.
			round.correlator.Exclude(p)
		}
	}); err != nil {
		return res, err
	}
	if res.CoveredBy, err = CoveredBy(cfg, d.store, p); err != nil {
		return res, err
	}
	if err := forgetOrReject(d.store, p, pardon, now, &res); err != nil {
		return res, err
	}
	d.log.Info("network excluded", "network", p, "pardon", pardon, "reason", reason,
		"forgot_incidents", res.ForgotIncidents, "rejected_reports", res.RejectedReports)
	return res, nil
}

// Exclude records p in st as never to be reported and rejects the unsent reports about it
// alone; a pardon also forgets its incidents. The offline commands use it; the daemon
// does the same in steps (exclude).
func Exclude(st *store.Store, p netip.Prefix, pardon bool, reason string, now time.Time) (ExcludeResult, error) {
	res, err := recordExclusion(st, p, pardon, reason, now)
	if err != nil {
		return res, err
	}
	return res, forgetOrReject(st, p, pardon, now, &res)
}

// recordExclusion stores the exclusion of p, the first step of exclude and pardon. A
// network already excluded keeps its date and its reason (unless a new reason is given):
// an idempotent script that excludes it again must not erase why and since when. A
// pardon stays a pardon; an exclusion that is pardoned becomes a pardon dated now, the
// time from which its incidents were forgotten.
func recordExclusion(st *store.Store, p netip.Prefix, pardon bool, reason string, now time.Time) (ExcludeResult, error) {
	res := ExcludeResult{Network: p.String()}
	e := store.Exclusion{Network: p, Reason: reason, Added: now, Pardon: pardon}
	all, err := st.Exclusions()
	if err != nil {
		return res, err
	}
	if i := slices.IndexFunc(all, func(o store.Exclusion) bool { return o.Network == p }); i >= 0 {
		old := all[i]
		was := exclusionInfo(old)
		res.Already = &was
		if reason == "" {
			e.Reason = old.Reason
		}
		if old.Pardon || !pardon {
			e.Added, e.Pardon = old.Added, old.Pardon
		}
		e.From, e.FromSeq = old.From, old.FromSeq // it stays excluded since then (AddExclusion)
		if e == old {
			res.By = was.By
			return res, nil
		}
	}
	res.By = exclusionInfo(e).By
	return res, st.AddExclusion(e)
}

// forgetOrReject forgets the incidents of p and rejects the unsent reports about them
// (pardon), or rejects the unsent reports about p alone, counting them in res.
func forgetOrReject(st *store.Store, p netip.Prefix, pardon bool, now time.Time, res *ExcludeResult) (err error) {
	if pardon {
		if res.ReportedIncidents, res.SentReports, err = ReportedIncidentsIn(st, p); err != nil {
			return err
		}
		res.ForgotIncidents, res.RejectedReports, err = st.ForgetIncidents(p, now)
	} else {
		res.RejectedReports, err = st.RejectUnsentReportsIn(p, now)
	}
	return err
}

// LogEntry is one warning or error the daemon logged, for status.
type LogEntry struct {
	Time    time.Time `json:"time"`
	Level   string    `json:"level"`
	Message string    `json:"message"`
}

// errorRing keeps the last warnings and errors for status.
type errorRing struct {
	mu    sync.Mutex
	last  []LogEntry
	keep  int
	total map[string]int64 // by level, for metrics
}

func (r *errorRing) counts() map[string]int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.total)
}

func (r *errorRing) entries() []LogEntry {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.last)
}

// ringHandler passes records on and copies warnings and errors into the ring.
type ringHandler struct {
	slog.Handler
	ring *errorRing
}

func (h ringHandler) Handle(ctx context.Context, rec slog.Record) error {
	if rec.Level >= slog.LevelWarn {
		msg := rec.Message
		rec.Attrs(func(a slog.Attr) bool {
			msg += " " + a.String()
			return true
		})
		h.ring.mu.Lock()
		if h.ring.total == nil {
			h.ring.total = map[string]int64{}
		}
		h.ring.total[rec.Level.String()]++
		// An error may quote a registry or a mail server; status prints it on one line.
		h.ring.last = append(h.ring.last, LogEntry{Time: rec.Time, Level: rec.Level.String(), Message: sanitizeText(msg)})
		if len(h.ring.last) > h.ring.keep {
			h.ring.last = h.ring.last[len(h.ring.last)-h.ring.keep:]
		}
		h.ring.mu.Unlock()
	}
	return h.Handler.Handle(ctx, rec)
}

func (h ringHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return ringHandler{h.Handler.WithAttrs(attrs), h.ring}
}

func (h ringHandler) WithGroup(name string) slog.Handler {
	return ringHandler{h.Handler.WithGroup(name), h.ring}
}
