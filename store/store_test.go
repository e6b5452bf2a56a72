package store

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	bolt "go.etcd.io/bbolt"
)

func openTemp(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "state.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// openNew opens a new store in a temporary directory and returns it with its path,
// for a test that reopens it or copies it (and closes it itself).
func openNew(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return s, path
}

func ev(addr string, at time.Time) abusewatch.Event {
	return abusewatch.Event{Time: at, Class: abusewatch.ClassAuthFailure, Addr: netip.MustParseAddr(addr), Line: "x"}
}

func TestCommitStoresEventsAndPositionTogether(t *testing.T) {
	s := openTemp(t)
	t0 := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
	pos := Position{Source: "/var/log/auth.log", Dev: 1, Inode: 42, Offset: 1234}
	stored, err := s.Commit([]abusewatch.Event{ev("45.134.26.17", t0), ev("45.134.26.99", t0.Add(time.Second))}, []Position{pos})
	if err != nil {
		t.Fatal(err)
	}
	if stored[0].Seq == 0 || stored[1].Seq <= stored[0].Seq {
		t.Errorf("sequence numbers not assigned in order: %d, %d", stored[0].Seq, stored[1].Seq)
	}
	got, ok, err := s.Position(pos.Source)
	if err != nil || !ok || got != pos {
		t.Errorf("Position = %+v, %v, %v; want %+v", got, ok, err, pos)
	}
	n, err := s.EventCount()
	if err != nil || n != 2 {
		t.Errorf("EventCount = %d, %v; want 2", n, err)
	}
}

func TestEventsByAddrAndNetworkAreTimeRanges(t *testing.T) {
	s := openTemp(t)
	t0 := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
	var evs []abusewatch.Event
	for i := range 10 {
		evs = append(evs, ev("45.134.26.17", t0.Add(time.Duration(i)*time.Minute)))
	}
	evs = append(evs, ev("45.134.26.18", t0.Add(90*time.Second)), ev("45.134.27.1", t0), ev("2001:67c:2e8::1", t0))
	if _, err := s.Commit(evs, nil); err != nil {
		t.Fatal(err)
	}
	got, err := s.EventsByAddr(netip.MustParseAddr("45.134.26.17"), t0.Add(2*time.Minute), t0.Add(5*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 || !got[0].Time.Equal(t0.Add(2*time.Minute)) || !got[3].Time.Equal(t0.Add(5*time.Minute)) {
		t.Errorf("EventsByAddr returned %d events from %v", len(got), got)
	}
	for _, tc := range []struct {
		net  string
		want int
	}{{"45.134.26.0/24", 11}, {"45.134.0.0/16", 12}, {"45.0.0.0/8", 12}, {"2001:67c:2e8::/48", 1}, {"2001:67c::/32", 1}} {
		got, err := s.EventsByNetwork(netip.MustParsePrefix(tc.net), t0, t0.Add(time.Hour))
		if err != nil || len(got) != tc.want {
			t.Errorf("EventsByNetwork(%s) = %d events, %v; want %d", tc.net, len(got), err, tc.want)
		}
	}
	// Any prefix length: the blocks' address tables are sorted.
	if got, err := s.EventsByNetwork(netip.MustParsePrefix("45.134.26.16/31"), t0, t0.Add(time.Hour)); err != nil || len(got) != 10 {
		t.Errorf("EventsByNetwork(45.134.26.16/31) = %d events, %v; want 10", len(got), err)
	}
}

// HostsOf counts an address's hosts from the block indexes, in the time range, and
// stops at the number asked for.
func TestHostsOfCountsTheHostsOfAnAddress(t *testing.T) {
	s := openTemp(t)
	t0 := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
	on := func(addr, host string, at time.Duration) abusewatch.Event {
		e := ev(addr, t0.Add(at))
		e.Host = host
		return e
	}
	if _, err := s.Commit([]abusewatch.Event{on("45.134.26.17", "web1", 0), on("45.134.26.17", "web1", time.Minute),
		on("45.134.26.17", "", 2*time.Minute), on("45.134.26.17", "web2", 3*time.Minute), on("45.134.26.18", "web4", 3*time.Minute)}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit([]abusewatch.Event{on("45.134.26.17", "web3", 2*time.Hour)}, nil); err != nil {
		t.Fatal(err)
	}
	a := netip.MustParseAddr("45.134.26.17")
	for _, tc := range []struct {
		from, to time.Duration
		atLeast  int
		want     int
	}{
		{0, 3 * time.Hour, 10, 3}, {0, 3 * time.Hour, 2, 2}, {0, 2 * time.Minute, 10, 1},
		{time.Minute, 3 * time.Minute, 10, 2}, {4 * time.Minute, time.Hour, 10, 0}, {time.Hour, 3 * time.Hour, 10, 1},
	} {
		for _, addr := range []netip.Addr{a, netip.AddrFrom16(a.As16())} {
			if got, err := s.HostsOf(addr, t0.Add(tc.from), t0.Add(tc.to), tc.atLeast); err != nil || got != tc.want {
				t.Errorf("HostsOf(%s, %v to %v, %d) = %d, %v; want %d", addr, tc.from, tc.to, tc.atLeast, got, err, tc.want)
			}
		}
	}
}

// An hour's block too big to decode for a few of its events (a flood's, compacted)
// gives those from the frames that hold them, the same as a whole read.
func TestAFewEventsOfABigBlock(t *testing.T) {
	s := openTemp(t)
	t0 := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
	var evs []abusewatch.Event
	for i := range 20_000 {
		evs = append(evs, ev(fmt.Sprintf("91.240.118.%d", 1+i%254), t0.Add(time.Duration(i)*100*time.Millisecond)))
	}
	if _, err := s.Commit(evs, nil); err != nil {
		t.Fatal(err)
	}
	a := netip.MustParseAddr("91.240.118.7")
	from, to := t0.Add(1000*time.Second), t0.Add(1100*time.Second) // events 10,000 to 11,000
	got, err := s.EventsByAddr(a, from, to)
	if err != nil {
		t.Fatal(err)
	}
	var want []time.Time
	for i := 10_000; i <= 11_000; i++ {
		if 1+i%254 == 7 {
			want = append(want, t0.Add(time.Duration(i)*100*time.Millisecond))
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d events, want %d", len(got), len(want))
	}
	for i, e := range got {
		if !e.Time.Equal(want[i]) || e.Addr != a || e.Line != "x" {
			t.Errorf("event %d: %v %v %q, want %v", i, e.Time, e.Addr, e.Line, want[i])
		}
	}
}

func TestFirstEventsAreTheOldestOfTheRange(t *testing.T) {
	s := openTemp(t)
	t0 := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
	// Three hours of events, each hour in two commits whose times interleave (two
	// hosts), so an hour has overlapping blocks.
	for h := range 3 {
		for part := range 2 {
			var evs []abusewatch.Event
			for i := range 6 {
				at := t0.Add(time.Duration(h)*time.Hour + time.Duration(2*i+part)*time.Minute)
				evs = append(evs, ev("45.134.26.17", at), ev("45.134.27.1", at))
			}
			if _, err := s.Commit(evs, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	p := netip.MustParsePrefix("45.134.26.0/24")
	from, to := t0.Add(5*time.Minute), t0.Add(3*time.Hour)
	// First with the blocks not decoded yet (FirstEvents decodes only the events it
	// returns), then with all of them in the cache.
	first := func() [][]abusewatch.Event {
		var out [][]abusewatch.Event
		for _, n := range []int{1, 7, 12, 30, 31, 100} {
			got, err := s.FirstEvents(p, from, to, n)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, got)
		}
		return out
	}
	uncached := first()
	all, err := s.EventsByNetwork(p, from, to)
	if err != nil || len(all) != 31 {
		t.Fatalf("EventsByNetwork = %d events, %v; want 31", len(all), err)
	}
	for _, got := range [][][]abusewatch.Event{uncached, first()} {
		for i, n := range []int{1, 7, 12, 30, 31, 100} {
			if want := all[:min(n, len(all))]; !reflect.DeepEqual(got[i], want) {
				t.Errorf("FirstEvents(%d) = %d events, not the oldest %d", n, len(got[i]), len(want))
			}
		}
	}
}

func TestReportIsAddedOnce(t *testing.T) {
	s := openTemp(t)
	r := abusewatch.Report{ID: "r1", Incidents: []string{"i1", "i2"}, State: abusewatch.ReportQueued}
	for i, want := range []bool{true, false} {
		added, err := s.AddReport(r)
		if err != nil || added != want {
			t.Fatalf("AddReport #%d = %v, %v; want %v", i+1, added, err, want)
		}
	}
	if id, ok, _ := s.ReportFor("i2"); !ok || id != "r1" {
		t.Errorf("ReportFor(i2) = %q, %v", id, ok)
	}
	if err := s.UpdateReport("r1", func(r *abusewatch.Report) error { r.State = abusewatch.ReportSent; return nil }); err != nil {
		t.Fatal(err)
	}
	if q, _ := s.Reports(abusewatch.ReportQueued); len(q) != 0 {
		t.Errorf("still queued after update: %v", q)
	}
	if sent, _ := s.Reports(abusewatch.ReportSent); len(sent) != 1 {
		t.Errorf("Reports(sent) = %v", sent)
	}
}

func TestLatestIncidentIsTheNewestWhateverTheWriteOrder(t *testing.T) {
	s := openTemp(t)
	t0 := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
	older := abusewatch.Incident{ID: "old", Key: "ip:45.134.26.17", First: t0, Last: t0.Add(time.Minute)}
	newer := abusewatch.Incident{ID: "new", Key: "ip:45.134.26.17", First: t0.Add(24 * time.Hour), Last: t0.Add(25 * time.Hour)}
	for _, order := range [][]abusewatch.Incident{{older, newer}, {newer, older}} {
		for _, inc := range order {
			if err := s.PutIncidents([]abusewatch.Incident{inc}); err != nil {
				t.Fatal(err)
			}
		}
		if got, ok, err := latestIncident(s, older.Key); err != nil || !ok || got.ID != "new" {
			t.Errorf("written %s then %s: LatestIncident = %q, %v, %v; want new", order[0].ID, order[1].ID, got.ID, ok, err)
		}
	}
	// The newest growing is still the newest.
	newer.Last = newer.Last.Add(time.Hour)
	if err := s.PutIncidents([]abusewatch.Incident{newer}); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := latestIncident(s, older.Key); got.ID != "new" || !got.Last.Equal(newer.Last) {
		t.Errorf("LatestIncident after growing = %q until %s", got.ID, got.Last)
	}
}

func TestIncidentWhoseStartMovesIsStoredOnce(t *testing.T) {
	s := openTemp(t)
	t0 := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
	inc := abusewatch.Incident{ID: "r1", Key: "rate:http-probe", First: t0.Add(time.Hour), Last: t0.Add(2 * time.Hour), Count: 1}
	for _, first := range []time.Time{inc.First, t0} {
		inc.First, inc.Count = first, inc.Count+1
		if err := s.PutIncidents([]abusewatch.Incident{inc}); err != nil {
			t.Fatal(err)
		}
	}
	if got, ok, err := s.Incident("r1"); err != nil || !ok || !got.First.Equal(t0) || got.Count != 3 {
		t.Errorf("Incident = %+v, %v, %v; want the second version", got, ok, err)
	}
	if st, _ := s.Stats(); st.Incidents != 1 {
		t.Errorf("%d incidents stored, want 1", st.Incidents)
	}
	// Two versions in one write: the last given is stored, once.
	moved, grown := inc, inc
	moved.First, moved.Count = t0.Add(-time.Hour), 4
	grown.First, grown.Count = t0.Add(-2*time.Hour), 5
	if err := s.PutIncidents([]abusewatch.Incident{moved, grown}); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := s.Incident("r1"); err != nil || !ok || !got.First.Equal(grown.First) || got.Count != 5 {
		t.Errorf("Incident after two versions in one write = %+v, %v, %v; want the last", got, ok, err)
	}
	if st, _ := s.Stats(); st.Incidents != 1 {
		t.Errorf("%d incidents stored after two versions in one write, want 1", st.Incidents)
	}
}

// OpenIncident reads the newest incident of a key in full only when it may be open over
// the times asked about, and whole; otherwise it tells only its ID, times and whether
// a login succeeded.
func TestOpenIncidentReadsOnlyWhatMayBeOpen(t *testing.T) {
	s := openTemp(t)
	t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	inc := abusewatch.Incident{ID: "a", Key: "ip:45.134.26.17", Rule: "per-address", Addr: netip.MustParseAddr("45.134.26.17"),
		First: t0, Last: t0.Add(time.Hour), Count: 5, Success: true, Evidence: []abusewatch.Event{ev("45.134.26.17", t0)}}
	if err := s.PutIncidents([]abusewatch.Incident{inc}); err != nil {
		t.Fatal(err)
	}
	head := func(got abusewatch.Incident) bool {
		return got.ID == inc.ID && got.First.Equal(inc.First) && got.Last.Equal(inc.Last) && got.Evidence == nil
	}
	for _, c := range []struct {
		since, at time.Time
		open      bool
	}{
		{t0.Add(time.Hour), t0, true},                         // its last event, its first: the bounds are inclusive
		{t0.Add(-time.Hour), t0.Add(2 * time.Hour), true},     // around it
		{t0.Add(time.Hour + 1), t0.Add(2 * time.Hour), false}, // it ended before since
		{t0.Add(-2 * time.Hour), t0.Add(-1), false},           // it starts after at
	} {
		for _, whole := range []bool{true, false} {
			got, ok, err := s.OpenIncident(inc.Key, c.since, c.at, whole)
			switch {
			case err != nil || ok != c.open:
				t.Errorf("OpenIncident(%s, %s, %v) = %v, %v; want %v", c.since, c.at, whole, ok, err, c.open)
			case ok && whole && IncidentDigest(got) != IncidentDigest(inc):
				t.Errorf("OpenIncident(%s, %s) whole = %+v; want %+v", c.since, c.at, got, inc)
			case ok && !whole && (!head(got) || !got.Success):
				t.Errorf("OpenIncident(%s, %s) = %+v; want its ID, times and success", c.since, c.at, got)
			case !ok && !head(got):
				t.Errorf("OpenIncident(%s, %s) outside = %+v; want only the ID and times", c.since, c.at, got)
			}
		}
	}
	if got, ok, err := s.OpenIncident("ip:45.134.26.18", time.Time{}, t0, true); err != nil || ok || got.ID != "" {
		t.Errorf("OpenIncident of a key without incidents = %+v, %v, %v", got, ok, err)
	}
}

func TestIncidentsAndUnreported(t *testing.T) {
	s := openTemp(t)
	t0 := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
	incs := []abusewatch.Incident{{ID: "a", Key: "ip:45.134.26.17", First: t0, Last: t0}, {ID: "b", Key: "ip:218.92.0.31", First: t0.Add(time.Hour), Last: t0.Add(time.Hour)}}
	if err := s.PutIncidents(incs); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := latestIncident(s, "ip:218.92.0.31"); err != nil || !ok || got.ID != "b" {
		t.Errorf("LatestIncident = %v, %v, %v", got.ID, ok, err)
	}
	if _, err := s.AddReport(abusewatch.Report{ID: "r", Incidents: []string{"a"}}); err != nil {
		t.Fatal(err)
	}
	un, err := unreported(s, 0)
	if err != nil || len(un) != 1 || un[0].ID != "b" {
		t.Errorf("UnreportedIncidents = %v, %v", un, err)
	}
}

func TestSecondOpenIsRefusedWhileHeld(t *testing.T) {
	s, path := openNew(t)
	var err error
	defer s.Close()
	_, err = Open(path, 50*time.Millisecond)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open = %v; want ErrLocked", err)
	}
}

func TestReopenKeepsData(t *testing.T) {
	s, path := openNew(t)
	var err error
	if _, err := s.Commit([]abusewatch.Event{ev("45.134.26.17", time.Now())}, []Position{{Source: "f", Offset: 9}}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if p, ok, _ := s.Position("f"); !ok || p.Offset != 9 {
		t.Errorf("position lost across reopen: %+v %v", p, ok)
	}
}

// The incident indexes answer for an address or network, a time, and the outbox's work
// list, without reading every incident; pardoning removes the entries too.
func TestIncidentIndexes(t *testing.T) {
	s := openTemp(t)
	t0 := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
	a := netip.MustParseAddr("45.134.26.17")
	incs := []abusewatch.Incident{
		{ID: "old", Key: "ip:45.134.26.17", Addr: a, First: t0.AddDate(0, -2, 0), Last: t0.AddDate(0, -2, 0)},
		{ID: "weak", Key: "net:45.134.26.0/24", Addr: netip.MustParseAddr("45.134.26.99"), First: t0, Last: t0, AdminOnly: true},
		{ID: "login", Key: "success:45.134.26.18", Addr: netip.MustParseAddr("45.134.26.18"), First: t0, Last: t0, AdminOnly: true, Success: true},
		{ID: "v6", Key: "ip:2001:67c:2e8::1", Addr: netip.MustParseAddr("2001:67c:2e8::1"), First: t0, Last: t0},
		{ID: "rate", Key: "rate:auth-failure", First: t0, Last: t0, AdminOnly: true},
	}
	if err := s.PutIncidents(incs); err != nil {
		t.Fatal(err)
	}
	ids := func(incs []abusewatch.Incident, err error) []string { t.Helper(); return incidentIDs(t, incs, err) }
	for _, tc := range []struct {
		what string
		got  []string
		want []string
	}{
		{"in 45.134.26.0/24", ids(first2(s.IncidentsIn(netip.MustParsePrefix("45.134.26.0/24"), time.Time{}, 0))), []string{"login", "old", "weak"}},
		{"in 45.134.26.17/32", ids(first2(s.IncidentsIn(netip.MustParsePrefix("45.134.26.17/32"), time.Time{}, 0))), []string{"old"}},
		{"in 2001:67c::/32", ids(first2(s.IncidentsIn(netip.MustParsePrefix("2001:67c::/32"), time.Time{}, 0))), []string{"v6"}},
		{"since a month", ids(first2(s.IncidentsSince(t0.AddDate(0, -1, 0), 0))), []string{"login", "rate", "v6", "weak"}},
		{"all", ids(first2(s.IncidentsSince(time.Time{}, 0))), []string{"login", "old", "rate", "v6", "weak"}},
		{"the newest 4", ids(first2(s.IncidentsSince(time.Time{}, 4))), []string{"login", "rate", "v6", "weak"}},
		{"unreported", ids(unreported(s, 0)), []string{"login", "old", "v6"}},
	} {
		if !slices.Equal(tc.got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.what, tc.got, tc.want)
		}
	}
	if incs, total, err := s.IncidentsSince(time.Time{}, 1); err != nil || total != 5 || len(incs) != 1 || incs[0].ID == "old" {
		t.Errorf("IncidentsSince, newest 1 = %v of %d, %v; want one of the newest of 5", incs, total, err)
	}
	if _, err := s.AddReport(abusewatch.Report{ID: "r", Incidents: []string{"old"}}); err != nil {
		t.Fatal(err)
	}
	if incs, total, err := s.IncidentsIn(netip.MustParsePrefix("45.134.26.0/24"), t0.AddDate(0, -1, 0), 1); err != nil || total != 2 || len(incs) != 1 {
		t.Errorf("IncidentsIn since a month, newest 1 = %v of %d, %v; want 1 of 2", incs, total, err)
	}
	if got := ids(unreported(s, 1)); len(got) != 1 {
		t.Errorf("UnreportedIncidents(1) = %v", got)
	}
	if got := ids(unreported(s, 0)); !slices.Equal(got, []string{"login", "v6"}) {
		t.Errorf("unreported after a report: %v", got)
	}
	if n, _, err := s.ForgetIncidents(netip.MustParsePrefix("45.134.26.0/24"), t0); err != nil || n != 3 {
		t.Fatalf("ForgetIncidents = %d, %v; want 3", n, err)
	}
	if got := ids(first2(s.IncidentsIn(netip.MustParsePrefix("45.0.0.0/8"), time.Time{}, 0))); len(got) != 0 {
		t.Errorf("pardoned incidents still indexed: %v", got)
	}
	if got := ids(first2(s.IncidentsSince(time.Time{}, 0))); !slices.Equal(got, []string{"rate", "v6"}) {
		t.Errorf("left after pardon: %v", got)
	}
}

func first2[A, B any](a A, _ B, err error) (A, error) { return a, err }

// incidentIDs is the sorted IDs of incs, read with err.
func incidentIDs(t *testing.T, incs []abusewatch.Incident, err error) []string {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, inc := range incs {
		out = append(out, inc.ID)
	}
	slices.Sort(out)
	return out
}

// latestIncident is the newest incident of key, whenever it was.
func latestIncident(s *Store, key string) (abusewatch.Incident, bool, error) {
	return s.OpenIncident(key, time.Unix(0, 0), time.Unix(1<<33, 0), true) // 1970 to 2242
}

// Every field of an incident survives the stored form: the fixture sets them all, and
// a field added to Incident without the codec fails here.
func TestIncidentCodecKeepsEveryField(t *testing.T) {
	t0 := time.Date(2026, 11, 20, 3, 0, 0, 5, time.FixedZone("", 3600))
	e := ev("45.134.26.17", t0)
	e.Seq, e.Port, e.LocalPort, e.Name, e.User, e.Service, e.Host, e.Source, e.Proto, e.Flags = 7, 40000, 22, "n", "root", "sshd", "web1", "/var/log/auth.log", "TCP", "SYN"
	inc := abusewatch.Incident{ID: "id", Key: "ip:45.134.26.17", Rule: "per-address", Addr: e.Addr, Network: netip.MustParsePrefix("45.134.26.0/24"),
		Classes: []abusewatch.Class{"auth-failure"}, First: t0, Last: t0.Add(time.Hour), Count: 3, Attempts: 2, Hosts: []string{"web1"},
		Evidence: []abusewatch.Event{e}, Severity: 4, Success: true, PTR: "host.example.net", AdminOnly: true,
		Sources: []netip.Addr{e.Addr, netip.MustParseAddr("45.134.26.18"), netip.MustParseAddr("2001:db8::1")}}
	v := reflect.ValueOf(inc)
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			t.Fatalf("the fixture leaves Incident.%s zero", v.Type().Field(i).Name)
		}
	}
	stored, digest := encodeIncident(inc)
	if digest != IncidentDigest(inc) {
		t.Errorf("encodeIncident's digest %x, IncidentDigest %x", digest, IncidentDigest(inc))
	}
	got, err := decodeIncident(stored)
	if err != nil {
		t.Fatal(err)
	}
	if !got.First.Equal(inc.First) || !got.Last.Equal(inc.Last) || !got.Evidence[0].Time.Equal(e.Time) {
		t.Errorf("times: %v %v %v", got.First, got.Last, got.Evidence[0].Time)
	}
	got.First, got.Last, got.Evidence[0].Time = inc.First, inc.Last, e.Time
	if !reflect.DeepEqual(got, inc) {
		t.Errorf("decoded\n%+v\nwant\n%+v", got, inc)
	}
	if IncidentDigest(got) != IncidentDigest(inc) {
		t.Error("equal incidents, different digests")
	}
	for n := 1; n < len(stored); n++ {
		if _, err := decodeIncident(stored[:n]); err == nil {
			t.Errorf("an incident cut to %d of %d bytes decoded", n, len(stored))
		}
	}
	// Written S2-compressed; the zstd form of schema 2 to 7 still reads the same.
	if stored[0] != incidentCodecS2 {
		t.Errorf("stored with codec byte %d, want %d (S2)", stored[0], incidentCodecS2)
	}
	var old []byte
	marshaled(inc, func(b []byte) { old = zstdEncoder.EncodeAll(b[1:], []byte{incidentCodecV2}) })
	if back, err := decodeIncident(old); err != nil || IncidentDigest(back) != IncidentDigest(inc) {
		t.Errorf("the zstd form decodes to %+v, %v; want the incident", back, err)
	}
	// Without sources, an incident is marshaled as before they were kept (its digest
	// stays that of what the store holds): the bytes end with the evidence.
	var with, without []byte
	marshaled(inc, func(b []byte) { with = slices.Clone(b) })
	inc.Sources = nil
	marshaled(inc, func(b []byte) { without = slices.Clone(b) })
	if len(without) >= len(with) || !bytes.Equal(with[:len(without)], without) {
		t.Errorf("without sources, the marshaled incident is not the one with them cut before them")
	}
	if back, err := decodeIncident(compressIncident(without)); err != nil || back.Sources != nil {
		t.Errorf("an incident stored without sources decodes with %v, %v", back.Sources, err)
	}
}

// EncodeChanged digests an incident as IncidentDigest does and encodes it only when the
// digest differs from the stored one; what it encodes stores as PutIncidents would.
func TestEncodeChangedWritesOnlyAChange(t *testing.T) {
	s := openTemp(t)
	t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	inc := abusewatch.Incident{ID: "a", Key: "ip:45.134.26.17", Rule: "per-address", Addr: netip.MustParseAddr("45.134.26.17"),
		First: t0, Last: t0.Add(time.Hour), Count: 5, Evidence: []abusewatch.Event{ev("45.134.26.17", t0)}}
	digest, w, changed := EncodeChanged(inc, 0)
	if digest != IncidentDigest(inc) || !changed {
		t.Fatalf("EncodeChanged of a new incident = %x, %v; want %x, changed", digest, changed, IncidentDigest(inc))
	}
	if err := s.PutIncidentWrites([]IncidentWrite{w}); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := s.Incident("a"); err != nil || !ok || IncidentDigest(got) != digest {
		t.Errorf("Incident after PutIncidentWrites = %+v, %v, %v", got, ok, err)
	}
	if stored, err := s.IncidentDigests([]string{"a"}); err != nil || stored[0] != digest {
		t.Errorf("IncidentDigests = %x, %v; want %x", stored, err, digest)
	}
	if again, w, changed := EncodeChanged(inc, digest); again != digest || changed || w.body != nil {
		t.Errorf("EncodeChanged of the stored incident = %x, %v, %d bytes; want no change", again, changed, len(w.body))
	}
	// Asked about many at once, in no order, with some not stored: each answer in its place.
	want := map[string]uint64{"a": digest}
	var more []abusewatch.Incident
	for i := range 20 {
		inc := inc
		inc.ID, inc.Count = fmt.Sprintf("%016x", uint64(i)*0x9e3779b97f4a7c15), i+1
		more, want[inc.ID] = append(more, inc), IncidentDigest(inc)
	}
	if err := s.PutIncidents(more); err != nil {
		t.Fatal(err)
	}
	ids := []string{"zz", "a"}
	for id := range want {
		ids = append(ids, id, id+"-none")
	}
	got, err := s.IncidentDigests(ids)
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		if got[i] != want[id] {
			t.Errorf("IncidentDigests: %s = %x, want %x", id, got[i], want[id])
		}
	}
}

// OpenIncidentAt finds, for a time before a key's newest incident, the one of that key
// that started last before it, as the incident moves (starts elsewhere) and is deleted.
func TestOpenIncidentAtFindsAnOlderVisit(t *testing.T) {
	s := openTemp(t)
	t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	visit := func(id string, day int) abusewatch.Incident {
		at := t0.Add(time.Duration(day) * 24 * time.Hour)
		return abusewatch.Incident{ID: id, Key: "ip:45.134.26.17", Rule: "per-address", Addr: netip.MustParseAddr("45.134.26.17"),
			First: at, Last: at.Add(time.Hour), Count: 5, Evidence: []abusewatch.Event{ev("45.134.26.17", at)}}
	}
	v1, v2, v3 := visit("v1", 0), visit("v2", 7), visit("v3", 14)
	other := visit("o1", 3)
	other.Key = "ip:45.134.26.170" // a key that extends the first: its entries sort among them
	if err := s.PutIncidents([]abusewatch.Incident{v3, other, v1, v2}); err != nil {
		t.Fatal(err)
	}
	check := func(name string, since, at time.Time, wantID string, wantOpen, wantLater bool) {
		t.Helper()
		got, ok, later, err := s.OpenIncidentAt(v1.Key, since, at, true)
		if err != nil || got.ID != wantID || ok != wantOpen || later != wantLater {
			t.Errorf("%s: OpenIncidentAt = %q, open %v, later %v, %v; want %q, %v, %v", name, got.ID, ok, later, err, wantID, wantOpen, wantLater)
		}
		if ok && IncidentDigest(got) == 0 {
			t.Errorf("%s: the incident is not read whole", name)
		}
	}
	check("within the second", v2.First, v2.First.Add(time.Minute), "v2", true, true)
	check("at the first's start", v1.First, v1.First, "v1", true, true)
	check("after the first", v1.Last.Add(time.Minute), v1.Last.Add(2*time.Minute), "v1", false, true)
	check("before any", t0.Add(-time.Hour), t0.Add(-time.Minute), "v1", false, true) // the next one, outside
	check("within the newest", v3.First, v3.Last, "v3", true, false)
	if got, ok, err := s.OpenIncident(v1.Key, v2.First, v2.First, false); err != nil || ok || got.ID != "v3" {
		t.Errorf("OpenIncident = %q, %v, %v; want the newest alone, not open", got.ID, ok, err)
	}
	// v2 grows back to start a day earlier: found from there, not from where it was.
	moved := v2
	moved.First = v2.First.Add(-24 * time.Hour)
	if err := s.PutIncidents([]abusewatch.Incident{moved}); err != nil {
		t.Fatal(err)
	}
	check("the moved one", moved.First, moved.First.Add(time.Minute), "v2", true, true)
	check("where it was no more", v1.Last.Add(24*time.Hour), v2.First.Add(-25*time.Hour), "v1", false, true)
	if err := s.db.Update(func(tx *bolt.Tx) error { return deleteIncident(tx, moved) }); err != nil {
		t.Fatal(err)
	}
	check("after it was deleted", v2.First, v2.First.Add(time.Minute), "v1", false, true)
}

// Incidents written in the order they start (a pass over history) fill their pages:
// half-full pages were a fifth of a 10M-event store's file.
func TestIncidentBodiesFillTheirPages(t *testing.T) {
	s := openTemp(t)
	t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	for group := range 5 {
		var incs []abusewatch.Incident
		for i := range 400 {
			at := t0.Add(time.Duration(group*400+i) * time.Minute)
			incs = append(incs, abusewatch.Incident{ID: fmt.Sprintf("%016x", group*400+i), Key: fmt.Sprint("ip:45.134.26.", i%250), Rule: "per-address",
				Addr: netip.MustParseAddr("45.134.26.17"), First: at, Last: at.Add(time.Minute), Count: 5})
		}
		if err := s.PutIncidents(incs); err != nil {
			t.Fatal(err)
		}
	}
	s.db.View(func(tx *bolt.Tx) error {
		st := tx.Bucket(bucketIncidents).Stats()
		if fill := float64(st.LeafInuse) / float64(st.LeafAlloc); fill < 0.8 {
			t.Errorf("incident bodies fill %.0f%% of their %d pages, want at least 80%%", 100*fill, st.LeafPageN)
		}
		return nil
	})
}

// Two incidents of one key that start at the same instant (log times have whole
// seconds) are both indexed: deleting one leaves the other findable.
func TestIncidentsOfAKeyStartingTogetherStayApart(t *testing.T) {
	s := openTemp(t)
	t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	a := abusewatch.Incident{ID: "a", Key: "ip:45.134.26.17", Rule: "per-address", Addr: netip.MustParseAddr("45.134.26.17"),
		First: t0, Last: t0.Add(time.Minute), Count: 5}
	b := a
	b.ID, b.Last = "b", t0.Add(time.Hour)
	if err := s.PutIncidents([]abusewatch.Incident{a, b}); err != nil {
		t.Fatal(err)
	}
	var keys int
	s.db.View(func(tx *bolt.Tx) error { keys = tx.Bucket(bucketStarts).Stats().KeyN; return nil })
	if keys != 2 {
		t.Fatalf("incident_starts holds %d entries, want 2", keys)
	}
	if err := s.db.Update(func(tx *bolt.Tx) error { return deleteIncident(tx, b) }); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := s.OpenIncident(a.Key, t0, t0, false); err != nil || !ok || got.ID != "a" {
		t.Errorf("OpenIncident after the other was deleted = %q, %v, %v; want a", got.ID, ok, err)
	}
}

// IncidentsIn filters by the last event's time kept in the address index, which a
// grown incident's write moves; an entry written before that holds nothing, and the
// time is read from incident_last instead.
func TestIncidentsInFiltersByTheTimeInTheAddressIndex(t *testing.T) {
	s := openTemp(t)
	t0 := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
	old := abusewatch.Incident{ID: "old", Key: "ip:45.134.26.17", Addr: netip.MustParseAddr("45.134.26.17"), First: t0.AddDate(0, -2, 0), Last: t0.AddDate(0, -2, 0)}
	recent := abusewatch.Incident{ID: "recent", Key: "ip:45.134.26.18", Addr: netip.MustParseAddr("45.134.26.18"), First: t0, Last: t0}
	if err := s.PutIncidents([]abusewatch.Incident{old, recent}); err != nil {
		t.Fatal(err)
	}
	net, since := netip.MustParsePrefix("45.134.26.0/24"), t0.AddDate(0, -1, 0)
	check := func(when string, want ...string) {
		t.Helper()
		incs, total, err := s.IncidentsIn(net, since, 0)
		var got []string
		for _, inc := range incs {
			got = append(got, inc.ID)
		}
		slices.Sort(got)
		if err != nil || total != len(want) || !slices.Equal(got, want) {
			t.Errorf("%s: IncidentsIn = %v (%d), %v; want %v", when, got, total, err, want)
		}
	}
	check("as written", "recent")
	old.Last = t0.Add(-time.Hour) // it grew
	if err := s.PutIncidents([]abusewatch.Incident{old}); err != nil {
		t.Fatal(err)
	}
	check("grown", "old", "recent")
	s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketIncidentAddrs)
		var keys [][]byte
		b.ForEach(func(k, v []byte) error {
			if len(v) != 8 {
				t.Errorf("incident_addrs %x holds %x, not a time", k, v)
			}
			keys = append(keys, slices.Clone(k))
			return nil
		})
		for _, k := range keys {
			b.Put(k, nil) // as schema 7 and before wrote them
		}
		return nil
	})
	check("entries without a time", "old", "recent")
}

