package daemon

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/lookup/lookuptest"
	"github.com/abusewatch/abusewatch/store"
)

// racePipeline is a pipeline in review mode whose resolver is resolver, with a static
// contact for 45.134.26.0/24.
func racePipeline(t *testing.T, resolver string) (*Pipeline, *store.Store, *logBuffer) {
	t.Helper()
	dir := t.TempDir()
	doc := `
[reporter]
name = "Sam Example"
organisation = "Example Hosting Ltd"
email = "security@example.org"
timezone = "UTC"

[lookup]
rdap = false
resolvers = ["` + resolver + `"]
timeout = "30s"

[[contact]]
network = "45.134.26.0/24"
emails = ["abuse@hostco.example"]

[mail]
transport = "smtp"
server = "127.0.0.1:1"
tls = "none"
from = "abusewatch@example.org"

[policy]
settle = "0s"
mode = "review"

[store]
path = "` + filepath.Join(dir, "state.db") + `"
`
	return pipelineOf(t, dir, doc)
}

// failures are n failed logins from addr, a second apart from first, ports from port on.
func failures(addr string, first time.Time, n, port int) []abusewatch.Record {
	var recs []abusewatch.Record
	for i := range n {
		recs = append(recs, abusewatch.Record{Source: "/x", Read: first, Line: fmt.Sprintf(
			"%s web1 sshd[%d]: Failed password for root from %s port %d ssh2",
			first.Add(time.Duration(i)*time.Second).Format(time.RFC3339), 100+i, addr, port+i)})
	}
	return recs
}

// wait waits for ch, failing the test after a deadline.
func wait(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(20 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// The daemon's main loop grows an incident while the outbox round waits on its slow PTR
// lookup: the report written after it holds every line of the incident it marks
// reported, and claims its counts as stored. Before, the round composed the incident as
// it read it before the lookup and marked the grown one reported: the growth was in no
// mail (R3: 183 of 576 lines mailed).
func TestAnIncidentGrowingWhileItsReportIsWrittenIsReportedWhole(t *testing.T) {
	dnsServer := lookuptest.NewHeldPTR()
	p, st, _ := racePipeline(t, lookuptest.StartDNS(t, dnsServer))
	first := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	if err := p.Ingest(t.Context(), failures("45.134.26.7", first, 6, 40000), nil); err != nil {
		t.Fatal(err)
	}
	before, _, err := st.UnreportedIncidents("", 0)
	if err != nil || len(before) != 1 {
		t.Fatalf("%d unreported incidents (%v), want 1", len(before), err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Report(t.Context(), time.Now()) }()
	wait(t, dnsServer.Asked, "the PTR lookup")
	// The round waits on the resolver; the main loop reads more lines meanwhile.
	if err := p.Ingest(t.Context(), failures("45.134.26.7", first.Add(10*time.Second), 4, 40100), nil); err != nil {
		t.Fatal(err)
	}
	grown, ok, err := st.Incident(before[0].ID)
	if err != nil || !ok || grown.Count != 10 {
		t.Fatalf("the incident holds %d lines (%v, %v) after growing, want 10: the test grows no incident", grown.Count, ok, err)
	}
	dnsServer.Release()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Report did not return")
	}
	rs := reportsIn(t, st)
	if len(rs) != 1 {
		t.Fatalf("%d reports, want 1", len(rs))
	}
	r, _, err := st.Report(rs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	text := mailText(t, r.Message)
	for _, port := range []int{40000, 40001, 40002, 40003, 40004, 40005, 40100, 40101, 40102, 40103} {
		if !strings.Contains(text, fmt.Sprintf("port %d ", port)) {
			t.Errorf("the mail lacks the line of port %d", port)
		}
	}
	inc, _, err := st.Incident(before[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if id, ok, _ := st.ReportFor(inc.ID); !ok || id != r.ID {
		t.Errorf("incident reported by %q, want %s", id, r.ID)
	}
	if inc.Count != 10 || !strings.Contains(text, "(10 log lines)") {
		t.Errorf("stored incident holds %d lines; the mail should claim 10 log lines:\n%s", inc.Count, text)
	}
}

// An incident that changes between the composing of its report and its marking (the
// main loop's write comes in between) is composed again at once; one that keeps
// changing is left unreported for the next round, never marked reported without its
// growth.
func TestAReportIsComposedAgainWhenItsIncidentsChangeBeforeItIsAdded(t *testing.T) {
	p, st, logs := outboxPipeline(t, "127.0.0.1:1", "review", parties[:1], "")
	now := time.Now().UTC().Truncate(time.Second)
	inc := attack(t, st, "45.134.26.7", now.Add(-time.Hour), 3)
	grow := func(r abusewatch.Report) {
		cur, ok, err := st.Incident(inc.ID)
		if err != nil || !ok {
			t.Errorf("incident %s: %v, %v", inc.ID, ok, err)
			return
		}
		n := cur.Count
		cur.Count, cur.Attempts, cur.Last = n+1, n+1, cur.Last.Add(time.Second)
		cur.Evidence = append(cur.Evidence, abusewatch.Event{Time: cur.Last, Class: abusewatch.ClassAuthFailure, Addr: cur.Addr,
			Port: uint16(41000 + n), Line: fmt.Sprintf("web1 sshd[1]: Failed password for root from %s port %d ssh2", cur.Addr, 41000+n)})
		if err := st.PutIncidents([]abusewatch.Incident{cur}); err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(func() { reportComposed = nil })

	// Always changing: nothing is added, the incident stays on the work list.
	calls := 0
	reportComposed = func(r abusewatch.Report) { calls++; grow(r) }
	if err := p.Report(t.Context(), now); err != nil {
		t.Fatal(err)
	}
	if calls != composeAttempts || len(reportsIn(t, st)) != 0 {
		t.Fatalf("%d compositions, %d reports; want %d and none", calls, len(reportsIn(t, st)), composeAttempts)
	}
	if _, ok, _ := st.ReportFor(inc.ID); ok {
		t.Fatal("the incident is marked reported")
	}
	if !strings.Contains(logs.String(), "written at the next round") {
		t.Errorf("no log line says the report waits for the next round:\n%s", logs)
	}

	// Changing once: composed again in the same round, with the growth.
	calls = 0
	reportComposed = func(r abusewatch.Report) {
		if calls++; calls == 1 {
			grow(r)
		}
	}
	if err := p.Report(t.Context(), now); err != nil {
		t.Fatal(err)
	}
	rs := reportsIn(t, st)
	if calls != 2 || len(rs) != 1 {
		t.Fatalf("%d compositions, %d reports; want 2 and 1", calls, len(rs))
	}
	stored, _, _ := st.Incident(inc.ID)
	if stored.Count != 7 {
		t.Fatalf("incident holds %d lines, want 7", stored.Count)
	}
	r, _, _ := st.Report(rs[0].ID)
	text := mailText(t, r.Message)
	for _, e := range stored.Evidence {
		if !strings.Contains(text, fmt.Sprintf("port %d ", e.Port)) {
			t.Errorf("the mail lacks the line of port %d", e.Port)
		}
	}
	if id, ok, _ := st.ReportFor(inc.ID); !ok || id != r.ID {
		t.Errorf("incident reported by %q, want %s", id, r.ID)
	}
}
