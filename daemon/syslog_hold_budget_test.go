package daemon

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// floodLines are n failures of host flood1, each width bytes long, written by a clock
// 2 hours ahead of detect.timezone (UTC), 40 s apart, the last at last: a flush, whose
// offsets rise.
func floodLines(n, width int, last time.Time) []string {
	var lines []string
	for i := range n {
		at := last.Add(-time.Duration(n-1-i) * 40 * time.Second).Add(2 * time.Hour).UTC()
		l := fmt.Sprintf("%s flood1 sshd[%d]: Failed password for root from 45.134.26.20 port %d ssh2 ", at.Format(time.Stamp), 300+i, 50000+i)
		lines = append(lines, l+strings.Repeat("x", width-len(l)))
	}
	return lines
}

// waitHeld waits until the listener holds want bytes, or fails the test after 10s.
func waitHeld(t *testing.T, c *syslogClocks, want int) {
	t.Helper()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for {
		c.mu.Lock()
		held := c.bytes
		c.mu.Unlock()
		if held == want {
			return
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("%d bytes held within 10s, want %d", held, want)
		}
	}
}

// aheadOf checks that lines are host's, all dated by one offset between lo and hi, and
// returns it.
func aheadOf(t *testing.T, what, host string, lines []sourceLine, lo, hi time.Duration) time.Duration {
	t.Helper()
	var first time.Duration
	for i, l := range lines {
		got, ok := l.rec.HostsAhead[host]
		if !strings.Contains(l.rec.Line, " "+host+" ") || !ok {
			t.Fatalf("%s: record %d %q dated ahead by %v; want a message of %s dated by its offset", what, i, l.rec.Line[:min(len(l.rec.Line), 80)], l.rec.HostsAhead, host)
		}
		if i == 0 {
			first = got
		}
		if got != first || got < lo || got > hi {
			t.Errorf("%s: record %d dated %s earlier; want one offset for all, %s to %s", what, i, got, lo, hi)
		}
	}
	return first
}

// Review M4: the hold was bounded by 50,000 messages (of up to 64 KiB: 3 GB) for all
// hosts together, and once one sender filled it, a flush of every other host was dated
// as it arrived: one burst, an incident and a report. It is bounded by bytes, and the
// host that fills it has its own messages released, dated by its best offset: another
// host's flush, arriving while the first holds the whole budget and while it overflows
// it again, is still held and dated by its own offset (here at the stop, which hands
// the held messages over).
func TestASyslogHostFillingTheHoldReleasesItsOwnMessages(t *testing.T) {
	const width = 8000 // tokyo6's twelve held take less than one of these
	budget := 16 * (width + heldOverhead)
	run := startSyslog(t, SyslogConfig{TCP: []string{"127.0.0.1:0"}, Allow: []string{"127.0.0.0/8"}}, func(l *syslogListener) {
		l.clocks.settle = time.Hour // no hold ends by time: by the budget, or at the stop
		l.clocks.budget = budget
	})
	flood := dialFrom(t, "127.0.0.1", run.tcp)
	tokyo := dialFrom(t, "127.0.0.2", run.tcp)
	send := func(conn interface{ Write([]byte) (int, error) }, lines []string) {
		t.Helper()
		var b strings.Builder
		for _, l := range lines {
			fmt.Fprintf(&b, "<38>%s\n", strings.TrimSuffix(l, "\n"))
		}
		if _, err := conn.Write([]byte(b.String())); err != nil {
			t.Fatal(err)
		}
	}
	// records are the next n records, each flood1's.
	records := func(n int) []sourceLine {
		t.Helper()
		var out []sourceLine
		for range n {
			l := run.record(t)
			if !strings.Contains(l.rec.Line, " flood1 ") {
				t.Fatalf("record %q, dated ahead by %v, sent on; want flood1's alone, tokyo6's held", l.rec.Line, l.rec.HostsAhead)
			}
			out = append(out, l)
		}
		return out
	}

	// flood1 fills the hold to its last byte.
	first := floodLines(16, width, time.Now())
	send(flood, first)
	waitHeld(t, &run.l.clocks, budget)
	run.noRecord(t)

	// tokyo6's flush: its first message makes flood1's sixteen go, dated by their
	// offset; tokyo6's are held.
	tokyoLines := strings.Split(strings.TrimSuffix(tokyoFailures(t, "tokyo6", "45.134.26.17", 12, 40*time.Minute, time.Now().Add(-time.Minute)), "\n"), "\n")
	send(tokyo, tokyoLines)
	released := records(16)
	if released[0].rec.Line != first[0] {
		t.Fatalf("first record %q; want flood1's first line as sent", released[0].rec.Line[:min(len(released[0].rec.Line), 80)])
	}
	aheadOf(t, "flood1's hold released for tokyo6's flush", "flood1", released, 2*time.Hour-10*time.Second, 2*time.Hour)

	// flood1 goes on: its own overflow (its sixteenth beside tokyo6's twelve) releases
	// its own messages, the sixteenth among them.
	send(flood, floodLines(16, width, time.Now().Add(time.Hour)))
	aheadOf(t, "flood1's hold overflowing", "flood1", records(16), 3*time.Hour-10*time.Second, 3*time.Hour)
	run.noRecord(t)

	// tokyo6's messages, handed over at the stop: dated by its own offset (its last
	// one's, 9 hours less the minute in the relay's queue), so 40 minutes apart.
	atStop := run.stop()
	if len(atStop) != 12 {
		t.Fatalf("%d records at the stop; want tokyo6's 12", len(atStop))
	}
	aheadOf(t, "tokyo6's flush", "tokyo6", atStop, 9*time.Hour-time.Minute-10*time.Second, 9*time.Hour-time.Minute)
}
