package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	bolt "go.etcd.io/bbolt"
)

type boltTx = bolt.Tx

// writeLegacy writes a database of an earlier schema version: its buckets, its version
// in meta, and what fill puts in them.
func writeLegacy(t *testing.T, path string, version uint32, buckets [][]byte, fill func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range append([][]byte{bucketMeta}, buckets...) {
			if _, err := tx.CreateBucket(name); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bucketMeta).Put([]byte("schema"), binary.BigEndian.AppendUint32(nil, version)); err != nil {
			return err
		}
		return fill(tx)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// writeVersion1 writes a database the way version 1 of the schema laid it out: events
// and indexes, no counters.
func writeVersion1(t *testing.T, path string, evs []abusewatch.Event) {
	t.Helper()
	buckets := append([][]byte{legacyEvents, legacyIncidents, legacyNewest, bucketReported, bucketReports, bucketPositions}, legacyIndexes...)
	writeLegacy(t, path, 1, buckets, func(tx *bolt.Tx) error {
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
	days, err := s.Days(netip.MustParsePrefix("45.134.26.17/32"), t0, t0.AddDate(1, 0, 0))
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
	days, _ = s.Days(netip.MustParsePrefix("45.134.26.17/32"), t0, t0.AddDate(1, 0, 0))
	if days[0].ByClass["auth-failure"] != 2 {
		t.Errorf("reopening counted the events again: %+v", days[0])
	}
}

func TestOpenRefusesANewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	writeLegacy(t, path, SchemaVersion+1, nil, func(*bolt.Tx) error { return nil })
	if s, err := Open(path, time.Second); err == nil {
		s.Close()
		t.Fatal("Open accepted a schema newer than it understands")
	}
}

// writeVersion2 writes a database the way version 2 laid it out: one key per event in
// the codec.go form, index entries, and counters per scope and day (the all-events
// scope is 17 zero bytes), for every day of counted, though raw events remain only for
// the days of evs.
func writeVersion2(t *testing.T, path string, evs []abusewatch.Event, counted map[string]map[uint32]int) {
	t.Helper()
	buckets := append([][]byte{legacyEvents, legacyDaily, bucketHourly, legacyIncidents, legacyNewest, bucketReported,
		bucketReports, bucketPositions}, legacyIndexes...)
	writeLegacy(t, path, 2, buckets, func(tx *bolt.Tx) error {
		for i, e := range evs {
			e.Seq = uint64(100 + i)
			tk := timeKey(e.Time, e.Seq)
			if err := tx.Bucket(legacyEvents).Put(tk, encodeEvent(nil, &e)); err != nil {
				return err
			}
		}
		inc, _ := json.Marshal(abusewatch.Incident{ID: "i1", Key: "ip:45.134.26.17", Addr: netip.MustParseAddr("45.134.26.17")})
		if err := tx.Bucket(legacyIncidents).Put([]byte("i1"), inc); err != nil { // bare JSON, as version 2 wrote it
			return err
		}
		if err := tx.Bucket(legacyNewest).Put([]byte("ip:45.134.26.17"), []byte("i1")); err != nil {
			return err
		}
		for sc, days := range counted {
			key := make([]byte, 17)
			if sc != "" {
				key = prefixKey(netip.MustParsePrefix(sc))
			}
			for day, n := range days {
				k := binary.BigEndian.AppendUint32(append([]byte{}, key...), day)
				if err := tx.Bucket(legacyDaily).Put(k, encodeCounts(map[abusewatch.Class]int{"auth-failure": n})); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

func TestOpenMigratesVersion2KeepingCountersOfPrunedDays(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	first := dayNumber(t0)
	counted := map[string]map[uint32]int{"45.134.26.17/32": {}, "45.134.26.0/24": {}, "": {}}
	var evs []abusewatch.Event
	for d := range 10 { // 3 a day counted; the raw events of days 0-4 were pruned
		for _, sc := range []string{"45.134.26.17/32", "45.134.26.0/24", ""} {
			counted[sc][first+uint32(d)] = 3
		}
		if d >= 5 {
			for i := range 3 {
				evs = append(evs, ev("45.134.26.17", t0.AddDate(0, 0, d).Add(time.Duration(i)*time.Minute)))
			}
		}
	}
	writeVersion2(t, path, evs, counted)
	s, err := Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, sc := range []string{"45.134.26.17/32", "45.134.26.0/24", ""} {
		var p netip.Prefix
		if sc != "" {
			p = netip.MustParsePrefix(sc)
		}
		days, err := s.Days(p, t0.AddDate(0, 0, -1), t0.AddDate(0, 0, 20))
		if err != nil || len(days) != 10 {
			t.Fatalf("Daily(%q) after migration = %d days, %v; want 10", sc, len(days), err)
		}
		for _, d := range days {
			if d.ByClass["auth-failure"] != 3 {
				t.Errorf("Daily(%q) on %s = %v, want 3 (counted once)", sc, d.Start.Format(time.DateOnly), d.ByClass)
			}
		}
	}
	got, err := s.EventsByAddr(netip.MustParseAddr("45.134.26.17"), t0, t0.AddDate(0, 0, 20))
	if err != nil || len(got) != 15 || got[0].Seq != 100 {
		t.Fatalf("EventsByAddr after migration = %d events from seq %v, %v; want 15 from 100", len(got), got, err)
	}
	if n, _ := s.EventCount(); n != 15 {
		t.Errorf("EventCount = %d, want 15", n)
	}
	if days, _ := s.ActiveDays(netip.MustParsePrefix("45.134.26.17/32"), t0.AddDate(0, 0, -1), t0.AddDate(0, 0, 20)); len(days) != 10 {
		t.Errorf("ActiveDays after migration = %v, want 10 days", days)
	}
	if incs, _, err := s.IncidentsIn(netip.MustParsePrefix("45.134.26.0/24"), time.Time{}, 0); err != nil || len(incs) != 1 {
		t.Errorf("IncidentsIn after migration = %v, %v; want the stored incident", incs, err)
	}
	if incs, err := unreported(s, 0); err != nil || len(incs) != 1 {
		t.Errorf("UnreportedIncidents after migration = %v, %v; want the stored incident", incs, err)
	}
	stored, err := s.Commit([]abusewatch.Event{ev("45.134.26.17", t0.AddDate(0, 0, 11))}, nil)
	if err != nil || stored[0].Seq != 115 {
		t.Errorf("the next event gets seq %v, %v; want 115", stored, err)
	}
	s.db.View(func(tx *bolt.Tx) error {
		for _, name := range append([][]byte{legacyEvents, legacyDaily}, legacyIndexes...) {
			if tx.Bucket(name) != nil {
				t.Errorf("bucket %s is still there after migration", name)
			}
		}
		return nil
	})
}

func TestOpenMigratesVersion3IncidentsIntoStartOrder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	a := netip.MustParseAddr("45.134.26.17")
	older := abusewatch.Incident{ID: "b1", Key: "ip:45.134.26.17", Rule: "per-address", Addr: a, First: t0, Last: t0.Add(time.Minute), Count: 5,
		Evidence: []abusewatch.Event{ev("45.134.26.17", t0)}}
	newer := older
	newer.ID, newer.First, newer.Last = "a2", t0.AddDate(0, 0, 7), t0.AddDate(0, 0, 7).Add(time.Minute)
	// Version 3: incidents under their ID, the last event alone in incident_last.
	writeLegacy(t, path, 3, [][]byte{legacyIncidents, legacyNewest, bucketIncidentLast, bucketIncidentAddrs, bucketUnreported}, func(tx *bolt.Tx) error {
		for _, inc := range []abusewatch.Incident{older, newer} {
			v, _ := encodeIncident(inc)
			a16 := inc.Addr.As16()
			for _, put := range []struct{ bucket, k, v []byte }{
				{legacyIncidents, []byte(inc.ID), v},
				{bucketIncidentLast, []byte(inc.ID), binary.BigEndian.AppendUint64(nil, uint64(inc.Last.UnixNano()))},
				{bucketIncidentAddrs, append(a16[:], inc.ID...), nil},
				{bucketUnreported, []byte(inc.ID), nil},
			} {
				if err := tx.Bucket(put.bucket).Put(put.k, put.v); err != nil {
					return err
				}
			}
		}
		return tx.Bucket(legacyNewest).Put([]byte(newer.Key), []byte(newer.ID))
	})
	s, err := Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, want := range []abusewatch.Incident{older, newer} {
		if got, ok, err := s.Incident(want.ID); err != nil || !ok || IncidentDigest(got) != IncidentDigest(want) {
			t.Errorf("Incident(%s) after migration = %+v, %v, %v; want %+v", want.ID, got, ok, err, want)
		}
	}
	if got, ok, err := latestIncident(s, older.Key); err != nil || !ok || got.ID != newer.ID {
		t.Errorf("LatestIncident after migration = %q, %v, %v; want %s", got.ID, ok, err, newer.ID)
	}
	if incs, total, err := s.IncidentsIn(netip.MustParsePrefix("45.134.26.0/24"), t0.AddDate(0, 0, 1), 0); err != nil || total != 1 || incs[0].ID != newer.ID {
		t.Errorf("IncidentsIn since day 1 after migration = %v (%d), %v; want the newer", incs, total, err)
	}
	if incs, err := unreported(s, 0); err != nil || len(incs) != 2 {
		t.Errorf("UnreportedIncidents after migration = %d, %v; want 2", len(incs), err)
	}
	s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(legacyIncidents) != nil {
			t.Error("the version 3 incidents are still there after migration")
		}
		var ids []string
		tx.Bucket(bucketIncidents).ForEach(func(k, _ []byte) error { ids = append(ids, string(k[8:])); return nil })
		if !slices.Equal(ids, []string{"b1", "a2"}) {
			t.Errorf("incidents stored in the order %v, want the older first", ids)
		}
		return nil
	})
}

// A version 4 file holds incident_last values without a digest: they stay readable,
// and the digests are computed from the incidents.
func TestVersion4IncidentsWithoutDigestsStayReadable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	inc := abusewatch.Incident{ID: "b1", Key: "ip:45.134.26.17", Rule: "per-address", Addr: netip.MustParseAddr("45.134.26.17"),
		First: t0, Last: t0.Add(time.Minute), Count: 5, Evidence: []abusewatch.Event{ev("45.134.26.17", t0)}}
	s, err := Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutIncidents([]abusewatch.Incident{inc}); err != nil {
		t.Fatal(err)
	}
	// What version 4 wrote: the last and first event alone.
	s = reopenAsVersion(t, s, 4, func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketIncidentLast).Get([]byte(inc.ID))
		if len(v) != 33 {
			t.Fatalf("incident_last holds %d bytes, want 33 (with the digest, flags and when it was first stored)", len(v))
		}
		return tx.Bucket(bucketIncidentLast).Put([]byte(inc.ID), slices.Clone(v[:16]))
	})
	if got, err := s.IncidentDigests([]string{inc.ID, "none"}); err != nil || !slices.Equal(got, []uint64{IncidentDigest(inc), 0}) {
		t.Errorf("IncidentDigests = %x, %v; want %x and 0", got, err, IncidentDigest(inc))
	}
	if got, ok, err := s.OpenIncident(inc.Key, t0, t0, false); err != nil || !ok || IncidentDigest(got) != IncidentDigest(inc) {
		t.Errorf("OpenIncident = %+v, %v, %v", got, ok, err)
	}
	if incs, _, err := s.IncidentsSince(t0, 0); err != nil || len(incs) != 1 {
		t.Errorf("IncidentsSince = %d, %v; want 1", len(incs), err)
	}
	// Written again, it gets its digest.
	if err := s.PutIncidents([]abusewatch.Incident{inc}); err != nil {
		t.Fatal(err)
	}
	s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketIncidentLast).Get([]byte(inc.ID)); len(v) != 33 || binary.BigEndian.Uint64(v[16:]) != IncidentDigest(inc) {
			t.Errorf("incident_last after a rewrite = %x", v)
		}
		return nil
	})
}

