package daemon

import (
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/store"
)

// The long-memory benchmarks run over a store of ABUSEWATCH_BENCH_EVENTS events (default
// 100,000) spread over 180 days; bench/correlate.sh runs them and prints the figures.

var benchStart = time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)

const benchSpan = 180 * 24 * time.Hour

func benchEventCount() int {
	if n, err := strconv.Atoi(os.Getenv("ABUSEWATCH_BENCH_EVENTS")); err == nil && n > 0 {
		return n
	}
	return 100_000
}

// benchPipeline fills a fresh store with n sshd failures over 180 days from attackers
// in 2,000 /24s (a few addresses each), so a /24 holds about n/2,000 events.
func benchPipeline(b *testing.B, n int) (p *Pipeline, net netip.Prefix, bytesPerEvent float64) {
	b.Helper()
	dir := b.TempDir()
	cfg, err := ParseConfig("bench.toml", fmt.Appendf(nil, "[[source]]\nfiles = [\"/x\"]\n[mail]\nfrom = \"a@example.org\"\ntransport = \"maildir\"\nmaildir = %q\n[store]\npath = %q\n",
		filepath.Join(dir, "maildir"), filepath.Join(dir, "state.db")))
	if err != nil {
		b.Fatal(err)
	}
	st, err := store.Open(cfg.Store.Path, time.Second)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	r := rand.New(rand.NewPCG(7, 7))
	step := benchSpan / time.Duration(n)
	batch := make([]abusewatch.Event, 0, 5000)
	for i := range n {
		net := r.IntN(2000)
		a := netip.AddrFrom4([4]byte{byte(45 + net/250), byte(net % 250), 7, byte(1 + r.IntN(8))})
		port := uint16(30000 + r.IntN(30000))
		batch = append(batch, abusewatch.Event{Time: benchStart.Add(time.Duration(i) * step), Class: abusewatch.ClassAuthFailure,
			Addr: a, Port: port, User: "root", Service: "sshd", Host: "web1", Source: "/var/log/auth.log",
			Line: fmt.Sprintf("Nov 20 03:12:00 web1 sshd[2211]: Failed password for root from %s port %d ssh2", a, port)})
		if len(batch) == cap(batch) || i == n-1 {
			if _, err := st.Commit(batch, nil); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	p, err = NewPipeline(cfg, st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	if fi, err := os.Stat(cfg.Store.Path); err == nil {
		bytesPerEvent = float64(fi.Size()) / float64(n)
	}
	return p, netip.MustParsePrefix("45.7.7.0/24"), bytesPerEvent
}

// BenchmarkQueryNetwork is `abusewatch net CIDR --since 180d` on one /24.
func BenchmarkQueryNetwork(b *testing.B) {
	p, net, size := benchPipeline(b, benchEventCount())
	events := 0
	b.ResetTimer()
	for b.Loop() {
		info, err := QueryNetwork(p.store, net, benchStart, benchStart.Add(benchSpan))
		if err != nil || info.Events == 0 {
			b.Fatalf("QueryNetwork = %d events, %v", info.Events, err)
		}
		events = info.Events
	}
	b.ReportMetric(size, "db-bytes/event")
	b.ReportMetric(float64(events), "events-in-net")
}

// BenchmarkRecorrelate is `abusewatch correlate --since 180d` over the whole store.
func BenchmarkRecorrelate(b *testing.B) {
	n := benchEventCount()
	p, _, _ := benchPipeline(b, n)
	b.ResetTimer()
	for b.Loop() {
		if _, err := p.RecorrelateRange(b.Context(), benchStart, benchStart.Add(benchSpan)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
