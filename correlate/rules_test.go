package correlate_test

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/correlate"
)

// at makes one reportable event: a failed login on its own connection.
func at(addr string, t time.Time, port uint16) abusewatch.Event {
	return abusewatch.Event{Time: t, Class: abusewatch.ClassAuthFailure, Addr: netip.MustParseAddr(addr),
		Port: port, Service: "sshd", Host: "web1", Line: "Failed password for root"}
}

func rules(incs []abusewatch.Incident) map[string]int {
	out := map[string]int{}
	for _, inc := range incs {
		out[inc.Rule]++
	}
	return out
}

func TestPerAddressWindowsAtTheirBoundaries(t *testing.T) {
	opts := correlate.Options{Threshold: 3, Window: 10 * time.Minute, Windows: []correlate.Window{{Threshold: 6, Window: time.Hour}}}
	for _, tc := range []struct {
		name  string
		every time.Duration
		n     int
		want  int
	}{
		{"3 within 10 minutes, by a nanosecond", 5*time.Minute - 1, 3, 1},
		{"3 spanning exactly 10 minutes", 5 * time.Minute, 3, 0},
		{"6 within an hour, by a nanosecond", 12*time.Minute - 1, 6, 1},
		{"6 spanning exactly an hour", 12 * time.Minute, 6, 0},
		{"5 within an hour: under both", 11 * time.Minute, 5, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, opts)
			var evs []abusewatch.Event
			for i := range tc.n {
				evs = append(evs, at("45.134.26.17", t0.Add(time.Duration(i)*tc.every), uint16(40000+i)))
			}
			if got := rules(h.feed(evs...))["per-address"]; got != tc.want {
				t.Errorf("%d per-address incidents, want %d", got, tc.want)
			}
		})
	}
}

func TestNetworkRuleAtItsBoundaries(t *testing.T) {
	opts := correlate.Options{Threshold: 5, Window: 10 * time.Minute,
		Network: correlate.NetworkRule{SetRule: correlate.SetRule{Count: 5, Window: time.Hour}}}
	for _, tc := range []struct {
		name  string
		addrs int
		every time.Duration
		want  int
	}{
		{"5 addresses within the hour, by a nanosecond", 5, 15*time.Minute - 1, 1},
		{"5 addresses spanning exactly the hour", 5, 15 * time.Minute, 0},
		{"4 addresses", 4, time.Minute, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, opts)
			var evs []abusewatch.Event
			for i := range tc.addrs {
				evs = append(evs, at(fmt.Sprintf("45.134.26.%d", 10+i), t0.Add(time.Duration(i)*tc.every), 40000))
			}
			if got := rules(h.feed(evs...))["network"]; got != tc.want {
				t.Errorf("%d network incidents, want %d", got, tc.want)
			}
		})
	}
}

func TestThirtyAddressesOfOneNetworkMakeOneNetworkIncident(t *testing.T) {
	h := newHarness(t, correlate.Options{Threshold: 5, Window: 10 * time.Minute,
		Network: correlate.NetworkRule{SetRule: correlate.SetRule{Count: 10, Window: time.Hour}, Sizes: []int{24, 16}}})
	var all []abusewatch.Incident
	// Thirty addresses, two attempts each (under the per-address threshold), in batches
	// of three addresses as a daemon would commit them.
	for i := range 30 {
		a := fmt.Sprintf("45.134.26.%d", 100+i)
		all = append(all, h.feed(at(a, t0.Add(time.Duration(i)*time.Minute), 50000), at(a, t0.Add(time.Duration(i)*time.Minute+time.Second), 50001))...)
	}
	ids := map[string]bool{}
	var last abusewatch.Incident
	for _, inc := range all {
		if inc.Rule != "network" || inc.Key != "net:45.134.26.0/24" {
			if inc.Rule == "per-address" {
				t.Fatalf("a per-address incident: %+v", inc)
			}
			continue
		}
		ids[inc.ID] = true
		last = inc
	}
	if len(ids) != 1 {
		t.Fatalf("the /24 made %d incidents, want one that grows", len(ids))
	}
	if last.Count != 60 || last.AdminOnly || last.Network.String() != "45.134.26.0/24" || !last.Addr.IsValid() {
		t.Errorf("network incident = %+v; want 60 events, reportable, about 45.134.26.0/24", last)
	}
	// The /16 saw the same thirty addresses: one incident too, not thirty.
	if n := rules(all)["network"]; n < 2 {
		t.Errorf("network incidents = %d, want the /24 and the /16", n)
	}
}

