package correlate

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
)

// A connection is a port within a short time: the lines of one come within
// connectionLife of its first, and the same port after that is another connection.
func TestAttemptsTellsConnectionsApartByTime(t *testing.T) {
	t0 := time.Date(2026, 11, 16, 22, 0, 0, 0, time.UTC)
	life := connectionLife
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	// line is a line of sshd on web1 from 45.134.26.7 (or addr), from port (0: none).
	type line struct {
		at   time.Time
		port uint16
		addr string
		svc  string
	}
	daily := func(days int, port func(d int) uint16) (out []line) {
		for d := range days {
			out = append(out, line{at: t0.AddDate(0, 0, d), port: port(d)})
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		lines []line
		want  int
	}{
		{"the review's D5: 20 logins on 20 days, ports coming back every 4 days", daily(20, func(d int) uint16 { return uint16(40000 + d%4) }), 20},
		{"20 logins on 20 days from one port", daily(20, func(int) uint16 { return 40000 }), 20},
		{"one connection's lines spread over a minute", []line{{at: at(0), port: 50522}, {at: at(20 * time.Second)}, {at: at(40 * time.Second), port: 50522},
			{at: at(time.Minute), port: 50522}}, 1},
		{"the same port just within a connection's life", []line{{at: at(0), port: 50522}, {at: at(life - time.Second), port: 50522}}, 1},
		{"the same port at a connection's life", []line{{at: at(0), port: 50522}, {at: at(life), port: 50522}}, 1},
		{"the same port just after a connection's life", []line{{at: at(0), port: 50522}, {at: at(life + time.Second), port: 50522}}, 2},
		{"a life is counted from a connection's first line, not its last", []line{{at: at(0), port: 50522}, {at: at(life - time.Second), port: 50522},
			{at: at(life + time.Second), port: 50522}, {at: at(2*life - time.Second), port: 50522}}, 2},
		{"two ports interleaved", []line{{at: at(0), port: 1000}, {at: at(time.Second), port: 2000}, {at: at(2 * time.Second), port: 1000},
			{at: at(3 * time.Second), port: 2000}, {at: at(4 * time.Second), port: 1000}}, 2},
		{"two ports interleaved, both back after a life", []line{{at: at(0), port: 1000}, {at: at(time.Second), port: 2000},
			{at: at(2 * time.Second), port: 1000}, {at: at(3 * time.Second), port: 2000},
			{at: at(life + 3*time.Second), port: 1000}, {at: at(life + 3*time.Second), port: 2000}, {at: at(life + 4*time.Second), port: 1000}}, 4},
		{"two ports interleaved, one just within, one just after", []line{{at: at(0), port: 1000}, {at: at(time.Second), port: 2000},
			{at: at(life), port: 1000}, {at: at(life + 2*time.Second), port: 2000}}, 3},
		{"lines without a port, alone, count one each", []line{{at: at(0)}, {at: at(time.Second)}, {at: at(2 * time.Hour)}}, 3},
		{"lines without a port are extra lines of the service's ported ones", []line{{at: at(0)}, {at: at(time.Second), port: 1000},
			{at: at(48 * time.Hour)}, {at: at(48*time.Hour + time.Second), port: 1000}}, 2},
		{"a line without a port of another service counts alone", []line{{at: at(0), port: 1000}, {at: at(time.Second), svc: "dovecot"}}, 2},
		{"another address's same port is another connection", []line{{at: at(0), port: 1000}, {at: at(time.Second), port: 1000, addr: "45.134.26.8"}}, 2},
		{"a line out of order counts with the connection it follows", []line{{at: at(life), port: 1000}, {at: at(0), port: 1000}}, 1},
		{"none", nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var evs []*abusewatch.Event
			for _, l := range tc.lines {
				e := &abusewatch.Event{Time: l.at, Port: l.port, Addr: netip.MustParseAddr("45.134.26.7"), Host: "web1", Service: "sshd",
					Class: abusewatch.ClassAuthFailure}
				if l.addr != "" {
					e.Addr = netip.MustParseAddr(l.addr)
				}
				if l.svc != "" {
					e.Service = l.svc
				}
				evs = append(evs, e)
			}
			if got := attempts(evs); got != tc.want {
				t.Errorf("attempts = %d, want %d", got, tc.want)
			}
			if got := Connections(evs); got != tc.want {
				t.Errorf("Connections = %d, want %d", got, tc.want)
			}
		})
	}
}

