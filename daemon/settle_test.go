package daemon

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
)

// policy.settle: the daemon holds an incident's report that long after its first event,
// so that a login read meanwhile holds it (cmd/abusewatch/settle_test.go runs the daemon).

func TestSettleDefaultsToTenMinutesAndIsChecked(t *testing.T) {
	cfg := parseTestConfig(t, "x.toml", checkBase)
	if cfg.Policy.Settle.Duration != 10*time.Minute {
		t.Errorf("policy.settle defaults to %s, want 10m", cfg.Policy.Settle)
	}
	if cfg := parseTestConfig(t, "x.toml", checkBase+"[policy]\nsettle = \"0s\"\n"); cfg.Policy.Settle.Duration != 0 {
		t.Errorf("settle = \"0s\" is %s, want none", cfg.Policy.Settle)
	}
	for _, doc := range []string{checkBase + "[policy]\nsettle = \"-1m\"\n", checkBase + "[policy]\nmax_age = \"1h\"\nsettle = \"2h\"\n"} {
		if _, err := ParseConfig("x.toml", []byte(doc)); err == nil || !strings.Contains(err.Error(), "policy.settle") {
			t.Errorf("%q: error %v, want one naming policy.settle", doc, err)
		}
	}
}

// An attack reported before the login from its address was read (policy.settle had
// passed) is listed among the summary's possible compromises, naming its report.
func TestSummaryListsALoginReadAfterItsAttacksReportAsACompromise(t *testing.T) {
	p, cfg := periodPipeline(t, "auto", "")
	st := p.store
	now := utc(22, 6, 5)
	a := netip.MustParseAddr("81.2.69.7")
	login := abusewatch.Event{Time: utc(21, 8, 30), Class: abusewatch.ClassAuthSuccess, Addr: a, Port: 5010, User: "carl", Host: "bastion",
		Line: "bastion sshd[2010]: Accepted password for carl from 81.2.69.7 port 5010 ssh2"}
	inc := abusewatch.Incident{ID: "i-typo", Key: "ip:81.2.69.7", Rule: "per-address", Addr: a, Network: netip.PrefixFrom(a, 32),
		Classes: []abusewatch.Class{abusewatch.ClassAuthFailure}, First: utc(21, 8, 0), Last: login.Time, Count: 7, Attempts: 6,
		Hosts: []string{"bastion"}, Success: true, Severity: 5, Evidence: []abusewatch.Event{login}}
	if err := st.PutIncidents([]abusewatch.Incident{inc}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddReport(abusewatch.Report{ID: "r-typo", State: abusewatch.ReportSent, Incidents: []string{inc.ID},
		Contact: abusewatch.Contact{Emails: []string{"abuse@broadband.example"}}, Created: utc(21, 8, 11), Updated: utc(21, 8, 11)}); err != nil {
		t.Fatal(err)
	}
	sum, err := BuildSummarySince(cfg, st, nil, nil, now.Add(-24*time.Hour), now)
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Compromises) != 1 || sum.Compromises[0].ID != inc.ID || !strings.Contains(sum.Compromises[0].ReportedAlready, "report r-typo, sent to abuse@broadband.example") {
		t.Fatalf("compromises %+v: want the reported attack with its login, naming its report", sum.Compromises)
	}
	text := summaryText(t, cfg, st, now.Add(-24*time.Hour), now)
	if !strings.Contains(text, "reported already, before the login was read: report r-typo") {
		t.Errorf("the summary does not name the report:\n%s", text)
	}
}
