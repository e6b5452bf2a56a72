package daemon

import (
	"fmt"
	"mime"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/lookup/lookuptest"
	"github.com/abusewatch/abusewatch/mailer"
	"github.com/abusewatch/abusewatch/mailer/mailtest"
)

// Review 21c R2 (case GS): in auto mode a guess waits for the admin, and a network
// incident's shares go in one round or not at all. A guessed party with a report
// waiting for approval held the registry desk's share of every network incident it was
// in, for as long as the admin did nothing: whoever sets one address's reverse name
// held the desk's report at will.

// networkCase is a recipientCase in auto mode whose network incidents need 5 addresses
// within an hour, with the registry's answers on r and the DNS zone.
func networkCase(t *testing.T, r *lookuptest.RDAP, zone string) *recipientCase {
	dns := "127.0.0.1:1"
	if zone != "" {
		dns, _ = lookuptest.ServeZone(t, zone)
	}
	c := &recipientCase{t: t, dir: t.TempDir(), rdapURL: r.URL, dns: dns, mode: "auto", guess: true,
		correlate: "network_addresses = 5\nnetwork_window = \"1h\""}
	c.start()
	return c
}

// networkAttack reads 3 failed logins from each of addrs at `at` (a network incident,
// no incident of any address alone), then runs a round an hour later.
func (c *recipientCase) networkAttack(at time.Time, addrs ...string) {
	c.t.Helper()
	for i, a := range addrs {
		c.read(a, at.Add(time.Duration(i)*time.Minute), 3)
	}
	c.round(at.Add(time.Hour))
}

func TestAGuessWaitingForApprovalHoldsNoRegistryDesksShare(t *testing.T) {
	const desk, guessed = "abuse@custa.com.br", "abuse@freedns-shared.com"
	r := lookuptest.NewRDAP(t)
	r.AnswerFile("177.0.0.0/14", "../lookup/testdata/rdap/ip_network_br.json")
	r.Answer("177.0.0.0/28", lookuptest.NetworkAnswer(netip.MustParsePrefix("177.0.0.0/28"), "CUST-A", "BR", desk))
	c := networkCase(t, r, "20.0.0.177.in-addr.arpa. 60 IN PTR vps20.freedns-shared.com.\nvps20.freedns-shared.com. 60 IN A 177.0.0.20\n")

	// One burst from the address whose reverse name its holder set: a guess, waiting.
	c.scan("177.0.0.20", scanDay, 8)
	first := c.report(guessed, abusewatch.ReportPendingApproval)

	// Then the network attack, the guessed address in it.
	addrs := []string{"177.0.0.1", "177.0.0.2", "177.0.0.3", "177.0.0.4", "177.0.0.5", "177.0.0.20"}
	c.networkAttack(scanDay.Add(2*time.Hour), addrs...)
	m := c.mailsTo(desk)
	if len(m) != 1 {
		t.Fatalf("%d mails to the registry's desk %s, want its share of the network incident: the guess's waiting report held it\n%s",
			len(m), desk, c.logs)
	}
	namesOnly(t, "the desk's share", mailText(t, []byte(m[0])), addrs, addrs[:5])
	if m := c.mailsTo(guessed); len(m) != 0 {
		t.Fatalf("a guess went on its own:\n%s", m[0])
	}
	// The guess's share joins its waiting report, held like it (review 21d D3).
	held := c.report(guessed, abusewatch.ReportPendingApproval)
	if held.ID == first.ID || len(held.Incidents) != 2 || !slices.Contains(held.Incidents, first.Incidents[0]) {
		t.Fatalf("the guess's waiting report %s covers %v, want its first report %s's incident and the network's share\n%s",
			held.ID, held.Incidents, first.ID, c.logs)
	}
	saysAll(t, "the guess's held report", held.Error, "are a guess", shortID(first.ID))
	namesOnly(t, "the guess's held report", mailText(t, held.Message), addrs, addrs[5:])
}

