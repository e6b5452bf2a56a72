package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/abusewatch/abusewatch/daemon"
	"github.com/abusewatch/abusewatch/store"
)

// correlateCommand is `abusewatch correlate`: run the configured rules again over the
// stored history, so new or changed rules apply to old data.
type correlateCommand struct {
	stdout, stderr io.Writer
}

func (c *correlateCommand) Name() string { return "correlate" }
func (c *correlateCommand) Synopsis() string {
	return "run the correlation rules again over the stored history (e.g. after changing them)"
}

// correlateSummary is what `correlate --json` prints: the incidents created or changed,
// counted, and the newest shownIncidents of them in full.
type correlateSummary struct {
	Since time.Time `json:"since"`
	Until time.Time `json:"until"`
	// With --rebuild: the incidents of the time forgotten before the pass (made again
	// by it as the rules say now), and those kept because a report names them.
	Forgotten    int `json:"forgotten,omitempty"`
	KeptReported int `json:"kept_reported,omitempty"`
	// Of those made again, how many stay off the outbox's work list as the forgotten
	// ones were (store.KeepForgotten): not mailed or reported again.
	KeptDone int `json:"kept_done,omitempty"`
	daemon.RecorrelationSummary
	ElapsedSeconds float64 `json:"elapsed_seconds"`
}

// correlateMemory is the heap ceiling of `correlate` unless GOMEMLIMIT sets one: a
// quarter of the memory of the machine, or of the cgroup the command runs in (a
// systemd unit's MemoryMax, a container's limit), from 512 MiB to 1 GiB. A first pass
// over 10M events is mostly collections under 512 MiB: 1 GiB made it 18.4 to 18.8 s
// against 20.4 to 23.9 (28.4 to 29.1 s of CPU against 31.8 to 37.7, alternated), at
// 1.7 GB peak RSS against 1.2, most of it the database file's pages; 2 GiB was slower
// than 1 (20.1 to 20.6 s, 2.5 GB).
func correlateMemory() int64 {
	meminfo, _ := os.ReadFile("/proc/meminfo")
	// The line of /proc/self/cgroup "0::/path" names the group in cgroup v2,
	// "N:memory:/path" in v1.
	var limit []byte
	self, _ := os.ReadFile("/proc/self/cgroup")
	for line := range strings.Lines(string(self)) {
		line = strings.TrimSpace(line)
		if _, path, ok := strings.Cut(line, ":memory:"); ok && len(limit) == 0 {
			limit, _ = os.ReadFile(filepath.Join("/sys/fs/cgroup/memory", path, "memory.limit_in_bytes"))
		} else if path, ok := strings.CutPrefix(line, "0::"); ok && len(limit) == 0 {
			limit, _ = os.ReadFile(filepath.Join("/sys/fs/cgroup", path, "memory.max"))
		}
	}
	return memoryCeiling(meminfo, limit)
}

// memoryCeiling is correlateMemory's ceiling for the contents of /proc/meminfo and of
// the cgroup's limit file (v2 memory.max, v1 memory.limit_in_bytes; either may be
// empty: unknown).
func memoryCeiling(meminfo, cgroupMax []byte) int64 {
	const least, most = 512 << 20, 1 << 30
	total := int64(0)
	for line := range strings.Lines(string(meminfo)) {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			if kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64); err == nil {
				total = kb << 10
			}
		}
	}
	if n, err := strconv.ParseInt(strings.TrimSpace(string(cgroupMax)), 10, 64); err == nil && (total == 0 || n < total) {
		total = n // "max" (no limit) does not parse
	}
	return min(max(total/4, least), most)
}

// correlateGCPercent is the GOGC of `correlate` unless GOGC sets one (measured on the
// 1M-event bench store: 20% faster than 100, peak RSS still under the ceiling).
const correlateGCPercent = 400

// progressEvery is how often correlate says on stderr how far it got.
const progressEvery = 10 * time.Second

// reportProgress writes to w, at every tick until stop is called, how many events the
// pass judged and up to when (progress reports both).
func reportProgress(w io.Writer, ticks <-chan time.Time, progress func() (int, time.Time), loc *time.Location, start time.Time) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			case now := <-ticks:
				n, through := progress()
				fmt.Fprintf(w, "correlate: %s judged, up to %s (%.0fs)\n", counted(int(n), "event"), shownTime(through, loc), now.Sub(start).Seconds())
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// shownIncidents is how many of the incidents a re-correlation changed it shows.
const shownIncidents = 50

