package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"time"

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

// migrations are applied in order at start to any older database. A database in the
// field may be at any earlier version.
func migrations() []migration {
	return []migration{
		// Version 2 added counters built from the raw events; version 3 stores both
		// differently and builds them from the version 1 events itself.
		{from: 1, what: "counters (built by the next step)", run: func(*bolt.Tx) error { return nil }},
		{from: 2, what: "raw events into hourly blocks, counters into sealed days", run: toBlocks},
		{from: 3, what: "incidents in the order they started", run: orderIncidents},
		// Version 5 adds each incident's digest and flags to incident_last as
		// incidents are written; a value without them stays readable.
		{from: 4, what: "incident digests in the index", run: func(*bolt.Tx) error { return nil }},
		{from: 5, what: "incidents by key and start", run: indexStarts},
		// Version 7 stores a large block in a bucket of its own (putBlock); the blocks
		// stored before stay readable as they are.
		{from: 6, what: "large blocks in buckets of their own", run: func(*bolt.Tx) error { return nil }},
		// Version 8 stores incidents S2-compressed (incidentCodecS2); those stored
		// before stay readable as they are, and are rewritten so when they change.
		{from: 7, what: "incidents compressed with S2", run: func(*bolt.Tx) error { return nil }},
		{from: 8, what: "report messages apart from the reports", run: splitMessages},
		// Version 10 writes raw events in blocks of version 3 (S2 frames); the blocks
		// written before stay readable as they are.
		{from: 9, what: "raw events compressed with S2", run: func(*bolt.Tx) error { return nil }},
		// Version 11 adds to incident_last when each incident was first stored (the
		// summary's new incidents), as incidents are written; a value without it
		// stays readable, and that time stays unknown.
		{from: 10, what: "when each incident was first stored, in the index", run: func(*bolt.Tx) error { return nil }},
		{from: 11, what: "the contact cache per address asked about", run: dropNetworkContacts},
		{from: 12, what: "every report of each incident", run: indexReportsOf},
	}
}

// indexReportsOf (version 12 → 13) lists every report under each incident it names in
// incident_all_reports: incident_reports keeps one report per incident, and of a
// network incident split among parties only one party's share was found (a follow-up
// to the others named no report of theirs). Each report is decoded once, without its
// mail (kept apart since version 9), and the entries are written in key order.
func indexReportsOf(tx *bolt.Tx) error {
	var entries []keyValue
	err := tx.Bucket(bucketReports).ForEach(func(k, v []byte) error {
		var r struct{ Incidents []string }
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("report %s: %w", k, err)
		}
		for _, id := range r.Incidents {
			entries = append(entries, keyValue{reportsOfKey(id, string(k)), nil})
		}
		return nil
	})
	if err != nil {
		return err
	}
	return putInKeyOrder(tx.Bucket(bucketReportsOf), entries)
}

// dropNetworkContacts (version 11 → 12) empties the contact cache: up to version 11 it
// kept a registry's answer under the network the answer named and used it for every
// address of that network, so a customer's more specific network (a /29 with its own
// abuse contact) was reported to the provider around it. Which address each entry was
// asked about is not stored, so no entry can be kept: each address is asked about again.
func dropNetworkContacts(tx *bolt.Tx) error {
	if err := tx.DeleteBucket(bucketContacts); err != nil {
		return err
	}
	_, err := tx.CreateBucket(bucketContacts)
	return err
}

