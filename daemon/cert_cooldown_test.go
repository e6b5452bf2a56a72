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

// brCERT is the national CERT of Brazil, copied on every report about a BR network.
const brCERT = "\n[[cert]]\ncountry = \"BR\"\nemails = [\"cert@cert.br\"]\n"

// brParties answers for two unrelated Brazilian networks, each with its own abuse desk.
func brParties(t *testing.T) *lookuptest.RDAP {
	r := lookuptest.NewRDAP(t)
	answer(r, "177.1.0.0/16", "ONE-NET", "BR", "abuse@one.com.br")
	answer(r, "177.2.0.0/16", "TWO-NET", "BR", "abuse@two.com.br")
	return r
}

// recipients are the To of each report mailed.
func mailedTo(t *testing.T, c *rv21Case) []string {
	var to []string
	for _, m := range c.mails(t) {
		line, _, _ := strings.Cut(m, "\n")
		to = append(to, line)
	}
	slices.Sort(to)
	return to
}

// Two unrelated parties of one country, each copied to its national CERT, get their
// reports at once: the cooldown is each party's, and the CERT's copy is no party's.
// Before, the report to abuse@two.com.br + cert@cert.br held abuse@one.com.br's for
// the 7 days of the cooldown, "cooldown: abuse@two.com.br, cert@cert.br had a report":
// one report a week reached anyone in the country (review 21 D5, case CC).
func TestACERTCopyDoesNotHoldUpAnotherPartysReport(t *testing.T) {
	c := newRV21Case(t, brParties(t), "", "", brCERT)
	c.scan(t, "08:00 177.1.0.9 8", "08:00 177.2.0.9 8")
	want := []string{"To: <abuse@one.com.br>, <cert@cert.br>", "To: <abuse@two.com.br>, <cert@cert.br>"}
	if got := mailedTo(t, c); !slices.Equal(got, want) {
		t.Errorf("reports mailed %q, want %q\n%s", got, want, c.logs)
	}
	if rs := reportsIn(t, c.st, abusewatch.ReportQueued); len(rs) != 0 {
		t.Errorf("%d reports wait: %q", len(rs), rs[0].Waiting)
	}

	// The party's own cooldown still holds its next report, and the note names this
	// report's recipients that had one, not the other party of the report it waits for.
	c.scan(t, "09:30 177.1.0.10 8")
	pv, err := PreviewReport(t.Context(), c.p.cfg, c.st, nil, netip.MustParseAddr("177.1.0.10"), rv21Day.Add(11*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(pv.Fate, "(cooldown: abuse@one.com.br had a report on 2026-12-07 09:00 +0000)") {
		t.Errorf("report preview 177.1.0.10 says %q; want it to wait for abuse@one.com.br's cooldown, said of abuse@one.com.br alone", pv.Fate)
	}
}

// In review mode, a report to one party waiting for approval with the CERT copied does
// not keep another party of the country from having its own report written. Before, the
// waiting report "to" cert@cert.br was taken for the other party's: its incidents were
// to join it, and waited until someone approved or rejected the first.
func TestAWaitingReportWithACERTCopyIsNotAnotherPartys(t *testing.T) {
	c := newRV21Case(t, brParties(t), "", `mode = "review"`, brCERT)
	c.scan(t, "08:00 177.2.0.9 8")
	c.scan(t, "09:30 177.1.0.9 8")
	var to []string
	for _, r := range reportsIn(t, c.st, abusewatch.ReportPendingApproval) {
		to = append(to, strings.Join(r.Contact.Emails, ", "))
	}
	slices.Sort(to)
	if want := []string{"abuse@one.com.br, cert@cert.br", "abuse@two.com.br, cert@cert.br"}; !slices.Equal(to, want) {
		t.Errorf("reports pending approval to %q, want %q\n%s", to, want, c.logs)
	}
}
