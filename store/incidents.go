package store

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/klauspost/compress/s2"
	bolt "go.etcd.io/bbolt"
)

// OpenIncident returns the newest incident with key (the one that starts last) if it
// may be open over since to at: its last event at or after since and its first at or
// before at. A newest one outside that is not read (the rules ask about every key of
// every batch, and most keys' newest incident ended long ago): ok is false and only
// its ID, First and Last are set. With no incident under key, the incident is zero. Unless whole, an open one
// may come with only its ID, First, Last and Success too: the rules read the rest only
// to grow it.
func (s *Store) OpenIncident(key string, since, at time.Time, whole bool) (abusewatch.Incident, bool, error) {
	inc, ok, _, err := s.openIncident(key, since, at, whole, false)
	return inc, ok, err
}

// OpenIncidentAt is OpenIncident for a pass over history, which asks about times
// before the newest incident of a key: it answers with the incident of key that starts
// last at or before at (none doing, the first after it, not open), and later says
// whether one starts after at. A key's visits of months ago are then found, not made
// again (two thirds of a pass over a store with incidents made again what it held
// already).
func (s *Store) OpenIncidentAt(key string, since, at time.Time, whole bool) (inc abusewatch.Incident, ok, later bool, err error) {
	return s.openIncident(key, since, at, whole, true)
}

func (s *Store) openIncident(key string, since, at time.Time, whole, before bool) (inc abusewatch.Incident, ok, later bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		bound := newestStart // the newest
		if before {
			bound = binary.BigEndian.AppendUint64(nil, uint64(at.UnixNano())+1)
		}
		id, next := startedBefore(tx.Bucket(bucketStarts).Cursor(), []byte(key), bound)
		later = before && next != nil
		if id == nil {
			if id = next; id == nil {
				return nil // no incident with key
			}
		}
		h, found := readHead(tx.Bucket(bucketIncidentLast).Get(id))
		if !found {
			return fmt.Errorf("incident %s for key %s is missing", id, key)
		}
		head := abusewatch.Incident{ID: string(id), Key: key, First: time.Unix(0, h.first).UTC(), Last: time.Unix(0, h.last).UTC(),
			Success: h.success}
		switch {
		case h.last < since.UnixNano() || h.first > at.UnixNano():
			inc = head
			return nil
		case !whole && h.known:
			inc, ok = head, true
			return nil
		}
		var err error
		if inc, ok, err = getIncident(tx, id); err == nil && !ok {
			err = fmt.Errorf("incident %s for key %s is missing", id, key)
		}
		return err
	})
	return inc, ok, later, err
}

// startKey is the incident_starts key of the incident id with key that starts at
// first8 (its incident_last value's second word). The ID keeps apart incidents of a key
// that start at the same instant (log times have whole seconds).
func startKey(key, first8, id []byte) []byte {
	return append(append(append(append(make([]byte, 0, len(key)+9+len(id)), key...), 0), first8...), id...)
}

// splitStartKey returns the incident key and the ID an incident_starts key holds.
func splitStartKey(k []byte) (key, id []byte, ok bool) {
	end := bytes.IndexByte(k, 0)
	if end < 0 || len(k) <= end+9 {
		return nil, nil, false
	}
	return k[:end], k[end+9:], true
}

// newestStart is above every start an incident_starts key holds (UnixNano is below 2^63).
var newestStart = []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// startedBefore finds in incident_starts (c) the ID of the incident with key that
// starts last before bound (8 bytes, as a start is stored) and of the one that starts
// first at or after it; nil where there is none.
func startedBefore(c *bolt.Cursor, key, bound []byte) (id, next []byte) {
	idOf := func(k []byte) []byte {
		if len(k) > len(key)+9 && k[len(key)] == 0 && bytes.Equal(k[:len(key)], key) {
			return k[len(key)+9:]
		}
		return nil
	}
	k, _ := c.Seek(startKey(key, bound, nil))
	next = idOf(k)
	if k == nil {
		k, _ = c.Last()
	} else {
		k, _ = c.Prev()
	}
	return idOf(k), next
}

// IncidentKeys calls fn with the key of every incident stored, each key once, in one
// read transaction; key is valid only during the call. It reads one index alone: a
// short pass (the daemon's hourly one) asks about few keys, and IncidentHeads's read of
// every head would be most of its time.
func (s *Store) IncidentKeys(fn func(key []byte) error) error {
	return s.db.View(func(tx *bolt.Tx) error {
		var prev []byte
		return eachStart(tx, func(key, _ []byte) error {
			if prev != nil && bytes.Equal(key, prev) {
				return nil
			}
			prev = key
			return fn(key)
		})
	})
}

// IncidentHeads calls fn with the head of every incident stored, in one read
// transaction, by key and, of a key, in the order they start (then by ID): a pass over
// history asks where each address's visits of months ago lie, and one sequential read
// of the index answers it for all of them (a 10M-event store's second pass spent a
// fifth of its time asking the store key by key).
func (s *Store) IncidentHeads(fn func(abusewatch.IncidentHead) error) error {
	return s.db.View(func(tx *bolt.Tx) error {
		last := tx.Bucket(bucketIncidentLast)
		return eachStart(tx, func(key, id []byte) error {
			h, found := readHead(last.Get(id))
			if !found {
				return fmt.Errorf("incident %s for key %s is missing", id, key)
			}
			return fn(abusewatch.IncidentHead{Key: key, ID: id, First: h.first, Last: h.last, Known: h.known, Success: h.success})
		})
	})
}

