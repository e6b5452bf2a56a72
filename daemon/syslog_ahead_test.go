package daemon

import (
	"net/netip"
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
