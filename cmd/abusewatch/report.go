package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/daemon"
	"github.com/abusewatch/abusewatch/store"
)

// reportCommand is `abusewatch report`: read one report, approve or reject reports, or
// preview what would be sent about an address.
type reportCommand struct {
	stdout, stderr io.Writer
}

func (c *reportCommand) Name() string { return "report" }
func (c *reportCommand) Synopsis() string {
	return "show, approve, reject or preview abuse reports (show ID | approve ID…|--all|--failed | reject ID… | preview ADDR)"
}

const reportUsage = "[--config FILE] show ID [--raw|--json] | approve ID...|--all|--failed | reject ID... | preview ADDR [--raw|--json]"

const reportHelp = `
An ID may be shortened to its first 6 or more characters. approve queues reports
for the daemon's next round and says what that round does with each: it sends it,
or the cooldown or a limit holds it, until when it says; reports approved to one
guessed contact that have not gone yet are written again as one report, one mail.
It also re-queues a failed report; a report queued already is left as it is, and
that is no error. approve --all leaves out reports to a guessed contact: read
each, then approve it by its ID. approve --failed re-queues the reports that
failed within policy.max_age without a desk refusing them (guesses aside), once
what failed them is fixed (the relay refused us, a certificate, AUTH), and lists
those it left out (a desk refused them for good, or they are older): approve one
by its ID, once read; with --all too, both. Approving tries again, and only to
the recipients that have not taken the report: one that took it (before the
report was held for you, or before the others refused it) is never sent it
again. A report sent to some recipients while others refused it for good (or
were left out, or given up on) may be approved by its ID once the desk is
fixed: it goes to those alone. The mailboxes tried again include those that
refused a report for good: their marks are forgotten (one that refuses again is
marked again); a recipient that took it keeps its mark. mail.give_up_after is
counted afresh.
reject marks reports never to be sent. preview
shows the report abusewatch would write about the attacking address ADDR now.
`

// Subcommands are what may follow `report`, for the shell completions.
func (c *reportCommand) Subcommands() []string {
	return []string{"show", "approve", "reject", "preview"}
}

