package daemon

import (
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
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

// benchPipeline fills a fresh store with n sshd failures over 180 days the way a busy
// host sees brute force: an address comes, tries a few dozen times some seconds apart
// (geometric, mean 30) and leaves. Nine visits in ten come from addresses never seen
// before, spread over 20,000 /24s of which a few are hot (Zipf); one in ten from a
// pool of 2,000 that return every week or two ("low and slow"). The events are
// committed in time order in batches of 5,000. It returns the hottest /24.
func benchPipeline(b *testing.B, n int) (p *Pipeline, net netip.Prefix, bytesPerEvent float64) {
	b.Helper()
	dir := b.TempDir()
	if keep := os.Getenv("ABUSEWATCH_BENCH_DIR"); keep != "" {
		dir = keep // bench/correlate.sh keeps the store to measure the daemon on it
	}
	cfg, err := ParseConfig("bench.toml", fmt.Appendf(nil, "[[source]]\nfiles = [\"/x\"]\n[reporter]\nname = \"Test Admin\"\n[mail]\nfrom = \"a@example.org\"\ntransport = \"maildir\"\nmaildir = %q\n[store]\npath = %q\n",
		filepath.Join(dir, "maildir"), filepath.Join(dir, "state.db")))
	if err != nil {
		b.Fatal(err)
	}
	st, err := store.Open(cfg.Store.Path, time.Second)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	if have, _ := st.EventCount(); have != n {
		fillBenchStore(b, st, n)
	}
	p, err = NewPipeline(cfg, st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	if fi, err := os.Stat(cfg.Store.Path); err == nil {
		bytesPerEvent = float64(fi.Size()) / float64(n)
	}
	return p, benchNet(0), bytesPerEvent
}

// benchNet is the /24 of Zipf rank i.
func benchNet(i int) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(45 + i/250/250), byte(i / 250 % 250), byte(i % 250), 0}), 24)
}

func fillBenchStore(b *testing.B, st *store.Store, n int) {
	r := rand.New(rand.NewPCG(7, 7))
	zipf := rand.NewZipf(rand.New(rand.NewPCG(8, 8)), 1.1, 1, 20_000-1)
	addr := func(net int) netip.Addr {
		p := benchNet(net).Addr().As4()
		p[3] = byte(1 + r.IntN(254))
		return netip.AddrFrom4(p)
	}
	pool := make([]netip.Addr, 2000)
	for i := range pool {
		pool[i] = addr(int(zipf.Uint64()))
	}
	perDay := n / 180
	written := 0
	batch := make([]abusewatch.Event, 0, 5000)
	for day := 0; day < 180 && written < n; day++ {
		var evs []abusewatch.Event
		want := perDay
		if day == 179 {
			want = n - written
		}
		for len(evs) < want {
			a := pool[r.IntN(len(pool))]
			if r.IntN(10) != 0 {
				a = addr(int(zipf.Uint64()))
			}
			at := benchStart.Add(time.Duration(day)*24*time.Hour + time.Duration(r.Int64N(int64(24*time.Hour))))
			for range min(1+int(r.ExpFloat64()*29), want-len(evs)) {
				port := uint16(30000 + r.IntN(30000))
				evs = append(evs, abusewatch.Event{Time: at, Class: abusewatch.ClassAuthFailure,
					Addr: a, Port: port, User: "root", Service: "sshd", Host: "web1", Source: "/var/log/auth.log",
					Line: fmt.Sprintf("%s web1 sshd[%d]: Failed password for root from %s port %d ssh2", at.Format(time.Stamp), 1000+r.IntN(30000), a, port)})
				at = at.Add(time.Duration(1+r.IntN(8)) * time.Second)
			}
		}
		slices.SortFunc(evs, func(x, y abusewatch.Event) int { return x.Time.Compare(y.Time) })
		for _, e := range evs {
			batch = append(batch, e)
			if len(batch) == cap(batch) {
				if _, err := st.Commit(batch, nil); err != nil {
					b.Fatal(err)
				}
				batch = batch[:0]
			}
		}
		written += len(evs)
	}
	if _, err := st.Commit(batch, nil); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkQueryNetwork is `abusewatch net CIDR --since 180d` on one /24.
func BenchmarkQueryNetwork(b *testing.B) {
	p, net, size := benchPipeline(b, benchEventCount())
	events := 0
	runtime.GC() // building the store left garbage the query is not to pay for
	b.ResetTimer()
	for b.Loop() {
		why, err := p.unreported(time.Now()) // as the daemon asks it for each question
		if err != nil {
			b.Fatal(err)
		}
		info, err := QueryNetwork(p.store, net, benchStart, benchStart.Add(benchSpan), time.UTC, why)
		if err != nil || info.Events == 0 {
			b.Fatalf("QueryNetwork = %d events, %v", info.Events, err)
		}
		events = info.Events
	}
	b.ReportMetric(size, "db-bytes/event")
	b.ReportMetric(float64(events), "events-in-net")
}

// BenchmarkRecorrelate is `abusewatch correlate --since 180d` over the whole store, in
// process (for -cpuprofile; bench/correlate.sh times the real command). With
// ABUSEWATCH_BENCH_DIR naming a store built before, it skips building it.
func BenchmarkRecorrelate(b *testing.B) {
	n := benchEventCount()
	p, _, _ := benchPipeline(b, n)
	p.RecordChanges() // as the command does, for its summary
	b.ResetTimer()
	for b.Loop() {
		if _, err := p.RecorrelateRange(b.Context(), benchStart, benchStart.Add(benchSpan)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkRecorrelateRulesOnly is BenchmarkRecorrelate's pass with the incidents it
// hands on thrown away: none is encoded, compared with the store or written. On a store
// without incidents it is what reading the events and judging them cost alone, the
// floor of a first pass however cheap writing becomes (bench/correlate.sh prints it). It
// is close, not exact: what the pass's memory lets go of cannot be read back, so it may
// make a few incidents the full pass would have found and grown.
func BenchmarkRecorrelateRulesOnly(b *testing.B) {
	p, _, _ := benchPipeline(b, benchEventCount())
	var made int
	for b.Loop() {
		var err error
		made, err = p.correlator.Recorrelate(b.Context(), p.store, benchStart, benchStart.Add(benchSpan), func([]abusewatch.Incident) error { return nil })
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(made), "incidents")
}

// BenchmarkRecorrelateLastHour is the daemon's periodic re-correlation on that store:
// a pass over its last hour, which reads the heads of every incident stored at its
// start (run it on a store that holds them: bench/correlate.sh's after its pass).
func BenchmarkRecorrelateLastHour(b *testing.B) {
	p, _, _ := benchPipeline(b, benchEventCount())
	end := benchStart.Add(benchSpan)
	for b.Loop() {
		if _, err := p.RecorrelateRange(b.Context(), end.Add(-time.Hour), end); err != nil {
			b.Fatal(err)
		}
	}
}
