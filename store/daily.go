package store

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"time"

	"github.com/abusewatch/abusewatch"
	bolt "go.etcd.io/bbolt"
)

// The long memory: compact counters that outlive the raw events, so six-month patterns
// (recurrence, baselines) cost bytes, not gigabytes.
//
//	days_all: day  → class counts of every event, with or without an address
//	hourly:   hour → class counts of every event (rate baselines)
//	days:     day [part] → the sealed per-scope counters of the day (sealedDay below);
//	          a scope is an address or its /24, /16, /8 (IPv6 /64, /48, /32)
//
// day is the number of UTC days since 1970-01-01 and hour the number of hours, both as
// big-endian uint32. days_all and hourly are a handful of keys per commit and are
// updated in its transaction. Per-scope counters would be thousands of random keys per
// commit (the cost that sank schema 2), so a day's scopes are kept in memory while its
// raw events come in and written as one sorted table when the day is sealed: when it is
// two days old, when the memory holds too many, before its raw events are pruned, or
// on Close. The raw blocks are the durable record until then: the commit lists each
// block in the unsealed bucket, a seal takes its day's blocks off, and Open counts
// again the blocks still listed.
//
// A day sealed more than once (a flood of new addresses fills the memory several times
// a day; late events) is kept in parts, each in scope order: the first under the day's
// key, the others under day + big-endian uint32 part number. A seal merges its counts
// into the day's last part while that holds at most pendingLimit scopes, else writes a
// new part; a reader adds the parts up. So neither the memory nor a seal holds more
// than about pendingLimit scopes at once, however many addresses a day brings (a
// million new IPv4 addresses are two million scopes: re-reading and rewriting the
// whole day at each seal took hundreds of MB), and a day has at most about
// 2 × scopes / pendingLimit + 1 parts. The activity index takes such a day once it
// is final, not at each early seal (active.go).
var (
	bucketDays    = []byte("days")
	bucketDaysAll = []byte("days_all")
	bucketHourly  = []byte("hourly")

	// metaCountedFrom is the first day counters are kept for: pruning counters moves
	// it, so the raw events of a pruned day are not counted again.
	metaCountedFrom = []byte("counted_from")
)

// defaultPendingLimit is how many scope-class-days the memory holds before the oldest
// days are sealed early: about pendingRowBytes each, and as many scopes at most in a
// part that a later seal of the day merges into (which it then holds too).
const defaultPendingLimit = 50_000

// pendingRowBytes is about what a scope-class-day costs in memory while pending (the
// row, its map entries, the networks' entry of an IPv4 address: about 90 bytes with a
// flood's new addresses, TestPendingRowBytes), and sealRowBytes what a seal allocates
// for a scope in its own copies (sorted, merged, encoded, its activity updates; bbolt's
// pages aside): the counters' own accounting of their memory (Store.sealPeak).
const (
	pendingRowBytes = 120
	sealRowBytes    = 450
)

func dayNumber(t time.Time) uint32  { return uint32(t.Unix() / 86400) }
func hourNumber(t time.Time) uint32 { return uint32(t.Unix() / 3600) }

func encodeCounts(m map[abusewatch.Class]int) []byte {
	classes := make([]abusewatch.Class, 0, len(m))
	for c := range m {
		classes = append(classes, c)
	}
	slices.Sort(classes)
	var b []byte
	for _, c := range classes {
		name := string(c)[:min(len(c), 255)]
		b = append(b, byte(len(name)))
		b = append(b, name...)
		b = binary.AppendUvarint(b, uint64(m[c]))
	}
	return b
}

func decodeCounts(b []byte, into map[abusewatch.Class]int) error {
	for len(b) > 0 {
		n := int(b[0])
		if len(b) < 1+n {
			return errors.New("truncated class name in a counter")
		}
		class := abusewatch.Class(b[1 : 1+n])
		b = b[1+n:]
		v, k := binary.Uvarint(b)
		if k <= 0 {
			return errors.New("truncated count in a counter")
		}
		into[class] += int(v)
		b = b[k:]
	}
	return nil
}