func TestPortScanOfBareSYNsIsForTheAdminOnly(t *testing.T) {
	for _, tc := range []struct {
		name      string
		ports     int
		flags     string
		want      int
		adminOnly bool
	}{
		{"10 ports of bare SYNs", 10, "SYN", 1, true},
		{"9 ports", 9, "SYN", 0, false},
		// A logged packet with ACK completed nothing either (review 21b M1): before,
		// these were taken as connections and the scan was reportable.
		{"10 ports of ACK PSH packets", 10, "ACK PSH", 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, correlate.Options{Threshold: 5, Window: 10 * time.Minute,
				Reportable: []abusewatch.Class{"auth-failure", "port-probe"},
				PortScan:   correlate.SetRule{Count: 10, Window: time.Minute}})
			var evs []abusewatch.Event
			for i := range tc.ports {
				evs = append(evs, abusewatch.Event{Time: t0.Add(time.Duration(i) * time.Second), Class: "port-probe",
					Addr: netip.MustParseAddr("193.32.162.5"), Host: "fw1", Proto: "TCP", Flags: tc.flags, LocalPort: uint16(20 + i)})
			}
			var scans []abusewatch.Incident
			for _, inc := range h.feed(evs...) {
				if inc.Rule == "port-scan" {
					scans = append(scans, inc)
				}
			}
			if len(scans) != tc.want {
				t.Fatalf("%d port-scan incidents, want %d", len(scans), tc.want)
			}
			if tc.want == 1 && scans[0].AdminOnly != tc.adminOnly {
				t.Errorf("AdminOnly = %v, want %v", scans[0].AdminOnly, tc.adminOnly)
			}
		})
	}
}

func TestSweepIsOneServiceOnSeveralHosts(t *testing.T) {
	for _, tc := range []struct {
		name     string
		hosts    []string
		services []string
		want     int
	}{
		{"sshd on 3 hosts", []string{"web1", "web2", "db1"}, []string{"sshd", "sshd", "sshd"}, 1},
		{"sshd on 2 hosts", []string{"web1", "web2"}, []string{"sshd", "sshd"}, 0},
		{"3 services on 3 hosts", []string{"web1", "web2", "db1"}, []string{"sshd", "dovecot", "postfix"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, correlate.Options{Threshold: 5, Window: 10 * time.Minute, Sweep: correlate.SetRule{Count: 3, Window: time.Hour}})
			var evs []abusewatch.Event
			for i, host := range tc.hosts {
				e := at("193.32.162.9", t0.Add(time.Duration(i)*time.Minute), uint16(40000+i))
				e.Host, e.Service = host, tc.services[i]
				evs = append(evs, e)
			}
			incs := h.feed(evs...)
			if got := rules(incs)["sweep"]; got != tc.want {
				t.Fatalf("%d sweep incidents, want %d", got, tc.want)
			}
			for _, inc := range incs {
				if inc.Rule == "sweep" && len(inc.Hosts) != 3 {
					t.Errorf("sweep hosts = %v", inc.Hosts)
				}
			}
		})
	}
}

