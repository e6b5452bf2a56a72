package store

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"
	"unsafe"

	"github.com/abusewatch/abusewatch"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	bolt "go.etcd.io/bbolt"
)

// Raw events are stored in blocks: the events of one commit that fall in one UTC hour,
// under the key hour|first seq, so a commit appends a few keys at the end of the tree
// instead of inserting one random key per event and index (schema 2 spent 1.2 kB and
// 80 µs per event splitting pages). A block carries its own index, readable without
// decompressing anything:
//
//	version byte, uvarint n (events), varint min and max UnixNano,
//	uvarint d, d strings (uvarint length, bytes): the classes and hosts of the block,
//	n × [u32 microseconds into the hour, u16 class, u16 host]: a glance at each event,
//	uvarint a4, a4 × 4 bytes: the IPv4 addresses, sorted,
//	uvarint a6, a6 × 16 bytes: the IPv6 addresses, sorted,
//	(a4+a6) × u32: where each address's posting starts,
//	uvarint p, p bytes of postings: per address a uvarint count and the uvarint
//	  deltas of its events' positions in the block,
//	the rest: the events in the encodeEvent form, one after the other, compressed:
//	  version 1, one zstd frame of them all; version 2, uvarint f, f × uvarint the
//	  length of a frame, and f zstd frames of frameEvents events each (the last
//	  fewer); version 3, the same with S2 blocks for frames.
//
// Events in a block are in time order. Per-address and per-network reads binary-search
// the address table of each block of the hours asked for and decompress only the
// blocks that hold a match (a few recent ones stay decoded in memory); in a version 2
// block, only the frames that hold one. A block of a busy hour holds thousands of
// events, and a read of an old hour wants a few of them (an address's visit, the first
// events of a day for the recurrence rule's evidence): decompressing all of them was
// most of such a read.
//
// Version 3 (schema 10) compresses with S2 (EncodeBetter) instead of zstd's fastest
// level: a pass over months decompresses every frame, and on the 10M-event bench store
// S2 decompressed them in 30% of zstd's time (0.10 against 0.33 s for a twentieth of
// the blocks) for 28% more bytes in the frames (55 against 46 bytes an event in the
// file). Blocks written before stay zstd and readable.
const (
	blockV1 = 1
	blockV2 = 2
	blockV3 = 3
)

// frameEvents is how many events a version 2 block compresses together. Measured with
// BenchmarkCommit: 1,024 compress as well as the whole block and cost ingestion
// nothing; frames of 256 cost it 18% (each frame starts a fresh encoder state).
const frameEvents = 1024

// blockKey is hour|seq, big-endian, so blocks sort by hour and then by commit.
func blockKey(hour uint32, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint32(make([]byte, 0, 12), hour), seq)
}

// A block larger than bigBlock is stored in a bucket of its own, under blockRowsKey,
// its key in the blocks bucket naming that bucket (schema 7). bbolt copies every page
// it changes and splits a leaf only once it holds more than four keys: stored as
// values, each block was written again by the next commits, whose blocks joined its
// leaf (a 65 kB block, 17 pages of its own, cost its commit 47). A bucket's key takes
// 16 bytes in the leaf, and a small block (a quiet host's commit) stays a plain value.
const bigBlock = 2048

var blockRowsKey = []byte{0}

// putBlock stores block value under key in the blocks bucket b.
func putBlock(b *bolt.Bucket, key, value []byte) error {
	if len(value) <= bigBlock {
		return b.Put(key, value)
	}
	own, err := b.CreateBucket(key)
	if err != nil {
		return err
	}
	return own.Put(blockRowsKey, value)
}

// blockValue is the stored form of the block whose key and value in the blocks
// bucket b are k and v (nil for a block in a bucket of its own).
func blockValue(b *bolt.Bucket, k, v []byte) []byte {
	if v == nil {
		if own := b.Bucket(k); own != nil {
			return own.Get(blockRowsKey)
		}
	}
	return v
}

