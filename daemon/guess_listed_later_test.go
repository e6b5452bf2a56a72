package daemon

import (
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/lookup/lookuptest"
)

// A guess is made when the registry names no one for an address: its server answered
// "not found" (it was down behind a proxy, or its database was being rebuilt), or its
// network had no abuse contact yet. That answer is kept for lookup.negative_ttl; asked
// again once it is older, the registry may name a desk (here RIPE's real answer for
// 62.239.237.0/24, BT's abuse mailboxes). Before, the report kept waiting for the admin
// to send it to the guess, abuse@ and security@ of whatever domain the address's holder
// put in its reverse name, while the registry named the network's desk. A report that
// has not gone goes to the desk instead; one that went stays as it went.

const (
	guessedBox = "abuse@freedns-shared.com"
	btDesk     = "zzdnsr@bt.com"
)

// listedLaterCase is an address whose registry answers "not found" and whose
// forward-confirmed reverse name is in freedns-shared.com: reports of it go to a guess
// until the registry serves ripe_62.239.237.1.json (listed).
func listedLaterCase(t *testing.T, mode, lookup string) (c *recipientCase, r *lookuptest.RDAP, listed func()) {
	t.Helper()
	r = lookuptest.NewRDAP(t)
	dns, _ := lookuptest.ServeZone(t, "9.237.239.62.in-addr.arpa. 60 IN PTR vps9.freedns-shared.com.\n"+
		"vps9.freedns-shared.com. 60 IN A 62.239.237.9\n")
	c = &recipientCase{t: t, dir: t.TempDir(), rdapURL: r.URL, dns: dns, mode: mode, guess: true, lookup: lookup}
	c.start()
	return c, r, func() { r.AnswerFile("62.239.237.0/24", "../lookup/testdata/rdap/ripe_62.239.237.1.json") }
}

func TestAGuessWaitingGoesToTheDeskTheRegistryNamesOnceAskedAgain(t *testing.T) {
	for _, tc := range []struct {
		mode  string
		state abusewatch.ReportState // of the desk's report at the round after the registry named it
	}{
		{"auto", abusewatch.ReportSent},
		{"review", abusewatch.ReportPendingApproval},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			// An answer naming no one is kept for a nanosecond: every round asks again.
			c, r, listed := listedLaterCase(t, tc.mode, `negative_ttl = "1ns"`)
			c.scan("62.239.237.9", scanDay, 8)
			guess := c.report(guessedBox, abusewatch.ReportPendingApproval)
			if !guess.Contact.Guess {
				t.Fatalf("the report of 62.239.237.9 is not to a guess: %+v", guess.Contact)
			}

			listed()
			asked := r.Requests.Load()
			c.round(scanDay.Add(2 * time.Hour))
			if r.Requests.Load() == asked {
				t.Fatalf("the registry was not asked again about the guessed address\n%s", c.logs)
			}
			if m := c.mailsTo(guessedBox); len(m) != 0 {
				t.Errorf("%d mails to the guess once the registry named a desk", len(m))
			}
			gone, ok, err := c.st.Report(guess.ID)
			if err != nil || !ok || gone.State != abusewatch.ReportRejected {
				t.Fatalf("the guess's report is %s (%v, %v), want rejected for the desk's\n%s", gone.State, ok, err, c.logs)
			}
			saysAll(t, "why the guess's report was not sent", gone.Error, "the registry names "+btDesk, "were a guess")

			desk := c.report(btDesk, tc.state)
			if desk.Contact.Guess || desk.Contact.Role != "abuse" || len(desk.Incidents) != len(guess.Incidents) {
				t.Errorf("the desk's report: %+v, incidents %v; want the abuse desk's, with the guess's incidents %v", desk.Contact, desk.Incidents, guess.Incidents)
			}
			text := unwrap(mailText(t, desk.Message))
			saysAll(t, "the desk's memo", text, "as the abuse contact listed for the network 62.239.237.0/24 (BT-CORPORATE)", "62.239.237.9")
			if strings.Contains(text, "could not find an abuse contact") || strings.Contains(text, "freedns-shared.com.") {
				t.Errorf("the desk's memo still speaks of the guess:\n%s", text)
			}
			switch tc.mode {
			case "auto":
				if m := c.mailsTo(btDesk); len(m) != 1 {
					t.Errorf("%d mails to the desk in auto mode, want 1\n%s", len(m), c.logs)
				}
			case "review":
				saysAll(t, "the desk's report's note", desk.Error, "written instead of report "+shortID(guess.ID), "a guess")
				if m := c.mailsTo(btDesk); len(m) != 0 {
					t.Errorf("a report went to the desk in review mode without approval")
				}
			}
		})
	}
}

// The admin approved the guess and it went before the registry named the desk: it
// stays sent, and nothing more goes for what it told.
func TestAGuessSentStaysSentWhenTheRegistryNamesADeskLater(t *testing.T) {
	c, _, listed := listedLaterCase(t, "auto", `negative_ttl = "1ns"`)
	c.scan("62.239.237.9", scanDay, 8)
	guess := c.report(guessedBox, abusewatch.ReportPendingApproval)
	if _, err := ApproveReports(c.p.cfg, c.st, []string{guess.ID}, false, scanDay.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	c.round(scanDay.Add(2 * time.Hour))
	if m := c.mailsTo(guessedBox); len(m) != 1 {
		t.Fatalf("%d mails to the approved guess, want 1\n%s", len(m), c.logs)
	}
	listed()
	c.round(scanDay.Add(3 * time.Hour))
	if sent, ok, err := c.st.Report(guess.ID); err != nil || !ok || sent.State != abusewatch.ReportSent {
		t.Errorf("the guess's report is %s (%v, %v), want sent", sent.State, ok, err)
	}
	if m := c.mailsTo(btDesk); len(m) != 0 {
		t.Errorf("%d mails to the desk for what the guess was sent, want none\n%s", len(m), c.logs)
	}
}

// While the registry's answer naming no one is fresh (lookup.negative_ttl, an hour by
// default), the rounds read it from the cache: the registry is not asked at every round
// for each guess waiting, and the guess waits as it was.
func TestAGuessIsNotAskedAboutAgainWhileTheRegistrysAnswerIsFresh(t *testing.T) {
	c, r, listed := listedLaterCase(t, "auto", "")
	c.scan("62.239.237.9", scanDay, 8)
	guess := c.report(guessedBox, abusewatch.ReportPendingApproval)
	listed()
	asked := r.Requests.Load()
	c.round(scanDay.Add(2 * time.Hour))
	if n := r.Requests.Load() - asked; n != 0 {
		t.Errorf("the registry was asked %d times within its answer's negative_ttl", n)
	}
	if w := c.report(guessedBox, abusewatch.ReportPendingApproval); w.ID != guess.ID {
		t.Errorf("the guess's report %s became %s within the negative_ttl", guess.ID, w.ID)
	}
}
