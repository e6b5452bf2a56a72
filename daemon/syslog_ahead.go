package daemon

import (
	"cmp"
	"context"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// A relay (rsyslog's queue, a forwarder back from an outage) flushes hours of a host's
// messages in seconds. Of a host ahead of detect.timezone (a fast clock, another zone
// without an offset), each message more than maxSkew after it arrived was dated when it
// arrived: hours of the host's lines one burst, an incident and a report that their
// times never made. A flush gives no file whose last write would tell the host's offset
// (as a scan's and a followed backlog's do), and it comes oldest first: each message is
// the freshest yet, and tells a smaller offset than the last. So the listener learns a
// host's offset from its freshest message (the largest time after arrival seen), and a
// message that says more than the host's known offset (the first of a host ahead, or a
// flush's) is held, with the host's messages that follow it, until the host's messages
// stop saying more (syslogSettle): then all of them are dated by their time less the
// last one's offset (abusewatch.Record.HostsAhead, as a scan's file), which keeps their
// spacing, and none after it arrived. A host whose offset is known has its messages
// ahead dated so at once: a flush after a short outage, by the offset its live messages
// told. The offset is forgotten once no message has told it for syslogClockMemory: a
// host whose clock was set right has its messages, which are not ahead, believed at
// once, and none of them is ever moved by it. A host is known by its sender's address
// and the hostname it gives: a sender can move no other sender's messages. What is held
// at a stop is dated so, by the offsets known then, and stored (handOver); the hold is
// bounded by bytes, and a host that fills it ends its own hold (maxHeldBytes, hold).

// syslogSettle is how long a host's held messages wait after the last one that said
// more than its offset: a flush's messages come faster than that; a host's live message
// waits that long at most before it is dated.
const syslogSettle = 3 * time.Second

// maxSyslogHold is how long a host's messages are held at most, however their offsets
// go on rising: a sender dating each message a little further ahead (or anyone who can
// put a line naming the host into a relay) held the host's messages for as long as it
// went on (review 42 M3).
const maxSyslogHold = 30 * time.Second

// syslogClockMemory is how long a host's offset is kept after a message last told it.
const syslogClockMemory = 10 * time.Minute

// clockJitter is how much a host's offset may seem to grow between its live messages:
// its time's second, a network's and a poll's delay. More is a message written before
// it was sent (a flush), or a clock moved ahead.
const clockJitter = 2 * time.Second

// maxHeldBytes bounds the messages held, all hosts together, by their size: a hold
// is memory, and a count (50,000 messages of up to 64 KiB) let it reach 3 GB. 32 MiB
// holds some 80,000 auth lines of 150 bytes (hours of a busy host's queue,
// several hosts' flushes at once), and 500 of the longest; it is what the listener's
// connections may take in buffers at most (256 of 128 KiB), so the listener's memory
// stays within tens of MiB whatever its senders do. Beyond it, the host that holds most
// has its messages released, dated by its best offset (see hold).
const maxHeldBytes = 32 << 20

// heldOverhead is what a held message takes beside its text: its record, its host's
// name, its place in the host's slice.
const heldOverhead = 256

// syslogClocks are the offsets of the syslog listener's hosts ahead, and their messages
// held while a flush goes on.
type syslogClocks struct {
	mu     sync.Mutex
	of     map[clockKey]*hostClock
	hosts  atomic.Int64  // len(of), read without mu for every message (known)
	bytes  int           // the size of the messages held, all hosts (heldSize)
	budget int           // maxHeldBytes (tests make it smaller; 0 is maxHeldBytes)
	settle time.Duration // syslogSettle (tests make it shorter)
	// unsent are messages the stop kept from being sent (released, or in hand): they
	// are handed over at the stop, with the held ones (atStop).
	unsent []sourceLine
}

type clockKey struct {
	peer netip.Addr
	host string
}

// hostClock is one host's offset: how far its freshest message was dated after it
// arrived.
type hostClock struct {
	ahead  time.Duration
	told   time.Time // when a message last told it (arrived with about that offset)
	raised time.Time // when a held message last said more
	since  time.Time // when the first of held arrived
	held   []heldLine
	bytes  int // the size of held (heldSize)
}

type heldLine struct {
	l      sourceLine
	host   string        // as the message gives it (its key's)
	excess time.Duration // how far after it arrived the message is dated
}

// date says what becomes of l, a message from peer of host, dated excess after it
// arrived: the messages to send now (l, with the host's offset when it is ahead; none
// when it is held).
func (c *syslogClocks) date(peer netip.Addr, host string, excess time.Duration, l sourceLine) []sourceLine {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := clockKey{peer, host}
	hc := c.of[key]
	read := l.rec.Read
	if hc != nil && len(hc.held) == 0 && read.Sub(hc.told) > syslogClockMemory {
		delete(c.of, key) // not told for long: a clock set right, or gone
		c.hosts.Store(int64(len(c.of)))
		hc = nil
	}
	if hc != nil && len(hc.held) > 0 {
		// A flush goes on: the host's messages wait in their order. A time more than a
		// day ahead tells no offset, here either.
		if excess > hc.ahead+clockJitter && excess <= maxBacklogAhead {
			hc.ahead, hc.raised = excess, read
		}
		return c.hold(hc, heldLine{l, host, excess})
	}
	// A time more than a day ahead tells no offset (a clock stepped for a moment, a
	// forged line), as in a scan: dated when it arrived, by clock.go's rule.
	if excess <= maxSkew || excess > maxBacklogAhead {
		return []sourceLine{l}
	}
	if hc != nil && excess <= hc.ahead+clockJitter {
		if excess >= hc.ahead-clockJitter {
			hc.told = read
		}
		return []sourceLine{aheadBy(l, host, excess, hc.ahead)}
	}
	// More than the known offset, or none known: the first of a flush, or of a host
	// ahead. Held until the host's messages settle.
	if hc == nil {
		if len(c.of) >= maxNamedPeers {
			return []sourceLine{l}
		}
		if c.of == nil {
			c.of = map[clockKey]*hostClock{}
		}
		hc = &hostClock{}
		c.of[key] = hc
		c.hosts.Store(int64(len(c.of)))
	}
	hc.ahead, hc.told, hc.raised, hc.since = excess, read, read, read
	return c.hold(hc, heldLine{l, host, excess})
}

// hold adds h to hc's held messages, and returns those released to make room for it.
// Beyond the budget, the host that holds most (of the sender that holds most) has its
// messages released, each dated by its best offset, as maxSyslogHold's end would: the
// sender that floods the hold (h among them when it is h's) ends its own hold, and the
// other hosts' flushes are still held and dated by their offsets. Its messages that
// follow are held anew.
func (c *syslogClocks) hold(hc *hostClock, h heldLine) []sourceLine {
	size := heldSize(h)
	hc.held = append(hc.held, h)
	hc.bytes += size
	c.bytes += size
	var out []sourceLine
	for c.bytes > cmp.Or(c.budget, maxHeldBytes) {
		out = append(out, c.release(c.largest())...)
	}
	return out
}

// heldSize is what h takes held: its text and heldOverhead.
func heldSize(h heldLine) int { return len(h.l.rec.Line) + heldOverhead }

// largest is the host that holds most of the sender that holds most: a sender that
// names many hosts (any text can be a hostname) takes its own hosts' room, not the
// others'; a relay's hosts go one at a time.
func (c *syslogClocks) largest() *hostClock {
	bySender := map[netip.Addr]int{}
	for key, hc := range c.of {
		bySender[key.peer] += hc.bytes
	}
	var most *hostClock
	var mostKey clockKey
	for key, hc := range c.of {
		if most == nil || bySender[key.peer] > bySender[mostKey.peer] ||
			key.peer == mostKey.peer && hc.bytes > most.bytes {
			most, mostKey = hc, key
		}
	}
	return most
}

// settled returns the held messages of the hosts whose messages stopped saying more
// than their offset settle before now, each dated by its host's offset.
func (c *syslogClocks) settled(now time.Time) []sourceLine {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []sourceLine
	for key, hc := range c.of {
		switch {
		case len(hc.held) > 0 && (now.Sub(hc.raised) >= c.settle || now.Sub(hc.since) >= maxSyslogHold):
			out = append(out, c.release(hc)...)
		case len(hc.held) == 0 && now.Sub(hc.told) > syslogClockMemory:
			delete(c.of, key)
			c.hosts.Store(int64(len(c.of)))
		}
	}
	return out
}

// release returns hc's held messages, each dated by the offset of the last one ahead:
// the freshest, as a scan's file is dated by a host's last line (a stray message far
// ahead among them moves none of the others); the messages not ahead keep their time.
func (c *syslogClocks) release(hc *hostClock) []sourceLine {
	ahead := hc.ahead
	for i := len(hc.held) - 1; i >= 0; i-- {
		if hc.held[i].excess > maxSkew && hc.held[i].excess <= maxBacklogAhead {
			ahead = hc.held[i].excess
			break
		}
	}
	hc.ahead = ahead
	out := make([]sourceLine, 0, len(hc.held))
	for _, h := range hc.held {
		out = append(out, aheadBy(h.l, h.host, h.excess, ahead))
	}
	c.bytes -= hc.bytes
	hc.held, hc.bytes = nil, 0
	return out
}

// aheadBy is l, dated ahead earlier when it is ahead itself (more than maxSkew after it
// arrived): a message that is not ahead is believed, as clock.go says.
func aheadBy(l sourceLine, host string, excess, ahead time.Duration) sourceLine {
	if excess > maxSkew && ahead > maxSkew {
		l.rec.HostsAhead = map[string]time.Duration{host: ahead}
	} else {
		l.rec.HostsAhead = nil
	}
	return l
}

// releaseHeld sends the held messages of the hosts that settled, until ctx ends. What
// the stop keeps from being sent is kept for handOver.
func (l *syslogListener) releaseHeld(ctx context.Context) {
	tick := time.NewTicker(l.clocks.settle / 4)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			if l.send(ctx, l.clocks.settled(now)) != nil {
				return
			}
		}
	}
}

