package daemon

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/mailer"
	"github.com/abusewatch/abusewatch/mailer/mailtest"
	"github.com/abusewatch/abusewatch/store"
)

// The outbox against a real SMTP server on loopback and a real store. Incidents are put
// into the store directly, so each test controls exactly who is reported when.

var t0 = time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)

// party is an attacking network with its static abuse contact.
type party struct{ network, email string }

var parties = []party{
	{"45.134.26.0/24", "abuse@hostco.example"},
	{"185.220.100.0/22", "abuse@relay-net.example"},
	{"218.92.0.0/16", "anti-spam@backbone.example"},
}

// logBuffer collects the pipeline's log lines for assertions.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// outboxPipeline builds a pipeline that sends over SMTP to server, with the contacts of
// ps and extra TOML lines appended to [policy].
func outboxPipeline(t *testing.T, server, mode string, ps []party, policy string) (*Pipeline, *store.Store, *logBuffer) {
	t.Helper()
	dir := t.TempDir()
	var contacts strings.Builder
	for _, p := range ps {
		fmt.Fprintf(&contacts, "[[contact]]\nnetwork = %q\nemails = [%q]\n\n", p.network, p.email)
	}
	doc := `
[reporter]
name = "Sam Example"
organisation = "Example Hosting Ltd"
email = "security@example.org"
timezone = "UTC"

[lookup]
rdap = false
resolvers = ["127.0.0.1:1"]
timeout = "100ms"

` + contacts.String() + `
[mail]
transport = "smtp"
server = "` + server + `"
tls = "none"
timeout = "10s"
from = "abusewatch@example.org"
helo_name = "gw.example.org"
retry_min = "1m"
retry_max = "10m"
give_up_after = "1d"

[policy]
settle = "0s"
mode = "` + mode + `"
` + policy + `

[store]
path = "` + filepath.Join(dir, "state.db") + `"
`
	return pipelineOf(t, dir, doc)
}

