// Package daemon is the long-running abusewatch process and everything that wires the
// stages together: the config, the log sources (files followed through rotation with
// nxadm/tail, the only package that imports it), batching records into the store with
// their positions, and the schedules that write and deliver reports. Both `run` and
// `scan` drive the same Pipeline, so a scan of old logs finds exactly what the daemon
// would have found.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/store"
)

// StoreTimeout is how long a command waits for another process to release the database.
const StoreTimeout = time.Second

// flushEvery bounds how long a line waits in a batch before it is committed.
const flushEvery = 200 * time.Millisecond

// Daemon is the running process: its store, its pipeline and its sources.
type Daemon struct {
	cfg   *Config
	log   *slog.Logger
	store *store.Store
	pipe  *Pipeline
	files []string // the files to follow
}

// New opens the store and builds the pipeline; it fails when the config or a rule file
// is invalid or another process holds the store.
func New(cfg *Config, log *slog.Logger) (*Daemon, error) {
	files, err := ExpandSources(cfg)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: no [[source]] files configured: nothing to watch", cfg.file)
	}
	st, err := store.Open(cfg.Store.Path, StoreTimeout)
	if err != nil {
		return nil, err
	}
	pipe, err := NewPipeline(cfg, st, log)
	if err != nil {
		st.Close()
		return nil, err
	}
	return &Daemon{cfg: cfg, log: log, store: st, pipe: pipe, files: files}, nil
}

// Pipeline is the daemon's pipeline (its counters serve status and the tests).
func (d *Daemon) Pipeline() *Pipeline { return d.pipe }

// Run follows every source, commits what it reads and reports on schedule until ctx
// ends; then it commits what was read and closes the store.
func (d *Daemon) Run(ctx context.Context) error {
	defer d.store.Close()
	files := d.files
	followCtx, stopFollowing := context.WithCancel(ctx)
	defer stopFollowing()
	lines := make(chan sourceLine, batchSize)
	var wg sync.WaitGroup
	for _, f := range files {
		wg.Go(func() {
			if err := d.follow(followCtx, f, lines); err != nil {
				d.log.Error("stopped following", "file", f, "err", err)
			}
		})
	}
	d.log.Info("abusewatch running", append(logAttrs(d.cfg), "files", len(files))...)

	var recs []abusewatch.Record
	positions := map[string]store.Position{}
	flush := func(ctx context.Context) error {
		if len(recs) == 0 {
			return nil
		}
		pos := make([]store.Position, 0, len(positions))
		for _, p := range positions {
			pos = append(pos, p)
		}
		err := d.pipe.Ingest(ctx, recs, pos)
		d.log.Debug("batch committed", "lines", len(recs), "total", d.pipe.Counters.Lines.Load(), "err", err)
		recs = recs[:0]
		clear(positions)
		return err
	}
	report := func() {
		if err := d.pipe.Tick(ctx, time.Now()); err != nil && !errors.Is(err, context.Canceled) {
			d.log.Warn("scheduled work", "err", err)
		}
	}
	ticker := time.NewTicker(flushEvery)
	defer ticker.Stop()
	reportTicker := time.NewTicker(d.cfg.Policy.ReportInterval.Duration)
	defer reportTicker.Stop()
	report()
	notify := systemdNotifier{log: d.log}
	notify.Ready()
	defer notify.Stopping()
	watchdog := tickerOrNever(ctx, watchdogInterval())
	for {
		select {
		case <-watchdog:
			notify.Watchdog()
		case l := <-lines:
			recs = append(recs, l.rec)
			positions[l.pos.Source] = l.pos
			if len(recs) >= batchSize {
				if err := flush(ctx); err != nil {
					return err
				}
			}
		case <-ticker.C:
			if err := flush(ctx); err != nil {
				return err
			}
		case <-reportTicker.C:
			if err := flush(ctx); err != nil {
				return err
			}
			report()
		case <-ctx.Done():
			stopFollowing()
			wg.Wait()
			for drained := false; !drained; {
				select {
				case l := <-lines:
					recs = append(recs, l.rec)
					positions[l.pos.Source] = l.pos
				default:
					drained = true
				}
			}
			// The run is over, but what was read must still be committed.
			err := flush(context.WithoutCancel(ctx))
			d.log.Info("abusewatch stopped", append(logAttrs(d.cfg), "lines", d.pipe.Counters.Lines.Load())...)
			return err
		}
	}
}
