package daemon

import (
	"fmt"
	"github.com/abusewatch/abusewatch/store"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/mailer/mailtest"
)

// Review 31 F1: mail.server is our own relay. Postfix checks its client, HELO and sender
// restrictions at RCPT TO, so "554 5.7.1 Relay access denied" comes there, for every
// recipient: it marked every desk refusing and counted as a delivery to it. Only a
// refusal about the mailbox (5.1.x, 5.2.x), not the same for every recipient, is the
// desk's; any other is our relay's: no mark, no delivery, and the report says so.
func TestOurRelaysRefusalMarksNoDesk(t *testing.T) {
	rcpt := func(reply func(to string) error) mailtest.Options {
		return mailtest.Options{RcptErr: reply}
	}
	for _, c := range []struct {
		name  string
		opts  mailtest.Options
		state abusewatch.ReportState
		took  []string // the recipients the relay accepted
		to    []string // the contact's mailboxes; nil: abuse@ and noc@hostco.example
	}{
		{"relay access denied at RCPT TO", rcpt(func(to string) error {
			return mailtest.Reply(554, fmt.Sprintf("<%s>: Relay access denied", to), 5, 7, 1)
		}), abusewatch.ReportFailed, nil, nil},
		{"sender rejected for one recipient", rcpt(func(to string) error {
			if to == "noc@hostco.example" {
				return mailtest.Reply(553, "<abusewatch@example.org>: Sender address rejected: not owned by user", 5, 7, 1)
			}
			return nil
		}), abusewatch.ReportSent, []string{"abuse@hostco.example"}, nil},
		{"a reply without an enhanced code", rcpt(func(to string) error {
			if to == "noc@hostco.example" {
				return mailtest.Reply(550, "rejected")
			}
			return nil
		}), abusewatch.ReportSent, []string{"abuse@hostco.example"}, nil},
		{"every recipient, of two domains, user unknown alike", rcpt(func(to string) error {
			return mailtest.Reply(550, fmt.Sprintf("<%s>: Recipient address rejected: User unknown", to), 5, 1, 1)
		}), abusewatch.ReportFailed, nil, []string{"abuse@hostco.example", "noc@other.example"}},
		{"a policy refusal of the message", mailtest.Options{DataErr: mailtest.Reply(554, "message refused by policy", 5, 7, 1)},
			abusewatch.ReportFailed, nil, nil},
		{"mailbox full for a message to two", mailtest.Options{DataErr: mailtest.Reply(552, "mailbox full", 5, 2, 2)},
			abusewatch.ReportFailed, nil, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := mailtest.Start(t, c.opts)
			to := c.to
			if to == nil {
				to = []string{"abuse@hostco.example", "noc@hostco.example"}
			}
			p, st, logs := refusalPipeline(t, srv.Addr, "auto", to, "cooldown = \"1h\"", "1d")
			attack(t, st, "45.134.26.7", t0, 20)
			p.Tick(t.Context(), t0)
			if c.took != nil {
				if m := srv.Next(t); !slices.Equal(m.To, c.took) {
					t.Fatalf("mail to %v", m.To)
				}
			}
			if marks, _ := st.RefusedMailboxes(); len(marks) != 0 {
				t.Errorf("our relay's refusal marked desks: %+v", marks)
			}
			ds, _ := st.Deliveries(t0.Add(-time.Hour))
			var counted []string
			for _, d := range ds {
				counted = append(counted, d.Emails...)
			}
			if !slices.Equal(counted, c.took) {
				t.Errorf("deliveries counted to %v, want %v", counted, c.took)
			}
			rs := reportsIn(t, st, c.state)
			if len(rs) != 1 || len(rs[0].Refused) != 0 || !strings.Contains(rs[0].Error, relayRefusal) {
				t.Fatalf("reports: %+v", reportsIn(t, st))
			}
			if t.Failed() {
				t.Log(logs)
			}
		})
	}
}

