package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/abusewatch/abusewatch"
)

// Events are stored in a compact binary form: correlation reads each address's recent
// events back on every batch, and decoding JSON was most of the daemon's time under a
// brute force (BenchmarkFollowGrowth/attack-every-10, 58% in encoding/json). Events
// written as JSON by earlier versions (they start with '{') still decode.
//
// Layout after the version byte: uvarint Seq, varint UnixNano, varint zone offset in
// seconds, the address (a length byte 0, 4 or 16, then its bytes), uvarint Port, uvarint
// LocalPort, then Class, Name, User, Service, Host, Source, Line, Proto and Flags, each a
// uvarint length and its bytes.
const eventCodecV1 = 1

// encodeEvent appends the stored form of e to b.
func encodeEvent(b []byte, e *abusewatch.Event) []byte {
	b = append(b, eventCodecV1)
	b = binary.AppendUvarint(b, e.Seq)
	b = binary.AppendVarint(b, e.Time.UnixNano())
	_, offset := e.Time.Zone()
	b = binary.AppendVarint(b, int64(offset))
	switch {
	case !e.Addr.IsValid():
		b = append(b, 0)
	case e.Addr.Is4():
		a := e.Addr.As4()
		b = append(append(b, 4), a[:]...)
	default:
		a := e.Addr.As16()
		b = append(append(b, 16), a[:]...)
	}
	b = binary.AppendUvarint(b, uint64(e.Port))
	b = binary.AppendUvarint(b, uint64(e.LocalPort))
	for _, s := range [...]string{string(e.Class), e.Name, e.User, e.Service, e.Host, e.Source, e.Line, e.Proto, e.Flags} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

var errCorruptEvent = errors.New("corrupt stored event")

// decodeEvent reads an event stored by encodeEvent, or as JSON by an earlier version.
func decodeEvent(v []byte) (abusewatch.Event, error) {
	if len(v) > 0 && v[0] == '{' {
		var e abusewatch.Event
		err := json.Unmarshal(v, &e)
		return e, err
	}
	e, _, err := decodeEventPrefix(v)
	return e, err
}

// decodeEventPrefix reads the event encodeEvent wrote at the start of v and returns
// what follows it.
func decodeEventPrefix(v []byte) (abusewatch.Event, []byte, error) {
	return decodeEventFrom(eventDecoder{b: v})
}

// decodeEventFrom reads the event encodeEvent wrote at the start of d.b and returns
// what follows it.
func decodeEventFrom(d eventDecoder) (abusewatch.Event, []byte, error) {
	var e abusewatch.Event
	rest, err := decodeEventInto(&e, d, nil)
	return e, rest, err
}

// decodeEventInto is decodeEventFrom into *e, which must be zero. A string field of
// e with the same bytes as prev's (when prev is not nil: the event decoded before it)
// is prev's string: the strings most events share (class, program, host, source) then
// share their memory, and the rules compare them without reading it (comparing a
// program name read from each event's own bytes was 3% of a pass, all cache misses).
func decodeEventInto(e *abusewatch.Event, d eventDecoder, prev *abusewatch.Event) ([]byte, error) {
	if len(d.b) == 0 || d.b[0] != eventCodecV1 {
		return nil, errCorruptEvent
	}
	d.b = d.b[1:]
	e.Seq = d.uvarint()
	nanos, offset := d.varint(), d.varint()
	e.Time = time.Unix(0, nanos).UTC()
	if offset != 0 {
		e.Time = e.Time.In(fixedZone(offset))
	}
	switch n := d.byte(); n {
	case 0:
	case 4:
		e.Addr = netip.AddrFrom4([4]byte(d.bytes(4)))
	case 16:
		e.Addr = netip.AddrFrom16([16]byte(d.bytes(16)))
	default:
		d.err = errCorruptEvent
	}
	e.Port, e.LocalPort = uint16(d.uvarint()), uint16(d.uvarint())
	if prev == nil {
		prev = &abusewatch.Event{}
	}
	e.Class = abusewatch.Class(d.stringAs(string(prev.Class)))
	e.Name, e.User, e.Service, e.Host = d.stringAs(prev.Name), d.stringAs(prev.User), d.stringAs(prev.Service), d.stringAs(prev.Host)
	e.Source, e.Line, e.Proto, e.Flags = d.stringAs(prev.Source), d.string(), d.stringAs(prev.Proto), d.stringAs(prev.Flags)
	return d.b, d.err
}

// fixedZones are the zones of the UTC offsets events were logged in, made once each: a
// host's logs carry one or two offsets, and a zone made per event was an allocation
// per event read. Offsets come from remote timestamps too, so only the first
// maxFixedZones are kept.
var (
	fixedZones  sync.Map // int64 seconds east of UTC -> *time.Location
	fixedZonesN atomic.Int32
)

const maxFixedZones = 64

func fixedZone(offset int64) *time.Location {
	if z, ok := fixedZones.Load(offset); ok {
		return z.(*time.Location)
	}
	z := time.FixedZone("", int(offset))
	if fixedZonesN.Add(1) <= maxFixedZones {
		fixedZones.Store(offset, z)
	}
	return z
}

// skipEvent returns what follows the event encodeEvent wrote at the start of b,
// without decoding it.
func skipEvent(b []byte) ([]byte, error) {
	d := eventDecoder{b: b}
	if d.byte() != eventCodecV1 {
		return nil, errCorruptEvent
	}
	d.uvarint()
	d.varint()
	d.varint()
	switch n := d.byte(); n { // the address
	case 0, 4, 16:
		d.skip(uint64(n))
	default:
		d.fail()
	}
	d.uvarint()
	d.uvarint()
	for range 9 { // Class to Flags
		d.skip(d.uvarint())
	}
	return d.b, d.err
}

// eventDecoder reads the fields of a stored event; after the first error every read
// returns a zero value and err says what went wrong.
type eventDecoder struct {
	b   []byte
	err error
	// whole, when set, holds the same bytes as the buffer b was cut from (of length
	// wholeLen): strings are then cut from it instead of copied one by one.
	whole    string
	wholeLen int
}

func (d *eventDecoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *eventDecoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *eventDecoder) byte() byte {
	if len(d.b) < 1 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *eventDecoder) bytes(n int) []byte {
	if len(d.b) < n {
		d.fail()
		return make([]byte, n)
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *eventDecoder) skip(n uint64) {
	if n > uint64(len(d.b)) {
		d.fail()
		return
	}
	d.b = d.b[n:]
}

func (d *eventDecoder) string() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return ""
	}
	if d.whole != "" {
		at := d.wholeLen - len(d.b)
		d.b = d.b[n:]
		return d.whole[at : at+int(n)]
	}
	return string(d.bytes(int(n)))
}

// stringAs is string, or same when it has the same bytes.
func (d *eventDecoder) stringAs(same string) string {
	if s := d.string(); s != same {
		return s
	}
	return same
}

func (d *eventDecoder) fail() {
	if d.err == nil {
		d.err = errCorruptEvent
	}
	d.b = nil
}
