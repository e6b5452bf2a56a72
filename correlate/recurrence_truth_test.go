package correlate

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/store"
)

// What a recurrence tells the abuse desk must be true: its first event is the time a
// desk looks a dynamic address's customer up by, and the lines that an incident of the
// short windows (a burst, reported on its own) holds are not counted and shown again.
// The rules applied as events come (in batches of two, and all in one) and a pass over
// history (in batches of three, and all in one) tell the same.
func TestRecurrenceTellsItsOwnFirstEventAndLines(t *testing.T) {
	day := func(n int, clock time.Duration) time.Time {
		return time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, n).Add(clock)
	}
	port := uint16(20000)
	fail := func(addr string, at time.Time) abusewatch.Event {
		port++
		return abusewatch.Event{Time: at, Class: abusewatch.ClassAuthFailure, Addr: netip.MustParseAddr(addr), Port: port,
			Service: "sshd", Host: "web1", Line: fmt.Sprintf("Failed password for root from %s port %d", addr, port)}
	}
	burst := func(addr string, at time.Time, n int, every time.Duration) (evs []abusewatch.Event) {
		for i := range n {
			evs = append(evs, fail(addr, at.Add(time.Duration(i)*every)))
		}
		return evs
	}
	daily := func(addr string, days []int, clock time.Duration) (evs []abusewatch.Event) {
		for _, d := range days {
			evs = append(evs, fail(addr, day(d, clock)))
		}
		return evs
	}
	every3 := func(from, to int) (days []int) {
		for d := from; d <= to; d += 3 {
			days = append(days, d)
		}
		return days
	}
	const a, n24 = "80.94.95.115", "80.94.96.0/24"
	lowAndSlow := Options{Threshold: 1000, Window: 10 * time.Minute, Recurrence: RecurrenceRule{Days: 3}}
	withBursts := Options{Threshold: 5, Window: 10 * time.Minute, Recurrence: RecurrenceRule{Days: 10}}
	type want struct {
		key             string
		first, last     time.Time
		count, attempts int
	}
	for _, tc := range []struct {
		name string
		opts Options
		evs  []abusewatch.Event
		want []want // every incident made, in order of key and first event
	}{{
		name: "its first event is the last instant of its first day",
		opts: lowAndSlow,
		evs:  append(daily(a, []int{0}, 24*time.Hour-time.Nanosecond), daily(a, []int{2, 4}, 12*time.Hour)...),
		want: []want{{"recur:" + a + "/32", day(0, 24*time.Hour-time.Nanosecond), day(4, 12*time.Hour), 3, 3}},
	}, {
		name: "a login earlier that day is not its first event",
		opts: lowAndSlow,
		evs: append([]abusewatch.Event{{Time: day(0, time.Hour), Class: abusewatch.ClassAuthSuccess, Addr: netip.MustParseAddr(a), Port: 1,
			Service: "sshd", Host: "web1", Line: "Accepted password for alice"}},
			append(daily(a, []int{0}, 7*time.Hour+30*time.Minute+250*time.Millisecond), daily(a, []int{1, 2}, 12*time.Hour)...)...),
		want: []want{{"recur:" + a + "/32", day(0, 7*time.Hour+30*time.Minute+250*time.Millisecond), day(2, 12*time.Hour), 3, 3}},
	}, {
		name: "a /24 from its first address's first event",
		opts: Options{Threshold: 1000, Window: 10 * time.Minute, Recurrence: RecurrenceRule{Days: 4}},
		evs: slices.Concat(daily("80.94.96.1", []int{0}, 5*time.Hour+500*time.Millisecond), daily("80.94.96.2", []int{1}, 5*time.Hour),
			daily("80.94.96.3", []int{2}, 5*time.Hour), daily("80.94.96.4", []int{3}, 5*time.Hour)),
		want: []want{{"recur:" + n24, day(0, 5*time.Hour+500*time.Millisecond), day(3, 5*time.Hour), 4, 4}},
	}, {
		// The review's case: 6 connections reported, then one every 3 days; the
		// recurrence claimed 15 connections and showed the 6 again.
		name: "a burst on its first day is the burst's: the recurrence begins the next active day",
		opts: withBursts,
		evs:  append(burst(a, day(0, 10*time.Hour), 6, 30*time.Second), daily(a, every3(3, 27), 10*time.Hour)...),
		want: []want{
			{"ip:" + a, day(0, 10*time.Hour), day(0, 10*time.Hour+150*time.Second), 6, 6},
			{"recur:" + a + "/32", day(3, 10*time.Hour), day(27, 10*time.Hour), 9, 9},
		},
	}, {
		// The counters know days: a line later on the burst's day is in neither.
		name: "the rest of the burst's day stays out",
		opts: withBursts,
		evs:  slices.Concat(burst(a, day(0, 10*time.Hour), 6, 30*time.Second), daily(a, []int{0}, 20*time.Hour), daily(a, every3(3, 27), 10*time.Hour)),
		want: []want{
			{"ip:" + a, day(0, 10*time.Hour), day(0, 10*time.Hour+150*time.Second), 6, 6},
			{"recur:" + a + "/32", day(3, 10*time.Hour), day(27, 10*time.Hour), 9, 9},
		},
	}, {
		name: "a burst over midnight keeps both its days",
		opts: withBursts,
		evs:  append(burst(a, day(0, 24*time.Hour-3*time.Minute), 6, time.Minute), daily(a, every3(3, 27), 10*time.Hour)...),
		want: []want{
			{"ip:" + a, day(0, 24*time.Hour-3*time.Minute), day(1, 2*time.Minute), 6, 6},
			{"recur:" + a + "/32", day(3, 10*time.Hour), day(27, 10*time.Hour), 9, 9},
		},
	}, {
		// It recurs on the day of another burst, which the same batch may make: the
		// one on its first day is still left out, and the new one is in both.
		name: "a burst on its first day is left out when it recurs with another",
		opts: withBursts,
		evs:  slices.Concat(burst(a, day(0, 10*time.Hour), 6, 30*time.Second), daily(a, every3(3, 24), 10*time.Hour), burst(a, day(27, 10*time.Hour), 6, 30*time.Second)),
		want: []want{
			{"ip:" + a, day(0, 10*time.Hour), day(0, 10*time.Hour+150*time.Second), 6, 6},
			{"ip:" + a, day(27, 10*time.Hour), day(27, 10*time.Hour+150*time.Second), 6, 6},
			{"recur:" + a + "/32", day(3, 10*time.Hour), day(27, 10*time.Hour+150*time.Second), 14, 14},
		},
	}, {
		// One later in its span is not skipped (both hold its lines): only the
		// burst that holds its first day is left out.
		name: "a burst after its first day stays in",
		opts: withBursts,
		evs:  append(daily(a, every3(0, 24), 10*time.Hour), burst(a, day(27, 10*time.Hour), 6, 30*time.Second)...),
		want: []want{
			{"ip:" + a, day(27, 10*time.Hour), day(27, 10*time.Hour+150*time.Second), 6, 6},
			{"recur:" + a + "/32", day(0, 10*time.Hour), day(27, 10*time.Hour+150*time.Second), 15, 15},
		},
	}, {
		name: "a /24's network incident on its first day is the network's",
		opts: Options{Threshold: 1000, Window: 10 * time.Minute, Network: NetworkRule{SetRule: SetRule{Count: 3, Window: 10 * time.Minute}},
			Recurrence: RecurrenceRule{Days: 5}},
		evs: slices.Concat(daily("80.94.96.1", []int{0}, 5*time.Hour), daily("80.94.96.2", []int{0}, 5*time.Hour+time.Minute),
			daily("80.94.96.3", []int{0}, 5*time.Hour+2*time.Minute), daily("80.94.96.10", []int{2}, 5*time.Hour),
			daily("80.94.96.11", []int{4}, 5*time.Hour), daily("80.94.96.12", []int{6}, 5*time.Hour), daily("80.94.96.13", []int{8}, 5*time.Hour),
			daily("80.94.96.14", []int{10}, 5*time.Hour)),
		want: []want{
			{"net:" + n24, day(0, 5*time.Hour), day(0, 5*time.Hour+2*time.Minute), 3, 3},
			{"recur:" + n24, day(2, 5*time.Hour), day(10, 5*time.Hour), 5, 5},
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			evs := slices.Clone(tc.evs)
			slices.SortStableFunc(evs, func(a, b abusewatch.Event) int { return a.Time.Compare(b.Time) })
			for _, way := range []struct {
				name string
				run  func() map[string]abusewatch.Incident
			}{
				{"live, two at a time", func() map[string]abusewatch.Incident { return appliedLive(t, tc.opts, evs, 2) }},
				{"live, all at once", func() map[string]abusewatch.Incident { return appliedLive(t, tc.opts, evs, len(evs)) }},
				{"pass, three at a time", func() map[string]abusewatch.Incident { return appliedInAPass(t, tc.opts, evs, 3) }},
				{"pass, all at once", func() map[string]abusewatch.Incident { return appliedInAPass(t, tc.opts, evs, len(evs)) }},
			} {
				got := incidentsInOrder(way.run())
				if len(got) != len(tc.want) {
					t.Fatalf("%s: %d incidents, want %d: %v", way.name, len(got), len(tc.want), summaries(got))
				}
				for i, w := range tc.want {
					g := got[i]
					if g.Key != w.key || !g.First.Equal(w.first) || !g.Last.Equal(w.last) || g.Count != w.count || g.Attempts != w.attempts {
						t.Errorf("%s: %s from %s to %s, %d lines, %d connections; want %s from %s to %s, %d lines, %d connections",
							way.name, g.Key, g.First, g.Last, g.Count, g.Attempts, w.key, w.first, w.last, w.count, w.attempts)
					}
					if g.Rule == "recurrence" {
						// Its evidence is its own: nothing before its first event.
						for _, e := range g.Evidence {
							if e.Time.Before(g.First) {
								t.Errorf("%s: %s shows a line of %s, before its first event", way.name, g.Key, e.Time)
							}
						}
					}
				}
			}
		})
	}
}

