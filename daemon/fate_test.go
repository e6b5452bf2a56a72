package daemon

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
)

// Every incident without a report says why, the same way in every command and in the
// summary: for the admin only, a possible compromise, its network excluded since,
// ended before policy.max_age, no abuse contact found at the last round. They read
// "none yet" (or, in scan, "no abuse contact found") as if a report were on its way.
func TestEveryIncidentSaysWhyItIsNotReported(t *testing.T) {
	p, st, _ := outboxPipeline(t, "127.0.0.1:1", "review", parties[:1], `max_age = "2d"`)
	now := t0.Add(time.Hour)
	reported := attack(t, st, "45.134.26.7", t0, 20)
	noContact := attack(t, st, "80.94.95.1", t0, 20)
	stale := attack(t, st, "80.94.96.1", t0.Add(-10*24*time.Hour), 20)
	excluded := attack(t, st, "91.240.118.5", t0, 20)
	probes := attack(t, st, "80.94.97.1", t0, 20)
	probes.AdminOnly, probes.Classes = true, []abusewatch.Class{"port-probe"}
	rate := attack(t, st, "80.94.98.1", t0, 20)
	rate.AdminOnly, rate.Rule = true, "rate-anomaly"
	login := attack(t, st, "80.94.99.1", t0, 20)
	login.Success, login.AdminOnly = true, true
	thin := attack(t, st, "80.94.100.1", t0, 20) // a network with too few reportable addresses
	thin.AdminOnly, thin.Rule, thin.Classes = true, "network", []abusewatch.Class{"auth-failure", "port-probe"}
	if err := st.PutIncidents([]abusewatch.Incident{probes, rate, login, thin}); err != nil {
		t.Fatal(err)
	}
	// As `exclude` does, after the incident was made.
	if _, err := recordExclusion(st, netip.MustParsePrefix("91.240.118.0/24"), false, "a partner", now); err != nil {
		t.Fatal(err)
	}
	p.correlator.Exclude(netip.MustParsePrefix("91.240.118.0/24"))
	if err := p.Report(t.Context(), now); err != nil {
		t.Fatal(err)
	}
	pending := attack(t, st, "45.134.26.8", t0.Add(time.Minute), 20) // made after the round: nothing holds it back
	want := map[string]string{
		pending.ID:   "",
		reported.ID:  "",
		noContact.ID: "no abuse contact found at 2026-11-20 10:00, tried again every round (abusewatch whois 80.94.95.1): ",
		stale.ID:     "it ended more than policy.max_age (2d) ago",
		excluded.ID:  "its network is never reported (policy.never_report, exclude)",
		probes.ID:    "for you only: its evidence is probes or spoofable packets (port-probe), never reported outside on their own",
		rate.ID:      "a rate anomaly is for you only, never reported outside",
		thin.ID: "for you only: fewer than correlate.network_addresses of its addresses sent reportable, unforgeable evidence " +
			"(its classes: auth-failure, port-probe); the others' probes or spoofable packets are never reported outside on their own",
		login.ID: "a login from it succeeded (possible compromise): never reported outside, check it yourself",
	}
	// And in a code that scripts can match, which the words (with their times) are not.
	codes := map[string]string{
		pending.ID: "pending", noContact.ID: "no-contact", stale.ID: "too-old", excluded.ID: "never-report", probes.ID: "admin-only",
		rate.ID: "rate-anomaly", thin.ID: "network-too-few-reportable", login.ID: "possible-compromise",
	}
	why, err := p.unreported(now)
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, why *Unreported) {
		t.Helper()
		list, err := QueryIncidents(st, time.Time{}, 0, why)
		if err != nil {
			t.Fatal(err)
		}
		if len(list.Incidents) != len(want) {
			t.Fatalf("%s: %d incidents, want %d", name, len(list.Incidents), len(want))
		}
		for _, i := range list.Incidents {
			w, code := want[i.ID], codes[i.ID]
			if i.ID != reported.ID && i.UnreportedCode != code {
				t.Errorf("%s: %s: unreported_code %q; want %q", name, i.Source(), i.UnreportedCode, code)
			}
			switch {
			case i.ID == reported.ID && (i.ReportID == "" || i.Unreported != ""):
				t.Errorf("%s: %s: report %q, unreported %q; want a report", name, i.Source(), i.ReportID, i.Unreported)
			case i.ID != reported.ID && (i.ReportID != "" || !strings.HasPrefix(i.Unreported, w) || (w == "") != (i.Unreported == "")):
				t.Errorf("%s: %s: report %q, unreported %q; want %q", name, i.Source(), i.ReportID, i.Unreported, w)
			}
		}
	}
	check("daemon", why)
	// Without the daemon (`incidents` after `scan`), the store tells as much: the round
	// stored what it found no one to write to for.
	stored, err := StoredUnreported(p.cfg, st, now)
	if err != nil {
		t.Fatal(err)
	}
	check("offline", stored)

	// A network nothing is reported from says so (ip, net), one something may be does not.
	for q, w := range map[string]string{
		"10.20.0.77/32":   "10.0.0.0/8 is special-purpose",
		"91.240.118.5/32": "a network excluded or pardoned",
		"91.240.0.0/16":   "",
		"80.94.95.1/32":   "",
	} {
		if got := why.Network(netip.MustParsePrefix(q)); !strings.HasPrefix(got, w) || (w == "") != (got == "") {
			t.Errorf("Network(%s) = %q; want %q", q, got, w)
		}
	}

	// What no round tried for a day (it left the work list) is forgotten.
	p.misses.forgetBefore(now.Add(24 * time.Hour))
	if w := why.Incident(noContact); w != "" {
		t.Errorf("a day after its last round: %q", w)
	}
	p.misses.set(noContact.ID, UnreportedNoContact, want[noContact.ID], now)

	// The daily summary says it as the commands do.
	sum, err := BuildSummary(p.cfg, st, nil, why, now)
	if err != nil {
		t.Fatal(err)
	}
	said := map[string]string{}
	for _, si := range slices.Concat(sum.New, sum.Growing, sum.Compromises) {
		said[si.Source] = si.Reported
	}
	for _, inc := range []abusewatch.Incident{noContact, excluded, probes, rate, login} {
		if got := said[inc.Source()]; !strings.HasPrefix(got, "not reported: "+want[inc.ID]) {
			t.Errorf("summary: %s: %q; want %q", inc.Source(), got, want[inc.ID])
		}
	}

	// Preview does not compose, as if it would leave, a report that never would.
	for _, inc := range []abusewatch.Incident{probes, excluded} {
		_, err := PreviewReport(t.Context(), p.cfg, st, nil, inc.Addr, now)
		if err == nil || !strings.Contains(err.Error(), "nothing from "+inc.Addr.String()+" would be reported: "+want[inc.ID]) {
			t.Errorf("preview of %s: %v", inc.Addr, err)
		}
	}
}

