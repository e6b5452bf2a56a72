package daemon

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/mailer/mailtest"
	"github.com/abusewatch/abusewatch/store"
)

// nestedAttack stores an incident per network of nets (network → its addresses), each
// address with one line, a second apart from t0 on, and the lines in the store. Its
// IDs are net-NN, NN the network's host bits, so the narrowest comes first in a round.
func nestedAttack(t *testing.T, st *store.Store, nets map[string][]string) map[string]abusewatch.Incident {
	t.Helper()
	var all []string
	for _, addrs := range nets {
		all = append(all, addrs...)
	}
	slices.Sort(all)
	all = slices.Compact(all)
	var evs []abusewatch.Event
	for i, a := range all {
		evs = append(evs, abusewatch.Event{Time: t0.Add(time.Duration(i) * time.Second), Class: abusewatch.ClassAuthFailure,
			Addr: netip.MustParseAddr(a), Port: uint16(40000 + i), Host: "web1", Service: "sshd",
			Line: fmt.Sprintf("web1 sshd[1]: Failed password for root from %s port %d ssh2", a, 40000+i)})
	}
	if _, err := st.Commit(evs, nil); err != nil {
		t.Fatal(err)
	}
	out := map[string]abusewatch.Incident{}
	for network, addrs := range nets {
		n := netip.MustParsePrefix(network)
		inc := abusewatch.Incident{ID: fmt.Sprintf("net-%02d", 32-n.Bits()), Key: "net:" + network, Rule: "network",
			Addr: netip.MustParseAddr(addrs[0]), Network: n, Classes: []abusewatch.Class{abusewatch.ClassAuthFailure},
			Count: len(addrs), Attempts: len(addrs), Hosts: []string{"web1"}, Severity: 2}
		for _, e := range evs {
			if slices.Contains(addrs, e.Addr.String()) {
				inc.Evidence = append(inc.Evidence, e)
				inc.Sources = append(inc.Sources, e.Addr)
			}
		}
		inc.First, inc.Last = inc.Evidence[0].Time, inc.Evidence[len(inc.Evidence)-1].Time
		if err := st.PutIncidents([]abusewatch.Incident{inc}); err != nil {
			t.Fatal(err)
		}
		out[network] = inc
	}
	return out
}

