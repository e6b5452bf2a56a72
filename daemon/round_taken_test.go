package daemon

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
)

// A scan of more incidents than one outbox round takes (reportBatch) leaves the rest
// to the next rounds, and no log line names them: its table said "not reported yet (see
// the log)" of them (review 46 L1). Unreported says what is true: no round took them up yet.
func TestScanSaysWhichIncidentsNoRoundTookUp(t *testing.T) {
	p, st, _ := outboxPipeline(t, "127.0.0.1:1", "review", parties[:1], "")
	p.scanned = true
	p.RecordChanges()
	a := netip.MustParseAddr("45.134.26.7")
	var incs []abusewatch.Incident
	for i := range reportBatch + 3 {
		incs = append(incs, abusewatch.Incident{ID: fmt.Sprintf("a%06d", i), Key: "ip:" + a.String(), Rule: "per-address", Addr: a,
			Network: netip.PrefixFrom(a, 32), Classes: []abusewatch.Class{abusewatch.ClassAuthFailure},
			First: t0, Last: t0.Add(time.Minute), Count: 5, Attempts: 5, Hosts: []string{"web1"}, Severity: 2,
			Evidence: []abusewatch.Event{{Time: t0, Class: abusewatch.ClassAuthFailure, Addr: a,
				Line: "web1 sshd[1]: Failed password for root from " + a.String() + " port 40000 ssh2"}}})
		p.touched[incs[i].ID] = true
	}
	if err := st.PutIncidents(incs); err != nil {
		t.Fatal(err)
	}
	if err := p.Report(t.Context(), t0.Add(5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	touched, err := p.Touched(t0.Add(5 * time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	var reported, untaken int
	for _, tc := range touched {
		switch {
		case tc.Reported:
			reported++
		case strings.HasPrefix(tc.Unreported, "not taken up yet: one outbox round takes 2000 incidents") &&
			strings.Contains(tc.Unreported, "`scan` again"):
			untaken++
		default:
			t.Errorf("incident %s: reported %v, unreported %q", tc.Incident.ID, tc.Reported, tc.Unreported)
		}
	}
	if reported != reportBatch || untaken != 3 {
		t.Errorf("%d in a report, %d said to wait for a round; want %d and 3", reported, untaken, reportBatch)
	}
	// The next round takes them up: nothing says they wait for one.
	if err := p.Report(t.Context(), t0.Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	why, err := p.unreported(t0.Add(10 * time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if w := why.Incident(incs[len(incs)-1]); strings.HasPrefix(w, "not taken up yet") {
		t.Errorf("after the round that took it up: %q", w)
	}
}
