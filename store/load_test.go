package store

import (
	"bytes"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	bolt "go.etcd.io/bbolt"
)

// loadStream is a pass's writes: groups of incidents, some IDs again in a later group
// (grown, one of them back to an earlier start), one admin-only, one without an address.
func loadStream() [][]abusewatch.Incident {
	t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	mk := func(i int, first time.Time) abusewatch.Incident {
		a := netip.AddrFrom4([4]byte{45, 134, byte(i % 7), byte(1 + i)})
		return abusewatch.Incident{ID: fmt.Sprintf("%016x", 1000+i*7919), Key: "ip:" + a.String(), Rule: "per-address", Addr: a,
			Network: netip.PrefixFrom(a, 32), First: first, Last: first.Add(time.Minute), Count: 5, Attempts: 5, Severity: 1,
			Classes:  []abusewatch.Class{abusewatch.ClassAuthFailure},
			Evidence: []abusewatch.Event{{Time: first, Class: abusewatch.ClassAuthFailure, Addr: a, Line: "Failed password", Seq: uint64(i)}}}
	}
	var groups [][]abusewatch.Incident
	for g := range 3 {
		var incs []abusewatch.Incident
		for i := range 40 {
			incs = append(incs, mk(g*40+i, t0.Add(time.Duration(g*40+i)*time.Hour)))
		}
		groups = append(groups, incs)
	}
	grown := mk(3, t0.Add(3*time.Hour))
	grown.Last, grown.Count = grown.Last.Add(time.Hour), 9
	moved := mk(5, t0.Add(-24*time.Hour)) // grown back: it starts elsewhere now
	groups[2] = append(groups[2], grown, moved)
	groups[1][7].AdminOnly = true
	groups[1][8].Addr, groups[1][8].Network, groups[1][8].Key = netip.Addr{}, netip.Prefix{}, "rate:auth-failure"
	return groups
}

// A load leaves the store as PutIncidents of the same groups does, byte for byte in
// every incident bucket: the last write of an ID stands, and the body of an earlier
// one that started elsewhere is gone. Until Index, none of its incidents is found.
func TestIncidentLoadStoresWhatPutIncidentsDoes(t *testing.T) {
	put, loaded := openTemp(t), openTemp(t)
	l := loaded.LoadIncidents()
	for _, incs := range loadStream() {
		if err := put.PutIncidents(incs); err != nil {
			t.Fatal(err)
		}
		ws := make([]IncidentWrite, len(incs))
		for i := range incs {
			ws[i] = NewIncidentWrite(incs[i])
		}
		if err := l.Put(ws); err != nil {
			t.Fatal(err)
		}
	}
	if incs, err := loaded.IncidentsSince(time.Time{}); err != nil || len(incs) != 0 {
		t.Errorf("before Index: %d incidents found, %v; want none", len(incs), err)
	}
	if err := l.Index(); err != nil {
		t.Fatal(err)
	}
	for _, name := range [][]byte{bucketIncidents, bucketIncidentLast, bucketUnreported, bucketStarts, bucketIncidentAddrs, bucketMeta} {
		want, got := bucketDump(t, put, name), bucketDump(t, loaded, name)
		if want != got {
			t.Errorf("bucket %s after the load:\n%s\nafter PutIncidents:\n%s", name, got, want)
		}
	}
}

// bucketDump is every key and value of bucket name, one per line.
func bucketDump(t *testing.T, s *Store, name []byte) string {
	t.Helper()
	var b bytes.Buffer
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(name).ForEach(func(k, v []byte) error {
			fmt.Fprintf(&b, "%x %x\n", k, v)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// A load cut short by a crash leaves bodies no index points at: the next Open deletes
// them and the mark, and keeps every incident indexed before.
func TestBodiesOfALoadCutShortAreDroppedAtOpen(t *testing.T) {
	s, path := openNew(t)
	groups := loadStream()
	if err := s.PutIncidents(groups[0]); err != nil {
		t.Fatal(err)
	}
	before := bucketDump(t, s, bucketIncidents)
	l := s.LoadIncidents()
	ws := make([]IncidentWrite, len(groups[1]))
	for i := range groups[1] {
		ws[i] = NewIncidentWrite(groups[1][i])
	}
	if err := l.Put(ws); err != nil {
		t.Fatal(err)
	}
	crashed := openCrashed(t, path)
	if got := bucketDump(t, crashed, bucketIncidents); got != before {
		t.Errorf("after the crash, the bodies are\n%s\nwant those indexed before the load:\n%s", got, before)
	}
	if got := bucketDump(t, crashed, bucketMeta); bytes.Contains([]byte(got), fmt.Appendf(nil, "%x ", metaUnindexed)) {
		t.Error("the mark of the load is still set")
	}
	if got, err := crashed.IncidentsSince(time.Time{}); err != nil || len(got) != len(groups[0]) {
		t.Errorf("after the crash: %d incidents, %v; want the %d indexed before", len(got), err, len(groups[0]))
	}
	// The load itself still completes in the store it was made in.
	if err := l.Index(); err != nil {
		t.Fatal(err)
	}
	if got, err := s.IncidentsSince(time.Time{}); err != nil || len(got) != len(groups[0])+len(groups[1]) {
		t.Errorf("after Index: %d incidents, %v; want %d", len(got), err, len(groups[0])+len(groups[1]))
	}
}
