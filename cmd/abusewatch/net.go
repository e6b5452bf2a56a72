package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/abusewatch/abusewatch/daemon"
	"github.com/abusewatch/abusewatch/store"
)

// netCommand is `abusewatch net CIDR`: what is known about a network.
type netCommand struct {
	stdout, stderr io.Writer
}

func (c *netCommand) Name() string { return "net" }
func (c *netCommand) Synopsis() string {
	return "show what is known about a network: events by class and day, busiest addresses, incidents, reports"
}

func (c *netCommand) Run(ctx context.Context, args []string) error {
	fs := newFlagSet(c.Name(), "[--since T] [--config FILE] [--json] CIDR", c.stdout, c.stderr)
	f := addAdminFlags(fs)
	since := fs.String("since", "30d", "look back to `T`: a duration (\"36h\", \"30d\"), or a date or time (read in reporter.timezone)")
	rest, err := parseExactly(fs, args, 1, "name one network, e.g. abusewatch net 203.0.113.0/24")
	if err != nil {
		return err
	}
	if err := zoneError(rest[0]); err != nil {
		return err
	}
	p, err := netip.ParsePrefix(rest[0])
	if err != nil {
		return netArgError(rest[0])
	}
	if err := daemon.CheckMapped(p); err != nil {
		return &usageError{err.Error()}
	}
	if p != p.Masked() {
		// The network of an address is a fair question ("net 45.134.26.17/24"), but a
		// slip (2001:4860::/16 for /32) must not pass unseen as a far larger network.
		fmt.Fprintf(c.stderr, "Note: %s has address bits set past /%d: this is about the network %s.\n", rest[0], p.Bits(), p.Masked())
		p = p.Masked()
	}
	return showNetwork(ctx, c.stdout, c.stderr, f, *since, apiPath("v1", "net", p.Addr().String(), strconv.Itoa(p.Bits())), p)
}