// eachStart calls fn with the key and ID of every entry of incident_starts in tx, in
// its order (by key, then start); a damaged entry is an error.
func eachStart(tx *bolt.Tx, fn func(key, id []byte) error) error {
	return tx.Bucket(bucketStarts).ForEach(func(k, _ []byte) error {
		key, id, ok := splitStartKey(k)
		if !ok {
			return fmt.Errorf("incident_starts key %x is not key | 0 | start | ID", k)
		}
		return fn(key, id)
	})
}

// Incidents are stored under their first event's time and their ID, so that a pass
// over history, which makes them in the order they start, appends them instead of
// writing all over the tree (measured: 37% off writing 100,000 new ones in groups of
// 2,000; 7% off a whole pass's writing, where the indexes by ID and key remain random).
// Four indexes keep questions from reading them all (a busy host makes hundreds of
// thousands in the months it keeps):
//
//	incident_addrs: 16-byte address | ID → u64 UnixNano of its last event (ip, net,
//	                pardon, preview: a question about a busy network filters its
//	                incidents by time from here, not by a read of incident_last each;
//	                an entry written before holds nothing, and that read is made)
//	incident_last:  ID → u64 UnixNano of its last event, then of its first (where it
//	                is stored), then (schema 5; a 16-byte value written before has
//	                neither) its IncidentDigest and a flags byte (1: a login
//	                succeeded), then (schema 11; a 25-byte value written before has
//	                none) the u64 UnixNano of when it was first stored, 0 when that
//	                was before schema 11: incidents --since, the summary, every read
//	                by ID, re-correlation's "did it change?" and the rules' "is it
//	                open?" without reading the incident
//	unreported:     ID → nothing, for the incidents that may be reported outside and
//	                have no report yet (the outbox's work list)
//	incident_starts: key | 0 | u64 UnixNano of its first event | ID → nothing: the newest
//	                incident of a key (its last entry; schema 5 and before kept the
//	                newest alone, in incident_keys), and the one of an earlier time
//	                for a pass over history (an address's visit of months ago)
var (
	bucketIncidentAddrs = []byte("incident_addrs")
	bucketIncidentLast  = []byte("incident_last")
	bucketUnreported    = []byte("unreported")
)

// An incident is stored in a binary form (marshalIncident), compressed: the rules read
// incidents back for every address of every batch, and JSON was most of a
// re-correlation's time. Versions before it stored the bare JSON (it starts with '{')
// or zstd-compressed JSON after the byte incidentZstdJSON; both still decode, as does
// the binary form zstd-compressed (incidentCodecV2, schema 2 to 7). Since schema 8 it is
// S2-compressed (incidentCodecS2): a first pass over history compresses 300,000
// incidents, and S2 did that in a quarter of zstd's fastest level's time, for 8% more
// bytes (605 against 560 an incident on the 10M-event store: its file grew 2%), and
// decompresses faster for every read.
const (
	incidentZstdJSON = 1
	incidentCodecV2  = 2
	incidentCodecS2  = 3
)

// encodeIncident returns the stored form of inc and its IncidentDigest.
func encodeIncident(inc abusewatch.Incident) (v []byte, digest uint64) {
	marshaled(inc, func(b []byte) { v, digest = compressIncident(b), digestOf(b) })
	return v, digest
}

// compressIncident is the stored form of the marshaled incident b (its version byte,
// then the rest): incidentCodecS2 and the rest compressed, in a slice of its own size.
// It is compressed into a pooled buffer and copied out: a pass holds tens of thousands
// of bodies until they are written, and slack would be a sixth of its heap.
func compressIncident(b []byte) []byte {
	buf := compressBuffers.Get().(*[]byte)
	defer compressBuffers.Put(buf)
	*buf = slices.Grow((*buf)[:0], 1+s2.MaxEncodedLen(len(b)))
	out := s2.Encode((*buf)[1:cap(*buf)], b[1:])
	v := make([]byte, 1+len(out))
	v[0] = incidentCodecS2
	copy(v[1:], out)
	return v
}

// compressBuffers are compressIncident's.
var compressBuffers = sync.Pool{New: func() any { return new([]byte) }}

// IncidentDigest is a hash of everything stored of inc: equal digests, equal incidents
// (re-correlation counts only the incidents it changed). It is never zero.
func IncidentDigest(inc abusewatch.Incident) (digest uint64) {
	marshaled(inc, func(b []byte) { digest = digestOf(b) })
	return digest
}

// marshalBuffers keep the few kilobytes an incident marshals to between uses: a pass
// over history marshals hundreds of thousands, twice each.
var marshalBuffers = sync.Pool{New: func() any { return new([]byte) }}