// One attacker, once a week for 180 days, two attempts a visit: never near a short
// window's threshold, found by recurrence.
func TestWeeklyAttackerOverHalfAYearIsARecurrence(t *testing.T) {
	h := newHarness(t, correlate.Options{Threshold: 5, Window: 10 * time.Minute,
		Windows:    []correlate.Window{{Threshold: 20, Window: 24 * time.Hour}},
		Recurrence: correlate.RecurrenceRule{Days: 10, Period: 180 * 24 * time.Hour, Gap: 30 * 24 * time.Hour}})
	start := time.Date(2026, 5, 25, 3, 17, 0, 0, time.UTC)
	var ids []string
	var last abusewatch.Incident
	visits := 0
	for day := 0; day < 180; day += 7 {
		visits++
		v := start.AddDate(0, 0, day)
		for _, inc := range h.feed(at("80.94.95.115", v, uint16(30000+day)), at("80.94.95.115", v.Add(40*time.Second), uint16(31000+day))) {
			if inc.Rule != "recurrence" {
				t.Fatalf("visit %d made a %s incident", visits, inc.Rule)
			}
			if inc.Network.String() != "80.94.95.115/32" {
				t.Fatalf("visit %d: a recurrence of %s, want the address alone", visits, inc.Network)
			}
			if len(ids) == 0 && visits != 10 {
				t.Fatalf("the recurrence appeared on visit %d, want the 10th", visits)
			}
			if len(ids) == 0 || ids[len(ids)-1] != inc.ID {
				ids = append(ids, inc.ID)
			}
			last = inc
		}
	}
	if len(ids) != 1 {
		t.Fatalf("recurrence incidents %v, want one that grows", ids)
	}
	// From its first event: an abuse desk finds a dynamic address's customer by it.
	if last.Count != 2*visits || !last.First.Equal(start) || last.AdminOnly || len(last.Evidence) == 0 {
		t.Errorf("recurrence = %+v; want %d events from %s, reportable, with evidence", last, 2*visits, start)
	}
}

// A batch may end between the lines of one login: the incident growing by the next
// batch counts that connection once.
func TestAConnectionSplitBetweenBatchesCountsOnce(t *testing.T) {
	h := newHarness(t, correlate.Options{Threshold: 3, Window: 10 * time.Minute})
	a := "80.94.95.115"
	first := h.feed(at(a, t0, 40001), at(a, t0.Add(time.Second), 40001), at(a, t0.Add(2*time.Second), 40002),
		at(a, t0.Add(3*time.Second), 40002), at(a, t0.Add(4*time.Second), 40003))
	if len(first) != 1 || first[0].Attempts != 3 {
		t.Fatalf("first batch: %+v; want one incident of 3 connections", first)
	}
	grown := h.feed(at(a, t0.Add(5*time.Second), 40003), at(a, t0.Add(6*time.Second), 40004))
	if len(grown) != 1 || grown[0].ID != first[0].ID || grown[0].Attempts != 4 || grown[0].Count != 7 {
		t.Errorf("grown: %+v; want the same incident, 4 connections in 7 lines", grown)
	}
}

// A recurrence claims no more connections than there were: each failed login writes
// several lines (three here), which the daily counters count one by one.
func TestRecurrenceNeverOverstatesTheConnections(t *testing.T) {
	h := newHarness(t, correlate.Options{Threshold: 5, Window: 10 * time.Minute,
		Recurrence: correlate.RecurrenceRule{Days: 4, Period: 180 * 24 * time.Hour, Gap: 30 * 24 * time.Hour}})
	start := time.Date(2026, 5, 25, 3, 17, 0, 0, time.UTC)
	var last abusewatch.Incident
	const visits, conns, lines = 6, 2, 3
	for v := range visits {
		at0 := start.AddDate(0, 0, 7*v)
		for c := range conns {
			for l := range lines {
				for _, inc := range h.feed(at("80.94.95.115", at0.Add(time.Duration(60*c+l)*time.Second), uint16(30000+10*v+c))) {
					if inc.Rule == "recurrence" {
						last = inc
					}
				}
			}
		}
	}
	if last.Count != visits*conns*lines {
		t.Fatalf("recurrence = %+v; want %d log lines", last, visits*conns*lines)
	}
	// Every visit is a day with a reportable event: at least one connection each.
	if last.Attempts > visits*conns || last.Attempts < visits {
		t.Errorf("recurrence claims %d connections; there were %d, on %d days", last.Attempts, visits*conns, visits)
	}
}

