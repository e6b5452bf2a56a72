package correlate_test

import (
	"context"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/correlate"
)

// An incident that has a report stays as it was reported: the attack's later events,
// within its growth, follow it as a new incident (with no threshold to cross again),
// live and in a pass over history alike. Grown, the report would not hold what the
// incident claims was reported, and the rest would never be reported.
func TestAReportedIncidentStaysAsReported(t *testing.T) {
	const addr = "45.134.26.90"
	for _, mode := range []string{"live", "live, one at a time", "pass"} {
		pass := mode == "pass"
		h := newHarness(t, correlate.Options{Threshold: 5, Window: 10 * time.Minute})
		first := h.feed(attempts(addr, abusewatch.ClassAuthFailure, t0, 6, time.Minute)...)
		if len(first) != 1 || first[0].Count != 6 {
			t.Fatalf("first incident: %+v", first)
		}
		if _, err := h.st.AddReport(abusewatch.Report{ID: "r1", State: abusewatch.ReportSent, Incidents: []string{first[0].ID}}); err != nil {
			t.Fatal(err)
		}
		// One more every 8 minutes: never 5 within 10 minutes, each within its growth.
		later := attempts(addr, abusewatch.ClassAuthFailure, t0.Add(13*time.Minute), 3, 8*time.Minute)
		var made []abusewatch.Incident
		if pass {
			stored, err := h.st.Commit(later, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(stored) != 3 {
				t.Fatalf("stored %d", len(stored))
			}
			if _, err := h.c.Recorrelate(context.Background(), h.st, t0.Add(-time.Hour), t0.Add(2*time.Hour), func(incs []abusewatch.Incident) error {
				made = append(made, incs...)
				return h.st.PutIncidents(incs)
			}); err != nil {
				t.Fatal(err)
			}
		} else if mode == "live" {
			made = h.feed(later...)
		} else {
			for _, e := range later {
				made = append(made, h.feed(e)...)
			}
			// The follow-up grew in each: its newest form is the last.
			for i := 0; i < len(made)-1; {
				if made[i].ID == made[len(made)-1].ID {
					made = append(made[:i], made[i+1:]...)
					continue
				}
				i++
			}
		}
		var follow *abusewatch.Incident
		for i := range made {
			switch inc := &made[i]; {
			case inc.ID == first[0].ID && inc.Count != 6:
				t.Errorf("%s: the reported incident grew to %d events", mode, inc.Count)
			case inc.ID != first[0].ID:
				follow = inc
			}
		}
		if follow == nil || follow.Count != 3 || !follow.First.Equal(later[0].Time) || !follow.Last.Equal(later[2].Time) || follow.Key != first[0].Key {
			t.Fatalf("%s: the later events made %+v; want one new incident of the same key with the 3 of them", mode, made)
		}
		if kept, ok, err := h.st.Incident(first[0].ID); err != nil || !ok || kept.Count != 6 || !kept.Last.Equal(first[0].Last) {
			t.Errorf("%s: the reported incident as stored: %d events to %v (%v, %v)", mode, kept.Count, kept.Last, ok, err)
		}
	}
}

// An incident without a report grows as before.
func TestAnUnreportedIncidentGrows(t *testing.T) {
	h := newHarness(t, correlate.Options{Threshold: 5, Window: 10 * time.Minute})
	first := h.feed(attempts("45.134.26.91", abusewatch.ClassAuthFailure, t0, 6, time.Minute)...)
	grown := h.feed(attempts("45.134.26.91", abusewatch.ClassAuthFailure, t0.Add(13*time.Minute), 3, 8*time.Minute)...)
	if len(grown) != 1 || grown[0].ID != first[0].ID || grown[0].Count != 9 {
		t.Errorf("grown: %+v", grown)
	}
}
