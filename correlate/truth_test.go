package correlate_test

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/correlate"
)

// probe is one firewall line: a packet from addr's port sport to our port dport.
func probe(addr string, t time.Time, sport, dport uint16, proto, flags string) abusewatch.Event {
	return abusewatch.Event{Time: t, Class: "port-probe", Addr: netip.MustParseAddr(addr), Port: sport, LocalPort: dport,
		Service: "kernel", Host: "web1", Proto: proto, Flags: flags, Line: "[UFW BLOCK] SRC=" + addr}
}

// A connection is known by our port too, when the line names it: a scanner that keeps
// one source port for a whole scan tried each port of ours, and the several lines of
// one connection still count once.
func TestConnectionsCountOurPorts(t *testing.T) {
	a := "45.134.26.50"
	for _, tc := range []struct {
		name string
		evs  func() []abusewatch.Event
		want int
	}{
		{"25 ports of ours from one source port", func() (out []abusewatch.Event) {
			for i := range 25 {
				out = append(out, probe(a, t0.Add(time.Duration(i)*5*time.Second), 4444, uint16(3000+i), "TCP", "ACK"))
			}
			return out
		}, 25},
		{"one port of ours, one source port, 25 packets", func() (out []abusewatch.Event) {
			for i := range 25 {
				out = append(out, probe(a, t0.Add(time.Duration(i)*5*time.Second), 4444, 3000, "TCP", "ACK"))
			}
			return out
		}, 1},
		{"one port of ours from 3 source ports", func() (out []abusewatch.Event) {
			for i := range 3 {
				out = append(out, probe(a, t0.Add(time.Duration(i)*time.Second), uint16(4444+i), 22, "TCP", "SYN"))
			}
			return out
		}, 3},
		{"sshd lines name no port of ours: one login's lines once", func() []abusewatch.Event {
			e := at(a, t0, 40000)
			pam := e
			pam.Port = 0
			return []abusewatch.Event{e, pam, e}
		}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs := tc.evs()
			ptrs := make([]*abusewatch.Event, len(evs))
			for i := range evs {
				ptrs[i] = &evs[i]
			}
			if got := correlate.Connections(ptrs); got != tc.want {
				t.Errorf("Connections = %d, want %d", got, tc.want)
			}
		})
	}
}

// The port scan of F10: 25 ACK packets from one source port to 25 ports of ours, one
// every 5 s, is an incident of 25 connections; for the admin only even with port-probe
// reportable (which check-config now refuses): a logged ACK is as forgeable as a SYN
// (review 21b M1; it was reportable before).
func TestPortScanCountsEveryPortTried(t *testing.T) {
	h := newHarness(t, correlate.Options{Threshold: 5, Window: 10 * time.Minute,
		Reportable: []abusewatch.Class{abusewatch.ClassAuthFailure, "port-probe"},
		PortScan:   correlate.SetRule{Count: 20, Window: 10 * time.Minute}})
	var evs []abusewatch.Event
	for i := range 25 {
		evs = append(evs, probe("45.134.26.50", t0.Add(time.Duration(i)*5*time.Second), 4444, uint16(3000+i), "TCP", "ACK"))
	}
	var scan *abusewatch.Incident
	incs := h.feed(evs...)
	for i := range incs {
		if incs[i].Rule == "port-scan" {
			scan = &incs[i]
		}
	}
	if scan == nil || scan.Attempts != 25 || scan.Count != 25 || !scan.AdminOnly {
		t.Fatalf("incidents = %+v; want an admin-only port scan of 25 connections, 25 lines", incs)
	}
}

// syn is one bare SYN to our port 22: a packet anyone can forge.
func syn(addr string, t time.Time) abusewatch.Event {
	return probe(addr, t, 4444, 22, "TCP", "SYN")
}

