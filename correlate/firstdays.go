package correlate

import (
	"cmp"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/abusewatch/abusewatch"
)

// firstDays holds, during a pass over history, the oldest events (by time, then Seq)
// of each recurring scope on the first of its active days that the pass reads whole:
// what the recurrence rule takes as evidence of the first day when it makes the
// scope's incident. Read from the store instead, each was a decompression of an old
// block's frame for a few events (7,120 in a first pass over 10M events: 2.2 s of its
// 37 s of CPU). A scope's are let go of when taken; its first day may also move on (the
// period slides), and then the store is read as before; so is a first day the pass
// had begun to read before it could keep it.
//
// They are held for months of the pass (until the scope has recurred on enough days),
// for thousands of scopes: packed, without a pointer the collector would follow (as
// events, 53 MB of a 10M pass's 260 MB live heap, and more collector work than the
// reads they spared).
type firstDays struct {
	mu     sync.Mutex // take runs on the goroutines judging several scopes at once
	n      int        // events kept per scope
	from   time.Time  // the pass reads every event from here on
	today  time.Time  // the day of the pass's batch
	scopes map[netip.Prefix]*firstDay
	// named says whether an event names its address: a recurrence of a network names
	// the addresses that sent reportable, unforgeable evidence alone.
	named func(*abusewatch.Event) bool
}

type firstDay struct {
	day time.Time    // the day kept; zero: none
	evs packedEvents // the oldest n, in order
	// The oldest n that name their address (named), in order: any number of
	// packets before them would crowd them out of evs (review 21d D0).
	naming packedEvents
	// Of a network, the addresses of its events from day on that name them (named:
	// reportable, unforgeable evidence), sorted, at most abusewatch.MaxSources: its
	// recurrence names every such address the pass read, not only those of the events
	// it keeps.
	addrs []netip.Addr
	// No day up to this one is kept: the pass read some of its events without
	// keeping them (the scope's day was taken, or let go of).
	idle time.Time
}

// start begins keeping n events a scope, for a pass reading every event from from on.
func (f *firstDays) start(n int, from time.Time, named func(*abusewatch.Event) bool) {
	f.n, f.from, f.scopes, f.named = n, from, map[netip.Prefix]*firstDay{}, named
}

// keep looks at the events at of batch, of scope, whose active days are days
// (sorted): those of its first active day read whole by the pass are kept, up to n.
// The batches of a pass come in time order, each in time order: once an event lies
// past that day, so does every later one.
func (f *firstDays) keep(scope netip.Prefix, days []time.Time, batch []abusewatch.Event, at []int32) {
	fd := f.scopes[scope]
	network := !scope.IsSingleIP()
	var last netip.Addr // the lines of one connection come together
	for _, i := range at {
		e := &batch[i]
		if fd == nil || fd.day.IsZero() {
			d := dayOf(e.Time)
			if d.Before(f.from) || (fd != nil && !d.After(fd.idle)) {
				continue // a day begun before the pass, or before the scope was let go of: not read whole
			}
			if _, active := slices.BinarySearchFunc(days, d, time.Time.Compare); !active {
				continue
			}
			if fd == nil {
				fd = &firstDay{}
				f.scopes[scope] = fd
			}
			fd.day = d
		}
		named := f.named(e)
		if network && e.Addr != last && named {
			last = e.Addr
			fd.addrs = addAddr(fd.addrs, e.Addr.Unmap())
		}
		if !e.Time.Before(fd.day.Add(24 * time.Hour)) {
			if !network {
				return
			}
			continue
		}
		fd.evs.insert(e, f.n)
		if named {
			fd.naming.insert(e, f.n)
		}
	}
}

// pastFirstDay returns the first day kept of scope when that day is over before from.
func (f *firstDays) pastFirstDay(scope netip.Prefix, from time.Time) *firstDay {
	fd := f.scopes[scope]
	if fd == nil || fd.day.IsZero() || from.Before(fd.day.Add(24*time.Hour)) {
		return nil
	}
	return fd
}

// addAddr returns addrs (sorted, distinct) with a added, up to abusewatch.MaxSources,
// in place.
func addAddr(addrs []netip.Addr, a netip.Addr) []netip.Addr {
	i, found := slices.BinarySearchFunc(addrs, a, netip.Addr.Compare)
	if found || len(addrs) >= abusewatch.MaxSources {
		return addrs
	}
	return slices.Insert(addrs, i, a)
}

