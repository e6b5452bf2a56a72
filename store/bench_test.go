package store

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
)

// benchEvents makes n sshd failure events step apart, from attackers in 2,000 /24s
// (8 addresses each): 10 million events in 180 days is one every 1.56 s. With visits,
// as brute force comes: an address tries a few dozen times in a row (geometric, mean
// 30); without, each event comes from another address, as from a botnet that spreads
// its attempts (every address and network then appears in every commit and every day).
func benchEvents(n int, start time.Time, step time.Duration, seed uint64, visits bool) []abusewatch.Event {
	r := rand.New(rand.NewPCG(seed, 1))
	out := make([]abusewatch.Event, n)
	var a netip.Addr
	left := 0
	for i := range out {
		if !visits || left == 0 {
			net := r.IntN(2000)
			a = netip.AddrFrom4([4]byte{byte(45 + net/250), byte(net % 250), 7, byte(1 + r.IntN(8))})
			left = 1 + int(r.ExpFloat64()*29)
		}
		left--
		port := uint16(30000 + r.IntN(30000))
		out[i] = abusewatch.Event{
			Time: start.Add(time.Duration(i) * step), Class: abusewatch.ClassAuthFailure, Addr: a, Port: port,
			User: "root", Service: "sshd", Host: "web1", Source: "/var/log/auth.log",
			Line: fmt.Sprintf("Nov 20 03:12:00 web1 sshd[2211]: Failed password for root from %s port %d ssh2", a, port),
		}
	}
	return out
}

// BenchmarkCommit stores events in batches of 1,000 and of 2,000 (the most lines the
// daemon commits at once), with their blocks and counters, brute force in visits and
// spread over a botnet (see benchEvents), and reports events/s, bytes of database per
// event, and the pages each commit writes (bbolt copies every page it changes: the
// leaf a block goes in also holds the block before it, so both are written).
func BenchmarkCommit(b *testing.B) {
	for _, shape := range []struct {
		name   string
		visits bool
	}{{"visits", true}, {"spread", false}} {
		for _, batch := range []int{1000, 2000} {
			b.Run(fmt.Sprintf("%s/batch=%d", shape.name, batch), func(b *testing.B) {
				path := filepath.Join(b.TempDir(), "state.db")
				s, err := Open(path, time.Second)
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				start := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
				const step = 1555 * time.Millisecond
				before := s.db.Stats().TxStats
				b.ResetTimer()
				for i := range b.N {
					b.StopTimer() // making the events is not the store's work
					evs := benchEvents(batch, start.Add(time.Duration(i*batch)*step), step, uint64(i), shape.visits)
					b.StartTimer()
					if _, err := s.Commit(evs, nil); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				after := s.db.Stats().TxStats
				b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
				b.ReportMetric(float64(after.GetPageCount()-before.GetPageCount())/float64(b.N), "pages/commit")
				if fi, err := os.Stat(path); err == nil {
					b.ReportMetric(float64(fi.Size())/float64(b.N*batch), "bytes/event")
				}
			})
		}
	}
}

// BenchmarkPutIncidents writes incidents the way a pass over history does: in groups of
// 2,000 (ABUSEWATCH_BENCH_GROUP sets another size), each made by one visit of
// benchEvents (its first, sample and last evidence lines), in the order they start.
// The figures are incidents written per second into a store that starts empty (a first
// pass) and the pages each costs: every transaction rewrites the index pages it
// touches, so larger groups cost less per incident.
func BenchmarkPutIncidents(b *testing.B) {
	group := 2000
	if g, err := strconv.Atoi(os.Getenv("ABUSEWATCH_BENCH_GROUP")); err == nil {
		group = g
	}
	s, err := Open(filepath.Join(b.TempDir(), "state.db"), time.Second)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	start := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	r := rand.New(rand.NewPCG(3, 3))
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		incs := make([]abusewatch.Incident, group)
		for j := range incs {
			first := start.Add(time.Duration(i*group+j) * 45 * time.Second)
			evs := benchEvents(10, first, 3*time.Second, uint64(i*group+j), true)
			a := netip.AddrFrom4([4]byte{byte(45 + r.IntN(50)), byte(r.IntN(256)), byte(r.IntN(256)), byte(1 + r.IntN(254))})
			for k := range evs {
				evs[k].Addr, evs[k].Seq = a, uint64(i*group*10+j*10+k)
			}
			incs[j] = abusewatch.Incident{ID: fmt.Sprintf("%016x", r.Uint64()), Key: "ip:" + a.String(), Rule: "per-address",
				Addr: a, Network: netip.PrefixFrom(a, 32), Classes: []abusewatch.Class{abusewatch.ClassAuthFailure},
				First: first, Last: evs[9].Time, Count: 30, Attempts: 30, Severity: 2, Hosts: []string{"web1"}, Evidence: evs}
		}
		b.StartTimer()
		if err := s.PutIncidents(incs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*group)/b.Elapsed().Seconds(), "incidents/s")
	st := s.db.Stats().TxStats
	b.ReportMetric(float64(st.GetWrite())/float64(b.N*group), "pages-written/incident")
}

