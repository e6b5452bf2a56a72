package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Forgotten is what ForgetUnreportedIncidents knew of the incidents it deleted, for
// KeepForgotten once the pass made them again: when each was first stored, and whether
// the outbox was done with it (off the work list without a report: a possible
// compromise the admin was mailed about, one older than policy.max_age, one of a
// network excluded since).
type Forgotten struct {
	heads map[string]forgottenHead // by incident ID
	// The possible compromises among them, by address.
	logins map[netip.Addr][]forgottenLogin
}

type forgottenHead struct {
	first, last, stored int64 // UnixNano; stored 0: not known (stored before schema 11)
	listed, success     bool  // on the work list; a login succeeded
}

// forgottenLogin is a forgotten possible compromise: its first and last event
// (UnixNano), and whether the admin was told (it was off the work list).
type forgottenLogin struct {
	first, last int64
	told        bool
}

// forgottenKey is the meta key under which ForgetUnreportedIncidents keeps what it
// forgot until a whole pass has made it again (KeepForgotten, done). A pass cut short (a
// Ctrl-C, an error, a crash) leaves it, and the next rebuild gives the incidents it
// makes what the first forgotten ones had: otherwise those the first pass had not made
// yet were forgotten, and the command run again, as its error says, mailed the admin
// again about old logins and listed them all as new (review M1).
var forgottenKey = []byte("forgotten")

// encode is f as forgottenKey holds it: uvarint n, n × (uvarint length, ID, varint
// first, last, stored, flags byte: 1 listed, 2 success); uvarint m, m × (16-byte
// address, uvarint k, k × (varint first, last, byte told)).
func (f Forgotten) encode() []byte {
	b := binary.AppendUvarint(nil, uint64(len(f.heads)))
	for id, h := range f.heads {
		b = binary.AppendUvarint(b, uint64(len(id)))
		b = append(b, id...)
		b = binary.AppendVarint(binary.AppendVarint(binary.AppendVarint(b, h.first), h.last), h.stored)
		var flags byte
		if h.listed {
			flags |= 1
		}
		if h.success {
			flags |= 2
		}
		b = append(b, flags)
	}
	b = binary.AppendUvarint(b, uint64(len(f.logins)))
	for a, ls := range f.logins {
		a16 := a.As16()
		b = binary.AppendUvarint(append(b, a16[:]...), uint64(len(ls)))
		for _, l := range ls {
			told := byte(0)
			if l.told {
				told = 1
			}
			b = append(binary.AppendVarint(binary.AppendVarint(b, l.first), l.last), told)
		}
	}
	return b
}

// decodeForgotten reads what encode wrote.
func decodeForgotten(v []byte) (Forgotten, error) {
	f := Forgotten{heads: map[string]forgottenHead{}, logins: map[netip.Addr][]forgottenLogin{}}
	d := eventDecoder{b: v}
	for n := d.uvarint(); n > 0 && d.err == nil; n-- {
		l := d.uvarint()
		if l > uint64(len(d.b)) {
			return f, errCorruptForgotten
		}
		id := string(d.bytes(int(l)))
		h := forgottenHead{first: d.varint(), last: d.varint(), stored: d.varint()}
		if flags := d.bytes(1); len(flags) == 1 {
			h.listed, h.success = flags[0]&1 != 0, flags[0]&2 != 0
		}
		f.heads[id] = h
	}
	for m := d.uvarint(); m > 0 && d.err == nil; m-- {
		a16 := d.bytes(16)
		if len(a16) != 16 {
			return f, errCorruptForgotten
		}
		a := netip.AddrFrom16([16]byte(a16)).Unmap()
		for k := d.uvarint(); k > 0 && d.err == nil; k-- {
			l := forgottenLogin{first: d.varint(), last: d.varint()}
			if told := d.bytes(1); len(told) == 1 {
				l.told = told[0] != 0
			}
			f.logins[a] = append(f.logins[a], l)
		}
	}
	if d.err != nil || len(d.b) != 0 {
		return f, errCorruptForgotten
	}
	return f, nil
}

var errCorruptForgotten = errors.New("the record of a rebuild cut short is damaged")