// addTotals adds events to the every-event daily and hourly counters inside the
// transaction that stores them, summed in memory first: one read and write per day
// and hour of the batch.
func addTotals(tx *bolt.Tx, events []abusewatch.Event) error {
	daily := map[uint32]map[abusewatch.Class]int{}
	hourly := map[uint32]map[abusewatch.Class]int{}
	add := func(m map[uint32]map[abusewatch.Class]int, k uint32, c abusewatch.Class) {
		if m[k] == nil {
			m[k] = map[abusewatch.Class]int{}
		}
		m[k][c]++
	}
	for _, e := range events {
		add(daily, dayNumber(e.Time), e.Class)
		add(hourly, hourNumber(e.Time), e.Class)
	}
	for _, t := range []struct {
		b *bolt.Bucket
		m map[uint32]map[abusewatch.Class]int
	}{{tx.Bucket(bucketDaysAll), daily}, {tx.Bucket(bucketHourly), hourly}} {
		for k, m := range t.m {
			key := binary.BigEndian.AppendUint32(nil, k)
			if old := t.b.Get(key); old != nil {
				if err := decodeCounts(old, m); err != nil {
					return fmt.Errorf("counter %x: %w", key, err)
				}
			}
			if err := t.b.Put(key, encodeCounts(m)); err != nil {
				return err
			}
		}
	}
	return nil
}

// scope is the key of a counted address or network: its prefixKey.
type scope [17]byte

func scopeOf(p netip.Prefix) scope {
	var sc scope
	a := p.Masked().Addr().As16()
	copy(sc[:], a[:])
	sc[16] = byte(p.Bits())
	return sc
}

// prefix is the address or network sc counts, its IPv4 addresses unmapped.
func (sc scope) prefix() netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom16([16]byte(sc[:16])).Unmap(), int(sc[16]))
}

type classCount struct {
	class abusewatch.Class
	n     int
}

// table is one day's counts by scope, as a sealed day holds them.
type table map[scope][]classCount

// scopeCounts is the counts of one scope of a day.
type scopeCounts struct {
	sc     scope
	counts []classCount
}

// compareScopes orders scopes as their bytes do, a word at a time.
func compareScopes(a, b *scope) int {
	return cmp.Or(
		cmp.Compare(binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(b[:8])),
		cmp.Compare(binary.BigEndian.Uint64(a[8:16]), binary.BigEndian.Uint64(b[8:16])),
		cmp.Compare(a[16], b[16]))
}

// sorted is t in scope order.
func (t table) sorted() []scopeCounts {
	out := make([]scopeCounts, 0, len(t))
	for sc, cs := range t {
		out = append(out, scopeCounts{sc, cs})
	}
	slices.SortFunc(out, func(a, b scopeCounts) int { return compareScopes(&a.sc, &b.sc) })
	return out
}

// scopeClass is one class of one scope: the key of the in-memory counters, which hold
// no pointers so the collector does not scan them.
type scopeClass struct {
	scope scope
	class uint16
}

// pendingCounters are the per-scope counts of the days not sealed yet, by day.
type pendingCounters struct {
	days    map[uint32]*dayCounts
	size    int    // scope-class-days held
	newest  uint32 // the newest day seen
	names   []abusewatch.Class
	classes map[abusewatch.Class]uint16
}

func newPending() pendingCounters {
	return pendingCounters{days: map[uint32]*dayCounts{}, classes: map[abusewatch.Class]uint16{}}
}

// dayCounts is the pending counts of one day: a row per scope and class.
type dayCounts struct {
	rows map[scopeClass]int32 // the row of each scope-class
	keys []scopeClass         // by row
	n    []uint32             // by row
	// The rows of the four scopes of an IPv4 address for a class (keyed address<<16 |
	// class): an event of an address seen before that day costs one lookup of a small
	// key, not four of a large one. Also those of a /24's networks (see add).
	v4 map[uint64][4]int32
}

// newDayCounts makes the counts of a day, with room for size scope-classes: growing
// a map of 100,000 step by step rehashes it again and again.
func newDayCounts(size int) *dayCounts {
	return &dayCounts{rows: make(map[scopeClass]int32, size), v4: make(map[uint64][4]int32, size/2)}
}

