package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/bits"
	"net/netip"
	"slices"
	"time"

	"github.com/abusewatch/abusewatch"
	bolt "go.etcd.io/bbolt"
)

// The activity index answers "on which days was this address (or its /24, IPv6 /64)
// active?" with one read, for the recurrence rule, which asks it for every address of
// every batch. A day is active when it has an event other than a successful login.
//
//	active: scope → u32 base day, then a 512-bit map of the days base … base+511
//
// Sealing a day sets its bits (in key order, so the writes walk the tree once); the
// days not sealed yet are read from the pending counters, and the days sealed early
// and not yet in the index (behind, below) from their parts.
var bucketActive = []byte("active")

const activeDays = 512

// activeScope says whether sc is indexed: an address or a /24 (IPv6 /64).
func activeScope(sc scope) bool {
	v4 := bytes.HasPrefix(sc[:12], []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff})
	return sc[16] == 128 || sc[16] == 64 || (v4 && (sc[16] == 32 || sc[16] == 24))
}

// activeCount says whether c makes its scope's day active: events of a class other
// than a successful login (a login of one's own is no attack).
func activeCount(c classCount) bool {
	return c.class != abusewatch.ClassAuthSuccess && c.n > 0
}

// activeOf says whether counts make their scope's day active.
func activeOf(counts []classCount) bool {
	return slices.ContainsFunc(counts, activeCount)
}

// markActive sets day in the activity index of every indexed scope of counts (in
// scope order) with an event other than a successful login.
func markActive(tx *bolt.Tx, day uint32, counts []scopeCounts) error {
	var scs []scope
	for i := range counts {
		if activeScope(counts[i].sc) && activeOf(counts[i].counts) {
			scs = append(scs, counts[i].sc)
		}
	}
	return markScopes(tx, day, scs)
}

// markScopes sets day in the activity index of scs (in order). The index is read with
// one cursor going forward (a botnet's day touches most of it: stepping is cheaper
// than a search from the root for each scope), then written: a write moves the cursor.
func markScopes(tx *bolt.Tx, day uint32, scs []scope) error {
	b := tx.Bucket(bucketActive)
	type update struct {
		key, value []byte
	}
	updates := make([]update, 0, len(scs))
	c := b.Cursor()
	k, v := c.First()
	for i := range scs {
		key := scs[i][:]
		for steps := 0; k != nil && bytes.Compare(k, key) < 0; steps++ {
			if steps == 4 {
				k, v = c.Seek(key)
				break
			}
			k, v = c.Next()
		}
		var old []byte
		if bytes.Equal(k, key) {
			old = v
		}
		nv, err := setActive(old, day)
		if err != nil {
			return fmt.Errorf("activity of %x: %w", key, err)
		}
		if nv != nil {
			updates = append(updates, update{key, nv})
		}
	}
	for _, u := range updates {
		if err := b.Put(u.key, u.value); err != nil {
			return err
		}
	}
	return nil
}

// setActive returns the activity value old with day set, or nil when it is already
// set. The window moves forward to take a newer day; a day too old for it is dropped.
func setActive(old []byte, day uint32) ([]byte, error) {
	if old == nil { // the window starts at the day (a day behind's new scopes: millions)
		v := binary.BigEndian.AppendUint32(make([]byte, 0, 4+activeDays/8), day)
		v = append(v, make([]byte, activeDays/8)...)
		v[4+7] = 1
		return v, nil
	}
	base, set, err := readActive(old)
	if err != nil {
		return nil, err
	}
	if old != nil && day >= base && day < base+activeDays {
		i, bit := (day-base)/64, uint64(1)<<((day-base)%64)
		if set[i]&bit != 0 {
			return nil, nil
		}
		v := slices.Clone(old)
		binary.BigEndian.PutUint64(v[4+8*i:], set[i]|bit)
		return v, nil
	}
	days := []uint32{day}
	if old != nil {
		days = append(days, activeList(base, set)...)
	}
	newest := slices.Max(days)
	lo := uint32(0)
	if newest >= activeDays {
		lo = newest - activeDays + 1
	}
	nb := max(lo, min(slices.Min(days), newest)) // keep the window as low as the days allow
	var out [activeDays / 64]uint64
	for _, d := range days {
		if d >= nb && d < nb+activeDays {
			out[(d-nb)/64] |= 1 << ((d - nb) % 64)
		}
	}
	v := binary.BigEndian.AppendUint32(make([]byte, 0, 4+activeDays/8), nb)
	for _, w := range out {
		v = binary.BigEndian.AppendUint64(v, w)
	}
	return v, nil
}

