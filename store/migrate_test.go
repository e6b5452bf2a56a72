package store

import (
	"encoding/binary"
	"encoding/json"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	bolt "go.etcd.io/bbolt"
)

type boltTx = bolt.Tx

// writeVersion1 writes a database the way version 1 of the schema laid it out: events
// and indexes, no counters.
func writeVersion1(t *testing.T, path string, evs []abusewatch.Event) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range append([][]byte{bucketMeta, legacyEvents, bucketIncidents, bucketOpen, bucketReported,
			bucketReports, bucketPositions}, legacyIndexes...) {
			if _, err := tx.CreateBucket(name); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bucketMeta).Put([]byte("schema"), binary.BigEndian.AppendUint32(nil, 1)); err != nil {
			return err
		}
		for i, e := range evs {
			e.Seq = uint64(i + 1)
			v, _ := json.Marshal(e)
			tk := timeKey(e.Time, e.Seq)
			if err := tx.Bucket(legacyEvents).Put(tk, v); err != nil {
				return err
			}
			for i, p := range scopes(e.Addr) {
				if err := tx.Bucket(legacyIndexes[i]).Put(append(prefixKey(p), tk...), nil); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestOpenMigratesVersion1AndCountsItsEvents(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	var evs []abusewatch.Event
	for w := range 20 { // a weekly visitor, twice a visit
		evs = append(evs, ev("45.134.26.17", t0.AddDate(0, 0, 7*w)), ev("45.134.26.17", t0.AddDate(0, 0, 7*w).Add(time.Minute)))
	}
	writeVersion1(t, path, evs)
	s, err := Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.db.View(func(tx *bolt.Tx) error {
		if v := binary.BigEndian.Uint32(tx.Bucket(bucketMeta).Get([]byte("schema"))); v != SchemaVersion {
			t.Errorf("schema version after migration = %d, want %d", v, SchemaVersion)
		}
		return nil
	})
	days, err := s.Daily(netip.MustParsePrefix("45.134.26.17/32"), t0, t0.AddDate(1, 0, 0))
	if err != nil || len(days) != 20 || days[0].ByClass["auth-failure"] != 2 {
		t.Fatalf("counters after migration = %d days (%+v), %v; want 20 days of 2", len(days), days, err)
	}
	// The old events are still readable, and migrating is done once: reopening does
	// not count them again.
	if got, _ := s.EventsByAddr(netip.MustParseAddr("45.134.26.17"), t0, t0.AddDate(1, 0, 0)); len(got) != 40 {
		t.Errorf("%d events readable after migration, want 40", len(got))
	}
	s.Close()
	s, err = Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	days, _ = s.Daily(netip.MustParsePrefix("45.134.26.17/32"), t0, t0.AddDate(1, 0, 0))
	if days[0].ByClass["auth-failure"] != 2 {
		t.Errorf("reopening counted the events again: %+v", days[0])
	}
}

func TestOpenRefusesANewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error {
		b, _ := tx.CreateBucket(bucketMeta)
		return b.Put([]byte("schema"), binary.BigEndian.AppendUint32(nil, SchemaVersion+1))
	})
	db.Close()
	if s, err := Open(path, time.Second); err == nil {
		s.Close()
		t.Fatal("Open accepted a schema newer than it understands")
	}
}