// An attacker back for three days in a row every week: the recurrence counts every
// event of every day, the days in a row as well as those apart.
func TestRecurrenceCountsRunsOfDays(t *testing.T) {
	h := newHarness(t, correlate.Options{Threshold: 5, Window: 10 * time.Minute,
		Recurrence: correlate.RecurrenceRule{Days: 10, Period: 180 * 24 * time.Hour, Gap: 30 * 24 * time.Hour}})
	start := time.Date(2026, 5, 25, 3, 17, 0, 0, time.UTC)
	var last abusewatch.Incident
	events := 0
	for week := range 10 {
		for day := range 3 {
			v := start.AddDate(0, 0, 7*week+day)
			for _, inc := range h.feed(at("80.94.95.117", v, uint16(30000+10*week+day)), at("80.94.95.117", v.Add(40*time.Second), uint16(31000+10*week+day))) {
				last = inc
			}
			events += 2
		}
	}
	if last.Rule != "recurrence" || last.Count != events {
		t.Errorf("last incident = %s of %d events; want a recurrence of all %d", last.Rule, last.Count, events)
	}
}

func TestRecurrenceOfWeakClassesIsForTheAdminOnly(t *testing.T) {
	h := newHarness(t, correlate.Options{Threshold: 5, Window: 10 * time.Minute, Recurrence: correlate.RecurrenceRule{Days: 3}})
	var got []abusewatch.Incident
	for d := range 3 {
		e := at("80.94.95.116", t0.AddDate(0, 0, d), 0)
		e.Class = "http-probe"
		got = append(got, h.feed(e)...)
	}
	if len(got) != 1 || got[0].Rule != "recurrence" || !got[0].AdminOnly {
		t.Fatalf("incidents = %+v; want one admin-only recurrence", got)
	}
}

func TestRecurrenceOfANetworkWhoseAddressesEachCameOnce(t *testing.T) {
	h := newHarness(t, correlate.Options{Threshold: 5, Window: 10 * time.Minute, Recurrence: correlate.RecurrenceRule{Days: 4}})
	var got []abusewatch.Incident
	for d := range 4 {
		got = append(got, h.feed(at(fmt.Sprintf("80.94.95.%d", 20+d), t0.AddDate(0, 0, 2*d), 0))...)
	}
	if len(got) != 1 || got[0].Network.String() != "80.94.95.0/24" {
		t.Fatalf("incidents = %+v; want one recurrence of 80.94.95.0/24", got)
	}
}

func TestRateAnomalyAtItsBoundary(t *testing.T) {
	for _, tc := range []struct {
		name string
		n    int
		want int
	}{{"19 in the hour: under the minimum", 19, 0}, {"20 in the hour", 20, 1}} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, correlate.Options{Threshold: 1000, Window: time.Minute,
				Rate: correlate.RateRule{Factor: 10, Baseline: 48 * time.Hour, Min: 20}})
			var base []abusewatch.Event
			for i := range 48 { // one probe an hour for two days
				base = append(base, abusewatch.Event{Time: t0.Add(time.Duration(i-48) * time.Hour), Class: "http-probe",
					Addr: netip.MustParseAddr(fmt.Sprintf("80.94.%d.1", i)), Host: "web1"})
			}
			if incs := h.feed(base...); len(incs) != 0 {
				t.Fatalf("the baseline made incidents: %+v", incs)
			}
			var burst []abusewatch.Event
			for i := range tc.n {
				burst = append(burst, abusewatch.Event{Time: t0.Add(time.Duration(i) * time.Minute), Class: "http-probe",
					Addr: netip.MustParseAddr(fmt.Sprintf("81.94.%d.1", i)), Host: "web1"})
			}
			incs := h.feed(burst...)
			if rules(incs)["rate-anomaly"] != tc.want {
				t.Fatalf("incidents = %+v; want %d rate anomaly", incs, tc.want)
			}
			if tc.want == 1 && (!incs[0].AdminOnly || incs[0].Count != tc.n) {
				t.Errorf("rate anomaly = %+v; want admin-only, %d events", incs[0], tc.n)
			}
		})
	}
}

