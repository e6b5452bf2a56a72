package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Retention work runs in many small write transactions of at most chunk keys each, so
// the daemon's ingestion (which needs the single bbolt writer) waits for one chunk at
// most, never for the whole pass.
const defaultChunk = 2000

// PruneEvents deletes the raw events (with their index entries) that happened before
// before, in transactions of at most chunk events (0: a default). The daily counters
// keep their trace. It returns how many were deleted; on cancellation it stops between
// transactions, leaving a consistent store.
func (s *Store) PruneEvents(ctx context.Context, before time.Time, chunk int) (int, error) {
	if chunk <= 0 {
		chunk = defaultChunk
	}
	limit := timeKey(before, 0)
	total := 0
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n := 0
		err := s.db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketEvents)
			var keys [][]byte
			c := b.Cursor()
			for k, _ := c.First(); k != nil && string(k) < string(limit) && len(keys) < chunk; k, _ = c.Next() {
				keys = append(keys, slices.Clone(k))
			}
			for _, k := range keys {
				e, err := decodeEvent(b.Get(k))
				if err != nil {
					return fmt.Errorf("event %x: %w", k, err)
				}
				if e.Addr.IsValid() {
					for _, ix := range indexes(e.Addr) {
						if err := tx.Bucket(ix.bucket).Delete(append(prefixKey(ix.prefix), k...)); err != nil {
							return err
						}
					}
				}
				if err := b.Delete(k); err != nil {
					return err
				}
			}
			n = len(keys)
			return nil
		})
		total += n
		if err != nil {
			return total, fmt.Errorf("store: pruning events before %s: %w", before.Format(time.RFC3339), err)
		}
		if n < chunk {
			return total, nil
		}
	}
}

// PruneCounters deletes the daily counters of days before before and the hourly ones of
// hours before it, examining at most chunk keys per transaction (0: a default).
func (s *Store) PruneCounters(ctx context.Context, before time.Time, chunk int) (int, error) {
	if chunk <= 0 {
		chunk = defaultChunk
	}
	day, hour := dayNumber(before), hourNumber(before)
	total := 0
	// Daily keys sort by scope first, so expired days are spread over the bucket: walk
	// it in chunks, resuming after the last key seen.
	var resume []byte
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		done := false
		err := s.db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketDaily)
			c := b.Cursor()
			var k []byte
			if resume == nil {
				k, _ = c.First()
			} else {
				k, _ = c.Seek(resume)
			}
			var expired [][]byte
			seen := 0
			for ; k != nil && seen < chunk; k, _ = c.Next() {
				seen++
				if len(k) >= 4 && binary.BigEndian.Uint32(k[len(k)-4:]) < day {
					expired = append(expired, slices.Clone(k))
				}
			}
			if k == nil {
				done = true
			} else {
				resume = slices.Clone(k)
			}
			for _, e := range expired {
				if err := b.Delete(e); err != nil {
					return err
				}
			}
			total += len(expired)
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("store: pruning daily counters before %s: %w", before.Format(time.DateOnly), err)
		}
		if done {
			break
		}
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketHourly)
		var keys [][]byte
		c := b.Cursor()
		for k, _ := c.First(); k != nil && binary.BigEndian.Uint32(k) < hour; k, _ = c.Next() {
			keys = append(keys, slices.Clone(k))
		}
		for _, k := range keys {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		total += len(keys)
		return nil
	})
	if err != nil {
		return total, fmt.Errorf("store: pruning hourly counters: %w", err)
	}
	return total, nil
}

// OldestEvent is the time of the oldest raw event kept, and false when there is none.
func (s *Store) OldestEvent() (time.Time, bool, error) {
	var t time.Time
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		k, _ := tx.Bucket(bucketEvents).Cursor().First()
		if len(k) >= 8 {
			t, ok = time.Unix(0, int64(binary.BigEndian.Uint64(k))).UTC(), true
		}
		return nil
	})
	return t, ok, err
}

// NewestEvent is the time of the newest raw event kept, and false when there is none.
func (s *Store) NewestEvent() (time.Time, bool, error) {
	var t time.Time
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		k, _ := tx.Bucket(bucketEvents).Cursor().Last()
		if len(k) >= 8 {
			t, ok = time.Unix(0, int64(binary.BigEndian.Uint64(k))).UTC(), true
		}
		return nil
	})
	return t, ok, err
}