func (c *correlateCommand) Run(ctx context.Context, args []string) error {
	fs := newFlagSet(c.Name(), "[--config FILE] [--since T] [--rebuild] [--json]", c.stdout, c.stderr)
	config := fs.String("config", daemon.DefaultConfigPath, "the config `file`")
	since := fs.String("since", "180d", "from `T`: a duration back from now (\"180d\") or a date (\"2026-05-01\", RFC 3339); "+
		"raw events older than [retention] events are gone, recurrence still sees their daily counters")
	asJSON := fs.Bool("json", false, "print one summary object instead of the table")
	rebuild := fs.Bool("rebuild", false, "first forget the incidents that started since T and that no report names, so the rules of now "+
		"make them again (a changed threshold or window cuts visits anew; only those whose events are still kept), each keeping what was done with it "+
		"(its alert, its place on the outbox's work list, when it was first stored), even when run again after a pass cut short; "+
		"without it, an incident stored for those events stays as it is")
	verbose := fs.Bool("v", false, "log what each stage does, not only warnings")
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return &usageError{fmt.Sprintf("correlate takes no arguments, not %q", rest[0])}
	}
	// A pass over months allocates gigabytes of short-lived events while little stays
	// live: the heap may grow to five times what is live (a quarter of the collections
	// of the default), but not beyond a ceiling. GOGC and GOMEMLIMIT set others.
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(correlateMemory())
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(correlateGCPercent)
	}
	now := time.Now()
	cfg, err := daemon.LoadConfig(*config)
	if err != nil {
		return err
	}
	from, err := daemon.ParseSince(*since, now, shownZone(cfg))
	if err != nil {
		return &usageError{err.Error()}
	}
	// Nothing to correlate in a store that is not there: it is not made (root's,
	// under sudo, where the service could not open it).
	st, err := store.OpenExisting(cfg.Store.Path, daemon.StoreTimeout)
	if errors.Is(err, store.ErrNoDatabase) {
		return fmt.Errorf("%w, so there is nothing to correlate", err)
	}
	if errors.Is(err, store.ErrLocked) {
		return fmt.Errorf("%w; the running daemon re-correlates recent events every correlate.recorrelate_interval on its own",
			storeNeededAlone(c.Name(), err))
	}
	if err != nil {
		return err
	}
	defer st.Close()
	pipe, err := daemon.NewPipeline(cfg, st, newLogger(c.stderr, logLevel(*verbose)))
	if err != nil {
		return err
	}
	pipe.RecordChanges() // for the summary of what the pass changed
	loc := shownZone(cfg)
	var forgotten store.Forgotten
	var kept int
	if *rebuild {
		// Only what the kept raw events can make again: an incident of days whose
		// events retention deleted stays.
		oldest, ok, err := st.OldestEvent()
		if err != nil {
			return err
		}
		if ok {
			if oldest.Before(from) {
				oldest = from
			}
			if forgotten, kept, err = st.ForgetUnreportedIncidents(oldest); err != nil {
				return err
			}
		}
	}
	// Months of events take a minute or so: say how far it got now and then.
	ticker := time.NewTicker(progressEvery)
	stop := reportProgress(c.stderr, ticker.C, pipe.RecorrelationProgress, loc, now)
	made := time.Now()
	_, err = pipe.RecorrelateRange(ctx, from, now)
	ticker.Stop()
	stop()
	// What the pass made again keeps what the forgotten incidents had, even after a pass
	// cut short: an incident made again is not new in the summary, nor mailed or
	// reported again when the outbox was done with it.
	unlisted, kerr := st.KeepForgotten(forgotten, made, cfg.Correlate.SuccessLookback.Duration, err == nil)
	err = errors.Join(err, kerr)
	if err != nil && *rebuild {
		err = fmt.Errorf("%w\nthe %d incidents --rebuild forgot are made again by running the same command again (their events are kept)", err, forgotten.Len())
	}
	if err != nil {
		return err
	}
	res, err := pipe.Recorrelated(shownIncidents)
	if err != nil {
		return err
	}
	if err := daemon.WithReports(st, res.Newest); err != nil {
		return err
	}
	sum := correlateSummary{Since: from, Until: now, Forgotten: forgotten.Len(), KeptReported: kept, KeptDone: unlisted,
		RecorrelationSummary: res, ElapsedSeconds: time.Since(now).Seconds()}
	if *asJSON {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(sum)
	}
	if *rebuild {
		fmt.Fprintf(c.stdout, "Forgot %s without a report to make them again; %d with a report stay as they were reported.\n", counted(forgotten.Len(), "incident"), kept)
		if unlisted > 0 {
			fmt.Fprintf(c.stdout, "Made again as the outbox had left them (possible compromises mailed to the admin, older than policy.max_age, excluded): %s, not mailed or reported again.\n",
				counted(unlisted, "incident"))
		}
	}
	fmt.Fprintf(c.stdout, "Correlated the events since %s: %s new or changed (%.1fs), %d of them reportable outside.\n",
		shownTime(from, loc), counted(res.Changed, "incident"), sum.ElapsedSeconds, res.Outside)
	if res.Changed == 0 {
		return nil
	}
	var byRule []string
	for _, r := range slices.Sorted(maps.Keys(res.ByRule)) {
		byRule = append(byRule, fmt.Sprintf("%s %d", r, res.ByRule[r]))
	}
	fmt.Fprintf(c.stdout, "By rule: %s.\n", strings.Join(byRule, ", "))
	within := ""
	if cfg.Policy.MaxAge.Duration > 0 {
		within = fmt.Sprintf(", for those that ended within policy.max_age (%s) of now", cfg.Policy.MaxAge)
	}
	// An incident made again after a pardon, or with its report sent or rejected, keeps
	// that report: none is written for it again, and the listing says where it is.
	reported, waiting := 0, 0
	for _, inc := range res.Newest {
		switch {
		case inc.ReportID != "":
			reported++
		case !inc.AdminOnly && !inc.Success:
			waiting++
		}
	}
	allListed := res.Changed <= len(res.Newest)
	if reported > 0 {
		of := "of those listed"
		if allListed {
			of = "of them"
		}
		has := "has"
		if reported > 1 {
			has = "have"
		}
		fmt.Fprintf(c.stdout, "%d %s already %s a report, as OUTSIDE says: none is written for it again.\n", reported, of, has)
	}
	if reported == 0 || waiting > 0 || !allListed {
		others := "them"
		if reported > 0 {
			others = "the others"
		}
		fmt.Fprintf(c.stdout, "Reports for %s are written by the daemon's next rounds, as policy.mode (%s) says%s; admin-only ones never leave.\n",
			others, cfg.Policy.Mode, within)
	}
	fmt.Fprintln(c.stdout)
	if res.Changed > len(res.Newest) {
		fmt.Fprintf(c.stdout, "The newest %d (abusewatch incidents --since %s --limit 0 lists them all):\n", len(res.Newest), *since)
	}
	tw := newTable(c.stdout)
	fmt.Fprintf(tw, "RULE\tSOURCE\tEVENTS\t%s\t%s\tHOSTS\tSEVERITY\tOUTSIDE\n",
		zoneTitle("FIRST SEEN", loc, timesOf(res.Newest, func(i daemon.IncidentInfo) time.Time { return i.First })),
		zoneTitle("LAST SEEN", loc, timesOf(res.Newest, func(i daemon.IncidentInfo) time.Time { return i.Last })))
	for _, inc := range res.Newest {
		outside := "reportable"
		switch {
		case inc.ReportID != "":
			outside = incidentReport(inc) // as incidents says it
		case inc.AdminOnly || inc.Success:
			outside = "admin only"
		}
		// The source as scan's table says it: a rate anomaly's is "all sources" (its
		// Network is none, which printed "invalid Prefix").
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%d\t%s\n", inc.Rule, sourceCell(inc.Incident), inc.Count,
			cellTime(inc.First, loc), cellTime(inc.Last, loc),
			strings.Join(inc.Hosts, ","), inc.Severity, outside)
	}
	return tw.Flush()
}