// A network incident is reportable only when the network rule's count of distinct
// addresses have reportable, unforgeable evidence in it; otherwise it is for the admin
// only, and it still holds every event. Reportable, it holds and names those addresses
// alone. Events arrive in one batch, or one address a
// batch (then an admin-only incident grows, and the evidence of the addresses before
// the batch counts too).
func TestNetworkIncidentNeedsEnoughReportableAddresses(t *testing.T) {
	opts := correlate.Options{Threshold: 5, Window: 10 * time.Minute,
		Network: correlate.NetworkRule{SetRule: correlate.SetRule{Count: 10, Window: time.Hour}}}
	for _, tc := range []struct {
		name          string
		syns, fails   int // addresses sending one bare SYN, addresses with one failed login
		failsFirst    bool
		wantAdminOnly bool
	}{
		{"29 SYN-only addresses and 1 failed login (F1)", 29, 1, false, true},
		{"21 SYN-only and 9 failed logins: one short", 21, 9, false, true},
		{"20 SYN-only and 10 failed logins: the count", 20, 10, false, false},
		{"10 failed logins, then 20 SYN-only", 20, 10, true, false},
		{"9 failed logins, then 21 SYN-only", 21, 9, true, true},
		{"0 SYN-only and 10 failed logins", 0, 10, false, false},
		{"30 SYN-only", 30, 0, false, true},
	} {
		for _, batched := range []bool{false, true} {
			name := tc.name + map[bool]string{false: ", one batch", true: ", a batch each"}[batched]
			t.Run(name, func(t *testing.T) {
				h := newHarness(t, opts)
				var evs []abusewatch.Event
				synAt := func(i int) abusewatch.Event { return syn(fmt.Sprintf("103.145.13.%d", 1+i), t0) }
				failAt := func(i int) abusewatch.Event { return at(fmt.Sprintf("103.145.13.%d", 200+i), t0, 38805) }
				if tc.failsFirst {
					for i := range tc.fails {
						evs = append(evs, failAt(i))
					}
				}
				for i := range tc.syns {
					evs = append(evs, synAt(i))
				}
				if !tc.failsFirst {
					for i := range tc.fails {
						evs = append(evs, failAt(i))
					}
				}
				for i := range evs {
					evs[i].Time = t0.Add(time.Duration(i) * time.Minute)
				}
				var last *abusewatch.Incident
				feed := func(evs ...abusewatch.Event) {
					for _, inc := range h.feed(evs...) {
						if inc.Rule == "network" {
							last = &inc
						}
					}
				}
				if batched {
					for _, e := range evs {
						feed(e)
					}
				} else {
					feed(evs...)
				}
				// For the admin only, it holds every event; reportable, only those of
				// the addresses that failed a login, which it alone names (review 21b
				// H2: it held and named the SYN-only ones too, and the report did).
				want := len(evs)
				if !tc.wantAdminOnly {
					want = tc.fails
				}
				if last == nil || last.Count != want {
					t.Fatalf("network incident = %+v; want one of %d events", last, want)
				}
				if last.AdminOnly != tc.wantAdminOnly {
					t.Errorf("AdminOnly = %v, want %v", last.AdminOnly, tc.wantAdminOnly)
				}
				if !tc.wantAdminOnly && (len(last.Sources) != tc.fails || slices.ContainsFunc(last.Evidence, func(e abusewatch.Event) bool { return e.Class != abusewatch.ClassAuthFailure })) {
					t.Errorf("sources %v, evidence %+v; want the %d addresses that failed a login, their lines", last.Sources, last.Evidence, tc.fails)
				}
			})
		}
	}
}

// login is one successful login of addr.
func login(addr string, t time.Time) abusewatch.Event {
	return abusewatch.Event{Time: t, Class: abusewatch.ClassAuthSuccess, Addr: netip.MustParseAddr(addr),
		Port: 50999, Service: "sshd", Host: "web1", Line: "Accepted password for alice"}
}

// stored is the newest stored incident of key, and whether there is one.
func (h *harness) stored(key string) (abusewatch.Incident, bool) {
	h.t.Helper()
	incs, err := h.st.IncidentsOfKeys([]string{key}, time.Time{})
	if err != nil {
		h.t.Fatal(err)
	}
	if len(incs) == 0 {
		return abusewatch.Incident{}, false
	}
	return incs[len(incs)-1], true
}

