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

// An incident with a report stays as it was reported, whatever made it, and however
// often a pass over history meets it: a reported recurrence is followed by a new one
// for the days after its last event (live and in a pass, with no count of days to
// reach again), and a chain of reported follow-ups, of the per-address rule or of
// the recurrence rule, comes out of two passes over the whole history as it was
// reported. Each case is applied live in parts, with every incident made so far
// reported after each part but the last; then two passes run over everything.
func TestAReportedChainStaysAsReported(t *testing.T) {
	d0 := time.Date(2026, 11, 1, 11, 0, 0, 0, time.UTC)
	port := uint16(30000)
	fail := func(addr string, at time.Time) abusewatch.Event {
		port++
		return abusewatch.Event{Time: at, Class: abusewatch.ClassAuthFailure, Addr: netip.MustParseAddr(addr), Port: port,
			Service: "sshd", Host: "web1", Line: fmt.Sprintf("Failed password for root from %s port %d", addr, port)}
	}
	daily := func(addr string, from, to int) (evs []abusewatch.Event) {
		for d := from; d <= to; d++ {
			evs = append(evs, fail(addr, d0.AddDate(0, 0, d)))
		}
		return evs
	}
	every := func(addr string, at time.Time, n int, step time.Duration) (evs []abusewatch.Event) {
		for i := range n {
			evs = append(evs, fail(addr, at.Add(time.Duration(i)*step)))
		}
		return evs
	}
	const a = "45.134.26.97"
	recur := Options{Threshold: 1000, Window: 10 * time.Minute, Recurrence: RecurrenceRule{Days: 3}}
	perAddress := Options{Threshold: 5, Window: 10 * time.Minute}
	type want struct {
		key         string
		first, last time.Time
		count       int
	}
	at := func(d int) time.Time { return d0.AddDate(0, 0, d) }
	for _, tc := range []struct {
		name  string
		opts  Options
		parts [][]abusewatch.Event
		want  []want // every incident, by key and first event
	}{{
		name:  "the review's R1: a reported recurrence is followed by a new one",
		opts:  recur,
		parts: [][]abusewatch.Event{daily(a, 0, 9), daily(a, 10, 12)},
		want:  []want{{"recur:" + a + "/32", at(0), at(9), 10}, {"recur:" + a + "/32", at(10), at(12), 3}},
	}, {
		name:  "a chain of reported recurrences",
		opts:  recur,
		parts: [][]abusewatch.Event{daily(a, 0, 9), daily(a, 10, 12), daily(a, 13, 14)},
		want: []want{{"recur:" + a + "/32", at(0), at(9), 10}, {"recur:" + a + "/32", at(10), at(12), 3},
			{"recur:" + a + "/32", at(13), at(14), 2}},
	}, {
		name: "the review's R4 (t13): a chain of reported per-address follow-ups",
		opts: perAddress,
		parts: [][]abusewatch.Event{every(a, at(0), 6, time.Minute), every(a, at(0).Add(13*time.Minute), 7, 8*time.Minute),
			every(a, at(0).Add(69*time.Minute), 7, 8*time.Minute)},
		want: []want{{"ip:" + a, at(0), at(0).Add(5 * time.Minute), 6}, {"ip:" + a, at(0).Add(13 * time.Minute), at(0).Add(61 * time.Minute), 7},
			{"ip:" + a, at(0).Add(69 * time.Minute), at(0).Add(117 * time.Minute), 7}},
	}, {
		// Review 34 F4: a second host's lines of the reported attack, its clock behind
		// (before the first line) or forwarded late (within its span), come after the
		// report: they are its own, and make nothing.
		name: "late lines of a reported per-address incident",
		opts: perAddress,
		parts: [][]abusewatch.Event{every(a, at(0), 6, time.Minute),
			slices.Concat(every(a, at(0).Add(-8*time.Minute), 5, time.Minute), every(a, at(0).Add(30*time.Second), 4, time.Minute))},
		want: []want{{"ip:" + a, at(0), at(0).Add(5 * time.Minute), 6}},
	}, {
		name: "late lines of a reported incident whose follow-up was reported too",
		opts: perAddress,
		parts: [][]abusewatch.Event{every(a, at(0), 6, time.Minute), every(a, at(0).Add(13*time.Minute), 7, 8*time.Minute),
			slices.Concat(every(a, at(0).Add(-8*time.Minute), 5, time.Minute), every(a, at(0).Add(30*time.Second), 4, time.Minute))},
		want: []want{{"ip:" + a, at(0), at(0).Add(5 * time.Minute), 6}, {"ip:" + a, at(0).Add(13 * time.Minute), at(0).Add(61 * time.Minute), 7}},
	}, {
		name:  "late lines of a reported recurrence's days",
		opts:  recur,
		parts: [][]abusewatch.Event{daily(a, 0, 9), {fail(a, at(0).Add(-30*time.Minute)), fail(a, at(4).Add(time.Hour)), fail(a, at(9).Add(time.Hour))}},
		want:  []want{{"recur:" + a + "/32", at(0), at(9), 10}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			for _, way := range []struct {
				batch    int
				lastPass bool // the last part is judged by a pass alone, not as it comes
			}{{1, false}, {1000, false}, {1, true}} {
				batch, name := way.batch, fmt.Sprintf("live, %d at a time", way.batch)
				if way.lastPass {
					name += ", the last part in a pass"
				}
				st := tempStore(t)
				c, err := New(tc.opts, st, st, st)
				if err != nil {
					t.Fatal(err)
				}
				reports := 0
				for i, part := range tc.parts {
					for j := 0; j < len(part); j += batch {
						stored, err := st.Commit(part[j:min(j+batch, len(part))], nil)
						if err != nil {
							t.Fatal(err)
						}
						if way.lastPass && i == len(tc.parts)-1 {
							continue
						}
						incs, err := c.Correlate(context.Background(), stored)
						if err != nil {
							t.Fatal(err)
						}
						if err := st.PutIncidents(incs); err != nil {
							t.Fatal(err)
						}
					}
					if i < len(tc.parts)-1 {
						reportAll(t, st, &reports)
					}
				}
				from, to := tc.parts[0][0].Time.Add(-time.Hour), tc.parts[len(tc.parts)-1][len(tc.parts[len(tc.parts)-1])-1].Time.Add(time.Hour)
				if way.lastPass {
					recorrelated(t, tc.opts, st, from, to)
				}
				live := storedIncidents(t, st)
				checkIncidents(t, name, live, func(i int) (string, time.Time, time.Time, int, bool) {
					if i >= len(tc.want) {
						return "", time.Time{}, time.Time{}, 0, false
					}
					w := tc.want[i]
					return w.key, w.first, w.last, w.count, true
				}, len(tc.want))
				// Two passes over everything, as correlate --since does: the reported
				// ones, and all the others, stay as they are.
				for pass := 1; pass <= 2; pass++ {
					recorrelated(t, tc.opts, st, from, to)
					after := storedIncidents(t, st)
					if len(after) != len(live) {
						t.Errorf("%s, pass %d: %d incidents, want %d: %v", name, pass, len(after), len(live), summaries(after))
						continue
					}
					for i := range live {
						if store.IncidentDigest(after[i]) != store.IncidentDigest(live[i]) {
							t.Errorf("%s, pass %d: %s changed: %v, was %v", name, pass, live[i].ID,
								summaries(after[i:i+1]), summaries(live[i:i+1]))
						}
					}
				}
			}
		})
	}
}