// A refusal about one mailbox (5.1.1 for one recipient, the other taking it) is still
// the desk's: the mailbox is marked, and the refusal counts as a delivery to it.
func TestAMailboxRefusalIsStillTheDesks(t *testing.T) {
	srv := refusing(t, "noc@hostco.example", false, mailtest.Reply(550, "<noc@hostco.example>: Recipient address rejected: User unknown", 5, 1, 1))
	p, st, _ := refusalPipeline(t, srv.Addr, "auto", []string{"abuse@hostco.example", "noc@hostco.example"}, "", "1d")
	attack(t, st, "45.134.26.7", t0, 20)
	if err := p.Tick(t.Context(), t0); err != nil {
		t.Fatal(err)
	}
	srv.Next(t)
	if marks, _ := st.RefusedMailboxes(); len(marks) != 1 || marks[0].Email != "noc@hostco.example" {
		t.Errorf("marks: %+v", marks)
	}
	if ds, _ := st.Deliveries(t0.Add(-time.Hour)); len(ds) != 1 || !slices.Equal(ds[0].Refused, []string{"noc@hostco.example"}) {
		t.Errorf("deliveries: %+v", ds)
	}
}

// Review 31 F3: one mailbox that refused held every report that listed it (a dead noc@
// beside abuse@, a national CERT's full mailbox on every party of its country). It is
// left out, the others are sent the report, which says who was left out and why; only
// a report with no one else left waits for the admin.
func TestAMarkedMailboxIsLeftOutNotHoldingTheReport(t *testing.T) {
	srv := refusing(t, "noc@hostco.example", false, mailtest.Reply(550, "<noc@hostco.example>: Recipient address rejected: User unknown", 5, 1, 1))
	p, st, _ := refusalPipeline(t, srv.Addr, "auto", []string{"abuse@hostco.example", "noc@hostco.example"}, "cooldown = \"1h\"", "1d")
	ctx := t.Context()
	attack(t, st, "45.134.26.7", t0, 20)
	if err := p.Tick(ctx, t0); err != nil {
		t.Fatal(err)
	}
	srv.Next(t)
	first := reportsIn(t, st, abusewatch.ReportSent)[0]
	attack(t, st, "45.134.26.8", t0.Add(2*time.Hour), 20)
	if err := p.Tick(ctx, t0.Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if held := reportsIn(t, st, abusewatch.ReportPendingApproval); len(held) != 0 {
		t.Fatalf("held for the admin: %+v", held)
	}
	if m := srv.Next(t); !slices.Equal(m.To, []string{"abuse@hostco.example"}) {
		t.Fatalf("second report to %v", m.To)
	}
	var second abusewatch.Report
	for _, r := range reportsIn(t, st, abusewatch.ReportSent) {
		if r.ID != first.ID {
			second = r
		}
	}
	if !strings.Contains(second.Error, "left out") || !strings.Contains(second.Error, "noc@hostco.example refused report "+shortID(first.ID)) {
		t.Errorf("the second report does not say who was left out: %q", second.Error)
	}
	srv.Nothing(t)
}

// repointed is p with its config's text old replaced by new (an edit of the [[contact]]
// table, then a reload), on the same store.
func repointed(t *testing.T, p *Pipeline, st *store.Store, logs *logBuffer, old, new string) *Pipeline {
	t.Helper()
	cfg := parseTestConfig(t, p.cfg.file, strings.Replace(string(p.cfg.doc), old, new, 1))
	np, err := NewPipeline(cfg, st, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	return np
}

// Review 31 F2: a report that one recipient took while another is retried (a 4xx) was
// rejected as unsent when its contact changed, and written again to the new contact,
// the recipient that had it included: that one got the incident twice. It ends sent,
// and the report written from it goes to those that did not have it.
func TestAPartlyDeliveredReportIsNotSentAgainWhenItsContactChanges(t *testing.T) {
	srv := refusing(t, "noc@hostco.example", true, mailtest.Reply(451, "greylisted, try again later", 4, 7, 1))
	p, st, logs := refusalPipeline(t, srv.Addr, "auto", []string{"abuse@hostco.example", "noc@hostco.example"}, "cooldown = \"1h\"", "1d")
	ctx := t.Context()
	attack(t, st, "45.134.26.7", t0, 20)
	p.Tick(ctx, t0)
	if m := srv.Next(t); !slices.Equal(m.To, []string{"abuse@hostco.example"}) {
		t.Fatalf("first mail to %v", m.To)
	}
	first := reportsIn(t, st, abusewatch.ReportQueued)[0]
	p = repointed(t, p, st, logs, `"noc@hostco.example"`, `"soc@hostco.example"`)
	for _, at := range []time.Duration{time.Minute, 2 * time.Hour, 3 * time.Hour} {
		p.Tick(ctx, t0.Add(at))
	}
	got, _, _ := st.Report(first.ID)
	if got.State != abusewatch.ReportSent || !strings.Contains(got.Error, "not sent to noc@hostco.example") {
		t.Errorf("the report abuse@ had: %s, %q; want sent, saying noc@ did not get it", got.State, got.Error)
	}
	m := srv.Next(t)
	if !slices.Equal(m.To, []string{"soc@hostco.example"}) {
		t.Errorf("the incident went again to %v", m.To)
	}
	srv.Nothing(t)
	if t.Failed() {
		t.Log(logs)
	}
}

// Review 31 F8: approve --failed re-queued every failed report ever: those a desk refused
// for good (forgetting its mark, so the refusing desk was mailed again) and weeks-old
// ones. It takes those our relay failed within policy.max_age, and says which it left
// out and why.
func TestApproveFailedLeavesOutDeskRefusalsAndStaleReports(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{RcptErr: func(to string) error {
		if to == "abuse@hostco.example" {
			return mailtest.Reply(550, "<abuse@hostco.example>: Recipient address rejected: User unknown", 5, 1, 1)
		}
		return mailtest.Reply(554, fmt.Sprintf("<%s>: Relay access denied", to), 5, 7, 1)
	}})
	p, st, _ := refusalPipeline(t, srv.Addr, "auto", []string{"abuse@hostco.example"}, "", "1d")
	ctx := t.Context()
	attack(t, st, "45.134.26.7", t0, 20)
	attack(t, st, "185.220.100.7", t0, 20)
	p.Tick(ctx, t0)
	var desk, relay string
	for _, r := range reportsIn(t, st, abusewatch.ReportFailed) {
		if r.Contact.Emails[0] == "abuse@hostco.example" {
			desk = r.ID
		} else {
			relay = r.ID
		}
	}
	if desk == "" || relay == "" {
		t.Fatalf("failed: %+v", reportsIn(t, st))
	}
	res, err := Approve(p.cfg, st, Approval{Failed: true}, t0.Add(time.Hour))
	if err != nil || !slices.Equal(res.Changed, []string{relay}) {
		t.Fatalf("approve --failed: %+v, %v; want only the report our relay refused", res, err)
	}
	if len(res.FailedLeft) != 1 || res.FailedLeft[0].ID != desk || !strings.Contains(res.FailedLeft[0].Why, "refused for good by abuse@hostco.example") {
		t.Errorf("left out: %+v", res.FailedLeft)
	}
	if marks, _ := st.RefusedMailboxes(); len(marks) != 1 {
		t.Errorf("marks after approve --failed: %+v; the desk's stays", marks)
	}
	p.Tick(ctx, t0.Add(time.Hour)) // our relay refuses it again
	if r, _, _ := st.Report(relay); r.State != abusewatch.ReportFailed {
		t.Fatalf("relay's report: %s", r.State)
	}
	// Weeks later, past policy.max_age: stale, left out too.
	res, err = Approve(p.cfg, st, Approval{Failed: true}, t0.Add(40*24*time.Hour))
	if err != nil || len(res.Changed) != 0 || len(res.FailedLeft) != 2 {
		t.Fatalf("approve --failed weeks later: %+v, %v", res, err)
	}
	for _, l := range res.FailedLeft {
		if l.ID == relay && !strings.Contains(l.Why, "policy.max_age (30 days)") {
			t.Errorf("why: %q", l.Why)
		}
	}
}

// Review 31 F9: a report found `sending` with BeforeData set (as DeliverAt left every
// transport's) whose maildir cannot be read (new/ is not a directory: EIO, EACCES) was
// queued again, though its message may be there. The maildir cannot tell, so the admin
// decides; and a maildir delivery no longer sets BeforeData, which only a transport that
// reports the start of DATA clears.
func TestAMaildirThatCannotTellSendsTheReportToTheAdmin(t *testing.T) {
	dir := t.TempDir()
	maildir := filepath.Join(dir, "maildir")
	p, st, logs, r := cutShortToMaildir(t, dir, maildir, true)
	if err := os.MkdirAll(maildir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(maildir, "new"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := p.RecoverInterrupted(t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := st.Report(r.ID); got.State != abusewatch.ReportPendingApproval {
		t.Errorf("report %s (%q); want it waiting for the admin\n%s", got.State, got.Error, logs)
	}
}

// Review 31 F7: a refusal mark was never forgotten but by approving a report to the
// mailbox: status listed it for ever, and every report to it waited for the admin. It
// expires after RefusalKept; rejecting the report it refused forgets it, and so does a
// [[contact]] that no longer lists the mailbox.
func TestARefusalMarkIsForgotten(t *testing.T) {
	unknown := func(to string) error {
		if to == "noc@hostco.example" {
			return mailtest.Reply(550, "<noc@hostco.example>: Recipient address rejected: User unknown", 5, 1, 1)
		}
		return nil
	}
	marked := func(t *testing.T, emails []string) (*Pipeline, *store.Store, *logBuffer, *mailtest.Server) {
		srv := mailtest.Start(t, mailtest.Options{RcptErr: unknown})
		p, st, logs := refusalPipeline(t, srv.Addr, "auto", emails, "cooldown = \"1d\"", "1d")
		attack(t, st, "45.134.26.7", t0, 20)
		p.Tick(t.Context(), t0)
		if marks, _ := st.RefusedMailboxes(); len(marks) != 1 {
			t.Fatalf("marks: %+v", marks)
		}
		return p, st, logs, srv
	}
	t.Run("expired", func(t *testing.T) {
		p, st, _, srv := marked(t, []string{"noc@hostco.example"})
		later := t0.Add(RefusalKept + 24*time.Hour)
		attack(t, st, "45.134.26.8", later, 20)
		p.Tick(t.Context(), later.Add(time.Hour))
		if held := reportsIn(t, st, abusewatch.ReportPendingApproval); len(held) != 0 {
			t.Errorf("held by a refusal older than %s: %+v", RefusalKept, held)
		}
		if marks, _ := st.RefusedMailboxes(); len(marks) != 1 || !marks[0].Time.Equal(later.Add(time.Hour)) {
			t.Errorf("marks: %+v; want the old one gone, the new refusal marked", marks)
		}
		srv.Nothing(t)
	})
	t.Run("rejected", func(t *testing.T) {
		p, st, _, _ := marked(t, []string{"noc@hostco.example"})
		failed := reportsIn(t, st, abusewatch.ReportFailed)
		if _, err := RejectReports(st, []string{failed[0].ID}, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if marks, _ := st.RefusedMailboxes(); len(marks) != 0 {
			t.Errorf("marks after rejecting the report: %+v", marks)
		}
		_ = p
	})
	t.Run("contact changed", func(t *testing.T) {
		// abuse@ greylists the report: it is retried while the [[contact]] changes.
		var abuseTries atomic.Int32
		srv := mailtest.Start(t, mailtest.Options{RcptErr: func(to string) error {
			if to == "abuse@hostco.example" && abuseTries.Add(1) == 1 {
				return mailtest.Reply(451, "greylisted", 4, 7, 1)
			}
			return unknown(to)
		}})
		p, st, logs := refusalPipeline(t, srv.Addr, "auto", []string{"abuse@hostco.example", "noc@hostco.example"}, "", "1d")
		attack(t, st, "45.134.26.7", t0, 20)
		p.Tick(t.Context(), t0)
		if marks, _ := st.RefusedMailboxes(); len(marks) != 1 || len(reportsIn(t, st, abusewatch.ReportQueued)) != 1 {
			t.Fatalf("marks: %+v; reports %+v", marks, reportsIn(t, st))
		}
		p = repointed(t, p, st, logs, `"noc@hostco.example"`, `"soc@hostco.example"`)
		p.Tick(t.Context(), t0.Add(time.Hour))
		if marks, _ := st.RefusedMailboxes(); len(marks) != 0 {
			t.Errorf("marks after the [[contact]] dropped the mailbox: %+v\n%s", marks, logs)
		}
	})
}

// F2: the [[contact]] drops the recipient being retried: the one left had the report,
// so nothing is written again, and the report ends sent, saying who did not get it.
func TestAPartlyDeliveredReportWhoseRetriedRecipientIsDroppedEndsSent(t *testing.T) {
	srv := refusing(t, "noc@hostco.example", true, mailtest.Reply(451, "greylisted, try again later", 4, 7, 1))
	p, st, logs := refusalPipeline(t, srv.Addr, "auto", []string{"abuse@hostco.example", "noc@hostco.example"}, "cooldown = \"1h\"", "1d")
	attack(t, st, "45.134.26.7", t0, 20)
	p.Tick(t.Context(), t0)
	srv.Next(t)
	first := reportsIn(t, st, abusewatch.ReportQueued)[0]
	p = repointed(t, p, st, logs, `"abuse@hostco.example", "noc@hostco.example"`, `"abuse@hostco.example"`)
	for _, at := range []time.Duration{time.Minute, 2 * time.Hour, 3 * time.Hour} {
		p.Tick(t.Context(), t0.Add(at))
	}
	if got, _, _ := st.Report(first.ID); got.State != abusewatch.ReportSent || !strings.Contains(got.Error, "not sent to noc@hostco.example") {
		t.Errorf("the report: %s, %q", got.State, got.Error)
	}
	if rs := reportsIn(t, st); len(rs) != 1 {
		t.Errorf("reports: %+v; want none written again", rs)
	}
	srv.Nothing(t)
}

// F2: the admin rejects a report that one recipient took while another is retried: it
// is not sent to the other, and it ends sent, since it went.
func TestRejectingAPartlyDeliveredReportEndsItSent(t *testing.T) {
	srv := refusing(t, "noc@hostco.example", false, mailtest.Reply(451, "greylisted, try again later", 4, 7, 1))
	p, st, _ := refusalPipeline(t, srv.Addr, "auto", []string{"abuse@hostco.example", "noc@hostco.example"}, "", "1d")
	attack(t, st, "45.134.26.7", t0, 20)
	p.Tick(t.Context(), t0)
	srv.Next(t)
	r := reportsIn(t, st, abusewatch.ReportQueued)[0]
	if _, err := RejectReports(st, []string{r.ID}, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := st.Report(r.ID); got.State != abusewatch.ReportSent || !strings.Contains(got.Error, "not sent to noc@hostco.example: rejected by you") {
		t.Errorf("the report: %s, %q", got.State, got.Error)
	}
	p.Tick(t.Context(), t0.Add(time.Hour))
	srv.Nothing(t)
}

// Review 32 F1: a party whose only mailbox refused a report for good, and a national
// CERT copied on its reports: the next report waits for the admin, CERT copy included.
// It went to the CERT alone, ended sent (approve refused it: "is sent"), told the CERT
// of a report the party never got, and began the party's cooldown.
func TestAPartyWhoseMailboxRefusedIsNotReportedToItsCERTAlone(t *testing.T) {
	c := newRV21Case(t, brParties(t), "", "mode = \"auto\"\ncooldown = \"0s\"", brCERT)
	c.scan(t, "08:00 177.1.0.9 8")
	sent := reportsIn(t, c.st, abusewatch.ReportSent)
	if len(sent) != 1 {
		t.Fatalf("sent: %+v; all: %+v\n%s", sent, reportsIn(t, c.st), c.logs)
	}
	mark := store.RefusedMailbox{Email: "abuse@one.com.br", Time: rv21Day.Add(9 * time.Hour), Report: sent[0].ID, Reply: "550 5.1.1 user unknown"}
	if err := c.st.FinishAttempt(sent[0].ID, func(*abusewatch.Report) error { return nil }, nil, []store.RefusedMailbox{mark}, nil); err != nil {
		t.Fatal(err)
	}
	c.scan(t, "10:00 177.1.0.10 8")
	if got := mailedTo(t, c); len(got) != 1 {
		t.Errorf("reports mailed %q, want only the first", got)
	}
	held := reportsIn(t, c.st, abusewatch.ReportPendingApproval)
	if len(held) != 1 || !strings.Contains(held[0].Error, "abuse@one.com.br refused report") {
		t.Errorf("waiting for approval: %+v", held)
	}
}

// Review 32 F2: a desk's two mailboxes of one dead domain, each "user unknown" alike,
// are the desk's refusal, not our relay's: both are marked, and the attempt counts.
func TestOneDomainsMailboxesRefusedAlikeAreTheDesks(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{RcptErr: func(to string) error {
		return mailtest.Reply(550, fmt.Sprintf("<%s>: Recipient address rejected: User unknown", to), 5, 1, 1)
	}})
	p, st, logs := refusalPipeline(t, srv.Addr, "auto", []string{"abuse@hostco.example", "noc@hostco.example"}, "cooldown = \"1h\"", "1d")
	attack(t, st, "45.134.26.7", t0, 20)
	p.Tick(t.Context(), t0)
	if marks, _ := st.RefusedMailboxes(); len(marks) != 2 {
		t.Errorf("marks: %+v, want both mailboxes\n%s", marks, logs)
	}
	if ds, _ := st.Deliveries(t0.Add(-time.Hour)); len(ds) != 1 {
		t.Errorf("deliveries: %+v, want the refused attempt counted", ds)
	}
}