// ForgetUnreportedIncidents deletes, with their index entries, the incidents that
// started since the time given and that no report names; older ones and reported ones
// stay.
func TestForgetUnreportedIncidentsKeepsReportedAndOlderOnes(t *testing.T) {
	s := openTemp(t)
	t0 := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
	incident := func(id, addr string, first time.Time, adminOnly bool) abusewatch.Incident {
		a := netip.MustParseAddr(addr)
		return abusewatch.Incident{ID: id, Key: "ip:" + addr, Rule: "per-address", Addr: a, Network: netip.PrefixFrom(a, 32),
			First: first, Last: first.Add(time.Minute), Count: 5, AdminOnly: adminOnly}
	}
	incs := []abusewatch.Incident{
		incident("older", "45.134.26.1", t0.AddDate(0, 0, -10), false),
		incident("reported", "45.134.26.2", t0, false),
		incident("unreported", "45.134.26.3", t0.Add(time.Hour), false),
		incident("admin", "45.134.26.4", t0, true),
	}
	if err := s.PutIncidents(incs); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddReport(abusewatch.Report{ID: "r", Incidents: []string{"reported"}}); err != nil {
		t.Fatal(err)
	}
	forgotten, kept, err := s.ForgetUnreportedIncidents(t0.AddDate(0, 0, -1))
	if deleted := forgotten.Len(); err != nil || deleted != 2 || kept != 1 {
		t.Fatalf("ForgetUnreportedIncidents = %d deleted, %d kept, %v; want 2 and 1", forgotten.Len(), kept, err)
	}
	ids := func(incs []abusewatch.Incident, err error) []string { t.Helper(); return incidentIDs(t, incs, err) }
	if got := ids(first2(s.IncidentsSince(time.Time{}, 0))); !slices.Equal(got, []string{"older", "reported"}) {
		t.Errorf("left: %v", got)
	}
	if got := ids(first2(s.IncidentsIn(netip.MustParsePrefix("45.134.26.0/24"), time.Time{}, 0))); !slices.Equal(got, []string{"older", "reported"}) {
		t.Errorf("left in the /24: %v", got)
	}
	if got := ids(unreported(s, 0)); !slices.Equal(got, []string{"older"}) {
		t.Errorf("unreported left: %v", got)
	}
	if _, ok, err := latestIncident(s, "ip:45.134.26.3"); ok || err != nil {
		t.Errorf("the forgotten incident's key still has one: %v, %v", ok, err)
	}
	s.db.View(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketIncidents, bucketIncidentLast, bucketIncidentAddrs, bucketStarts} {
			if n := tx.Bucket(b).Stats().KeyN; n != 2 {
				t.Errorf("%s holds %d entries, want the 2 of the incidents left", b, n)
			}
		}
		return nil
	})
	// Made again, it is stored as new.
	if err := s.PutIncidents(incs[2:3]); err != nil {
		t.Fatal(err)
	}
	if inc, ok, err := latestIncident(s, "ip:45.134.26.3"); !ok || err != nil || inc.ID != "unreported" {
		t.Errorf("made again: %v, %v, %v", inc.ID, ok, err)
	}
}

