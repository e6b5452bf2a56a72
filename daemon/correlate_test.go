package daemon

import (
	"cmp"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/store"
)

func TestCorrelateConfigErrorsNameTheLine(t *testing.T) {
	base := "[[source]]\nfiles = [\"/var/log/auth.log\"]\n[mail]\nfrom = \"a@example.org\"\n"
	for _, tc := range []struct{ doc, want string }{
		{"[correlate]\nrecurrence_days = 200\n", "bad.toml:6: correlate.recurrence_days"},
		{"[correlate]\nnetwork_sizes = [20]\n", "bad.toml:6: correlate.network_sizes"},
		{"[correlate]\nwindows = [{threshold = 0, window = \"1h\"}]\n", "bad.toml:6: correlate.windows"},
		{"[correlate]\nrate_factor = 0.5\n", "bad.toml:6: correlate.rate_factor"},
		{"[retention]\nevents = \"1h\"\n", "bad.toml:6: retention.events"},
		{"[retention]\ncounters = \"90d\"\n", "bad.toml:6: retention.counters"},
		{"[retention]\nincidents = \"7d\"\n", "bad.toml:6: retention.incidents"},
		{"[retention]\nreports = \"7d\"\n", "bad.toml:6: retention.reports"},
	} {
		_, err := ParseConfig("bad.toml", []byte(base+tc.doc))
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%q: error %v; want it to start with %q", tc.doc, err, tc.want)
		}
	}
}

func TestZeroSwitchesARuleOff(t *testing.T) {
	cfg := parseTestConfig(t, "a.toml", "[[source]]\nfiles = [\"/x\"]\n[reporter]\nname = \"Test Admin\"\n[mail]\nfrom = \"a@example.org\"\n[correlate]\nnetwork_addresses = 0\nrate_factor = 0\n")
	if cfg.Correlate.NetworkAddresses != 0 || cfg.Correlate.RateFactor != 0 || cfg.Correlate.RecurrenceDays != 10 {
		t.Errorf("correlate = %+v", cfg.Correlate)
	}
}

