package daemon

import (
	"fmt"
	"maps"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/lookup/lookuptest"
	"github.com/abusewatch/abusewatch/mailer/mailtest"
	"github.com/abusewatch/abusewatch/store"
)

// splitAttack stores a network incident of two lines (one connection) from each of addrs,
// ten seconds apart, with the events in the store: the counts of a party's share are
// recounted from them.
func splitAttack(t *testing.T, st *store.Store, network string, addrs []string) abusewatch.Incident {
	t.Helper()
	inc := networkAttack(t, st, network, addrs, t0)
	var evs []abusewatch.Event
	for i, a := range addrs {
		for j := range 2 {
			evs = append(evs, abusewatch.Event{Time: t0.Add(time.Duration(10*i+j) * time.Second), Class: abusewatch.ClassAuthFailure,
				Addr: netip.MustParseAddr(a), Port: uint16(40000 + i), Host: "web1", Service: "sshd",
				Line: fmt.Sprintf("web1 sshd[1]: Failed password for root from %s port %d ssh2", a, 40000+i)})
		}
	}
	if _, err := st.Commit(evs, nil); err != nil {
		t.Fatal(err)
	}
	inc.Last, inc.Count, inc.Attempts = evs[len(evs)-1].Time, len(evs), len(addrs)
	if err := st.PutIncidents([]abusewatch.Incident{inc}); err != nil {
		t.Fatal(err)
	}
	return inc
}

// names says whether text names addr: in a log line, or among the addresses seen.
func names(text, addr string) bool {
	for _, end := range []string{" ", ",", "\n", "\r"} {
		if strings.Contains(text, addr+end) {
			return true
		}
	}
	return false
}