// splitMessages (version 8 → 9) moves each report's message out of its JSON into
// report_messages: the outbox lists reports by state every round, and with the messages
// in them that read every mail ever written (5,000 reports of 10 kB: 0.5 s and 70 MB a
// list).
func splitMessages(tx *bolt.Tx) error {
	var reports, messages []keyValue
	err := tx.Bucket(bucketReports).ForEach(func(k, v []byte) error {
		var r abusewatch.Report
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("report %s: %w", k, err)
		}
		if r.Message == nil {
			return nil
		}
		messages = append(messages, keyValue{slices.Clone(k), r.Message})
		r.Message = nil
		nv, err := json.Marshal(r)
		reports = append(reports, keyValue{slices.Clone(k), nv})
		return err
	})
	if err == nil {
		err = putInKeyOrder(tx.Bucket(bucketMessages), messages)
	}
	if err == nil {
		err = putInKeyOrder(tx.Bucket(bucketReports), reports)
	}
	return err
}

// legacyNewest is the index of schema 1 to 5 from an incident key to the ID of its
// newest incident; incident_starts (its last entry of a key) tells that since.
var legacyNewest = []byte("incident_keys")

// indexStarts (version 5 → 6) lists every incident in incident_starts under its key and
// start, which only its body tells: each body is decoded once (5.5 s for the 302,797
// incidents of a 10M-event store), and the entries are written in key order.
func indexStarts(tx *bolt.Tx) error {
	var entries []keyValue
	err := tx.Bucket(bucketIncidents).ForEach(func(k, v []byte) error {
		if len(k) < 8 {
			return fmt.Errorf("incident key %x is too short", k)
		}
		inc, err := decodeIncident(v)
		if err != nil {
			return fmt.Errorf("incident %s: %w", k[8:], err)
		}
		entries = append(entries, keyValue{startKey([]byte(inc.Key), k[:8], k[8:]), nil})
		return nil
	})
	if err == nil {
		err = putInKeyOrder(tx.Bucket(bucketStarts), entries)
	}
	if err != nil || tx.Bucket(legacyNewest) == nil {
		return err
	}
	return tx.DeleteBucket(legacyNewest)
}

// keyValue is one key of a bucket and its value.
type keyValue struct{ key, value []byte }