func TestSuccessAfterFailuresOfTheSameNetwork(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fails string
		ago   time.Duration
		want  int
	}{
		{"failures from the same /24 within the lookback", "81.2.69.10", 24*time.Hour - time.Second, 1},
		{"failures exactly at the lookback", "81.2.69.10", 24 * time.Hour, 1},
		{"failures before the lookback", "81.2.69.10", 24*time.Hour + time.Second, 0},
		{"failures from another /24", "81.2.70.10", time.Hour, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, correlate.Options{Threshold: 5, Window: 10 * time.Minute, SuccessLookback: 24 * time.Hour})
			h.feed(at(tc.fails, t0.Add(-tc.ago), 40000))
			login := abusewatch.Event{Time: t0, Class: abusewatch.ClassAuthSuccess, Addr: netip.MustParseAddr("81.2.69.20"),
				Service: "sshd", Host: "web1", Line: "Accepted password for deploy"}
			incs := h.feed(login)
			if got := rules(incs)["success-after-failure"]; got != tc.want {
				t.Fatalf("incidents = %+v; want %d success-after-failure", incs, tc.want)
			}
			if tc.want == 1 {
				inc := incs[0]
				if !inc.AdminOnly || !inc.Success || inc.Severity != 5 || inc.Evidence[len(inc.Evidence)-1].Class != abusewatch.ClassAuthSuccess {
					t.Errorf("incident = %+v; want admin-only, success, severity 5, the login in the evidence", inc)
				}
			}
		})
	}
}

func TestSpoofableNetworkEvidenceIsForTheAdminOnly(t *testing.T) {
	for _, tc := range []struct {
		name      string
		withLogin bool
		adminOnly bool
	}{{"UDP probes alone", false, true}, {"UDP probes and one address's failed login: fewer than the rule's 3", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, correlate.Options{Threshold: 5, Window: 10 * time.Minute,
				Reportable: []abusewatch.Class{"auth-failure", "fw-drop"},
				Network:    correlate.NetworkRule{SetRule: correlate.SetRule{Count: 3, Window: time.Hour}}})
			var evs []abusewatch.Event
			for i := range 3 {
				evs = append(evs, abusewatch.Event{Time: t0.Add(time.Duration(i) * time.Second), Class: "fw-drop", Proto: "UDP",
					Addr: netip.MustParseAddr(fmt.Sprintf("94.102.61.%d", 1+i)), Host: "fw1", LocalPort: 53})
			}
			if tc.withLogin {
				evs = append(evs, at("94.102.61.9", t0.Add(5*time.Second), 40000))
			}
			incs := h.feed(evs...)
			if len(incs) != 1 || incs[0].Rule != "network" || incs[0].AdminOnly != tc.adminOnly {
				t.Fatalf("incidents = %+v; want one network incident, AdminOnly %v", incs, tc.adminOnly)
			}
		})
	}
}

func TestPrivateNetworksMakeNoNetworkIncident(t *testing.T) {
	h := newHarness(t, correlate.Options{Threshold: 5, Window: 10 * time.Minute,
		Network:    correlate.NetworkRule{SetRule: correlate.SetRule{Count: 2, Window: time.Hour}},
		Recurrence: correlate.RecurrenceRule{Days: 1}, SuccessLookback: time.Hour})
	for _, a := range []string{"10.0.0.1", "10.0.0.2", "192.168.1.1", "192.168.1.2", "203.0.113.1", "203.0.113.2"} {
		if incs := h.feed(at(a, t0, 40000)); len(incs) != 0 {
			t.Errorf("%s made %+v", a, incs)
		}
	}
}