func (c *reportCommand) Run(ctx context.Context, args []string) error {
	fs := newFlagSet(c.Name(), reportUsage, c.stdout, c.stderr, reportHelp)
	f := addAdminFlags(fs)
	asJSON := f.asJSON
	raw := fs.Bool("raw", false, "show, preview: print the message exactly as it is (or was) sent")
	all := fs.Bool("all", false, "approve: every report waiting for approval")
	failed := fs.Bool("failed", false, "approve: every failed report, to try again (after fixing the relay or the TLS settings)")
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) == 0 {
		return &usageError{"say what to do: show ID, approve ID…, reject ID… or preview ADDR"}
	}
	action, ids := rest[0], rest[1:]
	switch action {
	case "show", "preview":
		if len(ids) != 1 {
			return &usageError{fmt.Sprintf("%s takes exactly one argument", action)}
		}
		if *raw && *asJSON {
			// --raw printed the message and dropped --json without a word.
			return &usageError{fmt.Sprintf("%s: give --raw (the message as it is sent) or --json (the report, with its message in \"message\"), not both", action)}
		}
	case "approve":
		if len(ids) == 0 && !*all && !*failed {
			return &usageError{"name the reports to approve, or --all (those waiting for approval) or --failed"}
		}
		if len(ids) > 0 && (*all || *failed) {
			return &usageError{"give report IDs or --all/--failed, not both"}
		}
	case "reject":
		if len(ids) == 0 {
			return &usageError{"name the reports to reject"}
		}
	default:
		return &usageError{fmt.Sprintf("unknown action %q: use show, approve, reject or preview", action)}
	}
	if action != "preview" {
		for _, id := range ids {
			if err := daemon.ShortReportID(id); err != nil {
				return &usageError{err.Error()}
			}
		}
	}
	now := time.Now()
	switch action {
	case "show":
		var r abusewatch.Report
		cfg, err := queryOrOffline(ctx, f, c.stderr,
			func(cl *adminClient) error {
				return cl.call(ctx, "GET", apiPath("v1", "reports", ids[0]), nil, &r)
			},
			func(_ *daemon.Config, st *store.Store) error {
				found, ok, err := daemon.FindReport(st, ids[0])
				if err == nil && !ok {
					err = fmt.Errorf("no report %q in %s (abusewatch outbox lists them)", ids[0], st.Path())
				}
				r = found
				return err
			})
		if err != nil {
			return err
		}
		gone := len(r.Message) == 0
		switch {
		case *raw && gone:
			err = fmt.Errorf("the mail of report %s is no longer kept ([retention] reports deletes those of reports done with)", r.ID)
		case *raw:
			_, err = c.stdout.Write(r.Message)
		case *asJSON:
			enc := json.NewEncoder(c.stdout)
			enc.SetIndent("", "  ")
			err = enc.Encode(struct {
				outboxEntry
				Message string `json:"message"`
			}{entryOf(r, cfg), string(r.Message)})
		default:
			loc := shownZone(cfg)
			fmt.Fprintf(c.stdout, "Report %s: %s\n", r.ID, r.State)
			fmt.Fprintf(c.stdout, "To:        %s\n", strings.Join(r.Contact.Emails, ", "))
			fmt.Fprintf(c.stdout, "Subject:   %s\n", r.Subject)
			fmt.Fprintf(c.stdout, "Created:   %s\n", shownTime(r.Created, loc))
			fmt.Fprintf(c.stdout, "Attempts:  %d\n", r.Attempts)
			if len(r.Redacted) > 0 {
				fmt.Fprintf(c.stdout, "Redact:    %s\n", daemon.RedactWords(r.Redacted))
			}
			if n := noteOf(r, loc); n != "" {
				fmt.Fprintf(c.stdout, "Note:      %s\n", n)
			}
			if r.Error != "" && r.State != "sent" {
				fmt.Fprintf(c.stdout, "Error:     %s\n", r.Error)
			}
			if rn := redactNote(r, cfg); rn != "" && !gone {
				// The text below is not what goes: said where the admin reads it.
				fmt.Fprintf(c.stdout, "\nThis report was %s: what it quotes below is as it was written, not as it will go.\n", rn)
			}
			if gone {
				fmt.Fprintf(c.stdout, "\n(The mail is no longer kept: [retention] reports deletes those of reports done with.)\n")
			} else {
				fmt.Fprintf(c.stdout, "\n%s", memoText(r.Message))
			}
		}
		return err
	case "approve", "reject":
		var done daemon.ReportsChanged
		query := url.Values{"id": ids}
		if *all {
			query.Set("all", "1")
		}
		if *failed {
			query.Set("failed", "1")
		}
		cfg, err := changeStoredOrOffline(ctx, f, c.stderr,
			func(cl *adminClient) error {
				return cl.call(ctx, "POST", apiPath("v1", "reports", action), query, &done)
			},
			func(cfg *daemon.Config, st *store.Store) (err error) {
				if action == "approve" {
					done, err = daemon.Approve(cfg, st, daemon.Approval{IDs: ids, Pending: *all, Failed: *failed}, now)
				} else {
					done, err = daemon.RejectReports(st, ids, now)
				}
				return err
			})
		if *asJSON {
			// {"approved": [IDs], "already_queued": [IDs]}, {"rejected": …, "already_rejected": …}
			if err != nil && len(done.Changed) == 0 {
				return err
			}
			past, goal := "approved", "queued"
			if action == "reject" {
				past, goal = "rejected", "rejected"
			}
			out := map[string]any{past: orEmpty(done.Changed), "already_" + goal: orEmpty(done.Already)}
			if action == "approve" && (*all || *failed) {
				out["guesses_left_out"] = orEmpty(done.Guesses)
			}
			if action == "approve" && *failed {
				out["failed_left_out"] = orEmpty(done.FailedLeft)
			}
			if action == "approve" {
				// What the next round does with each: {"id", "joined", "until", "why", "after"}.
				out["fates"] = orEmpty(done.Fates)
			}
			if jerr := printJSON(c.stdout, out); jerr != nil {
				return jerr
			}
			return err
		}
		for _, id := range done.Changed {
			if action == "approve" {
				fmt.Fprintf(c.stdout, "approved %s\n", id)
			} else {
				fmt.Fprintf(c.stdout, "rejected %s: it will not be sent\n", id)
			}
		}
		for _, id := range done.Already {
			if action == "approve" {
				fmt.Fprintf(c.stdout, "%s is queued already: nothing to do\n", id)
			} else {
				fmt.Fprintf(c.stdout, "%s is rejected already: nothing to do\n", id)
			}
		}
		if action == "approve" && len(done.Changed) > 0 {
			c.printFates(done.Changed, done.Fates, cfg)
		} else if action == "approve" && *all && !*failed && err == nil && len(done.Guesses) == 0 {
			fmt.Fprintln(c.stdout, "No report waits for approval.")
			if done.Failed > 0 {
				fmt.Fprintf(c.stdout, "%d failed: %s re-queues them, once what failed them is fixed.\n", done.Failed,
					daemon.Command(*f.config, "report approve", "--failed"))
			}
		} else if action == "approve" && *failed && err == nil && len(done.Guesses) == 0 {
			fmt.Fprintln(c.stdout, "No report waits for approval or has failed.")
		}
		if action == "approve" && *failed && len(done.FailedLeft) > 0 {
			fmt.Fprintf(c.stdout, "%d failed reports left out (--failed takes those our relay failed, within policy.max_age); read one, then approve it by its ID:\n", len(done.FailedLeft))
			for _, l := range done.FailedLeft {
				fmt.Fprintf(c.stdout, "  %s: %s\n", l.ID, l.Why)
			}
		}
		// A guess's recipient may have nothing to do with the address: --all never
		// approves one unread.
		for _, id := range done.Guesses {
			fmt.Fprintf(c.stdout, "%s is to a guessed contact: left out by --all; read it (%s), then approve it by its ID\n", id, daemon.Command(*f.config, "report show", id))
		}
		return err
	}
	if err := zoneError(ids[0]); err != nil {
		return err
	}
	addr, err := netip.ParseAddr(ids[0])
	if err != nil {
		return &usageError{fmt.Sprintf("preview %q: give the attacking address, e.g. 203.0.113.7", ids[0])}
	}
	var p daemon.Preview
	_, err = queryOrOffline(ctx, f, c.stderr,
		func(cl *adminClient) error {
			return cl.call(ctx, "GET", apiPath("v1", "preview", addr.String()), nil, &p)
		},
		func(cfg *daemon.Config, st *store.Store) (err error) {
			p, err = daemon.PreviewReport(ctx, cfg, st, nil, addr, now)
			return err
		})
	if err != nil {
		return err
	}
	switch {
	case *raw:
		_, err = c.stdout.Write(p.Report.Message)
	case *asJSON:
		// Only what a report not written yet has: no state, no times, no attempts.
		e := entryOf(p.Report, nil)
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(struct {
			ID         string   `json:"id"`
			To         []string `json:"to"`
			Network    string   `json:"network,omitempty"`
			Subject    string   `json:"subject"`
			Incidents  []string `json:"incidents"`
			MessageID  string   `json:"message_id"`
			Fate       string   `json:"fate"`
			ReportedIn string   `json:"reported_in,omitempty"`
			Message    string   `json:"message"`
		}{e.ID, orEmpty(e.To), e.Network, e.Subject, orEmpty(e.Incidents), e.MessageID, p.Fate, p.ReportedIn, string(p.Report.Message)})
	default:
		fmt.Fprintf(c.stdout, "To:       %s\nSubject:  %s\n%s\n\n%s", strings.Join(p.Report.Contact.Emails, ", "),
			p.Report.Subject, p.Fate, memoText(p.Report.Message))
	}
	return err
}

