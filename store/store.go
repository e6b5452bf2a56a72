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
	"slices"
	"time"

	"github.com/abusewatch/abusewatch"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// SchemaVersion is the layout of the buckets this code reads and writes.
const SchemaVersion = 1

var (
	bucketMeta      = []byte("meta")
	bucketEvents    = []byte("events")
	bucketByIP      = []byte("by_ip")
	bucketByNet24   = []byte("by_net24")
	bucketByNet16   = []byte("by_net16")
	bucketByNet8    = []byte("by_net8")
	bucketIncidents = []byte("incidents")
	bucketOpen      = []byte("incident_keys")    // incident key → ID of the newest incident with that key
	bucketReported  = []byte("incident_reports") // incident ID → report ID
	bucketReports   = []byte("reports")
	bucketPositions = []byte("positions")
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
			bucketByNet8, bucketIncidents, bucketOpen, bucketReported, bucketReports, bucketPositions} {
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
			v, err := json.Marshal(&out[i])
			if err != nil {
				return err
			}
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
			var e abusewatch.Event
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("event %x: %w", k[len(pk):], err)
			}
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// LatestIncident returns the newest incident with key, if any.
func (s *Store) LatestIncident(key string) (abusewatch.Incident, bool, error) {
	var inc abusewatch.Incident
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		id := tx.Bucket(bucketOpen).Get([]byte(key))
		if id == nil {
			return nil
		}
		v := tx.Bucket(bucketIncidents).Get(id)
		if v == nil {
			return fmt.Errorf("incident %s for key %s is missing", id, key)
		}
		ok = true
		return json.Unmarshal(v, &inc)
	})
	return inc, ok, err
}

// PutIncidents creates or updates incidents and makes each the newest for its key.
func (s *Store) PutIncidents(incs []abusewatch.Incident) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		for _, inc := range incs {
			v, err := json.Marshal(inc)
			if err != nil {
				return err
			}
			if err := tx.Bucket(bucketIncidents).Put([]byte(inc.ID), v); err != nil {
				return err
			}
			if err := tx.Bucket(bucketOpen).Put([]byte(inc.Key), []byte(inc.ID)); err != nil {
				return err
			}
		}
		return nil
	})
}

// Incidents returns every incident, oldest first.
func (s *Store) Incidents() ([]abusewatch.Incident, error) {
	var out []abusewatch.Incident
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketIncidents).ForEach(func(k, v []byte) error {
			var inc abusewatch.Incident
			if err := json.Unmarshal(v, &inc); err != nil {
				return fmt.Errorf("incident %s: %w", k, err)
			}
			out = append(out, inc)
			return nil
		})
	})
	sortIncidents(out)
	return out, err
}

// UnreportedIncidents returns the incidents no report has been written for yet.
func (s *Store) UnreportedIncidents() ([]abusewatch.Incident, error) {
	all, err := s.Incidents()
	if err != nil {
		return nil, err
	}
	var out []abusewatch.Incident
	err = s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketReported)
		for _, inc := range all {
			if b.Get([]byte(inc.ID)) == nil {
				out = append(out, inc)
			}
		}
		return nil
	})
	return out, err
}

// ReportFor returns the ID of the report that covers incident id, if any.
func (s *Store) ReportFor(incidentID string) (string, bool, error) {
	var id string
	err := s.db.View(func(tx *bolt.Tx) error {
		id = string(tx.Bucket(bucketReported).Get([]byte(incidentID)))
		return nil
	})
	return id, id != "", err
}

// AddReport puts r into the outbox and marks its incidents as reported, unless a report
// with the same ID exists already: a report is created once. It says whether it added r.
func (s *Store) AddReport(r abusewatch.Report) (bool, error) {
	added := false
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketReports)
		if b.Get([]byte(r.ID)) != nil {
			return nil
		}
		v, err := json.Marshal(r)
		if err != nil {
			return err
		}
		if err := b.Put([]byte(r.ID), v); err != nil {
			return err
		}
		for _, id := range r.Incidents {
			if err := tx.Bucket(bucketReported).Put([]byte(id), []byte(r.ID)); err != nil {
				return err
			}
		}
		added = true
		return nil
	})
	return added, err
}

// Report returns the report with id.
func (s *Store) Report(id string) (abusewatch.Report, bool, error) {
	var r abusewatch.Report
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketReports).Get([]byte(id))
		if v == nil {
			return nil
		}
		ok = true
		return json.Unmarshal(v, &r)
	})
	return r, ok, err
}

// Reports returns the reports in any of states (all when none is given), oldest first.
func (s *Store) Reports(states ...abusewatch.ReportState) ([]abusewatch.Report, error) {
	var out []abusewatch.Report
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketReports).ForEach(func(k, v []byte) error {
			var r abusewatch.Report
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("report %s: %w", k, err)
			}
			if len(states) == 0 || slices.Contains(states, r.State) {
				out = append(out, r)
			}
			return nil
		})
	})
	sortReports(out)
	return out, err
}

// UpdateReport changes the stored report id with change, in one transaction.
func (s *Store) UpdateReport(id string, change func(*abusewatch.Report) error) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketReports)
		v := b.Get([]byte(id))
		if v == nil {
			return fmt.Errorf("store: no report %s", id)
		}
		var r abusewatch.Report
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("report %s: %w", id, err)
		}
		if err := change(&r); err != nil {
			return err
		}
		nv, err := json.Marshal(r)
		if err != nil {
			return err
		}
		return b.Put([]byte(id), nv)
	})
}
