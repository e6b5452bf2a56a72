package daemon

import (
	"context"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/store"
)

// countedStore is a store with one line from 81.2.69.10 every 3 hours (at :17) on the 8
// UTC days before day, raw events deleted before cut.
func countedStore(t *testing.T, day, cut time.Time) *store.Store {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "state.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	a := netip.MustParseAddr("81.2.69.10")
	var evs []abusewatch.Event
	for d := 8; d > 0; d-- {
		for h := 0; h < 24; h += 3 {
			evs = append(evs, abusewatch.Event{Time: day.AddDate(0, 0, -d).Add(time.Duration(h)*time.Hour + 17*time.Minute),
				Class: abusewatch.ClassAuthFailure, Addr: a, Host: "web1", Line: "Failed password"})
		}
	}
	if _, err := st.Commit(evs, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := st.PruneEvents(context.Background(), cut, 0); err != nil {
		t.Fatal(err)
	}
	return st
}

// The events of `ip`/`net` add up to the lines of the range: of each UTC day, the
// counters hold what retention deleted of it, also of the day it cut into (at 00:59)
// and of the days after a late old event. Days are shown in New York's zone.
func TestQueryNetworkCountsTheDaysRetentionCutInto(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	cut := day.AddDate(0, 0, -4).Add(59 * time.Minute) // deletes the 00:17 of Dec 2 and all before
	now := day.Add(12 * time.Hour)
	for _, tc := range []struct {
		name        string
		network     string
		late        bool
		keepAll     bool // no retention cut
		raw, counts int
		days        int // counted days
		notCounted  bool
	}{
		{"an address", "81.2.69.10/32", false, false, 31, 33, 5, false},
		{"its /24", "81.2.69.0/24", false, false, 31, 33, 5, false},
		{"after a late old event", "81.2.69.10/32", true, false, 32, 33, 5, false},
		{"a /25, not counted", "81.2.69.0/25", false, false, 31, 0, 0, true},
		{"an address, nothing deleted", "81.2.69.10/32", false, true, 64, 0, 0, false},
		{"a /25, nothing deleted: no word", "81.2.69.0/25", false, true, 64, 0, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := cut
			if tc.keepAll {
				c = day.AddDate(0, 0, -30)
			}
			st := countedStore(t, day, c)
			if tc.late {
				late := abusewatch.Event{Time: day.AddDate(0, 0, -10).Add(12 * time.Hour), Class: abusewatch.ClassAuthFailure,
					Addr: netip.MustParseAddr("81.2.69.10"), Host: "web3", Line: "Failed password"}
				if _, err := st.Commit([]abusewatch.Event{late}, nil); err != nil {
					t.Fatal(err)
				}
			}
			info, err := QueryNetwork(st, netip.MustParsePrefix(tc.network), now.AddDate(0, 0, -30), now, ny, nil)
			if err != nil {
				t.Fatal(err)
			}
			byDay := 0
			for _, d := range info.ByDay {
				byDay += d.ByClass["auth-failure"]
			}
			if info.Events != tc.raw || byDay != tc.raw || info.CountedEvents != tc.counts || len(info.CountedByDay) != tc.days {
				t.Errorf("%d raw events (%d by day), %d counted on %d days (%+v); want %d raw, %d counted on %d days",
					info.Events, byDay, info.CountedEvents, len(info.CountedByDay), info.CountedByDay, tc.raw, tc.counts, tc.days)
			}
			if tc.days > 0 {
				if last := info.CountedByDay[len(info.CountedByDay)-1]; last.Day != "2026-12-02" || last.ByClass["auth-failure"] != 1 {
					t.Errorf("the day retention cut into: %+v; want 2026-12-02 with the 1 event it deleted", last)
				}
			}
			if (info.NotCounted != "") != tc.notCounted || info.CountedFrom != nil {
				t.Errorf("not counted %q, counted from %v; want a word %v, no start", info.NotCounted, info.CountedFrom, tc.notCounted)
			}
		})
	}
}

// A --since inside a UTC day whose events retention deleted: the counters cannot split
// it. Deleted before since (retention cut at 00:59, the day's deleted event at 00:17):
// left out; after since: counted; on both sides: counted whole, from the day's start,
// and said so.
func TestQueryNetworkSinceInsideACountedDay(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	cut := day.AddDate(0, 0, -4).Add(59 * time.Minute)
	now := day.Add(12 * time.Hour)
	dec2 := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		since  time.Time
		raw    int
		counts int
		from   time.Time // zero: no whole day before since
	}{
		{"inside a day deleted whole: counted whole, said", time.Date(2026, 11, 29, 21, 0, 0, 0, ny), 31, 17, dec2.AddDate(0, 0, -2)},
		{"after the cut (21:00 New York, 02:00 UTC)", time.Date(2026, 12, 1, 21, 0, 0, 0, ny), 31, 0, time.Time{}},
		{"in the hour of the deleted event, after it", dec2.Add(30 * time.Minute), 31, 1, dec2},
		{"at the day's start (19:00 New York)", time.Date(2026, 12, 1, 19, 0, 0, 0, ny), 31, 1, time.Time{}},
		{"the last nanosecond of the day before", dec2.Add(-time.Nanosecond), 31, 1, time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := countedStore(t, day, cut)
			info, err := QueryNetwork(st, netip.MustParsePrefix("81.2.69.10/32"), tc.since, now, ny, nil)
			if err != nil {
				t.Fatal(err)
			}
			if info.Events != tc.raw || info.CountedEvents != tc.counts {
				t.Errorf("%d raw, %d counted (%+v); want %d raw, %d counted", info.Events, info.CountedEvents, info.CountedByDay, tc.raw, tc.counts)
			}
			switch {
			case tc.from.IsZero() && info.CountedFrom != nil:
				t.Errorf("counted from %s; want no whole day before since", info.CountedFrom)
			case !tc.from.IsZero() && (info.CountedFrom == nil || !info.CountedFrom.Equal(tc.from)):
				t.Errorf("counted from %v; want %s", info.CountedFrom, tc.from)
			}
		})
	}
}
