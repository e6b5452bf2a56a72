// Package daemon is the long-running abusewatch process and everything that wires the
// stages together: the config, the log sources (files followed through rotation and
// crashes, the systemd journal, a syslog listener for fleets), batching records into the
// store with their positions, and the schedules that write and deliver reports. Both `run` and
// `scan` drive the same Pipeline, so a scan of old logs finds exactly what the daemon
// would have found.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/store"
)

// StoreTimeout is how long a command waits for another process to release the database.
const StoreTimeout = time.Second

// flushEvery bounds how long a line waits in a batch before it is committed.
const flushEvery = 200 * time.Millisecond

// globEvery is how often the configured globs are expanded again to find new files.
const globEvery = 2 * time.Second

// Daemon is the running process: its store, its pipeline and its sources.
type Daemon struct {
	cfg   *Config
	log   *slog.Logger
	store *store.Store
	pipe  *Pipeline
	// pipe for the admin's questions, which must not wait on the main loop (a
	// re-correlation runs there): set with pipe.
	current atomic.Pointer[Pipeline]
	files   []string // the files to follow

	started time.Time
	control chan func()     // work that must run on the main loop (admin requests, reloads)
	errors  *errorRing      // the last warnings and errors, for status
	notify  systemdNotifier // readiness and watchdog for systemd
	sources sourceSet       // counters per source (file, journal, syslog)
	outbox  OutboxStatus    // the running or last round of the outbox (main loop only)
	// A copy of outbox for status, which does not wait on the main loop.
	outboxShown atomic.Pointer[OutboxStatus]
	// journalTried: the journal's first journalctl (without --follow) returned, so
	// what the journal held at start is read (or could not be: nothing to wait for).
	journalTried atomic.Bool
	// journalPolls counts the journal directory's polls done; journalPolled, when set
	// (tests), is sent a token after each, without waiting (its buffer of one holds it).
	journalPolls  atomic.Int64
	journalPolled chan struct{}
	// filesLeft: the files followed from the start not yet read to their end once.
	filesLeft atomic.Int64
	// refusal: the store refuses the main loop's commits (disk full), nil while it
	// takes them; commitsRefused counts the refused tries.
	refusal        atomic.Pointer[StoreRefusal]
	commitsRefused atomic.Int64
}

// StoreRefusal is the store refusing to commit what was read (a full disk, an I/O
// error): reading waits, and the commit is retried with back-off.
type StoreRefusal struct {
	Since time.Time `json:"since"`
	Error string    `json:"error"` // of the last try
	Lines int       `json:"lines"` // in the batch that waits
	Hint  string    `json:"hint"`  // what to look at, from the error (CommitHint)
}

// CommitHint is what to look at when the store refuses a commit with err: a read-only
// file system (remounted so after an error) is not a full disk.
func CommitHint(err error) string {
	switch {
	case errors.Is(err, syscall.EROFS):
		return "the file system is read-only (remounted so after an error?): check dmesg, fsck it, remount it read-write"
	case errors.Is(err, syscall.ENOSPC):
		return "disk full: free space on the store's file system"
	case errors.Is(err, syscall.EDQUOT):
		return "the disk quota of the daemon's user is used up: raise it or free space"
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return "the daemon's user may not write the store: check the owner and mode of the file and its directory"
	case errors.Is(err, syscall.EIO):
		return "a disk error: check dmesg and the disk"
	}
	return "is the disk full or failing? check df and dmesg"
}

// backlogRead says whether the sources have read what they held at start (the lines
// logged while the daemon was stopped): every file followed from the start has been
// read to its end once, rotated copies, truncations and a last line not ended yet
// included (or could not be opened: nothing to wait for), and the journal's first
// journalctl returned.
func (d *Daemon) backlogRead() bool {
	return d.filesLeft.Load() == 0 && (!d.cfg.Journal.Enabled || d.journalTried.Load())
}

// showOutbox publishes the outbox's state for status; the main loop calls it after each
// change.
func (d *Daemon) showOutbox() {
	o := d.outbox
	o.Running, o.pipe = o.pipe != nil, nil
	d.outboxShown.Store(&o)
}

// OutboxStatus is the running or last round of the outbox, for status: a round that
// runs long is waiting on a registry, a resolver or a mail server.
type OutboxStatus struct {
	Running     bool      `json:"running"` // set by status: pipe is not nil
	Started     time.Time `json:"started"` // of the running or last round; zero before the first
	LastSeconds float64   `json:"last_seconds"`
	LastError   string    `json:"last_error,omitempty"`
	// The pipeline the running round uses, nil between rounds: after a reload it is no
	// longer the daemon's, and an exclusion must reach it too.
	pipe    *Pipeline
	skipped bool // a tick skipped its round meanwhile (logged once)
	// stop ends the running round (a delivery under way finishes); superseded says a
	// reload called it, and a round under the new config follows at once.
	stop       context.CancelFunc
	superseded bool
}

