package daemon

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/lookup/lookuptest"
)

// Review 21d D3: a guessed party (abuse@ of the reverse name's domain, the registry
// naming no one) could have two reports waiting at once: its share of a network
// incident was written beside its report waiting for approval. Approved together, the
// first went at the next round and the second a whole cooldown later, while approve
// said the next round sent both. One party has one waiting report, which gathers what
// is found for it, and approve says what the next round does with each report.

// guessedTo are the reports in states to the guessed mailbox guessed.
func guessedTo(t *testing.T, c *recipientCase, guessed string, states ...abusewatch.ReportState) []abusewatch.Report {
	t.Helper()
	var out []abusewatch.Report
	for _, r := range reportsIn(t, c.st, states...) {
		if slices.Contains(r.Contact.Emails, guessed) {
			out = append(out, r)
		}
	}
	return out
}

// approveAll approves, as the admin who read them, the reports to guessed waiting for
// approval, and returns what approve says of them.
func approveAll(t *testing.T, c *recipientCase, guessed string, now time.Time) []ApprovedFate {
	t.Helper()
	var ids []string
	for _, r := range guessedTo(t, c, guessed, abusewatch.ReportPendingApproval) {
		ids = append(ids, r.ID)
	}
	done, err := ApproveReports(c.p.cfg, c.st, ids, false, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(done.Fates) != len(ids) {
		t.Fatalf("approve said what becomes of %d of the %d reports it queued: %+v", len(done.Fates), len(ids), done.Fates)
	}
	return done.Fates
}

// nothingWaits checks that no report to guessed waits, after what approve said would
// send each at the round.
func nothingWaits(t *testing.T, c *recipientCase, guessed string) {
	t.Helper()
	for _, w := range guessedTo(t, c, guessed, abusewatch.ReportPendingApproval, abusewatch.ReportQueued) {
		t.Errorf("report %s to %s still waits (%s, until %s: %s)\n%s", w.ID, guessed, w.State, w.NextAttempt, w.Waiting, c.logs)
	}
}

func TestAGuessedPartysShareJoinsItsWaitingReport(t *testing.T) {
	const desk, guessed = "abuse@custa.com.br", "abuse@freedns-shared.com"
	r := lookuptest.NewRDAP(t)
	r.AnswerFile("177.0.0.0/14", "../lookup/testdata/rdap/ip_network_br.json")
	r.Answer("177.0.0.0/28", lookuptest.NetworkAnswer(netip.MustParsePrefix("177.0.0.0/28"), "CUST-A", "BR", desk))
	c := networkCase(t, r, "20.0.0.177.in-addr.arpa. 60 IN PTR vps20.freedns-shared.com.\nvps20.freedns-shared.com. 60 IN A 177.0.0.20\n")

	c.scan("177.0.0.20", scanDay, 8)
	c.report(guessed, abusewatch.ReportPendingApproval)
	addrs := []string{"177.0.0.1", "177.0.0.2", "177.0.0.3", "177.0.0.4", "177.0.0.5", "177.0.0.20"}
	c.networkAttack(scanDay.Add(2*time.Hour), addrs...)
	if m := c.mailsTo(desk); len(m) != 1 {
		t.Fatalf("%d mails to the registry's desk %s, want its share\n%s", len(m), desk, c.logs)
	}
	if w := guessedTo(t, c, guessed, abusewatch.ReportPendingApproval); len(w) != 1 {
		t.Errorf("%d reports to %s wait for approval, want one that holds both its incidents\n%s", len(w), guessed, c.logs)
	}

	for _, f := range approveAll(t, c, guessed, scanDay.Add(4*time.Hour)) {
		if !f.Until.IsZero() || len(f.Joined) > 0 {
			t.Errorf("approve says of %s: %+v; want it sent at the next round", f.ID, f)
		}
	}
	c.round(scanDay.Add(4 * time.Hour))
	m := c.mailsTo(guessed)
	if len(m) != 1 {
		t.Fatalf("%d mails to %s once approved, want 1\n%s", len(m), guessed, c.logs)
	}
	nothingWaits(t, c, guessed)
	// Its own burst at 08:00 and its share of the network's at 10:05.
	saysAll(t, "the mail to the guess", mailText(t, []byte(m[0])), "2026-12-07 08:00:00 +0000", "2026-12-07 10:05:00 +0000")
}

// Two incidents of one guessed party, found by scans an hour apart before the admin
// read the first: the second waited, unwritten, for the first to go and then for the
// cooldown, to be read and approved again a week later. It joins the waiting report.
func TestTwoIncidentsOfAGuessedPartyBeforeApprovalAreOneReport(t *testing.T) {
	const guessed = "abuse@freedns-shared.com"
	r := lookuptest.NewRDAP(t)
	r.AnswerFile("177.0.0.0/14", "../lookup/testdata/rdap/ip_network_br.json")
	dns, _ := lookuptest.ServeZone(t, "9.0.0.177.in-addr.arpa. 60 IN PTR vps9.freedns-shared.com.\nvps9.freedns-shared.com. 60 IN A 177.0.0.9\n"+
		"20.0.0.177.in-addr.arpa. 60 IN PTR vps20.freedns-shared.com.\nvps20.freedns-shared.com. 60 IN A 177.0.0.20\n")
	c := &recipientCase{t: t, dir: t.TempDir(), rdapURL: r.URL, dns: dns, mode: "auto", guess: true}
	c.start()
	c.scan("177.0.0.9", scanDay, 8)
	first := c.report(guessed, abusewatch.ReportPendingApproval)
	c.read("177.0.0.20", scanDay.Add(time.Hour), 8)
	pv, err := PreviewReport(t.Context(), c.p.cfg, c.st, nil, netip.MustParseAddr("177.0.0.20"), scanDay.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	saysAll(t, "the preview's fate", pv.Fate, "are a guess", "report "+shortID(first.ID)+" to them waits for your approval", "these incidents join it")
	c.round(scanDay.Add(2 * time.Hour))
	held := c.report(guessed, abusewatch.ReportPendingApproval)
	if len(held.Incidents) != 2 {
		t.Fatalf("the report waiting for approval covers %v, want both addresses' incidents\n%s", held.Incidents, c.logs)
	}
	saysAll(t, "the waiting report's note", held.Error, "are a guess", shortID(first.ID))
	text := mailText(t, held.Message)
	saysAll(t, "the waiting report's mail", text, "177.0.0.9", "177.0.0.20")

	for _, f := range approveAll(t, c, guessed, scanDay.Add(3*time.Hour)) {
		if !f.Until.IsZero() || len(f.Joined) > 0 {
			t.Errorf("approve says of %s: %+v; want it sent at the next round", f.ID, f)
		}
	}
	c.round(scanDay.Add(3 * time.Hour))
	if m := c.mailsTo(guessed); len(m) != 1 {
		t.Fatalf("%d mails to %s once approved, want 1\n%s", len(m), guessed, c.logs)
	}
	nothingWaits(t, c, guessed)
	if incs, _, err := c.st.UnreportedIncidents("", 10); err != nil || len(incs) != 0 {
		t.Errorf("incidents left unreported: %+v, %v", incs, err)
	}
}

// The admin approves a guess's share while the party is in its cooldown, then another
// share arrives and is approved too: approve says each waits for the cooldown, until
// when, and the second joins the first, so that one mail goes when the cooldown ends,
// not one then and the other a cooldown later.
func TestAGuessApprovedWhileAnotherWaitsGoesWithIt(t *testing.T) {
	const deskA, deskB, guessed = "abuse@custa.com.br", "abuse@custb.com.br", "abuse@freedns-shared.com"
	r := lookuptest.NewRDAP(t)
	r.AnswerFile("177.0.0.0/14", "../lookup/testdata/rdap/ip_network_br.json")
	r.Answer("177.0.0.0/28", lookuptest.NetworkAnswer(netip.MustParsePrefix("177.0.0.0/28"), "CUST-A", "BR", deskA))
	r.Answer("177.0.1.0/28", lookuptest.NetworkAnswer(netip.MustParsePrefix("177.0.1.0/28"), "CUST-B", "BR", deskB))
	c := networkCase(t, r, "20.0.0.177.in-addr.arpa. 60 IN PTR vps20.freedns-shared.com.\nvps20.freedns-shared.com. 60 IN A 177.0.0.20\n"+
		"20.1.0.177.in-addr.arpa. 60 IN PTR vps120.freedns-shared.com.\nvps120.freedns-shared.com. 60 IN A 177.0.1.20\n")

	// A day before scanDay: the attack a day later must not be after the time the test
	// runs (a scan dates no line after it read it, clock.go).
	day := scanDay.Add(-24 * time.Hour)

	// A first report to the guess, approved and sent at 10:00: its cooldown runs to the 13th.
	c.scan("177.0.0.20", day, 8)
	approveAll(t, c, guessed, day.Add(2*time.Hour))
	c.round(day.Add(2 * time.Hour))
	if m := c.mailsTo(guessed); len(m) != 1 {
		t.Fatalf("%d mails to %s, want the approved one\n%s", len(m), guessed, c.logs)
	}
	cooled := day.Add(2*time.Hour + 7*24*time.Hour)

	// A network attack from CUST-A's /28 with the guessed address: the desk's share
	// goes, the guess's waits for approval; approved, it waits for the cooldown.
	c.networkAttack(day.Add(4*time.Hour), "177.0.0.1", "177.0.0.2", "177.0.0.3", "177.0.0.4", "177.0.0.5", "177.0.0.20")
	for _, f := range approveAll(t, c, guessed, day.Add(6*time.Hour)) {
		if !f.Until.Equal(cooled) || !strings.Contains(f.Why, "cooldown") || len(f.Joined) > 0 || f.Earliest {
			t.Errorf("approve says of %s: %+v; want it held by the cooldown until %s", f.ID, f, cooled)
		}
	}
	c.round(day.Add(6 * time.Hour))
	queued := guessedTo(t, c, guessed, abusewatch.ReportQueued)
	if len(queued) != 1 || !queued[0].NextAttempt.Equal(cooled) {
		t.Fatalf("queued to %s: %+v; want the share, until %s\n%s", guessed, queued, cooled, c.logs)
	}

	// A day later the same from CUST-B's /28: its share joins the approved one.
	c.networkAttack(day.Add(28*time.Hour), "177.0.1.1", "177.0.1.2", "177.0.1.3", "177.0.1.4", "177.0.1.5", "177.0.1.20")
	if m := c.mailsTo(deskB); len(m) != 1 {
		t.Fatalf("%d mails to %s, want its share\n%s", len(m), deskB, c.logs)
	}
	for _, f := range approveAll(t, c, guessed, day.Add(30*time.Hour)) {
		if !slices.Equal(f.Joined, []string{queued[0].ID}) || !f.Until.Equal(cooled) {
			t.Errorf("approve says of %s: %+v; want it joined with %s, held by the cooldown until %s", f.ID, f, queued[0].ID, cooled)
		}
	}
	c.round(day.Add(30 * time.Hour))
	if q := guessedTo(t, c, guessed, abusewatch.ReportQueued); len(q) != 1 || len(q[0].Incidents) != 2 || !q[0].NextAttempt.Equal(cooled) {
		t.Fatalf("queued to %s: %+v; want one report of both shares, until %s\n%s", guessed, q, cooled, c.logs)
	}
	c.round(cooled)
	m := c.mailsTo(guessed)
	if len(m) != 2 {
		t.Fatalf("%d mails to %s once the cooldown ended, want 2: the first, and one of both shares\n%s", len(m), guessed, c.logs)
	}
	nothingWaits(t, c, guessed)
	for _, mail := range m {
		if text := mailText(t, []byte(mail)); strings.Contains(text, "177.0.1.20") {
			saysAll(t, "the second mail to the guess", text, "177.0.0.20", "2026-12-06 12:05:00 +0000", "2026-12-07 12:05:00 +0000")
		}
	}
}

// A guess names a registry desk's own mailbox (whoever holds the address set its
// reverse name in the desk's domain): the desk's report waited behind the guess for as
// long as the admin left it unread. The desk's report goes; the guess, once approved,
// waits for the cooldown of that mailbox, and approve says until when.
func TestAGuessOfADesksMailboxHoldsNoReportTheRegistryNamesItFor(t *testing.T) {
	const desk = "abuse@custa.com.br"
	r := lookuptest.NewRDAP(t)
	r.AnswerFile("177.0.0.0/14", "../lookup/testdata/rdap/ip_network_br.json")
	r.Answer("177.0.0.0/28", lookuptest.NetworkAnswer(netip.MustParsePrefix("177.0.0.0/28"), "CUST-A", "BR", desk))
	dns, _ := lookuptest.ServeZone(t, "20.0.0.177.in-addr.arpa. 60 IN PTR vps20.custa.com.br.\nvps20.custa.com.br. 60 IN A 177.0.0.20\n")
	c := &recipientCase{t: t, dir: t.TempDir(), rdapURL: r.URL, dns: dns, mode: "auto", guess: true}
	c.start()
	c.scan("177.0.0.20", scanDay, 8)
	guess := c.report(desk, abusewatch.ReportPendingApproval)
	if !guess.Contact.Guess {
		t.Fatalf("the report of 177.0.0.20 is not to a guess: %+v", guess.Contact)
	}

	c.scan("177.0.0.1", scanDay.Add(time.Hour), 8)
	m := c.mailsTo(desk)
	if len(m) != 1 {
		t.Fatalf("%d mails to %s, want the registry's report of 177.0.0.1: the guess of its mailbox held it\n%s", len(m), desk, c.logs)
	}
	if text := mailText(t, []byte(m[0])); strings.Contains(text, "177.0.0.20") {
		t.Errorf("the guess went with the desk's report, unread:\n%s", text)
	}

	cooled := scanDay.Add(2*time.Hour + 7*24*time.Hour)
	for _, f := range approveAll(t, c, desk, scanDay.Add(3*time.Hour)) {
		if !f.Until.Equal(cooled) || !strings.Contains(f.Why, "cooldown: "+desk) {
			t.Errorf("approve says of %s: %+v; want it held by the cooldown of %s until %s", f.ID, f, desk, cooled)
		}
	}
	c.round(scanDay.Add(3 * time.Hour))
	c.round(cooled)
	if m := c.mailsTo(desk); len(m) != 2 {
		t.Errorf("%d mails to %s once the cooldown ended, want 2\n%s", len(m), desk, c.logs)
	}
}