func readActive(v []byte) (uint32, [activeDays / 64]uint64, error) {
	var set [activeDays / 64]uint64
	if v == nil {
		return 0, set, nil
	}
	if len(v) != 4+activeDays/8 {
		return 0, set, errCorruptCounters
	}
	for i := range set {
		set[i] = binary.BigEndian.Uint64(v[4+8*i:])
	}
	return binary.BigEndian.Uint32(v), set, nil
}

// activeList lists the days set, oldest first.
func activeList(base uint32, set [activeDays / 64]uint64) []uint32 {
	var out []uint32
	for i, w := range set {
		for w != 0 {
			b := bits.TrailingZeros64(w)
			out = append(out, base+uint32(64*i+b))
			w &^= 1 << b
		}
	}
	return out
}

// ActiveDays returns the UTC days (midnight) from the day of from to the day of to on
// which the address or /24 (IPv6 /64) p had an event other than a successful login,
// oldest first. It looks back at most 511 days from the newest active day.
func (s *Store) ActiveDays(p netip.Prefix, from, to time.Time) ([]time.Time, error) {
	p = netip.PrefixFrom(p.Addr().Unmap(), min(p.Bits(), p.Addr().Unmap().BitLen())).Masked()
	sc := scopeOf(p)
	if !activeScope(sc) {
		return nil, fmt.Errorf("store: no activity index for %s: use an address or a /24 (IPv6 /64)", p)
	}
	lo, hi := dayNumber(from), dayNumber(to)
	var days []uint32
	// Under mu, so no day is sealed between reading the index and the memory.
	s.mu.RLock()
	defer s.mu.RUnlock()
	err := s.db.View(func(tx *bolt.Tx) error {
		behind, err := readBehind(tx.Bucket(bucketMeta))
		if err != nil {
			return err
		}
		v, err := withBehind(tx.Bucket(bucketDays), behind, s.behindFilters, sc, tx.Bucket(bucketActive).Get(sc[:]))
		if err != nil {
			return err
		}
		days, err = sealedActive(v, lo, hi)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("activity of %s: %w", p, err)
	}
	for d := range s.pending.days {
		if d >= lo && d <= hi && !slices.Contains(days, d) &&
			slices.ContainsFunc(s.pending.counts(d, sc), activeCount) {
			days = append(days, d)
		}
	}
	return dayTimes(days), nil
}

// sealedActive lists the days from lo to hi that the activity value v sets.
func sealedActive(v []byte, lo, hi uint32) ([]uint32, error) {
	base, set, err := readActive(v)
	if err != nil {
		return nil, err
	}
	var days []uint32
	for _, d := range activeList(base, set) {
		if d >= lo && d <= hi {
			days = append(days, d)
		}
	}
	return days, nil
}

// dayTimes sorts days and returns their midnights (UTC).
func dayTimes(days []uint32) []time.Time {
	slices.Sort(days)
	out := make([]time.Time, len(days))
	for i, d := range days {
		out[i] = time.Unix(int64(d)*86400, 0).UTC()
	}
	return out
}

// Recurring returns the addresses and /24s (IPv6 /64) active on at least n distinct
// days from the day of from to the day of to, each with those days (midnight UTC,
// oldest first): the only scopes the recurrence rule can find recurring at any time in
// that range, and what ActiveDays would tell of them. A pass over history reads it
// once instead of asking ActiveDays about every address of every batch (one scan of
// the index: about 0.1 s for the 350,000 scopes of a 10-million-event store). Like
// ActiveDays, it looks back at most 511 days from a scope's newest active day.
func (s *Store) Recurring(from, to time.Time, n int) (map[netip.Prefix][]time.Time, error) {
	lo, hi := dayNumber(from), dayNumber(to)
	out := map[netip.Prefix][]time.Time{}
	s.mu.RLock()
	defer s.mu.RUnlock()
	// The days not sealed yet, per scope, from the memory.
	pending := map[scope][]uint32{}
	for d, dc := range s.pending.days {
		if d < lo || d > hi {
			continue
		}
		for i, sc := range dc.keys {
			if activeScope(sc.scope) && activeCount(classCount{s.pending.names[sc.class], int(dc.n[i])}) &&
				!slices.Contains(pending[sc.scope], d) {
				pending[sc.scope] = append(pending[sc.scope], d)
			}
		}
	}
	keep := func(sc scope, days []uint32) {
		if len(days) >= n {
			out[sc.prefix()] = dayTimes(days)
		}
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		return eachActive(tx, func(sc scope, v []byte) error {
			days, err := sealedActive(v, lo, hi)
			if err != nil {
				return fmt.Errorf("activity of %x: %w", sc, err)
			}
			for _, d := range pending[sc] {
				if !slices.Contains(days, d) {
					days = append(days, d)
				}
			}
			delete(pending, sc)
			keep(sc, days)
			return nil
		})
	})
	for sc, days := range pending { // scopes with no sealed day yet
		keep(sc, days)
	}
	return out, err
}

