package correlate_test

import (
	"context"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/correlate"
	"github.com/abusewatch/abusewatch/store"
)

var t0 = time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)

// harness feeds batches through a real store the way the daemon does.
type harness struct {
	t  *testing.T
	st *store.Store
	c  *correlate.Correlator
}

func newHarness(t *testing.T, opts correlate.Options) *harness {
	st, err := store.Open(filepath.Join(t.TempDir(), "state.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c, err := correlate.New(opts, st, st, st)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t, st, c}
}

func (h *harness) feed(evs ...abusewatch.Event) []abusewatch.Incident {
	h.t.Helper()
	stored, err := h.st.Commit(evs, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	incs, err := h.c.Correlate(context.Background(), stored)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := h.st.PutIncidents(incs); err != nil {
		h.t.Fatal(err)
	}
	return incs
}

func attempts(addr string, class abusewatch.Class, start time.Time, n int, every time.Duration) []abusewatch.Event {
	var out []abusewatch.Event
	for i := range n {
		out = append(out, abusewatch.Event{Time: start.Add(time.Duration(i) * every), Class: class,
			Addr: netip.MustParseAddr(addr), Host: "web1", Line: "Failed password"})
	}
	return out
}

func TestThresholdWithinWindowMakesOneIncident(t *testing.T) {
	h := newHarness(t, correlate.Options{Threshold: 5, Window: 10 * time.Minute})
	if incs := h.feed(attempts("45.134.26.17", abusewatch.ClassAuthFailure, t0, 4, time.Minute)...); len(incs) != 0 {
		t.Fatalf("4 events made an incident: %+v", incs)
	}
	incs := h.feed(attempts("45.134.26.17", abusewatch.ClassAuthFailure, t0.Add(4*time.Minute), 1, time.Minute)...)
	if len(incs) != 1 {
		t.Fatalf("5th event made %d incidents", len(incs))
	}
	inc := incs[0]
	if inc.Count != 5 || !inc.First.Equal(t0) || inc.Addr.String() != "45.134.26.17" || inc.Hosts[0] != "web1" {
		t.Errorf("incident = %+v", inc)
	}
	// It grows while events keep coming within the window, keeping its ID.
	grown := h.feed(attempts("45.134.26.17", abusewatch.ClassInvalidUser, t0.Add(12*time.Minute), 3, time.Minute)...)
	if len(grown) != 1 || grown[0].ID != inc.ID || grown[0].Count != 8 || len(grown[0].Classes) != 2 {
		t.Errorf("grown incident = %+v; want ID %s, 8 events, 2 classes", grown, inc.ID)
	}
}

func TestSlowAttemptsBelowThresholdMakeNoIncident(t *testing.T) {
	h := newHarness(t, correlate.Options{Threshold: 5, Window: 10 * time.Minute})
	if incs := h.feed(attempts("45.134.26.17", abusewatch.ClassAuthFailure, t0, 20, 3*time.Minute)...); len(incs) != 0 {
		t.Errorf("one attempt every 3 minutes made incidents: %+v", incs)
	}
}

func TestQuietGapStartsANewIncident(t *testing.T) {
	h := newHarness(t, correlate.Options{Threshold: 3, Window: 5 * time.Minute})
	first := h.feed(attempts("218.92.0.31", abusewatch.ClassAuthFailure, t0, 3, time.Second)...)
	second := h.feed(attempts("218.92.0.31", abusewatch.ClassAuthFailure, t0.Add(2*time.Hour), 3, time.Second)...)
	if len(first) != 1 || len(second) != 1 || first[0].ID == second[0].ID {
		t.Fatalf("want two distinct incidents, got %+v and %+v", first, second)
	}
}

func TestOneBatchWithTwoBurstsMakesTwoIncidents(t *testing.T) {
	h := newHarness(t, correlate.Options{Threshold: 3, Window: 5 * time.Minute})
	batch := append(attempts("218.92.0.31", abusewatch.ClassAuthFailure, t0, 3, time.Second),
		attempts("218.92.0.31", abusewatch.ClassAuthFailure, t0.Add(time.Hour), 4, time.Second)...)
	incs := h.feed(batch...)
	if len(incs) != 2 || incs[0].Count != 3 || incs[1].Count != 4 {
		t.Fatalf("incidents = %+v", incs)
	}
}

func TestNeverReportedNetworksMakeNoIncident(t *testing.T) {
	h := newHarness(t, correlate.Options{Threshold: 1, Window: time.Minute,
		Never: []netip.Prefix{netip.MustParsePrefix("45.134.26.0/24")}})
	for _, addr := range []string{"10.1.2.3", "192.168.0.9", "127.0.0.1", "100.64.1.1", "192.0.2.7", "198.51.100.1",
		"203.0.113.9", "169.254.1.1", "fe80::1", "fd00::1", "2001:db8::1", "::ffff:10.0.0.1", "45.134.26.17"} {
		if incs := h.feed(attempts(addr, abusewatch.ClassAuthFailure, t0, 3, time.Second)...); len(incs) != 0 {
			t.Errorf("%s made an incident", addr)
		}
	}
	if incs := h.feed(attempts("45.134.27.1", abusewatch.ClassAuthFailure, t0, 1, time.Second)...); len(incs) != 1 {
		t.Errorf("a public address next to a never-report network made no incident")
	}
}

func TestSuccessAfterFailuresIsMarked(t *testing.T) {
	h := newHarness(t, correlate.Options{Threshold: 3, Window: 5 * time.Minute})
	evs := attempts("81.2.69.160", abusewatch.ClassAuthFailure, t0, 4, time.Second)
	evs = append(evs, abusewatch.Event{Time: t0.Add(10 * time.Second), Class: abusewatch.ClassAuthSuccess, Addr: netip.MustParseAddr("81.2.69.160")})
	incs := h.feed(evs...)
	if len(incs) != 1 || !incs[0].Success || incs[0].Severity != 5 {
		t.Fatalf("incidents = %+v; want one marked Success with severity 5", incs)
	}
}

func TestEvidenceIsBounded(t *testing.T) {
	h := newHarness(t, correlate.Options{Threshold: 3, Window: time.Minute, Evidence: 6})
	incs := h.feed(attempts("45.134.26.17", abusewatch.ClassAuthFailure, t0, 100, time.Second)...)
	if len(incs) != 1 || incs[0].Count != 100 || len(incs[0].Evidence) != 6 {
		t.Fatalf("incidents = %d, count/evidence wrong", len(incs))
	}
	ev := incs[0].Evidence
	if !ev[0].Time.Equal(t0) || !ev[5].Time.Equal(t0.Add(99*time.Second)) {
		t.Errorf("evidence should hold the first and the last events, got %v … %v", ev[0].Time, ev[5].Time)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	for _, o := range []correlate.Options{{Threshold: 0, Window: time.Minute}, {Threshold: 3}} {
		if _, err := correlate.New(o, nil, nil, nil); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
}

// One failed sshd login writes up to four lines; the threshold counts connections.
func TestThresholdCountsConnectionsNotLines(t *testing.T) {
	h := newHarness(t, correlate.Options{Threshold: 3, Window: 10 * time.Minute})
	var evs []abusewatch.Event
	for i := range 2 {
		at := t0.Add(time.Duration(i) * 10 * time.Second)
		port := uint16(40000 + i)
		a := netip.MustParseAddr("185.220.101.44")
		evs = append(evs,
			abusewatch.Event{Time: at, Class: abusewatch.ClassInvalidUser, Addr: a, Port: port, Service: "sshd", Host: "web1"},
			abusewatch.Event{Time: at.Add(time.Second), Class: abusewatch.ClassAuthFailure, Addr: a, Service: "sshd", Host: "web1"}, // PAM, no port
			abusewatch.Event{Time: at.Add(3 * time.Second), Class: abusewatch.ClassInvalidUser, Addr: a, Port: port, Service: "sshd", Host: "web1"},
			abusewatch.Event{Time: at.Add(3 * time.Second), Class: abusewatch.ClassInvalidUser, Addr: a, Port: port, Service: "sshd", Host: "web1"})
	}
	if incs := h.feed(evs...); len(incs) != 0 {
		t.Fatalf("8 lines from 2 connections crossed a threshold of 3 connections: %+v", incs)
	}
	third := abusewatch.Event{Time: t0.Add(time.Minute), Class: abusewatch.ClassAuthFailure, Addr: netip.MustParseAddr("185.220.101.44"),
		Port: 40002, Service: "sshd", Host: "web1"}
	incs := h.feed(third)
	if len(incs) != 1 || incs[0].Attempts != 3 || incs[0].Count != 9 {
		t.Fatalf("incidents = %+v; want one with 3 connections and 9 lines", incs)
	}
}

// A new Correlator (a restart) must not take its memory for the whole story: events
// stored before it, and not judged yet (a crash between commit and correlation), count
// when the incident they belong to grows.
func TestANewCorrelatorReadsWhatWasStoredBeforeIt(t *testing.T) {
	h := newHarness(t, correlate.Options{Threshold: 2, Window: 10 * time.Minute})
	a := "45.134.26.17"
	first := h.feed(at(a, t0, 40001), at(a, t0.Add(time.Minute), 40002))
	if len(first) != 1 || first[0].Count != 2 {
		t.Fatalf("first incidents = %+v", first)
	}
	// Stored, never judged: the daemon died after committing them.
	if _, err := h.st.Commit([]abusewatch.Event{at(a, t0.Add(2*time.Minute), 40003), at(a, t0.Add(3*time.Minute), 40004)}, nil); err != nil {
		t.Fatal(err)
	}
	c, err := correlate.New(correlate.Options{Threshold: 2, Window: 10 * time.Minute}, h.st, h.st, h.st)
	if err != nil {
		t.Fatal(err)
	}
	h.c = c
	// The first batch after the restart also holds an older line of another source.
	got := h.feed(at("80.94.95.1", t0, 50000), at(a, t0.Add(4*time.Minute), 40005))
	var grown *abusewatch.Incident
	for i := range got {
		if got[i].ID == first[0].ID {
			grown = &got[i]
		}
	}
	if grown == nil || grown.Count != 5 {
		t.Fatalf("incidents after the restart = %+v; want %s grown to 5 events", got, first[0].ID)
	}
}

// A second login while the address's incident, stored with the first, is still open is
// that incident's too: no separate success-after-failure incident, though the incident
// does not change (it is read back from the store, not made by the batch).
func TestALaterLoginOfAnOpenIncidentIsItsOwn(t *testing.T) {
	h := newHarness(t, correlate.Options{Threshold: 3, Window: 5 * time.Minute, SuccessLookback: time.Hour})
	a := netip.MustParseAddr("81.2.69.160")
	evs := attempts(a.String(), abusewatch.ClassAuthFailure, t0, 4, time.Second)
	evs = append(evs, abusewatch.Event{Time: t0.Add(10 * time.Second), Class: abusewatch.ClassAuthSuccess, Addr: a})
	if incs := h.feed(evs...); len(incs) != 1 || !incs[0].Success {
		t.Fatalf("first batch: %+v; want the address's incident, marked Success", incs)
	}
	if incs := h.feed(abusewatch.Event{Time: t0.Add(time.Minute), Class: abusewatch.ClassAuthSuccess, Addr: a}); len(incs) != 0 {
		t.Errorf("a second login within the open incident made %+v; want nothing new", incs)
	}
}

// TestSpecialPurposeIsWhatIsNeverReported: SpecialPurpose names a network for exactly
// the addresses a Correlator without configured networks excludes.
func TestSpecialPurposeIsWhatIsNeverReported(t *testing.T) {
	c := newHarness(t, correlate.Options{Threshold: 5, Window: time.Hour}).c
	for _, tc := range []struct{ addr, net string }{
		{"10.1.2.3", "10.0.0.0/8"},
		{"::ffff:192.168.1.1", "192.168.0.0/16"},
		{"100.64.3.4", "100.64.0.0/10"},
		{"192.0.2.7", "192.0.2.0/24"},
		{"198.18.0.1", "198.18.0.0/15"},
		{"240.0.0.1", "240.0.0.0/4"},
		{"224.0.0.251", "224.0.0.0/4"},
		{"2001:db8::1", "2001:db8::/32"},
		{"fe80::1", "fe80::/10"},
		{"64:ff9b::1.2.3.4", "64:ff9b::/96"},
		{"45.134.26.7", ""},
		{"2a01:4f8::1", ""},
	} {
		a := netip.MustParseAddr(tc.addr)
		p, ok := correlate.SpecialPurpose(a)
		if got := map[bool]string{true: p.String(), false: ""}[ok]; got != tc.net {
			t.Errorf("SpecialPurpose(%s) = %q, want %q", tc.addr, got, tc.net)
		}
		if c.Excluded(a) != ok {
			t.Errorf("%s: Excluded = %v, SpecialPurpose = %v", tc.addr, c.Excluded(a), ok)
		}
	}
}