// unreported is UnreportedIncidents from the first ID, without where a next call goes on.
func unreported(s *Store, limit int) ([]abusewatch.Incident, error) {
	incs, _, err := s.UnreportedIncidents("", limit)
	return incs, err
}

// The outbox reads the unreported incidents round after round: each call goes on after
// the ID the last one took last, from the first again at the end, and takes each at
// most once; next is "" when a call took them all.
func TestUnreportedIncidentsGoOnWhereTheLastCallStopped(t *testing.T) {
	s := openTemp(t)
	t0 := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
	var incs []abusewatch.Incident
	for i, id := range []string{"a", "b", "c", "d", "e"} {
		a := netip.AddrFrom4([4]byte{45, 134, 26, byte(i + 1)})
		// Later IDs are older: a call returns its incidents oldest first, not by ID.
		first := t0.Add(-time.Duration(i) * time.Hour)
		incs = append(incs, abusewatch.Incident{ID: id, Key: "ip:" + a.String(), Addr: a, First: first, Last: first})
	}
	if err := s.PutIncidents(incs); err != nil {
		t.Fatal(err)
	}
	call := func(after string, limit int) string {
		t.Helper()
		got, next, err := s.UnreportedIncidents(after, limit)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, inc := range got {
			ids = append(ids, inc.ID)
		}
		return strings.Join(ids, ",") + " next " + next
	}
	for _, tc := range []struct {
		after string
		limit int
		want  string
	}{
		{"", 2, "b,a next b"},
		{"b", 2, "d,c next d"},
		{"d", 2, "e,a next a"}, // the end reached, on from the first
		{"a", 0, "e,d,c,b,a next "},
		{"c", 10, "e,d,c,b,a next "},
		{"", 5, "e,d,c,b,a next "}, // exactly all
		{"e", 2, "b,a next b"},
		{"bb", 1, "c next c"}, // an ID no longer listed: on from the next one
	} {
		if got := call(tc.after, tc.limit); got != tc.want {
			t.Errorf("UnreportedIncidents(%q, %d) = %s, want %s", tc.after, tc.limit, got, tc.want)
		}
	}
	// A reported incident is left out and no longer listed; the others go on.
	if _, err := s.AddReport(abusewatch.Report{ID: "r", Incidents: []string{"c"}}); err != nil {
		t.Fatal(err)
	}
	if got, want := call("b", 2), "e,d next e"; got != want {
		t.Errorf("after a report: %s, want %s", got, want)
	}
	if got, want := call("", 0), "e,d,b,a next "; got != want {
		t.Errorf("after a report, all: %s, want %s", got, want)
	}
}

