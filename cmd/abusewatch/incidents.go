package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/abusewatch/abusewatch/daemon"
	"github.com/abusewatch/abusewatch/store"
)

// incidentsCommand is `abusewatch incidents`: recent incidents and their reports.
type incidentsCommand struct {
	stdout, stderr io.Writer
}

func (c *incidentsCommand) Name() string { return "incidents" }
func (c *incidentsCommand) Synopsis() string {
	return "list recent incidents and where their reports are"
}

func (c *incidentsCommand) Run(ctx context.Context, args []string) error {
	fs := newFlagSet(c.Name(), "[--since T] [--limit N] [--config FILE] [--json]", c.stdout, c.stderr)
	f := addAdminFlags(fs)
	since := fs.String("since", "7d", "incidents active after `T`: a duration back from now (\"36h\", \"7d\"), or a date or time (read in reporter.timezone)")
	limit := fs.Int("limit", daemon.DefaultIncidentLimit, "show the newest `N` of them (0: all; a busy host has hundreds of thousands over months)")
	_, err := parseExactly(fs, args, 0, "incidents takes no arguments")
	if err != nil {
		return err
	}
	cfg, _ := f.loadConfig() // when it does not load, queryOrOffline says so
	from, err := daemon.ParseSince(*since, time.Now(), shownZone(cfg))
	if err != nil {
		return &usageError{err.Error()}
	}
	if *limit < 0 {
		return &usageError{fmt.Sprintf("--limit %d: give a count, or 0 for all", *limit)}
	}
	var list daemon.IncidentList
	cfg, err = queryOrOffline(ctx, f, c.stderr,
		func(cl *adminClient) error {
			q := url.Values{"since": {from.Format(time.RFC3339)}, "limit": {strconv.Itoa(*limit)}}
			return cl.call(ctx, "GET", "/v1/incidents", q, &list)
		},
		func(cfg *daemon.Config, st *store.Store) error {
			why, err := daemon.StoredUnreported(cfg, st, time.Now())
			if err == nil {
				list, err = daemon.QueryIncidents(st, from, *limit, why)
			}
			return err
		})
	if err != nil {
		return err
	}
	incs := list.Incidents
	if list.Total > len(incs) {
		fmt.Fprintf(c.stderr, "The newest %d of %d incidents since %s; --limit 0 shows them all.\n",
			len(incs), list.Total, shownTime(from, shownZone(cfg)))
	}
	if *f.asJSON {
		// An object, as ip's and net's: with the total, a script sees the list was cut.
		if list.Incidents == nil {
			list.Incidents = []daemon.IncidentInfo{}
		}
		return printJSON(c.stdout, list)
	}
	if len(incs) == 0 {
		fmt.Fprintf(c.stdout, "No incidents since %s.\n", shownTime(from, shownZone(cfg)))
		if b := list.NewestBegan; b != nil {
			// Whole days back, past its beginning: every incident ended before from.
			days := max(int(time.Since(*b).Hours()/24)+1, 1)
			cmd := daemon.Command(*f.config, "incidents", fmt.Sprintf("--since %dd", days))
			fmt.Fprintf(c.stdout, "The newest began on %s: %s\n", shownTime(*b, shownZone(cfg)), cmd)
		}
		return nil
	}
	loc := shownZone(cfg)
	tw := newTable(c.stdout)
	fmt.Fprintf(tw, "ID\tSOURCE\tCONNECTIONS\tLINES\t%s\t%s\tHOSTS\tREPORT\n",
		zoneTitle("FIRST SEEN", loc, timesOf(incs, func(i daemon.IncidentInfo) time.Time { return i.First })),
		zoneTitle("LAST SEEN", loc, timesOf(incs, func(i daemon.IncidentInfo) time.Time { return i.Last })))
	for _, i := range incs {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\n", i.ID, sourceCell(i.Incident), i.Attempts, i.Count,
			cellTime(i.First, loc), cellTime(i.Last, loc), strings.Join(i.Hosts, ","), incidentReport(i))
	}
	return tw.Flush()
}
