package main

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/daemon"
)

// counted is n and noun, plural unless n is 1: "1 incident", "6 incidents".
func counted(n int, noun string) string { return daemon.Counted(n, noun) }

// shownZone is the zone the commands show times in: reporter.timezone, the zone of the
// reports and the daily summary ("Local" unless set), or the machine's without a config.
// One zone for all: `incidents` showed the machine's and `outbox` the reports', an hour
// apart and neither saying which.
func shownZone(cfg *daemon.Config) *time.Location {
	if cfg == nil {
		return time.Local
	}
	return daemon.Location(cfg.Reporter.Timezone)
}

// timeLayout is how the commands show a time, in reporter.timezone (shownZone): in a
// table, with the zone said once in the column's title (zoneTitle); in a sentence,
// followed by its offset (shownTime). There were five layouts, with seconds or
// without, and the tables named no zone.
const timeLayout = "2006-01-02 15:04"

// shownTime is t in loc for a sentence, with its offset: "2026-11-20 03:12 +0100".
func shownTime(t time.Time, loc *time.Location) string {
	return t.In(loc).Format(timeLayout + " -0700")
}

// cellTime is t in loc for a table column whose title names the zone (zoneTitle).
func cellTime(t time.Time, loc *time.Location) string {
	return t.In(loc).Format(timeLayout)
}

// zoneTitle is the title of a column of the times ts in loc, with their zone: their
// offset when they share one ("FIRST SEEN (+0100)"), else the zone's abbreviations
// across them ("FIRST SEEN (CET/CEST)": a summer time began or ended among them).
func zoneTitle(title string, loc *time.Location, ts []time.Time) string {
	var offsets, names []string
	for _, t := range ts {
		t = t.In(loc)
		if o := t.Format("-0700"); !slices.Contains(offsets, o) {
			offsets = append(offsets, o)
		}
		if n, _ := t.Zone(); !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	switch {
	case len(offsets) == 0:
		return fmt.Sprintf("%s (%s)", title, time.Now().In(loc).Format("-0700"))
	case len(offsets) == 1:
		return fmt.Sprintf("%s (%s)", title, offsets[0])
	}
	return fmt.Sprintf("%s (%s)", title, strings.Join(names, "/"))
}

// timesOf is f of each of xs: the times of a column, for zoneTitle.
func timesOf[T any](xs []T, f func(T) time.Time) []time.Time {
	ts := make([]time.Time, len(xs))
	for i, x := range xs {
		ts[i] = f(x)
	}
	return ts
}

// table is the commands' tabwriter (columns two spaces apart), writing to its output in
// large pieces: a tabwriter writes each cell and each run of padding on its own, and
// to a terminal or pipe each was a system call (`incidents` over 300,000 incidents spent
// 25 s in the kernel).
type table struct {
	*tabwriter.Writer
	out *bufio.Writer
}

func newTable(w io.Writer) *table {
	out := bufio.NewWriterSize(w, 64<<10)
	return &table{Writer: tabwriter.NewWriter(out, 0, 0, 2, ' ', 0), out: out}
}

// Flush writes the table out.
func (t *table) Flush() error {
	if err := t.Writer.Flush(); err != nil {
		return err
	}
	return t.out.Flush()
}

// incidentReport says where an incident's report is, or why it has none.
func incidentReport(i daemon.IncidentInfo) string {
	if i.ReportID != "" {
		cells := []string{fmt.Sprintf("%s to %s", i.ReportState, strings.Join(i.ReportTo, ", "))}
		for _, s := range i.Shares { // the other parties' shares of a split network incident
			cells = append(cells, fmt.Sprintf("%s to %s", s.State, strings.Join(s.To, ", ")))
		}
		return strings.Join(cells, "; ")
	}
	if i.UnreportedCode == daemon.UnreportedUnknown {
		// Without the daemon: maybe none yet, maybe no contact; the words say so.
		return i.Unreported
	}
	return notReported(i.Unreported, "none yet")
}

// sourceCell is an incident's source in the tables: of one about a network, with how
// many of its addresses it came from (the addresses are in --json, and in the report).
// An incident keeps at most abusewatch.MaxSources of them: a full list may leave some
// out, and says so ("256+"), where the count was the list's length.
func sourceCell(inc abusewatch.Incident) string {
	switch n := len(inc.Sources); {
	case !inc.AboutNetwork() || n <= 1:
		return inc.Source()
	case n >= abusewatch.MaxSources:
		return fmt.Sprintf("%s (%d+ addresses)", inc.Source(), n)
	default:
		return fmt.Sprintf("%s (%d addresses)", inc.Source(), n)
	}
}

// notReported is "not reported: " and why, or otherwise when why is empty (nothing holds
// the report back).
func notReported(why, otherwise string) string {
	if why == "" {
		return otherwise
	}
	return "not reported: " + why
}

// orEmpty is s, or an empty list for none: [] in JSON, never null.
func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
