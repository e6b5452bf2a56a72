package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"maps"
	"math/rand/v2"
	"net/netip"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	bolt "go.etcd.io/bbolt"
)

// The days sealed early are behind in the activity index, read from their parts until
// commits put them in it: every reader of the index (ActiveDays, Recurring, the pruning
// of the index) answers as when every seal was indexed at once, as versions before
// did. Random addresses (IPv4, IPv6, mapped), classes and days, events late by up to
// three days, a scope's days 600 days apart (the index keeps 512) and 50 days (kept by
// a pruning of the days before 20), checked as the stores fill, after counters are
// pruned (before 20 days, and before the last day: days behind go), after a close and
// reopen, and once every day is in the index; in a store open throughout, one that
// closes and reopens every few batches (between the parts of a day), and one that a
// version indexing every seal kept until halfway (an upgrade).
func TestActivityBehindAnswersAsIndexedAtEachSeal(t *testing.T) {
	r := rand.New(rand.NewPCG(33, 1))
	t0 := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	classes := []abusewatch.Class{abusewatch.ClassAuthFailure, abusewatch.ClassInvalidUser, abusewatch.ClassAuthSuccess}
	var evs []abusewatch.Event
	scs := map[netip.Prefix]bool{}
	const n = 6000
	for i := range n {
		var a netip.Addr
		switch r.IntN(8) {
		case 0:
			a = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, byte(r.IntN(2)), 0, byte(r.IntN(30)), 15: byte(r.IntN(4))})
		case 1:
			a = netip.AddrFrom16(netip.AddrFrom4([4]byte{80, 94, byte(r.IntN(10)), byte(r.IntN(40))}).As16()) // mapped
		default:
			a = netip.AddrFrom4([4]byte{45, byte(r.IntN(4)), byte(r.IntN(60)), byte(r.IntN(20))})
		}
		at := t0.Add(time.Duration(i) * 10 * 24 * time.Hour / n) // ten days
		switch {
		case i < 600 && i%3 == 0:
			at = at.AddDate(0, 0, -600)
		case i < 600 && i%3 == 1:
			at = at.AddDate(0, 0, -50)
		case r.IntN(20) == 0:
			at = at.Add(-time.Duration(r.IntN(3*24)) * time.Hour) // late
		}
		e := ev("192.0.2.1", at)
		e.Addr, e.Class = a, classes[r.IntN(len(classes))]
		evs = append(evs, e)
		for _, p := range scopes(a) {
			if activeScope(scopeOf(p.Masked())) {
				scs[p.Masked()] = true
			}
		}
	}
	dir := t.TempDir()
	const limit = 150
	open := func(name string, everySeal bool) *Store {
		s, err := Open(filepath.Join(dir, name), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		s.pendingLimit, s.indexEverySeal = limit, everySeal
		return s
	}
	// Each store with days behind, and its reference: the same commits, each seal
	// indexed at once. The pending days count apart from the sealed ones (the index
	// keeps the newest 512 days of what is sealed; pruning keeps a scope whose newest
	// sealed day is kept), so a store and its reference close and reopen together.
	type pair struct {
		name, ref string
		s, r      *Store
		restarts  bool
	}
	pairs := []*pair{
		{name: "parts.db", ref: "ref.db"},
		{name: "restarted.db", ref: "restarted-ref.db", restarts: true},
		// Kept by a version that indexed every seal up to its first restart past half
		// the events, by this one after.
		{name: "upgraded.db", ref: "upgraded-ref.db", restarts: true},
	}
	upgraded := false
	reopen := func(p *pair) {
		for _, s := range []*Store{p.s, p.r} {
			if s != nil {
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
			}
		}
		p.s, p.r = open(p.name, p.name == "upgraded.db" && !upgraded), open(p.ref, true)
	}
	for _, p := range pairs {
		reopen(p)
	}
	defer func() {
		for _, p := range pairs {
			p.s.Close()
			p.r.Close()
		}
	}()
	behind := func(s *Store) []behindDay {
		var out []behindDay
		err := s.db.View(func(tx *bolt.Tx) (err error) {
			out, err = readBehind(tx.Bucket(bucketMeta))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	var sawBehind, sawPartly int
	ranges := [][2]time.Time{{t0.AddDate(0, 0, -700), t0.AddDate(0, 0, 11)}, {t0.AddDate(0, 0, 2), t0.AddDate(0, 0, 5)}}
	// ActiveDays is asked about a third of the scopes at each check, another third at
	// the next (Recurring, of one day, answers for them all).
	all := slices.SortedFunc(maps.Keys(scs), netip.Prefix.Compare)
	checks := 0
	check := func(when string) {
		t.Helper()
		checks++
		var asked []netip.Prefix
		for i := checks % 3; i < len(all); i += 3 {
			asked = append(asked, all[i])
		}
		for _, p := range pairs {
			if b := behind(p.r); len(b) > 0 {
				t.Fatalf("%s: %s, every seal indexed, has days behind: %v", when, p.ref, b)
			}
			for _, b := range behind(p.s) {
				sawBehind++
				if b.from != (scope{}) {
					sawPartly++
				}
			}
			for _, rg := range ranges {
				for _, sc := range asked {
					want, err := p.r.ActiveDays(sc, rg[0], rg[1])
					if err != nil {
						t.Fatal(err)
					}
					got, err := p.s.ActiveDays(sc, rg[0], rg[1])
					if err != nil || !slices.EqualFunc(got, want, time.Time.Equal) {
						t.Fatalf("%s: %s: ActiveDays(%s, %s, %s) = %v, %v; want %v", when, p.name, sc,
							rg[0].Format(time.DateOnly), rg[1].Format(time.DateOnly), got, err, want)
					}
				}
				for k := 1; k <= 3; k++ {
					want, err := p.r.Recurring(rg[0], rg[1], k)
					if err != nil {
						t.Fatal(err)
					}
					got, err := p.s.Recurring(rg[0], rg[1], k)
					if err != nil || len(got) != len(want) {
						t.Fatalf("%s: %s: Recurring(%d) = %d scopes, %v; want %d", when, p.name, k, len(got), err, len(want))
					}
					for sc, days := range want {
						if !slices.EqualFunc(got[sc], days, time.Time.Equal) {
							t.Fatalf("%s: %s: Recurring(%d)[%s] = %v, want %v", when, p.name, k, sc, got[sc], days)
						}
					}
				}
			}
		}
	}
	batches, pruned := 0, false
	for len(evs) > 0 {
		k := min(len(evs), 1+r.IntN(400))
		for _, p := range pairs {
			for _, s := range []*Store{p.s, p.r} {
				if _, err := s.Commit(evs[:k], nil); err != nil {
					t.Fatal(err)
				}
			}
		}
		evs = evs[k:]
		if batches++; batches%7 == 0 {
			upgraded = upgraded || len(evs) < n/2
			for _, p := range pairs {
				if p.restarts {
					reopen(p)
				}
			}
		}
		if batches%8 == 0 {
			check(fmt.Sprintf("batch %d", batches))
		}
		if !pruned && len(evs) < n/2 {
			pruned = true
			for _, p := range pairs {
				for _, s := range []*Store{p.s, p.r} {
					if _, err := s.PruneCounters(context.Background(), t0.AddDate(0, 0, -20), 100); err != nil {
						t.Fatal(err)
					}
				}
			}
			check("pruned")
		}
	}
	check("all committed")
	// Pruning the days before the last: the one before it is behind, or partly.
	var lastBehind int
	for _, p := range pairs {
		lastBehind += len(behind(p.s))
		for _, s := range []*Store{p.s, p.r} {
			if _, err := s.PruneCounters(context.Background(), t0.AddDate(0, 0, 9), 100); err != nil {
				t.Fatal(err)
			}
		}
	}
	if lastBehind == 0 {
		t.Error("no day behind when the days before the last were pruned")
	}
	check("pruned to the last day")
	for _, p := range pairs {
		reopen(p)
	}
	check("reopened")
	if sawBehind == 0 || sawPartly == 0 {
		t.Errorf("the stores left %d days behind at the checks, %d of them partly indexed: want some of both", sawBehind, sawPartly)
	}
	if !upgraded || pairs[2].s.indexEverySeal {
		t.Fatal("the upgraded store was not upgraded")
	}
	// With every day in the index, as a store of a version before holds them.
	for _, p := range pairs {
		if err := p.s.catchUpActive(context.Background(), ^uint32(0), limit); err != nil {
			t.Fatal(err)
		}
		if b := behind(p.s); len(b) > 0 {
			t.Fatalf("%s: still behind after catching up: %v", p.name, b)
		}
	}
	check("caught up")
}

// An early seal under a flood of new addresses writes nothing of the activity index
// (its scopes are spread over all of it: each such seal rewrote most of its pages), and
// the day, once two days old, is put in it a stretch at a time: about the index's pages
// once in all, where indexing each early seal at once wrote them again at each seal.
// Pages are counted by bbolt (the writes of each transaction), not timed.
func TestEarlySealsLeaveTheActivityIndexAlone(t *testing.T) {
	const limit, batch, addrs = 2000, 500, 12_000
	history := dayNumber(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC))
	flood := history + 10
	type run struct {
		sealWrites, seals, catchUpWrites, catchUps int
		indexPages                                 int
	}
	measure := func(everySeal bool) run {
		s := openTemp(t)
		s.pendingLimit, s.indexEverySeal = limit, everySeal
		r := rand.New(rand.NewPCG(9, 33))
		add := func(day uint32, n int) {
			for range n {
				a := netip.AddrFrom4([4]byte{byte(1 + r.IntN(223)), byte(r.IntN(256)), byte(r.IntN(256)), byte(1 + r.IntN(254))})
				s.pending.add(day, a, abusewatch.ClassAuthFailure, 1, 0)
			}
		}
		writes := func() int64 { st := s.db.Stats(); return st.TxStats.GetWrite() }
		// sealDue as Commit calls it, with the activity index's root (a bucket bbolt
		// changes gets a new one) and the pages written.
		sealDue := func() (sealed []uint32, touched bool, written int) {
			s.mu.Lock()
			defer s.mu.Unlock()
			var before, after uint64
			w := writes()
			err := s.db.Update(func(tx *bolt.Tx) (err error) {
				before = uint64(tx.Bucket(bucketActive).Root())
				sealed, err = s.sealDue(tx, &s.pending)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			s.pending.drop(sealed)
			s.db.View(func(tx *bolt.Tx) error { after = uint64(tx.Bucket(bucketActive).Root()); return nil })
			return sealed, before != after, int(writes() - w)
		}
		// A day of history in the index.
		for range addrs / batch {
			add(history, batch)
			sealDue()
		}
		if err := s.catchUpActive(context.Background(), ^uint32(0), limit); err != nil {
			t.Fatal(err)
		}
		var out run
		for range addrs / batch {
			add(flood, batch)
			sealed, touched, written := sealDue()
			if len(sealed) == 0 {
				continue
			}
			out.seals++
			out.sealWrites += written
			if touched && !everySeal {
				t.Fatalf("an early seal of the flood's day (%d seals so far) wrote to the activity index", out.seals)
			}
		}
		add(flood+2, 1) // the flood's day is final: commits put it in the index
		for i := 0; ; i++ {
			var behind []behindDay
			s.db.View(func(tx *bolt.Tx) (err error) { behind, _ = readBehind(tx.Bucket(bucketMeta)); return nil })
			if len(behind) == 0 {
				break
			}
			if i > addrs {
				t.Fatalf("the flood's day is still behind after %d commits: %v", i, behind)
			}
			_, _, written := sealDue()
			out.catchUps++
			out.catchUpWrites += written
		}
		s.db.View(func(tx *bolt.Tx) error {
			st := tx.Bucket(bucketActive).Stats()
			out.indexPages = st.BranchPageN + st.LeafPageN
			return nil
		})
		return out
	}
	before, now := measure(true), measure(false)
	t.Logf("indexed at each seal: %d early seals wrote %d pages; index of %d pages", before.seals, before.sealWrites, before.indexPages)
	t.Logf("left behind: %d early seals wrote %d pages, then %d commits %d pages; index of %d pages",
		now.seals, now.sealWrites, now.catchUps, now.catchUpWrites, now.indexPages)
	if now.seals < 10 || now.seals != before.seals {
		t.Fatalf("%d and %d early seals, want the same number, at least 10", now.seals, before.seals)
	}
	// What the index costs the day: its pages about once, not at each seal.
	if 2*(now.sealWrites+now.catchUpWrites) > before.sealWrites {
		t.Errorf("the flood's day cost %d pages with its index behind, %d indexed at each seal: want under half", now.sealWrites+now.catchUpWrites, before.sealWrites)
	}
	if now.catchUpWrites > 2*now.indexPages+10*now.catchUps {
		t.Errorf("putting the day in the index wrote %d pages in %d commits, for an index of %d", now.catchUpWrites, now.catchUps, now.indexPages)
	}
}

// The filter of a day behind says yes of every scope added to it, however many past
// the capacity it started with, and no of nearly all others (a yes costs a search of
// the day's parts, never a wrong answer).
func TestScopeFilterHasEveryScopeAdded(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 33))
	f := newScopeFilter(maphash.MakeSeed(), 1000)
	scopeAt := func(i uint32) scope {
		var a [4]byte
		binary.BigEndian.PutUint32(a[:], i)
		return scopeOf(netip.PrefixFrom(netip.AddrFrom4(a), 32))
	}
	added := map[uint32]bool{}
	for range 50_000 {
		i := r.Uint32()
		added[i] = true
		sc := scopeAt(i)
		f.add(&sc)
	}
	for i := range added {
		if sc := scopeAt(i); !f.mayHave(&sc) {
			t.Fatalf("the filter lost %x", sc)
		}
	}
	yes := 0
	for range 50_000 {
		if i := r.Uint32(); !added[i] {
			if sc := scopeAt(i); f.mayHave(&sc) {
				yes++
			}
		}
	}
	if yes > 50_000*3/100 {
		t.Errorf("the filter says yes of %d of 50,000 scopes never added, want under 3%%", yes)
	}
	t.Logf("%d sets, %d false yeses in 50,000", len(f.sets), yes)
}
