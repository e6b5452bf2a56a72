package store

import (
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// bucketContactMisses holds why the outbox's last rounds wrote no report for an
// incident it took on: incident ID → u64 UnixNano of the round | uvarint length and the
// code | the words. The outbox's rounds keep them in memory; stored, the commands that
// run without the daemon (`incidents` after a `scan` from cron, `net`, the summary) say
// why an incident waits, not only that a round may know.
var bucketContactMisses = []byte("contact_misses")

// ContactMiss is why a round of the outbox wrote no report for an incident: Code is one
// the daemon names (no contact found, on the do-not-contact list, the report could not
// be written), Why its words for the admin, At the round's time.
type ContactMiss struct {
	Code, Why string
	At        time.Time
}

// SaveContactMisses stores the misses in set (by incident ID), deletes those of the IDs
// in cleared (a later round found a contact) and those of rounds before forgetBefore (no
// round took the incident on since: it left the work list), in one transaction.
func (s *Store) SaveContactMisses(set map[string]ContactMiss, cleared []string, forgetBefore time.Time) error {
	values := make(map[string][]byte, len(set))
	for id, m := range set {
		values[id] = encodeContactMiss(m)
	}
	valid := func(v []byte) bool { _, ok := decodeContactMiss(v); return ok }
	if err := s.saveDated(bucketContactMisses, values, cleared, forgetBefore, valid); err != nil {
		return fmt.Errorf("store: saving the outbox's contact misses: %w", err)
	}
	return nil
}

// ContactMissOf returns the stored miss of incident id; ok is false when no round
// stored one.
func (s *Store) ContactMissOf(id string) (m ContactMiss, ok bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketContactMisses); b != nil {
			if v := b.Get([]byte(id)); v != nil {
				if m, ok = decodeContactMiss(v); !ok {
					return fmt.Errorf("incident %s: %w", id, errCorruptContactMiss)
				}
			}
		}
		return nil
	})
	if err != nil {
		return ContactMiss{}, false, fmt.Errorf("store: contact miss: %w", err)
	}
	return m, ok, nil
}

// ContactMissesOf returns the stored misses whose code is code, by incident ID: the
// summary counts the incidents that wait for their party. One that cannot be read is
// left out (ContactMissOf says so of it; the next save that forgets deletes it).
func (s *Store) ContactMissesOf(code string) (map[string]ContactMiss, error) {
	out := map[string]ContactMiss{}
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketContactMisses)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			if m, ok := decodeContactMiss(v); ok && m.Code == code {
				out[string(k)] = m
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: contact misses: %w", err)
	}
	return out, nil
}

var errCorruptContactMiss = fmt.Errorf("corrupt contact miss")

func encodeContactMiss(m ContactMiss) []byte {
	v := binary.BigEndian.AppendUint64(make([]byte, 0, 8+1+len(m.Code)+len(m.Why)), uint64(m.At.UnixNano()))
	v = append(binary.AppendUvarint(v, uint64(len(m.Code))), m.Code...)
	return append(v, m.Why...)
}

func decodeContactMiss(v []byte) (ContactMiss, bool) {
	if len(v) < 9 {
		return ContactMiss{}, false
	}
	at := time.Unix(0, int64(binary.BigEndian.Uint64(v))).UTC()
	n, k := binary.Uvarint(v[8:])
	if k <= 0 || n > uint64(len(v)-8-k) {
		return ContactMiss{}, false
	}
	rest := v[8+k:]
	return ContactMiss{Code: string(rest[:n]), Why: string(rest[n:]), At: at}, true
}