// putInKeyOrder writes kvs into b in key order, one walk of its tree instead of a seek
// per key; it sorts kvs.
func putInKeyOrder(b *bolt.Bucket, kvs []keyValue) error {
	slices.SortFunc(kvs, func(x, y keyValue) int { return bytes.Compare(x.key, y.key) })
	for _, kv := range kvs {
		if err := b.Put(kv.key, kv.value); err != nil {
			return err
		}
	}
	return nil
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

// The buckets of schema 1 and 2: one key per event (time|seq → JSON or the codec.go
// form), one index entry per event and prefix, and (2) one counter key per scope and day.
var (
	legacyEvents  = []byte("events")
	legacyDaily   = []byte("daily") // prefixKey(scope)|day → counts; the all-events scope is 17 zero bytes
	legacyIndexes = [][]byte{[]byte("by_ip"), []byte("by_net24"), []byte("by_net16"), []byte("by_net8")}
	// Schema 1 to 3 kept incidents under their ID (JSON, zstd JSON or the binary form).
	legacyIncidents = []byte("incidents")
)

// orderIncidents (version 3 → 4) moves the incidents from under their ID to under their
// start and ID, and builds every index of those that have none (version 1 and 2 files).
// The moves are written in key order, one walk of each tree instead of a seek per
// incident: 300,000 incidents (a 10M-event store) migrate in about 5 s, not 75 s.
func orderIncidents(tx *bolt.Tx) error {
	old := tx.Bucket(legacyIncidents)
	if old == nil {
		return nil
	}
	lastIdx := tx.Bucket(bucketIncidentLast)
	var moves []keyValue
	err := old.ForEach(func(id, v []byte) error {
		inc, err := decodeIncident(v)
		if err != nil {
			return fmt.Errorf("incident %s: %w", id, err)
		}
		if len(lastIdx.Get(id)) != 8 {
			return putIncidentWrites(tx, []IncidentWrite{NewIncidentWrite(inc)}, time.Time{}) // not indexed yet; stored long before
		}
		head := incidentHeadValue(inc, IncidentDigest(inc))
		k, _ := bodyKey(id, head)
		moves = append(moves, keyValue{k, v})
		return lastIdx.Put(slices.Clone(id), head) // in ID order, as the cursor goes
	})
	if err != nil {
		return err
	}
	if err := putInKeyOrder(tx.Bucket(bucketIncidents), moves); err != nil {
		return err
	}
	return tx.DeleteBucket(legacyIncidents)
}

// toBlocks (version 2 → 3) moves the raw events into blocks (keeping their sequence
// numbers) and the counters into the every-event and sealed per-scope forms (the
// incidents are indexed by the next step). A version 1
// database has no counters: they are counted from its events. Days whose raw events
// are all there are left for Open to count from the blocks.
func toBlocks(tx *bolt.Tx) error {
	events := tx.Bucket(legacyEvents)
	daily := tx.Bucket(legacyDaily)
	meta := tx.Bucket(bucketMeta)
	var maxSeq, n uint64
	var oldestDay uint32
	var chunk []abusewatch.Event
	flush := func() error {
		if len(chunk) == 0 {
			return nil
		}
		if err := putBlocks(tx, chunk); err != nil {
			return err
		}
		if daily == nil {
			if err := addTotals(tx, chunk); err != nil {
				return err
			}
		}
		chunk = chunk[:0]
		return nil
	}
	if events != nil {
		err := events.ForEach(func(k, v []byte) error {
			e, err := decodeEvent(v)
			if err != nil {
				return fmt.Errorf("event %x: %w", k, err)
			}
			if e.Seq == 0 && len(k) == 16 {
				e.Seq = binary.BigEndian.Uint64(k[8:])
			}
			if n == 0 {
				oldestDay = dayNumber(e.Time)
			}
			maxSeq, n = max(maxSeq, e.Seq), n+1
			chunk = append(chunk, e)
			if len(chunk) == 10000 {
				return flush()
			}
			return nil
		})
		if err != nil {
			return err
		}
		if err := flush(); err != nil {
			return err
		}
	}
	if err := metaPut(meta, metaSeq, maxSeq); err != nil {
		return err
	}
	if err := metaPut(meta, metaEvents, n); err != nil {
		return err
	}
	if daily != nil {
		// The version 2 counters of the days before the oldest raw event (and of that
		// day, partly pruned perhaps) are all that is known of them: seal them as
		// they are. Later days are counted from their blocks.
		sealed := map[uint32]table{}
		all := tx.Bucket(bucketDaysAll)
		global := make([]byte, 17)
		err := daily.ForEach(func(k, v []byte) error {
			if len(k) != 21 {
				return fmt.Errorf("counter key %x", k)
			}
			day := binary.BigEndian.Uint32(k[17:])
			if bytes.Equal(k[:17], global) {
				return all.Put(binary.BigEndian.AppendUint32(nil, day), v)
			}
			if n > 0 && day > oldestDay {
				return nil
			}
			m := map[abusewatch.Class]int{}
			if err := decodeCounts(v, m); err != nil {
				return fmt.Errorf("counter %x: %w", k, err)
			}
			if sealed[day] == nil {
				sealed[day] = table{}
			}
			sc := scope(k[:17])
			for c, cnt := range m {
				sealed[day][sc] = append(sealed[day][sc], classCount{c, cnt})
			}
			return nil
		})
		if err != nil {
			return err
		}
		var days []uint32
		for day, table := range sealed {
			if err := putSealedDay(tx, day, maxSeq, table.sorted()); err != nil {
				return err
			}
			days = append(days, day)
		}
		if err := forgetUnsealed(tx, days); err != nil {
			return err
		}
	}
	for _, name := range append([][]byte{legacyEvents, legacyDaily}, legacyIndexes...) {
		if tx.Bucket(name) != nil {
			if err := tx.DeleteBucket(name); err != nil {
				return err
			}
		}
	}
	return nil
}
