package daemon

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/mailer/mailtest"
	"github.com/abusewatch/abusewatch/store"
)

// A report the abuse desk's server refuses at every round (a full mailbox, a 451 that
// lasts for days) does not hold up the admin's daily summary: the round goes on to it.
func TestARefusedReportDoesNotHoldUpTheSummary(t *testing.T) {
	refused := mailtest.Reply(451, "mailbox full, try again later", 4, 2, 2)
	srv := refusing(t, "abuse@hostco.example", false, refused)
	p, st := summaryRefusedPipeline(t, srv.Addr, "retry_min = \"1m\"\nretry_max = \"10m\"\n")
	ctx := t.Context()
	start := time.Date(2026, 11, 20, 6, 0, 0, 0, time.UTC)
	if err := p.OutboxRound(ctx, start); err != nil { // marks the start of the summaries
		t.Fatal(err)
	}
	attack(t, st, "45.134.26.7", start.Add(30*time.Minute), 8)
	// The next day's round: the report is refused, and the summary is due.
	err := p.OutboxRound(ctx, start.Add(25*time.Hour))
	if err == nil || !strings.Contains(err.Error(), "mailbox full") {
		t.Errorf("the round says %v; want the refusal", err)
	}
	m := srv.Next(t)
	if len(m.To) != 1 || m.To[0] != "root@example.org" || !strings.Contains(string(m.Data), "1 new incident, 0 reports sent") {
		t.Fatalf("the mail that went is to %v:\n%.300s", m.To, m.Data)
	}
	srv.Nothing(t)
}

// A report the desk's server refuses for good (550 user unknown) fails: approved again,
// it goes to the same mailbox and fails the same way. The summary's only advice was
// "approve … (to try again)" (review summary46 M4): it says to check the contact, name
// the right one in the config, and reject the report, each with its command.
func TestTheSummarySaysWhatFixesAReportRefusedForGood(t *testing.T) {
	srv := refusing(t, "abuse@hostco.example", false, mailtest.Reply(550, "User unknown", 5, 1, 1))
	p, st := summaryRefusedPipeline(t, srv.Addr, "")
	ctx := t.Context()
	start := time.Date(2026, 11, 20, 6, 0, 0, 0, time.UTC)
	if err := p.OutboxRound(ctx, start); err != nil { // marks the start of the summaries
		t.Fatal(err)
	}
	attack(t, st, "45.134.26.7", start.Add(30*time.Minute), 8)
	_ = p.OutboxRound(ctx, start.Add(25*time.Hour)) // the report is refused; the summary is due
	failed := reportsIn(t, st, abusewatch.ReportFailed)
	if len(failed) != 1 {
		t.Fatalf("%d failed reports, want the refused one", len(failed))
	}
	m := srv.Next(t)
	if len(m.To) != 1 || m.To[0] != "root@example.org" {
		t.Fatalf("the mail that went is to %v", m.To)
	}
	text, _, _ := summaryParts(t, m.Data)
	for _, want := range []string{
		p.cfg.Command("whois", "45.134.26.7"),
		"[[contact]] entry of " + p.cfg.file,
		"abusewatch report --config " + p.cfg.file + " reject " + failed[0].ID,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the summary does not say %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "to try again") {
		t.Errorf("the summary still advises trying again:\n%s", text)
	}
}

// summaryRefusedPipeline is a pipeline in auto mode whose reports go by SMTP to addr
// (mail takes more [mail] lines), with the summary due at 07:00 UTC.
func summaryRefusedPipeline(t *testing.T, addr, mail string) (*Pipeline, *store.Store) {
	t.Helper()
	dir := t.TempDir()
	p, st, _ := pipelineOf(t, dir, fmt.Sprintf(`
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
emails = ["abuse@hostco.example"]
[mail]
transport = "smtp"
server = %q
tls = "none"
from = "abusewatch@example.org"
admin = "root@example.org"
%s[policy]
settle = "0s"
mode = "auto"
[summary]
time = "07:00"
[store]
path = %q
`, addr, mail, filepath.Join(dir, "state.db")))
	return p, st
}