// marshaled calls fn with the uncompressed binary form of inc, valid during the call.
func marshaled(inc abusewatch.Incident, fn func(b []byte)) {
	buf := marshalBuffers.Get().(*[]byte)
	*buf = marshalIncident((*buf)[:0], inc)
	fn(*buf)
	marshalBuffers.Put(buf)
}

func digestOf(marshaled []byte) uint64 {
	d := sha256.Sum256(marshaled)
	return binary.BigEndian.Uint64(d[:]) | 1
}

// IncidentDigests returns the IncidentDigest of the stored incident of each of ids, 0
// for those not stored, in one read transaction; the incidents stored before schema 5
// are read to compute theirs.
func (s *Store) IncidentDigests(ids []string) ([]uint64, error) {
	out := make([]uint64, len(ids))
	err := s.db.View(func(tx *bolt.Tx) error {
		lastIdx := tx.Bucket(bucketIncidentLast)
		for i, id := range ids {
			v := lastIdx.Get([]byte(id))
			if h, ok := readHead(v); ok && h.known {
				out[i] = h.digest
				continue
			} else if !ok {
				continue
			}
			inc, ok, err := getIncident(tx, []byte(id))
			if err != nil {
				return err
			}
			if ok {
				out[i] = IncidentDigest(inc)
			}
		}
		return nil
	})
	return out, err
}

// marshalIncident appends to b the uncompressed binary form: the version byte, then the
// fields.
func marshalIncident(b []byte, inc abusewatch.Incident) []byte {
	b = append(b, incidentCodecV2)
	str := func(s string) { b = binary.AppendUvarint(b, uint64(len(s))); b = append(b, s...) }
	when := func(t time.Time) {
		_, offset := t.Zone()
		b = binary.AppendVarint(binary.AppendVarint(b, t.UnixNano()), int64(offset))
	}
	str(inc.ID)
	str(inc.Key)
	str(inc.Rule)
	b = appendAddr(b, inc.Addr)
	b = appendAddr(b, inc.Network.Addr())
	b = append(b, byte(inc.Network.Bits()+1))
	b = binary.AppendUvarint(b, uint64(len(inc.Classes)))
	for _, c := range inc.Classes {
		str(string(c))
	}
	when(inc.First)
	when(inc.Last)
	for _, n := range []int{inc.Count, inc.Attempts, inc.Severity} {
		b = binary.AppendVarint(b, int64(n))
	}
	var flags byte
	if inc.Success {
		flags |= 1
	}
	if inc.AdminOnly {
		flags |= 2
	}
	b = append(b, flags)
	b = binary.AppendUvarint(b, uint64(len(inc.Hosts)))
	for _, h := range inc.Hosts {
		str(h)
	}
	str(inc.PTR)
	b = binary.AppendUvarint(b, uint64(len(inc.Evidence)))
	for i := range inc.Evidence {
		b = appendSized(b, func(b []byte) []byte { return encodeEvent(b, &inc.Evidence[i]) })
	}
	// The sources of an incident about a network follow, when it has any: those stored
	// before they were (and every other incident) end with the evidence, their bytes
	// and digests as they were.
	if len(inc.Sources) > 0 {
		b = binary.AppendUvarint(b, uint64(len(inc.Sources)))
		for _, a := range inc.Sources {
			b = appendAddr(b, a)
		}
	}
	return b
}

// appendSized appends to b the uvarint length of what enc appends, then that: in place,
// where encoding apart and copying was a third of marshaling an incident. Room for a
// 2-byte length is left first (an event takes 128 to 16,383 bytes); another length
// moves what enc wrote. The bytes are those of AppendUvarint and a copy, which the
// digests of the incidents stored depend on.
func appendSized(b []byte, enc func([]byte) []byte) []byte {
	at := len(b)
	b = enc(append(b, 0, 0))
	n := len(b) - at - 2
	var size [binary.MaxVarintLen64]byte
	k := binary.PutUvarint(size[:], uint64(n))
	switch {
	case k < 2:
		copy(b[at+k:], b[at+2:])
		b = b[:at+k+n]
	case k > 2:
		b = append(b, size[:k-2]...) // room; what it holds is overwritten
		copy(b[at+k:], b[at+2:at+2+n])
	}
	copy(b[at:], size[:k])
	return b
}

// appendAddr appends a length byte (0, 4 or 16) and the address.
func appendAddr(b []byte, a netip.Addr) []byte {
	switch {
	case !a.IsValid():
		return append(b, 0)
	case a.Is4():
		v := a.As4()
		return append(append(b, 4), v[:]...)
	default:
		v := a.As16()
		return append(append(b, 16), v[:]...)
	}
}

func (d *eventDecoder) addr() netip.Addr {
	switch n := d.byte(); n {
	case 0:
		return netip.Addr{}
	case 4:
		return netip.AddrFrom4([4]byte(d.bytes(4)))
	case 16:
		return netip.AddrFrom16([16]byte(d.bytes(16)))
	}
	d.fail()
	return netip.Addr{}
}

func (d *eventDecoder) time() time.Time {
	nanos, offset := d.varint(), d.varint()
	t := time.Unix(0, nanos).UTC()
	if offset != 0 {
		t = t.In(time.FixedZone("", int(offset)))
	}
	return t
}