// showNetwork asks the daemon (or the store) about p and prints the answer.
func showNetwork(ctx context.Context, stdout, stderr io.Writer, f adminFlags, since, path string, p netip.Prefix) error {
	cfg, _ := f.loadConfig() // when it does not load, queryOrOffline says so
	from, err := daemon.ParseSince(since, time.Now(), shownZone(cfg))
	if err != nil {
		return &usageError{err.Error()}
	}
	var info daemon.NetworkInfo
	cfg, err = queryOrOffline(ctx, f, stderr,
		func(cl *adminClient) error {
			return cl.call(ctx, "GET", path, url.Values{"since": {from.Format(time.RFC3339)}}, &info)
		},
		func(cfg *daemon.Config, st *store.Store) error {
			why, err := daemon.StoredUnreported(cfg, st, time.Now())
			if err == nil {
				info, err = daemon.QueryNetwork(st, p, from, time.Now(), shownZone(cfg), why)
			}
			return err
		})
	if err != nil {
		return err
	}
	if *f.asJSON {
		return printJSON(stdout, info)
	}
	loc := shownZone(cfg)
	fmt.Fprintf(stdout, "%s since %s: %s", info.Network, shownTime(info.Since, loc), counted(info.Events, "event"))
	if info.Events > 0 {
		var parts []string
		for _, c := range slices.Sorted(maps.Keys(info.ByClass)) {
			parts = append(parts, fmt.Sprintf("%d %s", info.ByClass[c], c))
		}
		fmt.Fprintf(stdout, " (%s)", strings.Join(parts, ", "))
	}
	fmt.Fprintln(stdout, ".")
	if info.CountedEvents > 0 {
		fmt.Fprintf(stdout, "Besides the raw events kept, the daily counters hold %s more whose raw events retention deleted, on %s (listed below by UTC day, \"(UTC)\": the counters are kept so).\n",
			counted(info.CountedEvents, "event"), counted(len(info.CountedByDay), "day"))
		if f := info.CountedFrom; f != nil {
			fmt.Fprintf(stdout, "The counters cannot split a day: those of %s count it whole, from the start of %s UTC (%s), before --since.\n",
				f.UTC().Format(time.DateOnly), f.UTC().Format(time.DateOnly), shownTime(*f, loc))
		}
	}
	if info.NotCounted != "" {
		fmt.Fprintf(stdout, "Older events not available: %s.\n", info.NotCounted)
	}
	if f := info.KnownFrom; f != nil {
		fmt.Fprintf(stdout, "Nothing is known before %s UTC: [retention] counters deleted the days before it, which are not quiet ones.\n", f.UTC().Format(time.DateOnly))
	}
	switch e := info.Excluded; {
	case e != nil:
		how := "excluded"
		if e.By == "pardon" {
			how = "pardoned"
		}
		fmt.Fprintf(stdout, "Never reported: %s %s on %s", e.Network, how, shownTime(e.Added, loc))
		if reason := strings.Join(strings.Fields(e.Reason), " "); reason != "" {
			fmt.Fprintf(stdout, ": %s", reason)
		}
		fmt.Fprintln(stdout)
		if e.By == "pardon" {
			fmt.Fprintln(stdout, "The pardon forgot its incidents until then; reports sent before it stay as they went (abusewatch outbox --state sent).")
		}
	case info.NeverReported != "":
		fmt.Fprintf(stdout, "Never reported: %s.\n", info.NeverReported)
	}
	for _, e := range info.PastExclusions {
		fmt.Fprintln(stdout, pastExclusionLine(e, loc))
	}
	if info.Last != nil {
		fmt.Fprintf(stdout, "Last event: %s\n", info.Last.Line)
	}
	tw := newTable(stdout)
	if len(info.CountedByDay)+len(info.ByDay) > 0 {
		// The raw events' days are reporter.timezone's, as every time shown; the daily
		// counters' are UTC days, and say so.
		fmt.Fprintln(tw, "\nDAY\tEVENTS BY CLASS")
		// By date, a counted day before a raw one of the same date.
		rows := append(slices.Clone(info.CountedByDay), info.ByDay...)
		isCounted := func(i int) bool { return i < len(info.CountedByDay) }
		order := make([]int, len(rows))
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(a, b int) int { return strings.Compare(rows[a].Day, rows[b].Day) })
		for _, i := range order {
			d := rows[i]
			var parts []string
			for _, c := range slices.Sorted(maps.Keys(d.ByClass)) {
				parts = append(parts, fmt.Sprintf("%s %d", c, d.ByClass[c]))
			}
			day := d.Day
			if isCounted(i) {
				day += " (UTC)"
			}
			fmt.Fprintf(tw, "%s\t%s\n", day, strings.Join(parts, ", "))
		}
	}
	if len(info.Addresses) > 0 {
		fmt.Fprintln(tw, "\nADDRESS\tEVENTS")
		for _, a := range info.Addresses {
			fmt.Fprintf(tw, "%s\t%d\n", a.Addr, a.Events)
		}
	}
	if len(info.Incidents) > 0 {
		if info.IncidentsTotal > len(info.Incidents) {
			fmt.Fprintf(tw, "\n%d incidents; the newest %d:\n", info.IncidentsTotal, len(info.Incidents))
		}
		fmt.Fprintf(tw, "\nINCIDENT\tSOURCE\tCONNECTIONS\t%s\tREPORT\n",
			zoneTitle("LAST SEEN", loc, timesOf(info.Incidents, func(i daemon.IncidentInfo) time.Time { return i.Last })))
		for _, i := range info.Incidents {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", i.ID, sourceCell(i.Incident), i.Attempts, cellTime(i.Last, loc), incidentReport(i))
		}
	}
	if len(info.Reports) > 0 {
		// Every report that names it, whenever written: [retention] incidents deletes
		// the incidents, and the reports stay.
		fmt.Fprintf(tw, "\nREPORT\tSTATE\tTO\t%s\tINCIDENTS\tSUBJECT\n",
			zoneTitle("WRITTEN", loc, timesOf(info.Reports, func(r daemon.ReportInfo) time.Time { return r.Created })))
		for _, r := range info.Reports {
			incs := strconv.Itoa(len(r.Incidents))
			if r.IncidentsKept < len(r.Incidents) {
				incs += fmt.Sprintf(" (%d deleted)", len(r.Incidents)-r.IncidentsKept)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.State, strings.Join(r.To, ", "), cellTime(r.Created, loc), incs, r.Subject)
		}
	}
	return tw.Flush()
}

// pastExclusionLine says that e held back its network's lines for a time: `exclude
// --remove` ended it, and what it held back stays out of every incident.
func pastExclusionLine(e daemon.PastExclusionInfo, loc *time.Location) string {
	how := "excluded"
	if e.By == "pardon" {
		how = "pardoned"
	}
	span := "until " + shownTime(e.To, loc)
	if !e.From.IsZero() {
		span = "from " + shownTime(e.From, loc) + " to " + shownTime(e.To, loc)
	}
	line := fmt.Sprintf("Was %s: %s %s", how, e.Network, span)
	if reason := strings.Join(strings.Fields(e.Reason), " "); reason != "" {
		line += " (" + reason + ")"
	}
	return line + ": its lines of that time (dated or read then) are never reported."
}