// row is the row of k, added if new.
func (dc *dayCounts) row(k scopeClass) int32 {
	r, ok := dc.rows[k]
	if !ok {
		r = int32(len(dc.keys))
		dc.rows[k] = r
		dc.keys = append(dc.keys, k)
		dc.n = append(dc.n, 0)
	}
	return r
}

// add counts n events of class from addr on day: the address and its networks. Days
// before countedFrom are not counted.
func (p *pendingCounters) add(day uint32, addr netip.Addr, class abusewatch.Class, n int, countedFrom uint64) {
	if uint64(day) < countedFrom {
		return
	}
	id, ok := p.classes[class]
	if !ok {
		id = uint16(min(len(p.names), 0xffff))
		p.classes[class] = id
		p.names = append(p.names, class)
	}
	dc := p.days[day]
	if dc == nil {
		// Sized as the newest day held before it (the day before, while it waits to
		// be sealed). Not the widest day ever: one day of a botnet would make every
		// later day's map that big.
		size := 0
		if newest := p.days[p.newest]; newest != nil {
			size = len(newest.keys)
		}
		dc = newDayCounts(size)
		p.days[day] = dc
	}
	p.newest = max(p.newest, day)
	held := len(dc.keys)
	if addr = addr.Unmap(); addr.Is4() {
		a := addr.As4()
		key := uint64(binary.BigEndian.Uint32(a[:]))<<16 | uint64(id)
		rows, ok := dc.v4[key]
		if !ok {
			// A new address of a /24 seen that day takes the rows of its networks
			// from the /24's entry (keyed 1<<48 | /24<<16 | class).
			ix := scopes(addr)
			netKey := 1<<48 | key>>24<<24 | uint64(id)
			if rows, ok = dc.v4[netKey]; !ok {
				for i := 1; i < len(ix); i++ {
					rows[i] = dc.row(scopeClass{scopeOf(ix[i]), id})
				}
				dc.v4[netKey] = rows
			}
			rows[0] = dc.row(scopeClass{scopeOf(ix[0]), id})
			dc.v4[key] = rows
		}
		for _, r := range rows {
			dc.n[r] += uint32(n)
		}
	} else {
		for _, ix := range scopes(addr) {
			dc.n[dc.row(scopeClass{scopeOf(ix), id})] += uint32(n)
		}
	}
	p.size += len(dc.keys) - held
}

// counts returns the counts of sc on day.
func (p *pendingCounters) counts(day uint32, sc scope) []classCount {
	dc := p.days[day]
	if dc == nil {
		return nil
	}
	var out []classCount
	for id, name := range p.names {
		if r, ok := dc.rows[scopeClass{sc, uint16(id)}]; ok {
			out = append(out, classCount{name, int(dc.n[r])})
		}
	}
	return out
}

// drop forgets days (once sealed).
func (p *pendingCounters) drop(days []uint32) {
	for _, d := range days {
		if dc := p.days[d]; dc != nil {
			p.size -= len(dc.keys)
			delete(p.days, d)
		}
	}
}

// scopes are the counted scopes of addr: itself and its /24, /16, /8 (IPv6 /64, /48,
// /32, the sizes providers assign and route).
func scopes(addr netip.Addr) [4]netip.Prefix {
	addr = addr.Unmap()
	sizes := [3]int{24, 16, 8}
	if addr.Is6() {
		sizes = [3]int{64, 48, 32}
	}
	out := [4]netip.Prefix{netip.PrefixFrom(addr, addr.BitLen())}
	for i, b := range sizes {
		out[i+1], _ = addr.Prefix(b)
	}
	return out
}

// sealDue seals, into tx, the days of p that are due: those two days older than the
// newest, and the oldest others (early) while more than s.pendingLimit scope-class-days
// are held. It then puts at most s.pendingLimit scopes of a day sealed early and now
// two days old in the activity index. It returns the days sealed; the caller drops
// them from p once tx commits.
func (s *Store) sealDue(tx *bolt.Tx, p *pendingCounters) ([]uint32, error) {
	total := p.size
	var due []uint32
	final := func(d uint32) bool { return d+2 <= p.newest }
	for _, d := range slices.Sorted(maps.Keys(p.days)) {
		if final(d) || total > s.pendingLimit {
			due = append(due, d)
			total -= len(p.days[d].keys)
		}
	}
	if err := s.seal(tx, due, p, func(d uint32) bool { return !final(d) }); err != nil {
		return nil, err
	}
	n, _, err := indexBehind(tx, final, s.pendingLimit)
	s.sealPeak = max(s.sealPeak, p.size*pendingRowBytes+n*sealRowBytes)
	return due, err
}

