package daemon

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/lookup/lookuptest"
	"github.com/abusewatch/abusewatch/mailer/mailtest"
	"github.com/abusewatch/abusewatch/store"
)

// Session 24: a report some recipients took while the others wait (a 4xx retried to
// them alone) met a report to the same party waiting: the sources moving from one to
// the other ([[contact]] edited) were written again as one report to all, and a
// recipient that had some of its incidents got them a second time.

// joinPipeline is a pipeline in auto mode with a cooldown of an hour that sends over
// SMTP to server, with 45.134.26.0/24's contact mailboxes a and 45.134.27.0/24's b.
func joinPipeline(t *testing.T, server string, a, b []string) (*Pipeline, *store.Store, *logBuffer) {
	t.Helper()
	dir := t.TempDir()
	quoted := func(emails []string) string {
		q := make([]string, len(emails))
		for i, e := range emails {
			q[i] = fmt.Sprintf("%q", e)
		}
		return strings.Join(q, ", ")
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
network = "45.134.27.0/24"
emails = [%s]
[mail]
transport = "smtp"
server = %q
tls = "none"
timeout = "10s"
from = "abusewatch@example.org"
admin = "root@example.org"
retry_min = "1m"
retry_max = "10m"
give_up_after = "1d"
[policy]
settle = "0s"
mode = "auto"
cooldown = "1h"
[summary]
time = ""
[store]
path = %q
`, quoted(a), quoted(b), server, filepath.Join(dir, "state.db")))
}

// told tallies, of each message, which of addrs its memo names, by recipient:
// recipient → address → how many mails told it.
type told map[string]map[string]int

func (tl told) add(t *testing.T, m mailtest.Message, addrs ...string) {
	t.Helper()
	_, parts, err := mailtest.Parts(m.Data)
	if err != nil || len(parts) == 0 {
		t.Fatalf("message to %v: %v", m.To, err)
	}
	memo := string(parts[0].Body)
	for _, to := range m.To {
		if tl[to] == nil {
			tl[to] = map[string]int{}
		}
		for _, a := range addrs {
			if strings.Contains(memo, a) {
				tl[to][a]++
			}
		}
	}
}

// refusingFor starts an SMTP server that answers RCPT TO:<mailbox> with a 451 (the
// first time only, for those in once) and takes every other recipient.
func refusingFor(t *testing.T, always, once []string) *mailtest.Server {
	tries := map[string]*atomic.Int32{}
	for _, m := range once {
		tries[m] = &atomic.Int32{}
	}
	greylisted := mailtest.Reply(451, "greylisted, try again later", 4, 7, 1)
	return mailtest.Start(t, mailtest.Options{RcptErr: func(to string) error {
		for _, m := range always {
			if to == m {
				return greylisted
			}
		}
		if n, ok := tries[to]; ok && n.Add(1) == 1 {
			return greylisted
		}
		return nil
	}})
}

// Sources move from a report abuse@ took (noc@ being retried) to a contact that
// names abuse@ and soc@, whose report waits in the cooldown: abuse@ is not sent them
// again, soc@ gets both incidents, and each only once.
func TestSourcesOfAPartlyDeliveredReportJoinNoOneWhoHadThem(t *testing.T) {
	srv := refusingFor(t, []string{"noc@hostco.example"}, nil)
	p, st, logs := joinPipeline(t, srv.Addr, []string{"abuse@hostco.example", "noc@hostco.example"},
		[]string{"abuse@hostco.example", "soc@hostco.example"})
	ctx := t.Context()
	attack(t, st, "45.134.26.7", t0, 20)
	attack(t, st, "45.134.27.7", t0, 20)
	p.Tick(ctx, t0)
	tl := told{}
	tl.add(t, srv.Next(t), "45.134.26.7", "45.134.27.7")
	if tl["abuse@hostco.example"]["45.134.26.7"] != 1 {
		t.Fatalf("first mail: %v", tl)
	}
	partly := reportsIn(t, st, abusewatch.ReportQueued)
	if len(partly) != 2 {
		t.Fatalf("queued: %+v; want the one noc@ waits for and the other in the cooldown", partly)
	}
	// 45.134.26.0/24's desk is now abuse@ and soc@, the other report's contact.
	p = repointed(t, p, st, logs, `"abuse@hostco.example", "noc@hostco.example"`, `"abuse@hostco.example", "soc@hostco.example"`)
	for _, at := range []time.Duration{time.Minute, 2 * time.Hour, 4 * time.Hour, 6 * time.Hour} {
		p.Tick(ctx, t0.Add(at))
	}
	for range srv.Transactions() - 1 {
		tl.add(t, srv.Next(t), "45.134.26.7", "45.134.27.7")
	}
	want := told{
		"abuse@hostco.example": {"45.134.26.7": 1, "45.134.27.7": 1},
		"soc@hostco.example":   {"45.134.26.7": 1, "45.134.27.7": 1},
	}
	if fmt.Sprint(tl) != fmt.Sprint(want) {
		t.Errorf("incidents told: %v, want %v (each to each once)\n%s", tl, want, logs)
	}
	srv.Nothing(t)
}

// Sources move from a report no one took yet (noc@ being retried) to a contact whose
// report abuse@ took while soc@ is retried: abuse@ is not sent that report's incident
// again with them, soc@ gets it, and both get the sources once.
func TestSourcesJoinNoReportSomeRecipientsHad(t *testing.T) {
	srv := refusingFor(t, []string{"noc@hostco.example"}, []string{"soc@hostco.example"})
	p, st, logs := joinPipeline(t, srv.Addr, []string{"noc@hostco.example"},
		[]string{"abuse@hostco.example", "soc@hostco.example"})
	ctx := t.Context()
	attack(t, st, "45.134.26.7", t0, 20)
	attack(t, st, "45.134.27.7", t0, 20)
	p.Tick(ctx, t0)
	tl := told{}
	tl.add(t, srv.Next(t), "45.134.26.7", "45.134.27.7")
	if tl["abuse@hostco.example"]["45.134.27.7"] != 1 {
		t.Fatalf("first mail: %v", tl)
	}
	p = repointed(t, p, st, logs, `["noc@hostco.example"]`, `["abuse@hostco.example", "soc@hostco.example"]`)
	for _, at := range []time.Duration{time.Minute, 2 * time.Hour, 4 * time.Hour, 6 * time.Hour} {
		p.Tick(ctx, t0.Add(at))
	}
	for range srv.Transactions() - 1 {
		tl.add(t, srv.Next(t), "45.134.26.7", "45.134.27.7")
	}
	want := told{
		"abuse@hostco.example": {"45.134.26.7": 1, "45.134.27.7": 1},
		"soc@hostco.example":   {"45.134.26.7": 1, "45.134.27.7": 1},
	}
	if fmt.Sprint(tl) != fmt.Sprint(want) {
		t.Errorf("incidents told: %v, want %v (each to each once)\n%s", tl, want, logs)
	}
	srv.Nothing(t)
}

// In review mode: a report abuse@ took while noc@ is retried is held for the admin
// (the mode switched to review), its sources move to a contact whose report waits for
// approval, and the admin approves what waits. Approving sends no recipient what it
// had: abuse@ is not sent the moved incident again, soc@ gets both.
func TestApprovingSendsNoRecipientWhatItHad(t *testing.T) {
	srv := refusingFor(t, []string{"noc@hostco.example"}, nil)
	p, st, logs := joinPipeline(t, srv.Addr, []string{"abuse@hostco.example", "noc@hostco.example"},
		[]string{"abuse@hostco.example", "soc@hostco.example"})
	ctx := t.Context()
	attack(t, st, "45.134.26.7", t0, 20)
	attack(t, st, "45.134.27.7", t0, 20)
	p.Tick(ctx, t0)
	tl := told{}
	tl.add(t, srv.Next(t), "45.134.26.7", "45.134.27.7")
	p = repointed(t, p, st, logs, `mode = "auto"`, `mode = "review"`)
	p.Tick(ctx, t0.Add(time.Minute))
	held := reportsIn(t, st, abusewatch.ReportPendingApproval)
	if len(held) != 2 {
		t.Fatalf("waiting for approval: %+v; want both, the one abuse@ took among them", held)
	}
	p = repointed(t, p, st, logs, `"abuse@hostco.example", "noc@hostco.example"`, `"abuse@hostco.example", "soc@hostco.example"`)
	p.Tick(ctx, t0.Add(2*time.Minute))
	for i, at := range []time.Duration{2 * time.Hour, 4 * time.Hour, 6 * time.Hour} {
		if _, err := Approve(p.cfg, st, Approval{Pending: true}, t0.Add(at-time.Minute)); err != nil {
			t.Fatalf("approve %d: %v", i, err)
		}
		p.Tick(ctx, t0.Add(at))
	}
	for range srv.Transactions() - 1 {
		tl.add(t, srv.Next(t), "45.134.26.7", "45.134.27.7")
	}
	want := told{
		"abuse@hostco.example": {"45.134.26.7": 1, "45.134.27.7": 1},
		"soc@hostco.example":   {"45.134.26.7": 1, "45.134.27.7": 1},
	}
	if fmt.Sprint(tl) != fmt.Sprint(want) {
		t.Errorf("incidents told: %v, want %v (each to each once)\n%s", tl, want, logs)
	}
	srv.Nothing(t)
}

// Sources of a report abuse@ took (noc@ being retried) move to a guess, its
// [[contact]] removed and the registry naming no one: their report to the guess leaves
// abuse@ out. Another incident of the guessed party found while that report waits for
// approval joined it, written again as one report to all (gatherGuesses), and abuse@
// got the first incident twice once approved. It waits instead, and each recipient
// gets each incident once.
func TestAGuessSomeRecipientsHadIsNotGathered(t *testing.T) {
	const guessed = "abuse@freedns-shared.com"
	r := lookuptest.NewRDAP(t)
	r.AnswerFile("177.0.0.0/14", "../lookup/testdata/rdap/ip_network_br.json")
	dns, _ := lookuptest.ServeZone(t, "9.0.0.177.in-addr.arpa. 60 IN PTR vps9.freedns-shared.com.\nvps9.freedns-shared.com. 60 IN A 177.0.0.9\n"+
		"20.0.0.177.in-addr.arpa. 60 IN PTR vps20.freedns-shared.com.\nvps20.freedns-shared.com. 60 IN A 177.0.0.20\n")
	srv := refusingFor(t, []string{"noc@freedns-shared.com"}, nil)
	dir := t.TempDir()
	const static = "[[contact]]\nnetwork = \"177.0.0.0/24\"\nemails = [\"abuse@freedns-shared.com\", \"noc@freedns-shared.com\"]\n"
	p, st, logs := pipelineOf(t, dir, fmt.Sprintf(`
[reporter]
name = "Sam Example"
email = "security@example.org"
timezone = "UTC"
[lookup]
rdap_server = %q
resolvers = [%q]
timeout = "2s"
guess = true
%s
[mail]
transport = "smtp"
server = %q
tls = "none"
timeout = "10s"
from = "abusewatch@example.org"
retry_min = "1m"
retry_max = "10m"
give_up_after = "1d"
[policy]
settle = "0s"
mode = "auto"
cooldown = "1h"
[summary]
time = ""
[store]
path = %q
`, r.URL+"/", dns, static, srv.Addr, filepath.Join(dir, "state.db")))
	ctx := t.Context()
	attack(t, st, "177.0.0.9", t0, 20)
	p.Tick(ctx, t0)
	tl := told{}
	tl.add(t, srv.Next(t), "177.0.0.9", "177.0.0.20")
	if tl[guessed]["177.0.0.9"] != 1 {
		t.Fatalf("first mail: %v\n%s", tl, logs)
	}
	p = repointed(t, p, st, logs, static, "")
	p.Tick(ctx, t0.Add(time.Minute))
	attack(t, st, "177.0.0.20", t0.Add(2*time.Minute), 20)
	for _, at := range []time.Duration{3 * time.Minute, 2 * time.Hour, 4 * time.Hour, 6 * time.Hour, 8 * time.Hour} {
		p.Tick(ctx, t0.Add(at))
		var ids []string
		for _, w := range reportsIn(t, st, abusewatch.ReportPendingApproval) {
			ids = append(ids, w.ID)
		}
		if _, err := Approve(p.cfg, st, Approval{IDs: ids}, t0.Add(at)); err != nil {
			t.Fatal(err)
		}
		p.Tick(ctx, t0.Add(at+time.Minute))
	}
	for range srv.Transactions() - 1 {
		tl.add(t, srv.Next(t), "177.0.0.9", "177.0.0.20")
	}
	want := told{
		guessed:                       {"177.0.0.20": 1, "177.0.0.9": 1},
		"security@freedns-shared.com": {"177.0.0.20": 1, "177.0.0.9": 1},
	}
	if fmt.Sprint(tl) != fmt.Sprint(want) {
		t.Errorf("incidents told: %v, want %v (each to each once)\n%s", tl, want, logs)
	}
	srv.Nothing(t)
}