// A successful login marks every incident that holds its address with Success (never
// reported outside: it may be our own user), whether it came before the failures or
// after them, within success_lookback of them, and whether it comes in the failures'
// batch or one of its own; an address's login marks its network's incident, another
// address's of the /24 does not.
func TestALoginMarksTheIncidentsOfItsAddress(t *testing.T) {
	const lb = time.Hour
	opts := correlate.Options{Threshold: 5, Window: 10 * time.Minute, SuccessLookback: lb,
		Network: correlate.NetworkRule{SetRule: correlate.SetRule{Count: 10, Window: time.Hour}}}
	fails := func(addr string, start time.Time, n int) (out []abusewatch.Event) {
		for i := range n {
			out = append(out, at(addr, start.Add(time.Duration(i)*time.Minute), uint16(40000+i)))
		}
		return out
	}
	netFails := func(start time.Time) (out []abusewatch.Event) { // 12 addresses of 103.145.12.0/24, one each
		for i := range 12 {
			out = append(out, at(fmt.Sprintf("103.145.12.%d", 1+i), start.Add(time.Duration(i)*time.Minute), 40000))
		}
		return out
	}
	last := t0.Add(5 * time.Minute) // of fails(a, t0, 6)
	const a = "185.220.100.20"
	for _, tc := range []struct {
		name    string
		batches [][]abusewatch.Event
		key     string
		success bool
	}{
		{"login, then failures a minute later, one batch (F9)",
			[][]abusewatch.Event{append([]abusewatch.Event{login(a, t0.Add(-time.Minute))}, fails(a, t0, 6)...)}, "ip:" + a, true},
		{"login, then failures a minute later, a batch each (F9)",
			[][]abusewatch.Event{{login(a, t0.Add(-time.Minute))}, fails(a, t0, 6)}, "ip:" + a, true},
		{"login exactly success_lookback before the failures",
			[][]abusewatch.Event{{login(a, t0.Add(-lb))}, fails(a, t0, 6)}, "ip:" + a, true},
		{"login a nanosecond more before",
			[][]abusewatch.Event{{login(a, t0.Add(-lb-1))}, fails(a, t0, 6)}, "ip:" + a, false},
		{"failures, then login exactly success_lookback after the last",
			[][]abusewatch.Event{fails(a, t0, 6), {login(a, last.Add(lb))}}, "ip:" + a, true},
		{"failures, then login a nanosecond later",
			[][]abusewatch.Event{fails(a, t0, 6), {login(a, last.Add(lb+1))}}, "ip:" + a, false},
		{"another address's login",
			[][]abusewatch.Event{{login("185.220.100.21", t0.Add(-time.Minute))}, fails(a, t0, 6)}, "ip:" + a, false},
		{"network, then a member's login in a batch of its own (F2)",
			[][]abusewatch.Event{netFails(t0), {login("103.145.12.3", t0.Add(20*time.Minute))}}, "net:103.145.12.0/24", true},
		{"network and a member's login in one batch (F2)",
			[][]abusewatch.Event{append(netFails(t0), login("103.145.12.3", t0.Add(20*time.Minute)))}, "net:103.145.12.0/24", true},
		{"a member's login, then the network",
			[][]abusewatch.Event{{login("103.145.12.3", t0.Add(-30*time.Minute))}, netFails(t0)}, "net:103.145.12.0/24", true},
		{"network, then the login of an address of the /24 not in it",
			[][]abusewatch.Event{netFails(t0), {login("103.145.12.99", t0.Add(20*time.Minute))}}, "net:103.145.12.0/24", false},
		{"network and the login of an address not in it, one batch",
			[][]abusewatch.Event{append(netFails(t0), login("103.145.12.99", t0.Add(20*time.Minute)))}, "net:103.145.12.0/24", false},
		{"the login of an address not in it, then the network",
			[][]abusewatch.Event{{login("103.145.12.99", t0.Add(-30*time.Minute))}, netFails(t0)}, "net:103.145.12.0/24", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, opts)
			for _, b := range tc.batches {
				h.feed(b...)
			}
			inc, ok := h.stored(tc.key)
			if !ok {
				t.Fatalf("no incident of %s", tc.key)
			}
			if inc.Success != tc.success || (tc.success && inc.Severity != 5) {
				t.Errorf("%s: Success %v, severity %d; want Success %v", tc.key, inc.Success, inc.Severity, tc.success)
			}
		})
	}
}

// A login stored before the Correlator started (a restart), or before a pass over
// history begins, is read from the store: the failures after it still make an incident
// marked Success.
func TestALoginBeforeTheCorrelatorStartedCounts(t *testing.T) {
	const lb = time.Hour
	opts := correlate.Options{Threshold: 5, Window: 10 * time.Minute, SuccessLookback: lb}
	const a = "185.220.100.20"
	for _, tc := range []struct {
		name    string
		before  time.Duration // the login, before the first failure
		pass    bool
		success bool
	}{
		{"restart, login a minute before", time.Minute, false, true},
		{"restart, login exactly success_lookback before", lb, false, true},
		{"restart, login a nanosecond more before", lb + 1, false, false},
		{"pass, login a minute before its start", time.Minute, true, true},
		{"pass, login exactly success_lookback before", lb, true, true},
		{"pass, login a nanosecond more before", lb + 1, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, opts)
			var fails []abusewatch.Event
			for i := range 6 {
				fails = append(fails, at(a, t0.Add(time.Duration(i)*time.Minute), uint16(40000+i)))
			}
			h.feed(login(a, t0.Add(-tc.before)), at("45.134.26.1", t0.Add(-tc.before), 40000))
			if tc.pass {
				if _, err := h.st.Commit(fails, nil); err != nil {
					t.Fatal(err)
				}
			}
			c, err := correlate.New(opts, h.st, h.st, h.st)
			if err != nil {
				t.Fatal(err)
			}
			h.c = c
			var inc abusewatch.Incident
			if tc.pass {
				var got []abusewatch.Incident
				if _, err := c.Recorrelate(context.Background(), h.st, t0, t0.Add(time.Hour), func(incs []abusewatch.Incident) error {
					got = append(got, incs...)
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				if len(got) != 1 {
					t.Fatalf("the pass made %+v; want one incident", got)
				}
				inc = got[0]
			} else {
				incs := h.feed(fails...)
				if len(incs) != 1 {
					t.Fatalf("made %+v; want one incident", incs)
				}
				inc = incs[0]
			}
			if inc.Success != tc.success {
				t.Errorf("Success = %v, want %v", inc.Success, tc.success)
			}
		})
	}
}