// eachActive calls f with every scope of the activity index, in order, and its value
// with the days behind set (withBehind): the index merged with a walk of the parts of
// each day behind.
func eachActive(tx *bolt.Tx, f func(sc scope, v []byte) error) error {
	behind, err := readBehind(tx.Bucket(bucketMeta))
	if err != nil {
		return err
	}
	type walk struct {
		day  uint32
		w    *partsWalk
		at   scope
		more bool
	}
	walks := make([]walk, len(behind))
	for i, b := range behind {
		w, err := walkParts(tx.Bucket(bucketDays), b.day, b.from)
		if err != nil {
			return err
		}
		walks[i] = walk{day: b.day, w: w}
		if walks[i].at, walks[i].more, err = w.next(); err != nil {
			return fmt.Errorf("counters of day %d: %w", b.day, err)
		}
	}
	c := tx.Bucket(bucketActive).Cursor()
	k, v := c.First()
	for {
		for k != nil && len(k) != len(scope{}) {
			k, v = c.Next()
		}
		var sc scope
		found := k != nil
		if found {
			sc = scope(k)
		}
		for i := range walks {
			if walks[i].more && (!found || compareScopes(&walks[i].at, &sc) < 0) {
				sc, found = walks[i].at, true
			}
		}
		if !found {
			return nil
		}
		var val []byte
		if k != nil && scope(k) == sc {
			val = v
			k, v = c.Next()
		}
		for i := range walks {
			if !walks[i].more || walks[i].at != sc {
				continue
			}
			nv, err := setActive(val, walks[i].day)
			if err != nil {
				return fmt.Errorf("activity of %x: %w", sc, err)
			}
			if nv != nil {
				val = nv
			}
			if walks[i].at, walks[i].more, err = walks[i].w.next(); err != nil {
				return fmt.Errorf("counters of day %d: %w", walks[i].day, err)
			}
		}
		if err := f(sc, val); err != nil {
			return err
		}
	}
}

// pruneActive deletes, at most chunk keys per transaction, the activity of the scopes
// not active since before day.
func (s *Store) pruneActive(ctx context.Context, day uint32, chunk int) (int, error) {
	total := 0
	var resume []byte
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		done := false
		// Under mu: the filters of the days behind.
		s.mu.RLock()
		err := s.db.Update(func(tx *bolt.Tx) error {
			behind, err := readBehind(tx.Bucket(bucketMeta))
			if err != nil {
				return err
			}
			b := tx.Bucket(bucketActive)
			c := b.Cursor()
			k, v := c.First()
			if resume != nil {
				k, v = c.Seek(resume)
			}
			var old [][]byte
			for seen := 0; k != nil && seen < chunk; k, v = c.Next() {
				seen++
				base, set, err := readActive(v)
				if err != nil {
					return fmt.Errorf("activity of %x: %w", k, err)
				}
				if days := activeList(base, set); len(days) > 0 && days[len(days)-1] >= day {
					continue
				}
				// A scope active on a day behind (newer than any pruned) stays.
				if len(behind) > 0 && len(k) == len(scope{}) {
					nv, err := withBehind(tx.Bucket(bucketDays), behind, s.behindFilters, scope(k), v)
					if err != nil {
						return fmt.Errorf("activity of %x: %w", k, err)
					}
					if base, set, err = readActive(nv); err != nil {
						return fmt.Errorf("activity of %x: %w", k, err)
					}
					if days := activeList(base, set); len(days) > 0 && days[len(days)-1] >= day {
						continue
					}
				}
				old = append(old, slices.Clone(k))
			}
			if k == nil {
				done = true
			} else {
				resume = slices.Clone(k)
			}
			for _, k := range old {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
			total += len(old)
			return nil
		})
		s.mu.RUnlock()
		if err != nil || done {
			return total, err
		}
	}
}

