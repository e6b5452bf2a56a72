package daemon

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
)

// A round reads the reported incidents over a scope its incidents share once, and
// answers each incident as the store would have answered it alone: those whose times
// meet its own, oldest first.
func TestARoundAnswersEachIncidentAsTheStoreWould(t *testing.T) {
	p, st, _ := outboxPipeline(t, "127.0.0.1:1", "review", parties[:2], `max_age = "400d"`)
	// (attack names an incident by its address and the time of day it began.)
	for _, at := range []time.Duration{0, time.Hour, 2 * time.Hour, 30*24*time.Hour + 5*time.Minute} {
		attack(t, st, "45.134.26.7", t0.Add(at), 6)
		attack(t, st, "185.220.100.7", t0.Add(at), 6)
	}
	// Review mode: the reports wait for approval, and their incidents have a report.
	if err := p.Report(t.Context(), t0.Add(31*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n := len(reportsIn(t, st)); n != 2 {
		t.Fatalf("%d reports, want one to each party", n)
	}
	round := []abusewatch.Incident{
		attack(t, st, "45.134.26.7", t0.Add(30*time.Minute), 6),                               // meets none
		attack(t, st, "45.134.26.7", t0.Add(2*time.Hour+30*time.Second), 6),                   // meets the third
		attack(t, st, "45.134.26.7", t0.Add(30*24*time.Hour+5*time.Minute+30*time.Second), 6), // meets the last
		attack(t, st, "185.220.100.7", t0.Add(time.Hour), 6),                                  // alone in its scope
	}
	wide := attack(t, st, "45.134.26.7", t0.Add(-time.Minute), 6) // from before the first to after the third
	wide.Last = t0.Add(3 * time.Hour)
	if err := st.PutIncidents([]abusewatch.Incident{wide}); err != nil {
		t.Fatal(err)
	}
	round = append(round, wide)

	r := newRoundReported(st, round)
	var met []int
	for _, inc := range round {
		want, err := st.ReportedIncidentsOver(scopeOf(inc), inc.First, inc.Last, "")
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.over(inc)
		if err != nil {
			t.Fatal(err)
		}
		if ids(got) != ids(want) {
			t.Errorf("%s from %s to %s: the round says %s, the store %s", inc.Addr, inc.First.Format(time.DateTime),
				inc.Last.Format(time.DateTime), ids(got), ids(want))
		}
		met = append(met, len(want))
	}
	// What the test covers: none, one, several met, and a scope read alone.
	if !slices.Equal(met, []int{0, 1, 1, 1, 3}) {
		t.Errorf("the store met %v reported incidents; the test expects 0, 1, 1, 1 and 3", met)
	}
	if _, shared := r.shared[scopeOf(round[3])]; shared {
		t.Error("a scope of one incident of the round is read for the round, not for it alone")
	}
}

// ids lists the IDs of incs, in order.
func ids(incs []abusewatch.Incident) string {
	var s []string
	for _, inc := range incs {
		s = append(s, inc.ID)
	}
	return fmt.Sprint(s)
}
