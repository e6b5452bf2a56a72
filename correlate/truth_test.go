package correlate_test

import (
	"fmt"
	"net/netip"
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
// every 5 s, is an incident of 25 connections, reportable when port-probe is.
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
	if scan == nil || scan.Attempts != 25 || scan.Count != 25 || scan.AdminOnly {
		t.Fatalf("incidents = %+v; want a reportable port scan of 25 connections, 25 lines", incs)
	}
}

// syn is one bare SYN to our port 22: a packet anyone can forge.
func syn(addr string, t time.Time) abusewatch.Event {
	return probe(addr, t, 4444, 22, "TCP", "SYN")
}

// A network incident is reportable only when the network rule's count of distinct
// addresses have reportable, unforgeable evidence in it; otherwise it is for the admin
// only, and it still holds every event. Events arrive in one batch, or one address a
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
				if last == nil || last.Count != len(evs) {
					t.Fatalf("network incident = %+v; want one of all %d events", last, len(evs))
				}
				if last.AdminOnly != tc.wantAdminOnly {
					t.Errorf("AdminOnly = %v, want %v", last.AdminOnly, tc.wantAdminOnly)
				}
			})
		}
	}
}
