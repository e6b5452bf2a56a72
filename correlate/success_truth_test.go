package correlate

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
)

// A login from an address whose /24 failed before is the admin's to check; what the
// incident says the address did must be what it did: its own failures are its count,
// connections and first event, and the /24's are named as the /24's (Sources, and
// their lines in the evidence, each naming its address).
func TestSuccessAfterFailuresCountsTheAddressesOwn(t *testing.T) {
	t0 := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
	login := t0.Add(time.Hour)
	port := uint16(40000)
	ev := func(addr string, at time.Time, class abusewatch.Class) abusewatch.Event {
		port++
		return abusewatch.Event{Time: at, Class: class, Addr: netip.MustParseAddr(addr), Port: port, Service: "sshd", Host: "web1",
			Line: string(class) + " from " + addr}
	}
	fails := func(addr string, at time.Time, n int) (evs []abusewatch.Event) {
		for i := range n {
			evs = append(evs, ev(addr, at.Add(time.Duration(i)*time.Minute), abusewatch.ClassAuthFailure))
		}
		return evs
	}
	ok := func(addr string) abusewatch.Event { return ev(addr, login, abusewatch.ClassAuthSuccess) }
	addrs := func(s ...string) (out []netip.Addr) {
		for _, a := range s {
			out = append(out, netip.MustParseAddr(a))
		}
		return out
	}
	for _, tc := range []struct {
		name            string
		evs             []abusewatch.Event
		none            bool // no incident
		first           time.Time
		count, attempts int
		sources         []netip.Addr
		evidenceFrom    []netip.Addr // the addresses the evidence lines name, in order
	}{{
		// The review's case: 218.92.0.9 never failed; it had 6 connections, 7 lines.
		name: "only its /24 failed", evs: append(fails("218.92.0.5", t0, 6), ok("218.92.0.9")),
		first: login, count: 1, attempts: 0, sources: addrs("218.92.0.5"),
		evidenceFrom: addrs("218.92.0.5", "218.92.0.5", "218.92.0.5", "218.92.0.5", "218.92.0.5", "218.92.0.5", "218.92.0.9"),
	}, {
		// It said 12 connections, its neighbour's too.
		name: "it and its neighbour failed", evs: slices.Concat(fails("45.134.26.70", t0, 2), fails("45.134.26.71", t0.Add(30*time.Minute), 6), []abusewatch.Event{ok("45.134.26.71")}),
		first: t0.Add(30 * time.Minute), count: 7, attempts: 6, sources: addrs("45.134.26.70", "45.134.26.71"),
		evidenceFrom: addrs("45.134.26.70", "45.134.26.70", "45.134.26.71", "45.134.26.71", "45.134.26.71", "45.134.26.71", "45.134.26.71", "45.134.26.71", "45.134.26.71"),
	}, {
		name: "only it failed", evs: append(fails("81.2.69.200", t0, 3), ok("81.2.69.200")),
		first: t0, count: 4, attempts: 3,
		evidenceFrom: addrs("81.2.69.200", "81.2.69.200", "81.2.69.200", "81.2.69.200"),
	}, {
		// Its own lines come first in the evidence; the /24's fill what room is left,
		// the one nearest the login when there is room for one.
		name: "its own lines leave room for one of its /24's", evs: slices.Concat(fails("81.2.69.201", t0, 3), fails("81.2.69.200", t0.Add(10*time.Minute), 8), []abusewatch.Event{ok("81.2.69.200")}),
		first: t0.Add(10 * time.Minute), count: 9, attempts: 8, sources: addrs("81.2.69.200", "81.2.69.201"),
		evidenceFrom: addrs("81.2.69.201", "81.2.69.200", "81.2.69.200", "81.2.69.200", "81.2.69.200", "81.2.69.200", "81.2.69.200", "81.2.69.200", "81.2.69.200", "81.2.69.200"),
	}, {
		name: "a neighbour's failure the lookback before", evs: []abusewatch.Event{ev("218.92.0.5", login.Add(-time.Hour), abusewatch.ClassAuthFailure), ok("218.92.0.9")},
		first: login, count: 1, attempts: 0, sources: addrs("218.92.0.5"), evidenceFrom: addrs("218.92.0.5", "218.92.0.9"),
	}, {
		name: "a neighbour's failure longer before", evs: []abusewatch.Event{ev("218.92.0.5", login.Add(-time.Hour-time.Nanosecond), abusewatch.ClassAuthFailure), ok("218.92.0.9")},
		none: true,
	}, {
		name: "a neighbour's failure at the login's instant", evs: []abusewatch.Event{ev("218.92.0.5", login, abusewatch.ClassAuthFailure), ok("218.92.0.9")},
		none: true,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			opts := Options{Threshold: 1000, Window: 10 * time.Minute, SuccessLookback: time.Hour}
			for _, batch := range []int{1, len(tc.evs)} {
				var got []abusewatch.Incident
				for _, inc := range appliedLive(t, opts, tc.evs, batch) {
					got = append(got, inc)
				}
				if tc.none {
					if len(got) != 0 {
						t.Errorf("batches of %d: %v; want none", batch, summaries(got))
					}
					continue
				}
				if len(got) != 1 || got[0].Rule != "success-after-failure" {
					t.Fatalf("batches of %d: %v; want one success after failures", batch, summaries(got))
				}
				inc := got[0]
				var from []netip.Addr
				for _, e := range inc.Evidence {
					from = append(from, e.Addr)
				}
				if !inc.First.Equal(tc.first) || !inc.Last.Equal(login) || inc.Count != tc.count || inc.Attempts != tc.attempts ||
					!slices.Equal(inc.Sources, tc.sources) || !slices.Equal(from, tc.evidenceFrom) || !inc.Success || !inc.AdminOnly || inc.Severity != 5 {
					t.Errorf("batches of %d: %s from %s, %d lines, %d connections, sources %v, evidence from %v; want from %s, %d lines, %d connections, sources %v, evidence from %v",
						batch, inc.Addr, inc.First, inc.Count, inc.Attempts, inc.Sources, from, tc.first, tc.count, tc.attempts, tc.sources, tc.evidenceFrom)
				}
			}
		})
	}
}