// seal adds the pending counts of days to their sealed parts in tx, and their activity
// to the activity index or, for a day behind in it, to the day's parts alone
// (indexSeal); early says which days are sealed early, while they may still bring
// many more scopes.
func (s *Store) seal(tx *bolt.Tx, days []uint32, p *pendingCounters, early func(day uint32) bool) error {
	sealed := metaUint(tx.Bucket(bucketMeta), metaSeq)
	for _, d := range days {
		counts := p.sorted(d)
		held, err := addSealed(tx, d, sealed, counts, s.pendingLimit)
		if err != nil {
			return err
		}
		if err := s.indexSeal(tx, d, counts, early(d)); err != nil {
			return err
		}
		s.sealPeak = max(s.sealPeak, p.size*pendingRowBytes+held*sealRowBytes)
	}
	return forgetUnsealed(tx, days)
}

// dayKey is the key of part of day in the days bucket (part 0: the day alone).
func dayKey(day, part uint32) []byte {
	k := binary.BigEndian.AppendUint32(nil, day)
	if part > 0 {
		k = binary.BigEndian.AppendUint32(k, part)
	}
	return k
}

// lastPart returns the number and value of the last sealed part of day, or a nil value.
func lastPart(b *bolt.Bucket, day uint32) (uint32, []byte) {
	c := b.Cursor()
	var k, v []byte
	if k, _ = c.Seek(dayKey(day+1, 0)); k == nil {
		k, v = c.Last()
	} else {
		k, v = c.Prev()
	}
	if len(k) < 4 || binary.BigEndian.Uint32(k) != day {
		return 0, nil
	}
	if len(k) == 8 {
		return binary.BigEndian.Uint32(k[4:]), v
	}
	return 0, v
}

// addSealed adds counts (of day, in scope order) to its sealed parts: merged into the
// last part while that holds at most limit scopes, else as a new part. It returns how
// many scope counts it held at once.
func addSealed(tx *bolt.Tx, day uint32, sealed uint64, counts []scopeCounts, limit int) (int, error) {
	b := tx.Bucket(bucketDays)
	part, old := lastPart(b, day)
	write, held := counts, len(counts)
	if old != nil {
		sd, err := readSealedDay(old)
		if err != nil {
			return 0, fmt.Errorf("counters of day %d: %w", day, err)
		}
		if sd.n+len(counts) <= limit {
			if write, err = mergeSealed(&sd, counts); err != nil {
				return 0, fmt.Errorf("counters of day %d: %w", day, err)
			}
			held += len(write)
		} else {
			part++
		}
	}
	if err := b.Put(dayKey(day, part), encodeSealedDay(sealed, write)); err != nil {
		return 0, err
	}
	return held, nil
}

// mergeSealed is the counts of the sealed part sd and of counts (in scope order), added
// up, in scope order.
func mergeSealed(sd *sealedDay, counts []scopeCounts) ([]scopeCounts, error) {
	out := make([]scopeCounts, 0, sd.n+len(counts))
	i := 0
	for j := 0; j < sd.n; j++ {
		sc, cs, err := sd.entry(j)
		if err != nil {
			return nil, err
		}
		for ; i < len(counts) && compareScopes(&counts[i].sc, &sc) < 0; i++ {
			out = append(out, counts[i])
		}
		if i < len(counts) && counts[i].sc == sc {
			for _, c := range counts[i].counts {
				cs = addCount(cs, c.class, c.n)
			}
			i++
		}
		out = append(out, scopeCounts{sc, cs})
	}
	return append(out, counts[i:]...), nil
}

