package daemon

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// A relay flushes its queue (a host writing Tokyo time without an offset, twelve
// failures 40 minutes apart) and the daemon stops while the listener holds them for the
// host's offset. They were counted as errors and lost: the relay does not send them
// again. The stop dates them as the hold's end would (by the last one's offset: 40
// minutes apart, the last when it arrived) and they are stored with the last batch.
func TestARelaysFlushHeldAtAStopIsStoredDatedByItsOffset(t *testing.T) {
	dir := t.TempDir()
	cfg := scanAheadConfigWith(t, dir, "[syslog]\ntcp = [\"127.0.0.1:0\"]\nallow = [\"127.0.0.1\"]\n")
	tap := &logTap{more: make(chan struct{})}
	d, stop := runDaemon(t, cfg, tap)
	defer stop()
	addr := regexp.MustCompile(`addr=(\S+)`).FindStringSubmatch(tap.wait(t, "syslog: listening", "proto=tcp"))[1]
	tcp := dialFrom(t, "127.0.0.1", addr)
	before := time.Now()
	var flush strings.Builder
	for l := range strings.Lines(tokyoFailures(t, "tokyo5", "45.134.26.17", 12, 40*time.Minute, time.Now().Add(-time.Minute))) {
		fmt.Fprintf(&flush, "<38>%s", l)
	}
	// Then, on the same connection, a message of another host that is not ahead: it is
	// sent on at once, so once it is stored the twelve before it are held.
	fmt.Fprintf(&flush, "<38>%s web1 sshd[1]: Failed password for root from 45.134.26.99 port 22 ssh2\n", time.Now().UTC().Format(time.Stamp))
	if _, err := tcp.Write([]byte(flush.String())); err != nil {
		t.Fatal(err)
	}
	waitCounter(t, "lines", &d.Pipeline().Counters.Lines, 1)
	after := time.Now()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	// The twelve were still held (the host's messages settle 3 s after the last): the
	// stop handed them over.
	if l := tap.wait(t, "syslog: messages held"); !strings.Contains(l, "messages=12") {
		t.Fatalf("at the stop: %q; want the twelve handed over (did they settle before the stop?)", l)
	}
	times := eventTimes(t, cfg, "45.134.26.17")
	if len(times) != 12 {
		t.Fatalf("%d events of the flush held at the stop; want 12. The log:\n%s", len(times), strings.Join(tap.all(), "\n"))
	}
	for i := 1; i < len(times); i++ {
		if gap := times[i].Sub(times[i-1]); gap != 40*time.Minute {
			t.Errorf("events %d and %d %s apart; want 40m0s, as written", i-1, i, gap)
		}
	}
	if last := times[11]; last.Before(before.Truncate(time.Second)) || last.After(after) {
		t.Errorf("the flush's last event dated %s; want when it arrived (%s to %s)", last.UTC(), before.UTC(), after.UTC())
	}
	if n := d.Pipeline().Counters.Lines.Load(); n != 13 {
		t.Errorf("%d lines stored; want 13", n)
	}
	if n := tap.count("lost at the stop"); n != 0 {
		t.Errorf("%d warnings of messages lost at the stop; want none", n)
	}
}

// A flush held at the stop larger than the Run loop's channel (batchSize lines): the
// Run loop waited for the sources to end without reading, and the listener, handing
// them over, waited for room that never came: the daemon did not stop. Every message
// is stored.
func TestARelaysFlushLargerThanABatchHeldAtAStopIsStored(t *testing.T) {
	dir := t.TempDir()
	cfg := scanAheadConfigWith(t, dir, "[syslog]\ntcp = [\"127.0.0.1:0\"]\nallow = [\"127.0.0.1\"]\n")
	tap := &logTap{more: make(chan struct{})}
	d, stop := runDaemon(t, cfg, tap)
	defer stop()
	addr := regexp.MustCompile(`addr=(\S+)`).FindStringSubmatch(tap.wait(t, "syslog: listening", "proto=tcp"))[1]
	tcp := dialFrom(t, "127.0.0.1", addr)
	n := batchSize + 500
	var flush strings.Builder
	for l := range strings.Lines(tokyoFailures(t, "tokyo5", "45.134.26.17", n, time.Second, time.Now().Add(-time.Minute))) {
		fmt.Fprintf(&flush, "<38>%s", l)
	}
	fmt.Fprintf(&flush, "<38>%s web1 sshd[1]: Failed password for root from 45.134.26.99 port 22 ssh2\n", time.Now().UTC().Format(time.Stamp))
	if _, err := tcp.Write([]byte(flush.String())); err != nil {
		t.Fatal(err)
	}
	waitCounter(t, "lines", &d.Pipeline().Counters.Lines, 1)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if l := tap.wait(t, "syslog: messages held"); !strings.Contains(l, fmt.Sprintf("messages=%d", n)) {
		t.Fatalf("at the stop: %q; want the %d handed over (did they settle before the stop?)", l, n)
	}
	if got := d.Pipeline().Counters.Lines.Load(); got != int64(n+1) {
		t.Errorf("%d lines stored; want %d", got, n+1)
	}
}
