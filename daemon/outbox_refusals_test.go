package daemon

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/mailer"
	"github.com/abusewatch/abusewatch/mailer/mailtest"
	"github.com/abusewatch/abusewatch/store"
)

// Review 28: a desk's server that refuses reports, wholly or some recipients, for now
// or for good, against a real SMTP server on loopback.

// refusalPipeline is a pipeline that sends over SMTP to server in mode, reporting
// 45.134.26.0/24 to emails and 185.220.100.0/22 to abuse@relay-net.example, with extra
// lines for [policy] and give_up_after.
func refusalPipeline(t *testing.T, server, mode string, emails []string, policy, giveUp string) (*Pipeline, *store.Store, *logBuffer) {
	t.Helper()
	dir := t.TempDir()
	quoted := make([]string, len(emails))
	for i, e := range emails {
		quoted[i] = fmt.Sprintf("%q", e)
	}
	return pipelineOf(t, dir, fmt.Sprintf(`
[reporter]
name = "Sam Example"
email = "security@example.org"
timezone = "UTC"
[lookup]
rdap = false
resolvers = ["127.0.0.1:1"]
timeout = "100ms"
[[contact]]
network = "45.134.26.0/24"
emails = [%s]
[[contact]]
network = "185.220.100.0/22"
emails = ["abuse@relay-net.example"]
[mail]
transport = "smtp"
server = %q
tls = "none"
timeout = "10s"
from = "abusewatch@example.org"
admin = "root@example.org"
retry_min = "1m"
retry_max = "10m"
give_up_after = %q
[policy]
settle = "0s"
mode = %q
%s
[summary]
time = ""
[store]
path = %q
`, strings.Join(quoted, ", "), server, giveUp, mode, policy, filepath.Join(dir, "state.db")))
}