// take returns the events kept of scope if they are of day, which is over by the time
// to, and of a network the addresses of its events since, and lets go of them.
func (f *firstDays) take(scope netip.Prefix, day, to time.Time) ([]*abusewatch.Event, []netip.Addr, bool) {
	f.mu.Lock()
	fd := f.scopes[scope]
	if fd == nil || fd.day.IsZero() || !fd.day.Equal(day) || !dayOf(to).After(day) {
		f.mu.Unlock()
		return nil, nil, false
	}
	evs, naming, addrs := fd.evs, fd.naming, fd.addrs
	fd.letGo(dayOf(to))
	f.mu.Unlock()
	return oldestOf(pointersTo(evs.unpack()), pointersTo(naming.unpack())), addrs, true
}

// pass tells that the pass reached day today; the days kept from before before can no
// longer be a first day, and are let go of.
func (f *firstDays) pass(today, before time.Time) {
	if today.Equal(f.today) {
		return
	}
	f.today = today
	for _, fd := range f.scopes {
		if !fd.day.IsZero() && fd.day.Before(before) {
			fd.letGo(today)
		}
	}
}

// letGo drops the day kept on day today of the pass: a day is kept again from the
// next on. What remains is a few dozen bytes a scope, for the rest of the pass.
func (fd *firstDay) letGo(today time.Time) {
	fd.day, fd.evs, fd.naming, fd.addrs, fd.idle = time.Time{}, packedEvents{}, packedEvents{}, nil, today
}

// packedEvents are events in order, their strings in one byte slice: memory the
// collector marks without looking into.
type packedEvents struct {
	evs  []packedEvent
	strs []byte
}

// packedEvent is an Event but for its strings, which are its lens bytes of strs from
// at on.
type packedEvent struct {
	seq       uint64
	nanos     int64
	offset    int32 // of its time's zone, in seconds
	addr      [16]byte
	bits      uint8 // of addr: 0 (none), 32 or 128
	port      uint16
	localPort uint16
	at        uint32
	lens      [9]uint32
}

// insert adds e in its place by time and Seq, keeping the oldest n.
func (p *packedEvents) insert(e *abusewatch.Event, n int) {
	t := e.Time.UnixNano()
	older := func(q *packedEvent) bool { return cmp.Or(cmp.Compare(q.nanos, t), cmp.Compare(q.seq, e.Seq)) < 0 }
	if len(p.evs) == n && older(&p.evs[n-1]) {
		return
	}
	j := len(p.evs)
	for j > 0 && !older(&p.evs[j-1]) {
		j--
	}
	if len(p.evs) == n {
		p.evs = p.evs[:n-1] // its strings stay in strs, unused, until take
	}
	if p.evs == nil {
		p.evs, p.strs = make([]packedEvent, 0, n), make([]byte, 0, 160*n) // a log line and a few names each
	}
	_, offset := e.Time.Zone()
	pe := packedEvent{seq: e.Seq, nanos: t, offset: int32(offset), port: e.Port, localPort: e.LocalPort, at: uint32(len(p.strs))}
	if e.Addr.IsValid() {
		pe.addr, pe.bits = e.Addr.As16(), uint8(e.Addr.BitLen())
	}
	for k, s := range e.StringFields() {
		pe.lens[k] = uint32(len(*s))
		p.strs = append(p.strs, *s...)
	}
	p.evs = slices.Insert(p.evs, j, pe)
}

// unpack returns the events, their strings cut from one string of their own.
func (p *packedEvents) unpack() []abusewatch.Event {
	all := string(p.strs)
	out := make([]abusewatch.Event, len(p.evs))
	for i, pe := range p.evs {
		e := &out[i]
		e.Seq, e.Port, e.LocalPort = pe.seq, pe.port, pe.localPort
		e.Time = time.Unix(0, pe.nanos).UTC()
		if pe.offset != 0 {
			e.Time = e.Time.In(time.FixedZone("", int(pe.offset)))
		}
		switch pe.bits {
		case 32:
			e.Addr = netip.AddrFrom16(pe.addr).Unmap()
		case 128:
			e.Addr = netip.AddrFrom16(pe.addr)
		}
		at := int(pe.at)
		for k, f := range e.StringFields() {
			*f = all[at : at+int(pe.lens[k])]
			at += int(pe.lens[k])
		}
	}
	return out
}
