package correlate

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/abusewatch/abusewatch"
)

// attempts counts what a plain reading of its rule counts: distinct (host, service,
// port), plus each portless record of a service that gives no port anywhere in evs.
func TestAttemptsCountsConnections(t *testing.T) {
	want := func(evs []*abusewatch.Event) int {
		conns, ported := map[string]bool{}, map[string]bool{}
		for _, e := range evs {
			if e.Port != 0 {
				conns[fmt.Sprintf("%s|%s|%d", e.Host, e.Service, e.Port)] = true
				ported[e.Host+"|"+e.Service] = true
			}
		}
		n := len(conns)
		for _, e := range evs {
			if e.Port == 0 && !ported[e.Host+"|"+e.Service] {
				n++
			}
		}
		return n
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct{ events, services, ports int }{
		{0, 1, 1}, {1, 1, 1}, {5, 1, 3}, {40, 2, 10}, {200, 3, 50},
		{100, 12, 5}, // more services than the look-through holds: the map takes over
		{1000, 40, 400},
	} {
		for round := range 20 {
			evs := make([]*abusewatch.Event, c.events)
			for i := range evs {
				e := &abusewatch.Event{Host: fmt.Sprint("h", rng.IntN(2)), Service: fmt.Sprint("s", rng.IntN(c.services))}
				if rng.IntN(4) > 0 {
					e.Port = uint16(1 + rng.IntN(c.ports))
				}
				evs[i] = e
			}
			if got, want := attempts(evs), want(evs); got != want {
				t.Fatalf("%+v round %d: attempts = %d, want %d", c, round, got, want)
			}
		}
	}
}

// ownStrings copies every string of an event (evidence must not keep a stored block's
// memory alive) and keeps their values.
func TestOwnStringsCopiesEveryString(t *testing.T) {
	e := abusewatch.Event{Class: abusewatch.ClassInvalidUser, Name: "sshd-invalid", User: "admin", Service: "sshd",
		Host: "web1", Source: "/var/log/auth.log", Line: "Invalid user admin from 45.134.26.17 port 50522",
		Proto: "TCP", Flags: "SYN ACK", Port: 50522}
	got := ownStrings(e)
	if got != e {
		t.Fatalf("ownStrings = %+v, want %+v", got, e)
	}
	strs := func(e abusewatch.Event) []string {
		return []string{string(e.Class), e.Name, e.User, e.Service, e.Host, e.Source, e.Line, e.Proto, e.Flags}
	}
	for i, s := range strs(got) {
		if unsafe.StringData(s) == unsafe.StringData(strs(e)[i]) {
			t.Errorf("field %d (%q) shares the original's memory", i, s)
		}
	}
}

// atLeastDistinct agrees with a count of the distinct keys, for keys in runs (a visit's
// events) and scattered, below and above its short list's 32.
func TestAtLeastDistinctAgreesWithACount(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	for range 500 {
		var evs []*abusewatch.Event
		for size := r.IntN(200); len(evs) < size; {
			port := uint16(r.IntN(50))
			for range 1 + r.IntN(4) {
				evs = append(evs, &abusewatch.Event{LocalPort: port})
			}
		}
		distinct := map[uint16]bool{}
		for _, e := range evs {
			distinct[e.LocalPort] = true
		}
		for _, n := range []int{1, 3, 10, 33, 49} {
			want := len(distinct) >= n
			if got := atLeastDistinct(evs, n, func(e *abusewatch.Event) uint16 { return e.LocalPort }); got != want {
				t.Fatalf("%d events, %d distinct: atLeastDistinct(%d) = %v", len(evs), len(distinct), n, got)
			}
		}
	}
}

// In a pass over history an incident that a windowed rule makes keeps its evidence's
// strings in the frame they were read from, and gets its own once it grows; outside a
// pass, evidence always owns its strings, and what an incident owned is not copied
// again.
func TestEvidenceSharesAFrameOnlyUntilItGrows(t *testing.T) {
	var b strings.Builder
	for i := range 20 {
		fmt.Fprintf(&b, "Failed password for root from 45.134.26.17 port 500%d ssh2\n", 10+i)
	}
	frame := b.String() // 59 bytes a line
	inFrame := func(s string) bool {
		p, lo := uintptr(unsafe.Pointer(unsafe.StringData(s))), uintptr(unsafe.Pointer(unsafe.StringData(frame)))
		return p >= lo && p < lo+uintptr(len(frame))
	}
	a := netip.MustParseAddr("45.134.26.17")
	var evs []*abusewatch.Event
	for i := range 20 {
		line := frame[i*59 : i*59+58]
		evs = append(evs, &abusewatch.Event{Time: time.Date(2026, 5, 1, 0, 0, i, 0, time.UTC), Seq: uint64(i + 1), Addr: a,
			Class: abusewatch.ClassAuthFailure, Host: "web1", Service: "sshd", Line: line, Source: frame[:5], Port: uint16(50000 + i)})
	}
	lines := func(inc abusewatch.Incident) (shared, own int) {
		for _, e := range inc.Evidence {
			for _, s := range []string{e.Line, e.Source} {
				if inFrame(s) {
					shared++
				} else {
					own++
				}
			}
		}
		return shared, own
	}
	r := rule{name: "per-address", key: "ip:" + a.String(), addr: a, network: netip.PrefixFrom(a, 32)}
	for _, pass := range []bool{true, false} {
		c := &Correlator{opts: Options{Evidence: 6, Reportable: DefaultReportable()}}
		if pass {
			c.pass = 1
		}
		made := c.build(r, evs[:10], false)
		if shared, own := lines(made); len(made.Evidence) != 6 || (pass && own > 0) || (!pass && shared > 0) {
			t.Errorf("pass %v: made with %d evidence events, %d strings in the frame and %d of their own", pass, len(made.Evidence), shared, own)
		}
		grown := c.grow(made, evs[10:], false)
		if shared, _ := lines(grown); len(grown.Evidence) != 6 || shared > 0 {
			t.Errorf("pass %v: grown with %d evidence events, %d strings still in the frame", pass, len(grown.Evidence), shared)
		}
		if !pass && unsafe.StringData(grown.Evidence[0].Line) != unsafe.StringData(made.Evidence[0].Line) {
			t.Errorf("outside a pass, growing copied the evidence the incident owned already")
		}
		for i, e := range grown.Evidence {
			if want := []uint64{1, 2, 10, 16, 19, 20}[i]; e.Seq != want || e.Line != evs[want-1].Line {
				t.Errorf("pass %v: evidence %d is event %d %q, want %d", pass, i, e.Seq, e.Line, want)
			}
		}
	}
}
