package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
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
	fs := newFlagSet(c.Name(), "[--since T] [--limit N] [--all] [--config FILE] [--json]", c.stdout, c.stderr)
	f := addAdminFlags(fs)
	since := fs.String("since", "7d", "shapes seen after `T`: a duration back from now (\"36h\", \"7d\") or a date")
	limit := fs.Int("limit", 20, "show the `N` most frequent shapes (0: all)")
	all := fs.Bool("all", false, "also list the stored shapes that the rules loaded now decide (left out by default); with --json, print {\"unknown\": [...], \"decided\": [...]}")
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
	checked, cfg, err := readShapes(ctx, f, c.stderr, from, *limit)
	if err != nil {
		return err
	}
	if *f.asJSON {
		if *all {
			return printJSON(c.stdout, checked)
		}
		return printJSON(c.stdout, checked.Unknown)
	}
	loc := shownZone(cfg)
	shapes := checked.Unknown
	if len(shapes) == 0 {
		fmt.Fprintf(c.stdout, "No unknown records since %s", shownTime(from, loc))
		if len(checked.Refused) > 0 {
			fmt.Fprint(c.stdout, " to write a normal rule for")
		} else if len(checked.Decided) > 0 {
			fmt.Fprint(c.stdout, " that the rules loaded now leave unknown")
		}
		fmt.Fprintln(c.stdout, ".")
	} else {
		tw := newTable(c.stdout)
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
	}
	if len(checked.Refused) > 0 {
		// Listed apart, with the reason: among the others, rules suggest's normal
		// rule for them would hide pure-ftpd's attacks until numeric_hosts names it.
		fmt.Fprintln(c.stdout, "\n"+refusedTitle)
		tw := newTable(c.stdout)
		fmt.Fprintf(tw, "COUNT\t%s\tSHAPE\tWHY\n",
			zoneTitle("LAST SEEN", loc, timesOf(checked.Refused, func(s daemon.RefusedShape) time.Time { return s.Last })))
		for _, s := range checked.Refused {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", s.Count, cellTime(s.Last, loc), s.Shape.Shape, s.Reason)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(checked.Decided) > 0 {
		list := daemon.Command(*f.config, "unknown", append(sinceArgs(fs, *since), "--all")...) + " lists"
		if *all {
			list = ""
		}
		fmt.Fprintln(c.stdout)
		fmt.Fprintln(c.stdout, leftOut(checked.Decided, list))
		if *all {
			tw := newTable(c.stdout)
			fmt.Fprintf(tw, "COUNT\t%s\tNOW\tSHAPE\n",
				zoneTitle("LAST SEEN", loc, timesOf(checked.Decided, func(s daemon.DecidedShape) time.Time { return s.Last })))
			for _, s := range checked.Decided {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", s.Count, cellTime(s.Last, loc), nowDecided(s), s.Shape.Shape)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
		}
	}
	if len(shapes) == 0 {
		return olderShapes(ctx, c.stdout, f, c.stderr, cfg, "unknown")
	}
	return nil
}

// nowDecided says what the rules loaded now make of a decided shape's sample, and by
// which rule.
func nowDecided(s daemon.DecidedShape) string {
	if s.Now == "event" {
		return "an attack, by " + s.Rule
	}
	return s.Now + ", by " + s.Rule
}

// leftOut says how many stored shapes the rules loaded now decide, of which kind, and
// the command that lists them, list ("COMMAND lists"), or "" when a list follows.
func leftOut(decided []daemon.DecidedShape, list string) string {
	normal := 0
	for _, s := range decided {
		if s.Now == "normal" {
			normal++
		}
	}
	var kinds []string
	if normal > 0 {
		kinds = append(kinds, fmt.Sprintf("%d now normal", normal))
	}
	if n := len(decided) - normal; n > 0 {
		kinds = append(kinds, fmt.Sprintf("%d now an attack rule's events", n))
	}
	them := "them"
	if len(decided) == 1 {
		them = "it"
	}
	text := fmt.Sprintf("%s left out: the rules loaded now decide %s (%s); the store keeps its count until the records expire",
		counted(len(decided), "stored shape"), them, strings.Join(kinds, ", "))
	if list == "" {
		return text + ":"
	}
	return text + ". " + list + " " + them + "."
}

// sinceArgs is the --since given on the command line, to repeat in a command shown:
// none when it was not given.
func sinceArgs(fs *flag.FlagSet, since string) []string {
	if !flagGiven(fs, "since") {
		return nil
	}
	return []string{"--since " + since}
}

// readShapes reads the unknown shapes seen since from, each one's sample classified
// again with the rules loaded now: the daemon's running rules or, when none answers,
// the configured ones, as the daemon would start with. Unknown holds the limit most
// frequent the rules still leave unknown (all with 0), Decided every one they decide: an
// admin who added rules for a shape and reloaded is done with it, though the store
// keeps counting the records seen before.
func readShapes(ctx context.Context, f adminFlags, stderr io.Writer, from time.Time, limit int) (daemon.CheckedShapes, *daemon.Config, error) {
	var checked daemon.CheckedShapes
	q := url.Values{"since": {from.Format(time.RFC3339)}, "limit": {strconv.Itoa(limit)}}
	cfg, err := queryOrOffline(ctx, f, stderr,
		func(cl *adminClient) error { return cl.call(ctx, "GET", "/v1/unknown/checked", q, &checked) },
		func(cfg *daemon.Config, st *store.Store) error {
			all, err := st.Shapes(from, 0)
			if err != nil {
				return err
			}
			rules, err := daemon.LoadRules(cfg)
			if err != nil {
				// Then none of them is known to be decided: all are listed.
				fmt.Fprintf(stderr, "The configured rules do not load, so the shapes are not checked against them:\n%v\n", err)
				checked = daemon.CheckShapes(daemon.ShapeRules{}, all, limit)
				return nil
			}
			checked = daemon.CheckShapes(daemon.ConfiguredShapeRules(cfg, daemon.NewDetector(cfg, rules)), all, limit)
			return nil
		})
	return checked, cfg, err
}

// olderShapes tells, after "no unknown records since T", when the newest stored shape
// the rules still leave unknown was last seen and the command (cmd) with the --since
// that lists it: a store whose records are older than the default period is not one
// where every record matched a rule. It says nothing when no such shape is stored.
func olderShapes(ctx context.Context, w io.Writer, f adminFlags, stderr io.Writer, cfg *daemon.Config, cmd string) error {
	checked, _, err := readShapes(ctx, f, io.Discard, time.Time{}, 0)
	all := checked.Unknown
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