// A round's miss keeps the code its round gave it: the do-not-contact list's is not
// retried, a report that cannot be written is, as a lookup that found no one.
func TestAContactMissHasItsCode(t *testing.T) {
	var m contactMisses
	now := t0
	m.set("a", UnreportedDoNotContact, "its network is on the do-not-contact list ([[do_not_contact]])", now)
	m.set("b", UnreportedNoContact, "no abuse contact found at 2026-11-20 10:00, tried again every round (abusewatch whois 80.94.95.1): x", now)
	m.set("c", UnreportedNotWritten, "its report to abuse@example.net cannot be written, tried again every round: x", now)
	if n := m.retried(); n != 2 {
		t.Errorf("%d misses retried; want the lookup's and the unwritten report's", n)
	}
	for id, want := range map[string]string{"a": "do-not-contact", "b": "no-contact", "c": "report-not-written"} {
		if got, err := m.get(id); err != nil || got.code != want {
			t.Errorf("%s: code %q, %v; want %q", id, got.code, err, want)
		}
	}
}

// An IPv6 /64 is judged as one host: its network incident for the admin says it met no
// rule of one address, and its recurrence lacks days, not addresses.
func TestASlash64ForTheAdminSaysItIsJudgedAsOneHost(t *testing.T) {
	u := &Unreported{}
	p := netip.MustParsePrefix("2a01:4f8:1c1c:5678::/64")
	for _, tc := range []struct {
		rule, code, want string
	}{
		{"network", UnreportedNetworkTooFew, "for you only: its reportable, unforgeable evidence met no rule of one address (an IPv6 /64 is judged as one host"},
		{"recurrence", UnreportedAdminOnly, "for you only: fewer than correlate.recurrence_days of its days had reportable, unforgeable evidence (its classes: port-probe)"},
	} {
		code, why := u.Reason(abusewatch.Incident{Rule: tc.rule, AdminOnly: true, Network: p, Classes: []abusewatch.Class{"port-probe"}})
		if code != tc.code || !strings.HasPrefix(why, tc.want) || strings.Contains(why, "of a network") {
			t.Errorf("%s: %s %q; want %s %q", tc.rule, code, why, tc.code, tc.want)
		}
	}
}
