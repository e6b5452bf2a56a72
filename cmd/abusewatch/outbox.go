package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/daemon"
	"github.com/abusewatch/abusewatch/store"
)

// outboxCommand is `abusewatch outbox`: list the reports and where each one is.
type outboxCommand struct {
	stdout, stderr io.Writer
}

func (c *outboxCommand) Name() string { return "outbox" }
func (c *outboxCommand) Synopsis() string {
	return "list the abuse reports: waiting for approval, queued, sent, failed, rejected; and how many incidents wait for policy.settle"
}

// outboxEntry is one report as `outbox --json` prints it (the message itself is left
// out: `report show ID` prints it).
type outboxEntry struct {
	ID          string    `json:"id"`
	State       string    `json:"state"`
	To          []string  `json:"to"`
	Network     string    `json:"network,omitempty"`
	Subject     string    `json:"subject"`
	Incidents   []string  `json:"incidents"`
	Created     time.Time `json:"created"`
	Updated     time.Time `json:"updated"`
	Attempts    int       `json:"attempts"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	Waiting     string    `json:"waiting,omitempty"`
	Error       string    `json:"error,omitempty"`
	Location    string    `json:"location,omitempty"`
	MessageID   string    `json:"message_id"`
	// Of a report some of whose recipients refused it: those that took it, and those
	// that refused it for good.
	Delivered []string `json:"delivered,omitempty"`
	Refused   []string `json:"refused,omitempty"`
	// What its mail masks ([mail] redact as it was written: "hosts", "users"), and, of
	// a report not sent yet written with another setting than the config's, that
	// setting: it is written again with it before it goes.
	Redact      []string  `json:"redact,omitempty"`
	RedactAgain *[]string `json:"redact_again,omitempty"`
}

// outboxList is what `outbox --json` prints: the reports, and how many incidents wait
// for policy.settle before theirs are written (left out when an older daemon cannot
// say).
type outboxList struct {
	Reports  []outboxEntry `json:"reports"`
	Settling *int          `json:"settling,omitempty"`
}

// entryOf is r as `outbox --json` prints it; cfg (nil: not loaded) says whether it is
// to be written again with another [mail] redact.
func entryOf(r abusewatch.Report, cfg *daemon.Config) outboxEntry {
	e := outboxEntry{ID: r.ID, State: string(r.State), To: r.Contact.Emails, Subject: r.Subject, Incidents: r.Incidents,
		Created: r.Created, Updated: r.Updated, Attempts: r.Attempts, NextAttempt: r.NextAttempt, Waiting: r.Waiting,
		Error: r.Error, Location: r.Location, MessageID: r.MessageID, Delivered: r.Delivered, Refused: r.Refused, Redact: r.Redacted}
	if r.Contact.Network.IsValid() {
		e.Network = r.Contact.Network.String()
	}
	if now, changed := redactChange(cfg, r); changed {
		e.RedactAgain = &now
		if now == nil {
			*e.RedactAgain = []string{}
		}
	}
	return e
}

// redactChange is daemon.RedactChange, nothing when the config did not load.
func redactChange(cfg *daemon.Config, r abusewatch.Report) ([]string, bool) {
	if cfg == nil {
		return nil, false
	}
	return daemon.RedactChange(cfg, r)
}

// redactNote says of r, written with another [mail] redact than cfg's and not sent
// yet, that it is written again before it goes; "" otherwise.
func redactNote(r abusewatch.Report, cfg *daemon.Config) string {
	now, changed := redactChange(cfg, r)
	if !changed {
		return ""
	}
	return fmt.Sprintf("written with redact %s, written again with %s ([mail] redact now) before it goes",
		daemon.RedactWords(r.Redacted), daemon.RedactWords(now))
}

func (c *outboxCommand) Run(ctx context.Context, args []string) error {
	fs := newFlagSet(c.Name(), "[--config FILE] [--state STATE] [--json]", c.stdout, c.stderr)
	f := addAdminFlags(fs)
	state := fs.String("state", "", "list only reports in `STATE`: pending-approval, queued, sending, sent, failed, rejected or held")
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return &usageError{fmt.Sprintf("unexpected argument %q", rest[0])}
	}
	var states []abusewatch.ReportState
	if *state != "" {
		s := abusewatch.ReportState(*state)
		switch s {
		case abusewatch.ReportPendingApproval, abusewatch.ReportQueued, abusewatch.ReportSending, abusewatch.ReportSent,
			abusewatch.ReportFailed, abusewatch.ReportRejected, abusewatch.ReportHeld:
			states = append(states, s)
		default:
			return &usageError{fmt.Sprintf("--state %q: use pending-approval, queued, sending, sent, failed, rejected or held", *state)}
		}
	}
	var reports []abusewatch.Report
	var settling *daemon.SettlingCount
	query := url.Values{}
	if *state != "" {
		query.Set("state", *state)
	}
	cfg, err := queryOrOffline(ctx, f, c.stderr,
		func(cl *adminClient) error {
			if err := cl.call(ctx, "GET", "/v1/outbox", query, &reports); err != nil {
				return err
			}
			var n daemon.SettlingCount
			if err := cl.call(ctx, "GET", "/v1/outbox/settling", nil, &n); err != nil {
				// A daemon older than the count (running while the binary was
				// upgraded) lists the reports all the same.
				fmt.Fprintf(c.stderr, "The daemon does not say how many incidents wait for policy.settle: %v\n", err)
				return nil
			}
			settling = &n
			return nil
		},
		func(cfg *daemon.Config, st *store.Store) (err error) {
			if reports, err = st.Reports(states...); err != nil {
				return err
			}
			why, err := daemon.StoredUnreported(cfg, st, time.Now())
			if err != nil {
				return err
			}
			n, err := daemon.Settling(st, why)
			settling = &n
			return err
		})
	if err != nil {
		return err
	}
	if *f.asJSON {
		out := outboxList{Reports: make([]outboxEntry, 0, len(reports))}
		for _, r := range reports {
			out.Reports = append(out.Reports, entryOf(r, cfg))
		}
		if settling != nil {
			out.Settling = &settling.Incidents
		}
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	loc := shownZone(cfg)
	// Said however the list reads: an outbox empty minutes after an attack is not
	// nothing to report.
	if *state == "" {
		defer c.printSettling(settling, cfg)
	}
	if len(reports) == 0 && *state != "" {
		fmt.Fprintf(c.stdout, "No %s reports.\n", *state) // the outbox may hold others
		return nil
	}
	if len(reports) == 0 {
		fmt.Fprintln(c.stdout, "The outbox is empty.")
		return nil
	}
	tw := newTable(c.stdout)
	fmt.Fprintf(tw, "ID\tSTATE\tTO\tINCIDENTS\t%s\tATTEMPTS\tNOTE\n",
		zoneTitle("CREATED", loc, timesOf(reports, func(r abusewatch.Report) time.Time { return r.Created })))
	pending := 0
	for _, r := range reports {
		if r.State == abusewatch.ReportPendingApproval {
			pending++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%d\t%s\n", r.ID, r.State, strings.Join(r.Contact.Emails, ","), len(r.Incidents),
			cellTime(r.Created, loc), r.Attempts, note(r, loc, cfg))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if pending > 0 {
		waits := "s wait"
		if pending == 1 {
			waits = " waits"
		}
		fmt.Fprintf(c.stdout, "\n%d report%s for your approval: %s, then %s (or --all, which leaves guesses out).\n", pending, waits,
			daemon.Command(*f.config, "report show", "ID"), daemon.Command(*f.config, "report approve", "ID"))
	}
	return nil
}

// printSettling says how many incidents wait for policy.settle, when any do.
func (c *outboxCommand) printSettling(settling *daemon.SettlingCount, cfg *daemon.Config) {
	if settling == nil || settling.Incidents == 0 {
		return
	}
	what := "incidents wait"
	if settling.Incidents == 1 {
		what = "incident waits"
	}
	settle := ""
	if cfg != nil {
		settle = " (" + cfg.Policy.Settle.String() + ")"
	}
	fmt.Fprintf(c.stdout, "\n%d %s for policy.settle%s before a report is written: a login from its address meanwhile holds it (abusewatch incidents says until when).\n",
		settling.Incidents, what, settle)
}

// note says the one thing to know about a report in the table, after that it is
// written again with [mail] redact as set now before it goes, if so: the admin about
// to approve what he read must know that what goes says less, or more.
func note(r abusewatch.Report, loc *time.Location, cfg *daemon.Config) string {
	n := noteOf(r, loc)
	if rn := redactNote(r, cfg); rn != "" {
		return strings.Join(slices.DeleteFunc([]string{rn, n}, func(s string) bool { return s == "" }), "; ")
	}
	return n
}

// noteOf is note without [mail] redact.
func noteOf(r abusewatch.Report, loc *time.Location) string {
	short := func(s string) string {
		if len(s) > 90 {
			return s[:89] + "…"
		}
		return s
	}
	switch {
	case r.State == abusewatch.ReportQueued && r.Waiting != "":
		return "waits until " + shownTime(r.NextAttempt, loc) + ": " + short(r.Waiting)
	case r.State == abusewatch.ReportQueued && !r.NextAttempt.IsZero():
		return "retry at " + shownTime(r.NextAttempt, loc) + " after: " + short(r.Error)
	case r.State == abusewatch.ReportSent && r.Error != "":
		return short(r.Error) // not to every recipient: who refused it, and why
	case r.State == abusewatch.ReportSent:
		return short(r.Location)
	case r.Error != "":
		return short(r.Error)
	}
	return ""
}
