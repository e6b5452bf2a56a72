package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"time"

	"github.com/abusewatch/abusewatch/daemon"
	"github.com/abusewatch/abusewatch/store"
)

// unknownCommand is `abusewatch unknown`: the most frequent shapes of the records no rule
// knows, the list an admin tunes the normal rules from.
type unknownCommand struct {
	stdout, stderr io.Writer
}

func (c *unknownCommand) Name() string { return "unknown" }
func (c *unknownCommand) Synopsis() string {
	return "list the most frequent shapes of unknown records, to tune the normal rules"
}

func (c *unknownCommand) Run(ctx context.Context, args []string) error {
	fs := newFlagSet(c.Name(), "[--since T] [--limit N] [--config FILE] [--json]", c.stdout, c.stderr)
	f := addAdminFlags(fs)
	since := fs.String("since", "7d", "shapes seen after `T`: a duration back from now (\"36h\", \"7d\") or a date")
	limit := fs.Int("limit", 20, "show the `N` most frequent shapes (0: all)")
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return &usageError{"unknown takes no arguments"}
	}
	if *limit < 0 {
		return &usageError{"--limit must be 0 or more"}
	}
	loaded, _ := f.loadConfig() // when it does not load, the query says so
	from, err := daemon.ParseSince(*since, time.Now(), shownZone(loaded))
	if err != nil {
		return &usageError{err.Error()}
	}
	var shapes []store.Shape
	q := url.Values{"since": {from.Format(time.RFC3339)}, "limit": {strconv.Itoa(*limit)}}
	cfg, err := queryOrOffline(ctx, f, c.stderr,
		func(cl *adminClient) error { return cl.call(ctx, "GET", "/v1/unknown", q, &shapes) },
		func(_ *daemon.Config, st *store.Store) (err error) { shapes, err = st.Shapes(from, *limit); return err })
	if err != nil {
		return err
	}
	if *f.asJSON {
		if shapes == nil {
			shapes = []store.Shape{}
		}
		return printJSON(c.stdout, shapes)
	}
	if len(shapes) == 0 {
		fmt.Fprintf(c.stdout, "No unknown records since %s: every record matched a rule.\n", shownTime(from, shownZone(cfg)))
		return nil
	}
	tw := newTable(c.stdout)
	loc := shownZone(cfg)
	fmt.Fprintf(tw, "COUNT\t%s\t%s\tSHAPE\n",
		zoneTitle("FIRST SEEN", loc, timesOf(shapes, func(s store.Shape) time.Time { return s.First })),
		zoneTitle("LAST SEEN", loc, timesOf(shapes, func(s store.Shape) time.Time { return s.Last })))
	for _, s := range shapes {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", s.Count, cellTime(s.First, loc), cellTime(s.Last, loc), s.Shape)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(c.stdout, "\nabusewatch rules suggest proposes a normal rule for each of them.")
	return nil
}
