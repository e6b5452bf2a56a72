package daemon

import (
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
// and the hostname it gives: a sender can move no other sender's messages.

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

// maxHeldLines bounds the messages held, all hosts together: beyond it a message is
// dated at once by the offset known (when it arrived, for a message that says more).
const maxHeldLines = 50000

// syslogClocks are the offsets of the syslog listener's hosts ahead, and their messages
// held while a flush goes on.
type syslogClocks struct {
	mu     sync.Mutex
	of     map[clockKey]*hostClock
	hosts  atomic.Int64  // len(of), read without mu for every message (known)
	held   int           // messages held, all hosts
	settle time.Duration // syslogSettle (tests make it shorter)
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
		if c.held < maxHeldLines {
			hc.held = append(hc.held, heldLine{l, host, excess})
			c.held++
			return nil
		}
		return append(c.release(hc), aheadBy(l, host, excess, hc.ahead))
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
		if len(c.of) >= maxNamedPeers || c.held >= maxHeldLines {
			return []sourceLine{l}
		}
		if c.of == nil {
			c.of = map[clockKey]*hostClock{}
		}
		hc = &hostClock{}
		c.of[key] = hc
		c.hosts.Store(int64(len(c.of)))
	} else if c.held >= maxHeldLines {
		hc.ahead, hc.told = excess, read
		return []sourceLine{aheadBy(l, host, excess, excess)}
	}
	hc.ahead, hc.told, hc.raised, hc.since = excess, read, read, read
	hc.held = append(hc.held, heldLine{l, host, excess})
	c.held++
	return nil
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
	c.held -= len(hc.held)
	hc.held = nil
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

// releaseHeld sends the held messages of the hosts that settled, until ctx ends. What is
// held then is lost, as the messages in flight are: counted as errors and warned of.
func (l *syslogListener) releaseHeld(ctx context.Context) {
	tick := time.NewTicker(l.clocks.settle / 4)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			if n := l.clocks.drop(); n > 0 {
				l.c.fail(int64(n), "messages of hosts whose clocks are ahead, held for their offset, lost at the stop")
				l.d.log.Warn("syslog: messages of hosts whose clocks are ahead were held to be dated by their offset, and are lost at the stop (a relay's flush; its sender does not send them again)",
					"lost", n)
			}
			return
		case now := <-tick.C:
			for _, line := range l.clocks.settled(now) {
				select {
				case l.out <- line:
				case <-ctx.Done():
					return
				}
			}
		}
	}
}

// known says whether any host's offset is known: a message not ahead of a host whose
// messages are held must wait in their order.
func (c *syslogClocks) known() bool { return c.hosts.Load() > 0 }

// drop forgets every held message and returns how many there were.
func (c *syslogClocks) drop() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.held
	for _, hc := range c.of {
		hc.held = nil
	}
	c.held = 0
	return n
}
