package store

import (
	"encoding/binary"
	"fmt"

	"github.com/abusewatch/abusewatch"
	bolt "go.etcd.io/bbolt"
)

// A migration brings a database from version from to from+1 inside the transaction that
// opens it, so a crash mid-migration leaves the old version intact and the next start
// tries again.
type migration struct {
	from int
	what string
	run  func(tx *bolt.Tx) error
}

// migrations are applied in order at start to any older database. Append, never edit:
// a database in the field may be at any earlier version.
func migrations() []migration {
	return []migration{
		{from: 1, what: "daily and hourly counters built from the stored events", run: countStoredEvents},
	}
}

// migrate applies the migrations a database at version v needs and records the new
// version. init has already created every bucket.
func migrate(tx *bolt.Tx, v uint32) error {
	for _, m := range migrations() {
		if uint32(m.from) < v {
			continue
		}
		if err := m.run(tx); err != nil {
			return fmt.Errorf("migrating the schema from version %d to %d (%s): %w; the file is unchanged, restore a backup or report the bug",
				m.from, m.from+1, m.what, err)
		}
		v = uint32(m.from + 1)
	}
	return tx.Bucket(bucketMeta).Put([]byte("schema"), binary.BigEndian.AppendUint32(nil, SchemaVersion))
}

// countStoredEvents (version 1 → 2) fills the counters version 2 added from the raw
// events a version 1 database holds, so recurrence sees history from before the upgrade.
func countStoredEvents(tx *bolt.Tx) error {
	var batch []abusewatch.Event
	err := tx.Bucket(bucketEvents).ForEach(func(k, v []byte) error {
		e, err := decodeEvent(v)
		if err != nil {
			return fmt.Errorf("event %x: %w", k, err)
		}
		batch = append(batch, abusewatch.Event{Time: e.Time, Class: e.Class, Addr: e.Addr})
		if len(batch) == 10000 {
			if err := addCounters(tx, batch); err != nil {
				return err
			}
			batch = batch[:0]
		}
		return nil
	})
	if err != nil {
		return err
	}
	return addCounters(tx, batch)
}
