package correlate

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
)

// visitLines is one visit as sshd logs it: n connections a few seconds apart, each
// "Invalid user", PAM's failure (no port), "Failed password" and the disconnect.
func visitLines(start time.Time, n int) []*abusewatch.Event {
	a := netip.MustParseAddr("45.134.26.7")
	var out []*abusewatch.Event
	for i := range n {
		at, port := start.Add(time.Duration(i)*6*time.Second), uint16(40000+7*i)
		for j, p := range []uint16{port, 0, port, port} {
			out = append(out, &abusewatch.Event{Time: at.Add(time.Duration(j) * time.Second), Addr: a, Port: p,
				Class: abusewatch.ClassAuthFailure, Host: "web1", Service: "sshd"})
		}
	}
	return out
}

// dailyLogins are n single-line logins spread over days, each from an ephemeral port
// as Linux picks them (32768 to 60999).
func dailyLogins(start time.Time, n int, days int) []*abusewatch.Event {
	a := netip.MustParseAddr("81.2.69.10")
	rnd := rand.New(rand.NewPCG(1, 2))
	step := time.Duration(days) * 24 * time.Hour / time.Duration(n)
	var out []*abusewatch.Event
	for i := range n {
		out = append(out, &abusewatch.Event{Time: start.Add(time.Duration(i) * step), Addr: a,
			Port: uint16(32768 + rnd.IntN(60999-32768+1)), Class: abusewatch.ClassAuthFailure, Host: "web1", Service: "sshd"})
	}
	return out
}

// BenchmarkAttempts counts the connections of the inputs attempts meets most: a visit
// (a window, a batch's share of one address) and a recurrence's months of logins.
func BenchmarkAttempts(b *testing.B) {
	start := time.Date(2026, 11, 1, 3, 0, 0, 0, time.UTC)
	for _, bc := range []struct {
		name string
		evs  []*abusewatch.Event
	}{
		{"visit of 40 lines of 10 connections", visitLines(start, 10)},
		{"300 single-line logins over 40 days", dailyLogins(start, 300, 40)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				attempts(bc.evs)
			}
		})
	}
}
