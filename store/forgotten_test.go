package store

import (
	"net/netip"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	bolt "go.etcd.io/bbolt"
)

// The incidents a pass makes again after ForgetUnreportedIncidents keep, by
// KeepForgotten, when they were first stored, and stay off the work list as the
// forgotten ones were, unless they grew; a possible compromise made under another ID
// stays off it when the alert about a forgotten one showed its logins.
func TestKeepForgottenGivesTheIncidentsMadeAgainWhatTheForgottenHad(t *testing.T) {
	s := openTemp(t)
	t0 := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
	incident := func(id, addr string, first time.Time, success bool) abusewatch.Incident {
		a := netip.MustParseAddr(addr)
		return abusewatch.Incident{ID: id, Key: "ip:" + addr + "|" + id, Rule: "per-address", Addr: a, Network: netip.PrefixFrom(a, 32),
			First: first, Last: first.Add(time.Minute), Count: 5, Success: success}
	}
	incs := []abusewatch.Incident{
		incident("expired", "45.134.26.1", t0, false), // off the list: too old
		incident("grows", "45.134.26.2", t0, false),   // off the list, and longer when made again
		incident("waiting", "45.134.26.3", t0, false), // on the list (no contact found)
		incident("mailed", "81.2.69.160", t0, true),   // a possible compromise mailed about
		incident("unmailed", "81.2.69.161", t0, true), // one whose mail failed
	}
	// A possible compromise of a network (its login's /24 failed before), mailed
	// about: it names no one address.
	netLogin := abusewatch.Incident{ID: "netlogin", Key: "success:45.134.27.0/24", Rule: "success-after-failure",
		Network: netip.MustParsePrefix("45.134.27.0/24"), First: t0, Last: t0.Add(time.Minute), Count: 5, Success: true}
	incs = append(incs, netLogin)
	if err := s.PutIncidents(incs); err != nil {
		t.Fatal(err)
	}
	if err := s.ExpireUnreported([]string{"expired", "grows", "mailed", "netlogin"}); err != nil {
		t.Fatal(err)
	}
	stored, err := s.FirstStored([]string{"expired", "grows", "waiting", "mailed", "unmailed", "netlogin"})
	if err != nil || len(stored) != 6 {
		t.Fatalf("FirstStored = %v, %v", stored, err)
	}
	forgotten, _, err := s.ForgetUnreportedIncidents(t0.Add(-time.Hour))
	if err != nil || forgotten.Len() != 6 {
		t.Fatalf("ForgetUnreportedIncidents: %d forgotten, %v; want 6", forgotten.Len(), err)
	}
	made := time.Now()
	grown := incs[1]
	grown.Last = grown.Last.Add(time.Hour)
	// The changed rules name the mailed login's incident anew, and find another login
	// of the address hours after it.
	renamed := incident("renamed", "81.2.69.160", t0.Add(30*time.Second), true)
	later := incident("later", "81.2.69.160", t0.Add(5*time.Hour), true)
	again := []abusewatch.Incident{incs[0], grown, incs[2], incs[4], renamed, later, netLogin}
	if err := s.PutIncidents(again); err != nil {
		t.Fatal(err)
	}
	unlisted, err := s.KeepForgotten(forgotten, made, 10*time.Minute, true)
	if err != nil || unlisted != 3 {
		t.Errorf("KeepForgotten: %d off the list, %v; want 3", unlisted, err)
	}
	list, err := unreported(s, 0)
	if got := incidentIDs(t, list, err); !slices.Equal(got, []string{"grows", "later", "unmailed", "waiting"}) {
		t.Errorf("on the work list: %v", got)
	}
	after, err := s.FirstStored([]string{"expired", "grows", "waiting", "unmailed", "renamed"})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"expired", "grows", "waiting", "unmailed"} {
		if !after[id].Equal(stored[id]) {
			t.Errorf("%s first stored %s, was %s", id, after[id], stored[id])
		}
	}
	if after["renamed"].Before(made) {
		t.Errorf("renamed first stored %s, before the pass (%s)", after["renamed"], made)
	}
}