// deleteBlock deletes the block under key from the blocks bucket b.
func deleteBlock(b *bolt.Bucket, key []byte) error {
	if b.Bucket(key) != nil {
		return b.DeleteBucket(key)
	}
	return b.Delete(key)
}

// hourOf is the number of whole hours since 1970 (0 for anything earlier).
func hourOf(t time.Time) uint32 {
	s := t.Unix()
	if s < 0 {
		return 0
	}
	return uint32(s / 3600)
}

// zstdDecoder reads what versions before wrote with zstd: blocks of versions 1 and 2,
// incidents of schema 1 to 7.
var zstdDecoder, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderLowmem(true))

// encodeBlock returns the stored form of evs, which all lie in hour and are in time
// order.
func encodeBlock(hour uint32, evs []abusewatch.Event) []byte {
	return append(encodeIndex(hour, evs), compressRows(evs)...)
}

// compressRows is the compressed tail of a version 2 block: the events one after the
// other, in frames of frameEvents.
func compressRows(evs []abusewatch.Event) []byte {
	var frames [][]byte
	rows := rowBuffers.Get().(*[]byte)
	defer rowBuffers.Put(rows)
	for len(evs) > 0 {
		n := min(len(evs), frameEvents)
		*rows = (*rows)[:0]
		for i := range evs[:n] {
			*rows = encodeEvent(*rows, &evs[i])
		}
		frames = append(frames, s2.EncodeBetter(nil, *rows))
		evs = evs[n:]
	}
	out := binary.AppendUvarint(nil, uint64(len(frames)))
	for _, f := range frames {
		out = binary.AppendUvarint(out, uint64(len(f)))
	}
	for _, f := range frames {
		out = append(out, f...)
	}
	return out
}

// rowBuffers hold a frame's events before compression, for the next frame to reuse.
var rowBuffers = sync.Pool{New: func() any { return new([]byte) }}

