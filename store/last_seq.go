package store

import bolt "go.etcd.io/bbolt"

// LastSeq is the Seq of the last event committed, 0 when none was: the events a scan
// stores itself have a higher one, which tells them from those stored before it.
func (s *Store) LastSeq() (uint64, error) {
	var seq uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		seq = metaUint(tx.Bucket(bucketMeta), metaSeq)
		return nil
	})
	return seq, err
}