// A share that waits for another party (a registry desk in its cooldown) says so where
// the admin looks: `scan` and `incidents` ("not reported yet (see the log)", and the log
// had nothing at -v) and `report preview` ("It would be sent at the next round").
func TestANetworkIncidentsSharesSayWhichPartyTheyWaitFor(t *testing.T) {
	const deskA, deskB = "abuse@cust-a.example", "abuse@cust-b.example"
	r := lookuptest.NewRDAP(t)
	r.Answer("5.6.7.0/29", lookuptest.NetworkAnswer(netip.MustParsePrefix("5.6.7.0/29"), "CUST-A", "DE", deskA))
	r.Answer("5.6.7.8/29", lookuptest.NetworkAnswer(netip.MustParsePrefix("5.6.7.8/29"), "CUST-B", "DE", deskB))
	c := networkCase(t, r, "")

	c.scan("5.6.7.9", scanDay, 8)
	if m := c.mailsTo(deskB); len(m) != 1 {
		t.Fatalf("%d mails to %s, want 1\n%s", len(m), deskB, c.logs)
	}
	sentB := c.report(deskB, abusewatch.ReportSent)
	c.networkAttack(scanDay.Add(2*time.Hour), "5.6.7.1", "5.6.7.2", "5.6.7.3", "5.6.7.4", "5.6.7.5", "5.6.7.9")
	if m := c.mailsTo(deskA); len(m) != 0 {
		t.Fatalf("%s's share went while %s is in its cooldown:\n%s", deskA, deskB, m[0])
	}
	incs, _, err := c.st.UnreportedIncidents("", 10)
	if err != nil {
		t.Fatal(err)
	}
	var network abusewatch.Incident
	for _, inc := range incs {
		if inc.Rule == "network" {
			network = inc
		}
	}
	if network.ID == "" {
		t.Fatalf("no unreported network incident: %+v\n%s", incs, c.logs)
	}
	u, err := StoredUnreported(c.p.cfg, c.st, scanDay.Add(3*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	code, why := u.Reason(network)
	if code != UnreportedWaitsForParty {
		t.Errorf("the network incident's reason is %q (%q), want %q", code, why, UnreportedWaitsForParty)
	}
	saysAll(t, "why the network incident waits", why, deskB, shortID(sentB.ID), "cooldown", "2026-12-14 09:00")

	pv, err := PreviewReport(t.Context(), c.p.cfg, c.st, nil, netip.MustParseAddr("5.6.7.1"), scanDay.Add(3*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	saysAll(t, "the preview's fate", pv.Fate, fmt.Sprintf("Its incident %s", network.ID), deskB, "cooldown")
}

// Review 21c R3 (case UP): a guess that a version before review 21c queued in auto mode
// (for a retry, or for its cooldown) was sent after the upgrade when its time came,
// unheld, with the memo it was composed with ("the listed contact for the network …
// from your network"). It waits for the admin now, its mail written again; once
// approved, it goes.
func TestAGuessQueuedByAnOlderVersionWaitsForTheAdmin(t *testing.T) {
	const guessed = "abuse@freedns-shared.com"
	r := lookuptest.NewRDAP(t)
	r.AnswerFile("177.0.0.0/14", "../lookup/testdata/rdap/ip_network_br.json")
	dns, _ := lookuptest.ServeZone(t, "9.0.0.177.in-addr.arpa. 60 IN PTR vps9.freedns-shared.com.\nvps9.freedns-shared.com. 60 IN A 177.0.0.9\n")
	c := &recipientCase{t: t, dir: t.TempDir(), rdapURL: r.URL, dns: dns, mode: "auto", guess: true}
	c.start()
	c.scan("177.0.0.9", scanDay, 8)
	rep := c.report(guessed, abusewatch.ReportPendingApproval)

	// As the older version left it: queued for a retry, no note of a guess, no
	// approval, and the memo of then.
	old := strings.Replace(string(rep.Message), "We could not find an abuse contact", "I am writing to you as the listed contact for", 1)
	if old == string(rep.Message) {
		t.Fatalf("the memo has not the wording this test replaces:\n%s", rep.Message)
	}
	if err := c.st.UpdateReport(rep.ID, func(s *abusewatch.Report) error {
		s.State, s.Attempts, s.NextAttempt, s.Message = abusewatch.ReportQueued, 1, scanDay.Add(90*time.Minute), []byte(old)
		s.Error = "dial tcp 127.0.0.1:1: connect: connection refused"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	c.round(scanDay.Add(2 * time.Hour))
	if m := c.mailsTo(guessed); len(m) != 0 {
		t.Fatalf("a guess queued by an older version went unheld:\n%s", m[0])
	}
	held := c.report(guessed, abusewatch.ReportPendingApproval)
	saysAll(t, "the held guess's note", held.Error, "are a guess", "approve")
	if text := unwrap(mailText(t, held.Message)); strings.Contains(text, "listed contact") {
		t.Errorf("the held guess's mail is the older version's:\n%s", text)
	}

	if _, err := ApproveReports(c.p.cfg, c.st, []string{held.ID}, false, scanDay.Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	c.round(scanDay.Add(3 * time.Hour))
	m := c.mailsTo(guessed)
	if len(m) != 1 {
		t.Fatalf("%d mails to the guess once approved, want 1\n%s", len(m), c.logs)
	}
	saysAll(t, "the approved guess's memo", unwrap(mailText(t, []byte(m[0]))), "We could not find an abuse contact")
}

// Review 21c R6: the daily summary listed a guess among the reports waiting for
// approval as any other, and offered `approve --all`, which sent every guess unread.
// It says which are guesses, and `approve --all` leaves them out, naming them.
func TestTheSummarySaysWhichReportsAreGuessesAndApproveAllLeavesThemOut(t *testing.T) {
	const desk, guessed = "abuse@cust-a.example", "abuse@freedns-shared.com"
	r := lookuptest.NewRDAP(t)
	r.AnswerFile("177.0.0.0/14", "../lookup/testdata/rdap/ip_network_br.json")
	r.Answer("5.6.7.0/29", lookuptest.NetworkAnswer(netip.MustParsePrefix("5.6.7.0/29"), "CUST-A", "DE", desk))
	dns, _ := lookuptest.ServeZone(t, "9.0.0.177.in-addr.arpa. 60 IN PTR vps9.freedns-shared.com.\nvps9.freedns-shared.com. 60 IN A 177.0.0.9\n")
	c := &recipientCase{t: t, dir: t.TempDir(), rdapURL: r.URL, dns: dns, mode: "review", guess: true}
	c.start()
	c.read("177.0.0.9", scanDay, 8)
	c.read("5.6.7.1", scanDay, 8)
	c.round(scanDay.Add(time.Hour))
	guess := c.report(guessed, abusewatch.ReportPendingApproval)
	c.report(desk, abusewatch.ReportPendingApproval)

	sum, err := BuildSummary(c.p.cfg, c.st, nil, nil, scanDay.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	sum.Host = "gw.example.org"
	msg, err := mailer.ComposeSummary(sum, "abusewatch@example.org", "root@example.org", scanDay.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	text, html, _ := summaryParts(t, msg)
	for what, part := range map[string]string{"the text": unwrap(text), "the HTML": unwrap(html)} {
		saysAll(t, what, part, "a guess, read it first", "vps9.freedns-shared.com", " show "+guess.ID+", then ",
			"leaves out the 1 to a guess")
	}
	h, _, err := mailtest.Parts(msg)
	if err != nil {
		t.Fatal(err)
	}
	subject, _ := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
	saysAll(t, "the subject", subject, "2 reports wait for your approval (1 guess: read first)")

	done, err := ApproveReports(c.p.cfg, c.st, nil, true, scanDay.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(done.Changed) != 1 || len(done.Guesses) != 1 || done.Guesses[0] != guess.ID {
		t.Fatalf("approve --all: changed %v, guesses left out %v; want the desk's report changed and the guess %s left out", done.Changed, done.Guesses, guess.ID)
	}
	c.round(scanDay.Add(2 * time.Hour))
	if m := c.mailsTo(desk); len(m) != 1 {
		t.Errorf("%d mails to %s once approved with --all, want 1\n%s", len(m), desk, c.logs)
	}
	if m := c.mailsTo(guessed); len(m) != 0 {
		t.Errorf("approve --all sent a guess unread:\n%s", m[0])
	}
	c.report(guessed, abusewatch.ReportPendingApproval)
}

// Review 21c R4 (case M2): a [[contact]] added for one address of a desk's report, then
// removed (or a typo in it corrected), sent its sources back to the desk as a report of
// their own beside the desk's waiting one: one desk got two reports of what was one,
// a cooldown (7 days) apart. They join the waiting report instead.
func TestSourcesMovingBackToADeskJoinItsWaitingReport(t *testing.T) {
	const customer, right = "abuse@customer.example", "abuse@right.example"
	r := lookuptest.NewRDAP(t)
	r.Answer("62.239.237.0/24", lookuptest.NetworkAnswer(netip.MustParsePrefix("62.239.237.0/24"), "CUSTOMER-NET", "GB", customer))
	c := &recipientCase{t: t, dir: t.TempDir(), rdapURL: r.URL, dns: "127.0.0.1:1", mode: "review"}
	c.start()
	c.read("62.239.237.9", scanDay, 8)
	c.read("62.239.237.10", scanDay, 8)
	c.round(scanDay.Add(time.Hour))
	if first := c.report(customer, abusewatch.ReportPendingApproval); len(first.Incidents) != 2 {
		t.Fatalf("the first report covers %v, want both addresses' incidents", first.Incidents)
	}

	c.reload("[[contact]]\nnetwork = \"62.239.237.10/32\"\nemails = [\"" + right + "\"]\n")
	c.round(scanDay.Add(2 * time.Hour))
	c.report(right, abusewatch.ReportPendingApproval)
	if desk := c.report(customer, abusewatch.ReportPendingApproval); len(desk.Incidents) != 1 {
		t.Fatalf("the desk's report covers %v, want .9's incident alone", desk.Incidents)
	}

	c.extra = ""
	c.reload("")
	c.round(scanDay.Add(3 * time.Hour))
	desk := c.report(customer, abusewatch.ReportPendingApproval) // one, not two
	if len(desk.Incidents) != 2 {
		t.Fatalf("the desk's report covers %v, want both addresses' incidents again\n%s", desk.Incidents, c.logs)
	}
	saysAll(t, "the desk's report's mail", mailText(t, desk.Message), "62.239.237.9", "62.239.237.10")
	if rs := reportsIn(t, c.st, abusewatch.ReportPendingApproval, abusewatch.ReportQueued); len(rs) != 1 {
		t.Fatalf("reports waiting: %+v; want the desk's alone\n%s", rs, c.logs)
	}

	if _, err := ApproveReports(c.p.cfg, c.st, nil, true, scanDay.Add(4*time.Hour)); err != nil {
		t.Fatal(err)
	}
	c.round(scanDay.Add(4 * time.Hour))
	if m := c.mailsTo(customer); len(m) != 1 {
		t.Fatalf("%d mails to %s, want one of both addresses\n%s", len(m), customer, c.logs)
	}
	if rs := reportsIn(t, c.st, abusewatch.ReportPendingApproval, abusewatch.ReportQueued); len(rs) != 0 {
		t.Errorf("reports still waiting after the desk's went: %+v", rs)
	}
	if m := c.mailsTo(right); len(m) != 0 {
		t.Errorf("a mail went to %s, no longer named:\n%s", right, m[0])
	}
}

// `report preview` of a party with a report waiting said "It would wait for your
// approval" or "would be sent at the next round", though no round writes a second report
// beside the waiting one: its incidents join the party's next.
func TestThePreviewSaysThePartysWaitingReportComesFirst(t *testing.T) {
	const desk = "abuse@cust-a.example"
	r := lookuptest.NewRDAP(t)
	r.Answer("5.6.7.0/29", lookuptest.NetworkAnswer(netip.MustParsePrefix("5.6.7.0/29"), "CUST-A", "DE", desk))
	c := &recipientCase{t: t, dir: t.TempDir(), rdapURL: r.URL, dns: "127.0.0.1:1", mode: "review"}
	c.start()
	c.scan("5.6.7.1", scanDay, 8)
	waiting := c.report(desk, abusewatch.ReportPendingApproval)
	c.scan("5.6.7.2", scanDay.Add(2*time.Hour), 8)
	c.report(desk, abusewatch.ReportPendingApproval) // still one
	pv, err := PreviewReport(t.Context(), c.p.cfg, c.st, nil, netip.MustParseAddr("5.6.7.2"), scanDay.Add(4*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	saysAll(t, "the preview's fate", pv.Fate, "report "+shortID(waiting.ID)+" to the same party waits", "pending-approval")
}
