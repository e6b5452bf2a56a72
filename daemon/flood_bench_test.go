package daemon

import (
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/store"
)

// BenchmarkIngestUnderAFlood is the daemon's pace while one /24 floods it: every
// address of 91.240.118.0/24 tries a password every 1.3 s, 200 lines a second, past the
// first 60,000 lines (more than the block cache holds, so what the rules read comes from
// the store). Each rule's incident is open; a sweep is impossible (one host). Before
// the sweep rule asked the block indexes how many hosts an address hit, each batch of
// 2,000 lines took 4 to 11 s here, the daemon fell hours behind and its status timed
// out. Reproduce: go test -run '^$' -bench BenchmarkIngestUnderAFlood ./daemon/
func BenchmarkIngestUnderAFlood(b *testing.B) {
	cfg, err := ParseConfig("demo.toml", []byte(demoConfigIn(b, b.TempDir())))
	if err != nil {
		b.Fatal(err)
	}
	st, err := store.Open(cfg.Store.Path, time.Second)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	p, err := NewPipeline(cfg, st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	base := time.Date(2026, 12, 6, 22, 0, 0, 0, time.UTC)
	n := 0
	batch := func() []abusewatch.Record {
		recs := make([]abusewatch.Record, 0, 2000)
		for range 2000 {
			at := base.Add(time.Duration(n) * 5 * time.Millisecond)
			recs = append(recs, abusewatch.Record{Source: "/var/log/auth.log", Read: at, Line: fmt.Sprintf(
				"%s web1 sshd[%d]: Failed password for root from 91.240.118.%d port %d ssh2",
				at.Format("2006-01-02T15:04:05.000000+00:00"), 1000+n%30000, 1+n%254, 1024+n%60000)})
			n++
		}
		return recs
	}
	for n < 60_000 {
		if err := p.Ingest(b.Context(), batch(), nil); err != nil {
			b.Fatal(err)
		}
	}
	lines := 0
	for b.Loop() {
		b.StopTimer()
		recs := batch()
		b.StartTimer()
		if err := p.Ingest(b.Context(), recs, nil); err != nil {
			b.Fatal(err)
		}
		lines += len(recs)
	}
	b.ReportMetric(float64(lines)/b.Elapsed().Seconds(), "lines/s")
}