// The outbox takes the incidents that ended too long ago off its work list at once,
// by the index of their times, before it reads the list.
func TestExpireUnreportedBeforeTakesOffTheOldOnly(t *testing.T) {
	s := openTemp(t)
	t0 := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
	var incs []abusewatch.Incident
	for i, age := range []int{40, 31, 29, 0} {
		a := netip.AddrFrom4([4]byte{45, 134, 26, byte(i + 1)})
		last := t0.AddDate(0, 0, -age)
		incs = append(incs, abusewatch.Incident{ID: fmt.Sprintf("age%d", age), Key: "ip:" + a.String(), Addr: a, First: last.Add(-time.Minute), Last: last})
	}
	if err := s.PutIncidents(incs); err != nil {
		t.Fatal(err)
	}
	n, oldest, err := s.ExpireUnreportedBefore(t0.AddDate(0, 0, -30))
	if err != nil || n != 2 || !oldest.Equal(t0.AddDate(0, 0, -40)) {
		t.Errorf("ExpireUnreportedBefore = %d, %s, %v; want 2, the one of 40 days ago", n, oldest, err)
	}
	left, err := unreported(s, 0)
	if got := incidentIDs(t, left, err); !slices.Equal(got, []string{"age0", "age29"}) {
		t.Errorf("left to report: %v", got)
	}
	if n, _, err := s.ExpireUnreportedBefore(t0.AddDate(0, 0, -30)); err != nil || n != 0 {
		t.Errorf("again: %d, %v; want none", n, err)
	}
	if all, total, err := s.IncidentsSince(time.Time{}, 0); err != nil || len(all) != 4 || total != 4 {
		t.Errorf("incidents kept: %d of %d, %v; want all 4", len(all), total, err)
	}
}