// F1: a desk whose server refuses every report (552 5.2.2 to the message: its mailbox
// is full) got one per incident, unbounded, while a desk that takes them gets one a cooldown.
// A refusal counts as a delivery does (the daily cap here), marks the mailbox, and the
// next report to it waits for the admin, saying why; approving it tries again.
func TestADeskThatRefusesGetsNoFurtherReportOnItsOwn(t *testing.T) {
	full := mailtest.Reply(552, "mailbox full", 5, 2, 2)
	// Only the hostco desk refuses; the other party's server takes its report.
	srv := mailtest.Start(t, mailtest.Options{Replies: []error{full, nil, full}})
	p, st, logs := refusalPipeline(t, srv.Addr, "auto", []string{"abuse@hostco.example"}, "cooldown = \"1h\"\ndaily_cap = 1", "1d")
	ctx := t.Context()
	attack(t, st, "45.134.26.7", t0, 20)
	if err := p.Tick(ctx, t0); err == nil {
		t.Fatal("a 552 counted as delivered")
	}
	if n := srv.Transactions(); n != 1 {
		t.Fatalf("%d transactions, want 1", n)
	}
	first := reportsIn(t, st, abusewatch.ReportFailed)
	if len(first) != 1 || !strings.Contains(first[0].Error, "552") {
		t.Fatalf("failed: %+v", first)
	}
	marks, err := st.RefusedMailboxes()
	if err != nil || len(marks) != 1 || marks[0].Email != "abuse@hostco.example" || !strings.Contains(marks[0].Reply, "mailbox full") {
		t.Fatalf("refused mailboxes: %+v, %v", marks, err)
	}
	if !strings.Contains(logs.String(), "level=WARN msg=\"recipient refused the report for good") || !strings.Contains(logs.String(), "mailbox full") {
		t.Errorf("no warning with the reply:\n%s", logs)
	}
	// The refusal counts toward the daily cap as a delivery: another party's report waits.
	attack(t, st, "185.220.100.7", t0.Add(time.Minute), 20)
	if err := p.Tick(ctx, t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if q := reportsIn(t, st, abusewatch.ReportQueued); len(q) != 1 || !strings.Contains(q[0].Waiting, "cap: 1 reports") {
		t.Fatalf("queued: %+v; want the other party's report held by the cap the refusal counts toward", q)
	}
	// The desk's next incidents, past the cooldown and the cap: held for the admin.
	attack(t, st, "45.134.26.8", t0.Add(25*time.Hour), 20)
	if err := p.Tick(ctx, t0.Add(26*time.Hour)); err != nil {
		t.Fatal(err)
	}
	srv.Next(t) // the other party's, now the cap allows it
	if n := srv.Transactions(); n != 2 {
		t.Fatalf("%d transactions, want 2: the refusing desk was sent another report on its own", n)
	}
	held := reportsIn(t, st, abusewatch.ReportPendingApproval)
	if len(held) != 1 || !strings.Contains(held[0].Error, "abuse@hostco.example refused report "+shortID(first[0].ID)) ||
		!strings.Contains(held[0].Error, "mailbox full") || !strings.Contains(held[0].Error, p.cfg.Command("report approve", held[0].ID)) {
		t.Fatalf("held: %+v", held)
	}
	// Where the admin looks: the summary says why it waits; preview says it would.
	sum, err := BuildSummary(p.cfg, st, nil, nil, t0.Add(26*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Pending) != 1 || !strings.Contains(sum.Pending[0].Problem, "refused report") {
		t.Errorf("summary's pending: %+v", sum.Pending)
	}
	attack(t, st, "45.134.26.9", t0.Add(26*time.Hour), 20)
	pv, err := PreviewReport(ctx, p.cfg, st, nil, netip.MustParseAddr("45.134.26.9"), t0.Add(26*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(pv.Fate, "refused report") || !strings.Contains(pv.Fate, "wait for your approval") {
		t.Errorf("preview's fate: %s", pv.Fate)
	}
	// Approving means trying again: the mark goes, and the report is sent to the desk.
	res, err := Approve(p.cfg, st, Approval{IDs: []string{held[0].ID}}, t0.Add(27*time.Hour))
	if err != nil || len(res.Changed) != 1 {
		t.Fatalf("approve: %+v, %v", res, err)
	}
	if marks, _ := st.RefusedMailboxes(); len(marks) != 0 {
		t.Errorf("marks after approving: %+v", marks)
	}
	p.Tick(ctx, t0.Add(51*time.Hour)) // past the daily cap the other party's report filled
	if n := srv.Transactions(); n != 3 {
		t.Errorf("%d transactions after approving, want 3", n)
	}
}

// F2: one of two recipients refuses for now (451 at RCPT TO): the report went to the
// other, and is tried again to that one alone; it was marked sent, and the greylisted
// recipient never had it.
func TestARecipientRefusingForNowIsTriedAgainAlone(t *testing.T) {
	srv := refusing(t, "noc@hostco.example", true, mailtest.Reply(451, "greylisted, try again later", 4, 7, 1))
	p, st, logs := refusalPipeline(t, srv.Addr, "auto", []string{"abuse@hostco.example", "noc@hostco.example"}, "", "1d")
	ctx := t.Context()
	attack(t, st, "45.134.26.7", t0, 20)
	p.Tick(ctx, t0)
	if m := srv.Next(t); !slices.Equal(m.To, []string{"abuse@hostco.example"}) {
		t.Fatalf("first mail to %v", m.To)
	}
	q := reportsIn(t, st, abusewatch.ReportQueued)
	if len(q) != 1 || !slices.Equal(q[0].Delivered, []string{"abuse@hostco.example"}) || !strings.Contains(q[0].Error, "noc@hostco.example: SMTP error 451") ||
		!q[0].NextAttempt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("after the first attempt: %+v; want it queued for noc@ alone", reportsIn(t, st))
	}
	// Its own first mail holds it in no cooldown: the retry goes after the back-off.
	if err := p.Tick(ctx, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	m := srv.Next(t)
	if !slices.Equal(m.To, []string{"noc@hostco.example"}) || messageID(t, m.Data) != q[0].MessageID {
		t.Fatalf("retry to %v", m.To)
	}
	sent := reportsIn(t, st, abusewatch.ReportSent)
	if len(sent) != 1 || sent[0].Error != "" {
		t.Fatalf("sent: %+v", sent)
	}
	p.Tick(ctx, t0.Add(time.Hour))
	srv.Nothing(t)
	if t.Failed() {
		t.Log(logs)
	}
}

// F2: one of two recipients refuses for good (550 at RCPT TO): the report is sent to the
// other, the refusal is a warning, the summary does not say all went well, and the
// mailbox is marked as a desk that refuses is.
func TestARecipientRefusingForGoodIsToldAndMarked(t *testing.T) {
	srv := refusing(t, "noc@hostco.example", false, mailtest.Reply(550, "user unknown", 5, 1, 1))
	p, st, logs := refusalPipeline(t, srv.Addr, "auto", []string{"abuse@hostco.example", "noc@hostco.example"}, "", "1d")
	ctx := t.Context()
	attack(t, st, "45.134.26.7", t0, 20)
	if err := p.Tick(ctx, t0); err != nil {
		t.Fatal(err)
	}
	if m := srv.Next(t); !slices.Equal(m.To, []string{"abuse@hostco.example"}) {
		t.Fatalf("mail to %v", m.To)
	}
	sent := reportsIn(t, st, abusewatch.ReportSent)
	if len(sent) != 1 || !slices.Equal(sent[0].Refused, []string{"noc@hostco.example"}) || !strings.Contains(sent[0].Error, "user unknown") {
		t.Fatalf("sent: %+v", reportsIn(t, st))
	}
	if !strings.Contains(logs.String(), "level=WARN msg=\"recipient refused the report for good") {
		t.Errorf("no warning:\n%s", logs)
	}
	if marks, _ := st.RefusedMailboxes(); len(marks) != 1 || marks[0].Email != "noc@hostco.example" {
		t.Errorf("marks: %+v", marks)
	}
	sum, err := BuildSummary(p.cfg, st, nil, nil, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	msg, err := mailer.ComposeSummary(sum, "abusewatch@example.org", "root@example.org", t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	text, _, _ := summaryParts(t, msg)
	if !strings.Contains(text, "1 refused by some recipients") || !strings.Contains(text, "noc@hostco.example: SMTP error 550") {
		t.Errorf("the summary does not tell the refusal:\n%s", text)
	}
	// A retry goes to no one: nothing is left to send.
	p.Tick(ctx, t0.Add(time.Hour))
	srv.Nothing(t)
}

// F3: mail.give_up_after counted from when the report was written: approved later than
// that, a report got one try, and a greylisting 451 failed it for good. It counts from
// the first attempt since the report was approved, and approving it again starts anew.
func TestGiveUpCountsFromTheFirstAttemptSinceApproval(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{DataErr: mailtest.Reply(451, "greylisted")})
	p, st, _ := refusalPipeline(t, srv.Addr, "review", []string{"abuse@hostco.example"}, "", "1d")
	ctx := t.Context()
	attack(t, st, "45.134.26.7", t0, 20)
	if err := p.Tick(ctx, t0); err != nil {
		t.Fatal(err)
	}
	id := reportsIn(t, st, abusewatch.ReportPendingApproval)[0].ID
	late := t0.Add(3 * 24 * time.Hour) // approved days after it was written
	if _, err := Approve(p.cfg, st, Approval{IDs: []string{id}}, late); err != nil {
		t.Fatal(err)
	}
	p.Tick(ctx, late)
	if r, _, _ := st.Report(id); r.State != abusewatch.ReportQueued || !r.FirstTried.Equal(late) {
		t.Fatalf("after its first attempt: %s, %q; want it queued for a retry", r.State, r.Error)
	}
	// A round every 20 minutes (twice mail.retry_max = "10m": each gap counts in
	// full): it gives up a day after.
	if end := retryRounds(t, p, st, late.Add(20*time.Minute), late.Add(25*time.Hour), 20*time.Minute); !end.Equal(late.Add(24 * time.Hour)) {
		t.Errorf("gave up at %s, want a day after %s", end, late)
	}
	r, _, _ := st.Report(id)
	if r.State != abusewatch.ReportFailed || !strings.Contains(r.Error, "gave up after 73 attempts since "+late.Format("2006-01-02 15:04")+" +0000 (retried for 1d)") {
		t.Fatalf("a day after its first attempt: %s, %q", r.State, r.Error)
	}
	// Approved again: another full give_up_after, its retries counted afresh.
	again := late.Add(2 * 24 * time.Hour)
	if _, err := Approve(p.cfg, st, Approval{IDs: []string{id}}, again); err != nil {
		t.Fatal(err)
	}
	p.Tick(ctx, again)
	if r, _, _ := st.Report(id); r.State != abusewatch.ReportQueued {
		t.Fatalf("approved again: %s, %q; want it queued for a retry", r.State, r.Error)
	}
	if end := retryRounds(t, p, st, again.Add(20*time.Minute), again.Add(25*time.Hour), 20*time.Minute); !end.Equal(again.Add(24 * time.Hour)) {
		t.Errorf("approved again, gave up at %s, want a day after %s", end, again)
	}
	if r, _, _ := st.Report(id); !strings.Contains(r.Error, "gave up after 146 attempts since "+again.Format("2006-01-02 15:04")+" +0000 (retried for 1d)") {
		t.Fatalf("a day after it was approved again: %s, %q", r.State, r.Error)
	}
}

// F7: our own relay refuses every report (at MAIL FROM: it wants AUTH, which the
// config lacked). Every report fails, none counts as a desk's refusal, and once the
// relay's settings are fixed, approve --failed re-queues them all (--all alone says how).
func TestApproveFailedRequeuesWhatTheRelayRefused(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{StartTLS: true, User: "aw", Pass: "secret"})
	p, st, _ := refusalPipeline(t, srv.Addr, "auto", []string{"abuse@hostco.example"}, "", "1d")
	smtp := *p.transport.(*mailer.SMTP)
	smtp.TLS, smtp.TLSConfig = "starttls", mailtest.Trusting(srv.Cert)
	p.SetTransport(&smtp)
	ctx := t.Context()
	attack(t, st, "45.134.26.7", t0, 20)
	attack(t, st, "185.220.100.7", t0, 20)
	p.Tick(ctx, t0)
	failed := reportsIn(t, st, abusewatch.ReportFailed)
	if len(failed) != 2 || !strings.Contains(failed[0].Error, "MAIL FROM") {
		t.Fatalf("failed: %+v", reportsIn(t, st))
	}
	if marks, _ := st.RefusedMailboxes(); len(marks) != 0 {
		t.Errorf("our relay's refusal marked the desks: %+v", marks)
	}
	if ds, _ := st.Deliveries(t0.Add(-time.Hour)); len(ds) != 0 {
		t.Errorf("our relay's refusal counted as deliveries: %+v", ds)
	}
	res, err := Approve(p.cfg, st, Approval{Pending: true}, t0.Add(time.Hour))
	if err != nil || len(res.Changed) != 0 || res.Failed != 2 {
		t.Fatalf("approve --all: %+v, %v; want nothing approved and the failed counted", res, err)
	}
	res, err = Approve(p.cfg, st, Approval{Failed: true}, t0.Add(time.Hour))
	if err != nil || len(res.Changed) != 2 {
		t.Fatalf("approve --failed: %+v, %v", res, err)
	}
	smtp.Username, smtp.Password = "aw", "secret"
	p.SetTransport(&smtp)
	if err := p.Tick(ctx, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	srv.Next(t)
	srv.Next(t)
	if n := len(reportsIn(t, st, abusewatch.ReportSent)); n != 2 {
		t.Errorf("%d sent, want 2", n)
	}
}

// F10: a stop before the message began to leave (no DATA) provably sent nothing: the
// report is queued again on its own, and goes once. One stopped after DATA began still
// waits for the admin (TestReportLeftInSendingIsNotResentWithoutApproval).
func TestAStopBeforeDataQueuesTheReportAgain(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	p, st, logs := refusalPipeline(t, srv.Addr, "auto", []string{"abuse@hostco.example"}, "", "1d")
	attack(t, st, "45.134.26.7", t0, 20)
	if err := p.Report(t.Context(), t0); err != nil {
		t.Fatal(err)
	}
	r := reportsIn(t, st, abusewatch.ReportQueued)[0]
	// As DeliverAt leaves it from the moment it takes it until DATA.
	if err := st.UpdateReport(r.ID, func(s *abusewatch.Report) error {
		s.State, s.Attempts, s.BeforeData = abusewatch.ReportSending, 1, true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := p.Tick(t.Context(), t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	srv.Next(t)
	if got, _, _ := st.Report(r.ID); got.State != abusewatch.ReportSent {
		t.Errorf("report is %s: %q", got.State, got.Error)
	}
	if !strings.Contains(logs.String(), "before its message began to leave: queued again") {
		t.Errorf("no log line says so:\n%s", logs)
	}
}

// F10: DeliverAt keeps BeforeData until the server is about to get DATA: at RCPT TO the
// stored report says nothing left, at the end of DATA it no longer does.
func TestBeforeDataIsClearedWhenDataBegins(t *testing.T) {
	atRcpt := make(chan abusewatch.Report, 1)
	var st *store.Store
	var id atomic.Value
	srv := mailtest.Start(t, mailtest.Options{Hold: true, RcptErr: func(string) error {
		r, _, _ := st.Report(id.Load().(string))
		atRcpt <- r
		return nil
	}})
	p, s, _ := refusalPipeline(t, srv.Addr, "auto", []string{"abuse@hostco.example"}, "", "1d")
	st = s
	attack(t, st, "45.134.26.7", t0, 20)
	if err := p.Report(t.Context(), t0); err != nil {
		t.Fatal(err)
	}
	id.Store(reportsIn(t, st, abusewatch.ReportQueued)[0].ID)
	done := make(chan error, 1)
	go func() { done <- p.DeliverAt(t.Context(), t0) }()
	if r := <-atRcpt; r.State != abusewatch.ReportSending || !r.BeforeData {
		t.Errorf("at RCPT TO: %s, before data %v", r.State, r.BeforeData)
	}
	srv.Holding(t)
	if r, _, _ := st.Report(id.Load().(string)); r.State != abusewatch.ReportSending || r.BeforeData {
		t.Errorf("at the end of DATA: %s, before data %v", r.State, r.BeforeData)
	}
	srv.Release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	srv.Next(t)
}

// F1 in review mode: a report waiting for approval to a mailbox that refused one for
// good says so, for the admin to read before approving it.
func TestAPendingReportToARefusingMailboxSaysWhy(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{RcptErr: func(string) error { return mailtest.Reply(550, "no such user", 5, 1, 1) }})
	p, st, _ := refusalPipeline(t, srv.Addr, "review", []string{"abuse@hostco.example"}, "cooldown = \"1h\"", "1d")
	ctx := t.Context()
	attack(t, st, "45.134.26.7", t0, 20)
	p.Tick(ctx, t0)
	first := reportsIn(t, st, abusewatch.ReportPendingApproval)[0]
	if _, err := Approve(p.cfg, st, Approval{IDs: []string{first.ID}}, t0); err != nil {
		t.Fatal(err)
	}
	p.Tick(ctx, t0)
	if r, _, _ := st.Report(first.ID); r.State != abusewatch.ReportFailed || !strings.Contains(r.Error, "no such user") {
		t.Fatalf("approved report: %s, %q", r.State, r.Error)
	}
	attack(t, st, "45.134.26.8", t0.Add(2*time.Hour), 20)
	p.Tick(ctx, t0.Add(3*time.Hour))
	pending := reportsIn(t, st, abusewatch.ReportPendingApproval)
	if len(pending) != 1 || !strings.Contains(pending[0].Error, "abuse@hostco.example refused report "+shortID(first.ID)) {
		t.Fatalf("pending: %+v", pending)
	}
}

// refusing starts an SMTP server that answers reply to RCPT TO:<mailbox> (only the first
// time, with once) and takes every other recipient.
func refusing(t *testing.T, mailbox string, once bool, reply error) *mailtest.Server {
	var tries atomic.Int32
	return mailtest.Start(t, mailtest.Options{RcptErr: func(to string) error {
		if to == mailbox && (!once || tries.Add(1) == 1) {
			return reply
		}
		return nil
	}})
}

// Session 24: a report abuse@ took and noc@ refused for good ends sent, and the log
// says `report approve ID` tries noc@ again; approve refused it ("is sent"), so noc@'s
// mark held its reports for 30 days whatever the desk fixed. Approved by its ID, it is
// sent to noc@ alone (abuse@ had it), noc@'s mark is forgotten, and once every
// recipient took it approving it again sends nothing.
func TestApprovingAReportSomeRecipientsRefusedTriesThemAlone(t *testing.T) {
	srv := refusing(t, "noc@hostco.example", true, mailtest.Reply(550, "user unknown", 5, 1, 1))
	p, st, logs := refusalPipeline(t, srv.Addr, "auto", []string{"abuse@hostco.example", "noc@hostco.example"}, "cooldown = \"1h\"", "1d")
	ctx := t.Context()
	attack(t, st, "45.134.26.7", t0, 20)
	p.Tick(ctx, t0)
	first := srv.Next(t)
	sent := reportsIn(t, st, abusewatch.ReportSent)
	if len(sent) != 1 || !slices.Equal(sent[0].Refused, []string{"noc@hostco.example"}) {
		t.Fatalf("sent: %+v", reportsIn(t, st))
	}
	if !strings.Contains(logs.String(), fmt.Sprintf("approve=%q", p.cfg.Command("report approve", sent[0].ID))) {
		t.Errorf("the log does not say how to try noc@ again:\n%s", logs)
	}
	// The desk fixed noc@; the admin approves the report it refused.
	res, err := Approve(p.cfg, st, Approval{IDs: []string{sent[0].ID[:8]}}, t0.Add(time.Hour))
	if err != nil || !slices.Equal(res.Changed, []string{sent[0].ID}) {
		t.Fatalf("approve: %+v, %v", res, err)
	}
	if marks, _ := st.RefusedMailboxes(); len(marks) != 0 {
		t.Errorf("marks after approving: %+v", marks)
	}
	if err := p.Tick(ctx, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	again := srv.Next(t)
	if !slices.Equal(again.To, []string{"noc@hostco.example"}) || messageID(t, again.Data) != messageID(t, first.Data) {
		t.Fatalf("approved, it went to %v (%s); want noc@ alone, the same report", again.To, messageID(t, again.Data))
	}
	r, _, _ := st.Report(sent[0].ID)
	if r.State != abusewatch.ReportSent || !slices.Equal(r.Delivered, []string{"abuse@hostco.example", "noc@hostco.example"}) || len(r.Refused) != 0 {
		t.Errorf("after the retry: %s, delivered %v, refused %v, %q", r.State, r.Delivered, r.Refused, r.Error)
	}
	// Every recipient took it: nothing is left to approve.
	if _, err := Approve(p.cfg, st, Approval{IDs: []string{r.ID}}, t0.Add(2*time.Hour)); err == nil || !strings.Contains(err.Error(), "sent to every recipient") {
		t.Errorf("approving it again: %v", err)
	}
	p.Tick(ctx, t0.Add(3*time.Hour))
	srv.Nothing(t)
}

// A report held for the admin after some recipients took it (its party refused for
// good, or the mode switched to review) is approved: it goes to the others alone, and
// the marks of those that took it are left as they are.
func TestApprovingAHeldReportSomeTookSendsItToTheOthers(t *testing.T) {
	srv := refusing(t, "noc@hostco.example", true, mailtest.Reply(451, "greylisted", 4, 7, 1))
	p, st, logs := refusalPipeline(t, srv.Addr, "auto", []string{"abuse@hostco.example", "noc@hostco.example"}, "cooldown = \"1h\"", "1d")
	ctx := t.Context()
	attack(t, st, "45.134.26.7", t0, 20)
	p.Tick(ctx, t0)
	if m := srv.Next(t); !slices.Equal(m.To, []string{"abuse@hostco.example"}) {
		t.Fatalf("first mail to %v", m.To)
	}
	// abuse@ refused another report for good since it took this one.
	mark := store.RefusedMailbox{Email: "abuse@hostco.example", Time: t0.Add(time.Minute), Report: "another", Reply: "552 5.2.2 mailbox full"}
	r := reportsIn(t, st, abusewatch.ReportQueued)[0]
	if err := st.FinishAttempt(r.ID, func(*abusewatch.Report) error { return nil }, nil, []store.RefusedMailbox{mark}, nil); err != nil {
		t.Fatal(err)
	}
	p = repointed(t, p, st, logs, `mode = "auto"`, `mode = "review"`)
	p.Tick(ctx, t0.Add(2*time.Minute))
	if held := reportsIn(t, st, abusewatch.ReportPendingApproval); len(held) != 1 || held[0].ID != r.ID {
		t.Fatalf("waiting for approval: %+v", held)
	}
	if _, err := Approve(p.cfg, st, Approval{Pending: true}, t0.Add(3*time.Minute)); err != nil {
		t.Fatal(err)
	}
	p.Tick(ctx, t0.Add(3*time.Minute))
	if m := srv.Next(t); !slices.Equal(m.To, []string{"noc@hostco.example"}) {
		t.Errorf("approved, it went to %v; want noc@ alone", m.To)
	}
	if marks, _ := st.RefusedMailboxes(); len(marks) != 1 || marks[0].Email != "abuse@hostco.example" {
		t.Errorf("marks: %+v; want abuse@'s, which approving this report it took does not forget", marks)
	}
	srv.Nothing(t)
}
