package correlate_test

import (
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
