package correlate

import (
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/store"
)

// A pass answers from the heads it read at its start exactly what the store answers,
// for keys with many incidents, incidents that start at the same instant, IDs not as
// the rules make them, and keys past the memory's bounds (asked of the store).
func TestStoredHeadsAnswerLikeTheStore(t *testing.T) {
	st := tempStore(t)
	r := rand.New(rand.NewPCG(3, 4))
	t0 := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	var keys []string
	for k := range 40 {
		keys = append(keys, fmt.Sprintf("ip:45.134.26.%d", k))
	}
	var incs []abusewatch.Incident
	for i := range 400 {
		key := keys[r.IntN(len(keys))]
		first := t0.Add(time.Duration(r.IntN(60*24)) * time.Hour)
		if i%17 == 0 && len(incs) > 0 { // another incident of a key that starts at the same instant
			key, first = incs[len(incs)-1].Key, incs[len(incs)-1].First
		}
		id := fmt.Sprintf("%016x", r.Uint64())
		if key == keys[7] {
			id = fmt.Sprint("odd-", i) // not 16 hex digits: the store answers for the key
		}
		a := netip.MustParseAddr(key[3:])
		incs = append(incs, abusewatch.Incident{ID: id, Key: key, Rule: "per-address", Addr: a, First: first,
			Last: first.Add(time.Duration(r.IntN(48)) * time.Hour), Count: 3, Success: r.IntN(5) == 0,
			Evidence: []abusewatch.Event{{Time: first, Class: abusewatch.ClassAuthFailure, Addr: a, Line: id}}})
	}
	if err := st.PutIncidents(incs); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		limit int
		long  bool
	}{
		{"every head", 1_000_000, true},
		{"the first 150 heads or so", 150, true},
		{"a short pass: keys only", 1_000_000, false},
	} {
		limit := tc.limit
		t.Run(tc.name, func(t *testing.T) {
			defer func(h int) { headsLimit = h }(headsLimit)
			headsLimit = limit
			l, err := newLatestIncidents(st, tc.long)
			if err != nil || l.heads == nil {
				t.Fatalf("newLatestIncidents: heads %v, %v", l.heads, err)
			}
			held, asked := 0, 0
			for q := range 4000 {
				key := keys[r.IntN(len(keys))]
				if q%10 == 0 {
					key = "ip:198.51.100.1" // none stored
				}
				at := t0.Add(time.Duration(r.IntN(64*24*60)) * time.Minute)
				if q%3 == 0 { // at, or just before, an incident's start: the bounds
					at = incs[r.IntN(len(incs))].First.Add(-time.Duration(r.IntN(2)))
				}
				since := at.Add(-time.Duration(r.IntN(72)) * time.Hour)
				whole := r.IntN(2) == 0
				want, wantOK, wantLater, err := st.OpenIncidentAt(key, since, at, whole)
				if err != nil {
					t.Fatal(err)
				}
				hash := maphash.String(l.seed, key)
				if !l.heads.stored(hash) {
					if want.ID != "" {
						t.Fatalf("%s: no heads, but the store has %s", key, want.ID)
					}
					continue
				}
				got, ok, later, isHeld, err := l.heads.openAt(hash, key, since, at, whole, st.Incident)
				if err != nil {
					t.Fatal(err)
				}
				if !isHeld {
					asked++
					if key != keys[7] && limit == 1_000_000 && tc.long {
						t.Errorf("%s: not held", key)
					}
					continue
				}
				held++
				if key == keys[7] || !tc.long {
					t.Errorf("%s: held, with IDs not of 16 hex digits", key)
				}
				if got.ID != want.ID || ok != wantOK || later != wantLater || !got.First.Equal(want.First) || !got.Last.Equal(want.Last) ||
					got.Success != want.Success || got.Key != want.Key || store.IncidentDigest(got) != store.IncidentDigest(want) {
					t.Fatalf("%s since %s at %s whole %v: heads say %s %v later %v (%+v); the store %s %v later %v (%+v)", key, since, at, whole,
						got.ID, ok, later, got, want.ID, wantOK, wantLater, want)
				}
			}
			if (held == 0 && tc.long) || asked == 0 {
				t.Errorf("%d answers from the heads, %d asked of the store: both paths must be met", held, asked)
			}
		})
	}
	t.Run("too many keys", func(t *testing.T) {
		defer func(k int) { keysLimit = k }(keysLimit)
		keysLimit = 10
		for _, long := range []bool{true, false} {
			if l, err := newLatestIncidents(st, long); err != nil || l.heads != nil {
				t.Errorf("newLatestIncidents (long %v) past keysLimit: heads %v, %v; want none (ask the store)", long, l.heads, err)
			}
		}
	})
}

// OpenIncidentHead answers with the incident OpenIncident(whole) answers with, where
// the memory's answer without whole differs: an older incident of the key known from
// an earlier question, overlapping a later one the store holds.
func TestOpenIncidentHeadFindsWhatAWholeReadFinds(t *testing.T) {
	st := tempStore(t)
	a := netip.MustParseAddr("45.8.32.1")
	day := func(m time.Month, d int) time.Time { return time.Date(2026, m, d, 8, 0, 0, 0, time.UTC) }
	inc := func(id string, first, last time.Time) abusewatch.Incident {
		return abusewatch.Incident{ID: id, Key: "recur:45.8.32.0/24", Rule: "recurrence", Network: netip.MustParsePrefix("45.8.32.0/24"),
			First: first, Last: last, Count: 2, Evidence: []abusewatch.Event{{Time: first, Class: abusewatch.ClassAuthFailure, Addr: a, Line: id}}}
	}
	older, later := inc("84831390666f987b", day(5, 4), day(7, 18)), inc("032f5569306df25e", day(5, 5), day(10, 25))
	if err := st.PutIncidents([]abusewatch.Incident{older, later}); err != nil {
		t.Fatal(err)
	}
	for _, long := range []bool{true, false} {
		ask := func(head bool) abusewatch.Incident {
			l, err := newLatestIncidents(st, long)
			if err != nil {
				t.Fatal(err)
			}
			// Asked about the 4th of May, the memory learns the older one.
			if got, ok, err := l.OpenIncident(older.Key, day(5, 1), day(5, 4).Add(time.Hour), false); err != nil || !ok || got.ID != older.ID {
				t.Fatalf("on 4 May: %s, %v, %v; want %s", got.ID, ok, err, older.ID)
			}
			var got abusewatch.Incident
			if head {
				got, _, err = l.OpenIncidentHead(older.Key, day(6, 20), day(10, 1))
			} else {
				got, _, err = l.OpenIncident(older.Key, day(6, 20), day(10, 1), true)
			}
			if err != nil {
				t.Fatal(err)
			}
			return got
		}
		whole, head := ask(false), ask(true)
		if whole.ID != later.ID || head.ID != whole.ID || !head.First.Equal(whole.First) || !head.Last.Equal(whole.Last) {
			t.Errorf("long %v: OpenIncidentHead = %s %s..%s, OpenIncident whole = %s; want both %s", long, head.ID, head.First, head.Last, whole.ID, later.ID)
		}
		if len(head.Evidence) != 0 || len(whole.Evidence) == 0 {
			t.Errorf("long %v: head has %d evidence lines, whole %d; want none and some", long, len(head.Evidence), len(whole.Evidence))
		}
	}
}
