package store

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/abusewatch/abusewatch"
	bolt "go.etcd.io/bbolt"
)

// markActive reads the index with a cursor that steps or jumps forward; it must set
// exactly what a read of each scope would, whether the day's scopes are most of the
// index, a few far apart, or new.
func TestMarkActiveAgreesWithAReadOfEachScope(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	scopeAt := func(i int) scope {
		return scopeOf(netip.PrefixFrom(netip.AddrFrom4([4]byte{45, byte(i >> 8), byte(i), 1}), 32))
	}
	for _, share := range []int{1, 10, 90} { // percent of the index active on the day
		s := openTemp(t)
		want := map[scope][]byte{}
		s.db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketActive)
			for i := 0; i < 4000; i += 2 { // every other scope has an activity already
				sc := scopeAt(i)
				v, _ := setActive(nil, uint32(20000+r.IntN(300)))
				b.Put(sc[:], v)
				want[sc] = v
			}
			return nil
		})
		const day = 20400
		t0 := table{}
		for i := range 4000 {
			if r.IntN(100) < share {
				class := abusewatch.ClassAuthFailure
				if r.IntN(10) == 0 {
					class = abusewatch.ClassAuthSuccess // does not make the day active
				}
				t0[scopeAt(i)] = []classCount{{class, 1}}
				if class != abusewatch.ClassAuthSuccess {
					v, err := setActive(want[scopeAt(i)], day)
					if err != nil {
						t.Fatal(err)
					}
					if v != nil {
						want[scopeAt(i)] = v
					}
				}
			}
		}
		err := s.db.Update(func(tx *bolt.Tx) error { return markActive(tx, day, t0.sorted()) })
		if err != nil {
			t.Fatal(err)
		}
		s.db.View(func(tx *bolt.Tx) error {
			n := 0
			tx.Bucket(bucketActive).ForEach(func(k, v []byte) error {
				n++
				if !bytes.Equal(want[scope(k)], v) {
					t.Errorf("%d%% active: scope %x = %x, want %x", share, k, v, want[scope(k)])
				}
				return nil
			})
			if n != len(want) {
				t.Errorf("%d%% active: %d scopes in the index, want %d", share, n, len(want))
			}
			return nil
		})
	}
}

// A scope's first day makes the value a window of days would, starting at it.
func TestSetActiveOfANewScope(t *testing.T) {
	for _, day := range []uint32{0, 5, 511, 512, 20_000} {
		got, err := setActive(nil, day)
		if err != nil {
			t.Fatal(err)
		}
		var want [activeDays / 64]uint64
		want[0] = 1
		base, set, err := readActive(got)
		if err != nil || base != day || set != want {
			t.Errorf("setActive(nil, %d) = base %d, %x, %v; want base %d, day 0 set", day, base, set, err, day)
		}
		if days := activeList(base, set); len(days) != 1 || days[0] != day {
			t.Errorf("setActive(nil, %d) lists %v", day, days)
		}
	}
}
