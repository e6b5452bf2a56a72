package store

import (
	"fmt"
	"hash/maphash"

	bolt "go.etcd.io/bbolt"
)

// scopeFilter is a Bloom filter of the active scopes of a day behind in the activity
// index: the recurrence rule asks ActiveDays about every address of every batch, and
// under a flood nearly all are in none of the day's parts, each of which a lookup
// would otherwise search (a day of a million new addresses is dozens of parts: some
// 80 µs a lookup, against 2 with the day in the index). It may say yes of a scope the
// day lacks (1-2%: the parts then say no), never no of one it has. Twelve bits a
// scope: 3 MB for such a day.
type scopeFilter struct {
	seed maphash.Seed
	sets []bloomSet // each twice the capacity of the one before
}

type bloomSet struct {
	bits     []uint64
	n, limit int
}

const (
	filterBitsPerScope = 12
	filterHashes       = 8
)

func newScopeFilter(seed maphash.Seed, capacity int) *scopeFilter {
	f := &scopeFilter{seed: seed}
	f.grow(max(capacity, 1024))
	return f
}

func (f *scopeFilter) grow(capacity int) {
	f.sets = append(f.sets, bloomSet{bits: make([]uint64, (capacity*filterBitsPerScope+63)/64), limit: capacity})
}

func (f *scopeFilter) add(sc *scope) {
	last := &f.sets[len(f.sets)-1]
	if last.n == last.limit {
		f.grow(2 * last.limit)
		last = &f.sets[len(f.sets)-1]
	}
	last.n++
	h := maphash.Bytes(f.seed, sc[:])
	h1, h2 := h, h>>32|h<<32|1
	m := uint64(len(last.bits) * 64)
	for i := range uint64(filterHashes) {
		b := (h1 + i*h2) % m
		last.bits[b/64] |= 1 << (b % 64)
	}
}

func (f *scopeFilter) mayHave(sc *scope) bool {
	h := maphash.Bytes(f.seed, sc[:])
	h1, h2 := h, h>>32|h<<32|1
sets:
	for i := range f.sets {
		set := &f.sets[i]
		m := uint64(len(set.bits) * 64)
		for j := range uint64(filterHashes) {
			if b := (h1 + j*h2) % m; set.bits[b/64]&(1<<(b%64)) == 0 {
				continue sets
			}
		}
		return true
	}
	return false
}

// addActive adds to f the active indexed scopes of counts (in scope order).
func (f *scopeFilter) addActive(counts []scopeCounts) {
	for i := range counts {
		if activeScope(counts[i].sc) && activeOf(counts[i].counts) {
			f.add(&counts[i].sc)
		}
	}
}

// loadBehindFilters makes the filters of the days behind from their parts (at Open).
func (s *Store) loadBehindFilters() error {
	s.behindFilters = map[uint32]*scopeFilter{}
	return s.db.View(func(tx *bolt.Tx) error {
		behind, err := readBehind(tx.Bucket(bucketMeta))
		if err != nil {
			return err
		}
		for _, b := range behind {
			w, err := walkParts(tx.Bucket(bucketDays), b.day, b.from)
			if err != nil {
				return err
			}
			f := newScopeFilter(s.filterSeed, 2*s.pendingLimit)
			for {
				sc, ok, err := w.next()
				if err != nil {
					return fmt.Errorf("counters of day %d: %w", b.day, err)
				}
				if !ok {
					break
				}
				f.add(&sc)
			}
			s.behindFilters[b.day] = f
		}
		return nil
	})
}
