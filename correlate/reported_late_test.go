package correlate_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/correlate"
)

// The lines of a reported attack that arrive after the report, from a second host
// whose clock is behind (dated before the incident's first line) or whose forwarding
// was late (dated within its span, after a follow-up was made), are the reported
// incident's: no new incident is made of them, live or in a pass over history, and
// the reported one stays as it was reported. A new attack after the reported one's
// reach is still an incident of its own.
func TestLateLinesOfAReportedIncidentMakeNoIncident(t *testing.T) {
	const addr = "45.134.26.91"
	on := func(host string, evs []abusewatch.Event) []abusewatch.Event {
		for i := range evs {
			evs[i].Host = host
		}
		return evs
	}
	for _, mode := range []string{"live", "pass"} {
		h := newHarness(t, correlate.Options{Threshold: 5, Window: 10 * time.Minute})
		first := h.feed(on("web1", attempts(addr, abusewatch.ClassAuthFailure, t0, 8, time.Minute))...)
		if len(first) != 1 || first[0].Count != 8 {
			t.Fatalf("first incident: %+v", first)
		}
		reported := first[0]
		if _, err := h.st.AddReport(abusewatch.Report{ID: "r1", State: abusewatch.ReportSent, Incidents: []string{reported.ID}}); err != nil {
			t.Fatal(err)
		}
		// The attack goes on after its last line: a follow-up, reported in its turn.
		goesOn := h.feed(on("web1", attempts(addr, abusewatch.ClassAuthFailure, t0.Add(9*time.Minute), 3, time.Minute))...)
		if len(goesOn) != 1 || goesOn[0].ID == reported.ID || goesOn[0].Count != 3 {
			t.Fatalf("the follow-up: %+v", goesOn)
		}
		if _, err := h.st.AddReport(abusewatch.Report{ID: "r2", State: abusewatch.ReportSent, Incidents: []string{goesOn[0].ID}}); err != nil {
			t.Fatal(err)
		}
		late := slices.Concat(
			// web2: the same attack, its clock ten minutes behind.
			on("web2", attempts(addr, abusewatch.ClassAuthFailure, t0.Add(-10*time.Minute), 8, time.Minute)),
			// web3: forwarded late, within the first report's span.
			on("web3", attempts(addr, abusewatch.ClassAuthFailure, t0.Add(30*time.Second), 6, time.Minute)),
		)
		// A new attack, an hour after the follow-up: an incident of its own.
		later := on("web1", attempts(addr, abusewatch.ClassAuthFailure, t0.Add(80*time.Minute), 5, time.Minute))
		var made []abusewatch.Incident
		if mode == "pass" {
			if _, err := h.st.Commit(slices.Concat(late, later), nil); err != nil {
				t.Fatal(err)
			}
			if _, err := h.c.Recorrelate(context.Background(), h.st, t0.Add(-time.Hour), t0.Add(3*time.Hour), func(incs []abusewatch.Incident) error {
				made = append(made, incs...)
				return h.st.PutIncidents(incs)
			}); err != nil {
				t.Fatal(err)
			}
		} else {
			made = append(h.feed(late[:8]...), h.feed(late[8:]...)...)
			made = append(made, h.feed(later...)...)
		}
		var newOnes []abusewatch.Incident
		for _, inc := range made {
			switch inc.ID {
			case reported.ID, goesOn[0].ID:
				if stored, _, _ := h.st.Incident(inc.ID); inc.Count != stored.Count || !inc.First.Equal(stored.First) || !inc.Last.Equal(stored.Last) {
					t.Errorf("%s: reported incident %s changed: %d lines %s to %s", mode, inc.ID, inc.Count, inc.First, inc.Last)
				}
			default:
				newOnes = append(newOnes, inc)
			}
		}
		if len(newOnes) != 1 || !newOnes[0].First.Equal(later[0].Time) || newOnes[0].Count != 5 {
			for _, inc := range newOnes {
				t.Logf("%s: made %s %s: %d lines %s to %s", mode, inc.ID, inc.Key, inc.Count, inc.First.Format(time.TimeOnly), inc.Last.Format(time.TimeOnly))
			}
			t.Fatalf("%s: want one new incident, the new attack's 5 lines from %s", mode, later[0].Time.Format(time.TimeOnly))
		}
		for _, id := range []string{reported.ID, goesOn[0].ID} {
			if kept, ok, err := h.st.Incident(id); err != nil || !ok || (id == reported.ID && kept.Count != 8) || (id == goesOn[0].ID && kept.Count != 3) {
				t.Errorf("%s: reported incident %s as stored: %d lines (%v, %v)", mode, id, kept.Count, ok, err)
			}
		}
	}
}

// Lines dated after a reported incident's last line but before its report was
// written, come after it, are late lines of it too: on time, it would have grown by
// them before the report. Lines dated after the report are the attack going on: its
// follow-up, as before, live and in a pass over history.
func TestLinesDatedBeforeTheReportMakeNoFollowUp(t *testing.T) {
	const addr = "45.134.26.92"
	for _, mode := range []string{"live", "pass"} {
		h := newHarness(t, correlate.Options{Threshold: 5, Window: 10 * time.Minute})
		first := h.feed(attempts(addr, abusewatch.ClassAuthFailure, t0, 6, time.Minute)...)
		if len(first) != 1 || first[0].Count != 6 {
			t.Fatalf("first incident: %+v", first)
		}
		written := t0.Add(8 * time.Minute) // three minutes after its last line
		if _, err := h.st.AddReport(abusewatch.Report{ID: "r1", State: abusewatch.ReportSent, Created: written, Incidents: []string{first[0].ID}}); err != nil {
			t.Fatal(err)
		}
		late := attempts(addr, abusewatch.ClassAuthFailure, t0.Add(6*time.Minute), 2, time.Minute) // 03:06, 03:07
		for i := range late {
			late[i].Host = "web4"
		}
		goesOn := attempts(addr, abusewatch.ClassAuthFailure, t0.Add(9*time.Minute), 3, time.Minute)
		var made []abusewatch.Incident
		if mode == "pass" {
			if _, err := h.st.Commit(slices.Concat(late, goesOn), nil); err != nil {
				t.Fatal(err)
			}
			if _, err := h.c.Recorrelate(context.Background(), h.st, t0.Add(-time.Hour), t0.Add(time.Hour), func(incs []abusewatch.Incident) error {
				made = append(made, incs...)
				return h.st.PutIncidents(incs)
			}); err != nil {
				t.Fatal(err)
			}
		} else {
			if made = h.feed(late...); len(made) != 0 {
				t.Errorf("live: the late lines made %d incidents", len(made))
			}
			made = h.feed(goesOn...)
		}
		made = slices.DeleteFunc(made, func(inc abusewatch.Incident) bool { return inc.ID == first[0].ID && inc.Count == 6 })
		if len(made) != 1 || made[0].Count != 3 || !made[0].First.Equal(goesOn[0].Time) || made[0].Key != first[0].Key {
			for _, inc := range made {
				t.Logf("%s: made %s %s: %d lines %s to %s", mode, inc.ID, inc.Key, inc.Count, inc.First.Format(time.TimeOnly), inc.Last.Format(time.TimeOnly))
			}
			t.Fatalf("%s: want one follow-up of the 3 lines from %s", mode, goesOn[0].Time.Format(time.TimeOnly))
		}
	}
}
