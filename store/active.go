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
// days not sealed yet are read from the pending counters.
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

// markActive sets day in the activity index of every indexed scope of counts (in
// scope order) with an event other than a successful login. The index is read with
// one cursor going forward (a botnet's day touches most of it: stepping is cheaper
// than a search from the root for each scope), then written: a write moves the cursor.
func markActive(tx *bolt.Tx, day uint32, counts []scopeCounts) error {
	b := tx.Bucket(bucketActive)
	type update struct {
		key, value []byte
	}
	updates := make([]update, 0, len(counts))
	c := b.Cursor()
	k, v := c.First()
	for i := range counts {
		e := &counts[i]
		if !activeScope(e.sc) || !slices.ContainsFunc(e.counts, activeCount) {
			continue
		}
		key := e.sc[:]
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
			return fmt.Errorf("activity of %x: %w", e.sc, err)
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
		var err error
		days, err = sealedActive(tx.Bucket(bucketActive).Get(sc[:]), lo, hi)
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
		return tx.Bucket(bucketActive).ForEach(func(k, v []byte) error {
			if len(k) != len(scope{}) {
				return nil
			}
			sc := scope(k)
			days, err := sealedActive(v, lo, hi)
			if err != nil {
				return fmt.Errorf("activity of %x: %w", k, err)
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
		err := s.db.Update(func(tx *bolt.Tx) error {
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
				if days := activeList(base, set); len(days) == 0 || days[len(days)-1] < day {
					old = append(old, slices.Clone(k))
				}
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
		if err != nil || done {
			return total, err
		}
	}
}