// A rebuild cut short (a Ctrl-C, an error) keeps what it forgot in the store: the
// next rebuild gives the incidents it makes what they had before the first, those the
// first had not made again too (they were first stored then, and the outbox was done
// with them), and a whole pass then drops the record.
func TestARebuildCutShortKeepsWhatItForgotForTheNext(t *testing.T) {
	s, path := openNew(t)
	t0 := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
	incident := func(id, addr string) abusewatch.Incident {
		a := netip.MustParseAddr(addr)
		return abusewatch.Incident{ID: id, Key: "ip:" + addr, Rule: "per-address", Addr: a, Network: netip.PrefixFrom(a, 32),
			First: t0, Last: t0.Add(time.Minute), Count: 5}
	}
	incs := []abusewatch.Incident{incident("made-first", "45.134.26.1"), incident("made-later", "45.134.26.2")}
	if err := s.PutIncidents(incs); err != nil {
		t.Fatal(err)
	}
	if err := s.ExpireUnreported([]string{"made-first", "made-later"}); err != nil {
		t.Fatal(err)
	}
	before, err := s.FirstStored([]string{"made-first", "made-later"})
	if err != nil || len(before) != 2 {
		t.Fatalf("FirstStored = %v, %v", before, err)
	}
	// The first rebuild forgets both and is cut short after making one.
	forgotten, _, err := s.ForgetUnreportedIncidents(t0.Add(-time.Hour))
	if err != nil || forgotten.Len() != 2 {
		t.Fatalf("ForgetUnreportedIncidents: %d, %v", forgotten.Len(), err)
	}
	if err := s.PutIncidents(incs[:1]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.KeepForgotten(forgotten, time.Now(), time.Minute, false); err != nil {
		t.Fatal(err)
	}
	// The command is run again, by a new process.
	s.Close()
	if s, err = Open(path, time.Second); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	forgotten, _, err = s.ForgetUnreportedIncidents(t0.Add(-time.Hour))
	if err != nil || forgotten.Len() != 2 {
		t.Fatalf("the second ForgetUnreportedIncidents: %d, %v; want both, one of them from the first", forgotten.Len(), err)
	}
	if err := s.PutIncidents(incs); err != nil {
		t.Fatal(err)
	}
	if unlisted, err := s.KeepForgotten(forgotten, time.Now(), time.Minute, true); err != nil || unlisted != 2 {
		t.Errorf("KeepForgotten after the whole pass: %d off the list, %v; want both", unlisted, err)
	}
	after, err := s.FirstStored([]string{"made-first", "made-later"})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"made-first", "made-later"} {
		if !after[id].Equal(before[id]) {
			t.Errorf("%s first stored %s, was %s", id, after[id], before[id])
		}
	}
	s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketMeta).Get(forgottenKey) != nil {
			t.Error("the record of what was forgotten is still there after a whole pass")
		}
		return nil
	})
}

// The record of a rebuild cut short reads back as it was written, logins too, and a
// damaged one is refused, not read as less than it held.
func TestTheRecordOfWhatWasForgottenReadsBack(t *testing.T) {
	f := Forgotten{
		heads: map[string]forgottenHead{
			"a1b2c3d4e5f60718": {first: 1, last: 2, stored: 3, listed: true},
			"login":            {first: -5, last: 7, stored: 0, success: true},
		},
		logins: map[netip.Addr][]forgottenLogin{
			netip.MustParseAddr("81.2.69.160"): {{first: 10, last: 20, told: true}, {first: 30, last: 40}},
			netip.MustParseAddr("2001:db8::1"): {{first: 1, last: 1}},
		},
	}
	v := f.encode()
	back, err := decodeForgotten(v)
	if err != nil || !reflect.DeepEqual(back, f) {
		t.Errorf("decodeForgotten(encode) = %+v, %v; want %+v", back, err, f)
	}
	for _, cut := range []int{1, len(v) / 2, len(v) - 1} {
		if _, err := decodeForgotten(v[:cut]); err == nil {
			t.Errorf("a record cut to %d of %d bytes reads without an error", cut, len(v))
		}
	}
	if _, err := decodeForgotten(append(slices.Clone(v), 0)); err == nil {
		t.Error("a record with a byte too many reads without an error")
	}
}