// printFates says what the next round does with each report approve queued
// (daemon.ApprovedFate): those it sends in one sentence, then each that is written again
// with others or waits, and until when.
func (c *reportCommand) printFates(changed []string, fates []daemon.ApprovedFate, cfg *daemon.Config) {
	every, cooldown, loc := "report_interval", "policy.cooldown", shownZone(cfg)
	if cfg != nil {
		every, cooldown = cfg.Policy.ReportInterval.String(), "policy.cooldown, "+cfg.Policy.Cooldown.String()
	}
	later := "the daemon sends it then; without the daemon, the first scan after does"
	n := 0
	for _, f := range fates {
		if f.Until.IsZero() && len(f.Joined) == 0 {
			n++
		}
	}
	if len(fates) == 0 {
		// A daemon older than the fates (running while the binary was upgraded).
		fmt.Fprintf(c.stdout, "%s queued for the daemon's next round (every %s); the cooldown and the limits still apply (after that round, abusewatch outbox shows any that waits, and until when).\n",
			counted(len(changed), "report"), every)
		return
	}
	if n > 0 {
		it := "them"
		if n == 1 {
			it = "it"
		}
		fmt.Fprintf(c.stdout, "%s queued: the daemon sends %s at its next round (every %s); without the daemon, the next scan does.\n",
			counted(n, "report"), it, every)
	}
	for _, f := range fates {
		when := "" // how long it waits, after "waits"
		switch {
		case f.Until.IsZero():
		case f.After != "":
			when = fmt.Sprintf("until %s at the earliest: report %s to the same party goes first, at the next round, and its cooldown (%s) holds this one",
				shownTime(f.Until, loc), f.After, cooldown)
		case f.Earliest:
			when = fmt.Sprintf("until %s at the earliest (%s)", shownTime(f.Until, loc), f.Why)
		default:
			when = fmt.Sprintf("until %s (%s)", shownTime(f.Until, loc), f.Why)
		}
		one := fmt.Sprintf("%s is written again at the next round as one report with %s, approved to the same guessed contact and not gone yet: one mail, not one a cooldown after the other,",
			f.ID, strings.Join(f.Joined, ", "))
		switch {
		case len(f.Joined) > 0 && when == "":
			fmt.Fprintf(c.stdout, "%s which the daemon sends at that round; without the daemon, the next scan does.\n", one)
		case len(f.Joined) > 0:
			fmt.Fprintf(c.stdout, "%s which waits %s; %s.\n", one, when, later)
		case when != "":
			fmt.Fprintf(c.stdout, "%s waits %s; %s.\n", f.ID, when, later)
		}
	}
}