// Where the raw events of its first day are gone (retention keeps them for less than
// the period) only the counters know that day: the recurrence begins at its start, as
// much as can be said.
func TestRecurrenceWhoseFirstDayIsGoneBeginsWithThatDay(t *testing.T) {
	st := tempStore(t)
	d0 := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	var evs []abusewatch.Event
	for d := range 3 {
		evs = append(evs, abusewatch.Event{Time: d0.AddDate(0, 0, d).Add(10 * time.Hour), Class: abusewatch.ClassAuthFailure,
			Addr: netip.MustParseAddr("80.94.95.115"), Port: uint16(30000 + d), Service: "sshd", Host: "web1", Line: "Failed password"})
	}
	if _, err := st.Commit(evs, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := st.PruneEvents(context.Background(), d0.AddDate(0, 0, 1), 0); err != nil {
		t.Fatal(err)
	}
	c, err := New(Options{Threshold: 1000, Window: 10 * time.Minute, Recurrence: RecurrenceRule{Days: 4}}, st, st, st)
	if err != nil {
		t.Fatal(err)
	}
	last := evs[0]
	last.Time, last.Port = d0.AddDate(0, 0, 3).Add(10*time.Hour), 30003
	stored, err := st.Commit([]abusewatch.Event{last}, nil)
	if err != nil {
		t.Fatal(err)
	}
	incs, err := c.Correlate(context.Background(), stored)
	if err != nil {
		t.Fatal(err)
	}
	if len(incs) != 1 || !incs[0].First.Equal(d0) || incs[0].Count != 4 || incs[0].Attempts != 4 {
		t.Fatalf("incidents %v; want a recurrence from %s (its first day, whose events are gone), 4 lines, 4 connections", summaries(incs), d0)
	}
}

// appliedLive applies the rules of opts to evs as they come, batch at a time, through
// a store, and returns every incident made in its last form, by ID.
func appliedLive(t *testing.T, opts Options, evs []abusewatch.Event, batch int) map[string]abusewatch.Incident {
	t.Helper()
	st := tempStore(t)
	c, err := New(opts, st, st, st)
	if err != nil {
		t.Fatal(err)
	}
	made := map[string]abusewatch.Incident{}
	for i := 0; i < len(evs); i += batch {
		liveBatch(t, c, st, evs[i:min(i+batch, len(evs))], made)
	}
	return made
}

// appliedInAPass stores evs and runs a pass over them in batches of batch.
func appliedInAPass(t *testing.T, opts Options, evs []abusewatch.Event, batch int) map[string]abusewatch.Incident {
	t.Helper()
	st := tempStore(t)
	if _, err := st.Commit(evs, nil); err != nil {
		t.Fatal(err)
	}
	defer func(b int) { recorrelateBatch = b }(recorrelateBatch)
	recorrelateBatch = batch
	return recorrelated(t, opts, st, evs[0].Time, evs[len(evs)-1].Time.Add(time.Hour))
}

// incidentsInOrder are the incidents of m by key, then first event.
func incidentsInOrder(m map[string]abusewatch.Incident) []abusewatch.Incident {
	var out []abusewatch.Incident
	for _, inc := range m {
		out = append(out, inc)
	}
	slices.SortFunc(out, func(a, b abusewatch.Incident) int {
		if a.Key != b.Key {
			if a.Key < b.Key {
				return -1
			}
			return 1
		}
		return a.First.Compare(b.First)
	})
	return out
}

func summaries(incs []abusewatch.Incident) []string {
	var out []string
	for _, inc := range incs {
		out = append(out, fmt.Sprintf("%s %s..%s n=%d a=%d", inc.Key, inc.First.Format(time.RFC3339Nano), inc.Last.Format(time.RFC3339Nano), inc.Count, inc.Attempts))
	}
	return out
}

// A recurring /24 names every address whose events are stored, those of the days
// between its first and the one it was made on too (the review's: 8 named of 10), but
// for one that only logged in; the rules as events come and a
// pass, with the first days it keeps or the store's, name the same.
func TestRecurringNetworkNamesEveryAddressStored(t *testing.T) {
	d0 := time.Date(2026, 10, 1, 11, 0, 0, 0, time.UTC)
	var evs []abusewatch.Event
	var want []netip.Addr
	for k := range 10 {
		a := netip.AddrFrom4([4]byte{5, 10, 21, byte(k + 1)})
		want = append(want, a)
		evs = append(evs, abusewatch.Event{Time: d0.AddDate(0, 0, 3*k), Class: abusewatch.ClassAuthFailure, Addr: a, Port: uint16(40000 + k),
			Service: "sshd", Host: "web1", Line: "Failed password from " + a.String()})
	}
	evs = append(evs,
		abusewatch.Event{Time: d0.AddDate(0, 0, 4), Class: abusewatch.ClassAuthSuccess, Addr: netip.MustParseAddr("5.10.21.100"), Port: 1,
			Service: "sshd", Host: "web1", Line: "Accepted password"})
	slices.SortStableFunc(evs, func(a, b abusewatch.Event) int { return a.Time.Compare(b.Time) })
	opts := Options{Threshold: 1000, Window: 10 * time.Minute, Recurrence: RecurrenceRule{Days: 10}}
	defer func(k bool) { keepFirstDays = k }(keepFirstDays)
	for _, way := range []struct {
		name string
		keep bool
		run  func() map[string]abusewatch.Incident
	}{
		{"live, three days at a time", true, func() map[string]abusewatch.Incident { return appliedLive(t, opts, evs, 3) }},
		{"live, all at once", true, func() map[string]abusewatch.Incident { return appliedLive(t, opts, evs, len(evs)) }},
		{"pass keeping first days", true, func() map[string]abusewatch.Incident { return appliedInAPass(t, opts, evs, 2) }},
		{"pass reading first days", false, func() map[string]abusewatch.Incident { return appliedInAPass(t, opts, evs, 2) }},
	} {
		keepFirstDays = way.keep
		got := incidentsInOrder(way.run())
		if len(got) != 1 || got[0].Key != "recur:5.10.21.0/24" || !slices.Equal(got[0].Sources, want) || got[0].Attempts != 10 {
			var sources [][]netip.Addr
			for _, inc := range got {
				sources = append(sources, inc.Sources)
			}
			t.Errorf("%s: %v naming %v; want recur:5.10.21.0/24 of 10 connections naming %v", way.name, summaries(got), sources, want)
		}
	}
}

// liveBatch stores evs as the daemon commits a batch, correlates them with c, stores
// the incidents it makes or grows and adds them to made.
func liveBatch(t *testing.T, c *Correlator, st *store.Store, evs []abusewatch.Event, made map[string]abusewatch.Incident) {
	t.Helper()
	stored, err := st.Commit(evs, nil)
	if err != nil {
		t.Fatal(err)
	}
	incs, err := c.Correlate(context.Background(), stored)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutIncidents(incs); err != nil {
		t.Fatal(err)
	}
	for _, inc := range incs {
		made[inc.ID] = inc
	}
}