// Version 5 kept no incident_starts: the migration lists every incident there from its
// body, so a pass over history finds a key's older incidents in a file written before.
func TestOpenMigratesVersion5IncidentStarts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	var incs []abusewatch.Incident
	for i, key := range []string{"ip:45.134.26.17", "ip:45.134.26.17", "net:45.134.26.0/24", "ip:45.134.26.17"} {
		at := t0.Add(time.Duration(i) * 24 * time.Hour)
		incs = append(incs, abusewatch.Incident{ID: fmt.Sprint("i", i), Key: key, Rule: "per-address", Addr: netip.MustParseAddr("45.134.26.17"),
			First: at, Last: at.Add(time.Hour), Count: 5, Evidence: []abusewatch.Event{ev("45.134.26.17", at)}})
	}
	s, err := Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutIncidents(incs); err != nil {
		t.Fatal(err)
	}
	// What version 5 kept instead: the newest incident of each key.
	s = reopenAsVersion(t, s, 5, func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(bucketStarts); err != nil {
			return err
		}
		newest, err := tx.CreateBucket(legacyNewest)
		if err != nil {
			return err
		}
		for _, inc := range incs {
			if err := newest.Put([]byte(inc.Key), []byte(inc.ID)); err != nil {
				return err
			}
		}
		return nil
	})
	for _, inc := range incs {
		got, ok, _, err := s.OpenIncidentAt(inc.Key, inc.First, inc.First, false)
		if err != nil || !ok || got.ID != inc.ID {
			t.Errorf("OpenIncidentAt(%s at %s) = %q, %v, %v; want %s", inc.Key, inc.First.Format(time.DateOnly), got.ID, ok, err, inc.ID)
		}
	}
	s.db.View(func(tx *bolt.Tx) error {
		if n := tx.Bucket(bucketStarts).Stats().KeyN; n != len(incs) {
			t.Errorf("incident_starts holds %d entries, want %d", n, len(incs))
		}
		if tx.Bucket(legacyNewest) != nil {
			t.Error("incident_keys is still there")
		}
		return nil
	})
	var heads []string
	if err := s.IncidentHeads(func(h abusewatch.IncidentHead) error {
		heads = append(heads, fmt.Sprintf("%s %s %s", h.Key, h.ID, time.Unix(0, h.First).UTC().Format(time.DateOnly)))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var keys []string
	if err := s.IncidentKeys(func(k []byte) error { keys = append(keys, string(k)); return nil }); err != nil || !slices.Equal(keys, []string{"ip:45.134.26.17", "net:45.134.26.0/24"}) {
		t.Errorf("IncidentKeys = %q, %v; want each key once", keys, err)
	}
	var want []string
	for _, inc := range incs {
		want = append(want, fmt.Sprintf("%s %s %s", inc.Key, inc.ID, inc.First.Format(time.DateOnly)))
	}
	slices.Sort(want) // by key, then start: the dates sort as they are written
	if !slices.Equal(heads, want) {
		t.Errorf("IncidentHeads = %q; want every incident by key and start: %q", heads, want)
	}
	if got, ok, err := s.OpenIncident("ip:45.134.26.17", time.Time{}, t0.Add(30*24*time.Hour), false); err != nil || !ok || got.ID != "i3" {
		t.Errorf("OpenIncident = %q, %v, %v; want the newest, i3", got.ID, ok, err)
	}
}

// reopenAsVersion makes the file of s look as schema v left it (undo, then the version
// in meta), closes s and opens the file again, migrating it.
func reopenAsVersion(t *testing.T, s *Store, v uint32, undo func(tx *bolt.Tx) error) *Store {
	t.Helper()
	err := s.db.Update(func(tx *bolt.Tx) error {
		if err := undo(tx); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put([]byte("schema"), binary.BigEndian.AppendUint32(nil, v))
	})
	if err != nil {
		t.Fatal(err)
	}
	path := s.db.Path()
	s.Close()
	if s, err = Open(path, time.Second); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Version 8 kept each report's message in its JSON; 9 keeps it apart, so that listing the
// outbox does not read every mail ever written. The migration moves them, and both a
// report read by ID and one changed afterwards still have their message.
func TestOpenMigratesVersion8ReportMessagesApart(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "state.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	reports := []abusewatch.Report{
		{ID: "r1", State: abusewatch.ReportSent, Incidents: []string{"i1"}, Message: []byte("Subject: one\r\n\r\nbody one\r\n")},
		{ID: "r2", State: abusewatch.ReportQueued, Incidents: []string{"i2"}, Message: []byte("Subject: two\r\n\r\nbody two\r\n")},
	}
	s = reopenAsVersion(t, s, 8, func(tx *bolt.Tx) error {
		for _, r := range reports { // as version 8 wrote them: the message in the JSON
			v, err := json.Marshal(r)
			if err != nil {
				return err
			}
			if err := tx.Bucket(bucketReports).Put([]byte(r.ID), v); err != nil {
				return err
			}
		}
		return tx.DeleteBucket(bucketMessages)
	})
	listed, err := s.Reports()
	if err != nil || len(listed) != 2 || listed[0].Message != nil || listed[1].Message != nil {
		t.Fatalf("Reports = %d, %v; want both, without messages", len(listed), err)
	}
	if err := s.UpdateReport("r2", func(r *abusewatch.Report) error { r.State = abusewatch.ReportSent; return nil }); err != nil {
		t.Fatal(err)
	}
	for _, want := range reports {
		r, ok, err := s.Report(want.ID)
		if err != nil || !ok || !bytes.Equal(r.Message, want.Message) {
			t.Errorf("Report(%s) = %q, %v, %v; want its message", want.ID, r.Message, ok, err)
		}
	}
	s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketReports).Get([]byte("r1")); bytes.Contains(v, []byte(`"Message":"`)) {
			t.Errorf("the report's JSON still holds its message: %s", v)
		}
		return nil
	})
}

