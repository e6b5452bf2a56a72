package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/abusewatch/abusewatch/daemon"
)

// statusCommand is `abusewatch status`: what the running daemon is doing.
type statusCommand struct {
	stdout, stderr io.Writer
}

func (c *statusCommand) Name() string { return "status" }
func (c *statusCommand) Synopsis() string {
	return "show the running daemon: uptime, sources and their lag, counters, store, outbox, incidents without an abuse contact, last errors"
}

func (c *statusCommand) Run(ctx context.Context, args []string) error {
	fs := newFlagSet(c.Name(), "[--config FILE] [--json]", c.stdout, c.stderr)
	f := addAdminFlags(fs)
	_, err := parseExactly(fs, args, 0, "status takes no arguments")
	if err != nil {
		return err
	}
	cfg, client, err := f.daemonClient(c.stderr)
	if err != nil {
		return err
	}
	var st daemon.Status
	if err := client.call(ctx, "GET", "/v1/status", nil, &st); err != nil {
		return err
	}
	if *f.asJSON {
		return printJSON(c.stdout, st)
	}
	w := c.stdout
	fmt.Fprintf(w, "abusewatch is running: pid %d, up %s, mode %s, config %s\n", st.PID,
		uptime(time.Duration(st.UptimeSeconds)*time.Second), st.Mode, st.Config)
	n := st.Counters
	continued := ""
	if n["continued"] > 0 {
		continued = ", " + counted(int(n["continued"]), "continuation line") + " of PostgreSQL's"
	}
	stale := "" // syslog only, and rare: said when there are some
	if n["stale"] > 0 {
		stale = fmt.Sprintf(", %d too old (syslog messages dated more than policy.max_age before they arrived: no event)", n["stale"])
	}
	if n["duplicate"] > 0 { // two sources carry the same records: the log names them
		stale += fmt.Sprintf(", %d duplicate (the same record came through another source first: counted once)", n["duplicate"])
	}
	fmt.Fprintf(w, "Read %s: %s, %d normal, %d unknown, %d unparsed%s%s; %s; %s written, %d delivered.\n",
		counted(int(n["lines"]), "line"), counted(int(n["events"]), "event"), n["normal"], n["unknown"], n["unparsed"], continued, stale,
		counted(int(n["incident_updates"]), "incident update"), counted(int(n["reports"]), "report"), n["delivered"])
	fmt.Fprintf(w, "Store %s: %s, %s, %s, %s.\n", st.Store.Path, counted(int(st.Store.SizeBytes), "byte"),
		counted(st.Store.Events, "event"), counted(st.Store.Incidents, "incident"), counted(st.Exclusions, "excluded network"))
	if r := st.StoreRefuses; r != nil {
		hint := r.Hint
		if hint == "" { // a daemon before the hints
			hint = "is the disk full?"
		}
		fmt.Fprintf(w, "  The store refuses commits since %s: %s. Reading waits (nothing is lost; %s kept, retried with back-off): %s\n",
			shownTime(r.Since, shownZone(cfg)), r.Error, counted(r.Lines, "line"), hint)
	}
	if st.Store.FreeBytes > 64<<20 && st.Store.FreeBytes*4 > st.Store.SizeBytes {
		fmt.Fprintf(w, "  %s of it or more is free for reuse: stop the daemon and run abusewatch compact to give it back.\n", megabytes(st.Store.FreeBytes))
	}
	if len(st.Store.Outbox) > 0 {
		fmt.Fprint(w, "Outbox:")
		for _, state := range []string{"pending-approval", "queued", "sending", "sent", "failed", "rejected", "held"} {
			for s, k := range st.Store.Outbox {
				if string(s) == state {
					fmt.Fprintf(w, " %d %s", k, s)
				}
			}
		}
		fmt.Fprintln(w)
	}
	switch o := st.Outbox; {
	case o.Running:
		fmt.Fprintf(w, "Outbox round: running since %s (%s): lookups or deliveries waiting on the network.\n",
			shownTime(o.Started, shownZone(cfg)), time.Since(o.Started).Round(time.Second))
	case !o.Started.IsZero():
		fmt.Fprintf(w, "Outbox round: last at %s, took %.1fs", shownTime(o.Started, shownZone(cfg)), o.LastSeconds)
		if o.LastError != "" {
			fmt.Fprintf(w, "; failed: %s", o.LastError)
		}
		fmt.Fprintln(w, ".")
	}
	for _, m := range st.Refused {
		fmt.Fprintf(w, "Refused for good by %s on %s (report %s): %s. Reports leave it out (one with no one else waits for your approval; approving it tries again) until %s.\n",
			m.Email, shownTime(m.Time, shownZone(cfg)), m.Report, m.Reply, shownTime(m.Time.Add(daemon.RefusalKept), shownZone(cfg)))
	}
	if st.WithoutContact > 0 {
		fmt.Fprintf(w, "Waiting for an abuse contact: %s, tried again every round (abusewatch incidents says why).\n", counted(st.WithoutContact, "incident"))
	}
	fmt.Fprintln(w)
	tw := newTable(w)
	fmt.Fprintln(tw, "SOURCE\tLINES\tBYTES\tLAG (BYTES)\tROTATIONS\tTRUNCATIONS\tERRORS\tLAST ERROR")
	for _, s := range st.Sources {
		// What fails now, else the newest error counted, with its time: a count of 20
		// beside nothing read as 20 errors of no kind.
		last := s.Error
		if last == "" && s.LastError != nil {
			last = cellTime(s.LastError.Time, shownZone(cfg)) + " " + s.LastError.Message
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", s.Source, s.Lines, s.Bytes, s.Lag, s.Rotations, s.Truncations, s.Errors, last)
	}
	tw.Flush()
	for _, s := range st.Sources {
		if d := discarded(s); d != "" {
			fmt.Fprintf(w, "%s discarded: %s.\n", s.Source, d)
		}
	}
	if len(st.LastErrors) > 0 {
		fmt.Fprintf(w, "\n%s:\n", zoneTitle("Last warnings and errors", shownZone(cfg), timesOf(st.LastErrors, func(e daemon.LogEntry) time.Time { return e.Time })))
		for _, e := range st.LastErrors {
			fmt.Fprintf(w, "  %s %-5s %s\n", cellTime(e.Time, shownZone(cfg)), e.Level, e.Message)
		}
	}
	return nil
}

// discarded says what a source dropped as the copy of another's record, and what a
// syslog listener discarded, or the journal refused, of its errors: most of it a sender
// can repeat at will. "" when nothing.
func discarded(s daemon.SourceStatus) string {
	var parts []string
	if s.Duplicates > 0 {
		parts = append(parts, fmt.Sprintf("%d duplicate (records another source carried first, counted once: the log names the sources)", s.Duplicates))
	}
	if s.Source == "journal" {
		if s.Refused > 0 {
			parts = append(parts, fmt.Sprintf("%d refused (from neither root nor a configured unit, or by a process that is not the program it names: the log says which and why)", s.Refused))
		}
		return strings.Join(parts, ", ")
	}
	for _, d := range []struct {
		n    int64
		what string
	}{{s.Refused, "refused (not in syslog.allow)"}, {s.OverLimit, "over the connection limits"},
		{s.Cut, "cut off by the stream's end"}, {s.Dropped, "dropped by the kernel (UDP buffer full)"}} {
		if d.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", d.n, d.what))
		}
	}
	return strings.Join(parts, ", ")
}

// uptime is d as a person says it: "30d 4h", "5h 12m", "3m 20s" (it was "724h0m0s").
func uptime(d time.Duration) string {
	days, h, m, sec := int(d/(24*time.Hour)), int(d/time.Hour)%24, int(d/time.Minute)%60, int(d/time.Second)%60
	switch {
	case days > 0:
		return fmt.Sprintf("%dd %dh", days, h)
	case h > 0:
		return fmt.Sprintf("%dh %dm", h, m)
	case m > 0:
		return fmt.Sprintf("%dm %ds", m, sec)
	}
	return fmt.Sprintf("%ds", sec)
}