// sorted is the pending counts of day in scope order, without a map of its own: a
// day of a botnet holds tens of thousands of scopes.
func (p *pendingCounters) sorted(day uint32) []scopeCounts {
	type entry struct {
		k scopeClass
		n uint32
	}
	dc := p.days[day]
	if dc == nil {
		return nil
	}
	entries := make([]entry, 0, len(dc.keys))
	for i, k := range dc.keys {
		entries = append(entries, entry{k, dc.n[i]})
	}
	slices.SortFunc(entries, func(a, b entry) int {
		return cmp.Or(compareScopes(&a.k.scope, &b.k.scope), cmp.Compare(a.k.class, b.k.class))
	})
	all := make([]classCount, len(entries)) // the counts of every scope, carved up
	var out []scopeCounts
	for i, e := range entries {
		all[i] = classCount{p.names[e.k.class], int(e.n)}
		if len(out) > 0 && out[len(out)-1].sc == e.k.scope {
			out[len(out)-1].counts = all[i-len(out[len(out)-1].counts) : i+1 : i+1]
			continue
		}
		out = append(out, scopeCounts{e.k.scope, all[i : i+1 : i+1]})
	}
	return out
}

// forgetUnsealed takes the blocks of days off the unsealed list.
func forgetUnsealed(tx *bolt.Tx, days []uint32) error {
	u := tx.Bucket(bucketUnsealed)
	var done [][]byte
	err := u.ForEach(func(k, _ []byte) error {
		if len(k) == 12 && slices.Contains(days, binary.BigEndian.Uint32(k)/24) {
			done = append(done, slices.Clone(k))
		}
		return nil
	})
	for _, k := range done {
		if err == nil {
			err = u.Delete(k)
		}
	}
	return err
}

func addCount(cs []classCount, class abusewatch.Class, n int) []classCount {
	for i := range cs {
		if cs[i].class == class {
			cs[i].n += n
			return cs
		}
	}
	return append(cs, classCount{class, n})
}

// putSealedDay writes the sealed counts of a day that has none yet, in scope order,
// and marks their scopes active.
func putSealedDay(tx *bolt.Tx, day uint32, sealed uint64, counts []scopeCounts) error {
	if err := tx.Bucket(bucketDays).Put(dayKey(day, 0), encodeSealedDay(sealed, counts)); err != nil {
		return err
	}
	return markActive(tx, day, counts)
}

// A sealed day is one value:
//
//	version byte, uvarint seq (the last event sequence number when it was sealed),
//	uvarint c, c class names (uvarint length, bytes),
//	uvarint n, n × 17-byte scopes (sorted), n × u32 offsets into the counts,
//	counts: per scope a uvarint k and k × (uvarint class, uvarint count).
const sealedV1 = 1

// encodeSealedDay encodes a day's counts, in scope order.
func encodeSealedDay(sealed uint64, scs []scopeCounts) []byte {
	classes := map[abusewatch.Class]int{}
	var names []abusewatch.Class
	var counts []byte
	offsets := make([]byte, 0, 4*len(scs))
	for _, e := range scs {
		offsets = binary.BigEndian.AppendUint32(offsets, uint32(len(counts)))
		cs := e.counts
		counts = binary.AppendUvarint(counts, uint64(len(cs)))
		for _, c := range cs {
			i, ok := classes[c.class]
			if !ok {
				i = len(names)
				classes[c.class] = i
				names = append(names, c.class)
			}
			counts = binary.AppendUvarint(binary.AppendUvarint(counts, uint64(i)), uint64(c.n))
		}
	}
	b := binary.AppendUvarint([]byte{sealedV1}, sealed)
	b = binary.AppendUvarint(b, uint64(len(names)))
	for _, n := range names {
		b = binary.AppendUvarint(b, uint64(len(n)))
		b = append(b, n...)
	}
	b = binary.AppendUvarint(b, uint64(len(scs)))
	for _, e := range scs {
		b = append(b, e.sc[:]...)
	}
	return append(append(b, offsets...), counts...)
}

var errCorruptCounters = errors.New("corrupt sealed counters")

type sealedDay struct {
	names   []abusewatch.Class
	n       int
	scopes  []byte
	offsets []byte
	counts  []byte
}