var errCorruptIncident = errors.New("corrupt stored incident")

func decodeIncident(v []byte) (abusewatch.Incident, error) {
	var inc abusewatch.Incident
	if len(v) == 0 {
		return inc, errCorruptIncident
	}
	switch v[0] {
	case '{':
		err := json.Unmarshal(v, &inc)
		return inc, err
	case incidentZstdJSON:
		raw, err := zstdDecoder.DecodeAll(v[1:], nil)
		if err != nil {
			return inc, err
		}
		err = json.Unmarshal(raw, &inc)
		return inc, err
	}
	var raw []byte
	var err error
	switch v[0] {
	case incidentCodecS2:
		raw, err = s2.Decode(nil, v[1:])
	case incidentCodecV2:
		raw, err = zstdDecoder.DecodeAll(v[1:], nil)
	default:
		return inc, errCorruptIncident
	}
	if err != nil {
		return inc, err
	}
	d := eventDecoder{b: raw}
	inc.ID, inc.Key, inc.Rule = d.string(), d.string(), d.string()
	inc.Addr = d.addr()
	if p := d.addr(); p.IsValid() {
		inc.Network = netip.PrefixFrom(p, int(d.byte())-1)
	} else {
		d.byte()
	}
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		return inc, errCorruptIncident
	}
	for range n {
		inc.Classes = append(inc.Classes, abusewatch.Class(d.string()))
	}
	inc.First, inc.Last = d.time(), d.time()
	inc.Count, inc.Attempts, inc.Severity = int(d.varint()), int(d.varint()), int(d.varint())
	flags := d.byte()
	inc.Success, inc.AdminOnly = flags&1 != 0, flags&2 != 0
	if n = d.uvarint(); n > uint64(len(d.b)) {
		return inc, errCorruptIncident
	}
	for range n {
		inc.Hosts = append(inc.Hosts, d.string())
	}
	inc.PTR = d.string()
	if n = d.uvarint(); n > uint64(len(d.b)) {
		return inc, errCorruptIncident
	}
	for range n {
		l := d.uvarint()
		if l > uint64(len(d.b)) {
			return inc, errCorruptIncident
		}
		e, err := decodeEvent(d.bytes(int(l)))
		if err != nil {
			return inc, err
		}
		inc.Evidence = append(inc.Evidence, e)
	}
	if len(d.b) > 0 {
		if n = d.uvarint(); n > uint64(len(d.b)) {
			return inc, errCorruptIncident
		}
		for range n {
			inc.Sources = append(inc.Sources, d.addr())
		}
	}
	if d.err != nil || len(d.b) != 0 {
		return inc, errCorruptIncident
	}
	return inc, nil
}

// IncidentWrite is an incident in the form PutIncidentWrites stores: compressed, a
// kilobyte or so where the incident with its evidence holds several, so a caller can
// gather many for one transaction.
type IncidentWrite struct {
	id, key, addr []byte // addr: the incident_addrs key, nil without an address
	body, head    []byte // head: the incident_last value
	bodyKey       []byte // where body is stored: first | id
	adminOnly     bool   // and no login succeeded: never reported outside
	success       bool   // a login succeeded: on the work list even when reported, for the admin's alert
}

// NewIncidentWrite encodes inc for PutIncidentWrites.
func NewIncidentWrite(inc abusewatch.Incident) IncidentWrite {
	v, digest := encodeIncident(inc)
	return newIncidentWrite(inc, v, digest)
}

// EncodeChanged returns the IncidentDigest of inc and, when it differs from stored
// (the digest of what the store holds; 0: nothing), inc encoded for PutIncidentWrites:
// one marshaling for both, where a pass over history digests every incident it makes
// and writes those that changed.
func EncodeChanged(inc abusewatch.Incident, stored uint64) (digest uint64, w IncidentWrite, changed bool) {
	marshaled(inc, func(b []byte) {
		if digest = digestOf(b); digest != stored {
			w = newIncidentWrite(inc, compressIncident(b), digest)
		}
	})
	return digest, w, digest != stored
}

func newIncidentWrite(inc abusewatch.Incident, body []byte, digest uint64) IncidentWrite {
	w := IncidentWrite{id: []byte(inc.ID), key: []byte(inc.Key), addr: addrKey(&inc), body: body, head: incidentHeadValue(inc, digest),
		adminOnly: inc.AdminOnly && !inc.Success, success: inc.Success}
	w.bodyKey, _ = bodyKey(w.id, w.head)
	return w
}

// PutIncidents creates or updates incidents; for each key, the one that ended last is
// its newest. Of an ID given twice, the last is written.
func (s *Store) PutIncidents(incs []abusewatch.Incident) error {
	ws := make([]IncidentWrite, len(incs))
	for i := range incs {
		ws[i] = NewIncidentWrite(incs[i])
	}
	return s.PutIncidentWrites(ws)
}

