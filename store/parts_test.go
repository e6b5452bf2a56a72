package store

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	bolt "go.etcd.io/bbolt"
)

// A day sealed in many parts (a memory of a few hundred scope-class-days, late events
// merged into a day's last part) answers as the same day sealed once: the daily
// counters of every scope, its active days and the recurring scopes, while open (parts
// and pending) and after a reopen (all sealed).
func TestSealedPartsAnswerAsOneSeal(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 7))
	t0 := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	classes := []abusewatch.Class{abusewatch.ClassAuthFailure, abusewatch.ClassInvalidUser, abusewatch.ClassAuthSuccess}
	var evs []abusewatch.Event
	scs := map[netip.Prefix]bool{}
	for i := range 12000 {
		var a netip.Addr
		switch r.IntN(6) {
		case 0:
			a = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(r.IntN(3)), 0, 0, byte(r.IntN(40)), 15: byte(r.IntN(4))})
		case 1:
			a = netip.AddrFrom16(netip.AddrFrom4([4]byte{80, 94, byte(r.IntN(20)), byte(r.IntN(60))}).As16()) // mapped
		default:
			a = netip.AddrFrom4([4]byte{byte(45 + r.IntN(3)), byte(r.IntN(30)), byte(r.IntN(40)), byte(r.IntN(250))})
		}
		at := t0.Add(time.Duration(i) * 30 * time.Second) // a bit over four days
		if r.IntN(20) == 0 {
			at = at.Add(-time.Duration(r.IntN(4*24)) * time.Hour) // late, up to four days
		}
		if at.Before(t0) {
			at = t0
		}
		e := ev("192.0.2.1", at)
		e.Addr, e.Class = a, classes[r.IntN(len(classes))]
		evs = append(evs, e)
		for _, p := range scopes(a) {
			scs[p] = true
		}
	}
	dir := t.TempDir()
	open := func(name string, limit int) *Store {
		s, err := Open(filepath.Join(dir, name), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		s.pendingLimit = limit
		return s
	}
	parts, once := open("parts.db", 300), open("once.db", 1<<30)
	for len(evs) > 0 {
		n := min(len(evs), 1+r.IntN(400))
		for _, s := range []*Store{parts, once} {
			if _, err := s.Commit(evs[:n], nil); err != nil {
				t.Fatal(err)
			}
		}
		evs = evs[n:]
	}
	// The last day with events is the last of the range: its parts too are read.
	from, to := t0, t0.AddDate(0, 0, 4)
	check := func(when string) {
		t.Helper()
		for p := range scs {
			want, err := once.Days(p, from, to)
			if err != nil {
				t.Fatal(err)
			}
			got, err := parts.Days(p, from, to)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("%s: Days(%s) = %v, want %v", when, p, got, want)
			}
			for i := range got {
				if !got[i].Start.Equal(want[i].Start) || !equalCounts(got[i].ByClass, want[i].ByClass) {
					t.Fatalf("%s: Days(%s) = %v, want %v", when, p, got, want)
				}
			}
			if !activeScope(scopeOf(p)) {
				continue
			}
			wantA, err := once.ActiveDays(p, from, to)
			if err != nil {
				t.Fatal(err)
			}
			gotA, err := parts.ActiveDays(p, from, to)
			if err != nil || !slices.EqualFunc(gotA, wantA, time.Time.Equal) {
				t.Fatalf("%s: ActiveDays(%s) = %v, %v; want %v", when, p, gotA, err, wantA)
			}
		}
		for n := 1; n <= 3; n++ {
			want, err := once.Recurring(from, to, n)
			if err != nil {
				t.Fatal(err)
			}
			got, err := parts.Recurring(from, to, n)
			if err != nil || len(got) != len(want) {
				t.Fatalf("%s: Recurring(%d) = %d scopes, %v; want %d", when, n, len(got), err, len(want))
			}
			for p, days := range want {
				if !slices.EqualFunc(got[p], days, time.Time.Equal) {
					t.Fatalf("%s: Recurring(%d)[%s] = %v, want %v", when, n, p, got[p], days)
				}
			}
		}
	}
	check("open")
	// The test is of parts: the small memory made several of some days, the large one
	// none.
	keys := func(s *Store) (n, extra int) {
		s.db.View(func(tx *bolt.Tx) error {
			return tx.Bucket(bucketDays).ForEach(func(k, _ []byte) error {
				n++
				if len(k) == 8 && binary.BigEndian.Uint32(k[4:]) > 0 {
					extra++
				}
				return nil
			})
		})
		return n, extra
	}
	if _, extra := keys(parts); extra < 10 {
		t.Errorf("%d parts past the first of a day, want many", extra)
	}
	for _, s := range []*Store{parts, once} {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	parts, once = open("parts.db", 300), open("once.db", 1<<30)
	defer parts.Close()
	defer once.Close()
	if n, extra := keys(once); extra != 0 || n < 4 {
		t.Errorf("the store sealed once has %d keys, %d of them parts past the first", n, extra)
	}
	check("reopened")
}

