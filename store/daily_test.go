package store

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
)

func TestCommitCountsEventsPerScopeAndDay(t *testing.T) {
	s := openTemp(t)
	t0 := time.Date(2026, 11, 20, 23, 59, 59, 0, time.UTC)
	inv := ev("45.134.26.17", t0.Add(time.Second)) // the next day, by one second
	inv.Class = abusewatch.ClassInvalidUser
	evs := []abusewatch.Event{ev("45.134.26.17", t0), ev("45.134.26.17", t0), ev("45.134.26.99", t0), inv,
		{Time: t0, Class: "unknown"}} // no address: counted only in the global scope
	if _, err := s.Commit(evs, nil); err != nil {
		t.Fatal(err)
	}
	// A second batch adds to the same counters instead of replacing them.
	if _, err := s.Commit([]abusewatch.Event{ev("45.134.26.17", t0)}, nil); err != nil {
		t.Fatal(err)
	}
	from, to := t0.Add(-48*time.Hour), t0.Add(48*time.Hour)
	for _, tc := range []struct {
		scope      string
		day1, day2 map[abusewatch.Class]int
	}{
		{"45.134.26.17/32", map[abusewatch.Class]int{"auth-failure": 3}, map[abusewatch.Class]int{"invalid-user": 1}},
		{"45.134.26.0/24", map[abusewatch.Class]int{"auth-failure": 4}, map[abusewatch.Class]int{"invalid-user": 1}},
		{"45.134.0.0/16", map[abusewatch.Class]int{"auth-failure": 4}, map[abusewatch.Class]int{"invalid-user": 1}},
		{"45.0.0.0/8", map[abusewatch.Class]int{"auth-failure": 4}, map[abusewatch.Class]int{"invalid-user": 1}},
		{"", map[abusewatch.Class]int{"auth-failure": 4, "unknown": 1}, map[abusewatch.Class]int{"invalid-user": 1}},
	} {
		var p netip.Prefix
		if tc.scope != "" {
			p = netip.MustParsePrefix(tc.scope)
		}
		days, err := s.Days(p, from, to)
		if err != nil {
			t.Fatal(err)
		}
		if len(days) != 2 || !days[0].Start.Equal(time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)) ||
			!equalCounts(days[0].ByClass, tc.day1) || !equalCounts(days[1].ByClass, tc.day2) {
			t.Errorf("Daily(%q) = %+v; want %v then %v", tc.scope, days, tc.day1, tc.day2)
		}
	}
	if _, err := s.Days(netip.MustParsePrefix("45.134.26.0/25"), from, to); err == nil {
		t.Error("Daily accepted a /25, which has no counters")
	}
	hours, err := s.Hours(from, to)
	if err != nil || len(hours) != 2 || hours[0].ByClass["auth-failure"] != 4 {
		t.Errorf("Hourly = %+v, %v", hours, err)
	}
}

func equalCounts(a, b map[abusewatch.Class]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// The counters of every scope agree with a plain count of the events, pending and
// sealed: IPv4 addresses (whose networks' rows are shared through their /24), IPv6
// and IPv4-mapped ones, several classes, and days sealed while later ones come.
func TestCountersAgreeWithAPlainCount(t *testing.T) {
	s, path := openNew(t)
	var err error
	r := rand.New(rand.NewPCG(3, 4))
	t0 := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	classes := []abusewatch.Class{abusewatch.ClassAuthFailure, abusewatch.ClassInvalidUser, abusewatch.ClassAuthSuccess}
	want := map[netip.Prefix]map[uint32]map[abusewatch.Class]int{}
	var evs []abusewatch.Event
	for i := range 6000 {
		var a netip.Addr
		switch r.IntN(5) {
		case 0:
			a = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(r.IntN(3)), 0, 0, byte(r.IntN(2)), 15: byte(r.IntN(4))})
		case 1:
			a = netip.AddrFrom16(netip.AddrFrom4([4]byte{80, 94, byte(r.IntN(2)), byte(r.IntN(6))}).As16()) // mapped
		default:
			a = netip.AddrFrom4([4]byte{byte(45 + r.IntN(2)), byte(r.IntN(3)), byte(r.IntN(4)), byte(r.IntN(8))})
		}
		e := ev("192.0.2.1", t0.Add(time.Duration(i)*time.Minute)) // four days and more
		e.Addr, e.Class = a, classes[r.IntN(len(classes))]
		evs = append(evs, e)
		day := dayNumber(e.Time)
		for _, p := range scopes(a) {
			if want[p] == nil {
				want[p] = map[uint32]map[abusewatch.Class]int{}
			}
			if want[p][day] == nil {
				want[p][day] = map[abusewatch.Class]int{}
			}
			want[p][day][e.Class]++
		}
	}
	for len(evs) > 0 {
		n := min(len(evs), 1+r.IntN(700))
		if _, err := s.Commit(evs[:n], nil); err != nil {
			t.Fatal(err)
		}
		evs = evs[n:]
	}
	check := func(s *Store, when string) {
		t.Helper()
		for p, byDay := range want {
			days, err := s.Days(p, t0, t0.AddDate(0, 0, 10))
			if err != nil || len(days) != len(byDay) {
				t.Fatalf("%s: Days(%s) = %d days, %v; want %d", when, p, len(days), err, len(byDay))
			}
			for _, d := range days {
				if w := byDay[dayNumber(d.Start)]; !equalCounts(d.ByClass, w) {
					t.Errorf("%s: %s on %s = %v, want %v", when, p, d.Start.Format(time.DateOnly), d.ByClass, w)
				}
			}
		}
	}
	check(s, "open")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(path, time.Second); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check(s, "all sealed")
}