// PutIncidentWrites is PutIncidents of incidents encoded before. Writing incidents
// costs most per transaction (each rewrites the index pages it touches): measured with
// BenchmarkPutIncidents, 7,500 a second in groups of 500, 11,700 in groups of 2,000,
// 21,000 in groups of 8,000, 35,000 in groups of 32,000.
func (s *Store) PutIncidentWrites(ws []IncidentWrite) error {
	now := time.Now() // an incident new to the store was first stored now
	ws = lastOfEach(ws)
	return s.db.Update(func(tx *bolt.Tx) error { return putIncidentWrites(tx, ws, now) })
}

// lastOfEach is ws with the last write of each ID alone, in a slice of its own (sorted
// by putIncidentWrites: the caller's order stays).
func lastOfEach(ws []IncidentWrite) []IncidentWrite {
	last := make(map[string]int, len(ws))
	for i := range ws {
		last[string(ws[i].id)] = i
	}
	if len(last) == len(ws) {
		return slices.Clone(ws)
	}
	unique := make([]IncidentWrite, 0, len(last))
	for i := range ws {
		if last[string(ws[i].id)] == i {
			unique = append(unique, ws[i])
		}
	}
	return unique
}

// putIncidentWrites writes ws, whose IDs are distinct, in tx, sorting ws. An incident
// not stored before is stored first at now (zero: not known); one stored before keeps
// its time.
func putIncidentWrites(tx *bolt.Tx, all []IncidentWrite, now time.Time) error {
	// Each tree is written in its own key order, one walk of it per transaction. The
	// sorts move pointers and compare keys made once (they were a tenth of a pass's
	// writing when they copied the writes and made body keys in every comparison).
	ws := make([]*IncidentWrite, len(all))
	for i := range all {
		ws[i] = &all[i]
	}
	inOrder := func(key func(w *IncidentWrite) []byte) {
		slices.SortFunc(ws, func(a, b *IncidentWrite) int { return bytes.Compare(key(a), key(b)) })
	}
	lastIdx, bodies := tx.Bucket(bucketIncidentLast), tx.Bucket(bucketIncidents)
	addrs, unreported, reported := tx.Bucket(bucketIncidentAddrs), tx.Bucket(bucketUnreported), tx.Bucket(bucketReported)
	starts := tx.Bucket(bucketStarts)
	inOrder(func(w *IncidentWrite) []byte { return w.id })
	var moved, movedStarts [][]byte
	for _, w := range ws {
		prev := lastIdx.Get(w.id)
		if old, ok := bodyKey(w.id, prev); ok && !bytes.Equal(old[:8], w.head[8:16]) {
			moved = append(moved, old) // it starts elsewhere now
			movedStarts = append(movedStarts, startKey(w.key, old[:8], w.id))
		}
		var stored int64
		switch h, ok := readHead(prev); {
		case ok:
			stored = h.stored // 0 when it was stored before schema 11: not known
		case prev == nil && !now.IsZero():
			stored = now.UnixNano()
		}
		// A value of its own: the write's head is kept as it was made.
		if err := lastIdx.Put(w.id, binary.BigEndian.AppendUint64(w.head[:25:25], uint64(stored))); err != nil {
			return err
		}
		var err error
		// A login read after the report went is still news to the admin (the outbox's
		// alert): a reported incident with a login goes on the list as it grows.
		if reported.Get(w.id) != nil && !w.success || w.adminOnly {
			err = unreported.Delete(w.id)
		} else {
			err = unreported.Put(w.id, nil)
		}
		if err != nil {
			return err
		}
	}
	slices.SortFunc(moved, bytes.Compare)
	for _, k := range moved {
		if err := bodies.Delete(k); err != nil {
			return err
		}
	}
	slices.SortFunc(movedStarts, bytes.Compare)
	for _, k := range movedStarts {
		if err := starts.Delete(k); err != nil {
			return err
		}
	}
	inOrder(func(w *IncidentWrite) []byte { return w.bodyKey })
	// Bodies go in mostly at the end (incidents are made in the order they start):
	// pages split at bbolt's default half were left half full, a fifth of a 10M-event
	// store's file (1,040 MB against 847 MB with 0.9).
	bodies.FillPercent = 0.9
	for _, w := range ws {
		if err := bodies.Put(w.bodyKey, w.body); err != nil {
			return err
		}
	}
	// By key and start, as incident_starts holds them: the newest of a key is the one
	// that starts last, whatever order incidents are written in.
	slices.SortFunc(ws, func(a, b *IncidentWrite) int {
		return cmp.Or(bytes.Compare(a.key, b.key), bytes.Compare(a.head[8:16], b.head[8:16]), bytes.Compare(a.id, b.id))
	})
	for _, w := range ws {
		if err := starts.Put(startKey(w.key, w.head[8:16], w.id), nil); err != nil {
			return err
		}
	}
	inOrder(func(w *IncidentWrite) []byte { return w.addr })
	for _, w := range ws {
		if w.addr != nil {
			if err := addrs.Put(w.addr, w.head[:8:8]); err != nil {
				return err
			}
		}
	}
	return nil
}

