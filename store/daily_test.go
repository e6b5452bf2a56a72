package store

import (
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