// started records the start of a round with pipe, which stop ends.
func (o *OutboxStatus) started(pipe *Pipeline, stop context.CancelFunc) {
	o.pipe, o.Started, o.skipped, o.stop, o.superseded = pipe, time.Now(), false, stop, false
}

// supersede ends the running round, if any, because a reload replaced its pipeline:
// what it has not done yet, a round under the new config does (a mode set to observe
// or review, a [[do_not_contact]] added, must hold from the reload on, not after a
// round that may take minutes of lookups and deliveries). It says whether one ran.
func (o *OutboxStatus) supersede() bool {
	if o.pipe == nil {
		return false
	}
	o.superseded = true
	o.stop()
	return true
}

// finished records the end of the running round, which returned err.
func (o *OutboxStatus) finished(err error) {
	if o.stop != nil {
		o.stop()
	}
	if o.superseded && errors.Is(err, context.Canceled) {
		err = nil // stopped by a reload: not a failure
	}
	o.pipe, o.stop, o.LastSeconds, o.LastError = nil, nil, time.Since(o.Started).Seconds(), ""
	if err != nil {
		o.LastError = sanitizeText(err.Error()) // it may quote a mail server: status prints it
	}
}

// New opens the store and builds the pipeline; it fails when the config or a rule file
// is invalid or another process holds the store.
func New(cfg *Config, log *slog.Logger) (*Daemon, error) {
	// What check-config refuses, run refuses too, with the same words.
	files, warnings, err := cfg.Preflight()
	if err != nil {
		return nil, err
	}
	ring := &errorRing{keep: 10}
	log = slog.New(ringHandler{log.Handler(), ring})
	for _, w := range warnings {
		log.Warn(w.Error())
	}
	st, err := store.Open(cfg.Store.Path, StoreTimeout)
	if err != nil {
		return nil, err
	}
	if m, ok := st.Migrated(); ok { // the record of when an older abusewatch lost the file
		log.Info(m.String(), "store", m.Path, "from_schema", m.From, "to_schema", m.To, "took", m.Took.Round(time.Millisecond))
	}
	for _, n := range st.Notes() { // a copy left by a stopped compact, removed
		log.Warn(n, "store", cfg.Store.Path)
	}
	pipe, err := NewPipeline(cfg, st, log)
	if err != nil {
		st.Close()
		return nil, err
	}
	d := &Daemon{cfg: cfg, log: log, store: st, pipe: pipe, files: files, started: time.Now(),
		control: make(chan func()), errors: ring, notify: systemdNotifier{log: log}}
	d.current.Store(pipe)
	return d, nil
}

// Pipeline is the daemon's pipeline (its counters serve status and the tests).
func (d *Daemon) Pipeline() *Pipeline { return d.pipe }

