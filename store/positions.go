package store

import (
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Positions returns every committed position, in key order: `scan` looks among them for
// a file read before under another name.
func (s *Store) Positions() ([]Position, error) {
	var out []Position
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketPositions).ForEach(func(k, v []byte) error {
			var p Position
			if err := json.Unmarshal(v, &p); err != nil {
				return fmt.Errorf("position %q: %w", k, err)
			}
			p.Source = string(k)
			out = append(out, p)
			return nil
		})
	})
	return out, err
}
