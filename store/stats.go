package store

import (
	"github.com/abusewatch/abusewatch"
	bolt "go.etcd.io/bbolt"
)

// Stats are the figures `abusewatch status` shows about the store.
type Stats struct {
	Path      string                         `json:"path"`
	SizeBytes int64                          `json:"size_bytes"`
	FreeBytes int64                          `json:"free_bytes"` // pages free for reuse inside the file (Compact gives them back)
	Events    int                            `json:"events"`
	Incidents int                            `json:"incidents"`
	Outbox    map[abusewatch.ReportState]int `json:"outbox"`
}

// Stats counts what the store holds.
func (s *Store) Stats() (Stats, error) {
	st := Stats{Path: s.path, Outbox: map[abusewatch.ReportState]int{}}
	err := s.db.View(func(tx *bolt.Tx) error {
		st.SizeBytes = tx.Size()
		st.FreeBytes = freeBytes(s.db)
		st.Events = int(metaUint(tx.Bucket(bucketMeta), metaEvents))
		st.Incidents = tx.Bucket(bucketIncidents).Stats().KeyN
		return nil
	})
	if err != nil {
		return st, err
	}
	reports, err := s.Reports()
	for _, r := range reports {
		st.Outbox[r.State]++
	}
	return st, err
}