// addrKey is the incident_addrs key of inc, nil when it has no address.
func addrKey(inc *abusewatch.Incident) []byte {
	if !inc.Addr.IsValid() {
		return nil
	}
	a := inc.Addr.Unmap().As16()
	return append(a[:], inc.ID...)
}

// incidentHeadValue is the incident_last value of inc: its last event, its first, its
// digest and its flags.
func incidentHeadValue(inc abusewatch.Incident, digest uint64) []byte {
	v := binary.BigEndian.AppendUint64(make([]byte, 0, 25), uint64(inc.Last.UnixNano()))
	v = binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(v, uint64(inc.First.UnixNano())), digest)
	var flags byte
	if inc.Success {
		flags |= 1
	}
	return append(v, flags)
}

// incidentHead is what an incident_last value holds: the incident's last and first
// event (UnixNano), and, unless written before schema 5 (known false), its digest and
// whether a login succeeded, and, unless written before schema 11 (0), when it was
// first stored (UnixNano).
type incidentHead struct {
	last, first int64
	digest      uint64
	known       bool // digest and success are known (schema 5)
	success     bool
	stored      int64
}

func readHead(v []byte) (incidentHead, bool) {
	if len(v) != 16 && len(v) != 25 && len(v) != 33 {
		return incidentHead{}, false
	}
	h := incidentHead{last: int64(binary.BigEndian.Uint64(v)), first: int64(binary.BigEndian.Uint64(v[8:]))}
	if len(v) >= 25 {
		h.digest, h.known, h.success = binary.BigEndian.Uint64(v[16:]), true, v[24]&1 != 0
	}
	if len(v) == 33 {
		h.stored = int64(binary.BigEndian.Uint64(v[25:]))
	}
	return h, true
}

// bodyKey is the key in incidents of the incident id whose incident_last value is v:
// its first event and its ID.
func bodyKey(id, v []byte) ([]byte, bool) {
	if _, ok := readHead(v); !ok {
		return nil, false
	}
	return append(slices.Clone(v[8:16]), id...), true
}

// incidentIDBuckets are the indexes keyed by an incident's ID alone. An incident's
// entries are in these, its body and incident_addrs and incident_starts: deleteIncident
// deletes one incident's, ForgetUnreportedIncidents many at once.
var incidentIDBuckets = [][]byte{bucketIncidentLast, bucketUnreported}

// deleteIncident deletes the incident and its index entries.
func deleteIncident(tx *bolt.Tx, inc abusewatch.Incident) error {
	id := []byte(inc.ID)
	if inc.Addr.IsValid() {
		a := inc.Addr.Unmap().As16()
		if err := tx.Bucket(bucketIncidentAddrs).Delete(append(a[:], id...)); err != nil {
			return err
		}
	}
	if k, ok := bodyKey(id, tx.Bucket(bucketIncidentLast).Get(id)); ok {
		if err := tx.Bucket(bucketIncidents).Delete(k); err != nil {
			return err
		}
		if err := tx.Bucket(bucketStarts).Delete(startKey([]byte(inc.Key), k[:8], id)); err != nil {
			return err
		}
	}
	for _, b := range incidentIDBuckets {
		if err := tx.Bucket(b).Delete(id); err != nil {
			return err
		}
	}
	return nil
}

// ForgetUnreportedIncidents deletes the incidents that started at or after since and
// that no report names, so that a pass over history makes them again under the rules
// of now (a changed threshold or window cuts visits differently). An incident a report
// names stays as it was reported. It works in one transaction: each index is walked
// once and its entries of those incidents deleted in its own key order (deleted one
// incident at a time, 300,000 took half a minute of random page writes). It returns
// what it deleted, for KeepForgotten after the pass, and how many of that time it kept.
func (s *Store) ForgetUnreportedIncidents(since time.Time) (forgotten Forgotten, kept int, err error) {
	forgotten = Forgotten{heads: map[string]forgottenHead{}, logins: map[netip.Addr][]forgottenLogin{}}
	err = s.db.Update(func(tx *bolt.Tx) error {
		lastIdx, reported, unreported := tx.Bucket(bucketIncidentLast), tx.Bucket(bucketReported), tx.Bucket(bucketUnreported)
		doomed := map[string]bool{}
		var ids, bodies [][]byte
		err := lastIdx.ForEach(func(id, v []byte) error {
			h, ok := readHead(v)
			if !ok || h.first < since.UnixNano() {
				return nil
			}
			if reported.Get(id) != nil {
				kept++
				return nil
			}
			doomed[string(id)] = true
			listed := unreported.Get(id) != nil
			forgotten.heads[string(id)] = forgottenHead{first: h.first, last: h.last, stored: h.stored, listed: listed, success: h.success}
			if h.success {
				// Off the work list, the admin was told of its logins (or it is too old
				// to tell): a login the pass makes another incident of is not news either.
				inc, ok, err := getIncident(tx, id)
				if err != nil {
					return err
				}
				if a := inc.Addr.Unmap(); ok && a.IsValid() {
					forgotten.logins[a] = append(forgotten.logins[a], forgottenLogin{h.first, h.last, !listed})
				}
			}
			k, _ := bodyKey(id, v)
			ids, bodies = append(ids, slices.Clone(id)), append(bodies, k)
			return nil
		})
		if err != nil {
			return err
		}
		if len(ids) == 0 {
			return keepForgottenRecord(tx, forgotten)
		}
		// The indexes keyed by something else, walked for the entries of doomed IDs.
		var addrs, starts [][]byte
		c := tx.Bucket(bucketIncidentAddrs).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if len(k) > 16 && doomed[string(k[16:])] {
				addrs = append(addrs, slices.Clone(k))
			}
		}
		c = tx.Bucket(bucketStarts).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if _, id, ok := splitStartKey(k); ok && doomed[string(id)] {
				starts = append(starts, slices.Clone(k))
			}
		}
		slices.SortFunc(bodies, bytes.Compare)
		type deletion struct {
			bucket []byte
			keys   [][]byte
		}
		dels := []deletion{{bucketIncidents, bodies}, {bucketIncidentAddrs, addrs}, {bucketStarts, starts}}
		for _, b := range incidentIDBuckets {
			dels = append(dels, deletion{b, ids})
		}
		for _, del := range dels {
			b := tx.Bucket(del.bucket)
			for _, k := range del.keys {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
		}
		return keepForgottenRecord(tx, forgotten)
	})
	if err != nil {
		return Forgotten{}, 0, fmt.Errorf("store: forgetting the incidents since %s: %w", since.Format(time.RFC3339), err)
	}
	return forgotten, kept, nil
}