// memoText is the readable text of a report: its text/plain memo, decoded, with the
// names of any attachments and the X-ARF parts' text (xarfText): the reviewer sees all
// that leaves. A message it cannot read is shown as it is.
func memoText(msg []byte) string {
	m, err := mail.ReadMessage(bytes.NewReader(msg))
	if err != nil {
		return string(msg)
	}
	var out strings.Builder
	var walk func(header map[string][]string, body io.Reader) bool
	walk = func(h map[string][]string, body io.Reader) bool {
		get := func(k string) string {
			if v := h[k]; len(v) > 0 {
				return v[0]
			}
			return ""
		}
		mt, params, _ := mime.ParseMediaType(get("Content-Type"))
		switch {
		case strings.HasPrefix(mt, "multipart/"):
			mr := multipart.NewReader(body, params["boundary"])
			for {
				p, err := mr.NextRawPart()
				if err != nil {
					return err == io.EOF
				}
				if !walk(p.Header, p) {
					return false
				}
			}
		case mt == "text/plain" && out.Len() == 0:
			var r io.Reader = body
			if strings.EqualFold(get("Content-Transfer-Encoding"), "quoted-printable") {
				r = quotedprintable.NewReader(body)
			}
			b, err := io.ReadAll(r)
			if err != nil {
				return false
			}
			out.WriteString(strings.ReplaceAll(string(b), "\r\n", "\n"))
		default:
			_, p, _ := mime.ParseMediaType(get("Content-Disposition"))
			name := p["filename"]
			if name == "" {
				name = mt
			}
			fmt.Fprintf(&out, "\n[attached: %s, %s]\n", name, mt)
			if mt == "application/json" {
				var r io.Reader = body
				switch cte := get("Content-Transfer-Encoding"); {
				case strings.EqualFold(cte, "base64"):
					r = base64.NewDecoder(base64.StdEncoding, body)
				case strings.EqualFold(cte, "quoted-printable"):
					r = quotedprintable.NewReader(body)
				}
				b, err := io.ReadAll(r)
				if err != nil {
					return false
				}
				out.WriteString(xarfText(b))
			}
		}
		return true
	}
	if !walk(m.Header, m.Body) {
		return string(msg)
	}
	return out.String()
}

// xarfText shows an X-ARF part as the desk's tooling reads it: its JSON, indented, in
// its own order, each evidence payload (base64) followed by the log lines it carries,
// decoded. The description and the lines name what the memo names, and leave with it.
func xarfText(b []byte) string {
	var doc struct {
		Evidence []struct {
			Payload string `json:"payload"`
		} `json:"evidence"`
	}
	var pretty bytes.Buffer
	if json.Unmarshal(b, &doc) != nil || json.Indent(&pretty, b, "", "  ") != nil {
		return strings.ReplaceAll(string(b), "\r\n", "\n") + "\n"
	}
	text := pretty.String()
	var decoded []string
	for i, e := range doc.Evidence {
		lines, err := base64.StdEncoding.DecodeString(e.Payload)
		if err != nil || e.Payload == "" {
			continue
		}
		text = strings.Replace(text, strconv.Quote(e.Payload), fmt.Sprintf("%q", fmt.Sprintf("(base64 of evidence %d, below)", i+1)), 1)
		decoded = append(decoded, fmt.Sprintf("evidence %d, decoded:\n  %s\n", i+1,
			strings.ReplaceAll(strings.TrimSuffix(string(lines), "\n"), "\n", "\n  ")))
	}
	return text + "\n" + strings.Join(decoded, "")
}