// encodeIndex is the head of a block, everything before the compressed events.
func encodeIndex(hour uint32, evs []abusewatch.Event) []byte {
	b := []byte{blockV3}
	b = binary.AppendUvarint(b, uint64(len(evs)))
	b = binary.AppendVarint(b, evs[0].Time.UnixNano())
	b = binary.AppendVarint(b, evs[len(evs)-1].Time.UnixNano())
	dict := map[string]uint16{}
	var names []string
	intern := func(s string) uint16 {
		i, ok := dict[s]
		if !ok && len(names) < 0xffff {
			i = uint16(len(names))
			dict[s] = i
			names = append(names, s)
		}
		return i
	}
	glances := make([]byte, 0, 8*len(evs))
	hourStart := int64(hour) * 3600 * 1e6
	// The postings come from the events' (address, position) pairs sorted, not from a
	// map of addresses: one allocation, not one per address and growth (a spread
	// stream, every event from another address, spent a sixth of its allocations here).
	type addrAt struct {
		addr netip.Addr
		at   int
	}
	pairs := make([]addrAt, 0, len(evs))
	for i := range evs {
		e := &evs[i]
		us := max(e.Time.UnixMicro()-hourStart, 0)
		glances = binary.BigEndian.AppendUint32(glances, uint32(min(us, 1<<32-1)))
		glances = binary.BigEndian.AppendUint16(glances, intern(string(e.Class)))
		glances = binary.BigEndian.AppendUint16(glances, intern(e.Host))
		if e.Addr.IsValid() {
			pairs = append(pairs, addrAt{e.Addr.Unmap(), i})
		}
	}
	// IPv4 sorts before IPv6; an address's positions stay in order.
	slices.SortFunc(pairs, func(x, y addrAt) int { return cmp.Or(x.addr.Compare(y.addr), cmp.Compare(x.at, y.at)) })
	b = slices.Grow(b, 16+8*len(evs)+24*len(pairs))
	b = binary.AppendUvarint(b, uint64(len(names)))
	for _, s := range names {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = append(b, glances...)
	// The addresses, each once: runs of pairs.
	var runs []int // where each address's run starts in pairs
	for i := range pairs {
		if i == 0 || pairs[i].addr != pairs[i-1].addr {
			runs = append(runs, i)
		}
	}
	n4, _ := slices.BinarySearchFunc(runs, true, func(r int, _ bool) int { return cmp.Compare(pairs[r].addr.BitLen(), 64) })
	b = binary.AppendUvarint(b, uint64(n4))
	for _, r := range runs[:n4] {
		a := pairs[r].addr.As4()
		b = append(b, a[:]...)
	}
	b = binary.AppendUvarint(b, uint64(len(runs)-n4))
	for _, r := range runs[n4:] {
		a := pairs[r].addr.As16()
		b = append(b, a[:]...)
	}
	postings := make([]byte, 0, len(runs)+2*len(pairs))
	for k, r := range runs {
		end := len(pairs)
		if k+1 < len(runs) {
			end = runs[k+1]
		}
		b = binary.BigEndian.AppendUint32(b, uint32(len(postings)))
		postings = binary.AppendUvarint(postings, uint64(end-r))
		last := 0
		for _, p := range pairs[r:end] {
			postings = binary.AppendUvarint(postings, uint64(p.at-last))
			last = p.at
		}
	}
	b = binary.AppendUvarint(b, uint64(len(postings)))
	return append(b, postings...)
}

var errCorruptBlock = errors.New("corrupt event block")

// blockError is the error of the block under key: for a block that cannot be read, the
// file and what to do (a damaged page is found only when read: the outbox round named
// the block alone, and only the reports that need it were held back).
func (s *Store) blockError(key []byte, err error) error {
	if errors.Is(err, errCorruptBlock) {
		return fmt.Errorf("block %x of %s: %w: %w", key, s.path, err, ErrDamaged)
	}
	return fmt.Errorf("block %x: %w", key, err)
}

// blockIndex is the uncompressed head of a stored block. Its slices point into the
// stored value: valid only within the transaction that read it.
type blockIndex struct {
	n        int
	min, max int64 // UnixNano of the first and last event
	names    [][]byte
	glances  []byte // n × 8 bytes
	v4, v6   []byte // sorted addresses, 4 and 16 bytes each
	offsets  []byte // per address, where its posting starts in postings
	postings []byte
	rows     []byte   // every frame, one after the other
	frames   [][]byte // version 2 on: each frame of rows (frameEvents events each); nil in version 1
	codec    frameCodec
	hour     uint32
}

// readBlockIndex parses the head of the block stored under key.
func readBlockIndex(key, v []byte) (blockIndex, error) {
	var x blockIndex
	if len(key) != 12 {
		return x, errCorruptBlock
	}
	x.hour = binary.BigEndian.Uint32(key)
	if len(v) == 0 || v[0] < blockV1 || v[0] > blockV3 {
		return x, errCorruptBlock
	}
	if v[0] == blockV3 {
		x.codec = codecS2
	}
	d := eventDecoder{b: v[1:]}
	x.n = int(d.uvarint())
	x.min, x.max = d.varint(), d.varint()
	nn := d.uvarint()
	if nn > uint64(len(d.b)) {
		return x, errCorruptBlock
	}
	x.names = make([][]byte, nn)
	for i := range x.names {
		l := d.uvarint()
		if l > uint64(len(d.b)) {
			return x, errCorruptBlock
		}
		x.names[i] = d.bytes(int(l))
	}
	if x.n < 0 || x.n > len(d.b)/8 {
		return x, errCorruptBlock
	}
	x.glances = d.bytes(8 * x.n)
	a4 := d.uvarint()
	if a4 > uint64(len(d.b)/4) {
		return x, errCorruptBlock
	}
	x.v4 = d.bytes(4 * int(a4))
	a6 := d.uvarint()
	if a6 > uint64(len(d.b)/16) {
		return x, errCorruptBlock
	}
	x.v6 = d.bytes(16 * int(a6))
	x.offsets = d.bytes(4 * int(a4+a6))
	pl := d.uvarint()
	if pl > uint64(len(d.b)) {
		return x, errCorruptBlock
	}
	x.postings = d.bytes(int(pl))
	if v[0] >= blockV2 {
		nf := d.uvarint()
		if nf != uint64((x.n+frameEvents-1)/frameEvents) {
			return x, errCorruptBlock
		}
		lens := make([]uint64, nf)
		total := uint64(0)
		for i := range lens {
			lens[i] = d.uvarint()
			total += lens[i]
		}
		if d.err != nil || total != uint64(len(d.b)) {
			return x, errCorruptBlock
		}
		x.rows = d.b
		x.frames = make([][]byte, nf)
		for i, l := range lens {
			x.frames[i] = d.bytes(int(l))
		}
	} else {
		x.rows = d.b
	}
	if d.err != nil {
		return x, d.err
	}
	return x, nil
}

// addrs is the number of distinct addresses in the block.
func (x *blockIndex) addrs() int { return len(x.v4)/4 + len(x.v6)/16 }

// addr is the i-th address of the block's sorted table.
func (x *blockIndex) addr(i int) netip.Addr {
	if n4 := len(x.v4) / 4; i < n4 {
		return netip.AddrFrom4([4]byte(x.v4[4*i:]))
	} else {
		return netip.AddrFrom16([16]byte(x.v6[16*(i-n4):]))
	}
}

// addrRange returns the positions [lo, hi) in the address table of the addresses
// within p.
func (x *blockIndex) addrRange(p netip.Prefix) (lo, hi int) {
	first := p.Masked().Addr()
	var last netip.Addr
	if first.Is4() {
		a := first.As4()
		v := binary.BigEndian.Uint32(a[:]) | uint32(uint64(1)<<(32-p.Bits())-1)
		last = netip.AddrFrom4([4]byte(binary.BigEndian.AppendUint32(nil, v)))
		n4 := len(x.v4) / 4
		lo, hi = searchFixed(x.v4, 4, n4, a[:]), n4
		if next := last.Next(); next.IsValid() {
			hi = searchFixed(x.v4, 4, n4, next.AsSlice())
		}
		return lo, hi
	}
	a := first.As16()
	hiKey := a
	for i := p.Bits(); i < 128; i++ {
		hiKey[i/8] |= 1 << (7 - i%8)
	}
	n4, n6 := len(x.v4)/4, len(x.v6)/16
	lo = searchFixed(x.v6, 16, n6, a[:])
	hi = n6
	if next := netip.AddrFrom16(hiKey).Next(); next.IsValid() {
		b := next.As16()
		hi = searchFixed(x.v6, 16, n6, b[:])
	}
	return n4 + lo, n4 + hi
}

// searchFixed finds the first of n width-byte entries of table not below key.
func searchFixed(table []byte, width, n int, key []byte) int {
	lo, hi := 0, n
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if bytes.Compare(table[m*width:(m+1)*width], key) < 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// positions appends the block positions of the events of the i-th address to out.
func (x *blockIndex) positions(i int, out []int) ([]int, error) {
	off := binary.BigEndian.Uint32(x.offsets[4*i:])
	if int(off) >= len(x.postings) {
		return out, errCorruptBlock
	}
	d := eventDecoder{b: x.postings[off:]}
	n := d.uvarint()
	at := 0
	for range n {
		at += int(d.uvarint())
		if at >= x.n {
			return out, errCorruptBlock
		}
		out = append(out, at)
	}
	return out, d.err
}

// oldestWithin sorts the positions at and keeps the first n whose events may lie
// within from to to by the index's time (to the microsecond: the events themselves
// are checked once decoded). Positions are in time order in a block.
func (x *blockIndex) oldestWithin(at []int, from, to time.Time, n int) []int {
	slices.Sort(at)
	at = x.within(at, from, to)
	return at[:min(n, len(at))]
}

// within keeps the positions of at whose event lies between from and to, as the index
// has their times: what lies outside need not be decompressed.
func (x *blockIndex) within(at []int, from, to time.Time) []int {
	lo, hi := microRange(from, to)
	return slices.DeleteFunc(at, func(i int) bool {
		us := x.micros(i)
		return us < lo || us > hi
	})
}

// fewOf says whether n events are too few of the block to decode all of it for them: a
// big block (an hour of a flood, compacted) is decoded frame by frame where they lie,
// not whole, and not kept.
func (x *blockIndex) fewOf(n int) bool {
	return x.n > 8*frameEvents && n < x.n/8
}

// micros is the time of the event at position i, in microseconds since 1970, as the
// index has it.
func (x *blockIndex) micros(i int) int64 {
	return int64(x.hour)*3600*1e6 + int64(binary.BigEndian.Uint32(x.glances[8*i:]))
}

// microRange is from to to in the index's microseconds: an event at or after from
// (at or before to) has an index time at or after lo (at or before hi).
func microRange(from, to time.Time) (lo, hi int64) {
	return from.Truncate(time.Microsecond).UnixMicro(), to.UnixMicro()
}

// host is the name of the host of ours of the event at position i, as the index has it
// (nil: none); it points into the block.
func (x *blockIndex) host(i int) []byte {
	if h := int(binary.BigEndian.Uint16(x.glances[8*i+6:])); h < len(x.names) {
		return x.names[h]
	}
	return nil
}

// glance is what the index tells of the event at position i without decompressing.
func (x *blockIndex) glance(i int) (t time.Time, class, host string) {
	g := x.glances[8*i:]
	us := x.micros(i)
	c, h := int(binary.BigEndian.Uint16(g[4:])), int(binary.BigEndian.Uint16(g[6:]))
	if c < len(x.names) {
		class = string(x.names[c])
	}
	if h < len(x.names) {
		host = string(x.names[h])
	}
	return time.UnixMicro(us).UTC(), class, host
}

// decodeRows decompresses and decodes every event of the block.
func (x *blockIndex) decodeRows() ([]abusewatch.Event, error) {
	return x.appendRows(nil, nil)
}

// decodeRowsAt decodes the events at positions at (sorted); the others are skipped,
// not decoded. Of a version 2 block it decompresses only the frames that hold them.
func (x *blockIndex) decodeRowsAt(at []int) ([]abusewatch.Event, error) {
	if at == nil {
		at = []int{}
	}
	return x.appendRows(nil, at)
}

// appendRows appends to dst the events at positions at (sorted), or every event when at
// is nil: a pass over history decodes straight into its batches. The room of dst past
// its length must hold zero events, as make and slices.DeleteFunc leave it (clearing it
// here would write every event's 200 bytes once more).
func (x *blockIndex) appendRows(dst []abusewatch.Event, at []int) ([]abusewatch.Event, error) {
	n := x.n
	if at != nil {
		n = len(at)
	}
	if n == 0 {
		return dst, nil
	}
	base := len(dst)
	dst = slices.Grow(dst, n)[:base+n]
	out := dst[base:]
	if at == nil || x.frames == nil || (at[0] < frameEvents && at[len(at)-1] >= (len(x.frames)-1)*frameEvents) {
		// Every frame (wanted, or holding events asked for from the first to the last,
		// as a busy network's do): the frames are decompressed in one call, one after
		// the other into one buffer.
		whole := x.frames
		if whole == nil {
			whole = [][]byte{x.rows}
		}
		next, err := decodeFrame(x.codec, whole, 0, x.n, at, out, 0)
		if err == nil && next != len(out) {
			err = errCorruptBlock
		}
		return dst, err
	}
	next := 0
	for next < len(at) {
		f := at[next] / frameEvents
		if f >= len(x.frames) {
			return nil, errCorruptBlock
		}
		was := next
		var err error
		if next, err = decodeFrame(x.codec, x.frames[f:f+1], f*frameEvents, min(frameEvents, x.n-f*frameEvents), at, out, next); err != nil {
			return nil, err
		}
		if next == was {
			return nil, errCorruptBlock // a position beyond the block, or out of order
		}
	}
	return dst, nil
}

// frameCodec is how a block's frames are compressed.
type frameCodec uint8

const (
	codecZstd frameCodec = iota // block versions 1 and 2
	codecS2                     // block version 3
)

// decodedSize is the size frames decompress to, as their headers tell, or 0 when one
// does not tell it.
func (c frameCodec) decodedSize(frames ...[]byte) int {
	size := 0
	for _, f := range frames {
		if c == codecS2 {
			n, err := s2.DecodedLen(f)
			if err != nil {
				return 0
			}
			size += n
			continue
		}
		var h zstd.Header
		if h.Decode(f) != nil || !h.HasFCS {
			return 0
		}
		size += int(h.FrameContentSize)
	}
	return size
}

// decodeFrame decompresses frames (compressed with c, one after the other), which hold
// the n events from position first on, and decodes into out[next:] those of them at
// positions at (sorted; nil: all). It returns where in out the next event goes. The
// buffer is made as big as the frames say: a guess made a tenth of a pass's
// allocations too big, all of them zeroed.
//
// A read of a few events (at not nil) decompresses into a reused buffer and gives the
// events it decoded strings of their own: a frame is 200 kB, and the recurrence rule's
// reads of a scope's first day were half of a pass's decompressed bytes, for a few
// events each.
func decodeFrame(c frameCodec, frames [][]byte, first, n int, at []int, out []abusewatch.Event, next int) (int, error) {
	size := c.decodedSize(frames...)
	if size <= 0 || size > 64<<20 {
		size = 200 * n
	}
	var buf []byte
	if at != nil {
		scratch := frameBuffers.Get().(*[]byte)
		defer frameBuffers.Put(scratch)
		buf = slices.Grow((*scratch)[:0], size)
		*scratch = buf
		from := next
		defer func() { abusewatch.OwnStrings(out[from:next]) }()
	} else {
		buf = make([]byte, 0, size)
	}
	raw, err := c.decompress(frames, buf)
	if err != nil || len(raw) == 0 {
		return next, fmt.Errorf("%w: %v", errCorruptBlock, err)
	}
	// The events' strings are cut from one string of the whole frame: one allocation,
	// not nine per event. Whoever keeps a few events for long (an incident's evidence)
	// copies their strings, or the frame stays in memory. raw is not written again
	// (but for a reused buffer, once the events own their strings), so it is that
	// string, not a copy.
	whole := unsafe.String(&raw[0], len(raw))
	i := first
	var prev *abusewatch.Event
	for rest := raw; len(rest) > 0; i++ {
		if at != nil && next == len(at) {
			return next, nil // every event asked for: the rest need not be walked
		}
		if at != nil && at[next] != i {
			rest, err = skipEvent(rest)
		} else {
			if next == len(out) {
				return next, errCorruptBlock
			}
			rest, err = decodeEventInto(&out[next], eventDecoder{b: rest, whole: whole, wholeLen: len(raw)}, prev)
			prev = &out[next]
			next++
		}
		if err != nil {
			return next, err
		}
	}
	if i != first+n {
		return next, errCorruptBlock
	}
	return next, nil
}

// decompress decompresses frames one after the other into buf (empty), each as a
// stream of its own. Given as one stream, every zstd frame after the first was
// decompressed aside and copied after the ones before (the decoder writes in place only
// into an empty buffer): a tenth of a pass's decompression.
func (c frameCodec) decompress(frames [][]byte, buf []byte) ([]byte, error) {
	raw := buf[:0]
	for _, f := range frames {
		var part []byte
		var err error
		if c == codecS2 {
			part, err = s2.Decode(raw[len(raw):len(raw):cap(raw)], f)
		} else {
			part, err = zstdDecoder.DecodeAll(f, raw[len(raw):len(raw):cap(raw)])
		}
		if err != nil {
			return nil, err
		}
		if len(part) > 0 && cap(raw) > len(raw) && &part[0] == &raw[:len(raw)+1][len(raw)] {
			raw = raw[:len(raw)+len(part)] // in place, after the frames before
		} else {
			raw = append(raw, part...) // buf was too small: the decoder took another
		}
	}
	return raw, nil
}

// frameBuffers are the buffers reads of a few events decompress into.
var frameBuffers = sync.Pool{New: func() any { return new([]byte) }}

// blockCache keeps the decoded events of the blocks read last, so the correlator's
// many reads of the same recent hours decompress each block once. Blocks never change
// once written (only deleted), so an entry never goes stale. It holds at most limit
// events and maxBytes bytes of them (with their strings, eventBytes), but for the block
// read last when its lines are typical (a busy hour's block of 100,000 events is kept
// alone, as it was); a block of more bytes of longer lines is not kept: lines of 8 KiB
// held 50,000 at a time took 750 MB (review 29 F2).
type blockCache struct {
	mu       sync.Mutex
	limit    int // events
	maxBytes int
	held     int
	bytes    int
	order    []string
	blocks   map[string]cachedBlock
}

// cachedBlock is the decoded events of a block and the bytes they take.
type cachedBlock struct {
	evs   []abusewatch.Event
	bytes int
}

// cachedEventBytes is the room the block cache allows an event, with its strings: a
// typical line (a firewall's of 300 bytes, sshd's of 120) fits it, so that the cache
// keeps as many events as it did when it counted them alone.
const cachedEventBytes = 640

// eventBytes is the memory evs take: the events and their strings.
func eventBytes(evs []abusewatch.Event) int {
	n := len(evs) * int(unsafe.Sizeof(abusewatch.Event{}))
	for i := range evs {
		for _, f := range evs[i].StringFields() {
			n += len(*f)
		}
	}
	return n
}

// newBlockCache holds limit events at most, and limit typical ones' bytes.
func newBlockCache(limit int) *blockCache {
	return &blockCache{limit: limit, maxBytes: limit * cachedEventBytes, blocks: map[string]cachedBlock{}}
}

// cached returns the decoded events of the block at key if they are held.
func (c *blockCache) cached(key []byte) ([]abusewatch.Event, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.blocks[string(key)]
	return b.evs, ok
}

// events returns the decoded events of the block at key, decoding it with x on a miss.
func (c *blockCache) events(key []byte, x *blockIndex) ([]abusewatch.Event, error) {
	if evs, ok := c.cached(key); ok {
		return evs, nil
	}
	evs, err := x.decodeRows()
	if err != nil {
		return nil, err
	}
	size := eventBytes(evs)
	if size > c.maxBytes && size > len(evs)*cachedEventBytes {
		return evs, nil // the caller's alone
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.blocks[string(key)]; !ok {
		c.blocks[string(key)] = cachedBlock{evs, size}
		c.order = append(c.order, string(key))
		c.held += len(evs)
		c.bytes += size
		for (c.held > c.limit || c.bytes > c.maxBytes) && len(c.order) > 1 {
			old := c.order[0]
			c.order = c.order[1:]
			c.held -= len(c.blocks[old].evs)
			c.bytes -= c.blocks[old].bytes
			delete(c.blocks, old)
		}
	}
	return evs, nil
}

// forget drops a deleted block.
func (c *blockCache) forget(key []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if b, ok := c.blocks[string(key)]; ok {
		c.held -= len(b.evs)
		c.bytes -= b.bytes
		delete(c.blocks, string(key))
		c.order = slices.DeleteFunc(c.order, func(k string) bool { return k == string(key) })
	}
}