// getIncident reads the incident id in tx.
func getIncident(tx *bolt.Tx, id []byte) (abusewatch.Incident, bool, error) {
	var inc abusewatch.Incident
	k, ok := bodyKey(id, tx.Bucket(bucketIncidentLast).Get(id))
	if !ok {
		return inc, false, nil
	}
	v := tx.Bucket(bucketIncidents).Get(k)
	if v == nil {
		return inc, false, fmt.Errorf("incident %s is indexed but missing", id)
	}
	inc, err := decodeIncident(v)
	if err != nil {
		return inc, false, fmt.Errorf("incident %s: %w", id, err)
	}
	return inc, true, nil
}

// Incident returns the incident with id.
func (s *Store) Incident(id string) (abusewatch.Incident, bool, error) {
	var inc abusewatch.Incident
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		inc, ok, err = getIncident(tx, []byte(id))
		return err
	})
	return inc, ok, err
}

// IncidentsAsStored returns the stored incidents of ids (those not stored are left out)
// and the IncidentDigest of each as read, in one read transaction: the outbox composes
// a report from them, and AddReportOf marks them reported only if they are still stored
// so.
func (s *Store) IncidentsAsStored(ids []string) ([]abusewatch.Incident, map[string]uint64, error) {
	var out []abusewatch.Incident
	digests := make(map[string]uint64, len(ids))
	err := s.db.View(func(tx *bolt.Tx) error {
		lastIdx := tx.Bucket(bucketIncidentLast)
		for _, id := range ids {
			inc, ok, err := getIncident(tx, []byte(id))
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			d, err := storedDigest(tx, lastIdx, []byte(id))
			if err != nil {
				return err
			}
			out, digests[id] = append(out, inc), d
		}
		return nil
	})
	return out, digests, err
}

// NewestIncidentStart is when the incident that began last began (ok false: none is
// stored): the last key of the bodies, which are kept by their first event.
func (s *Store) NewestIncidentStart() (first time.Time, ok bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		k, _ := tx.Bucket(bucketIncidents).Cursor().Last()
		if len(k) >= 8 {
			first, ok = time.Unix(0, int64(binary.BigEndian.Uint64(k))).UTC(), true
		}
		return nil
	})
	return first, ok, err
}

// IncidentsSince returns the incidents whose last event is at or after since (all of
// them for the zero time): the newest limit of them (0: all), oldest first, and how many
// there are in all. Only those returned are read in full: a busy host keeps hundreds of
// thousands, a few kilobytes each in memory.
func (s *Store) IncidentsSince(since time.Time, limit int) ([]abusewatch.Incident, int, error) {
	return s.readFound(limit, func(tx *bolt.Tx) (found []foundIncident, err error) {
		err = tx.Bucket(bucketIncidentLast).ForEach(func(id, v []byte) error {
			if h, ok := readHead(v); ok && endsSince(h.last, since) {
				found = append(found, foundIncident{id, h.last})
			}
			return nil
		})
		return found, err
	})
}

// readFound lists incidents with find and reads the newest limit (0: all) of them in
// full, in one transaction; it returns those, oldest first, and how many find listed.
func (s *Store) readFound(limit int, find func(tx *bolt.Tx) ([]foundIncident, error)) ([]abusewatch.Incident, int, error) {
	var out []abusewatch.Incident
	total := 0
	err := s.db.View(func(tx *bolt.Tx) error {
		found, err := find(tx)
		if err != nil {
			return err
		}
		total = len(found)
		out, err = readNewest(tx, found, limit)
		return err
	})
	sortIncidents(out)
	return out, total, err
}

// endsSince says whether an incident whose last event is last (UnixNano) ended at or
// after since (any does for the zero time).
func endsSince(last int64, since time.Time) bool { return since.IsZero() || last >= since.UnixNano() }

