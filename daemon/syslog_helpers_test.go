package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// syslogRun is a syslog listener on loopback ports the kernel picked, serving until the
// test ends, with its records and its log readable as they come. Its records go to an
// unbuffered channel: a test that does not read them holds the listener, as a busy
// pipeline does.
type syslogRun struct {
	d             *Daemon
	l             *syslogListener
	c             *SourceCounters
	out           chan sourceLine
	log           *logTap
	udp, tcp, tls string
	cancel        context.CancelFunc
	done          chan struct{} // closed when the listener returned
}

// startSyslog starts a listener for sc (addresses "127.0.0.1:0"); tweak, when set, changes
// its limits before it listens.
func startSyslog(t *testing.T, sc SyslogConfig, tweak func(*syslogListener)) *syslogRun {
	t.Helper()
	tap := &logTap{more: make(chan struct{})}
	ring := &errorRing{keep: 10}
	d := &Daemon{cfg: &Config{Syslog: sc, Detect: DetectConfig{Timezone: "UTC"}}, log: slog.New(ringHandler{tap, ring}), errors: ring}
	r := &syslogRun{d: d, c: d.sources.get(syslogSource), out: make(chan sourceLine), log: tap}
	r.l = newSyslogListener(d, r.out)
	if tweak != nil {
		tweak(r.l)
	}
	ready := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.l.listen(ctx, ready); close(done) }()
	r.cancel, r.done = cancel, done
	t.Cleanup(func() { r.stop() })
	if err := <-ready; err != nil {
		t.Fatal(err)
	}
	addr := regexp.MustCompile(`syslog: listening proto=(\w+) addr=(\S+)`)
	for _, l := range tap.all() {
		if m := addr.FindStringSubmatch(l); m != nil {
			switch m[1] {
			case "udp":
				r.udp = m[2]
			case "tcp":
				r.tcp = m[2]
			case "tls":
				r.tls = m[2]
			}
		}
	}
	return r
}

// stop stops the listener and returns the records it hands over as it stops (taken as
// the Run loop takes them, until it returns).
func (r *syslogRun) stop() []sourceLine {
	r.cancel()
	var out []sourceLine
	for {
		select {
		case l := <-r.out:
			out = append(out, l)
		case <-r.done:
			return out
		}
	}
}

// record waits for the listener's next record.
func (r *syslogRun) record(t *testing.T) sourceLine {
	t.Helper()
	select {
	case l := <-r.out:
		return l
	case <-time.After(10 * time.Second):
		t.Fatal("no record from the syslog listener within 10s")
	}
	return sourceLine{}
}

// noRecord fails the test if a record is waiting.
func (r *syslogRun) noRecord(t *testing.T) {
	t.Helper()
	select {
	case l := <-r.out:
		t.Errorf("unexpected record %q", l.rec.Line)
	default:
	}
}

// logTap is a slog handler that keeps every record as one line of text ("LEVEL msg
// key=value …") and wakes whoever waits for one.
type logTap struct {
	mu    sync.Mutex
	lines []string
	more  chan struct{} // closed and replaced whenever a line arrives
}

func (h *logTap) Enabled(context.Context, slog.Level) bool { return true }
func (h *logTap) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *logTap) WithGroup(string) slog.Handler            { return h }

func (h *logTap) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	b.WriteString(rec.Level.String() + " " + rec.Message)
	rec.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + a.String())
		return true
	})
	h.mu.Lock()
	h.lines = append(h.lines, b.String())
	close(h.more)
	h.more = make(chan struct{})
	h.mu.Unlock()
	return nil
}

func (h *logTap) all() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.lines...)
}

// count is the number of lines with all of words.
func (h *logTap) count(words ...string) int {
	n := 0
	for _, l := range h.all() {
		if containsAllWords(l, words) {
			n++
		}
	}
	return n
}

// wait waits for a line with all of words, or fails the test after 10s.
func (h *logTap) wait(t *testing.T, words ...string) string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for seen := 0; ; {
		h.mu.Lock()
		lines, more := h.lines[seen:], h.more
		seen = len(h.lines)
		h.mu.Unlock()
		for _, l := range lines {
			if containsAllWords(l, words) {
				return l
			}
		}
		select {
		case <-more:
		case <-deadline:
			t.Fatalf("no log line with %q within 10s; the log:\n%s", words, strings.Join(h.all(), "\n"))
		}
	}
}

func containsAllWords(s string, words []string) bool {
	for _, w := range words {
		if !strings.Contains(s, w) {
			return false
		}
	}
	return true
}

// waitCounter waits until c reaches want, looking every few milliseconds, or fails the
// test after 10s.
func waitCounter(t *testing.T, what string, c *atomic.Int64, want int64) {
	t.Helper()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for c.Load() < want {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("%s: %d within 10s, want %d", what, c.Load(), want)
		}
	}
}

// sshdMessage is an RFC 5424 message from web1's sshd naming addr, dated an hour ago (a
// fixed date would, once more than policy.max_age before the test runs, make no event:
// see clockBehind). The date is always 20 bytes long.
func sshdMessage(i int, addr string) string {
	return fmt.Sprintf("<38>1 %s web1 sshd %d - - Failed password for root from %s port 22 ssh2", time.Now().UTC().Add(-time.Hour).Format(time.RFC3339), 1000+i, addr)
}