// A network incident whose addresses are several parties' (a registry's /29s in a /24,
// an IPv6 customer's /48 in a /32) is told to each party only as far as it is theirs:
// its own addresses, their lines and counts. A network on the do-not-contact list is
// told to no one, and its addresses are not told to a neighbour either; an address of it
// seen first does not hold back the others'. Before, the whole network went to the
// contact of the address seen first.
func TestANetworkIncidentGoesToEachPartyWithItsOwnAddressesOnly(t *testing.T) {
	v4 := []string{"5.6.7.1", "5.6.7.2", "5.6.7.3", "5.6.7.4", "5.6.7.5", "5.6.7.6", "5.6.7.7",
		"5.6.7.8", "5.6.7.9", "5.6.7.10", "5.6.7.11", "5.6.7.12"}
	v6 := []string{"2a01:4f8:a:1::1", "2a01:4f8:a:2::1", "2a01:4f8:a:3::1", "2a01:4f8:b:1::1", "2a01:4f8:b:2::1"}
	custA, custB := "abuse@cust-a.example", "abuse@cust-b.example"
	for _, tc := range []struct {
		name     string
		network  string
		addrs    []string
		contacts []party
		dnc      string
		missed   bool                // some addresses have no contact: left out, the admin told
		want     map[string][]string // recipient → the addresses its mail names
		conns    map[string]string   // recipient → what its mail says of the connections
	}{
		{
			name: "two customers' /29s in a /24", network: "5.6.7.0/24", addrs: v4,
			contacts: []party{{"5.6.7.0/29", custA}, {"5.6.7.8/29", custB}, {"5.0.0.0/8", "abuse@five.example"}},
			want:     map[string][]string{custA: v4[:7], custB: v4[7:]},
			conns:    map[string]string{custA: "Connections:     7 (14 log lines)", custB: "Connections:     5 (10 log lines)"},
		},
		{
			name: "the second /29 is do-not-contact", network: "5.6.7.0/24", addrs: v4,
			contacts: []party{{"5.6.7.0/29", custA}, {"5.0.0.0/8", "abuse@five.example"}}, dnc: "5.6.7.8/29",
			want:  map[string][]string{custA: v4[:7]},
			conns: map[string]string{custA: "Connections:     7 (14 log lines)"},
		},
		{
			name: "the first address is do-not-contact", network: "5.6.7.0/24", addrs: v4,
			contacts: []party{{"5.6.7.8/29", custB}, {"5.0.0.0/8", "abuse@five.example"}}, dnc: "5.6.7.0/29",
			want:  map[string][]string{custB: v4[7:]},
			conns: map[string]string{custB: "Connections:     5 (10 log lines)"},
		},
		{
			name: "a do-not-contact /29 inside the first address's contact", network: "5.6.7.0/24", addrs: v4,
			contacts: []party{{"5.0.0.0/8", "abuse@five.example"}}, dnc: "5.6.7.8/29",
			want: map[string][]string{"abuse@five.example": v4[:7]},
		},
		{
			name: "IPv6 customers' /48s in a /32", network: "2a01:4f8::/32", addrs: v6,
			contacts: []party{{"2a01:4f8:a::/48", custA}, {"2a01:4f8:b::/48", custB}, {"2a01:4f8::/29", "abuse@v6host.example"}},
			want:     map[string][]string{custA: v6[:3], custB: v6[3:]},
			conns:    map[string]string{custA: "Connections:     3 (6 log lines)", custB: "Connections:     2 (4 log lines)"},
		},
		{
			// The first address's contact (the covering /8) seems to hold the /24: the
			// others are looked up all the same, and the /29s' customers get their own.
			name: "the first address is in the covering block", network: "5.6.7.0/24", addrs: append([]string{"5.6.7.100"}, v4...),
			contacts: []party{{"5.6.7.0/29", custA}, {"5.6.7.8/29", custB}, {"5.0.0.0/8", "abuse@five.example"}},
			want:     map[string][]string{custA: v4[:7], custB: v4[7:], "abuse@five.example": {"5.6.7.100"}},
			conns: map[string]string{custA: "Connections:     7 (14 log lines)", custB: "Connections:     5 (10 log lines)",
				"abuse@five.example": "Connections:     1 (2 log lines)"},
		},
		{
			name: "IPv6: the first address is in the covering /29", network: "2a01:4f8::/32", addrs: append([]string{"2a01:4f8:30:1::1"}, v6[:3]...),
			contacts: []party{{"2a01:4f8:a::/48", custA}, {"2a01:4f8::/29", "abuse@v6host.example"}},
			want:     map[string][]string{custA: v6[:3], "abuse@v6host.example": {"2a01:4f8:30:1::1"}},
			conns:    map[string]string{custA: "Connections:     3 (6 log lines)", "abuse@v6host.example": "Connections:     1 (2 log lines)"},
		},
		{
			// Only the first /29 has a contact: its customer is told its own, the others
			// are told to no one (and the admin is), and nothing waits for ever.
			name: "addresses without a contact", network: "5.6.7.0/24", addrs: v4,
			contacts: []party{{"5.6.7.0/29", custA}}, missed: true,
			want:  map[string][]string{custA: v4[:7]},
			conns: map[string]string{custA: "Connections:     7 (14 log lines)"},
		},
		{
			name: "addresses without a contact, two parties", network: "5.6.7.0/24", addrs: append(slices.Clone(v4), "5.6.7.200"),
			contacts: []party{{"5.6.7.0/29", custA}, {"5.6.7.8/29", custB}}, missed: true,
			want:  map[string][]string{custA: v4[:7], custB: v4[7:]},
			conns: map[string]string{custA: "Connections:     7 (14 log lines)", custB: "Connections:     5 (10 log lines)"},
		},
		{
			name: "one contact holds the whole network", network: "5.6.7.0/24", addrs: v4,
			contacts: []party{{"5.6.7.0/24", custA}},
			want:     map[string][]string{custA: v4},
			conns:    map[string]string{custA: "Connections:     12 (24 log lines)"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := mailtest.Start(t, mailtest.Options{})
			extra := ""
			if tc.dnc != "" {
				extra = fmt.Sprintf("\n[[do_not_contact]]\nnetwork = %q\nreason = \"a partner\"\n", tc.dnc)
			}
			p, st, logs := outboxPipeline(t, srv.Addr, "auto", tc.contacts, extra)
			inc := splitAttack(t, st, tc.network, tc.addrs)
			if err := p.Tick(t.Context(), t0.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for range tc.want {
				m := srv.Next(t)
				if len(m.To) != 1 {
					t.Fatalf("a mail to %v", m.To)
				}
				got[m.To[0]] = mailText(t, m.Data)
			}
			srv.Nothing(t)
			for to, addrs := range tc.want {
				text, ok := got[to]
				if !ok {
					t.Errorf("no mail to %s; mails to %v", to, slices.Sorted(maps.Keys(got)))
					continue
				}
				namesOnly(t, "the mail to "+to, text, tc.addrs, addrs)
				if want := tc.conns[to]; want != "" && !strings.Contains(text, want) {
					t.Errorf("the mail to %s does not say %q:\n%s", to, want, text)
				}
			}
			// Every share written: the incident is reported, once, and a round after
			// writes nothing more.
			if _, ok, _ := st.ReportFor(inc.ID); !ok {
				t.Error("the incident is not marked reported")
			}
			if rs := reportsIn(t, st); len(rs) != len(tc.want) {
				t.Errorf("%d reports, want %d", len(rs), len(tc.want))
			}
			if err := p.Tick(t.Context(), t0.Add(2*time.Hour)); err != nil {
				t.Fatal(err)
			}
			srv.Nothing(t)
			if tc.dnc != "" && !strings.Contains(logs.String(), "on the do-not-contact list are left out") {
				t.Error("no log line tells the admin which addresses were left out")
			}
			if tc.missed {
				if !strings.Contains(logs.String(), "without an abuse contact are left out") {
					t.Error("no log line tells the admin which addresses have no contact")
				}
				if m, err := p.misses.get(inc.ID); err != nil || m.code != UnreportedNoContact || !strings.Contains(m.why, tc.addrs[len(tc.addrs)-1]) {
					t.Errorf("the incident's contact miss is %+v (%v), want one naming the addresses without a contact", m, err)
				}
			}
			if t.Failed() {
				t.Log(logs)
			}
		})
	}
}

// A party's share written before an address of the network was excluded is composed
// again without that address, and still without the other party's: the report goes to
// the party it was written for, about no more than its share.
func TestAShareComposedAgainKeepsToItsParty(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	addrs := []string{"5.6.7.1", "5.6.7.2", "5.6.7.3", "5.6.7.9", "5.6.7.10"}
	custA, custB := "abuse@cust-a.example", "abuse@cust-b.example"
	p, st, logs := outboxPipeline(t, srv.Addr, "review", []party{{"5.6.7.0/29", custA}, {"5.6.7.8/29", custB}}, "")
	splitAttack(t, st, "5.6.7.0/24", addrs)
	if err := p.Report(t.Context(), t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if rs := reportsIn(t, st, abusewatch.ReportPendingApproval); len(rs) != 2 {
		t.Fatalf("%d reports pending, want one per party", len(rs))
	}
	excluded := netip.MustParsePrefix("5.6.7.1/32")
	if _, err := Exclude(st, excluded, false, "a partner's host", t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	p.correlator.Exclude(excluded)
	if _, err := ApproveReports(p.cfg, st, nil, true, t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := p.DeliverAt(t.Context(), t0.Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{custA: addrs[1:3], custB: addrs[3:]}
	for range want {
		m := srv.Next(t)
		text := mailText(t, m.Data)
		namesOnly(t, fmt.Sprint("the mail to ", m.To), text, addrs, want[m.To[0]])
	}
	srv.Nothing(t)
	if t.Failed() {
		t.Log(logs)
	}
}

// The shares of a network incident go in the same round: while one of its parties is in
// its cooldown, no party's share is written and the incident stays unreported; after it,
// each party gets its share.
func TestSharesWaitForAPartyInItsCooldown(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	custA, custB := "abuse@cust-a.example", "abuse@cust-b.example"
	p, st, logs := outboxPipeline(t, srv.Addr, "auto", []party{{"5.6.7.0/29", custA}, {"5.6.7.8/29", custB}}, "")
	attack(t, st, "5.6.7.9", t0.Add(-time.Hour), 20)
	if err := p.Tick(t.Context(), t0); err != nil {
		t.Fatal(err)
	}
	if m := srv.Next(t); m.To[0] != custB {
		t.Fatalf("the first mail went to %v", m.To)
	}
	inc := splitAttack(t, st, "5.6.7.0/24", []string{"5.6.7.1", "5.6.7.2", "5.6.7.9", "5.6.7.10"})
	if err := p.Tick(t.Context(), t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	srv.Nothing(t)
	if _, ok, _ := st.ReportFor(inc.ID); ok {
		t.Fatal("the incident is marked reported with a party's share not written")
	}
	if err := p.Tick(t.Context(), t0.Add(8*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	got := []string{srv.Next(t).To[0], srv.Next(t).To[0]}
	if slices.Sort(got); !slices.Equal(got, []string{custA, custB}) {
		t.Errorf("mails to %v, want one to each party", got)
	}
	if _, ok, _ := st.ReportFor(inc.ID); !ok {
		t.Error("the incident is not marked reported with every share written")
	}
	if t.Failed() {
		t.Log(logs)
	}
}

// With RDAP, as registries delegate: the /24's addresses are in two /29 assignments, each
// with its own abuse contact, asked of a registry on loopback once per address (an
// answer holds for the address asked about only: the registry does not say which more
// specific networks lie in the one it names), and each customer gets its own addresses.
func TestANetworkIncidentSplitsAlongTheRegistrysAssignments(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	r := lookuptest.NewRDAP(t)
	custA, custB := "abuse@cust-a.example", "abuse@cust-b.example"
	r.Answer("5.6.7.0/29", lookuptest.NetworkAnswer(netip.MustParsePrefix("5.6.7.0/29"), "CUST-A", "DE", custA))
	r.Answer("5.6.7.8/29", lookuptest.NetworkAnswer(netip.MustParsePrefix("5.6.7.8/29"), "CUST-B", "DE", custB))
	p, st, logs := rdapPipeline(t, r.URL, srv.Addr)
	addrs := []string{"5.6.7.1", "5.6.7.2", "5.6.7.3", "5.6.7.9", "5.6.7.10", "5.6.7.11", "5.6.7.12"}
	inc := splitAttack(t, st, "5.6.7.0/24", addrs)
	if err := p.Tick(t.Context(), t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{custA: addrs[:3], custB: addrs[3:]}
	for range want {
		m := srv.Next(t)
		text := mailText(t, m.Data)
		namesOnly(t, fmt.Sprint("the mail to ", m.To), text, addrs, want[m.To[0]])
	}
	srv.Nothing(t)
	if _, ok, _ := st.ReportFor(inc.ID); !ok {
		t.Error("the incident is not marked reported")
	}
	if n := r.Requests.Load(); n != int64(len(addrs)) {
		t.Errorf("%d RDAP requests, want one per address", n)
	}
	if t.Failed() {
		t.Log(logs)
	}
}

// A share does not go to a party the same round its own report was written: the round
// reads again what waits and what was sent after it wrote the parties' reports, so the
// network incident waits for the next round (and for the cooldown), where its share
// joins what the party is told next. Before, the share and the address's own report
// went to the same desk at once, the cooldown passed by.
func TestAShareWaitsForAReportWrittenInTheSameRound(t *testing.T) {
	custA, custB := "abuse@cust-a.example", "abuse@cust-b.example"
	for _, tc := range []struct {
		mode  string
		state abusewatch.ReportState // of the party's own report
	}{
		{"auto", abusewatch.ReportSent},
		{"review", abusewatch.ReportPendingApproval},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			srv := mailtest.Start(t, mailtest.Options{})
			p, st, logs := outboxPipeline(t, srv.Addr, tc.mode, []party{{"5.6.7.0/29", custA}, {"5.6.7.8/29", custB}}, "")
			attack(t, st, "5.6.7.1", t0.Add(-time.Minute), 6)
			inc := splitAttack(t, st, "5.6.7.0/24", []string{"5.6.7.2", "5.6.7.3", "5.6.7.9", "5.6.7.10"})
			if err := p.Tick(t.Context(), t0.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			rs := reportsIn(t, st)
			if len(rs) != 1 || rs[0].Contact.Emails[0] != custA || rs[0].State != tc.state {
				for _, r := range rs {
					t.Errorf("report to %v (%s) about %v", r.Contact.Emails, r.State, r.Incidents)
				}
				t.Fatalf("%d reports, want only the one of 5.6.7.1 to %s, %s", len(rs), custA, tc.state)
			}
			if tc.mode == "auto" {
				if m := srv.Next(t); m.To[0] != custA {
					t.Errorf("a mail to %v", m.To)
				}
			}
			srv.Nothing(t)
			if _, ok, _ := st.ReportFor(inc.ID); ok {
				t.Error("the network incident is marked reported with its shares not written")
			}
			if t.Failed() {
				t.Log(logs)
			}
		})
	}
}

// A share is composed as any report: the lines an earlier report holds (an address's
// own incident, reported before its network's formed) are left out of it, and a share
// all of whose lines an earlier report holds is not sent, while the other parties' are.
// Before, each share restated them: the desk was told the same lines twice; and then it
// still listed among the addresses seen one none of whose lines it held.
func TestAShareLeavesOutWhatAnEarlierReportHolds(t *testing.T) {
	custA, custB := "abuse@cust-a.example", "abuse@cust-b.example"
	for _, tc := range []struct {
		name  string
		addrs []string            // the network incident's
		held  []string            // those reported on their own first
		want  map[string][]string // recipient of a share → the addresses of its lines
		conns map[string]string
	}{
		{
			name: "part of a share held", addrs: []string{"5.6.7.1", "5.6.7.2", "5.6.7.9", "5.6.7.10"}, held: []string{"5.6.7.1"},
			want:  map[string][]string{custA: {"5.6.7.2"}, custB: {"5.6.7.9", "5.6.7.10"}},
			conns: map[string]string{custA: "Connections:     1 (2 log lines)", custB: "Connections:     2 (4 log lines)"},
		},
		{
			name: "a whole share held", addrs: []string{"5.6.7.1", "5.6.7.9", "5.6.7.10"}, held: []string{"5.6.7.1"},
			want:  map[string][]string{custB: {"5.6.7.9", "5.6.7.10"}},
			conns: map[string]string{custB: "Connections:     2 (4 log lines)"},
		},
		{
			name: "every share held", addrs: []string{"5.6.7.1", "5.6.7.9"}, held: []string{"5.6.7.1", "5.6.7.9"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := mailtest.Start(t, mailtest.Options{})
			p, st, logs := outboxPipeline(t, srv.Addr, "auto", []party{{"5.6.7.0/29", custA}, {"5.6.7.8/29", custB}}, "")
			inc := splitAttack(t, st, "5.6.7.0/24", tc.addrs)
			for _, a := range tc.held {
				ownIncident(t, st, tc.addrs, a)
			}
			// The addresses' own reports go first; the shares wait for them (and the cooldown).
			if err := p.Tick(t.Context(), t0.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			for range tc.held {
				srv.Next(t)
			}
			srv.Nothing(t)
			if err := p.Tick(t.Context(), t0.Add(8*24*time.Hour)); err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for range tc.want {
				m := srv.Next(t)
				got[m.To[0]] = mailText(t, m.Data)
			}
			srv.Nothing(t)
			for to, addrs := range tc.want {
				text, ok := got[to]
				if !ok {
					t.Errorf("no mail to %s", to)
					continue
				}
				for _, a := range tc.addrs {
					if w := slices.Contains(addrs, a); strings.Contains(text, "from "+a+" port") != w {
						t.Errorf("the mail to %s quotes lines of %s: %v, want %v:\n%s", to, a, !w, w, text)
					}
					// Nor is an address all of whose lines were told before listed among
					// those seen, nor given an X-ARF part.
					if w := slices.Contains(addrs, a); names(text, a) != w {
						t.Errorf("the mail to %s names %s: %v, want %v:\n%s", to, a, !w, w, text)
					}
				}
				if seen := fmt.Sprintf("Addresses seen:  %d\r\n", len(addrs)); !strings.Contains(text, seen) {
					t.Errorf("the mail to %s does not say %q:\n%s", to, seen, text)
				}
				if !strings.Contains(text, tc.conns[to]) {
					t.Errorf("the mail to %s does not say %q:\n%s", to, tc.conns[to], text)
				}
			}
			if _, ok, _ := st.ReportFor(inc.ID); !ok {
				t.Error("the network incident is not marked reported")
			}
			if err := p.Tick(t.Context(), t0.Add(16*24*time.Hour)); err != nil {
				t.Fatal(err)
			}
			srv.Nothing(t)
			if t.Failed() {
				t.Log(logs)
			}
		})
	}
}

// Nested network incidents that are split (a /24 in its /16 in its /8) are told once:
// the narrower wait while the widest's shares are written, then its reports hold them.
// Each party gets one report of its own lines, which names the party's own block, not
// the wider network. Before, each party got one report per size of the same lines, and
// a /29's desk was told "from 5.0.0.0/8".
func TestNestedSplitNetworkIncidentsAreToldOnce(t *testing.T) {
	custA, custB, five := "abuse@cust-a.example", "abuse@cust-b.example", "abuse@five.example"
	a24 := []string{"5.6.7.1", "5.6.7.2", "5.6.7.3", "5.6.7.9", "5.6.7.10"}
	a16 := append(slices.Clone(a24), "5.6.8.1", "5.6.9.1")
	a8 := append(slices.Clone(a16), "5.7.1.1")
	for _, tc := range []struct {
		name   string
		nets   map[string][]string // network → its incident's addresses
		want   map[string][]string // recipient → the addresses its one mail names
		source map[string]string   // recipient → the source its mail names
	}{
		{
			name: "/24 in /16 in /8", nets: map[string][]string{"5.6.7.0/24": a24, "5.6.0.0/16": a16, "5.0.0.0/8": a8},
			want:   map[string][]string{custA: a24[:3], custB: a24[3:], five: a8[5:]},
			source: map[string]string{custA: "from 5.6.7.0/29", custB: "from 5.6.7.8/29", five: "from 5.0.0.0/8"},
		},
		{
			name: "/24 in /16", nets: map[string][]string{"5.6.7.0/24": a24, "5.6.0.0/16": a16},
			want: map[string][]string{custA: a24[:3], custB: a24[3:], five: a16[5:]},
			// five's two addresses fill a /23 that holds none of the /29s': that is what
			// it is told of.
			source: map[string]string{custA: "from 5.6.7.0/29", custB: "from 5.6.7.8/29", five: "from 5.6.8.0/23"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := mailtest.Start(t, mailtest.Options{})
			p, st, logs := outboxPipeline(t, srv.Addr, "auto",
				[]party{{"5.6.7.0/29", custA}, {"5.6.7.8/29", custB}, {"5.0.0.0/8", five}}, "")
			var all []string
			for _, addrs := range tc.nets {
				all = append(all, addrs...)
			}
			slices.Sort(all)
			all = slices.Compact(all)
			var evs []abusewatch.Event
			at := map[string]time.Time{}
			for i, a := range all {
				at[a] = t0.Add(time.Duration(i) * time.Second)
				evs = append(evs, abusewatch.Event{Time: at[a], Class: abusewatch.ClassAuthFailure,
					Addr: netip.MustParseAddr(a), Port: uint16(40000 + i), Host: "web1", Service: "sshd",
					Line: fmt.Sprintf("web1 sshd[1]: Failed password for root from %s port %d ssh2", a, 40000+i)})
			}
			if _, err := st.Commit(evs, nil); err != nil {
				t.Fatal(err)
			}
			var ids []string
			for network, addrs := range tc.nets {
				n := netip.MustParsePrefix(network)
				// The narrowest first in the round's order (by ID), as the store's IDs may come.
				inc := abusewatch.Incident{ID: fmt.Sprintf("net-%02d", 32-n.Bits()), Key: "net:" + network, Rule: "network",
					Addr: netip.MustParseAddr(addrs[0]), Network: n, Classes: []abusewatch.Class{abusewatch.ClassAuthFailure},
					Count: len(addrs), Attempts: len(addrs), Hosts: []string{"web1"}, Severity: 2}
				for _, a := range addrs {
					inc.Sources = append(inc.Sources, netip.MustParseAddr(a))
				}
				slices.SortFunc(inc.Sources, netip.Addr.Compare)
				for _, e := range evs {
					if slices.Contains(addrs, e.Addr.String()) {
						inc.Evidence = append(inc.Evidence, e)
					}
				}
				inc.First, inc.Last = inc.Evidence[0].Time, inc.Evidence[len(inc.Evidence)-1].Time
				if err := st.PutIncidents([]abusewatch.Incident{inc}); err != nil {
					t.Fatal(err)
				}
				ids = append(ids, inc.ID)
			}
			got := map[string][]string{}
			for round := range 3 {
				if err := p.Tick(t.Context(), t0.Add(time.Duration(round+1)*time.Hour)); err != nil {
					t.Fatal(err)
				}
			}
			if rs := reportsIn(t, st); len(rs) != len(tc.want) {
				for _, r := range rs {
					t.Errorf("report to %v (%s) about %v", r.Contact.Emails, r.State, r.Incidents)
				}
				t.Fatalf("%d reports, want one to each of %v\n%s", len(rs), slices.Sorted(maps.Keys(tc.want)), logs)
			}
			for range reportsIn(t, st, abusewatch.ReportSent) {
				m := srv.Next(t)
				got[m.To[0]] = append(got[m.To[0]], mailText(t, m.Data))
			}
			srv.Nothing(t)
			for to, addrs := range tc.want {
				if len(got[to]) != 1 {
					t.Errorf("%d mails to %s, want one", len(got[to]), to)
					continue
				}
				text := got[to][0]
				for _, a := range all {
					if w := slices.Contains(addrs, a); strings.Contains(text, "from "+a+" port") != w {
						t.Errorf("the mail to %s quotes lines of %s: %v, want %v:\n%s", to, a, !w, w, text)
					}
				}
				if !strings.Contains(text, tc.source[to]+"\n") && !strings.Contains(text, tc.source[to]+"\r") {
					t.Errorf("the mail to %s does not say %q:\n%s", to, tc.source[to], text)
				}
			}
			if len(got) != len(tc.want) {
				t.Errorf("mails to %v, want to %v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(tc.want)))
			}
			for _, id := range ids {
				if _, ok, _ := st.ReportFor(id); !ok {
					t.Errorf("incident %s is not marked reported", id)
				}
			}
			if t.Failed() {
				t.Log(logs)
			}
		})
	}
}

// report preview of an address of a split network incident shows that address's party's
// share, as the round writes it: its own addresses and lines, not the other parties'.
func TestPreviewOfASplitIncidentShowsTheAddresssShare(t *testing.T) {
	custA, custB := "abuse@cust-a.example", "abuse@cust-b.example"
	addrs := []string{"5.6.7.1", "5.6.7.2", "5.6.7.3", "5.6.7.9", "5.6.7.10"}
	p, st, _ := outboxPipeline(t, "127.0.0.1:1", "review", []party{{"5.6.7.0/29", custA}, {"5.6.7.8/29", custB}}, "")
	splitAttack(t, st, "5.6.7.0/24", addrs)
	for _, tc := range []struct {
		addr, to string
		mine     []string
	}{
		{"5.6.7.9", custB, addrs[3:]},
		{"5.6.7.2", custA, addrs[:3]},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			pv, err := PreviewReport(t.Context(), p.cfg, st, nil, netip.MustParseAddr(tc.addr), t0.Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			text := mailText(t, pv.Report.Message)
			if to := pv.Report.Contact.Emails; len(to) != 1 || to[0] != tc.to {
				t.Errorf("the preview is to %v, want %s", to, tc.to)
			}
			namesOnly(t, "the preview", text, addrs, tc.mine)
		})
	}
}

// A lookup that fails for a reason that passes (the registry rate-limits us) is not "no
// contact": the network incident waits rather than go to the other parties without
// that address's, and says why.
func TestASplitIncidentWaitsForARateLimitedLookup(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	r := lookuptest.NewRDAP(t)
	custA, custB := "abuse@cust-a.example", "abuse@cust-b.example"
	r.Answer("5.6.7.0/29", lookuptest.NetworkAnswer(netip.MustParsePrefix("5.6.7.0/29"), "CUST-A", "DE", custA))
	r.Answer("5.6.7.8/29", lookuptest.NetworkAnswer(netip.MustParsePrefix("5.6.7.8/29"), "CUST-B", "DE", custB))
	r.Storm(1, "3600")
	p, st, logs := rdapPipeline(t, r.URL, srv.Addr)
	inc := splitAttack(t, st, "5.6.7.0/24", []string{"5.6.7.1", "5.6.7.2", "5.6.7.9", "5.6.7.10"})
	if err := p.Tick(t.Context(), t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	srv.Nothing(t)
	if rs := reportsIn(t, st); len(rs) != 0 {
		t.Errorf("%d reports written while a lookup was rate-limited, want none", len(rs))
	}
	if _, ok, _ := st.ReportFor(inc.ID); ok {
		t.Error("the incident is marked reported")
	}
	if m, _ := p.misses.get(inc.ID); m.code != UnreportedNoContact || !strings.Contains(m.why, "rate-limited") {
		t.Errorf("the incident's miss is %+v, want one that says the lookup was rate-limited", m)
	}
	if t.Failed() {
		t.Log(logs)
	}
}

// rdapPipeline is a pipeline in auto mode that looks contacts up at the loopback RDAP
// server rdapURL (through a bootstrap naming it for every address) and sends over SMTP
// to server.
func rdapPipeline(t *testing.T, rdapURL, server string) (*Pipeline, *store.Store, *logBuffer) {
	t.Helper()
	dnsServer, _ := lookuptest.ServeZone(t, "host.example.test. 60 IN A 192.0.2.1\n")
	boot := lookuptest.WriteBootstrap(t, rdapURL, []string{"0.0.0.0/0"}, []string{"::/0"})
	dir := t.TempDir()
	return pipelineOf(t, dir, fmt.Sprintf(`
[reporter]
name = "Sam Example"
organisation = "Example Hosting Ltd"
email = "security@example.org"
timezone = "UTC"

[lookup]
resolvers = [%q]
bootstrap_dir = %q
guess = false

[mail]
transport = "smtp"
server = %q
tls = "none"
from = "abusewatch@example.org"

[policy]
settle = "0s"
mode = "auto"

[store]
path = %q
`, dnsServer, boot, server, filepath.Join(dir, "state.db")))
}

// A network incident whose addresses left after the do-not-contact list's and those
// without a contact are all one party's is told to that party as what it is: the
// party's own block, or the narrowest network that holds the addresses it is told and
// none of those left out, and only their counts. Before, the party was told "from
// 5.6.7.0/24", the whole network, as if the others' were its too.
func TestASinglePartyShareNamesOnlyWhatItHolds(t *testing.T) {
	v4 := []string{"5.6.7.1", "5.6.7.2", "5.6.7.3", "5.6.7.4", "5.6.7.5", "5.6.7.6", "5.6.7.7",
		"5.6.7.8", "5.6.7.9", "5.6.7.10", "5.6.7.11", "5.6.7.12"}
	custA, custB, five := "abuse@cust-a.example", "abuse@cust-b.example", "abuse@five.example"
	for _, tc := range []struct {
		name     string
		addrs    []string
		contacts []party
		dnc      string
		to       string
		mine     []string
		source   string // the network the mail is about
		conns    string
	}{
		{
			name: "the party's own /29 beside a do-not-contact one", addrs: v4,
			contacts: []party{{"5.6.7.8/29", custB}, {"5.0.0.0/8", five}}, dnc: "5.6.7.0/29",
			to: custB, mine: v4[7:], source: "5.6.7.8/29", conns: "Connections:     5 (10 log lines)",
		},
		{
			name: "the party's own /29 beside addresses without a contact", addrs: v4,
			contacts: []party{{"5.6.7.0/29", custA}},
			to:       custA, mine: v4[:7], source: "5.6.7.0/29", conns: "Connections:     7 (14 log lines)",
		},
		{
			// The covering /8's desk is told the /29 its addresses fill, which holds none
			// of the do-not-contact list's.
			name: "a covering contact, a do-not-contact /29 inside", addrs: v4,
			contacts: []party{{"5.0.0.0/8", five}}, dnc: "5.6.7.8/29",
			to: five, mine: v4[:7], source: "5.6.7.0/29", conns: "Connections:     7 (14 log lines)",
		},
		{
			// No network narrower than the /24 holds 5.6.7.1 and 5.6.7.200 without
			// 5.6.7.9: the /24 it is, with the two addresses and their counts only.
			name: "addresses around a do-not-contact one", addrs: []string{"5.6.7.1", "5.6.7.9", "5.6.7.200"},
			contacts: []party{{"5.0.0.0/8", five}}, dnc: "5.6.7.8/29",
			to: five, mine: []string{"5.6.7.1", "5.6.7.200"}, source: "5.6.7.0/24", conns: "Connections:     2 (4 log lines)",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := mailtest.Start(t, mailtest.Options{})
			extra := ""
			if tc.dnc != "" {
				extra = fmt.Sprintf("\n[[do_not_contact]]\nnetwork = %q\nreason = \"a partner\"\n", tc.dnc)
			}
			p, st, logs := outboxPipeline(t, srv.Addr, "auto", tc.contacts, extra)
			inc := splitAttack(t, st, "5.6.7.0/24", tc.addrs)
			if err := p.Tick(t.Context(), t0.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			m := srv.Next(t)
			srv.Nothing(t)
			if len(m.To) != 1 || m.To[0] != tc.to {
				t.Fatalf("a mail to %v, want one to %s", m.To, tc.to)
			}
			text := strings.ReplaceAll(mailText(t, m.Data), "\r\n", "\n")
			namesOnly(t, "the mail", text, tc.addrs, tc.mine)
			saysAll(t, "the mail", text, "from "+tc.source+"\n", "Source network:  "+tc.source+"\n",
				fmt.Sprintf("Addresses seen:  %d\n", len(tc.mine)), tc.conns)
			if _, ok, _ := st.ReportFor(inc.ID); !ok {
				t.Error("the incident is not marked reported")
			}
			if t.Failed() {
				t.Log(logs)
			}
		})
	}
}

// The warning that no abuse contact was found for a network incident names the
// addresses whose lookups found none, not the incident's first address, which may be
// one the do-not-contact list left out: `abusewatch whois` of that one shows nothing
// wrong.
func TestTheNoContactWarningNamesTheAddressesWithoutAContact(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	extra := "\n[[do_not_contact]]\nnetwork = \"5.6.7.0/29\"\nreason = \"a partner\"\n"
	p, st, logs := outboxPipeline(t, srv.Addr, "auto", nil, extra)
	inc := splitAttack(t, st, "5.6.7.0/24", []string{"5.6.7.1", "5.6.7.2", "5.6.7.9", "5.6.7.10"})
	if err := p.Tick(t.Context(), t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	srv.Nothing(t)
	var warning string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "level=WARN msg=\"no abuse contact found") {
			warning = l
		}
	}
	if !strings.Contains(warning, `addr="5.6.7.9, 5.6.7.10"`) {
		t.Errorf("the warning is %q, want one naming 5.6.7.9 and 5.6.7.10", warning)
	}
	m, _ := p.misses.get(inc.ID)
	if m.code != UnreportedNoContact || !strings.Contains(m.why, "5.6.7.9, 5.6.7.10") || names(m.why, "5.6.7.1") {
		t.Errorf("the incident's miss is %+v, want one naming the addresses without a contact only", m)
	}
	if t.Failed() {
		t.Log(logs)
	}
}

// ownIncident stores the incident of address a of addrs on its own, of its two lines as
// splitAttack stored them.
func ownIncident(t *testing.T, st *store.Store, addrs []string, a string) {
	t.Helper()
	i := slices.Index(addrs, a)
	own := abusewatch.Incident{ID: "inc-" + a, Key: "ip:" + a, Rule: "per-address", Addr: netip.MustParseAddr(a),
		Network: netip.MustParsePrefix(a + "/32"), Classes: []abusewatch.Class{abusewatch.ClassAuthFailure},
		Count: 2, Attempts: 1, Hosts: []string{"web1"}, Severity: 3}
	for j := range 2 {
		own.Evidence = append(own.Evidence, abusewatch.Event{Time: t0.Add(time.Duration(10*i+j) * time.Second), Class: abusewatch.ClassAuthFailure,
			Addr: own.Addr, Port: uint16(40000 + i), Host: "web1", Service: "sshd",
			Line: fmt.Sprintf("web1 sshd[1]: Failed password for root from %s port %d ssh2", a, 40000+i)})
	}
	own.First, own.Last = own.Evidence[0].Time, own.Evidence[1].Time
	if err := st.PutIncidents([]abusewatch.Incident{own}); err != nil {
		t.Fatal(err)
	}
}

// The report of a network incident whose addresses left are one party's (the others
// have no contact) lists, as a split share does, only the addresses with lines in it:
// not one all of whose lines the report of its own incident told before.
func TestASinglePartyShareDoesNotListAnAddressToldBefore(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	custA := "abuse@cust-a.example"
	p, st, logs := outboxPipeline(t, srv.Addr, "auto", []party{{"5.6.7.0/29", custA}}, "")
	addrs := []string{"5.6.7.1", "5.6.7.2", "5.6.7.3", "5.6.7.9"}
	// 5.6.7.1's own incident is reported first; then its network's forms.
	ownIncident(t, st, addrs, "5.6.7.1")
	if err := p.Tick(t.Context(), t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	srv.Next(t)
	inc := splitAttack(t, st, "5.6.7.0/24", addrs)
	if err := p.Tick(t.Context(), t0.Add(8*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(mailText(t, srv.Next(t).Data), "\r\n", "\n")
	srv.Nothing(t)
	namesOnly(t, "the mail", text, addrs, []string{"5.6.7.2", "5.6.7.3"})
	saysAll(t, "the mail", text, "Addresses seen:  2\n", "Connections:     2 (4 log lines)")
	if _, ok, _ := st.ReportFor(inc.ID); !ok {
		t.Error("the network incident is not marked reported")
	}
	if t.Failed() {
		t.Log(logs)
	}
}

// report preview (and a share composed again) tells the share as the round writes it:
// without an address all of whose lines an earlier report holds among those seen.
func TestPreviewOfAShareDoesNotListAnAddressToldBefore(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	custA, custB := "abuse@cust-a.example", "abuse@cust-b.example"
	p, st, _ := outboxPipeline(t, srv.Addr, "auto", []party{{"5.6.7.0/29", custA}, {"5.6.7.8/29", custB}}, "")
	addrs := []string{"5.6.7.1", "5.6.7.2", "5.6.7.3", "5.6.7.9"}
	ownIncident(t, st, addrs, "5.6.7.1")
	if err := p.Tick(t.Context(), t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	srv.Next(t)
	splitAttack(t, st, "5.6.7.0/24", addrs)
	pv, err := PreviewReport(t.Context(), p.cfg, st, nil, netip.MustParseAddr("5.6.7.2"), t0.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(mailText(t, pv.Report.Message), "\r\n", "\n")
	namesOnly(t, "the preview", text, addrs, []string{"5.6.7.2", "5.6.7.3"})
	if !strings.Contains(text, "Addresses seen:  2\n") {
		t.Errorf("the preview does not list two addresses seen:\n%s", text)
	}
}

// namesOnly checks that text (what, for the error) names, of addrs, those of mine and
// no other.
func namesOnly(t *testing.T, what, text string, addrs, mine []string) {
	t.Helper()
	for _, a := range addrs {
		if w := slices.Contains(mine, a); names(text, a) != w {
			t.Errorf("%s names %s: %v, want %v:\n%s", what, a, !w, w, text)
		}
	}
}

// saysAll checks that text (what, for the error) says each of wants.
func saysAll(t *testing.T, what, text string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(text, want) {
			t.Errorf("%s does not say %q:\n%s", what, want, text)
		}
	}
}
