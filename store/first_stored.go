package store

import (
	"time"

	bolt "go.etcd.io/bbolt"
)

// FirstStored returns when each of ids was first stored, by ID, in one read
// transaction: the summary lists an incident made in its period as new, whenever its
// first event was (a recurrence is made weeks after it began). Those not stored, and
// those stored before schema 11, which did not keep that, are left out.
func (s *Store) FirstStored(ids []string) (map[string]time.Time, error) {
	out := make(map[string]time.Time, len(ids))
	err := s.db.View(func(tx *bolt.Tx) error {
		lastIdx := tx.Bucket(bucketIncidentLast)
		for _, id := range ids {
			if h, ok := readHead(lastIdx.Get([]byte(id))); ok && h.stored != 0 {
				out[id] = time.Unix(0, h.stored)
			}
		}
		return nil
	})
	return out, err
}