// Excluding a network rejects the unsent reports about it alone; a report that also
// names sources elsewhere, or one already sent, stays as it is.
func TestRejectUnsentReportsInAnExcludedNetwork(t *testing.T) {
	s := openTemp(t)
	t0 := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
	in1, in2, out := netip.MustParseAddr("45.134.26.7"), netip.MustParseAddr("45.134.99.1"), netip.MustParseAddr("185.220.100.7")
	incs := []abusewatch.Incident{
		{ID: "in1", Key: "ip:" + in1.String(), Addr: in1, First: t0, Last: t0},
		{ID: "in2", Key: "ip:" + in2.String(), Addr: in2, First: t0, Last: t0},
		{ID: "out", Key: "ip:" + out.String(), Addr: out, First: t0, Last: t0},
		{ID: "net", Key: "net:45.134.26.0/24", Network: netip.MustParsePrefix("45.134.26.0/24"), First: t0, Last: t0},
	}
	if err := s.PutIncidents(incs); err != nil {
		t.Fatal(err)
	}
	for _, r := range []abusewatch.Report{
		{ID: "queued-in", State: abusewatch.ReportQueued, Incidents: []string{"in1", "in2"}},
		{ID: "held-net", State: abusewatch.ReportHeld, Incidents: []string{"net"}},
		{ID: "pending-mixed", State: abusewatch.ReportPendingApproval, Incidents: []string{"in1", "out"}},
		{ID: "sent-in", State: abusewatch.ReportSent, Incidents: []string{"in2"}},
	} {
		if _, err := s.AddReport(r); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.RejectUnsentReportsIn(netip.MustParsePrefix("45.134.0.0/16"), t0.Add(time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("RejectUnsentReportsIn = %d, %v; want 2", n, err)
	}
	for id, want := range map[string]abusewatch.ReportState{"queued-in": abusewatch.ReportRejected, "held-net": abusewatch.ReportRejected,
		"pending-mixed": abusewatch.ReportPendingApproval, "sent-in": abusewatch.ReportSent} {
		r, _, err := s.Report(id)
		if err != nil || r.State != want {
			t.Errorf("%s: %s, %v; want %s", id, r.State, err, want)
		}
		if want == abusewatch.ReportRejected && !strings.Contains(r.Error, "excluded") {
			t.Errorf("%s: rejected without saying why (%q)", id, r.Error)
		}
	}
}

// A network's incident names its first address for the lookup: excluding or pardoning
// that address alone leaves the incident of the network (its other addresses are still
// reported, without this one's evidence) and its report; the whole network takes both.
func TestAnAddressOfANetworkIncidentDoesNotTakeTheNetwork(t *testing.T) {
	s := openTemp(t)
	t0 := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
	a := netip.MustParseAddr("45.134.26.7")
	if err := s.PutIncidents([]abusewatch.Incident{
		{ID: "own", Key: "ip:" + a.String(), Rule: "per-address", Addr: a, Network: netip.PrefixFrom(a, 32), First: t0, Last: t0},
		{ID: "net", Key: "net:45.134.26.0/24", Rule: "network", Addr: a, Network: netip.MustParsePrefix("45.134.26.0/24"), First: t0, Last: t0},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddReport(abusewatch.Report{ID: "r-net", State: abusewatch.ReportQueued, Incidents: []string{"net"}}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.RejectUnsentReportsIn(netip.PrefixFrom(a, 32), t0); err != nil || n != 0 {
		t.Errorf("RejectUnsentReportsIn(the first address) = %d, %v; want the network's report left", n, err)
	}
	if n, _, err := s.ForgetIncidents(netip.PrefixFrom(a, 32), t0); err != nil || n != 1 {
		t.Errorf("ForgetIncidents(the first address) = %d, %v; want its own incident alone", n, err)
	}
	if _, ok, err := s.Incident("net"); !ok || err != nil {
		t.Errorf("the network's incident is gone (%v)", err)
	}
	if n, rejected, err := s.ForgetIncidents(netip.MustParsePrefix("45.134.0.0/16"), t0); err != nil || n != 1 || rejected != 1 {
		t.Errorf("ForgetIncidents(a network around it) = %d incidents, %d reports, %v; want 1 and 1", n, rejected, err)
	}
}

// Retention prunes the unknown-record shapes not seen since a time, and keeps the list
// below MaxShapes by the least recently seen: new shapes then get a line of their own
// again, instead of all going under OtherShapes once the list was full.
func TestPruneShapesMakesRoomForNewOnes(t *testing.T) {
	s := openTemp(t)
	t0 := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
	var shapes []Shape
	for i := range MaxShapes {
		last := t0.Add(-time.Duration(i) * time.Minute) // shape 0 the most recent
		if i%20 == 19 {
			last = t0.AddDate(0, -2, 0) // one in twenty two months old
		}
		shapes = append(shapes, Shape{Shape: fmt.Sprintf("shape %05d <N>", i), Count: 1, First: last, Last: last, Sample: "x"})
	}
	shapes = append(shapes, Shape{Shape: "one too many <N>", Count: 1, First: t0, Last: t0})
	if err := s.AddShapes(shapes); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Shapes(time.Time{}, 0); len(got) != MaxShapes+1 || !slices.ContainsFunc(got, func(sh Shape) bool { return sh.Shape == OtherShapes }) {
		t.Fatalf("%d shapes before pruning; want %d and the others' line", len(got), MaxShapes+1)
	}
	n, err := s.PruneShapes(t0.AddDate(0, -1, 0))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := s.Shapes(time.Time{}, 0)
	// The 500 old ones go by age; of the 9,500 left (and the others' line), the 500
	// least recently seen go too, down to shapesAfterPrune.
	if n != MaxShapes/10 || len(got) != shapesAfterPrune+1 {
		t.Errorf("pruned %d, %d left; want %d pruned and %d left with the others' line", n, len(got), MaxShapes/10, shapesAfterPrune+1)
	}
	has := func(name string) bool {
		return slices.ContainsFunc(got, func(sh Shape) bool { return sh.Shape == name })
	}
	if !has("shape 00000 <N>") || has("shape 09998 <N>") || has("shape 00019 <N>") {
		t.Error("pruned other shapes than the old and the least recently seen")
	}
	if err := s.AddShapes([]Shape{{Shape: "new after pruning <N>", Count: 1, First: t0, Last: t0}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Shapes(t0, 0); !slices.ContainsFunc(got, func(sh Shape) bool { return sh.Shape == "new after pruning <N>" }) {
		t.Error("a new shape went under the others' line after pruning")
	}
}

// Retention deletes the incidents that ended before a time with every index entry, so
// no query finds them; the reports that name them stay.
func TestPruneIncidentsDeletesTheOldWithTheirIndexes(t *testing.T) {
	s := openTemp(t)
	t0 := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
	a := netip.MustParseAddr("45.134.26.17")
	var incs []abusewatch.Incident
	for i, age := range []int{500, 450, 10} {
		last := t0.AddDate(0, 0, -age)
		incs = append(incs, abusewatch.Incident{ID: fmt.Sprint("age", age), Key: "ip:" + a.String(), Addr: a, Rule: "per-address",
			First: last.Add(-time.Hour), Last: last, Count: 5 + i})
	}
	if err := s.PutIncidents(incs); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddReport(abusewatch.Report{ID: "r", State: abusewatch.ReportSent, Incidents: []string{"age500"}, Message: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	n, err := s.PruneIncidents(t.Context(), t0.AddDate(0, 0, -400), t0.AddDate(0, 0, -400), 1) // one a transaction
	if err != nil || n != 2 {
		t.Fatalf("PruneIncidents = %d, %v; want 2", n, err)
	}
	if got, total, err := s.IncidentsIn(netip.PrefixFrom(a, 32), time.Time{}, 0); err != nil || total != 1 || got[0].ID != "age10" {
		t.Errorf("IncidentsIn = %d, %v; want age10 alone", total, err)
	}
	if got, total, err := s.IncidentsSince(time.Time{}, 0); err != nil || total != 1 || got[0].ID != "age10" {
		t.Errorf("IncidentsSince = %d, %v; want age10 alone", total, err)
	}
	if left, err := unreported(s, 0); err != nil || len(left) != 1 {
		t.Errorf("unreported = %d, %v; want 1", len(left), err)
	}
	if inc, ok, _, err := s.OpenIncidentAt("ip:"+a.String(), t0.AddDate(0, 0, -450), t0.AddDate(0, 0, -450), false); err != nil || (ok && inc.ID != "age10") {
		t.Errorf("OpenIncidentAt at the pruned one's time = %s, %v, %v", inc.ID, ok, err)
	}
	s.db.View(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketIncidents, bucketIncidentLast, bucketIncidentAddrs, bucketStarts} {
			if n := tx.Bucket(b).Stats().KeyN; n != 1 {
				t.Errorf("%s holds %d entries, want 1", b, n)
			}
		}
		return nil
	})
	if r, ok, err := s.Report("r"); err != nil || !ok || string(r.Message) != "x" {
		t.Errorf("the report of a pruned incident: %v, %v", ok, err)
	}
}

// An incident with a report is kept until reportedBefore, later than the others' cutoff
// (a recurrence of its scope begins after it); past that it goes too.
func TestPruneIncidentsKeepsTheReportedLonger(t *testing.T) {
	s := openTemp(t)
	t0 := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
	a := netip.MustParseAddr("45.134.26.17")
	var incs []abusewatch.Incident
	for _, id := range []string{"reported-100", "unreported-100", "reported-300"} {
		age, _ := strconv.Atoi(id[strings.IndexByte(id, '-')+1:])
		last := t0.AddDate(0, 0, -age)
		incs = append(incs, abusewatch.Incident{ID: id, Key: "recur:" + a.String() + "/32", Addr: a, Rule: "recurrence",
			First: last.AddDate(0, 0, -20), Last: last, Count: 5})
	}
	if err := s.PutIncidents(incs); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"reported-100", "reported-300"} {
		if _, err := s.AddReport(abusewatch.Report{ID: "r-" + id, State: abusewatch.ReportSent, Incidents: []string{id}, Message: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	// Incidents retention 30 days, reported ones 180.
	n, err := s.PruneIncidents(t.Context(), t0.AddDate(0, 0, -30), t0.AddDate(0, 0, -180), 0)
	if err != nil || n != 2 {
		t.Fatalf("PruneIncidents = %d, %v; want 2 (the unreported and the reported one past 180 days)", n, err)
	}
	if got, total, err := s.IncidentsSince(time.Time{}, 0); err != nil || total != 1 || got[0].ID != "reported-100" {
		t.Errorf("IncidentsSince = %d %v, %v; want reported-100 alone", total, got, err)
	}
	// A cutoff for the reported later than the others' is the others'.
	if n, err := s.PruneIncidents(t.Context(), t0.AddDate(0, 0, -150), t0, 0); err != nil || n != 0 {
		t.Errorf("PruneIncidents with the reported's cutoff after the others' = %d, %v; want 0", n, err)
	}
}

// An exclusion is recorded, listed and removed by its network, however the network is
// spelt (an IPv4 network in IPv6-mapped form is the same network); removing one that is
// not recorded says so and leaves the others.
func TestExclusionsAreAddedListedAndRemoved(t *testing.T) {
	s := openTemp(t)
	t0 := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
	for _, e := range []Exclusion{
		{Network: netip.MustParsePrefix("::ffff:45.134.26.0/120"), Reason: "a partner's scanner", Added: t0},
		{Network: netip.MustParsePrefix("2001:67c:2e8::/48"), Added: t0, Pardon: true},
	} {
		if err := s.AddExclusion(e); err != nil {
			t.Fatal(err)
		}
	}
	list := func() []string {
		t.Helper()
		ex, err := s.Exclusions()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range ex {
			out = append(out, e.Network.String())
		}
		slices.Sort(out)
		return out
	}
	if got := list(); !slices.Equal(got, []string{"2001:67c:2e8::/48", "45.134.26.0/24"}) {
		t.Fatalf("exclusions %v", got)
	}
	e, ok, err := s.RemoveExclusion(netip.MustParsePrefix("45.134.26.0/24"), t0.Add(time.Hour))
	if err != nil || !ok || e.Reason != "a partner's scanner" || !e.Added.Equal(t0) {
		t.Fatalf("RemoveExclusion = %+v, %v, %v; want the recorded one", e, ok, err)
	}
	if _, ok, err := s.RemoveExclusion(netip.MustParsePrefix("45.134.26.0/24"), t0.Add(time.Hour)); ok || err != nil {
		t.Errorf("removed twice: %v, %v", ok, err)
	}
	if _, ok, err := s.RemoveExclusion(netip.MustParsePrefix("2001:67c::/32"), t0.Add(time.Hour)); ok || err != nil {
		t.Errorf("a network around an exclusion removed it: %v, %v", ok, err)
	}
	if got := list(); !slices.Equal(got, []string{"2001:67c:2e8::/48"}) {
		t.Errorf("left %v", got)
	}
}

// IncidentsOfKeys finds the incidents of a few keys through the index by key, those
// that ended before since left out.
func TestIncidentsOfKeys(t *testing.T) {
	s := openTemp(t)
	t0 := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
	if err := s.PutIncidents([]abusewatch.Incident{
		{ID: "a-old", Key: "net:45.134.26.0/24", First: t0.AddDate(0, 0, -30), Last: t0.AddDate(0, 0, -29)},
		{ID: "a-new", Key: "net:45.134.26.0/24", First: t0, Last: t0.Add(time.Hour)},
		{ID: "b", Key: "recur:45.134.26.0/24", First: t0.AddDate(0, 0, -20), Last: t0},
		{ID: "c", Key: "net:45.134.26.0/240", First: t0, Last: t0}, // a longer key with the same start
		{ID: "d", Key: "ip:45.134.26.7", First: t0, Last: t0},
	}); err != nil {
		t.Fatal(err)
	}
	incs, err := s.IncidentsOfKeys([]string{"net:45.134.26.0/24", "recur:45.134.26.0/24", "net:45.134.0.0/16"}, t0.AddDate(0, 0, -7))
	if got := incidentIDs(t, incs, err); !slices.Equal(got, []string{"a-new", "b"}) {
		t.Errorf("IncidentsOfKeys = %v, want [a-new b]", got)
	}
}

// A state database cut short or overwritten is a clear error naming the file, not a
// panic; an empty file is refused, not taken for a new database.
func TestOpenDamagedOrEmptyDatabase(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	st, err := Open(good, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Commit(benchEvents(2000, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), time.Second, 1, true), nil); err != nil {
		t.Fatal(err)
	}
	st.Close()
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	garbage := slices.Clone(data)
	for i := 2 * 4096; i < len(garbage); i++ {
		garbage[i] = byte(i * 7)
	}
	for name, content := range map[string][]byte{
		"cut.db":     data[:8192],
		"garbage.db": garbage,
	} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
		st, err := Open(path, time.Second)
		if err == nil {
			st.Close()
			t.Errorf("%s opened", name)
			continue
		}
		if !strings.Contains(err.Error(), path) {
			t.Errorf("%s: %v; want the file named", name, err)
		}
		t.Logf("%s: %v", name, err)
	}
	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(empty, time.Second); !errors.Is(err, ErrEmpty) {
		t.Errorf("empty file: %v, want ErrEmpty", err)
	}
	if fi, err := os.Stat(empty); err != nil || fi.Size() != 0 {
		t.Errorf("the empty file was written to: %v, %v", fi, err)
	}
}
