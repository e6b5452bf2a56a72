package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/abusewatch/abusewatch"
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

// correlateSummary is what `correlate --json` prints.
type correlateSummary struct {
	Since          time.Time             `json:"since"`
	Until          time.Time             `json:"until"`
	Incidents      []abusewatch.Incident `json:"incidents"` // created or changed
	ElapsedSeconds float64               `json:"elapsed_seconds"`
}

func (c *correlateCommand) Run(ctx context.Context, args []string) error {
	fs := newFlagSet(c.Name(), "[--config FILE] [--since T] [--json]", c.stderr)
	config := fs.String("config", daemon.DefaultConfigPath, "the config `file`")
	since := fs.String("since", "180d", "from `T`: a duration back from now (\"180d\") or a date (\"2026-05-01\", RFC 3339); "+
		"raw events older than [retention] events are gone, recurrence still sees their daily counters")
	asJSON := fs.Bool("json", false, "print one summary object instead of the table")
	verbose := fs.Bool("v", false, "log what each stage does, not only warnings")
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return &usageError{fmt.Sprintf("correlate takes no arguments, not %q", rest[0])}
	}
	now := time.Now()
	from, err := parseSince(*since, now)
	if err != nil {
		return &usageError{err.Error()}
	}
	cfg, err := daemon.LoadConfig(*config)
	if err != nil {
		return err
	}
	st, err := store.Open(cfg.Store.Path, daemon.StoreTimeout)
	if errors.Is(err, store.ErrLocked) {
		return fmt.Errorf("%w\ncorrelate needs the database to itself: stop the daemon (systemctl stop abusewatch), run it, start the daemon again; "+
			"the running daemon re-correlates recent events every correlate.recorrelate_interval on its own", err)
	}
	if err != nil {
		return err
	}
	defer st.Close()
	pipe, err := daemon.NewPipeline(cfg, st, newLogger(c.stderr, logLevel(*verbose)))
	if err != nil {
		return err
	}
	if _, err := pipe.RecorrelateRange(ctx, from, now); err != nil {
		return err
	}
	touched, err := pipe.Touched()
	if err != nil {
		return err
	}
	sum := correlateSummary{Since: from, Until: now, Incidents: []abusewatch.Incident{}, ElapsedSeconds: time.Since(now).Seconds()}
	for _, t := range touched {
		sum.Incidents = append(sum.Incidents, t.Incident)
	}
	if *asJSON {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(sum)
	}
	loc := daemon.Location(cfg.Reporter.Timezone)
	fmt.Fprintf(c.stdout, "Correlated the events since %s: %d incidents new or changed (%.1fs).\n",
		from.In(loc).Format("2006-01-02 15:04"), len(sum.Incidents), sum.ElapsedSeconds)
	if len(sum.Incidents) == 0 {
		return nil
	}
	fmt.Fprintf(c.stdout, "Reports for them are written by the daemon's next round, as policy.mode (%s) says; admin-only ones never leave.\n\n", cfg.Policy.Mode)
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RULE\tNETWORK\tEVENTS\tFIRST SEEN\tLAST SEEN\tHOSTS\tSEVERITY\tOUTSIDE")
	for _, inc := range sum.Incidents {
		outside := "reportable"
		if inc.AdminOnly || inc.Success {
			outside = "admin only"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%d\t%s\n", inc.Rule, inc.Network, inc.Count,
			inc.First.In(loc).Format("2006-01-02 15:04"), inc.Last.In(loc).Format("2006-01-02 15:04"),
			strings.Join(inc.Hosts, ","), inc.Severity, outside)
	}
	return tw.Flush()
}
