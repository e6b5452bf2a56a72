// Package store is abusewatch's memory: one bbolt file that holds the events, their
// indexes by address and network, the incidents, the report outbox and the read position
// of every source. Every write is one transaction, so the events read from a source and
// the position after them are committed together or not at all. It is the only package
// that imports go.etcd.io/bbolt, and only the daemon (or an offline command when no
// daemon runs) opens the file.
package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/abusewatch/abusewatch"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// SchemaVersion is the layout of the buckets this code reads and writes.
const SchemaVersion = 2

var (
	bucketMeta       = []byte("meta")
	bucketEvents     = []byte("events")
	bucketByIP       = []byte("by_ip")
	bucketByNet24    = []byte("by_net24")
	bucketByNet16    = []byte("by_net16")
	bucketByNet8     = []byte("by_net8")
	bucketIncidents  = []byte("incidents")
	bucketOpen       = []byte("incident_keys")    // incident key → ID of the newest incident with that key
	bucketReported   = []byte("incident_reports") // incident ID → report ID
	bucketReports    = []byte("reports")
	bucketPositions  = []byte("positions")
	bucketExclusions = []byte("exclusions") // networks the admin excluded or pardoned
	bucketDeliveries = []byte("deliveries") // sent time|seq → who a report went to (cooldown and caps)
)

// ErrLocked means another process (normally the running daemon) holds the database.
var ErrLocked = errors.New("the state database is in use by another process (is the abusewatch daemon running?)")

// Store is an open state database.
type Store struct {
	db   *bolt.DB
	path string
}

// Open opens or creates the database at path, waiting at most timeout for another
// process to release it.
func Open(path string, timeout time.Duration) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	db, err := bolt.Open(path, 0o640, &bolt.Options{Timeout: timeout})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("store %s: %w", path, ErrLocked)
		}
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	s := &Store{db: db, path: path}
	if err := s.init(); err != nil {
		db.Close()
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	return s, nil
}

func (s *Store) init() error {
	return s.db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketMeta, bucketEvents, bucketByIP, bucketByNet24, bucketByNet16,
			bucketByNet8, bucketIncidents, bucketOpen, bucketReported, bucketReports, bucketPositions, bucketExclusions, bucketDeliveries, bucketContacts, bucketShapes, bucketDaily, bucketHourly} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		v := meta.Get([]byte("schema"))
		switch {
		case v == nil:
			return meta.Put([]byte("schema"), binary.BigEndian.AppendUint32(nil, SchemaVersion))
		case len(v) != 4:
			return fmt.Errorf("corrupt schema version %x", v)
		case binary.BigEndian.Uint32(v) > SchemaVersion:
			return fmt.Errorf("schema version %d is newer than this program understands (%d): use a newer abusewatch",
				binary.BigEndian.Uint32(v), SchemaVersion)
		case binary.BigEndian.Uint32(v) < SchemaVersion:
			return migrate(tx, binary.BigEndian.Uint32(v))
		}
		return nil
	})
}

// Path is the file the store lives in.
func (s *Store) Path() string { return s.path }

// Close releases the database.
func (s *Store) Close() error { return s.db.Close() }

// Position is how far a source has been read: the identity of the file under its path and
// the byte offset just after the last committed line.
type Position struct {
	Source string `json:"source"`
	Dev    uint64 `json:"dev"`
	Inode  uint64 `json:"inode"`
	Offset int64  `json:"offset"`
}

// Commit stores events and the positions reached after reading them in one transaction.
// It assigns each event its Seq and returns the events as stored.
func (s *Store) Commit(events []abusewatch.Event, positions []Position) ([]abusewatch.Event, error) {
	out := make([]abusewatch.Event, len(events))
	copy(out, events)
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketEvents)
		for i := range out {
			seq, err := b.NextSequence()
			if err != nil {
				return err
			}
			out[i].Seq = seq
			v := encodeEvent(nil, &out[i])
			tk := timeKey(out[i].Time, seq)
			if err := b.Put(tk, v); err != nil {
				return err
			}
			if !out[i].Addr.IsValid() {
				continue
			}
			for _, ix := range indexes(out[i].Addr) {
				if err := tx.Bucket(ix.bucket).Put(append(prefixKey(ix.prefix), tk...), nil); err != nil {
					return err
				}
			}
		}
		// The long-memory counters, in the same transaction as the events they count.
		if err := addCounters(tx, out); err != nil {
			return err
		}
		pb := tx.Bucket(bucketPositions)
		for _, p := range positions {
			v, err := json.Marshal(p)
			if err != nil {
				return err
			}
			if err := pb.Put([]byte(p.Source), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: commit %d events: %w", len(events), err)
	}
	return out, nil
}

// Position returns the committed position of source, if any.
func (s *Store) Position(source string) (Position, bool, error) {
	var p Position
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketPositions).Get([]byte(source))
		if v == nil {
			return nil
		}
		ok = true
		return json.Unmarshal(v, &p)
	})
	return p, ok, err
}

// EventCount is the number of events stored.
func (s *Store) EventCount() (int, error) {
	var n int
	err := s.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucketEvents).Stats().KeyN
		return nil
	})
	return n, err
}

// EventsByAddr returns the events from addr with from <= Time <= to, oldest first.
func (s *Store) EventsByAddr(addr netip.Addr, from, to time.Time) ([]abusewatch.Event, error) {
	return s.eventsByPrefix(bucketByIP, netip.PrefixFrom(addr.Unmap(), addr.Unmap().BitLen()), from, to)
}

// EventsByNetwork returns the events from the network p (a /24, /16 or /8 for IPv4, a /64,
// /48 or /32 for IPv6) with from <= Time <= to, oldest first.
func (s *Store) EventsByNetwork(p netip.Prefix, from, to time.Time) ([]abusewatch.Event, error) {
	p = p.Masked()
	for _, ix := range indexes(p.Addr()) {
		if ix.prefix.Bits() == p.Bits() {
			return s.eventsByPrefix(ix.bucket, p, from, to)
		}
	}
	return nil, fmt.Errorf("store: no index for network %s: use one of the /24, /16, /8 (IPv6 /64, /48, /32) sizes", p)
}

func (s *Store) eventsByPrefix(bucket []byte, p netip.Prefix, from, to time.Time) ([]abusewatch.Event, error) {
	var out []abusewatch.Event
	err := s.db.View(func(tx *bolt.Tx) error {
		pk := prefixKey(p)
		lo := append(append([]byte{}, pk...), timeKey(from, 0)...)
		hi := append(append([]byte{}, pk...), timeKey(to, ^uint64(0))...)
		events := tx.Bucket(bucketEvents)
		c := tx.Bucket(bucket).Cursor()
		for k, _ := c.Seek(lo); k != nil && string(k) <= string(hi); k, _ = c.Next() {
			v := events.Get(k[len(pk):])
			if v == nil {
				continue
			}
			e, err := decodeEvent(v)
			if err != nil {
				return fmt.Errorf("event %x: %w", k[len(pk):], err)
			}
			out = append(out, e)
		}
		return nil
	})
	return out, err
}