// A flood of new IPv4 addresses in a day (100,000 here, against a memory of 4,000
// scope-class-days: the daemon's budget is ten times that, a flood's addresses a
// million and more) does not make the counters hold more than their budget, pending or
// while sealed: the seal of a full memory merges into a part of at most pendingLimit
// scopes or starts a new one, instead of reading and rewriting the whole day (which
// held every scope of the day at once: 200,000 here).
func TestCountersStayInTheirBudgetUnderAFloodOfAddresses(t *testing.T) {
	const limit, batch, addrs = 4_000, 1_000, 100_000
	s := openTemp(t)
	s.pendingLimit = limit
	// What the counters may hold: a full memory and a batch, and a seal's copy of it
	// and of the part it merges into.
	budget := (limit+4*batch)*pendingRowBytes + (2*limit+4*batch)*sealRowBytes
	day := dayNumber(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC))
	r := rand.New(rand.NewPCG(1, 31))
	for done := 0; done < addrs; done += batch {
		s.mu.Lock()
		for range batch {
			var a [4]byte
			binary.BigEndian.PutUint32(a[:], r.Uint32())
			s.pending.add(day, netip.AddrFrom4(a), abusewatch.ClassAuthFailure, 1, 0)
		}
		var sealed []uint32
		err := s.db.Update(func(tx *bolt.Tx) (err error) {
			sealed, err = s.sealDue(tx, &s.pending)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		s.pending.drop(sealed)
		held := s.pending.size * pendingRowBytes
		s.mu.Unlock()
		if held > budget || s.sealPeak > budget {
			t.Fatalf("after %d addresses: the counters hold about %d bytes, a seal held %d: over the budget of %d",
				done+batch, held, s.sealPeak, budget)
		}
	}
	t.Logf("%d addresses: a seal held at most %d bytes (budget %d)", addrs, s.sealPeak, budget)
	// Every address was counted.
	n := 0
	for i := range 256 {
		days, err := s.Days(netip.MustParsePrefix(netip.AddrFrom4([4]byte{byte(i)}).String()+"/8"), time.Unix(int64(day)*86400, 0), time.Unix(int64(day)*86400, 0))
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range days {
			n += d.ByClass[abusewatch.ClassAuthFailure]
		}
	}
	if n != addrs {
		t.Errorf("the /8s count %d events, want %d", n, addrs)
	}
}

// pendingRowBytes, with which the counters account their memory, is no less than what
// a row costs the heap under a flood of new IPv4 addresses (every address and most
// /24s new: the widest a row gets).
func TestPendingRowBytes(t *testing.T) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	p := newPending()
	r := rand.New(rand.NewPCG(2, 31))
	for range 50_000 {
		var a [4]byte
		binary.BigEndian.PutUint32(a[:], r.Uint32())
		p.add(20_000, netip.AddrFrom4(a), abusewatch.ClassAuthFailure, 1, 0)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := (int(after.HeapAlloc) - int(before.HeapAlloc)) / p.size
	if per > pendingRowBytes {
		t.Errorf("a pending row costs %d bytes of heap, more than the %d the counters account", per, pendingRowBytes)
	}
	t.Logf("%d rows, %d bytes each", p.size, per)
	runtime.KeepAlive(&p)
}