// BenchmarkFloodDay stores a day of a flood of 1,000,000 distinct IPv4 addresses (one
// failed login each, batches of 1,000: the memory of counters fills every ~12 batches
// and the day is sealed early, in parts), then 100 batches of the day after next (the
// flood's day is then final). It reports the peak anonymous RSS and the peak of the Go
// heap's objects (sampled every 2 ms), and the bytes of pages bbolt allocated (its
// dirty pages, held in memory until written) per commit that sealed and at most in
// one. Run it alone: go test -run '^$' -bench FloodDay -benchtime 1x ./store/
func BenchmarkFloodDay(b *testing.B) {
	for range b.N {
		b.StopTimer()
		s, err := Open(filepath.Join(b.TempDir(), "state.db"), time.Second)
		if err != nil {
			b.Fatal(err)
		}
		var peakAnon, peakHeap atomic.Int64
		stop, sampled := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(sampled)
			sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
			t := time.NewTicker(2 * time.Millisecond)
			defer t.Stop()
			for {
				metrics.Read(sample)
				peakHeap.Store(max(peakHeap.Load(), int64(sample[0].Value.Uint64())))
				if st, err := os.ReadFile("/proc/self/status"); err == nil {
					for line := range strings.Lines(string(st)) {
						if f := strings.Fields(line); len(f) == 3 && f[0] == "RssAnon:" {
							kb, _ := strconv.ParseInt(f[1], 10, 64)
							peakAnon.Store(max(peakAnon.Load(), kb<<10))
						}
					}
				}
				select {
				case <-stop:
					return
				case <-t.C:
				}
			}
		}()
		r := rand.New(rand.NewPCG(5, 33))
		day := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
		evs := make([]abusewatch.Event, 1000)
		var seals, sealBytes, maxBytes int64
		commit := func(at time.Time) {
			for j := range evs {
				a := netip.AddrFrom4([4]byte{byte(1 + r.IntN(223)), byte(r.IntN(256)), byte(r.IntN(256)), byte(1 + r.IntN(254))})
				evs[j] = abusewatch.Event{Time: at.Add(time.Duration(j) * time.Millisecond), Class: abusewatch.ClassAuthFailure,
					Addr: a, Port: 22, User: "root", Service: "sshd", Host: "web1", Source: "/var/log/auth.log",
					Line: "Failed password for root from " + a.String() + " port 22 ssh2"}
			}
			rows := s.pending.size
			st := s.db.Stats()
			before := st.TxStats.GetPageAlloc()
			b.StartTimer()
			if _, err := s.Commit(evs, nil); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			st = s.db.Stats()
			n := st.TxStats.GetPageAlloc() - before
			if s.pending.size < rows { // this commit sealed
				seals++
				sealBytes += n
			}
			maxBytes = max(maxBytes, n)
		}
		for i := range 1000 {
			commit(day.Add(time.Duration(i) * 80 * time.Second))
		}
		// What the readers pay for the day while it is sealed in parts.
		t0 := time.Now()
		if _, err := s.Recurring(day.AddDate(0, 0, -30), day, 2); err != nil {
			b.Fatal(err)
		}
		recurring := time.Since(t0)
		t0 = time.Now()
		for range 1000 {
			a := netip.AddrFrom4([4]byte{byte(1 + r.IntN(223)), byte(r.IntN(256)), byte(r.IntN(256)), byte(1 + r.IntN(254))})
			if _, err := s.ActiveDays(netip.PrefixFrom(a, 32), day.AddDate(0, 0, -30), day); err != nil {
				b.Fatal(err)
			}
		}
		activeDays := time.Since(t0) / 1000
		for i := range 100 {
			commit(day.Add(48*time.Hour + time.Duration(i)*time.Minute))
		}
		close(stop)
		<-sampled
		b.ReportMetric(float64(peakAnon.Load())/(1<<20), "peak-anon-MB")
		b.ReportMetric(float64(peakHeap.Load())/(1<<20), "peak-heap-MB")
		b.ReportMetric(float64(sealBytes)/float64(max(seals, 1))/(1<<20), "page-MB/seal")
		b.ReportMetric(float64(maxBytes)/(1<<20), "max-page-MB/commit")
		b.ReportMetric(float64(seals), "seals")
		b.ReportMetric(float64(recurring.Milliseconds()), "recurring-ms")
		b.ReportMetric(float64(activeDays.Microseconds()), "activedays-µs")
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