// attempts counts what a plain reading of its rule counts, whatever table it takes (a
// small one, a larger one when that fills, one on the heap past 512 connections' keys)
// and however its keys collide: a key more than connectionLife after its connection's
// first line begins a new connection; a portless line counts unless its service gives
// ports somewhere in evs.
func TestAttemptsAgreesWithAPlainCount(t *testing.T) {
	want := func(evs []*abusewatch.Event) int {
		type key struct {
			host, service string
			addr          netip.Addr
			port, local   uint16
		}
		starts, ported := map[key]time.Time{}, map[key]bool{}
		n := 0
		for _, e := range evs {
			if e.Port == 0 {
				continue
			}
			k := key{e.Host, e.Service, e.Addr, e.Port, e.LocalPort}
			ported[key{host: e.Host, service: e.Service, addr: e.Addr}] = true
			if s, ok := starts[k]; !ok || e.Time.Sub(s) > connectionLife {
				starts[k] = e.Time
				n++
			}
		}
		for _, e := range evs {
			if e.Port == 0 && !ported[key{host: e.Host, service: e.Service, addr: e.Addr}] {
				n++
			}
		}
		return n
	}
	rng := rand.New(rand.NewPCG(21, 5))
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		events, addrs, ports, locals int
		gap                          time.Duration // the most between one line and the next
	}{
		{1, 1, 1, 1, time.Minute},
		{40, 1, 10, 1, 20 * time.Second}, // a visit
		{100, 1, 60, 1, time.Minute},     // more keys than the small table holds
		{128, 2, 200, 1, time.Hour},
		{300, 1, 28000, 1, 3 * time.Hour}, // a recurrence's logins
		{600, 3, 5, 1, 5 * time.Minute},   // few ports coming back, now within a life, now after
		{2000, 12, 300, 4, time.Minute},   // more services than the look-through holds; keys past 512
		{3000, 1, 2000, 3, 10 * time.Second},
	} {
		for round := range 20 {
			evs := make([]*abusewatch.Event, c.events)
			now := t0
			for i := range evs {
				now = now.Add(time.Duration(rng.Int64N(int64(c.gap))))
				e := &abusewatch.Event{Time: now, Host: fmt.Sprint("h", rng.IntN(2)), Service: "sshd",
					Addr: netip.AddrFrom4([4]byte{45, 134, 26, byte(rng.IntN(c.addrs))})}
				if rng.IntN(4) > 0 {
					e.Port = uint16(1 + rng.IntN(c.ports))
					e.LocalPort = uint16(rng.IntN(c.locals))
				}
				evs[i] = e
			}
			if got, want := attempts(evs), want(evs); got != want {
				t.Fatalf("%+v round %d: attempts = %d, want %d", c, round, got, want)
			}
		}
	}
}

// Counting a visit's connections (the lines of a window or a batch) takes no memory
// of the heap, nor does counting a recurrence's months of logins.
func TestAttemptsAllocatesNothingForAVisit(t *testing.T) {
	start := time.Date(2026, 11, 1, 3, 0, 0, 0, time.UTC)
	for _, evs := range [][]*abusewatch.Event{visitLines(start, 10), dailyLogins(start, 300, 40)} {
		if n := testing.AllocsPerRun(20, func() { attempts(evs) }); n != 0 {
			t.Errorf("attempts of %d lines allocates %v times", len(evs), n)
		}
	}
}