// reportAll gives every incident of st without a report one.
func reportAll(t *testing.T, st *store.Store, n *int) {
	t.Helper()
	incs, _, err := st.IncidentsSince(time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, inc := range incs {
		if _, ok, err := st.ReportFor(inc.ID); err != nil || ok {
			if err != nil {
				t.Fatal(err)
			}
			continue
		}
		*n++
		if _, err := st.AddReport(abusewatch.Report{ID: fmt.Sprintf("r%d", *n), State: abusewatch.ReportSent, Incidents: []string{inc.ID}}); err != nil {
			t.Fatal(err)
		}
	}
}

// storedIncidents are the incidents of st by key, then first event.
func storedIncidents(t *testing.T, st *store.Store) []abusewatch.Incident {
	t.Helper()
	incs, _, err := st.IncidentsSince(time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]abusewatch.Incident{}
	for _, inc := range incs {
		m[inc.ID] = inc
	}
	return incidentsInOrder(m)
}

// checkIncidents compares got with the i-th of n wanted (key, first, last, count).
func checkIncidents(t *testing.T, way string, got []abusewatch.Incident, want func(i int) (string, time.Time, time.Time, int, bool), n int) {
	t.Helper()
	if len(got) != n {
		t.Errorf("%s: %d incidents, want %d: %v", way, len(got), n, summaries(got))
		return
	}
	for i, g := range got {
		key, first, last, count, _ := want(i)
		if g.Key != key || !g.First.Equal(first) || !g.Last.Equal(last) || g.Count != count {
			t.Errorf("%s: %v; want %s from %s to %s, %d lines", way, summaries(got[i:i+1]), key, first, last, count)
		}
	}
}

// A recurrence of an address with a login from it within success_lookback of its
// events is marked Success like the other rules' incidents: possibly our own user.
// A login before, within its span, or after it (in a later batch), counts; one more
// than success_lookback before does not.
func TestARecurrenceWithALoginNearIsMarkedSuccess(t *testing.T) {
	d0 := time.Date(2026, 11, 10, 2, 30, 0, 0, time.UTC)
	const a = "45.134.26.6"
	var fails []abusewatch.Event
	for d := range 10 {
		fails = append(fails, abusewatch.Event{Time: d0.AddDate(0, 0, d), Class: abusewatch.ClassAuthFailure, Addr: netip.MustParseAddr(a),
			Port: uint16(40000 + d), Service: "sshd", Host: "web1", Line: "Failed password for root from " + a})
	}
	login := func(at time.Time) abusewatch.Event {
		return abusewatch.Event{Time: at, Class: abusewatch.ClassAuthSuccess, Addr: netip.MustParseAddr(a), Port: 1,
			Service: "sshd", Host: "web1", Line: "Accepted password for alice from " + a}
	}
	opts := Options{Threshold: 1000, Window: 10 * time.Minute, Recurrence: RecurrenceRule{Days: 3}, SuccessLookback: 7 * 24 * time.Hour}
	for _, tc := range []struct {
		name    string
		login   time.Time
		success bool
	}{
		{"the review's R5: a login within its span", d0.AddDate(0, 0, 5).Add(15 * time.Minute), true},
		{"a login 6 days before", d0.AddDate(0, 0, -6), true},
		{"a login 8 days before", d0.AddDate(0, 0, -8), false},
		{"a login 3 days after its last event", d0.AddDate(0, 0, 12), true},
		{"no login", time.Time{}, false},
	} {
		evs := slices.Clone(fails)
		if !tc.login.IsZero() {
			evs = append(evs, login(tc.login))
		}
		slices.SortStableFunc(evs, func(a, b abusewatch.Event) int { return a.Time.Compare(b.Time) })
		for _, way := range []struct {
			name string
			run  func() map[string]abusewatch.Incident
		}{
			{"live, one at a time", func() map[string]abusewatch.Incident { return appliedLive(t, opts, evs, 1) }},
			{"live, all at once", func() map[string]abusewatch.Incident { return appliedLive(t, opts, evs, len(evs)) }},
			{"pass, two at a time", func() map[string]abusewatch.Incident { return appliedInAPass(t, opts, evs, 2) }},
			{"pass, all at once", func() map[string]abusewatch.Incident { return appliedInAPass(t, opts, evs, len(evs)) }},
		} {
			var recurs []abusewatch.Incident
			for _, inc := range way.run() {
				if inc.Rule == "recurrence" {
					recurs = append(recurs, inc)
				}
			}
			if len(recurs) != 1 || recurs[0].Success != tc.success {
				t.Errorf("%s, %s: %v success %v; want one recurrence, success %v", tc.name, way.name, summaries(recurs),
					slices.Collect(func(yield func(bool) bool) {
						for _, inc := range recurs {
							yield(inc.Success)
						}
					}), tc.success)
			}
		}
	}
}