// A day sealed early (the memory of counters full under a flood of new addresses) is
// not put in the activity index at each seal: a seal's scopes are spread over the whole
// index, so each early seal rewrote most of its pages (a day of a million new addresses:
// ~160 MB of dirty pages at each of dozens of seals). The day is listed as behind
// instead; its parts hold what the index lacks, and the readers take the day's activity
// from them. Once the day is two days old (no longer sealed early), commits put it in
// the index a range of scopes at a time, in scope order, so each walks one stretch of
// the index and the day is written into it once.
//
//	meta active_behind: per day behind, u32 day and the 17-byte scope from which the
//	index lacks it (the index holds its active scopes before; zero: none of them)
//
// A seal of a day behind marks at once the scopes the index was said to hold; the
// rest are in the parts. Retention puts a day behind in the index before it prunes
// the day's parts, and keeps in the index a scope active on a day behind, so it
// answers as it did with every seal indexed.
var metaActiveBehind = []byte("active_behind")

// behindDay is a day sealed early whose active scopes from from on are not in the
// activity index yet.
type behindDay struct {
	day  uint32
	from scope
}

func readBehind(meta *bolt.Bucket) ([]behindDay, error) {
	v := meta.Get(metaActiveBehind)
	if len(v)%(4+len(scope{})) != 0 {
		return nil, fmt.Errorf("the days behind in the activity index: %w", errCorruptCounters)
	}
	var out []behindDay
	for ; len(v) > 0; v = v[4+len(scope{}):] {
		out = append(out, behindDay{binary.BigEndian.Uint32(v), scope(v[4:])})
	}
	return out, nil
}

func putBehind(meta *bolt.Bucket, behind []behindDay) error {
	if len(behind) == 0 {
		return meta.Delete(metaActiveBehind)
	}
	var v []byte
	for _, b := range behind {
		v = append(binary.BigEndian.AppendUint32(v, b.day), b.from[:]...)
	}
	return meta.Put(metaActiveBehind, v)
}

// indexSeal puts the activity of a seal of day (counts, in scope order) in the index,
// or leaves it to the day's parts: a day behind has only the scopes the index is said
// to hold marked (the others go in its filter); a day sealed early is listed as behind,
// with a filter of this seal's scopes (those of its parts before are in the index).
func (s *Store) indexSeal(tx *bolt.Tx, day uint32, counts []scopeCounts, early bool) error {
	meta := tx.Bucket(bucketMeta)
	behind, err := readBehind(meta)
	if err != nil {
		return err
	}
	// A filter of a day no longer behind is dropped; one of a day behind is kept
	// whole or dropped whole, never made anew but from all its parts (at Open).
	for d := range s.behindFilters {
		if !slices.ContainsFunc(behind, func(b behindDay) bool { return b.day == d }) {
			delete(s.behindFilters, d)
		}
	}
	if i := slices.IndexFunc(behind, func(b behindDay) bool { return b.day == day }); i >= 0 {
		from := behind[i].from
		end, _ := slices.BinarySearchFunc(counts, from, func(e scopeCounts, sc scope) int { return compareScopes(&e.sc, &sc) })
		if f := s.behindFilters[day]; f != nil {
			f.addActive(counts[end:])
		}
		return markActive(tx, day, counts[:end])
	}
	if !early || s.indexEverySeal {
		return markActive(tx, day, counts)
	}
	f := newScopeFilter(s.filterSeed, 2*s.pendingLimit)
	f.addActive(counts)
	if s.behindFilters == nil {
		s.behindFilters = map[uint32]*scopeFilter{}
	}
	s.behindFilters[day] = f
	return putBehind(meta, append(behind, behindDay{day: day}))
}

// indexBehind puts at most limit active scopes of the first day behind that ready
// accepts in the activity index, continuing where the last call stopped, and takes
// the day off the list when it has put its last. It returns how many it put, and
// whether a day was ready.
func indexBehind(tx *bolt.Tx, ready func(day uint32) bool, limit int) (int, bool, error) {
	meta := tx.Bucket(bucketMeta)
	behind, err := readBehind(meta)
	if err != nil {
		return 0, false, err
	}
	i := slices.IndexFunc(behind, func(b behindDay) bool { return ready(b.day) })
	if i < 0 {
		return 0, false, nil
	}
	day := behind[i].day
	w, err := walkParts(tx.Bucket(bucketDays), day, behind[i].from)
	if err != nil {
		return 0, true, err
	}
	var scs []scope
	for {
		sc, ok, err := w.next()
		if err != nil {
			return 0, true, fmt.Errorf("counters of day %d: %w", day, err)
		}
		if !ok {
			behind = slices.Delete(behind, i, i+1)
			break
		}
		if len(scs) == limit {
			behind[i].from = sc
			break
		}
		scs = append(scs, sc)
	}
	if err := markScopes(tx, day, scs); err != nil {
		return 0, true, err
	}
	return len(scs), true, putBehind(meta, behind)
}