func readSealedDay(v []byte) (sealedDay, error) {
	var t sealedDay
	if len(v) == 0 || v[0] != sealedV1 {
		return t, errCorruptCounters
	}
	d := eventDecoder{b: v[1:]}
	d.uvarint() // the seq when sealed: for whoever reads the file, not needed here
	nc := d.uvarint()
	if nc > uint64(len(d.b)) {
		return t, errCorruptCounters
	}
	for range nc {
		t.names = append(t.names, abusewatch.Class(d.string()))
	}
	n := d.uvarint()
	if n > uint64(len(d.b)/21) {
		return t, errCorruptCounters
	}
	t.n = int(n)
	t.scopes = d.bytes(17 * t.n)
	t.offsets = d.bytes(4 * t.n)
	t.counts = d.b
	if d.err != nil {
		return t, errCorruptCounters
	}
	return t, nil
}

// find returns the counts of sc, if the day has any.
func (t *sealedDay) find(sc scope) ([]classCount, bool, error) {
	i := searchFixed(t.scopes, 17, t.n, sc[:])
	if i == t.n || !bytes.Equal(t.scopes[17*i:17*i+17], sc[:]) {
		return nil, false, nil
	}
	_, c, err := t.entry(i)
	return c, err == nil, err
}

// active says whether the scope at i has a count that makes its day active, without
// decoding its counts (a walk of a day's parts asks it of every scope).
func (t *sealedDay) active(i int) (bool, error) {
	off := binary.BigEndian.Uint32(t.offsets[4*i:])
	if int(off) >= len(t.counts) {
		return false, errCorruptCounters
	}
	d := eventDecoder{b: t.counts[off:]}
	for k := d.uvarint(); k > 0 && d.err == nil; k-- {
		ci, n := d.uvarint(), d.uvarint()
		if ci >= uint64(len(t.names)) {
			return false, errCorruptCounters
		}
		if activeCount(classCount{t.names[ci], int(n)}) {
			return true, nil
		}
	}
	return false, d.err
}

func (t *sealedDay) entry(i int) (scope, []classCount, error) {
	sc := scope(t.scopes[17*i:])
	off := binary.BigEndian.Uint32(t.offsets[4*i:])
	if int(off) >= len(t.counts) {
		return sc, nil, errCorruptCounters
	}
	d := eventDecoder{b: t.counts[off:]}
	k := d.uvarint()
	if k > uint64(len(t.names)) {
		return sc, nil, errCorruptCounters
	}
	out := make([]classCount, 0, k)
	for range k {
		ci, n := d.uvarint(), d.uvarint()
		if ci >= uint64(len(t.names)) {
			return sc, nil, errCorruptCounters
		}
		out = append(out, classCount{t.names[ci], int(n)})
	}
	return sc, out, d.err
}