// A report is stored with its message apart: the outbox's lists come without, the report
// read by ID with it, and a change of state keeps it.
func TestReportsAreListedWithoutTheirMessages(t *testing.T) {
	s := openTemp(t)
	msg := []byte("Subject: x\r\n\r\nbody\r\n")
	if _, err := s.AddReport(abusewatch.Report{ID: "r", State: abusewatch.ReportQueued, Incidents: []string{"i"}, Message: msg}); err != nil {
		t.Fatal(err)
	}
	if rs, err := s.Reports(abusewatch.ReportQueued); err != nil || len(rs) != 1 || rs[0].Message != nil {
		t.Fatalf("Reports = %+v, %v; want one, without its message", rs, err)
	}
	if err := s.FinishDelivery("r", func(r *abusewatch.Report) error { r.State = abusewatch.ReportSent; return nil }, nil); err != nil {
		t.Fatal(err)
	}
	if r, ok, err := s.Report("r"); err != nil || !ok || !bytes.Equal(r.Message, msg) || r.State != abusewatch.ReportSent {
		t.Errorf("Report = %s %q, %v, %v; want sent, with its message", r.State, r.Message, ok, err)
	}
}

// A query run with a newer abusewatch before the daemon was restarted migrated the file
// for good, and no migration was ever told (review 23, finding 13). OpenExisting (the
// queries) leaves a file of an older schema as it was and says how to upgrade it; Open
// (the daemon, scan) migrates it and tells from which schema to which, once.
func TestMigrationIsToldAndQueriesLeaveTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s := mustOpen(t, path)
	if m, ok := s.Migrated(); ok {
		t.Errorf("a new store: migrated %+v", m)
	}
	if err := s.db.Update(func(tx *bolt.Tx) error { // as the previous version left it
		return tx.Bucket(bucketMeta).Put([]byte("schema"), binary.BigEndian.AppendUint32(nil, SchemaVersion-1))
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	q, err := OpenExisting(path, time.Second)
	if err == nil {
		q.Close()
		t.Fatal("OpenExisting opened (and migrated) a file of an older schema")
	}
	if !errors.Is(err, ErrOldSchema) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), fmt.Sprintf("schema %d", SchemaVersion-1)) {
		t.Errorf("OpenExisting: %v; want ErrOldSchema naming the file and its schema", err)
	}
	if after, err := os.ReadFile(path); err != nil || !bytes.Equal(before, after) {
		t.Errorf("OpenExisting changed the file (%v)", err)
	}
	s = mustOpen(t, path)
	m, ok := s.Migrated()
	s.Close()
	if !ok || m.From != SchemaVersion-1 || m.To != SchemaVersion || m.Path != path ||
		!strings.Contains(m.String(), fmt.Sprintf("from schema %d to %d", SchemaVersion-1, SchemaVersion)) {
		t.Errorf("Open of a schema %d file: %+v, %v (%s); want the migration told", SchemaVersion-1, m, ok, m)
	}
	s = mustOpen(t, path)
	if m, ok := s.Migrated(); ok {
		t.Errorf("the next Open migrated again: %+v", m)
	}
	s.Close()
	if q, err := OpenExisting(path, time.Second); err != nil {
		t.Errorf("OpenExisting of the migrated file: %v", err)
	} else {
		q.Close()
	}
}

func mustOpen(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
