package daemon

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
)

// After a rule change, a pass makes new incidents over lines a report already told: a
// lower threshold cuts a reported recurrence's days into per-address incidents. They
// are marked reported by that report, not mailed again; an incident with a line no
// report holds is mailed.
func TestARuleChangeDoesNotReportReportedLinesAgain(t *testing.T) {
	const rules = "[policy]\nmode = \"auto\"\nsettle = \"0s\"\ncooldown = \"0s\"\ndaily_cap = 0\ndomain_hourly_limit = 0\n[correlate]\nrecurrence_days = 10\n"
	p := correlatePipeline(t, rules+"threshold = 5\nwindow = \"10m\"\n")
	a := netip.MustParseAddr("45.134.26.7")
	day := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -29)
	var evs []abusewatch.Event
	for d := 0; d < 24; d += 2 { // 12 days, 3 failures a day hours apart: no short window fills
		for _, h := range []int{2, 4, 6} {
			at := day.AddDate(0, 0, d).Add(time.Duration(h) * time.Hour)
			port := uint16(40000 + len(evs))
			evs = append(evs, abusewatch.Event{Time: at, Class: abusewatch.ClassAuthFailure, Addr: a, Port: port, User: "root", Service: "sshd", Host: "web1",
				Line: fmt.Sprintf("web1 sshd[%d]: Failed password for root from %s port %d ssh2", 100+len(evs), a, port)})
		}
	}
	stored, err := p.store.Commit(evs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.correlateAndStore(t.Context(), stored); err != nil {
		t.Fatal(err)
	}
	now := evs[len(evs)-1].Time.Add(time.Hour)
	if err := p.OutboxRound(t.Context(), now); err != nil {
		t.Fatal(err)
	}
	first, err := p.store.Reports()
	if err != nil || len(first) != 1 {
		t.Fatalf("%d reports, %v; want the recurrence's", len(first), err)
	}

	// The admin lowers the threshold to 2 in 6 hours and runs correlate again.
	lower := correlatePipeline(t, rules+"threshold = 2\nwindow = \"6h\"\n")
	q, err := NewPipeline(lower.cfg, p.store, p.log)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := q.RecorrelateRange(t.Context(), day, now); err != nil || n != 12 {
		t.Fatalf("the pass made %d incidents, %v; want one a day", n, err)
	}
	if err := q.OutboxRound(t.Context(), now); err != nil {
		t.Fatal(err)
	}
	if rs, _ := p.store.Reports(); len(rs) != 1 {
		t.Fatalf("%d reports; want only the first: its lines were told", len(rs))
	}
	incs, _, err := p.store.IncidentsSince(time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, inc := range incs {
		if id, ok, _ := p.store.ReportFor(inc.ID); !ok || id != first[0].ID {
			t.Errorf("%s (%s) is reported by %q, %v; want %s, which holds its lines", inc.ID, inc.Rule, id, ok, first[0].ID)
		}
	}

	// A later day's failures are news: mailed.
	late := evs[len(evs)-3:]
	for i := range late {
		late[i].Seq, late[i].Time = 0, late[i].Time.AddDate(0, 0, 2)
	}
	stored, err = q.store.Commit(late, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.correlateAndStore(t.Context(), stored); err != nil {
		t.Fatal(err)
	}
	if err := q.OutboxRound(t.Context(), late[2].Time.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if rs, _ := p.store.Reports(); len(rs) != 2 {
		t.Errorf("%d reports; want a second one for the new day's lines", len(rs))
	}
}