// Run follows every source, commits what it reads and reports on schedule until ctx
// ends; then it commits what was read and closes the store.
func (d *Daemon) Run(ctx context.Context) error {
	defer d.store.Close()
	// Before any line is read: the events a killed run committed without storing their
	// incidents. Failing (a full disk), the first batch or tick tries again.
	if err := d.pipe.CatchUp(ctx); err != nil && ctx.Err() == nil {
		d.log.Warn("events committed before the last stop are not correlated yet: tried again with the next batch", "err", err)
	}
	// Before any line is read too: a record one source brought before the stop, and
	// another brings after it, is counted once (duplicates.go).
	if n, err := d.pipe.rememberStored(); err != nil {
		d.log.Warn("cannot read the events stored before the last stop: a record read through one source before it and another after it is counted twice", "err", err)
	} else if n > 0 {
		d.log.Debug("record memo: the records of the events stored last remembered", "events", n)
	}
	followCtx, stopFollowing := context.WithCancel(ctx)
	defer stopFollowing()
	lines := make(chan sourceLine, batchSize)
	var wg sync.WaitGroup
	followed := map[string]bool{}
	// followNew follows files not followed yet; atStart, the first outbox round waits
	// until each has been read to its end once (filesLeft).
	followNew := func(files []string, atStart bool) {
		for _, f := range files {
			if followed[f] {
				continue
			}
			followed[f] = true
			read := func() {}
			if atStart {
				d.filesLeft.Add(1)
				read = sync.OnceFunc(func() { d.filesLeft.Add(-1) })
			}
			wg.Go(func() {
				defer read() // a follower that stopped reads no more
				if err := d.follow(followCtx, f, lines, read); err != nil && !errors.Is(err, context.Canceled) {
					d.log.Error("stopped following", "file", f, "err", err)
				}
			})
		}
	}
	followNew(d.files, true)
	if d.cfg.Journal.Enabled {
		wg.Go(func() { d.readJournal(followCtx, lines) })
	}
	if d.cfg.Syslog.listening() {
		ready := make(chan error, 1)
		wg.Go(func() { d.listenSyslog(followCtx, lines, ready) })
		if err := <-ready; err != nil {
			stopFollowing()
			wg.Wait()
			return err
		}
	}
	d.log.Info("abusewatch running", append(logAttrs(d.cfg), "files", len(d.files))...)
	defer d.keepRetention(ctx)()

	var recs []abusewatch.Record
	positions := map[string]store.Position{}
	add := func(l sourceLine) {
		if !l.posOnly {
			recs = append(recs, l.rec)
		}
		if l.pos.Source != "" {
			positions[l.pos.Source] = l.pos
		}
		if l.fp.Source != "" {
			positions[l.fp.Source] = l.fp
		}
	}
	// A commit the store refuses (disk full, I/O error) is a state of the main loop, not a
	// loop of its own: the batch is kept, the loop stops taking lines (linesIn is nil, so
	// the sources block: nothing is lost, and, the positions being committed with the
	// events, nothing repeated) and retry fires when it is time to try again, with
	// back-off; the watchdog, the admin's requests, reloads and the tickers go on.
	linesIn := lines
	var (
		retry        <-chan time.Time // nil while the store takes commits
		retryWait    backoff
		refusedSince time.Time
	)
	// commit commits the batch once.
	commit := func(ctx context.Context) error {
		if len(recs) == 0 && len(positions) == 0 {
			return nil
		}
		pos := make([]store.Position, 0, len(positions))
		for _, p := range positions {
			pos = append(pos, p)
		}
		err := d.pipe.Ingest(ctx, recs, pos)
		if _, ok := errors.AsType[*afterCommitError](err); ok {
			// The events and positions are in; what failed came after (the unknown
			// lines' tally, the correlation). Ingesting the batch again would store
			// its events twice.
			d.log.Warn("batch committed, but processing it failed", "lines", len(recs), "err", err)
			err = nil
		}
		if err != nil {
			return err
		}
		d.log.Debug("batch committed", "lines", len(recs), "total", d.pipe.Counters.Lines.Load())
		recs = recs[:0]
		clear(positions)
		return nil
	}
	refuse := func(err error) {
		if refusedSince.IsZero() {
			refusedSince, retryWait = time.Now(), backoff{next: time.Second, max: time.Minute}
		}
		d.commitsRefused.Add(1)
		hint := CommitHint(err)
		d.refusal.Store(&StoreRefusal{Since: refusedSince, Error: sanitizeText(err.Error()), Lines: len(recs), Hint: hint})
		next := retryWait.next
		retryWait.next = min(2*retryWait.next, retryWait.max)
		retry, linesIn = time.After(next), nil
		d.log.Error("cannot commit what was read: reading stops until the store takes it ("+hint+")",
			"lines", len(recs), "retry_in", next, "err", err)
	}
	// flush commits the batch, unless a refused one waits for its retry.
	flush := func(ctx context.Context) {
		if retry != nil {
			return
		}
		if err := commit(ctx); err != nil && ctx.Err() == nil {
			refuse(err)
		}
	}
	// The scheduled work: re-correlation on the main loop (the correlator is the main
	// loop's), then a round of the outbox on a goroutine of its own, so that lookups
	// and deliveries that wait on the network hold up neither reading the logs, nor the
	// admin socket, nor systemd's watchdog. One round at a time: a tick that finds the
	// last still running skips its own.
	outboxDone := make(chan error)
	outboxCtx, stopOutbox := context.WithCancel(ctx)
	defer func() {
		// However Run ends, the round ends first: it uses the store the caller closes.
		stopOutbox()
		if d.outbox.pipe != nil {
			<-outboxDone
		}
	}()
	report := func() {
		if err := d.pipe.Recorrelate(ctx, time.Now()); err != nil && !errors.Is(err, context.Canceled) {
			d.log.Warn("scheduled work", "err", fmt.Errorf("re-correlating: %w", err))
		}
		if d.outbox.pipe != nil {
			if !d.outbox.skipped {
				d.log.Info("the last outbox round still runs (lookups or deliveries waiting on the network): the ticks skip theirs until it ends",
					"since", d.outbox.Started)
			}
			d.outbox.skipped = true
			d.showOutbox()
			return
		}
		pipe := d.pipe // a reload replaces it, and stops the round (supersede)
		roundCtx, stop := context.WithCancel(outboxCtx)
		d.outbox.started(pipe, stop)
		d.showOutbox()
		go func() {
			err := pipe.OutboxRound(roundCtx, time.Now())
			if err != nil && !errors.Is(err, context.Canceled) {
				d.log.Warn("scheduled work", "err", err)
			}
			outboxDone <- err
		}()
	}
	ticker := time.NewTicker(flushEvery)
	defer ticker.Stop()
	rescan := time.NewTicker(globEvery)
	defer rescan.Stop()
	reportEvery := d.cfg.Policy.ReportInterval.Duration
	reportTicker := time.NewTicker(reportEvery)
	defer reportTicker.Stop()
	// The first round waits until what was logged while the daemon was stopped is
	// read: its reports would leave those lines out, and a late daily summary, the one
	// that exists for that time, would miss them for good (the next starts where it
	// ended). The report ticker's round goes anyway: a backlog that takes longer than
	// policy.report_interval to read does not hold the outbox.
	waiting := true
	startWhenRead := func() {
		if !waiting || retry != nil {
			return
		}
		// What the sources sent before they said they read their backlog is in the
		// channel: take it into the batch, so it is committed before the round reads
		// the store.
		read := d.backlogRead()
		for range len(lines) {
			add(<-lines)
		}
		flush(ctx)
		if retry != nil || !read {
			return
		}
		waiting = false
		report()
	}
	startWhenRead()
	if err := d.serveAdmin(ctx); err != nil {
		return err
	}
	if err := d.serveMetrics(ctx); err != nil {
		return err
	}
	d.watchHangups(ctx)
	d.notify.Ready()
	defer d.notify.Stopping()
	watchdog := tickerOrNever(ctx, watchdogInterval())
	for {
		select {
		case <-watchdog:
			d.notify.Watchdog()
		case fn := <-d.control:
			fn()
			if every := d.cfg.Policy.ReportInterval.Duration; every != reportEvery {
				// A reload set another policy.report_interval.
				reportEvery = every
				reportTicker.Reset(every)
			}
		case l := <-linesIn:
			add(l)
			if len(recs) >= batchSize {
				flush(ctx)
			}
		case <-ticker.C:
			flush(ctx)
			startWhenRead()
		case <-retry:
			retry = nil
			if err := commit(ctx); err != nil {
				if ctx.Err() == nil {
					refuse(err)
				}
				break
			}
			d.log.Info("the store takes commits again: reading goes on", "refused_for", time.Since(refusedSince).Round(time.Second))
			refusedSince, linesIn = time.Time{}, lines
			d.refusal.Store(nil)
			startWhenRead()
		case <-rescan.C:
			// A glob may match a file that did not exist at start.
			if files, err := ExpandSources(d.cfg); err == nil {
				followNew(files, false)
			}
		case <-reportTicker.C:
			flush(ctx)
			if retry != nil {
				// Nothing new is read, and a round's writes (a report made, a mail
				// marked sent) would be refused as the batch is: it waits for the next
				// tick after the store takes commits again.
				d.log.Info("the outbox round waits: the store refuses commits")
				break
			}
			if waiting {
				d.log.Info("the logs written while abusewatch was stopped are not all read yet: the outbox round goes anyway")
				waiting = false
			}
			report()
		case err := <-outboxDone:
			superseded := d.outbox.superseded
			d.outbox.finished(err)
			d.showOutbox()
			if superseded && retry == nil {
				d.log.Info("the outbox round stopped by the reload ended: a round under the new config begins")
				report()
			}
		case <-ctx.Done():
			stopFollowing()
			// The sources' lines are taken while they end: the syslog listener hands
			// over, as it stops, the messages it held for their host's offset.
			sourcesDone := make(chan struct{})
			go func() { wg.Wait(); close(sourcesDone) }()
			for ended := false; !ended; {
				select {
				case l := <-lines:
					add(l)
				case <-sourcesDone:
					ended = true
				}
			}
			for drained := false; !drained; {
				select {
				case l := <-lines:
					add(l)
				default:
					drained = true
				}
			}
			// The run is over, but what was read must still be committed.
			err := commit(context.WithoutCancel(ctx))
			d.log.Info("abusewatch stopped", append(logAttrs(d.cfg), "lines", d.pipe.Counters.Lines.Load())...)
			return err
		}
	}
}