// A split /24 within a split /16 of the same round waits for the /16's shares, so that
// each party is told each line once, but not for ever: the /16's shares wait for a party
// with a report nobody approves (review mode), and the /24, none of whose parties has
// one, goes after widerWait, having said why it waits meanwhile (incidents, report
// preview). Before, it waited as long as the /16 did: for ever.
func TestANarrowerSplitIncidentWaitsForTheWiderOneForABoundedTime(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	custA, custB, five := "abuse@cust-a.example", "abuse@cust-b.example", "abuse@five.example"
	p, st, logs := outboxPipeline(t, srv.Addr, "review", []party{{"5.6.7.0/29", custA}, {"5.6.7.8/29", custB}, {"5.0.0.0/8", five}}, "")
	// five has a report waiting for approval, which never comes.
	attack(t, st, "5.9.9.9", t0.Add(-time.Hour), 20)
	if err := p.Tick(t.Context(), t0); err != nil {
		t.Fatal(err)
	}
	if rs := reportsIn(t, st, abusewatch.ReportPendingApproval); len(rs) != 1 || rs[0].Contact.Emails[0] != five {
		t.Fatalf("%d reports pending, want the one to %s", len(rs), five)
	}
	a24 := []string{"5.6.7.1", "5.6.7.2", "5.6.7.9", "5.6.7.10"}
	incs := nestedAttack(t, st, map[string][]string{"5.6.7.0/24": a24, "5.6.0.0/16": append(slices.Clone(a24), "5.6.8.1")})
	narrow, wide := incs["5.6.7.0/24"], incs["5.6.0.0/16"]
	first := t0.Add(time.Hour)
	for _, at := range []time.Time{first, first.Add(30 * time.Minute), first.Add(widerWait - time.Minute)} {
		if err := p.Tick(t.Context(), at); err != nil {
			t.Fatal(err)
		}
		if rs := reportsIn(t, st); len(rs) != 1 {
			t.Fatalf("%d reports at %s, want only five's: the /24 waits for the /16 for %s", len(rs), at, widerWait)
		}
		m, _ := p.misses.get(narrow.ID)
		if m.code != UnreportedWaitsForWider || !strings.Contains(m.why, wide.ID) || !strings.Contains(m.why, "5.6.0.0/16") || !m.at.Equal(first) {
			t.Fatalf("at %s the /24's miss is %+v, want one that says it waits for %s since %s", at, m, wide.ID, first)
		}
	}
	u, err := p.unreported(first)
	if err != nil {
		t.Fatal(err)
	}
	if code, why := u.Reason(narrow); code != UnreportedWaitsForWider || !strings.Contains(why, "5.6.0.0/16") {
		t.Errorf("incidents says of the /24: %s %q, want that it waits for the /16", code, why)
	}
	if err := p.misses.save(); err != nil {
		t.Fatal(err)
	}
	pv, err := PreviewReport(t.Context(), p.cfg, st, nil, netip.MustParseAddr("5.6.7.9"), first)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(pv.Fate, "5.6.0.0/16") {
		t.Errorf("report preview says %q, want that the /24 waits for the /16", pv.Fate)
	}

	if err := p.Tick(t.Context(), first.Add(widerWait+time.Minute)); err != nil {
		t.Fatal(err)
	}
	var to []string
	for _, r := range reportsIn(t, st, abusewatch.ReportPendingApproval) {
		if slices.Contains(r.Incidents, narrow.ID) {
			to = append(to, r.Contact.Emails[0])
		}
	}
	if slices.Sort(to); !slices.Equal(to, []string{custA, custB}) {
		t.Errorf("the /24's shares went to %v, want one to each of its parties", to)
	}
	if _, ok, _ := st.ReportFor(narrow.ID); !ok {
		t.Error("the /24 is not marked reported")
	}
	if _, ok, _ := st.ReportFor(wide.ID); ok {
		t.Error("the /16 is marked reported while a party's share waits")
	}
	if m, _ := p.misses.get(narrow.ID); m.code == UnreportedWaitsForWider {
		t.Errorf("the /24 still says it waits: %+v", m)
	}

	// Approved at last, and past the cooldown: the /16 goes to five about its own
	// address only; the /24's parties are not told its lines again.
	later := first.Add(2 * time.Hour)
	if _, err := ApproveReports(p.cfg, st, nil, true, later); err != nil {
		t.Fatal(err)
	}
	if err := p.DeliverAt(t.Context(), later); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		srv.Next(t)
	}
	before := len(reportsIn(t, st))
	if err := p.Tick(t.Context(), later.Add(8*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	rs := reportsIn(t, st, abusewatch.ReportPendingApproval)
	if len(rs) != 1 || rs[0].Contact.Emails[0] != five || !slices.Equal(rs[0].Incidents, []string{wide.ID}) || len(reportsIn(t, st)) != before+1 {
		for _, r := range rs {
			t.Errorf("report to %v about %v", r.Contact.Emails, r.Incidents)
		}
		t.Fatalf("want one new report, of the /16 to %s", five)
	}
	full, _, err := st.Report(rs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	text := mailText(t, full.Message)
	namesOnly(t, "five's report of the /16", text, append(slices.Clone(a24), "5.6.8.1"), []string{"5.6.8.1"})
	if _, ok, _ := st.ReportFor(wide.ID); !ok {
		t.Error("the /16 is not marked reported")
	}
	if t.Failed() {
		t.Log(logs)
	}
}

// A split /24 does not wait for a wider incident that is never reported outside (for
// the admin only): that one is not written, so the /24's shares go at once.
func TestANarrowerSplitIncidentDoesNotWaitForAnAdminOnlyWiderOne(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	custA, custB := "abuse@cust-a.example", "abuse@cust-b.example"
	p, st, logs := outboxPipeline(t, srv.Addr, "auto", []party{{"5.6.7.0/29", custA}, {"5.6.7.8/29", custB}, {"5.0.0.0/8", "abuse@five.example"}}, "")
	a24 := []string{"5.6.7.1", "5.6.7.2", "5.6.7.9", "5.6.7.10"}
	incs := nestedAttack(t, st, map[string][]string{"5.6.7.0/24": a24, "5.6.0.0/16": append(slices.Clone(a24), "5.6.8.1")})
	wide := incs["5.6.0.0/16"]
	wide.AdminOnly = true
	if err := st.PutIncidents([]abusewatch.Incident{wide}); err != nil {
		t.Fatal(err)
	}
	if err := p.Tick(t.Context(), t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	got := []string{srv.Next(t).To[0], srv.Next(t).To[0]}
	srv.Nothing(t)
	if slices.Sort(got); !slices.Equal(got, []string{custA, custB}) {
		t.Errorf("mails to %v, want the /24's share to each of its parties", got)
	}
	if _, ok, _ := st.ReportFor(incs["5.6.7.0/24"].ID); !ok {
		t.Error("the /24 is not marked reported")
	}
	if t.Failed() {
		t.Log(logs)
	}
}