// foundIncident is an incident found in an index: its ID and its last event (UnixNano).
type foundIncident struct {
	id   []byte
	last int64
}

// readNewest reads in full the newest limit (0: all) of found, in no order.
func readNewest(tx *bolt.Tx, found []foundIncident, limit int) ([]abusewatch.Incident, error) {
	if limit > 0 && len(found) > limit {
		slices.SortFunc(found, func(a, b foundIncident) int { return cmp.Compare(b.last, a.last) })
		found = found[:limit]
	}
	var out []abusewatch.Incident
	for _, f := range found {
		inc, ok, err := getIncident(tx, f.id)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, inc)
		}
	}
	return out, nil
}

// IncidentsOfKeys returns the incidents of each of keys whose last event is at or after
// since, oldest first: a few keys' incidents, found through the index by key.
func (s *Store) IncidentsOfKeys(keys []string, since time.Time) ([]abusewatch.Incident, error) {
	out, _, err := s.readFound(0, func(tx *bolt.Tx) (found []foundIncident, err error) {
		lastIdx := tx.Bucket(bucketIncidentLast)
		c := tx.Bucket(bucketStarts).Cursor()
		for _, key := range keys {
			prefix := append([]byte(key), 0)
			for k, _ := c.Seek(prefix); bytes.HasPrefix(k, prefix); k, _ = c.Next() {
				if _, id, ok := splitStartKey(k); ok {
					if h, _ := readHead(lastIdx.Get(id)); endsSince(h.last, since) {
						found = append(found, foundIncident{id, h.last})
					}
				}
			}
		}
		return found, nil
	})
	return out, err
}

// IncidentsIn returns the incidents of the addresses in p whose last event is at or
// after since: the newest limit of them (0: all), oldest first, and how many there are
// in all. Only those returned are read in full.
func (s *Store) IncidentsIn(p netip.Prefix, since time.Time, limit int) ([]abusewatch.Incident, int, error) {
	p = abusewatch.UnmapPrefix(p)
	return s.readFound(limit, func(tx *bolt.Tx) (found []foundIncident, err error) {
		lastIdx := tx.Bucket(bucketIncidentLast)
		c := tx.Bucket(bucketIncidentAddrs).Cursor()
		lo := p.Addr().As16()
		for k, v := c.Seek(lo[:]); len(k) > 16 && p.Contains(netip.AddrFrom16([16]byte(k)).Unmap()); k, v = c.Next() {
			id := k[16:]
			var last int64
			if len(v) == 8 {
				last = int64(binary.BigEndian.Uint64(v))
			} else {
				h, _ := readHead(lastIdx.Get(id))
				last = h.last
			}
			if endsSince(last, since) {
				found = append(found, foundIncident{id, last})
			}
		}
		return found, nil
	})
}

// UnreportedIncidents returns at most limit (0: all) of the incidents that may be
// reported outside and have no report yet, and those with a report that a login from
// their address made possible compromises since (for the admin's alert), oldest first. They are taken in the order of
// their IDs from the first one after after ("": from the first) on, and from the first
// again once the end is reached, each at most once. next is the after of the next call:
// the ID taken last, or "" when this call took them all. The outbox reads the list round
// after round, each going on where the last stopped: incidents that must wait (their
// party has a report waiting, or its cooldown) are hundreds on a busy host, and a
// round that always began at the first ID read the same ones again and again, never
// getting to the incidents after them.
func (s *Store) UnreportedIncidents(after string, limit int) (out []abusewatch.Incident, next string, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketUnreported).Cursor()
		id, _ := c.Seek([]byte(after))
		if after != "" && string(id) == after {
			id, _ = c.Next()
		}
		wrapped := after == ""
		for taken := 0; ; id, _ = c.Next() {
			if id == nil && !wrapped {
				wrapped = true
				id, _ = c.First()
			}
			if id == nil || (wrapped && after != "" && string(id) > after) {
				next = "" // all of them, once each
				return nil
			}
			if limit > 0 && taken == limit {
				return nil
			}
			inc, ok, err := getIncident(tx, id)
			if err != nil {
				return err
			}
			taken++
			next = string(id)
			if ok && (tx.Bucket(bucketReported).Get(id) == nil || inc.Success) {
				out = append(out, inc)
			}
		}
	})
	sortIncidents(out)
	return out, next, err
}

// ReportedIncidents returns the IDs of the incidents that have a report, in any state.
func (s *Store) ReportedIncidents() (map[string]struct{}, error) {
	ids := map[string]struct{}{}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketReported).ForEach(func(k, _ []byte) error {
			ids[string(k)] = struct{}{}
			return nil
		})
	})
	return ids, err
}

// ReportFor returns the ID of the report that covers incident id, if any.
func (s *Store) ReportFor(incidentID string) (string, bool, error) {
	var id string
	err := s.db.View(func(tx *bolt.Tx) error {
		id = string(tx.Bucket(bucketReported).Get([]byte(incidentID)))
		return nil
	})
	return id, id != "", err
}