// send sends lines until ctx ends; those it could not send are kept for handOver.
func (l *syslogListener) send(ctx context.Context, lines []sourceLine) error {
	for i, line := range lines {
		select {
		case l.out <- line:
		case <-ctx.Done():
			l.clocks.keep(lines[i:])
			return ctx.Err()
		}
	}
	return nil
}

// handOver sends, once the listener's connections and releaseHeld ended, what it
// received and had not sent: the messages the stop kept from being sent, then the held
// ones, each dated by its host's best offset as the hold's end would date it. The Run
// loop takes them until the listener returns and commits them with its last batch:
// nothing the listener received is lost at a stop.
func (l *syslogListener) handOver() {
	lines := l.clocks.atStop()
	if len(lines) == 0 {
		return
	}
	l.d.log.Info("syslog: messages held for their host's offset, or in hand, at the stop: dated by the offset known and stored",
		"messages", len(lines))
	for _, line := range lines {
		l.out <- line
	}
}

// known says whether any host's offset is known: a message not ahead of a host whose
// messages are held must wait in their order.
func (c *syslogClocks) known() bool { return c.hosts.Load() > 0 }

// keep keeps lines that the stop kept from being sent, for atStop.
func (c *syslogClocks) keep(lines []sourceLine) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.unsent = append(c.unsent, lines...)
}

// atStop returns, and forgets, what waits at the stop: the lines kept, then every held
// message, dated by its host's best offset (release), as the hold's end would date it.
func (c *syslogClocks) atStop() []sourceLine {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.unsent
	c.unsent = nil
	for _, hc := range c.of {
		if len(hc.held) > 0 {
			out = append(out, c.release(hc)...)
		}
	}
	return out
}