// loadPending counts again the raw blocks no seal has taken in (listed in the
// unsealed bucket, so a start reads a day or two of blocks, not months) and seals what
// is due. Commit calls it again when a transaction fails, since it counts into the
// pending counters before it knows.
func (s *Store) loadPending() error {
	p := newPending()
	err := s.db.View(func(tx *bolt.Tx) error {
		countedFrom := metaUint(tx.Bucket(bucketMeta), metaCountedFrom)
		blocks := tx.Bucket(bucketBlocks)
		var at []int
		return tx.Bucket(bucketUnsealed).ForEach(func(k, _ []byte) error {
			v := blockValue(blocks, k, blocks.Get(k))
			if v == nil {
				return nil // pruned
			}
			x, err := readBlockIndex(k, v)
			if err != nil {
				return fmt.Errorf("block %x: %w", k, err)
			}
			day := x.hour / 24
			for i := range x.addrs() {
				addr := x.addr(i)
				if at, err = x.positions(i, at[:0]); err != nil {
					return fmt.Errorf("block %x: %w", k, err)
				}
				for _, j := range at {
					_, class, _ := x.glance(j)
					p.add(day, addr, abusewatch.Class(class), 1, countedFrom)
				}
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	if s.db.IsReadOnly() { // a query: the days due stay counted in memory, as read
		s.pending = p
		return nil
	}
	var due []uint32
	err = s.db.Update(func(tx *bolt.Tx) error {
		due, err = s.sealDue(tx, &p)
		return err
	})
	if err != nil {
		return err
	}
	p.drop(due)
	s.pending = p
	return nil
}

// Days returns the counters of scope p from the day of from to the day of to, oldest
// first, leaving out days without events. p is an address (a /32 or /128), one of its
// counted networks (/24, /16, /8; IPv6 /64, /48, /32), or the zero Prefix for every event.
func (s *Store) Days(p netip.Prefix, from, to time.Time) ([]abusewatch.Count, error) {
	lo, hi := binary.BigEndian.AppendUint32(nil, dayNumber(from)), binary.BigEndian.AppendUint32(nil, dayNumber(to))
	byDay := map[uint32]map[abusewatch.Class]int{}
	count := func(day uint32, cs []classCount) {
		if len(cs) == 0 {
			return
		}
		if byDay[day] == nil {
			byDay[day] = map[abusewatch.Class]int{}
		}
		for _, c := range cs {
			byDay[day][c.class] += c.n
		}
	}
	if !p.IsValid() {
		err := s.db.View(func(tx *bolt.Tx) error {
			c := tx.Bucket(bucketDaysAll).Cursor()
			for k, v := c.Seek(lo); k != nil && bytes.Compare(k, hi) <= 0; k, v = c.Next() {
				m := map[abusewatch.Class]int{}
				if err := decodeCounts(v, m); err != nil {
					return fmt.Errorf("counter %x: %w", k, err)
				}
				byDay[binary.BigEndian.Uint32(k)] = m
			}
			return nil
		})
		return dayList(byDay), err
	}
	p = netip.PrefixFrom(p.Addr().Unmap(), min(p.Bits(), p.Addr().Unmap().BitLen())).Masked()
	if !countedSize(p) {
		return nil, fmt.Errorf("store: no counters for network %s: use an address or a /24, /16, /8 (IPv6 /64, /48, /32)", p)
	}
	sc := scopeOf(p)
	// Under mu, so no day is sealed between reading the tables and the memory.
	s.mu.RLock()
	defer s.mu.RUnlock()
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketDays).Cursor()
		for k, v := c.Seek(lo); len(k) >= 4 && bytes.Compare(k[:4], hi) <= 0; k, v = c.Next() { // every part
			t, err := readSealedDay(v)
			if err != nil {
				return fmt.Errorf("counters of day %x: %w", k, err)
			}
			cs, ok, err := t.find(sc)
			if err != nil {
				return fmt.Errorf("counters of day %x: %w", k, err)
			}
			if ok {
				count(binary.BigEndian.Uint32(k), cs)
			}
		}
		return nil
	})
	for d := range s.pending.days {
		if d >= dayNumber(from) && d <= dayNumber(to) {
			count(d, s.pending.counts(d, sc))
		}
	}
	return dayList(byDay), err
}

// dayList turns counts by day number into Counts, oldest first.
func dayList(byDay map[uint32]map[abusewatch.Class]int) []abusewatch.Count {
	out := make([]abusewatch.Count, 0, len(byDay))
	for _, d := range slices.Sorted(maps.Keys(byDay)) {
		out = append(out, abusewatch.Count{Start: time.Unix(int64(d)*86400, 0).UTC(), ByClass: byDay[d]})
	}
	return out
}

// countedSize says whether p is an address or one of the counted network sizes.
func countedSize(p netip.Prefix) bool {
	return slices.ContainsFunc(func() []netip.Prefix { a := scopes(p.Addr()); return a[:] }(), func(q netip.Prefix) bool { return q.Bits() == p.Bits() })
}

// Hours returns the counters of every event from the hour of from to the hour of to,
// oldest first, leaving out hours without events.
func (s *Store) Hours(from, to time.Time) ([]abusewatch.Count, error) {
	var out []abusewatch.Count
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketHourly).Cursor()
		hi := binary.BigEndian.AppendUint32(nil, hourNumber(to))
		for k, v := c.Seek(binary.BigEndian.AppendUint32(nil, hourNumber(from))); k != nil && bytes.Compare(k, hi) <= 0; k, v = c.Next() {
			h := abusewatch.Count{Start: time.Unix(int64(binary.BigEndian.Uint32(k))*3600, 0).UTC(), ByClass: map[abusewatch.Class]int{}}
			if err := decodeCounts(v, h.ByClass); err != nil {
				return fmt.Errorf("hourly counter %x: %w", k, err)
			}
			out = append(out, h)
		}
		return nil
	})
	return out, err
}