// partsWalk steps through the active indexed scopes of a sealed day's parts, in scope
// order, each once: a merge of the parts, which are each in scope order.
type partsWalk struct {
	parts []sealedDay
	at    []int
	heap  []int // of parts, by the scope each is at
}

// walkParts starts a walk of day's parts at the scope from.
func walkParts(days *bolt.Bucket, day uint32, from scope) (*partsWalk, error) {
	w := &partsWalk{}
	c := days.Cursor()
	for k, v := c.Seek(dayKey(day, 0)); len(k) >= 4 && binary.BigEndian.Uint32(k) == day; k, v = c.Next() {
		t, err := readSealedDay(v)
		if err != nil {
			return nil, fmt.Errorf("counters of day %x: %w", k, err)
		}
		if at := searchFixed(t.scopes, len(scope{}), t.n, from[:]); at < t.n {
			w.heap = append(w.heap, len(w.parts))
			w.parts, w.at = append(w.parts, t), append(w.at, at)
		}
	}
	for i := len(w.heap)/2 - 1; i >= 0; i-- {
		w.down(i)
	}
	return w, nil
}

func (w *partsWalk) scopeOf(part int) *scope {
	return (*scope)(w.parts[part].scopes[17*w.at[part]:])
}

func (w *partsWalk) less(i, j int) bool {
	return compareScopes(w.scopeOf(w.heap[i]), w.scopeOf(w.heap[j])) < 0
}

func (w *partsWalk) down(i int) {
	for {
		l := 2*i + 1
		if l >= len(w.heap) {
			return
		}
		if r := l + 1; r < len(w.heap) && w.less(r, l) {
			l = r
		}
		if !w.less(l, i) {
			return
		}
		w.heap[i], w.heap[l] = w.heap[l], w.heap[i]
		i = l
	}
}

// next returns the next scope indexed and active on the day (in any of its parts),
// and false at the end.
func (w *partsWalk) next() (scope, bool, error) {
	for len(w.heap) > 0 {
		sc := *w.scopeOf(w.heap[0])
		active := false
		for len(w.heap) > 0 && *w.scopeOf(w.heap[0]) == sc {
			part := w.heap[0]
			if !active && activeScope(sc) {
				a, err := w.parts[part].active(w.at[part])
				if err != nil {
					return sc, false, err
				}
				active = a
			}
			if w.at[part]++; w.at[part] == w.parts[part].n {
				last := len(w.heap) - 1
				w.heap[0] = w.heap[last]
				w.heap = w.heap[:last]
			}
			w.down(0)
		}
		if active {
			return sc, true, nil
		}
	}
	return scope{}, false, nil
}

// activeInParts says whether sc is active on day in any of its sealed parts.
func activeInParts(days *bolt.Bucket, day uint32, sc scope) (bool, error) {
	c := days.Cursor()
	for k, v := c.Seek(dayKey(day, 0)); len(k) >= 4 && binary.BigEndian.Uint32(k) == day; k, v = c.Next() {
		t, err := readSealedDay(v)
		if err != nil {
			return false, fmt.Errorf("counters of day %x: %w", k, err)
		}
		i := searchFixed(t.scopes, len(scope{}), t.n, sc[:])
		if i == t.n || !bytes.Equal(t.scopes[17*i:17*i+17], sc[:]) {
			continue
		}
		if a, err := t.active(i); a || err != nil {
			return a, err
		}
	}
	return false, nil
}

// withBehind is the activity value v of sc with the days behind it is active on set,
// as the index will hold them. filters are those of the days behind (Store.behindFilters).
func withBehind(days *bolt.Bucket, behind []behindDay, filters map[uint32]*scopeFilter, sc scope, v []byte) ([]byte, error) {
	for _, b := range behind {
		if compareScopes(&sc, &b.from) < 0 {
			continue // the index has it
		}
		if f := filters[b.day]; f != nil && !f.mayHave(&sc) {
			continue
		}
		a, err := activeInParts(days, b.day, sc)
		if err != nil {
			return nil, err
		}
		if a {
			nv, err := setActive(v, b.day)
			if err != nil {
				return nil, err
			}
			if nv != nil {
				v = nv
			}
		}
	}
	return v, nil
}

// catchUpActive puts every day behind before day in the activity index, a transaction
// of at most chunk scopes at a time.
func (s *Store) catchUpActive(ctx context.Context, day uint32, chunk int) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var more bool
		s.mu.Lock()
		err := s.db.Update(func(tx *bolt.Tx) error {
			var err error
			_, more, err = indexBehind(tx, func(d uint32) bool { return d < day }, chunk)
			return err
		})
		s.mu.Unlock()
		if err != nil || !more {
			return err
		}
	}
}
