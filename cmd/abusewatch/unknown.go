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
	shapes, cfg, err := readShapes(ctx, f, c.stderr, from, *limit)
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
		fmt.Fprintf(c.stdout, "No unknown records since %s.\n", shownTime(from, shownZone(cfg)))
		return olderShapes(ctx, c.stdout, f, c.stderr, cfg, "unknown")
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

// readShapes reads the unknown shapes seen since from (the limit most frequent; all
// with 0), from the daemon or, when none answers, the store.
func readShapes(ctx context.Context, f adminFlags, stderr io.Writer, from time.Time, limit int) ([]store.Shape, *daemon.Config, error) {
	var shapes []store.Shape
	q := url.Values{"since": {from.Format(time.RFC3339)}, "limit": {strconv.Itoa(limit)}}
	cfg, err := queryOrOffline(ctx, f, stderr,
		func(cl *adminClient) error { return cl.call(ctx, "GET", "/v1/unknown", q, &shapes) },
		func(_ *daemon.Config, st *store.Store) (err error) { shapes, err = st.Shapes(from, limit); return err })
	return shapes, cfg, err
}

// olderShapes tells, after "no unknown records since T", when the newest stored shape
// was last seen and the command (cmd) with the --since that lists it: a store whose
// records are older than the default period is not one where every record matched a
// rule. It says nothing when no shape is stored.
func olderShapes(ctx context.Context, w io.Writer, f adminFlags, stderr io.Writer, cfg *daemon.Config, cmd string) error {
	all, _, err := readShapes(ctx, f, io.Discard, time.Time{}, 0)
	if err != nil || len(all) == 0 {
		return err
	}
	newest := all[0].Last
	for _, s := range all[1:] {
		if s.Last.After(newest) {
			newest = s.Last
		}
	}
	// Whole days back, past its last sighting.
	cmd = daemon.Command(*f.config, cmd, fmt.Sprintf("--since %dd", max(int(time.Since(newest).Hours()/24)+1, 1)))
	fmt.Fprintf(w, "%s stored, the newest last seen on %s: %s\n", counted(len(all), "unknown shape"), shownTime(newest, shownZone(cfg)), cmd)
	return nil
}
