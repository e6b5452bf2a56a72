package daemon

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
)

// A recurrence is made the day an address is seen on its fifth day, weeks after its
// first: made in the summary's period, it is a new incident, whatever its First. One
// made before the period and active in it grows. Before, both were listed as growing
// ("started earlier"), and a new recurrence was never new. The store keeps when each
// incident was first stored, by the wall clock, so the test's times are the clock's.
func TestSummaryListsARecurrenceMadeInItsPeriodAsNew(t *testing.T) {
	p, cfg := periodPipeline(t, "observe", "")
	st := p.store
	start := time.Now().UTC()
	recurrence := func(id, addr string) abusewatch.Incident {
		a := netip.MustParseAddr(addr)
		first := start.AddDate(0, 0, -21)
		return abusewatch.Incident{ID: id, Key: "ip:" + addr, Rule: "recurrence", Addr: a, Network: netip.PrefixFrom(a, 32),
			Classes: []abusewatch.Class{abusewatch.ClassAuthFailure}, First: first, Last: start.Add(time.Hour), Count: 15, Attempts: 15,
			Hosts: []string{"web1"}, Severity: 3,
			Evidence: []abusewatch.Event{{Time: first, Class: abusewatch.ClassAuthFailure, Addr: a, Port: 40001, Host: "web1", Service: "sshd",
				Line: "web1 sshd[1]: Failed password for root from " + addr + " port 40001 ssh2"}}}
	}
	older := recurrence("i-older", "45.134.26.7")
	if err := st.PutIncidents([]abusewatch.Incident{older}); err != nil {
		t.Fatal(err)
	}
	stored, err := st.FirstStored([]string{older.ID})
	if err != nil || stored[older.ID].IsZero() {
		t.Fatalf("FirstStored = %v, %v", stored, err)
	}
	// The period begins when the older one was stored; the other is made after.
	from := stored[older.ID]
	for deadline := time.Now().Add(time.Second); !time.Now().After(from); {
		if time.Now().After(deadline) {
			t.Fatal("the clock does not move")
		}
	}
	made := recurrence("i-made", "45.134.26.9")
	if err := st.PutIncidents([]abusewatch.Incident{made}); err != nil {
		t.Fatal(err)
	}
	text := summaryText(t, cfg, st, from, from.Add(24*time.Hour))
	news, growing := section(text, "NEW INCIDENTS"), section(text, "GROWING INCIDENTS")
	if !strings.HasPrefix(news, "NEW INCIDENTS: 1") || !strings.Contains(news, "45.134.26.9 ") {
		t.Errorf("the recurrence made in the period is not the one new incident:\n%s", text)
	}
	if !strings.Contains(growing, ": 1") || !strings.Contains(growing, "45.134.26.7 ") || strings.Contains(growing, "45.134.26.9 ") {
		t.Errorf("the recurrence made before the period is not the one growing incident:\n%s", text)
	}
}
