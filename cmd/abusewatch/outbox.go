package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
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
	return "list the abuse reports: waiting for approval, queued, sent, failed, rejected"
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
}

func entryOf(r abusewatch.Report) outboxEntry {
	e := outboxEntry{ID: r.ID, State: string(r.State), To: r.Contact.Emails, Subject: r.Subject, Incidents: r.Incidents,
		Created: r.Created, Updated: r.Updated, Attempts: r.Attempts, NextAttempt: r.NextAttempt, Waiting: r.Waiting,
		Error: r.Error, Location: r.Location, MessageID: r.MessageID, Delivered: r.Delivered, Refused: r.Refused}
	if r.Contact.Network.IsValid() {
		e.Network = r.Contact.Network.String()
	}
	return e
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
	query := url.Values{}
	if *state != "" {
		query.Set("state", *state)
	}
	cfg, err := queryOrOffline(ctx, f, c.stderr,
		func(cl *adminClient) error { return cl.call(ctx, "GET", "/v1/outbox", query, &reports) },
		func(_ *daemon.Config, st *store.Store) (err error) {
			reports, err = st.Reports(states...)
			return err
		})
	if err != nil {
		return err
	}
	if *f.asJSON {
		entries := make([]outboxEntry, 0, len(reports))
		for _, r := range reports {
			entries = append(entries, entryOf(r))
		}
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(entries)
	}
	loc := shownZone(cfg)
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
			cellTime(r.Created, loc), r.Attempts, note(r, loc))
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

// note says the one thing to know about a report in the table.
func note(r abusewatch.Report, loc *time.Location) string {
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
