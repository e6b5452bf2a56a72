package daemon

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
)

// A host's offset moves its own messages ahead alone: a message of the host that is not
// ahead (its clock set right) is believed at once, another sender naming the host is
// not moved by it, and the offset is forgotten once no message told it for
// syslogClockMemory.
func TestASyslogHostsOffsetMovesNoOtherMessage(t *testing.T) {
	c := syslogClocks{settle: time.Second}
	relay, other := netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.3")
	now := time.Now()
	line := func(at time.Time) sourceLine {
		return sourceLine{rec: abusewatch.Record{Source: syslogSource, Line: "x", Read: at}}
	}
	if out := c.date(relay, "tokyo1", 9*time.Hour, line(now)); len(out) != 0 {
		t.Fatalf("the first message of a host 9 hours ahead sent at once: %+v; want it held", out)
	}
	out := c.settled(now.Add(time.Second))
	if len(out) != 1 || out[0].rec.HostsAhead["tokyo1"] != 9*time.Hour {
		t.Fatalf("released %+v; want the message dated 9 hours earlier", out)
	}
	// Live: about the offset, dated by it at once.
	if out := c.date(relay, "tokyo1", 9*time.Hour-time.Second, line(now.Add(2*time.Second))); len(out) != 1 || out[0].rec.HostsAhead["tokyo1"] != 9*time.Hour {
		t.Errorf("a live message of the host: %+v; want it sent dated 9 hours earlier", out)
	}
	// The clock set right: not ahead, believed.
	if out := c.date(relay, "tokyo1", time.Second, line(now.Add(3*time.Second))); len(out) != 1 || out[0].rec.HostsAhead != nil {
		t.Errorf("a message of the host, its clock set right: %+v; want it sent as it is", out)
	}
	// Another sender naming the host, 3 hours ahead: its own offset, not tokyo1's.
	if out := c.date(other, "tokyo1", 3*time.Hour, line(now.Add(4*time.Second))); len(out) != 0 {
		t.Errorf("another sender's message naming the host: %+v; want it held for its own offset", out)
	}
	if out := c.settled(now.Add(6 * time.Second)); len(out) != 1 || out[0].rec.HostsAhead["tokyo1"] != 3*time.Hour {
		t.Errorf("released %+v; want the other sender's message dated 3 hours earlier", out)
	}
	// Forgotten: a message 2 hours ahead long after is held for an offset of its own.
	later := now.Add(syslogClockMemory + time.Minute)
	c.settled(later)
	if out := c.date(relay, "tokyo1", 2*time.Hour, line(later)); len(out) != 0 {
		t.Errorf("a message 2 hours ahead after the offset was forgotten: %+v; want it held", out)
	}
	if out := c.settled(later.Add(time.Second)); len(out) != 1 || out[0].rec.HostsAhead["tokyo1"] != 2*time.Hour {
		t.Errorf("released %+v; want it dated 2 hours earlier, not 9", out)
	}
}

// Review 42 M3: a sender dating each message a little further ahead than the last held
// the host's messages as long as it went on: they are released after maxSyslogHold at
// most, and an offset of more than a day raises nothing. What is held at a stop is
// handed over, dated by the last offset (atStop).
func TestASyslogHostsMessagesAreHeldForABoundedTime(t *testing.T) {
	c := syslogClocks{settle: 3 * time.Second}
	sender := netip.MustParseAddr("127.0.0.2")
	now := time.Now()
	line := func(at time.Time) sourceLine {
		return sourceLine{rec: abusewatch.Record{Source: syslogSource, Line: "x", Read: at}}
	}
	var released int
	for i := range 40 {
		at := now.Add(time.Duration(i) * time.Second)
		excess := time.Hour + time.Duration(i)*3*time.Second
		if i%2 == 1 {
			excess = 3 * 24 * time.Hour // more than a day ahead: no offset
		}
		released += len(c.date(sender, "web1", excess, line(at)))
		released += len(c.settled(at))
	}
	if released == 0 {
		t.Fatalf("40 messages over 40 s, each a little further ahead: none released; want them out after %s", maxSyslogHold)
	}
	// The stop dates what is held by the last offset, as the hold's end would.
	atStop := c.atStop()
	if len(atStop)+released != 40 {
		t.Errorf("%d released and %d handed over at the stop, of 40", released, len(atStop))
	}
	for _, l := range atStop {
		if got := l.rec.HostsAhead["web1"]; got != time.Hour+38*3*time.Second {
			t.Errorf("a message handed over at the stop dated %s earlier; want %s, the last offset", got, time.Hour+38*3*time.Second)
		}
	}
	if again := c.atStop(); len(again) != 0 {
		t.Errorf("%d messages handed over at a second look; want none", len(again))
	}
}

// A sender that names many hosts (any text can be a hostname), each holding less than
// another sender's flush, fills the hold: the room is taken from its own hosts, and the
// other sender's flush stays held, to be dated by its offset.
func TestASyslogHostsOfOneSenderFillingTheHoldMakeRoomThemselves(t *testing.T) {
	const size = 1000
	c := syslogClocks{settle: time.Hour, budget: 40 * (size + heldOverhead)}
	sprayer, relay := netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.3")
	now := time.Now()
	line := func(host string) sourceLine {
		return sourceLine{rec: abusewatch.Record{Source: syslogSource, Line: host + strings.Repeat("x", size-len(host)), Read: now}}
	}
	// The relay's flush: ten messages, each further ahead.
	for i := range 10 {
		if out := c.date(relay, "tokyo1", 9*time.Hour+time.Duration(i)*time.Minute, line("tokyo1")); len(out) != 0 {
			t.Fatalf("the relay's flush: %d released at its message %d; want it held", len(out), i)
		}
	}
	// The sprayer: five messages each of 20 hosts, 100 in all.
	var released []sourceLine
	for i := range 100 {
		host := fmt.Sprintf("h%02d", i%20)
		released = append(released, c.date(sprayer, host, 2*time.Hour, line(host))...)
	}
	for _, l := range released {
		if strings.HasPrefix(l.rec.Line, "tokyo1") {
			t.Fatalf("the relay's held message released to make room for the sprayer's hosts; want the sprayer's alone")
		}
	}
	if len(released) < 70 {
		t.Errorf("%d of the sprayer's 100 released; want all but those the budget holds beside the relay's", len(released))
	}
	out := c.atStop()
	n := 0
	for _, l := range out {
		if strings.HasPrefix(l.rec.Line, "tokyo1") {
			n++
			if got := l.rec.HostsAhead["tokyo1"]; got != 9*time.Hour+9*time.Minute {
				t.Errorf("the relay's message dated %s earlier; want 9h9m0s, its last offset", got)
			}
		}
	}
	if n != 10 {
		t.Errorf("%d of the relay's 10 messages held at the stop; want all", n)
	}
}
