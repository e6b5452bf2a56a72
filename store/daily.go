package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/abusewatch/abusewatch"
	bolt "go.etcd.io/bbolt"
)

// The long memory: compact counters that outlive the raw events, so six-month patterns
// (recurrence, baselines) cost bytes, not gigabytes.
//
//	daily:  prefixKey(scope) | day  → class counts   (scope: the address, its /24, /16, /8
//	                                                   — IPv6 /64, /48, /32 — and "all")
//	hourly: hour                    → class counts   (every event, for rate baselines)
//
// day is the number of UTC days since 1970-01-01 and hour the number of hours, both as
// big-endian uint32, so a cursor walks one scope's days in order. A value is a sequence
// of (class length byte, class, uvarint count).
var (
	bucketDaily  = []byte("daily")
	bucketHourly = []byte("hourly")
)

// globalScope is the daily scope that counts every event, with or without an address.
// Its key (16 zero bytes, length 0) cannot collide with a network's: no index is a /0.
func globalScope() []byte { return make([]byte, 17) }

// DayCounts are the events of one scope on one UTC day, by class.
type DayCounts struct {
	Day     time.Time                // midnight UTC
	ByClass map[abusewatch.Class]int // events by class
}

// Total is the number of events of the day.
func (d DayCounts) Total() int {
	n := 0
	for _, c := range d.ByClass {
		n += c
	}
	return n
}

// HourCounts are every event of one UTC hour, by class.
type HourCounts struct {
	Hour    time.Time
	ByClass map[abusewatch.Class]int
}

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

// addCounters adds events to the daily and hourly counters inside the transaction that
// stores them. The batch is summed in memory first, so a batch costs one read and one
// write per scope and day, not per event.
func addCounters(tx *bolt.Tx, events []abusewatch.Event) error {
	daily := map[string]map[abusewatch.Class]int{}
	hourly := map[uint32]map[abusewatch.Class]int{}
	add := func(m map[abusewatch.Class]int, c abusewatch.Class) map[abusewatch.Class]int {
		if m == nil {
			m = map[abusewatch.Class]int{}
		}
		m[c]++
		return m
	}
	for _, e := range events {
		day := binary.BigEndian.AppendUint32(nil, dayNumber(e.Time))
		g := string(append(globalScope(), day...))
		daily[g] = add(daily[g], e.Class)
		h := hourNumber(e.Time)
		hourly[h] = add(hourly[h], e.Class)
		if !e.Addr.IsValid() {
			continue
		}
		for _, ix := range indexes(e.Addr) {
			k := string(append(prefixKey(ix.prefix), day...))
			daily[k] = add(daily[k], e.Class)
		}
	}
	merge := func(b *bolt.Bucket, key []byte, m map[abusewatch.Class]int) error {
		if old := b.Get(key); old != nil {
			if err := decodeCounts(old, m); err != nil {
				return fmt.Errorf("counter %x: %w", key, err)
			}
		}
		return b.Put(key, encodeCounts(m))
	}
	db := tx.Bucket(bucketDaily)
	for k, m := range daily {
		if err := merge(db, []byte(k), m); err != nil {
			return err
		}
	}
	hb := tx.Bucket(bucketHourly)
	for h, m := range hourly {
		if err := merge(hb, binary.BigEndian.AppendUint32(nil, h), m); err != nil {
			return err
		}
	}
	return nil
}

// Daily returns the counters of scope p from the day of from to the day of to, oldest
// first, leaving out days without events. p is an address (a /32 or /128), one of its
// indexed networks (/24, /16, /8; IPv6 /64, /48, /32), or the zero Prefix for every event.
func (s *Store) Daily(p netip.Prefix, from, to time.Time) ([]DayCounts, error) {
	scope := globalScope()
	if p.IsValid() {
		p = netip.PrefixFrom(p.Addr().Unmap(), min(p.Bits(), p.Addr().Unmap().BitLen())).Masked()
		if !indexedSize(p) {
			return nil, fmt.Errorf("store: no counters for network %s: use an address or a /24, /16, /8 (IPv6 /64, /48, /32)", p)
		}
		scope = prefixKey(p)
	}
	var out []DayCounts
	err := s.db.View(func(tx *bolt.Tx) error {
		lo := binary.BigEndian.AppendUint32(slices.Clone(scope), dayNumber(from))
		hi := binary.BigEndian.AppendUint32(slices.Clone(scope), dayNumber(to))
		c := tx.Bucket(bucketDaily).Cursor()
		for k, v := c.Seek(lo); k != nil && string(k) <= string(hi); k, v = c.Next() {
			d := DayCounts{Day: time.Unix(int64(binary.BigEndian.Uint32(k[len(scope):]))*86400, 0).UTC(), ByClass: map[abusewatch.Class]int{}}
			if err := decodeCounts(v, d.ByClass); err != nil {
				return fmt.Errorf("counter %x: %w", k, err)
			}
			out = append(out, d)
		}
		return nil
	})
	return out, err
}

// Hourly returns the counters of every event from the hour of from to the hour of to,
// oldest first, leaving out hours without events.
func (s *Store) Hourly(from, to time.Time) ([]HourCounts, error) {
	var out []HourCounts
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketHourly).Cursor()
		hi := binary.BigEndian.AppendUint32(nil, hourNumber(to))
		for k, v := c.Seek(binary.BigEndian.AppendUint32(nil, hourNumber(from))); k != nil && string(k) <= string(hi); k, v = c.Next() {
			h := HourCounts{Hour: time.Unix(int64(binary.BigEndian.Uint32(k))*3600, 0).UTC(), ByClass: map[abusewatch.Class]int{}}
			if err := decodeCounts(v, h.ByClass); err != nil {
				return fmt.Errorf("hourly counter %x: %w", k, err)
			}
			out = append(out, h)
		}
		return nil
	})
	return out, err
}

// indexedSize says whether p is an address or one of the indexed network sizes.
func indexedSize(p netip.Prefix) bool {
	if p.IsSingleIP() {
		return true
	}
	for _, ix := range indexes(p.Addr())[1:] {
		if ix.prefix.Bits() == p.Bits() {
			return true
		}
	}
	return false
}

// EachEvent calls fn with the events from <= Time <= to, oldest first, in slices of
// at most batch events, each read in its own short read transaction so a long pass
// (re-correlation) neither holds one snapshot open nor blocks the writer's file growth.
func (s *Store) EachEvent(from, to time.Time, batch int, fn func([]abusewatch.Event) error) error {
	if batch <= 0 {
		batch = defaultChunk
	}
	next := timeKey(from, 0)
	hi := timeKey(to, ^uint64(0))
	for next != nil {
		var evs []abusewatch.Event
		err := s.db.View(func(tx *bolt.Tx) error {
			c := tx.Bucket(bucketEvents).Cursor()
			k, v := c.Seek(next)
			next = nil
			for ; k != nil && string(k) <= string(hi); k, v = c.Next() {
				if len(evs) == batch {
					next = slices.Clone(k)
					return nil
				}
				e, err := decodeEvent(v)
				if err != nil {
					return fmt.Errorf("event %x: %w", k, err)
				}
				evs = append(evs, e)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("store: reading events: %w", err)
		}
		if len(evs) > 0 {
			if err := fn(evs); err != nil {
				return err
			}
		}
	}
	return nil
}
