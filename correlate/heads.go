package correlate

import (
	"bytes"
	"errors"
	"fmt"
	"hash/maphash"
	"sort"
	"time"

	"github.com/abusewatch/abusewatch"
)

// storedHeads is what the store held of its incidents when a pass began, read in one
// go (store.IncidentHeads): by the hash of each key, the heads of its incidents in the
// order they start. It answers what store.OpenIncidentAt would for a key the pass has
// not made incidents of (the store is then as it was), without a read of the store
// unless the incident is wanted whole: a second pass over a 10M-event store asked the
// store 1.5 million times, a fifth of its time.
type storedHeads struct {
	seed  maphash.Seed
	byKey map[uint64]headRun // every key stored; its run in heads, or none
	heads []storedHead
}

// headRun is where a key's heads lie in storedHeads.heads; n < 0: not held (two keys
// share the hash, an ID is not as the rules make them, or too many heads), so the
// store is asked.
type headRun struct{ off, n int32 }

// storedHead is an incident's head: its ID as a number (IDNumber), the UnixNano of its
// first and last events, and, if known, whether a login succeeded.
type storedHead struct {
	id             uint64
	first, last    int64
	known, success bool
}

// Bounds of the memory of a pass's heads: 32 bytes a head, about 20 a key
// (variables for the tests).
var (
	headsLimit = 1_000_000 // heads held; a key past them is asked of the store
	keysLimit  = 4_000_000 // keys; past them every key is asked of the store
)

var errTooManyKeys = errors.New("too many incident keys")

// headReader is a store that tells its incidents' keys and heads in one read, and reads
// one by ID.
type headReader interface {
	IncidentKeys(fn func(key []byte) error) error
	IncidentHeads(fn func(abusewatch.IncidentHead) error) error
	Incident(id string) (abusewatch.Incident, bool, error)
}

// loadHeads reads the heads of every incident st holds, or, unless withHeads, only its
// keys (every key is then asked of the store, but most keys a pass asks about have no
// incident, and those it answers): the read of every head takes about half a second
// for 300,000 incidents, where the daemon's hourly pass takes a fifth of that. It
// returns nil when the store holds more than keysLimit keys.
func loadHeads(st headReader, seed maphash.Seed, withHeads bool) (*storedHeads, error) {
	h := &storedHeads{seed: seed, byKey: map[uint64]headRun{}}
	if !withHeads {
		err := st.IncidentKeys(func(key []byte) error {
			if len(h.byKey) >= keysLimit {
				return errTooManyKeys
			}
			h.byKey[maphash.Bytes(seed, key)] = headRun{n: -1}
			return nil
		})
		if errors.Is(err, errTooManyKeys) {
			return nil, nil
		}
		return h, err
	}
	var key []byte // the key whose heads come
	var run headRun
	var hash uint64
	held := true // every head of key is held so far
	end := func() {
		if key == nil {
			return
		}
		if _, twice := h.byKey[hash]; twice || !held {
			run.n = -1
			h.heads = h.heads[:run.off] // nothing refers to them
		}
		h.byKey[hash] = run
	}
	err := st.IncidentHeads(func(x abusewatch.IncidentHead) error {
		if key == nil || !bytes.Equal(x.Key, key) {
			end()
			if len(h.byKey) >= keysLimit {
				return errTooManyKeys
			}
			key = append(key[:0], x.Key...)
			hash, run, held = maphash.Bytes(seed, key), headRun{off: int32(len(h.heads))}, len(h.heads) < headsLimit
		}
		id, ok := IDNumber(x.ID)
		if held = held && ok; held {
			h.heads = append(h.heads, storedHead{id, x.First, x.Last, x.Known, x.Success})
			run.n++
		}
		return nil
	})
	if errors.Is(err, errTooManyKeys) {
		return nil, nil
	}
	end()
	return h, err
}

// stored says whether the store held an incident of the key with hash k (of h.seed).
func (h *storedHeads) stored(k uint64) bool {
	_, ok := h.byKey[k]
	return ok
}

// openAt answers as store.OpenIncidentAt(key, since, at, whole) would when the store
// is as it was loaded, reading a whole incident with incident; held is false when the
// key's heads are not held (ask the store).
func (h *storedHeads) openAt(k uint64, key string, since, at time.Time, whole bool, incident func(id string) (abusewatch.Incident, bool, error)) (inc abusewatch.Incident, ok, later, held bool, err error) {
	r, stored := h.byKey[k]
	if !stored {
		return inc, false, false, true, nil
	}
	if r.n < 0 {
		return inc, false, false, false, nil
	}
	run := h.heads[r.off : r.off+r.n]
	// As the store orders starts: big-endian, so as unsigned numbers. The one that
	// starts last at or before at, or else the first after it.
	bound := uint64(at.UnixNano())
	i := sort.Search(len(run), func(i int) bool { return uint64(run[i].first) > bound })
	later = i < len(run)
	var x storedHead
	switch {
	case i > 0:
		x = run[i-1]
	case later:
		x = run[i]
	default:
		return inc, false, false, true, nil
	}
	id := fmt.Sprintf("%016x", x.id)
	inc = abusewatch.Incident{ID: id, Key: key, First: time.Unix(0, x.first).UTC(), Last: time.Unix(0, x.last).UTC(), Success: x.success}
	switch {
	case x.last < since.UnixNano() || x.first > at.UnixNano():
		return inc, false, later, true, nil
	case !whole && x.known:
		return inc, true, later, true, nil
	}
	whole1, found, err := incident(id)
	if err == nil && !found {
		err = fmt.Errorf("incident %s for key %s is missing", id, key)
	}
	return whole1, found, later, true, err
}

// IDNumber is the number an incident ID of 16 lowercase hex digits spells (the rules
// make them so), for memories that hold hundreds of thousands of IDs without a string
// each. It is read several times for each incident of a pass: by hand, not by strconv
// and a lowercase copy.
func IDNumber[S ~string | ~[]byte](id S) (uint64, bool) {
	if len(id) != 16 {
		return 0, false
	}
	var n uint64
	for i := range len(id) {
		switch c := id[i]; {
		case '0' <= c && c <= '9':
			n = n<<4 | uint64(c-'0')
		case 'a' <= c && c <= 'f':
			n = n<<4 | uint64(c-'a'+10)
		default:
			return 0, false
		}
	}
	return n, true
}
