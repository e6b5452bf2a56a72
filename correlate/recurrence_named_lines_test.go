package correlate_test

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
)

// A reportable recurrence is its reportable, unforgeable lines alone, as a network
// incident is (named41; review42 M5): 45.70.1.5 fails to log in twice a day on web1
// for 12 days, and on its first day one dovecot line of class protocol-probe (not in
// reportable) names our internal lip=10.9.8.7 on mx1. The recurrence quoted it,
// counted it (25 lines), named mx1 among our hosts and was described by its class.
// Made as the daemon makes it (a batch a day) or by a pass over history (held), it
// holds none of it; the store keeps the line for the admin.
func TestRecurrenceHoldsItsReportableLinesAlone(t *testing.T) {
	const a = "45.70.1.5"
	probe := abusewatch.Event{Time: onDay(0, 8*time.Hour), Class: "protocol-probe", Addr: netip.MustParseAddr(a), Port: 51000,
		Service: "dovecot", Host: "mx1",
		Line: "imap-login: Disconnected (no auth attempts in 0 secs): user=<>, rip=45.70.1.5, lip=10.9.8.7, session=<x>"}
	evs := []abusewatch.Event{probe}
	for d := range 12 {
		evs = append(evs, at(a, onDay(d, 10*time.Hour), uint16(30000+2*d)), at(a, onDay(d, 16*time.Hour), uint16(30001+2*d)))
	}
	for _, tc := range []struct {
		name string
		feed func(h *harness)
	}{
		{"a batch a day", func(h *harness) { h.feedDays(slices.Clone(evs)) }},
		{"a pass over history", func(h *harness) { h.passOver(slices.Clone(evs)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, recurrenceOpts)
			tc.feed(h)
			inc, ok := h.stored("recur:" + a + "/32")
			if !ok || inc.AdminOnly {
				t.Fatalf("recurrence %+v, want a reportable one", inc)
			}
			if !slices.Equal(inc.Classes, []abusewatch.Class{abusewatch.ClassAuthFailure}) || !slices.Equal(inc.Hosts, []string{"web1"}) {
				t.Errorf("classes %v, hosts %v: want auth-failure alone, on web1", inc.Classes, inc.Hosts)
			}
			if inc.Count != 24 {
				t.Errorf("count %d: want the 24 failed logins", inc.Count)
			}
			if len(inc.Evidence) == 0 {
				t.Error("no evidence")
			}
			for _, e := range inc.Evidence {
				if e.Class != abusewatch.ClassAuthFailure {
					t.Errorf("evidence holds %s line %q", e.Class, e.Line)
				}
			}
			stored, err := h.st.EventsByAddr(netip.MustParseAddr(a), onDay(0, 0), onDay(1, 0))
			if err != nil || !slices.ContainsFunc(stored, func(e abusewatch.Event) bool { return e.Class == "protocol-probe" }) {
				t.Errorf("the store lost the protocol-probe line (%v)", err)
			}
		})
	}
}
