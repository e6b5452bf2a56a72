package store

import (
	"bytes"
	"cmp"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// A pass over history that the store holds no incidents for (a first correlation of
// old data, or `correlate --rebuild`) makes hundreds of thousands of them. Written in
// transactions of tens of thousands, each transaction rewrote most pages of the four
// indexes keyed by ID, incident key or address, which such writes hit at random: most
// of a pass's writing. An IncidentLoad writes the bodies as they come (keyed by start,
// so mostly appended) and holds the index entries, a hundred bytes an incident, until
// Index writes them all, each index in its key order, in one transaction.
//
// Until then the bodies are not reachable: nothing reads a body but through the
// indexes. The first transaction of a load marks the store (metaUnindexed) and Index
// clears the mark with the same transaction that writes the indexes; a store opened
// with the mark still set lost a load to a crash, and Open deletes the bodies no index
// points at (the incidents of that pass are made again by running it again).

// metaUnindexed marks a store holding bodies of an IncidentLoad not indexed yet.
var metaUnindexed = []byte("unindexed_incidents")

// loadLimit is how many bytes of index entries an IncidentLoad holds before it writes
// them (about 500,000 incidents).
const loadLimit = 128 << 20

// IncidentLoad writes incidents the store did not hold when it began: their bodies at
// once, their index entries at Index. Of an ID put twice, the last stands. It is not
// safe for concurrent use, and other writers of the same incidents must wait for
// Index.
type IncidentLoad struct {
	s       *Store
	held    []IncidentWrite // without bodies; their slices point into chunks
	chunk   []byte
	size    int
	written bool // a body is written and not indexed
}

// LoadIncidents starts an IncidentLoad.
func (s *Store) LoadIncidents() *IncidentLoad { return &IncidentLoad{s: s} }

// Put writes the bodies of ws, incidents the store did not hold before the load began
// (or put earlier in it), and holds their index entries.
func (l *IncidentLoad) Put(ws []IncidentWrite) error {
	ws = lastOfEach(ws)
	ptrs := make([]*IncidentWrite, len(ws))
	for i := range ws {
		ptrs[i] = &ws[i]
	}
	err := l.s.db.Update(func(tx *bolt.Tx) error {
		if !l.written {
			if err := tx.Bucket(bucketMeta).Put(metaUnindexed, []byte{1}); err != nil {
				return err
			}
		}
		return putBodies(tx.Bucket(bucketIncidents), ptrs)
	})
	if err != nil {
		return err
	}
	l.written = true
	for _, w := range ws {
		l.held = append(l.held, IncidentWrite{id: l.keep(w.id), key: l.keep(w.key), addr: l.keep(w.addr),
			head: l.keep(w.head), bodyKey: l.keep(w.bodyKey), adminOnly: w.adminOnly})
		l.size += len(w.id) + len(w.key) + len(w.addr) + len(w.head) + len(w.bodyKey) + 160
	}
	if l.size >= loadLimit {
		return l.Index()
	}
	return nil
}

// keep copies b into the load's memory, a few large allocations instead of one per
// slice; nil stays nil.
func (l *IncidentLoad) keep(b []byte) []byte {
	if b == nil {
		return nil
	}
	if len(l.chunk)+len(b) > cap(l.chunk) {
		l.chunk = make([]byte, 0, max(1<<20, len(b)))
	}
	at := len(l.chunk)
	l.chunk = append(l.chunk, b...)
	return l.chunk[at:len(l.chunk):len(l.chunk)]
}

// Index writes the index entries held, in one transaction, and clears the store's
// mark. A load may go on after it.
func (l *IncidentLoad) Index() error {
	if !l.written {
		return nil
	}
	// The last of each ID stands; an earlier one that started elsewhere left a body
	// no index will point at.
	order := make([]int32, len(l.held))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int {
		return cmp.Or(bytes.Compare(l.held[a].id, l.held[b].id), cmp.Compare(a, b))
	})
	var stale [][]byte
	last := make([]IncidentWrite, 0, len(l.held))
	for i := 0; i < len(order); {
		j := i + 1
		for j < len(order) && bytes.Equal(l.held[order[j]].id, l.held[order[i]].id) {
			j++
		}
		w := l.held[order[j-1]]
		for _, older := range order[i : j-1] {
			if k := l.held[older].bodyKey; !bytes.Equal(k, w.bodyKey) {
				stale = append(stale, k)
			}
		}
		last, i = append(last, w), j
	}
	l.held = nil
	err := l.s.db.Update(func(tx *bolt.Tx) error {
		// The entries come in key order: pages split full, not half (bbolt's default
		// suits random inserts), as a load into an empty store writes nothing else.
		for _, name := range [][]byte{bucketIncidentLast, bucketUnreported, bucketStarts, bucketIncidentAddrs} {
			tx.Bucket(name).FillPercent = 0.9
		}
		bodies := tx.Bucket(bucketIncidents)
		slices.SortFunc(stale, bytes.Compare)
		for _, k := range stale {
			if err := bodies.Delete(k); err != nil {
				return err
			}
		}
		if err := putIncidentWrites(tx, last, false); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Delete(metaUnindexed)
	})
	if err != nil {
		return err
	}
	l.held, l.chunk, l.size, l.written = nil, nil, 0, false
	return nil
}

// dropUnindexed deletes, in a store marked by an IncidentLoad that did not finish,
// the incident bodies no index points at, and the mark.
func dropUnindexed(tx *bolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if meta.Get(metaUnindexed) == nil {
		return nil
	}
	lastIdx, bodies := tx.Bucket(bucketIncidentLast), tx.Bucket(bucketIncidents)
	var orphans [][]byte
	err := bodies.ForEach(func(k, _ []byte) error {
		if len(k) < 8 {
			return nil
		}
		if indexed, ok := bodyKey(k[8:], lastIdx.Get(k[8:])); !ok || !bytes.Equal(indexed, k) {
			orphans = append(orphans, slices.Clone(k))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range orphans {
		if err := bodies.Delete(k); err != nil {
			return err
		}
	}
	return meta.Delete(metaUnindexed)
}
