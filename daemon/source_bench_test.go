package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/store"
)

// commitLog captures the daemon's "batch committed" records: when each batch was in the
// store and how many lines had been read by then.
type commitLog struct {
	mu      sync.Mutex
	commits []commit
}

type commit struct {
	at    time.Time
	total int64
}

func (c *commitLog) Enabled(context.Context, slog.Level) bool { return true }
func (c *commitLog) WithAttrs([]slog.Attr) slog.Handler       { return c }
func (c *commitLog) WithGroup(string) slog.Handler            { return c }
func (c *commitLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "batch committed" {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "total" {
			c.mu.Lock()
			c.commits = append(c.commits, commit{time.Now(), a.Value.Int64()})
			c.mu.Unlock()
		}
		return true
	})
	return nil
}

// BenchmarkFollowGrowth follows one file that grows at 50,000 lines/s for five seconds
// (normal cron lines and sshd failures from 1,000 addresses) through the whole daemon: follower, detect, store, correlate. It reports the lines read per second, the
// largest lag seen (lines written but not yet read) and the 99th percentile of the time
// from a line's write to the commit of its batch. Run it on one core: sh bench/sources.sh.
func BenchmarkFollowGrowth(b *testing.B) {
	// One attack line in 1,000 (a host on a quiet day) and in 10 (under a brute force
	// from 1,000 addresses): correlation costs one store read per attack line.
	for _, every := range []int{1000, 10} {
		b.Run(fmt.Sprintf("attack-every-%d", every), func(b *testing.B) { followGrowth(b, every) })
	}
}

func followGrowth(b *testing.B, attackEvery int) {
	const rate, seconds, tick = 50000, 5, 10 * time.Millisecond
	for range b.N {
		dir := b.TempDir()
		logFile := filepath.Join(dir, "auth.log")
		if err := os.WriteFile(logFile, nil, 0o644); err != nil {
			b.Fatal(err)
		}
		doc := fmt.Sprintf(`
[[source]]
files = [%q]
[lookup]
rdap = false
resolvers = ["127.0.0.1:9"]
[reporter]
name = "Test Admin"
[mail]
transport = "maildir"
maildir = %q
from = "a@example.org"
[policy]
settle = "0s"
mode = "observe"
report_interval = "1h"
[admin]
socket = ""
[store]
path = %q
`, logFile, filepath.Join(dir, "maildir"), filepath.Join(dir, "state.db"))
		cfg, err := ParseConfig(filepath.Join(dir, "abusewatch.toml"), []byte(doc))
		if err != nil {
			b.Fatal(err)
		}
		commits := &commitLog{}
		d, err := New(cfg, slog.New(commits))
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- d.Run(ctx) }()

		w, err := os.OpenFile(logFile, os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			b.Fatal(err)
		}
		type written struct {
			at    time.Time
			total int64
		}
		var writes []written
		var maxLag int64
		per := int(rate * tick / time.Second)
		t := time.NewTicker(tick)
		start := time.Now()
		n := 0
		var buf []byte
		for time.Since(start) < seconds*time.Second {
			<-t.C
			buf = buf[:0]
			now := time.Now()
			for range per {
				ts := now.UTC().Format("2006-01-02T15:04:05.000000Z07:00")
				if n%attackEvery == 0 {
					buf = fmt.Appendf(buf, "%s web1 sshd[%d]: Failed password for root from 198.51.%d.%d port %d ssh2\n",
						ts, 1000+n%5000, n/250%4, n%250+1, 1024+n%60000)
				} else {
					buf = fmt.Appendf(buf, "%s web1 CRON[%d]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)\n", ts, n%30000)
				}
				n++
			}
			if _, err := w.Write(buf); err != nil {
				b.Fatal(err)
			}
			writes = append(writes, written{time.Now(), int64(n)})
			maxLag = max(maxLag, int64(n)-d.pipe.Counters.Lines.Load())
		}
		t.Stop()
		w.Close()
		elapsed := time.Since(start)
		// Wait for the last line to be committed (the commit log is the counter).
		deadline := time.Now().Add(time.Minute)
		for {
			commits.mu.Lock()
			last := int64(0)
			if len(commits.commits) > 0 {
				last = commits.commits[len(commits.commits)-1].total
			}
			commits.mu.Unlock()
			if last >= int64(n) {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("only %d of %d lines committed a minute after the writer stopped", last, n)
			}
			select {
			case <-time.After(10 * time.Millisecond):
			case err := <-done:
				b.Fatalf("the daemon stopped: %v", err)
			}
		}
		drained := time.Since(start)
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		var lat []time.Duration
		i := 0
		for _, wr := range writes {
			for commits.commits[i].total < wr.total {
				i++
			}
			lat = append(lat, commits.commits[i].at.Sub(wr.at))
		}
		slices.Sort(lat)
		p99 := lat[len(lat)*99/100]
		b.ReportMetric(float64(n)/drained.Seconds(), "lines/s")
		b.ReportMetric(float64(n)/elapsed.Seconds(), "written-lines/s")
		b.ReportMetric(float64(maxLag), "max-lag-lines")
		b.ReportMetric(float64(p99.Milliseconds()), "p99-ms")
		b.ReportMetric(float64(lat[len(lat)/2].Milliseconds()), "p50-ms")
	}
}

// noPositions is a store with nothing committed yet.
type noPositions struct{}

func (noPositions) Position(string) (store.Position, bool, error) {
	return store.Position{}, false, nil
}

func (noPositions) Positions() ([]store.Position, error) { return nil, nil }

// BenchmarkFollowerLines is the file source alone: how fast one follower turns a file into
// records with positions (the rest of the daemon is measured by BenchmarkFollowGrowth).
func BenchmarkFollowerLines(b *testing.B) {
	dir := b.TempDir()
	logFile := filepath.Join(dir, "auth.log")
	line := "2026-11-20T03:00:00.000000+00:00 web1 sshd[4242]: Failed password for root from 198.51.100.7 port 50122 ssh2\n"
	f, err := os.Create(logFile)
	if err != nil {
		b.Fatal(err)
	}
	buf := []byte(strings.Repeat(line, 1000))
	for i := 0; i < b.N; i += 1000 {
		f.Write(buf)
	}
	f.Close()
	want := (b.N + 999) / 1000 * 1000
	out := make(chan sourceLine, batchSize)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ff := &fileFollower{path: logFile, log: slog.New(slog.DiscardHandler), store: noPositions{}, c: &SourceCounters{}, out: out}
	b.SetBytes(int64(len(line)))
	b.ResetTimer()
	go ff.run(ctx)
	for got := 0; got < want; {
		if l := <-out; !l.posOnly {
			got++
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(want)/b.Elapsed().Seconds(), "lines/s")
}