func correlatePipeline(t *testing.T, extra string) *Pipeline {
	t.Helper()
	dir := t.TempDir()
	cfg := parseTestConfig(t, "a.toml", fmt.Sprintf("[[source]]\nfiles = [\"/x\"]\n[reporter]\nname = \"Test Admin\"\n[mail]\nfrom = \"a@example.org\"\ntransport = \"maildir\"\nmaildir = %q\n[store]\npath = %q\n[[contact]]\nnetwork = \"0.0.0.0/0\"\nemails = [\"abuse@example.net\"]\n%s",
		filepath.Join(dir, "maildir"), filepath.Join(dir, "state.db"), extra))
	p, err := NewPipeline(cfg, openTestStore(t, cfg), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// (It named port-probe reportable, to show that the packets' forgeability alone keeps
// them in: check-config now refuses that, review 21b M1.)
func TestAdminOnlyIncidentsAreNeverReportedOutside(t *testing.T) {
	p := correlatePipeline(t, "[policy]\nmode = \"auto\"\nsettle = \"0s\"\n[correlate]\nnetwork_addresses = 3\n")
	t0 := time.Now().Add(-time.Hour)
	var evs []abusewatch.Event
	for i := range 3 { // spoofable: UDP packets from three addresses of one /24
		evs = append(evs, abusewatch.Event{Time: t0.Add(time.Duration(i) * time.Second), Class: "port-probe", Proto: "UDP",
			Addr: netip.MustParseAddr(fmt.Sprintf("94.102.61.%d", 1+i)), Host: "fw1", LocalPort: 53})
	}
	stored, err := p.store.Commit(evs, nil)
	if err != nil {
		t.Fatal(err)
	}
	incs, err := p.correlator.Correlate(t.Context(), stored)
	if err != nil || len(incs) != 1 || !incs[0].AdminOnly {
		t.Fatalf("incidents = %+v, %v; want one admin-only network incident", incs, err)
	}
	if err := p.store.PutIncidents(incs); err != nil {
		t.Fatal(err)
	}
	if err := p.Report(t.Context(), time.Now()); err != nil {
		t.Fatal(err)
	}
	if reports, _ := p.store.Reports(); len(reports) != 0 {
		t.Errorf("an admin-only incident was reported: %+v", reports)
	}
}

func TestRecorrelateRangeAppliesNewRulesAndCountsOnlyChanges(t *testing.T) {
	old := correlatePipeline(t, "[correlate]\nnetwork_addresses = 0\n")
	t0 := time.Now().Add(-48 * time.Hour)
	var evs []abusewatch.Event
	for i := range 12 {
		evs = append(evs, abusewatch.Event{Time: t0.Add(time.Duration(i) * time.Minute), Class: abusewatch.ClassAuthFailure,
			Addr: netip.MustParseAddr(fmt.Sprintf("45.134.26.%d", 1+i)), Port: 40000, Service: "sshd", Host: "web1"})
	}
	if _, err := old.store.Commit(evs, nil); err != nil {
		t.Fatal(err)
	}
	// The same store under a config with the network rule on.
	cfg := *old.cfg
	cfg.Correlate.NetworkAddresses = 10
	p, err := NewPipeline(&cfg, old.store, old.log)
	if err != nil {
		t.Fatal(err)
	}
	n, err := p.RecorrelateRange(t.Context(), t0.Add(-time.Hour), time.Now())
	if err != nil || n != 1 {
		t.Fatalf("RecorrelateRange = %d, %v; want 1 new incident", n, err)
	}
	// Again over the same events: the incident is rebuilt as it was, which is no news.
	if n, err := p.RecorrelateRange(t.Context(), t0.Add(-time.Hour), time.Now()); err != nil || n != 0 {
		t.Errorf("second RecorrelateRange = %d, %v; want 0", n, err)
	}
}

// The summary of a re-correlation lists the newest incidents it changed, at most a
// limit, oldest of them first; those that end at the same time in the order of their
// IDs. They are picked as they come, not from a sort of all.
func TestRecorrelatedListsTheNewestChanged(t *testing.T) {
	p := correlatePipeline(t, "[correlate]\nnetwork_addresses = 0\n")
	p.RecordChanges()
	t0 := time.Now().Add(-48 * time.Hour).Truncate(time.Second)
	var evs []abusewatch.Event
	for i := range 9 { // one incident per address; pairs of them end at the same time
		end := t0.Add(time.Duration(i/2) * time.Hour)
		for k := range 5 {
			evs = append(evs, abusewatch.Event{Time: end.Add(-time.Duration(4-k) * time.Second), Class: abusewatch.ClassAuthFailure,
				Addr: netip.MustParseAddr(fmt.Sprintf("45.134.26.%d", 1+i)), Port: uint16(40000 + k), Service: "sshd", Host: "web1"})
		}
	}
	if _, err := p.store.Commit(evs, nil); err != nil {
		t.Fatal(err)
	}
	if n, err := p.RecorrelateRange(t.Context(), t0.Add(-time.Hour), time.Now()); err != nil || n != 9 {
		t.Fatalf("RecorrelateRange = %d, %v; want 9 new incidents", n, err)
	}
	ids := slices.SortedFunc(maps.Keys(p.passed), func(a, b string) int {
		return cmp.Or(p.passed[a].last.Compare(p.passed[b].last), strings.Compare(b, a))
	}) // oldest first, as Newest lists them
	for _, limit := range []int{0, 1, 2, 3, 8, 9, 50} {
		sum, err := p.Recorrelated(limit)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, inc := range sum.Newest {
			got = append(got, inc.ID)
		}
		if want := ids[len(ids)-min(limit, len(ids)):]; !slices.Equal(got, want) || sum.Changed != 9 {
			t.Errorf("limit %d: newest %v of %d changed; want %v of 9", limit, got, sum.Changed, want)
		}
	}
}

func TestRetainDeletesOldEventsAndKeepsTheirCounters(t *testing.T) {
	p := correlatePipeline(t, "")
	now := time.Now()
	evs := []abusewatch.Event{
		{Time: now.Add(-31 * day), Class: abusewatch.ClassAuthFailure, Addr: netip.MustParseAddr("45.134.26.17")},
		{Time: now.Add(-time.Hour), Class: abusewatch.ClassAuthFailure, Addr: netip.MustParseAddr("45.134.26.17")},
	}
	if _, err := p.store.Commit(evs, nil); err != nil {
		t.Fatal(err)
	}
	// An incident that ended more than [retention] incidents ago goes; a recent one stays.
	a := netip.MustParseAddr("45.134.26.17")
	old := abusewatch.Incident{ID: "old", Key: "ip:45.134.26.17", Addr: a, First: now.Add(-402 * day), Last: now.Add(-401 * day), Count: 5}
	recent := abusewatch.Incident{ID: "recent", Key: "ip:45.134.26.17", Addr: a, First: now.Add(-2 * day), Last: now.Add(-day), Count: 5}
	if err := p.store.PutIncidents([]abusewatch.Incident{old, recent}); err != nil {
		t.Fatal(err)
	}
	// An unknown-record shape last seen as long ago goes too; a recent one stays.
	if err := p.store.AddShapes([]store.Shape{{Shape: "old <N>", Count: 1, First: evs[0].Time, Last: evs[0].Time},
		{Shape: "new <N>", Count: 1, First: evs[1].Time, Last: evs[1].Time}}); err != nil {
		t.Fatal(err)
	}
	// The mail of a report sent longer than [retention] reports ago goes, the report
	// stays; a recent one's, and a queued one's however old, stay.
	for _, r := range []abusewatch.Report{
		{ID: "sent-long-ago", State: abusewatch.ReportSent, Updated: now.Add(-401 * day), Message: []byte("Subject: old\r\n\r\nold")},
		{ID: "sent-lately", State: abusewatch.ReportSent, Updated: now.Add(-day), Message: []byte("Subject: new\r\n\r\nnew")},
		{ID: "queued-long", State: abusewatch.ReportQueued, Updated: now.Add(-401 * day), Message: []byte("Subject: q\r\n\r\nq")},
	} {
		if _, err := p.store.AddReport(r); err != nil {
			t.Fatal(err)
		}
	}
	var logged []string
	if err := Retain(t.Context(), p.store, p.cfg.Retention, p.cfg.Correlate, now, func(msg string, _ ...any) { logged = append(logged, msg) }); err != nil {
		t.Fatal(err)
	}
	if n, _ := p.store.EventCount(); n != 1 || len(logged) != 1 {
		t.Errorf("%d events left (want 1), logged %q", n, logged)
	}
	if shapes, err := p.store.Shapes(time.Time{}, 0); err != nil || len(shapes) != 1 || shapes[0].Shape != "new <N>" {
		t.Errorf("shapes after retention: %+v, %v; want the recent one", shapes, err)
	}
	if incs, _, err := p.store.IncidentsSince(time.Time{}, 0); err != nil || len(incs) != 1 || incs[0].ID != "recent" {
		t.Errorf("incidents after retention: %d, %v; want the recent one", len(incs), err)
	}
	days, _ := p.store.Days(netip.MustParsePrefix("45.134.26.17/32"), now.Add(-40*day), now)
	if len(days) != 2 {
		t.Errorf("the counters of the deleted event went too: %+v", days)
	}
	for id, keep := range map[string]bool{"sent-long-ago": false, "sent-lately": true, "queued-long": true} {
		r, ok, err := p.store.Report(id)
		if err != nil || !ok || (len(r.Message) > 0) != keep {
			t.Errorf("report %s: found %v, %d bytes of mail (%v); want the report, and its mail %v", id, ok, len(r.Message), err, keep)
		}
	}
}

func TestQueryNetworkShowsCountersBeyondRawRetention(t *testing.T) {
	p := correlatePipeline(t, "")
	now := time.Now()
	a := netip.MustParseAddr("45.134.26.17")
	evs := []abusewatch.Event{
		{Time: now.Add(-100 * day), Class: abusewatch.ClassAuthFailure, Addr: a},
		{Time: now.Add(-100 * day), Class: abusewatch.ClassInvalidUser, Addr: a},
		{Time: now.Add(-time.Hour), Class: abusewatch.ClassAuthFailure, Addr: a},
	}
	if _, err := p.store.Commit(evs, nil); err != nil {
		t.Fatal(err)
	}
	if err := Retain(t.Context(), p.store, p.cfg.Retention, p.cfg.Correlate, now, func(string, ...any) {}); err != nil {
		t.Fatal(err)
	}
	for _, net := range []string{"45.134.26.17/32", "45.134.26.0/24"} {
		info, err := QueryNetwork(p.store, netip.MustParsePrefix(net), now.Add(-180*day), now, time.UTC, nil)
		if err != nil {
			t.Fatal(err)
		}
		if info.Events != 1 || info.CountedEvents != 2 || len(info.CountedByDay) != 1 || info.CountedByDay[0].ByClass["invalid-user"] != 1 {
			t.Errorf("%s: %d raw events, %d counted (%+v); want 1 raw and 2 counted on one day", net, info.Events, info.CountedEvents, info.CountedByDay)
		}
		if info.KnownFrom != nil {
			t.Errorf("%s: nothing is said unknown before %s, and the counters were never pruned", net, info.KnownFrom)
		}
	}
	// Past [retention] counters, nothing is known: the days before read as quiet ones
	// beside the incidents of them, and the answer says they are not.
	keptFrom := now.Add(-50 * day)
	if _, err := p.store.PruneCounters(t.Context(), keptFrom, 0); err != nil {
		t.Fatal(err)
	}
	info, err := QueryNetwork(p.store, netip.MustParsePrefix("45.134.26.17/32"), now.Add(-180*day), now, time.UTC, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := keptFrom.UTC().Truncate(24 * time.Hour); info.KnownFrom == nil || !info.KnownFrom.Equal(want) || info.CountedEvents != 0 {
		t.Errorf("after the counters before %s went: known from %v, %d counted; want known from %s, none counted", want, info.KnownFrom, info.CountedEvents, want)
	}
	if info, err := QueryNetwork(p.store, netip.MustParsePrefix("45.134.26.17/32"), now.Add(-10*day), now, time.UTC, nil); err != nil || info.KnownFrom != nil {
		t.Errorf("a range within what is kept: known from %v (%v); want nothing said", info.KnownFrom, err)
	}
}

// seenIncidents keeps every ID as given: those the rules make (16 lowercase hex digits)
// under their number, any other under itself.
func TestSeenIncidentsKeepEveryID(t *testing.T) {
	all := &seenIncidents{byNumber: map[uint64]seenIncident{}, byString: map[string]seenIncident{}}
	ids := []string{"00a4fc6c6050dd21", "f7a4fc6c6050dd21", "F7A4FC6C6050DD21", "f7a4fc6c6050dd2", "legacy-1", "",
		"0123456789abcdef", "0123456789abcdeg", "0x23456789abcdef", "0123456789abcde:", "0123456789abcde/"}
	for i, id := range ids {
		all.set(id, seenIncident{after: uint64(i + 1), rule: all.ruleNumber([]string{"network", "recurrence"}[i%2])})
	}
	got := map[string]seenIncident{}
	all.each(func(id string, s seenIncident) { got[id] = s })
	if len(got) != len(ids) {
		t.Fatalf("each gave %d IDs, want %d: %v", len(got), len(ids), got)
	}
	for i, id := range ids {
		if s, ok := all.get(id); !ok || s.after != uint64(i+1) || got[id] != s || all.rules[s.rule] != []string{"network", "recurrence"}[i%2] {
			t.Errorf("%q: get = %+v, %v; each = %+v", id, s, ok, got[id])
		}
	}
	if len(all.byNumber) != 3 {
		t.Errorf("%d IDs kept as numbers, want the three of 16 lowercase hex digits", len(all.byNumber))
	}
}

// QueryNetwork reads the two halves of its time at once; its counts are those of a
// plain count of the events, whichever half they fall in, the boundary hour included.
// Its days are those of the zone it is given (New York, across the end of summer time).
func TestQueryNetworkCountsAgreeWithAPlainCount(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip(err)
	}
	p := correlatePipeline(t, "")
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	since := now.Add(-20 * day)
	mid := since.Add(now.Sub(since) / 2).Truncate(time.Hour)
	r := rand.New(rand.NewPCG(5, 6))
	byClass, byDay, byAddr := map[string]int{}, map[string]int{}, map[string]int{}
	var evs []abusewatch.Event
	for i := range 3000 {
		at := since.Add(time.Duration(r.Int64N(int64(now.Sub(since)))))
		if i%10 == 0 {
			at = mid.Add(time.Duration(r.IntN(7200)-3600) * time.Second) // either side of the boundary
		}
		e := abusewatch.Event{Time: at, Class: []abusewatch.Class{abusewatch.ClassAuthFailure, abusewatch.ClassInvalidUser}[r.IntN(2)],
			Addr: netip.AddrFrom4([4]byte{45, 134, 26, byte(r.IntN(40))}), Host: "web1"}
		evs = append(evs, e)
		byClass[string(e.Class)]++
		byDay[e.Time.In(ny).Format(time.DateOnly)]++
		byAddr[e.Addr.String()]++
	}
	slices.SortFunc(evs, func(a, b abusewatch.Event) int { return a.Time.Compare(b.Time) })
	if _, err := p.store.Commit(evs, nil); err != nil {
		t.Fatal(err)
	}
	info, err := QueryNetwork(p.store, netip.MustParsePrefix("45.134.26.0/24"), since, now, ny, nil)
	if err != nil {
		t.Fatal(err)
	}
	if info.Events != len(evs) || !maps.Equal(info.ByClass, byClass) || info.Hosts["web1"] != len(evs) {
		t.Errorf("%d events, by class %v; want %d, %v", info.Events, info.ByClass, len(evs), byClass)
	}
	gotDays := map[string]int{}
	for _, d := range info.ByDay {
		for _, n := range d.ByClass {
			gotDays[d.Day] += n
		}
	}
	if !maps.Equal(gotDays, byDay) {
		t.Errorf("by day %v, want %v", gotDays, byDay)
	}
	for _, a := range info.Addresses {
		if byAddr[a.Addr] != a.Events {
			t.Errorf("%s: %d events, want %d", a.Addr, a.Events, byAddr[a.Addr])
		}
	}
	if info.Last == nil || !info.Last.Time.Equal(evs[len(evs)-1].Time) {
		t.Errorf("the newest event is %v, want one at %s", info.Last, evs[len(evs)-1].Time)
	}
}

// The daemon's pipeline keeps no list of the incidents it made or changed (it would grow
// for as long as the daemon runs); the one-shot commands ask for it with RecordChanges.
func TestOnlyARecordingPipelineRemembersItsIncidents(t *testing.T) {
	t0 := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	var recs []abusewatch.Record
	for i := range 6 {
		recs = append(recs, abusewatch.Record{Source: "/x", Read: t0, Line: fmt.Sprintf(
			"%s web1 sshd[%d]: Failed password for root from 45.134.26.7 port %d ssh2", t0.Add(time.Duration(i)*time.Second).Format(time.RFC3339), 100+i, 40000+i)})
	}
	for _, record := range []bool{false, true} {
		p := correlatePipeline(t, "")
		if record {
			p.RecordChanges()
		}
		if err := p.Ingest(t.Context(), recs, nil); err != nil {
			t.Fatal(err)
		}
		if n := p.Counters.Incidents.Load(); n != 1 {
			t.Fatalf("%d incidents, want 1", n)
		}
		// Events stored without being judged (as by a crash between the two): the pass
		// grows the incident with them.
		more := abusewatch.Event{Time: t0.Add(time.Minute), Class: abusewatch.ClassAuthFailure, Addr: netip.MustParseAddr("45.134.26.7"),
			Port: 41000, Service: "sshd", Host: "web1", Line: "web1 sshd[200]: Failed password for root from 45.134.26.7 port 41000 ssh2"}
		if _, err := p.store.Commit([]abusewatch.Event{more}, nil); err != nil {
			t.Fatal(err)
		}
		q, err := NewPipeline(p.cfg, p.store, p.log)
		if err != nil {
			t.Fatal(err)
		}
		if record {
			q.RecordChanges()
		}
		if _, err := q.RecorrelateRange(t.Context(), t0.Add(-time.Hour), time.Now()); err != nil {
			t.Fatal(err)
		}
		touched, err := p.Touched(time.Now())
		if err != nil {
			t.Fatal(err)
		}
		sum, err := q.Recorrelated(10)
		if err != nil {
			t.Fatal(err)
		}
		if record && (len(touched) != 1 || sum.Changed != 1) || !record && (len(p.touched)+len(q.touched)+len(q.passed) != 0 || sum.Changed != 0) {
			t.Errorf("recording %v: %d touched, %d recorrelated; maps %d %d %d", record, len(touched), sum.Changed, len(p.touched), len(q.touched), len(q.passed))
		}
	}
}

// A network's incident names one of its addresses, the one it is looked up through:
// asked about another address of the network, or a smaller network in it, `ip` and `net`
// still show it, as they do for a network around it; asked about another, not.
func TestQueryNetworkShowsTheIncidentsOfTheNetworksAround(t *testing.T) {
	p := correlatePipeline(t, "")
	first := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	inc := networkAttack(t, p.store, "45.134.26.0/24", []string{"45.134.26.7", "45.134.26.18", "45.134.26.200"}, first)
	for q, want := range map[string]bool{"45.134.26.18/32": true, "45.134.26.128/25": true, "45.134.26.7/32": true,
		"45.134.26.0/24": true, "45.134.0.0/16": true, "45.134.27.1/32": false, "45.135.0.0/16": false} {
		info, err := QueryNetwork(p.store, netip.MustParsePrefix(q), first.Add(-day), first.Add(day), time.UTC, nil)
		if err != nil {
			t.Fatal(err)
		}
		got := slices.ContainsFunc(info.Incidents, func(i IncidentInfo) bool { return i.ID == inc.ID })
		if got != want || (want && info.IncidentsTotal != 1) {
			t.Errorf("%s: shows the /24's incident %v (%d in all), want %v", q, got, info.IncidentsTotal, want)
		}
	}
	if info, err := QueryNetwork(p.store, netip.MustParsePrefix("45.134.26.18/32"), first.Add(2*time.Hour), first.Add(day), time.UTC, nil); err != nil || len(info.Incidents) != 0 {
		t.Errorf("since after its end: %d incidents (%v), want none", len(info.Incidents), err)
	}
}
