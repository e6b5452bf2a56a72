package correlate

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/store"
)

// floodBatches is the flood of review 29 F1: n failed logins, one a millisecond, from
// the addresses addr gives (by the line's number), in batches of size.
func floodBatches(start time.Time, n, size int, addr func(int) netip.Addr) [][]abusewatch.Event {
	var out [][]abusewatch.Event
	for i := 0; i < n; i += size {
		batch := make([]abusewatch.Event, 0, size)
		for j := i; j < min(i+size, n); j++ {
			a := addr(j)
			batch = append(batch, abusewatch.Event{Time: start.Add(time.Duration(j) * time.Millisecond), Addr: a,
				Port: uint16(30000 + j%30000), Class: abusewatch.ClassAuthFailure, Service: "sshd", Host: "web1",
				Line: fmt.Sprintf("Failed password for invalid user admin from %s port %d ssh2", a, 30000+j%30000)})
		}
		out = append(out, batch)
	}
	return out
}

// BenchmarkNetworkRuleUnderAFlood feeds 300,000 events in batches of 5,000 through a
// store and the Correlator as the daemon does, and reports the Correlator's cost per
// event over the first and the last third of the flood: past recentLimit events the
// window no longer fits in memory (review 29 F1), and a cost that grows with the events
// read again in every batch shows as a last third dearer than the first. The floods:
// 5 addresses of one /24 (fewer than the network rule's 10: never its incident), and
// a new address of a new /24 in every line (a botnet).
func BenchmarkNetworkRuleUnderAFlood(b *testing.B) {
	const n, size = 300_000, 5_000
	start := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for _, bc := range []struct {
		name string
		addr func(int) netip.Addr
	}{
		{"5 addresses of one /24", func(j int) netip.Addr { return netip.AddrFrom4([4]byte{45, 134, 26, byte(1 + j%5)}) }},
		{"a new /24 a line", func(j int) netip.Addr { return netip.AddrFrom4([4]byte{byte(45 + j>>16), byte(j >> 8), byte(j), 7}) }},
	} {
		b.Run(bc.name, func(b *testing.B) { floodCorrelator(b, floodBatches(start, n, size, bc.addr)) })
	}
}

func floodCorrelator(b *testing.B, batches [][]abusewatch.Event) {
	opts := Options{Threshold: 5, Window: 10 * time.Minute, Network: NetworkRule{SetRule: SetRule{Count: 10, Window: time.Hour}}}
	n := 0
	for _, batch := range batches {
		n += len(batch)
	}
	for b.Loop() {
		b.StopTimer()
		st, err := store.Open(b.TempDir()+"/state.db", time.Second)
		if err != nil {
			b.Fatal(err)
		}
		c, err := New(opts, st, st, st)
		if err != nil {
			b.Fatal(err)
		}
		var thirds [3]time.Duration
		for i, batch := range batches {
			stored, err := st.Commit(batch, nil)
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			began := time.Now()
			incs, err := c.Correlate(context.Background(), stored)
			thirds[i*3/len(batches)] += time.Since(began)
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			if err := st.PutIncidents(incs); err != nil {
				b.Fatal(err)
			}
		}
		st.Close()
		third := float64(n / 3)
		b.ReportMetric(float64(thirds[0].Nanoseconds())/third, "ns/event-first-third")
		b.ReportMetric(float64(thirds[2].Nanoseconds())/third, "ns/event-last-third")
		b.StartTimer()
	}
}