func TestRecorrelateAppliesANewRuleToOldEvents(t *testing.T) {
	h := newHarness(t, correlate.Options{Threshold: 5, Window: 10 * time.Minute})
	for i := range 12 {
		if incs := h.feed(at(fmt.Sprintf("45.134.26.%d", 1+i), t0.Add(time.Duration(i)*time.Minute), 40000)); len(incs) != 0 {
			t.Fatalf("the old rules made %+v", incs)
		}
	}
	c, err := correlate.New(correlate.Options{Threshold: 5, Window: 10 * time.Minute,
		Network: correlate.NetworkRule{SetRule: correlate.SetRule{Count: 10, Window: time.Hour}}}, h.st, h.st, h.st)
	if err != nil {
		t.Fatal(err)
	}
	var got []abusewatch.Incident
	n, err := c.Recorrelate(context.Background(), h.st, t0.Add(-time.Hour), t0.Add(time.Hour), func(incs []abusewatch.Incident) error {
		got = append(got, incs...)
		return h.st.PutIncidents(incs)
	})
	if err != nil || n != 1 || len(got) != 1 || got[0].Rule != "network" || got[0].Count != 12 {
		t.Fatalf("Recorrelate = %d, %v, %+v; want one network incident of 12 events", n, err, got)
	}
	if !c.Recorrelated().Equal(t0.Add(time.Hour)) {
		t.Errorf("Recorrelated = %s", c.Recorrelated())
	}
	if n, through := c.Progress(); n != 12 || !through.Equal(t0.Add(11*time.Minute)) {
		t.Errorf("Progress = %d events through %s; want 12 through the last event", n, through)
	}
}

// A batch of many addresses is judged on several goroutines: it must come to what one
// goroutine does with the same batches.
func TestManyAddressesJudgedInParallelAsOneByOne(t *testing.T) {
	opts := correlate.Options{Threshold: 3, Window: 10 * time.Minute, Recurrence: correlate.RecurrenceRule{Days: 3},
		Network: correlate.NetworkRule{SetRule: correlate.SetRule{Count: 5, Window: time.Hour}}}
	var days [][]abusewatch.Event
	for d := range 5 {
		var day []abusewatch.Event
		for i := range 200 {
			addr := fmt.Sprintf("80.94.%d.%d", 90+i%4, 1+i)
			for k := range 1 + i%4 {
				day = append(day, at(addr, t0.AddDate(0, 0, d).Add(time.Duration(i)*time.Second+time.Duration(k)*time.Minute), uint16(40000+k)))
			}
		}
		days = append(days, day)
	}
	judge := func(procs int) map[string]abusewatch.Incident {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		h := newHarness(t, opts)
		got := map[string]abusewatch.Incident{}
		for _, day := range days {
			for _, inc := range h.feed(day...) {
				got[inc.ID] = inc
			}
		}
		return got
	}
	parallel, serial := judge(4), judge(1)
	if len(serial) < 200 || len(parallel) != len(serial) {
		t.Fatalf("%d incidents in parallel, %d one by one (want 200 or more)", len(parallel), len(serial))
	}
	for id, s := range serial {
		if p, ok := parallel[id]; !ok || p.Count != s.Count || p.Rule != s.Rule || !p.Last.Equal(s.Last) || p.AdminOnly != s.AdminOnly {
			t.Errorf("incident %s (%s): %+v in parallel, %+v one by one", id, s.Key, p, s)
		}
	}
}

