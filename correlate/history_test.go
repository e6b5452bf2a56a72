package correlate

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/store"
)

// What a pass holds in memory must read exactly like the store, and what it no longer
// holds must come from the store.
func TestRecentEventsReadLikeTheStore(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "state.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	r := rand.New(rand.NewPCG(1, 2))
	t0 := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	var all []abusewatch.Event
	for i := range 3000 {
		a := netip.AddrFrom4([4]byte{45, 134, byte(26 + r.IntN(2)), byte(1 + r.IntN(6))})
		all = append(all, abusewatch.Event{Time: t0.Add(time.Duration(i) * 7 * time.Second), Class: abusewatch.ClassAuthFailure, Addr: a, Line: fmt.Sprint(i)})
	}
	// Several hosts: within a batch the events come a little out of order, and now
	// and then one is an hour late.
	for i := range all {
		if j := i + r.IntN(5); j < len(all) {
			all[i], all[j] = all[j], all[i]
		}
		if r.IntN(100) == 0 {
			all[i].Time = all[i].Time.Add(-time.Hour)
		}
	}
	sizes := []func(netip.Addr) netip.Prefix{net24}
	recent := newRecentEvents(st, time.Time{}, 30*time.Minute, 400, sizes) // as Correlate keeps it
	for i := 0; i < len(all); i += 250 {
		batch, err := st.Commit(all[i:i+250], nil)
		if err != nil {
			t.Fatal(err)
		}
		recent.add(batch)
		end := batch[0].Time
		for _, e := range batch {
			end = maxTime(end, e.Time)
		}
		for _, back := range []time.Duration{0, 10 * time.Minute, 40 * time.Minute, 3 * time.Hour} {
			from := batch[0].Time.Add(-back)
			for _, a := range []string{"45.134.26.1", "45.134.27.6"} {
				addr := netip.MustParseAddr(a)
				got, _ := recent.addrEvents(addr, from, end)
				want, _ := st.EventsByAddr(addr, from, end)
				if !sameSeqs(got, want) {
					t.Fatalf("batch %d, %s back, %s: %d events from memory, %d in the store", i/250, back, a, len(got), len(want))
				}
				p := net24(addr)
				got, _ = recent.netEvents(p, from, end)
				want, _ = st.EventsByNetwork(p, from, end)
				if !sameSeqs(got, want) {
					t.Fatalf("batch %d, %s back, %s: %d events from memory, %d in the store", i/250, back, p, len(got), len(want))
				}
			}
		}
		if n := recent.end() - recent.first; n > 400 {
			t.Fatalf("%d events held, the limit is 400", n)
		}
	}
	if recent.covered.Before(t0.Add(time.Hour)) {
		t.Error("the window never let go of an event")
	}
}

func sameSeqs(held []*abusewatch.Event, stored []abusewatch.Event) bool {
	return slices.EqualFunc(held, stored, func(h *abusewatch.Event, s abusewatch.Event) bool { return h.Seq == s.Seq })
}

func TestRecorrelateReturnsTheErrorOfPut(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "state.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	t0 := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	var evs []abusewatch.Event
	for i := range 10 {
		evs = append(evs, abusewatch.Event{Time: t0.Add(time.Duration(i) * time.Second), Class: abusewatch.ClassAuthFailure,
			Addr: netip.MustParseAddr("45.134.26.17"), Port: uint16(40000 + i), Line: "x"})
	}
	if _, err := st.Commit(evs, nil); err != nil {
		t.Fatal(err)
	}
	c, err := New(Options{Threshold: 5, Window: 10 * time.Minute}, st, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	full := errors.New("disk full")
	if _, err := c.Recorrelate(context.Background(), st, t0, t0.Add(time.Hour), func([]abusewatch.Incident) error { return full }); !errors.Is(err, full) {
		t.Errorf("Recorrelate = %v, want the error of put", err)
	}
	if !c.Recorrelated().IsZero() {
		t.Error("a failed pass counts as done")
	}
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// A pass that must let go of what it remembers (tiny limits) finds the same incidents
// as one that keeps everything.
func TestRecorrelateWithTinyMemoryFindsTheSame(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	r := rand.New(rand.NewPCG(3, 4))
	var evs []abusewatch.Event
	for i := range 400 { // bursts of 6 from 40 addresses over 10 days
		a := netip.AddrFrom4([4]byte{45, 134, 26, byte(1 + r.IntN(40))})
		at := t0.Add(time.Duration(r.Int64N(int64(240 * time.Hour))))
		for j := range 6 {
			evs = append(evs, abusewatch.Event{Time: at.Add(time.Duration(j) * time.Second), Class: abusewatch.ClassAuthFailure,
				Addr: a, Port: uint16(30000 + 10*i + j), Service: "sshd", Host: "web1", Line: "x"})
		}
	}
	slices.SortFunc(evs, func(a, b abusewatch.Event) int { return a.Time.Compare(b.Time) })
	opts := Options{Threshold: 5, Window: 10 * time.Minute, Network: NetworkRule{SetRule: SetRule{Count: 10, Window: time.Hour}},
		PortScan: SetRule{Count: 3, Window: time.Hour}}
	pass := func() map[string]abusewatch.Incident {
		st, err := store.Open(filepath.Join(t.TempDir(), "state.db"), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		for i := 0; i < len(evs); i += 500 {
			if _, err := st.Commit(evs[i:min(i+500, len(evs))], nil); err != nil {
				t.Fatal(err)
			}
		}
		c, err := New(opts, st, st, nil)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]abusewatch.Incident{}
		if _, err := c.Recorrelate(context.Background(), st, t0, t0.Add(11*24*time.Hour), func(incs []abusewatch.Incident) error {
			for _, inc := range incs {
				got[inc.ID] = inc
			}
			return st.PutIncidents(incs)
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	want := pass()
	defer func(b, p, h, k int) { recorrelateBatch, putEvery, heldIncidents, knownLimit = b, p, h, k }(recorrelateBatch, putEvery, heldIncidents, knownLimit)
	recorrelateBatch, putEvery, heldIncidents, knownLimit = 50, 1, 1, 3
	got := pass()
	if len(want) < 10 || len(got) != len(want) {
		t.Fatalf("%d incidents with tiny memory, %d without (want at least 10)", len(got), len(want))
	}
	for id, w := range want {
		if g, ok := got[id]; !ok || g.Count != w.Count || !g.Last.Equal(w.Last) {
			t.Errorf("incident %s (%s): %+v with tiny memory, %+v without", id, w.Key, g, w)
		}
	}
}