// keepOlder merges into f what an earlier rebuild, cut short, forgot: of an incident
// forgotten by both, the earlier record is what it was before any rebuild.
func (f Forgotten) keepOlder(old Forgotten) {
	maps.Copy(f.heads, old.heads)
	for a, ls := range old.logins {
		f.logins[a] = append(f.logins[a], ls...)
	}
}

// keepForgottenRecord adds to f (just forgotten in tx) what an earlier rebuild cut
// short forgot, and keeps the whole under forgottenKey until KeepForgotten is done.
func keepForgottenRecord(tx *bolt.Tx, f Forgotten) error {
	meta := tx.Bucket(bucketMeta)
	if v := meta.Get(forgottenKey); v != nil {
		old, err := decodeForgotten(v)
		if err != nil {
			return err
		}
		f.keepOlder(old)
	}
	if f.Len() == 0 {
		return nil
	}
	return meta.Put(forgottenKey, f.encode())
}

// Len is how many incidents were forgotten.
func (f Forgotten) Len() int { return len(f.heads) }

// told says whether the logins of a possible compromise of addr from first to last
// (UnixNano) were told to the admin in the alert about a forgotten one: its alert showed
// the logins of its address from near before its first event to near after its last
// (correlate.success_lookback), and none of the address not told yet meets them.
func (f Forgotten) told(addr netip.Addr, first, last int64, near time.Duration) bool {
	told := false
	for _, l := range f.logins[addr.Unmap()] {
		from, to := l.first-int64(near), l.last+int64(near)
		switch {
		case !l.told && first <= to && last >= from:
			return false
		case l.told && first >= from && last <= to:
			told = true
		}
	}
	return told
}

// KeepForgotten gives the incidents the pass after ForgetUnreportedIncidents made again
// what the forgotten ones had, in one transaction; madeSince is when the pass began
// (the store is its alone: what was first stored since, it made), near the
// correlate.success_lookback of the alerts. An incident made again under its ID keeps
// when it was first stored: the summary lists as new only what was made in its period,
// and every incident made again would be. One the outbox was done with stays off the
// work list unless it grew past its last event then. A possible compromise stays off
// it, under its ID or another (a changed rule names a login's incident anew), when the
// alert about a forgotten one showed its logins (told): otherwise the next round mailed
// the admin again about a login mailed days before (the alert marks last a day). It
// returns how many it took off the list.
//
// done says that the pass made all it would: the record ForgetUnreportedIncidents kept
// of what it forgot is then deleted; a pass cut short leaves it for the next rebuild.
func (s *Store) KeepForgotten(f Forgotten, madeSince time.Time, near time.Duration, done bool) (unlisted int, err error) {
	if f.Len() == 0 {
		return 0, nil
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		if done {
			if err := tx.Bucket(bucketMeta).Delete(forgottenKey); err != nil {
				return err
			}
		}
		lastIdx, unreported := tx.Bucket(bucketIncidentLast), tx.Bucket(bucketUnreported)
		type change struct {
			id, head []byte
			unlist   bool
		}
		var changes []change
		err := lastIdx.ForEach(func(id, v []byte) error {
			h, ok := readHead(v)
			listed := unreported.Get(id) != nil
			old, forgotten := f.heads[string(id)]
			if !ok || len(v) != 33 || !listed && !forgotten {
				return nil
			}
			c := change{id: slices.Clone(id)}
			if forgotten && h.stored != old.stored {
				c.head = binary.BigEndian.AppendUint64(v[:25:25], uint64(old.stored))
			}
			switch {
			case !listed:
			case forgotten && !old.listed && h.last <= old.last:
				// Made again as it was, and the outbox was done with it: a possible
				// compromise of a network or a recurrence, which names no one address,
				// too (it went back on the list after every rebuild).
				c.unlist = true
			case h.success && (forgotten || h.stored >= madeSince.UnixNano()):
				inc, ok, err := getIncident(tx, id)
				if err != nil {
					return err
				}
				c.unlist = ok && f.told(inc.Addr, h.first, h.last, near)
			}
			if c.unlist || c.head != nil {
				changes = append(changes, c)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, c := range changes {
			if c.head != nil {
				if err := lastIdx.Put(c.id, c.head); err != nil {
					return err
				}
			}
			if c.unlist {
				if err := unreported.Delete(c.id); err != nil {
					return err
				}
				unlisted++
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: keeping what the incidents made again had: %w", err)
	}
	return unlisted, nil
}