// newConnections counts what an incident's new events add: the lines of a connection
// that began in its evidence are not counted again, the same port after a
// connection's life is a new connection.
func TestNewConnectionsCountsAPortAgainAfterALife(t *testing.T) {
	t0 := time.Date(2026, 11, 16, 22, 0, 0, 0, time.UTC)
	life := connectionLife
	ev := func(at time.Duration, port uint16, class abusewatch.Class) abusewatch.Event {
		return abusewatch.Event{Time: t0.Add(at), Port: port, Addr: netip.MustParseAddr("45.134.26.7"), Host: "web1", Service: "sshd",
			Class: class}
	}
	fail := abusewatch.ClassAuthFailure
	for _, tc := range []struct {
		name   string
		old    []abusewatch.Event
		news   []abusewatch.Event
		counts func(*abusewatch.Event) bool
		want   int
	}{
		{"a connection's last lines, in the next batch", []abusewatch.Event{ev(0, 1000, fail), ev(time.Second, 0, fail)},
			[]abusewatch.Event{ev(30*time.Second, 1000, fail)}, nil, 0},
		{"its port just within its life", []abusewatch.Event{ev(0, 1000, fail)}, []abusewatch.Event{ev(life, 1000, fail)}, nil, 0},
		{"its port just after its life", []abusewatch.Event{ev(0, 1000, fail)}, []abusewatch.Event{ev(life+time.Second, 1000, fail)}, nil, 1},
		{"its port two weeks later", []abusewatch.Event{ev(0, 1000, fail)}, []abusewatch.Event{ev(14*24*time.Hour, 1000, fail),
			ev(14*24*time.Hour+time.Second, 1000, fail)}, nil, 1},
		{"a new port and an old one a day later", []abusewatch.Event{ev(0, 1000, fail), ev(time.Minute, 2000, fail)},
			[]abusewatch.Event{ev(time.Minute+time.Second, 2000, fail), ev(24*time.Hour, 1000, fail), ev(24*time.Hour+time.Minute, 3000, fail)}, nil, 2},
		{"the evidence it does not count began nothing", []abusewatch.Event{ev(0, 1000, abusewatch.ClassAuthSuccess)},
			[]abusewatch.Event{ev(time.Second, 1000, fail)}, func(e *abusewatch.Event) bool { return e.Class != abusewatch.ClassAuthSuccess }, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := newConnections(tc.old, pointersTo(tc.news), tc.counts); got != tc.want {
				t.Errorf("newConnections = %d, want %d", got, tc.want)
			}
		})
	}
}

// The review's D5 through the recurrence rule, as events come and in a pass: a
// failed login a day for 20 days, the client's port coming back every 4 days, is 20
// connections; so are 45 logins on 45 days from 10 ports.
func TestRecurrenceCountsAPortOnAnotherDayAgain(t *testing.T) {
	d0 := time.Date(2026, 11, 16, 3, 0, 0, 0, time.UTC)
	const a = "45.134.26.7"
	logins := func(n int, every time.Duration, ports int) (evs []abusewatch.Event) {
		for i := range n {
			port := uint16(40000 + i%ports)
			evs = append(evs, abusewatch.Event{Time: d0.Add(time.Duration(i) * every), Class: abusewatch.ClassAuthFailure,
				Addr: netip.MustParseAddr(a), Port: port, Service: "sshd", Host: "web1",
				Line: fmt.Sprintf("Failed password for root from %s port %d ssh2", a, port)})
		}
		return evs
	}
	opts := Options{Threshold: 1000, Window: 10 * time.Minute, Recurrence: RecurrenceRule{Days: 10}}
	for _, tc := range []struct {
		name string
		evs  []abusewatch.Event
	}{
		{"20 logins on 20 days from 4 ports", logins(20, 24*time.Hour, 4)},
		{"45 logins on 45 days from 10 ports", logins(45, 24*time.Hour, 10)},
	} {
		for _, way := range []struct {
			name string
			run  func() map[string]abusewatch.Incident
		}{
			{"live, two at a time", func() map[string]abusewatch.Incident { return appliedLive(t, opts, tc.evs, 2) }},
			{"live, all at once", func() map[string]abusewatch.Incident { return appliedLive(t, opts, tc.evs, len(tc.evs)) }},
			{"pass, three at a time", func() map[string]abusewatch.Incident { return appliedInAPass(t, opts, tc.evs, 3) }},
			{"pass, all at once", func() map[string]abusewatch.Incident { return appliedInAPass(t, opts, tc.evs, len(tc.evs)) }},
		} {
			got := incidentsInOrder(way.run())
			if len(got) != 1 || got[0].Count != len(tc.evs) || got[0].Attempts != len(tc.evs) {
				t.Errorf("%s, %s: %v; want one recurrence of %d lines, %d connections", tc.name, way.name, summaries(got), len(tc.evs), len(tc.evs))
			}
		}
	}
}