// A pass that starts inside an incident made before grows that incident (same ID), as
// the live rules would have, though the events it reads do not reach back to the
// incident's start.
func TestRecorrelateGrowsTheIncidentOpenAtItsStart(t *testing.T) {
	opts := correlate.Options{Threshold: 3, Window: 10 * time.Minute}
	h := newHarness(t, opts)
	var made []abusewatch.Incident
	for i := range 16 { // an attempt every 4 minutes for an hour: one incident
		made = append(made, h.feed(at("45.134.26.17", t0.Add(time.Duration(4*i)*time.Minute), uint16(40000+i)))...)
	}
	if len(made) == 0 || made[len(made)-1].Count != 16 || made[0].ID != made[len(made)-1].ID {
		t.Fatalf("live: %+v, want one incident of 16 events", made)
	}
	// One more, stored by a daemon that stopped before judging it.
	if _, err := h.st.Commit([]abusewatch.Event{at("45.134.26.17", t0.Add(64*time.Minute), 40016)}, nil); err != nil {
		t.Fatal(err)
	}
	c, err := correlate.New(opts, h.st, h.st, h.st)
	if err != nil {
		t.Fatal(err)
	}
	var got []abusewatch.Incident
	if _, err := c.Recorrelate(context.Background(), h.st, t0.Add(62*time.Minute), t0.Add(2*time.Hour), func(incs []abusewatch.Incident) error {
		got = append(got, incs...)
		return h.st.PutIncidents(incs)
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != made[0].ID || got[0].Count != 17 {
		t.Fatalf("Recorrelate from inside the incident: %+v; want incident %s grown to 17 events", got, made[0].ID)
	}
}

// KeysAround names the keys the network and recurrence rules give their incidents about
// the networks of an address, so that a question about any address of them finds them.
func TestKeysAroundAreTheKeysOfTheNetworksIncidents(t *testing.T) {
	h := newHarness(t, correlate.Options{Threshold: 5, Window: 10 * time.Minute,
		Network:    correlate.NetworkRule{SetRule: correlate.SetRule{Count: 3, Window: time.Hour}, Sizes: []int{24, 16, 8}},
		Recurrence: correlate.RecurrenceRule{Days: 4}})
	var incs []abusewatch.Incident
	for d := range 4 {
		for i := range 3 {
			incs = append(incs, h.feed(at(fmt.Sprintf("80.94.95.%d", 20+4*d+i), t0.AddDate(0, 0, 2*d).Add(time.Duration(i)*time.Minute), 0))...)
		}
	}
	around := correlate.KeysAround(netip.MustParsePrefix("80.94.95.250/32"))
	for _, inc := range incs {
		if inc.AboutNetwork() && !slices.Contains(around, inc.Key) {
			t.Errorf("the %s incident's key %s is not among the keys around 80.94.95.250: %v", inc.Rule, inc.Key, around)
		}
	}
	if r := rules(incs); r["network"] == 0 || r["recurrence"] == 0 {
		t.Fatalf("incidents by rule %v; want network and recurrence incidents", r)
	}
	for p, want := range map[string][]string{
		"80.94.95.0/24":   {"net:80.94.0.0/16", "net:80.0.0.0/8"},
		"80.0.0.0/8":      nil,
		"2001:db8::1/128": {"net:2001:db8::/64", "recur:2001:db8::/64", "net:2001:db8::/48", "net:2001:db8::/32"},
	} {
		if got := correlate.KeysAround(netip.MustParsePrefix(p)); !slices.Equal(got, want) {
			t.Errorf("KeysAround(%s) = %v, want %v", p, got, want)
		}
	}
}

// Scanners often send from one fixed source port: the same port from different
// addresses of a network is a connection from each, not one. The incident names each
// address.
func TestANetworksConnectionsAreCountedByAddress(t *testing.T) {
	h := newHarness(t, correlate.Options{Threshold: 50, Window: 10 * time.Minute,
		Network: correlate.NetworkRule{SetRule: correlate.SetRule{Count: 10, Window: time.Hour}}})
	var evs []abusewatch.Event
	for i := range 12 {
		for l := range 3 { // one failed login, three lines
			evs = append(evs, at(fmt.Sprintf("45.134.26.%d", 10+i), t0.Add(time.Duration(10*i+l)*time.Second), 61000))
		}
	}
	var net abusewatch.Incident
	for _, batch := range [][]abusewatch.Event{evs[:30], evs[30:]} { // the last two addresses grow it
		for _, inc := range h.feed(batch...) {
			if inc.Rule == "network" {
				net = inc
			}
		}
	}
	if net.Attempts != 12 || net.Count != 36 {
		t.Errorf("network incident: %d connections in %d lines; want 12 in 36", net.Attempts, net.Count)
	}
	// It names every address, not only those of the lines it keeps.
	if len(net.Sources) != 12 || net.Sources[0].String() != "45.134.26.10" || net.Sources[11].String() != "45.134.26.21" {
		t.Errorf("network incident sources %v; want the 12 addresses, sorted", net.Sources)
	}
}