// pipelineOf builds a pipeline on the config doc (its file in dir) and keeps its log.
func pipelineOf(t *testing.T, dir, doc string) (*Pipeline, *store.Store, *logBuffer) {
	t.Helper()
	cfg := parseTestConfig(t, filepath.Join(dir, "abusewatch.toml"), doc)
	st := openTestStore(t, cfg)
	logs := &logBuffer{}
	p, err := NewPipeline(cfg, st, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	return p, st, logs
}

// attack stores an incident of n failed logins from addr that started at first.
func attack(t *testing.T, st *store.Store, addr string, first time.Time, n int) abusewatch.Incident {
	t.Helper()
	a := netip.MustParseAddr(addr)
	inc := abusewatch.Incident{
		ID: "inc-" + addr + "-" + first.Format("150405"), Key: "ip:" + addr, Rule: "per-address", Addr: a,
		Network: netip.PrefixFrom(a, 32), Classes: []abusewatch.Class{abusewatch.ClassAuthFailure},
		First: first, Last: first.Add(time.Minute), Count: n, Attempts: n, Hosts: []string{"web1"}, Severity: 3,
	}
	for i := range min(n, 3) {
		inc.Evidence = append(inc.Evidence, abusewatch.Event{Time: first.Add(time.Duration(i) * time.Second), Class: abusewatch.ClassAuthFailure,
			Addr: a, Port: uint16(40000 + i), Line: fmt.Sprintf("web1 sshd[1]: Failed password for root from %s port %d ssh2", addr, 40000+i)})
	}
	if err := st.PutIncidents([]abusewatch.Incident{inc}); err != nil {
		t.Fatal(err)
	}
	return inc
}

func reportsIn(t *testing.T, st *store.Store, states ...abusewatch.ReportState) []abusewatch.Report {
	t.Helper()
	rs, err := st.Reports(states...)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func messageID(t *testing.T, data []byte) string {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return m.Header.Get("Message-Id")
}

func TestServerDownThen451ThenAcceptsDeliversOnce(t *testing.T) {
	addr := mailtest.FreeAddr(t)
	p, st, logs := outboxPipeline(t, addr, "auto", parties[:1], "")
	attack(t, st, "45.134.26.7", t0, 20)
	ctx := t.Context()
	if err := p.Report(ctx, t0); err != nil {
		t.Fatal(err)
	}

	// Down: nothing listens. The report stays queued with a back-off.
	if err := p.DeliverAt(ctx, t0); err == nil {
		t.Fatal("delivery to a server that is down succeeded")
	}
	q := reportsIn(t, st, abusewatch.ReportQueued)
	if len(q) != 1 || q[0].Attempts != 1 || !q[0].NextAttempt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("after the first attempt: %+v", q)
	}
	// Within the back-off nothing is tried.
	if err := p.DeliverAt(ctx, t0.Add(30*time.Second)); err != nil {
		t.Fatal(err)
	}
	if q := reportsIn(t, st, abusewatch.ReportQueued); q[0].Attempts != 1 {
		t.Errorf("tried again within the back-off: %d attempts", q[0].Attempts)
	}

	// Up, but busy: 451. The back-off doubles.
	srv := mailtest.Start(t, mailtest.Options{Addr: addr, Replies: []error{mailtest.Reply(451, "try again later")}})
	if err := p.DeliverAt(ctx, t0.Add(time.Minute)); err == nil {
		t.Fatal("a 451 counted as delivered")
	}
	q = reportsIn(t, st, abusewatch.ReportQueued)
	if len(q) != 1 || q[0].Attempts != 2 || !q[0].NextAttempt.Equal(t0.Add(3*time.Minute)) || !strings.Contains(q[0].Error, "451") {
		t.Fatalf("after the 451: attempts %d, next %v, error %q", q[0].Attempts, q[0].NextAttempt, q[0].Error)
	}
	srv.Nothing(t)

	// Accepts: the report arrives, once.
	if err := p.DeliverAt(ctx, t0.Add(3*time.Minute)); err != nil {
		t.Fatal(err)
	}
	m := srv.Next(t)
	sent := reportsIn(t, st, abusewatch.ReportSent)
	if len(sent) != 1 || messageID(t, m.Data) != sent[0].MessageID {
		t.Fatalf("sent %+v, message %q", sent, messageID(t, m.Data))
	}
	if m.Helo != "gw.example.org" {
		t.Errorf("EHLO %q, want mail.helo_name", m.Helo)
	}
	for _, later := range []time.Duration{time.Hour, 48 * time.Hour} {
		if err := p.Tick(ctx, t0.Add(later)); err != nil {
			t.Fatal(err)
		}
	}
	srv.Nothing(t)
	if t.Failed() {
		t.Log(logs)
	}
}

func TestPermanentRefusalFailsWithTheReply(t *testing.T) {
	// The reply quotes, as a relay does, what another server said, escape sequence and
	// all: outbox prints the error, which must be one printable line.
	srv := mailtest.Start(t, mailtest.Options{DataErr: mailtest.Reply(550, "we do not accept reports\x1b[2J\u009b2J", 5, 7, 1)})
	p, st, _ := outboxPipeline(t, srv.Addr, "auto", parties[:1], "")
	attack(t, st, "45.134.26.7", t0, 20)
	if err := p.Tick(t.Context(), t0); err == nil {
		t.Fatal("a 550 counted as delivered")
	}
	failed := reportsIn(t, st, abusewatch.ReportFailed)
	if len(failed) != 1 || !strings.Contains(failed[0].Error, "550") || !strings.Contains(failed[0].Error, "we do not accept reports [2J 2J") {
		t.Fatalf("failed reports: %+v", failed)
	}
	// Failed stays failed: no retry.
	if err := p.Tick(t.Context(), t0.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := reportsIn(t, st, abusewatch.ReportFailed); len(got) != 1 || got[0].Attempts != 1 {
		t.Errorf("after another round: %+v", got)
	}
}

func TestTemporaryFailuresGiveUpAfterTheLimit(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{DataErr: mailtest.Reply(452, "mailbox full")})
	p, st, _ := outboxPipeline(t, srv.Addr, "auto", parties[:1], "")
	attack(t, st, "45.134.26.7", t0, 20)
	p.Tick(t.Context(), t0)
	// A round every 20 minutes (twice mail.retry_max = "10m": each gap counts in full)
	// past mail.give_up_after = "1d".
	end := retryRounds(t, p, st, t0.Add(20*time.Minute), t0.Add(25*time.Hour), 20*time.Minute)
	if !end.Equal(t0.Add(24 * time.Hour)) {
		t.Errorf("gave up at %s, want a day after the first attempt", end)
	}
	failed := reportsIn(t, st, abusewatch.ReportFailed)
	if len(failed) != 1 || !strings.Contains(failed[0].Error, "gave up after 73 attempts since "+t0.Format("2006-01-02 15:04")+" +0000 (retried for 1d)") {
		t.Fatalf("failed reports: %+v", failed)
	}
}

func TestCooldownBatchesAPartysNewIncidentsIntoOneLaterReport(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	p, st, logs := outboxPipeline(t, srv.Addr, "auto", parties[:1], "")
	ctx := t.Context()
	attack(t, st, "45.134.26.7", t0, 20)
	if err := p.Tick(ctx, t0); err != nil {
		t.Fatal(err)
	}
	first := srv.Next(t)

	// Two more attackers from the same network, a day and two days later: the party
	// is in its 7-day cooldown, so nothing is written or sent.
	second := attack(t, st, "45.134.26.8", t0.Add(24*time.Hour), 10)
	third := attack(t, st, "45.134.26.9", t0.Add(48*time.Hour), 10)
	for _, d := range []time.Duration{24 * time.Hour, 49 * time.Hour, 6 * 24 * time.Hour} {
		if err := p.Tick(ctx, t0.Add(d)); err != nil {
			t.Fatal(err)
		}
	}
	srv.Nothing(t)
	if n := len(reportsIn(t, st)); n != 1 {
		t.Fatalf("%d reports written during the cooldown, want 1", n)
	}

	// After the cooldown, one report covers both.
	if err := p.Tick(ctx, t0.Add(7*24*time.Hour+time.Minute)); err != nil {
		t.Fatal(err)
	}
	next := srv.Next(t)
	if messageID(t, next.Data) == messageID(t, first.Data) {
		t.Fatal("the first report was sent again")
	}
	sent := reportsIn(t, st, abusewatch.ReportSent)
	if len(sent) != 2 {
		t.Fatalf("%d reports sent, want 2", len(sent))
	}
	last := sent[1]
	if strings.Join(last.Incidents, ",") != strings.Join([]string{second.ID, third.ID}, ",") &&
		strings.Join(last.Incidents, ",") != strings.Join([]string{third.ID, second.ID}, ",") {
		t.Errorf("the second report covers %v, want both later incidents", last.Incidents)
	}
	if !strings.Contains(string(next.Data), "45.134.26.8") || !strings.Contains(string(next.Data), "45.134.26.9") {
		t.Error("the second memo does not name both sources")
	}
	if t.Failed() {
		t.Log(logs)
	}
}

func TestCooldownHoldsASecondReportToTheSameAddress(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	// Two networks with the same abuse desk: the second report waits in the queue.
	same := []party{{"45.134.26.0/24", "abuse@hostco.example"}, {"45.134.27.0/24", "abuse@hostco.example"}}
	p, st, _ := outboxPipeline(t, srv.Addr, "review", same, "")
	attack(t, st, "45.134.26.7", t0, 20)
	if err := p.Tick(t.Context(), t0); err != nil {
		t.Fatal(err)
	}
	// The admin approves one, it goes; a second report to the same address is written
	// only after the cooldown.
	pending := reportsIn(t, st, abusewatch.ReportPendingApproval)
	if len(pending) != 1 {
		t.Fatalf("%d pending", len(pending))
	}
	approve(t, st, pending[0].ID)
	if err := p.Tick(t.Context(), t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	srv.Next(t)
	attack(t, st, "45.134.27.7", t0.Add(time.Hour), 20)
	if err := p.Tick(t.Context(), t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n := len(reportsIn(t, st, abusewatch.ReportPendingApproval)); n != 0 {
		t.Errorf("%d reports written to an address in its cooldown", n)
	}
	// Even a report the admin queues by hand waits for the cooldown.
	r := pending[0]
	r.ID, r.State, r.Incidents = "by-hand", abusewatch.ReportQueued, []string{"x"}
	if _, err := st.AddReport(r); err != nil {
		t.Fatal(err)
	}
	if err := p.DeliverAt(t.Context(), t0.Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	srv.Nothing(t)
	got, _, _ := st.Report("by-hand")
	if got.State != abusewatch.ReportQueued || !strings.Contains(got.Waiting, "cooldown") || !got.NextAttempt.Equal(t0.Add(time.Minute+7*24*time.Hour)) {
		t.Errorf("by-hand report: %s, waiting %q until %v", got.State, got.Waiting, got.NextAttempt)
	}
}

func approve(t *testing.T, st *store.Store, id string) {
	t.Helper()
	if err := st.UpdateReport(id, func(r *abusewatch.Report) error {
		r.State, r.Approved = abusewatch.ReportQueued, t0 // as `report approve` does
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func TestDomainHourlyLimit(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	big := []party{{"45.134.26.0/24", "a@big.example"}, {"45.134.27.0/24", "b@big.example"}, {"45.134.28.0/24", "c@big.example"}}
	p, st, _ := outboxPipeline(t, srv.Addr, "auto", big, "domain_hourly_limit = 2")
	for i := range 3 {
		attack(t, st, fmt.Sprintf("45.134.%d.7", 26+i), t0, 20)
	}
	if err := p.Tick(t.Context(), t0); err != nil {
		t.Fatal(err)
	}
	srv.Next(t)
	srv.Next(t)
	srv.Nothing(t)
	q := reportsIn(t, st, abusewatch.ReportQueued)
	if len(q) != 1 || !strings.Contains(q[0].Waiting, "big.example") || !q[0].NextAttempt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("queued: %+v", q)
	}
	if err := p.Tick(t.Context(), t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	srv.Next(t)
}

func TestDailyCap(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	p, st, logs := outboxPipeline(t, srv.Addr, "auto", parties, "daily_cap = 2")
	attack(t, st, "45.134.26.7", t0, 20)
	attack(t, st, "185.220.100.7", t0, 20)
	attack(t, st, "218.92.0.7", t0, 20)
	if err := p.Tick(t.Context(), t0); err != nil {
		t.Fatal(err)
	}
	srv.Next(t)
	srv.Next(t)
	srv.Nothing(t)
	q := reportsIn(t, st, abusewatch.ReportQueued)
	if len(q) != 1 || !strings.Contains(q[0].Waiting, "cap") {
		t.Fatalf("queued: %+v", q)
	}
	if !strings.Contains(logs.String(), "report waits") {
		t.Error("no log line says why the report waits")
	}
	p.Tick(t.Context(), t0.Add(23*time.Hour))
	srv.Nothing(t)
	p.Tick(t.Context(), t0.Add(24*time.Hour))
	srv.Next(t)
}

func TestReportLeftInSendingIsNotResentWithoutApproval(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	p, st, logs := outboxPipeline(t, srv.Addr, "auto", parties[:1], "")
	attack(t, st, "45.134.26.7", t0, 20)
	if err := p.Report(t.Context(), t0); err != nil {
		t.Fatal(err)
	}
	// What a process killed during delivery leaves behind.
	r := reportsIn(t, st, abusewatch.ReportQueued)[0]
	if err := st.UpdateReport(r.ID, func(s *abusewatch.Report) error {
		s.State, s.Attempts = abusewatch.ReportSending, 1
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := p.Tick(t.Context(), t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	srv.Nothing(t)
	got, _, _ := st.Report(r.ID)
	if got.State != abusewatch.ReportPendingApproval || !strings.Contains(got.Error, "may or may not have arrived") {
		t.Errorf("report is %s: %q", got.State, got.Error)
	}
	if !strings.Contains(logs.String(), "not sending it again") || !strings.Contains(logs.String(), p.cfg.Command("report approve", r.ID)) {
		t.Errorf("no log line says so:\n%s", logs)
	}
}

// A server that takes the whole message and gives no answer within mail.reply_timeout may have
// delivered it: the report goes to the admin, as after a stop while sending, and is not
// sent again on its own.
func TestNoAnswerAfterTheMessageIsNotResentWithoutApproval(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{Hold: true})
	p, st, logs := outboxPipeline(t, srv.Addr, "auto", parties[:1], "")
	smtp := *p.transport.(*mailer.SMTP)
	smtp.ReplyTimeout = 300 * time.Millisecond // mail.reply_timeout
	p.SetTransport(&smtp)
	attack(t, st, "45.134.26.7", t0, 20)
	if err := p.Tick(t.Context(), t0); !errors.Is(err, mailer.ErrMayHaveArrived) {
		t.Fatalf("Tick = %v, want ErrMayHaveArrived", err)
	}
	srv.Holding(t)
	r := reportsIn(t, st, abusewatch.ReportPendingApproval)
	if len(r) != 1 || r[0].Attempts != 1 || !strings.Contains(r[0].Error, "it may have arrived") ||
		!strings.Contains(r[0].Error, p.cfg.Command("report approve", r[0].ID)) {
		t.Fatalf("pending approval: %+v", r)
	}
	if err := p.Tick(t.Context(), t0.Add(48*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n := srv.Transactions(); n != 1 {
		t.Errorf("the server saw %d messages, want the one it did not answer", n)
	}
	if !strings.Contains(logs.String(), "not sending it again without your approval") {
		t.Errorf("no log line says so:\n%s", logs)
	}
}

func TestObserveModeSendsNothing(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	p, st, _ := outboxPipeline(t, srv.Addr, "observe", parties[:1], "")
	attack(t, st, "45.134.26.7", t0, 20)
	if err := p.Tick(t.Context(), t0); err != nil {
		t.Fatal(err)
	}
	held := reportsIn(t, st, abusewatch.ReportHeld)
	if len(held) != 1 {
		t.Fatalf("%d held", len(held))
	}
	approve(t, st, held[0].ID) // even queued by hand
	if err := p.Tick(t.Context(), t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	srv.Nothing(t)
}

// A round of Report takes on reportBatch unreported incidents. When more than that
// many belong to parties that must wait (a report pending approval, a cooldown), the
// next rounds go on past them: a party whose incident comes after them in the work list
// gets its report, instead of waiting for the others to be approved and sent.
func TestWaitingPartiesDoNotHoldUpTheRest(t *testing.T) {
	p, st, _ := outboxPipeline(t, "127.0.0.1:1", "review", parties[:2], "")
	a := netip.MustParseAddr("45.134.26.7")
	incident := func(id string, addr netip.Addr) abusewatch.Incident {
		return abusewatch.Incident{ID: id, Key: "ip:" + addr.String(), Rule: "per-address", Addr: addr,
			Network: netip.PrefixFrom(addr, 32), Classes: []abusewatch.Class{abusewatch.ClassAuthFailure},
			First: t0, Last: t0.Add(time.Minute), Count: 5, Attempts: 5, Hosts: []string{"web1"}, Severity: 2,
			Evidence: []abusewatch.Event{{Time: t0, Class: abusewatch.ClassAuthFailure, Addr: addr,
				Line: "web1 sshd[1]: Failed password for root from " + addr.String() + " port 40000 ssh2"}}}
	}
	// The work list is in ID order: hostco's come first, relay-net's one last.
	var incs []abusewatch.Incident
	for i := range 2*reportBatch + reportBatch/2 {
		incs = append(incs, incident(fmt.Sprintf("a%06d", i), a))
	}
	relay := incident("z000000", netip.MustParseAddr("185.220.100.7"))
	if err := st.PutIncidents(append(incs, relay)); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	var rounds int
	for rounds = 1; rounds <= 4; rounds++ {
		if err := p.Report(ctx, t0.Add(time.Duration(rounds)*5*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := st.ReportFor(relay.ID); err != nil || ok {
			if err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	if rounds > 4 {
		t.Fatal("relay-net got no report in 4 rounds: hostco's incidents, waiting behind its report pending approval, held up the work list")
	}
	if n := len(reportsIn(t, st)); n != 2 {
		t.Errorf("%d reports, want one to each party", n)
	}
}

// An incident that ended more than policy.max_age before the logs' newest event (or now,
// when that is earlier) is not reported outside: the abuse desk's own logs of it are
// likely gone, and `correlate --since 180d` must not mail months-old attacks. It leaves
// the work list; the admin still sees it. Measured from the newest event, a log scanned
// days after it was written is reported as on the day.
func TestIncidentsOlderThanMaxAgeAreNotReported(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	p, st, logs := outboxPipeline(t, srv.Addr, "auto", parties[:1], `max_age = "30d"`)
	ctx := t.Context()
	stale := attack(t, st, "45.134.26.7", t0.AddDate(0, 0, -31), 20)
	edge := attack(t, st, "45.134.26.8", t0.AddDate(0, 0, -30).Add(-time.Minute), 20) // its last event 30 days before now
	// The age counts from the clock (now), not from the logs' newest event.
	if err := p.Tick(ctx, t0); err != nil {
		t.Fatal(err)
	}
	m := srv.Next(t)
	if !strings.Contains(string(m.Data), "45.134.26.8") || strings.Contains(string(m.Data), "45.134.26.7") {
		t.Error("the report is not about the incident of 30 days alone")
	}
	var reported []string
	for _, r := range reportsIn(t, st, abusewatch.ReportSent) {
		reported = append(reported, strings.Join(r.Incidents, "+"))
	}
	if strings.Join(reported, " ") != edge.ID {
		t.Fatalf("reports sent of %v, want one of %s", reported, edge.ID)
	}
	if incs, _, err := st.UnreportedIncidents("", 0); err != nil || len(incs) != 0 {
		t.Errorf("still to report: %v, %v; the stale incident should have left the work list", incs, err)
	}
	if _, ok, err := st.ReportFor(stale.ID); ok || err != nil {
		t.Errorf("the stale incident has a report (%v)", err)
	}
	if !strings.Contains(logs.String(), "policy.max_age") {
		t.Error("no log line says why the stale incident was not reported")
	}
	// Still there for the admin, and the preview says it would not be written.
	if incs, _, err := st.IncidentsSince(time.Time{}, 0); err != nil || len(incs) != 2 {
		t.Errorf("incidents: %d, %v; want both", len(incs), err)
	}
	pv, err := PreviewReport(ctx, p.cfg, st, nil, stale.Addr, t0)
	if err != nil || !strings.HasPrefix(pv.Fate, "It would not be written") || !strings.Contains(pv.Fate, "policy.max_age (30d)") {
		t.Errorf("preview of the stale incident: %q, %v", pv.Fate, err)
	}
	srv.Nothing(t)
}

// A login that succeeded from an attacking address is the admin's, never the outside's:
// the round warns once and takes the incident off the work list, instead of warning
// again every report_interval for as long as it is kept. When it grows (the address
// came back), it is new to the admin and warned again.
func TestPossibleCompromiseIsWarnedOncePerChange(t *testing.T) {
	p, st, logs := outboxPipeline(t, "127.0.0.1:1", "auto", parties[:1], "")
	ctx := t.Context()
	inc := attack(t, st, "45.134.26.7", t0, 20)
	inc.Success = true
	if err := st.PutIncidents([]abusewatch.Incident{inc}); err != nil {
		t.Fatal(err)
	}
	warnings := func() int { return strings.Count(logs.String(), "possible compromise") }
	for i := range 3 {
		if err := p.Report(ctx, t0.Add(time.Duration(i+1)*5*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if n := warnings(); n != 1 {
		t.Errorf("warned %d times in 3 rounds, want once", n)
	}
	inc.Last, inc.Count = inc.Last.Add(time.Hour), inc.Count+5
	if err := st.PutIncidents([]abusewatch.Incident{inc}); err != nil {
		t.Fatal(err)
	}
	if err := p.Report(ctx, t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n := warnings(); n != 2 {
		t.Errorf("warned %d times after it grew, want twice", n)
	}
	if rs := reportsIn(t, st); len(rs) != 0 {
		t.Errorf("%d reports about a possible compromise", len(rs))
	}
}

// A network excluded after its incidents were made (`exclude`, or never_report added and
// reloaded) is never reported: the round drops its incidents that wait for a report and
// takes them off the work list; the other parties' go out as before.
func TestNetworkExcludedAfterItsIncidentsIsNotReported(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	for _, how := range []string{"exclude", "never_report"} {
		t.Run(how, func(t *testing.T) {
			policy := ""
			if how == "never_report" {
				policy = `never_report = ["45.134.26.0/24"]`
			}
			p, st, logs := outboxPipeline(t, srv.Addr, "auto", parties[:2], policy)
			own := attack(t, st, "45.134.26.7", t0, 20) // made before the exclusion
			other := attack(t, st, "185.220.100.7", t0, 20)
			if how == "exclude" {
				if _, err := Exclude(st, netip.MustParsePrefix("45.134.26.0/24"), false, "a partner's scanner", t0); err != nil {
					t.Fatal(err)
				}
				p.correlator.Exclude(netip.MustParsePrefix("45.134.26.0/24"))
			}
			if err := p.Tick(t.Context(), t0.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			m := srv.Next(t)
			if strings.Contains(string(m.Data), "45.134.26.7") {
				t.Error("the excluded network was reported")
			}
			srv.Nothing(t)
			if _, ok, _ := st.ReportFor(other.ID); !ok {
				t.Error("the other party's incident has no report")
			}
			if incs, _, err := st.UnreportedIncidents("", 0); err != nil || len(incs) != 0 {
				t.Errorf("still to report: %d, %v", len(incs), err)
			}
			if _, ok, _ := st.ReportFor(own.ID); ok {
				t.Error("the excluded incident has a report")
			}
			if !strings.Contains(logs.String(), "never reported") {
				t.Error("no log line says why the incident was not reported")
			}
		})
	}
}

// networkAttack stores the incident the network rule makes of attacks from addrs, all of
// network, each with a failed login (the first address is the one looked up).
func networkAttack(t *testing.T, st *store.Store, network string, addrs []string, first time.Time) abusewatch.Incident {
	t.Helper()
	inc := abusewatch.Incident{
		ID: "net-" + network + "-" + first.Format("150405"), Key: "net:" + network, Rule: "network", Addr: netip.MustParseAddr(addrs[0]),
		Network: netip.MustParsePrefix(network), Classes: []abusewatch.Class{abusewatch.ClassAuthFailure},
		First: first, Last: first.Add(time.Minute), Count: len(addrs), Attempts: len(addrs), Hosts: []string{"web1"}, Severity: 2,
	}
	for i, addr := range addrs {
		inc.Evidence = append(inc.Evidence, abusewatch.Event{Time: first.Add(time.Duration(i) * time.Second), Class: abusewatch.ClassAuthFailure,
			Addr: netip.MustParseAddr(addr), Port: 40000, Line: fmt.Sprintf("web1 sshd[1]: Failed password for root from %s port 40000 ssh2", addr)})
	}
	for _, a := range addrs {
		inc.Sources = append(inc.Sources, netip.MustParseAddr(a))
	}
	slices.SortFunc(inc.Sources, netip.Addr.Compare)
	if err := st.PutIncidents([]abusewatch.Incident{inc}); err != nil {
		t.Fatal(err)
	}
	return inc
}

// mailText is all a mail says, decoded: its subject, the body of each part, and the log
// lines an X-ARF part carries base64-encoded.
func mailText(t *testing.T, data []byte) string {
	t.Helper()
	h, parts, err := mailtest.Parts(data)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	out.WriteString(h.Get("Subject") + "\n")
	for _, p := range parts {
		out.Write(p.Body)
		var x struct {
			Evidence []struct {
				Payload []byte `json:"payload"` // base64, as encoding/json reads a []byte
			} `json:"evidence"`
		}
		if json.Unmarshal(p.Body, &x) == nil {
			for _, e := range x.Evidence {
				out.Write(e.Payload)
			}
		}
	}
	return out.String()
}

// A network's incident made before some of its addresses were excluded is reported
// without them: not their log lines, and looked up through an address left when its
// first was excluded (before, excluding that first address held back the whole network's
// incident, and excluding another sent its lines). Excluding a network around it takes
// all of it; a report written before is written again without them.
func TestANetworkIncidentIsReportedWithoutItsAddressesExcludedSince(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	addrs := []string{"45.134.26.7", "45.134.26.18", "45.134.26.29"}
	for _, tc := range []struct {
		name, excluded string
		mode           string // review: the report is written before the exclusion
		sentFrom       []string
	}{
		{"its first address", "45.134.26.7/32", "auto", addrs[1:]},
		{"another address", "45.134.26.16/30", "auto", []string{addrs[0], addrs[2]}},
		{"a network around it", "45.134.0.0/16", "auto", nil},
		{"an address, after the report", "45.134.26.7/32", "review", addrs[1:]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, st, logs := outboxPipeline(t, srv.Addr, tc.mode, parties[:1], "")
			inc := networkAttack(t, st, "45.134.26.0/24", addrs, t0)
			var written []abusewatch.Report
			if tc.mode == "review" {
				if err := p.Report(t.Context(), t0.Add(time.Hour)); err != nil {
					t.Fatal(err)
				}
				if written = reportsIn(t, st, abusewatch.ReportPendingApproval); len(written) != 1 {
					t.Fatalf("%d reports pending, want 1", len(written))
				}
			}
			excluded := netip.MustParsePrefix(tc.excluded)
			res, err := Exclude(st, excluded, false, "a partner's host", t0.Add(2*time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if tc.mode == "review" {
				if res.RejectedReports != 0 {
					t.Fatalf("exclude rejected %d reports; want the network's left to the outbox", res.RejectedReports)
				}
				if _, err := ApproveReports(p.cfg, st, nil, true, t0.Add(2*time.Hour)); err != nil {
					t.Fatal(err)
				}
			}
			p.correlator.Exclude(excluded)
			if err := p.Tick(t.Context(), t0.Add(3*time.Hour)); err != nil {
				t.Fatal(err)
			}
			if tc.sentFrom == nil {
				srv.Nothing(t)
				if _, ok, _ := st.ReportFor(inc.ID); ok {
					t.Error("the excluded network's incident has a report")
				}
				return
			}
			m := srv.Next(t)
			srv.Nothing(t)
			text := mailText(t, m.Data)
			for _, a := range addrs {
				// In a log line, or among the network's addresses seen.
				named := strings.Contains(text, a+" ") || strings.Contains(text, a+",") || strings.Contains(text, a+"\n") || strings.Contains(text, a+"\r")
				if want := slices.Contains(tc.sentFrom, a); named != want {
					t.Errorf("the mail names %s: %v, want %v:\n%s", a, !want, want, text)
				}
			}
			if !strings.Contains(text, "45.134.26.0/24") || !slices.Contains(m.To, "abuse@hostco.example") {
				t.Errorf("the mail to %v is not about the network to its contact:\n%s", m.To, text)
			}
			if tc.mode == "review" {
				// The same incident to the same party: the same report, its mail
				// written again.
				r, _, err := st.Report(written[0].ID)
				if err != nil || r.State != abusewatch.ReportSent || strings.Contains(mailText(t, r.Message), "45.134.26.7 ") {
					t.Errorf("the report written before: %s (%v); want it sent, its mail kept as it went:\n%s", r.State, err, r.Message)
				}
				if !strings.Contains(logs.String(), "written again without the addresses excluded since") {
					t.Error("no log line says the mail was written again")
				}
			} else if !strings.Contains(logs.String(), "without the addresses of it excluded") {
				t.Error("no log line says which addresses were left out")
			}
		})
	}
}

// A network incident reported without an address excluded since it was made does not
// claim that address's lines and connections, nor begin at its first line: what the
// store holds of the incident's span is counted again without them.
func TestANetworkIncidentsCountsLeaveOutItsExcludedAddresses(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	p, st, _ := outboxPipeline(t, srv.Addr, "auto", parties[:1], "")
	addrs := []string{"45.134.26.7", "45.134.26.18", "45.134.26.29"}
	inc := networkAttack(t, st, "45.134.26.0/24", addrs, t0)
	// The partner's host (.7) began, with 6 lines of 3 connections; the others made
	// 2 lines of 1 connection each.
	var evs []abusewatch.Event
	line := func(addr string, at time.Duration, port uint16) {
		evs = append(evs, abusewatch.Event{Time: t0.Add(at), Class: abusewatch.ClassAuthFailure, Addr: netip.MustParseAddr(addr), Port: port,
			Host: "web1", Service: "sshd", Line: fmt.Sprintf("web1 sshd[1]: Failed password for root from %s port %d ssh2", addr, port)})
	}
	for i := range 6 {
		line(addrs[0], time.Duration(i)*time.Second, uint16(40000+i/2))
	}
	for i, a := range addrs[1:] {
		line(a, time.Duration(20+i)*time.Second, 41000)
		line(a, time.Duration(30+i)*time.Second, 41000)
	}
	if _, err := st.Commit(evs, nil); err != nil {
		t.Fatal(err)
	}
	inc.First, inc.Last, inc.Count, inc.Attempts = t0, t0.Add(31*time.Second), 10, 5
	if err := st.PutIncidents([]abusewatch.Incident{inc}); err != nil {
		t.Fatal(err)
	}
	excluded := netip.MustParsePrefix("45.134.26.7/32")
	if _, err := Exclude(st, excluded, false, "a partner's host", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	p.correlator.Exclude(excluded)
	if err := p.Tick(t.Context(), t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	text := mailText(t, srv.Next(t).Data)
	first := t0.Add(20 * time.Second).In(Location(p.cfg.Reporter.Timezone)).Format("2006-01-02 15:04:05 -0700")
	saysAll(t, "the mail", text, "Connections:     2 (4 log lines)", "First seen:      "+first)
}

// A party whose report cannot be written (here: the admin's template fails on its
// network; before, a registry's mailbox the mailer refuses) does not hold up the other
// parties' reports, the deliveries or the summary: its incidents wait, and say why.
func TestAReportThatCannotBeWrittenHoldsUpNoOther(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	p, st, logs := outboxPipeline(t, srv.Addr, "auto", parties[:2], "")
	good := attack(t, st, "45.134.26.7", t0, 6)
	bad := attack(t, st, "185.220.101.7", t0, 6)
	shipped, err := os.ReadFile("../configs/report.tmpl")
	if err != nil {
		t.Fatal(err)
	}
	tmpl := filepath.Join(t.TempDir(), "report.tmpl")
	if err := os.WriteFile(tmpl, append(shipped, `{{if eq .Network "185.220.100.0/22"}}{{.NoSuchField}}{{end}}`...), 0o644); err != nil {
		t.Fatal(err)
	}
	p.cfg.Mail.Template = tmpl
	if p.composer, err = NewComposer(p.cfg); err != nil {
		t.Fatal(err)
	}
	if err := p.Tick(t.Context(), t0.Add(time.Hour)); err != nil {
		t.Fatalf("the round failed: %v", err)
	}
	if m := srv.Next(t); !slices.Contains(m.To, "abuse@hostco.example") {
		t.Errorf("the other party's report went to %v", m.To)
	}
	srv.Nothing(t)
	if _, ok, _ := st.ReportFor(good.ID); !ok {
		t.Error("the other party's incident has no report")
	}
	if _, ok, _ := st.ReportFor(bad.ID); ok {
		t.Error("a report was written for the network the template fails on")
	}
	why, err := p.unreported(t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if got := why.Incident(bad); !strings.Contains(got, "cannot be written") || !strings.Contains(got, "NoSuchField") {
		t.Errorf("the waiting incident says %q", got)
	}
	if !strings.Contains(logs.String(), "report not written") {
		t.Error("no log line says the report was not written")
	}
}

// exclude rejects a report written before it about the network alone, as pardon does,
// and keeps the incident.
func TestExcludeRejectsTheUnsentReportsAboutTheNetwork(t *testing.T) {
	p, st, _ := outboxPipeline(t, "127.0.0.1:1", "review", parties[:1], "")
	inc := attack(t, st, "45.134.26.7", t0, 20)
	if err := p.Report(t.Context(), t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n := len(reportsIn(t, st, abusewatch.ReportPendingApproval)); n != 1 {
		t.Fatalf("%d reports pending, want 1", n)
	}
	res, err := Exclude(st, netip.MustParsePrefix("45.134.26.0/24"), false, "a partner's scanner", t0.Add(2*time.Hour))
	if err != nil || res.RejectedReports != 1 || res.ForgotIncidents != 0 {
		t.Fatalf("Exclude = %+v, %v; want 1 report rejected, no incident forgotten", res, err)
	}
	if n := len(reportsIn(t, st, abusewatch.ReportRejected)); n != 1 {
		t.Errorf("%d reports rejected, want 1", n)
	}
	if _, ok, err := st.Incident(inc.ID); !ok || err != nil {
		t.Errorf("the incident is gone (%v)", err)
	}
}

// A report that names a source the admin excluded after it was written (with `exclude`,
// `pardon`, or never_report and a reload) leaves without that source, written again for
// the others; one about never-reported sources alone does not leave at all. exclude and
// pardon reject only the reports about the network alone, so this is the last gate.
func TestAReportLeavesWithoutTheSourcesExcludedSinceItWasWritten(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	excluded := netip.MustParsePrefix("185.220.101.0/24")
	for _, how := range []string{"exclude", "pardon", "never_report", "never_report alone"} {
		t.Run(how, func(t *testing.T) {
			p, st, logs := outboxPipeline(t, srv.Addr, "review", parties[:2], "")
			var kept abusewatch.Incident
			if how != "never_report alone" {
				kept = attack(t, st, "185.220.100.7", t0, 20) // one party: 185.220.100.0/22
			}
			attack(t, st, "185.220.101.9", t0, 20)
			if err := p.Report(t.Context(), t0.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			written := reportsIn(t, st, abusewatch.ReportPendingApproval)
			if len(written) != 1 {
				t.Fatalf("%d reports pending, want 1", len(written))
			}
			switch how {
			case "exclude", "pardon":
				res, err := Exclude(st, excluded, how == "pardon", "our partner's scanner", t0.Add(2*time.Hour))
				if err != nil || res.RejectedReports != 0 {
					t.Fatalf("Exclude = %+v, %v; want the mixed report left to the outbox", res, err)
				}
				p.correlator.Exclude(excluded)
			default: // the config changed, and the daemon reloaded it
				cfg := *p.cfg
				cfg.Policy.NeverReport = []string{excluded.String()}
				var err error
				if p, err = NewPipeline(&cfg, st, slog.New(slog.NewTextHandler(logs, nil))); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := ApproveReports(p.cfg, st, nil, true, t0.Add(2*time.Hour)); err != nil {
				t.Fatal(err)
			}
			if err := p.DeliverAt(t.Context(), t0.Add(3*time.Hour)); err != nil {
				t.Fatal(err)
			}
			old, ok, err := st.Report(written[0].ID)
			if err != nil || !ok || old.State != abusewatch.ReportRejected || !strings.Contains(old.Error, "never reported") {
				t.Fatalf("the report written before: %s %q (%v); want it rejected, saying why", old.State, old.Error, err)
			}
			if how == "never_report alone" {
				srv.Nothing(t)
				if rs := reportsIn(t, st, abusewatch.ReportSent, abusewatch.ReportQueued); len(rs) != 0 {
					t.Errorf("%d reports to send or sent, want none", len(rs))
				}
				return
			}
			m := srv.Next(t)
			if strings.Contains(string(m.Data), "185.220.101.9") || !strings.Contains(string(m.Data), "185.220.100.7") {
				t.Errorf("the mail names the excluded source, or not the other one:\n%s", m.Data)
			}
			srv.Nothing(t)
			sent := reportsIn(t, st, abusewatch.ReportSent)
			if len(sent) != 1 || len(sent[0].Incidents) != 1 || sent[0].Incidents[0] != kept.ID || !strings.Contains(old.Error, sent[0].ID) {
				t.Fatalf("sent %+v; want one report of %s alone, named by the rejected one", sent, kept.ID)
			}
			if id, ok, _ := st.ReportFor(kept.ID); !ok || id != sent[0].ID {
				t.Errorf("the kept incident's report is %s, want %s", id, sent[0].ID)
			}
			if !strings.Contains(logs.String(), "written again without") {
				t.Error("no log line says the report was written again")
			}
		})
	}
}

// A failed report approved again after retention deleted its mail fails again, saying
// why, instead of sending an empty message.
func TestAReportWhoseMailIsGoneIsNotSent(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	p, st, _ := outboxPipeline(t, srv.Addr, "auto", parties[:1], "")
	inc := attack(t, st, "45.134.26.7", t0, 20)
	if _, err := st.AddReport(abusewatch.Report{ID: "r-old", Incidents: []string{inc.ID}, State: abusewatch.ReportFailed,
		Contact: abusewatch.Contact{Emails: []string{"abuse@hostco.example"}}, Created: t0, Updated: t0,
		Message: []byte("Subject: x\r\n\r\nx")}); err != nil {
		t.Fatal(err)
	}
	if n, err := st.PruneReportMessages(t.Context(), t0.Add(time.Hour), 0); err != nil || n != 1 {
		t.Fatalf("PruneReportMessages = %d, %v; want 1", n, err)
	}
	if _, err := ApproveReports(p.cfg, st, []string{"r-old"}, false, t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := p.DeliverAt(t.Context(), t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	srv.Nothing(t)
	r, _, _ := st.Report("r-old")
	if r.State != abusewatch.ReportFailed || !strings.Contains(r.Error, "no longer kept") {
		t.Errorf("report %s %q; want it failed, saying its mail is gone", r.State, r.Error)
	}
}

// Lookups that fail are told in one warning a round, not one per incident (with the
// resolver down, every round failed alike for thousands); and past its budget a round
// leaves the rest of the list to the next, which goes on from there.
func TestARoundWarnsOnceAndLeavesWhatItHasNoTimeForToTheNext(t *testing.T) {
	p, st, logs := outboxPipeline(t, "127.0.0.1:1", "review", nil, "") // no contact: every lookup fails
	for _, a := range []string{"80.94.95.1", "80.94.95.2", "80.94.95.3"} {
		attack(t, st, a, t0, 20)
	}
	p.roundBudget = 0
	if err := p.Report(t.Context(), t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(logs.String(), "level=WARN msg=\"no abuse contact found"); n != 1 || !strings.Contains(logs.String(), "incidents=3") {
		t.Fatalf("%d warnings about the lookups, want 1 of 3 incidents:\n%s", n, logs)
	}
	p.roundBudget = time.Nanosecond // spent by the first lookup
	var left []string
	for range 3 {
		if err := p.Report(t.Context(), t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		left = append(left, p.reportAfter)
	}
	if left[0] == left[1] || left[1] == left[2] || !strings.Contains(logs.String(), "left=2") {
		t.Errorf("the rounds went on after %q; want each after the last one's incident, and the rest left:\n%s", left, logs)
	}
}

// report preview of any source of a network's incident shows the report about the
// network, not only of the address it names to be looked up through. An address of the
// network that is none of its sources has no incident: the preview says which incident
// holds it and how to preview that one. Before, it read "every incident from
// 2a01:4f8:1:ffff::1 has a report already" of an address that sent nothing, one of the
// 2^80 of a /48 (review 46 finding 5).
func TestPreviewOfAnAddressOfANetworkIncident(t *testing.T) {
	p, st, _ := outboxPipeline(t, "127.0.0.1:1", "review", parties[:1], "")
	v4 := networkAttack(t, st, "45.134.26.0/24", []string{"45.134.26.7", "45.134.26.18", "45.134.26.29"}, t0)
	v6 := networkAttack(t, st, "2a01:4f8:1::/48", []string{"2a01:4f8:1:1::1", "2a01:4f8:1:2::1", "2a01:4f8:1:3::1"}, t0)
	for addr, inc := range map[string]abusewatch.Incident{"45.134.26.200": v4, "2a01:4f8:1:ffff::1": v6, "2a01:4f8:1:1::2": v6} {
		_, err := PreviewReport(t.Context(), p.cfg, st, nil, netip.MustParseAddr(addr), t0.Add(time.Hour))
		want := fmt.Sprintf("no incident from %s in %s: nothing would be reported about it. The incident %s of %s holds the address, but %s is not among its sources (abusewatch report preview --config %s %s previews its report)",
			addr, p.cfg.Store.Path, inc.ID, inc.Network, addr, p.cfg.file, inc.Addr)
		if err == nil || err.Error() != want {
			t.Errorf("preview of %s, which sent nothing: %v\nwant %s", addr, err, want)
		}
	}
	for _, a := range []string{"45.134.26.18", "45.134.26.7"} {
		pv, err := PreviewReport(t.Context(), p.cfg, st, nil, netip.MustParseAddr(a), t0.Add(time.Hour))
		if err != nil {
			t.Fatalf("preview of %s: %v", a, err)
		}
		if text := mailText(t, pv.Report.Message); !strings.Contains(text, "Source network:  45.134.26.0/24") {
			t.Errorf("preview of %s does not show the network's incident:\n%s", a, text)
		}
	}
	if _, err := PreviewReport(t.Context(), p.cfg, st, nil, netip.MustParseAddr("45.134.27.1"), t0.Add(time.Hour)); err == nil || !strings.Contains(err.Error(), "no incident") {
		t.Errorf("preview of an address of another network: %v; want no incident", err)
	}
}
