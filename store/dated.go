package store

import (
	"encoding/binary"
	"time"

	bolt "go.etcd.io/bbolt"
)

// A dated bucket keeps a little of the daemon's memory across restarts, by incident ID
// (contact_misses, alert_marks): every value starts with the u64 UnixNano of when it was
// written, and what is older than its use is forgotten as new entries are saved.

// saveDated stores set and deletes the keys of cleared in the dated bucket name
// (created when missing) and, unless forgetBefore is zero, deletes in the same
// transaction the entries dated before it and those valid says cannot be read.
func (s *Store) saveDated(name []byte, set map[string][]byte, cleared []string, forgetBefore time.Time, valid func(v []byte) bool) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(name)
		if err != nil {
			return err
		}
		for _, id := range cleared {
			if err := b.Delete([]byte(id)); err != nil {
				return err
			}
		}
		for id, v := range set {
			if err := b.Put([]byte(id), v); err != nil {
				return err
			}
		}
		if forgetBefore.IsZero() {
			return nil
		}
		var stale [][]byte
		err = b.ForEach(func(k, v []byte) error {
			if !valid(v) || int64(binary.BigEndian.Uint64(v)) < forgetBefore.UnixNano() {
				stale = append(stale, k)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range stale {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}
