package daemon

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/mailer/mailtest"
)

// zonedPipeline is outboxPipeline's pipeline (review mode, hostco's contact) with
// reporter.timezone set to zone.
func zonedPipeline(t *testing.T, server, zone string) *Pipeline {
	t.Helper()
	dir := t.TempDir()
	doc := fmt.Sprintf(`
[reporter]
name = "Sam Example"
email = "security@example.org"
timezone = %q

[lookup]
rdap = false
resolvers = ["127.0.0.1:1"]
timeout = "100ms"

[[contact]]
network = "45.134.26.0/24"
emails = ["abuse@hostco.example"]

[mail]
transport = "smtp"
server = %q
tls = "none"
timeout = "10s"
from = "abusewatch@example.org"
helo_name = "gw.example.org"

[policy]
settle = "0s"
mode = "review"

[store]
path = %q
`, zone, server, filepath.Join(dir, "state.db"))
	cfg := parseTestConfig(t, filepath.Join(dir, "abusewatch.toml"), doc)
	st := openTestStore(t, cfg)
	p, err := NewPipeline(cfg, st, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// report preview says in whole sentences what would become of a report, with every
// time in reporter.timezone. It read "This report every incident from this address is
// reported already; this is how the newest one read. would wait for your approval
// (review mode), then wait until 2026-12-13 22:38 +0100: cooldown: … on 2026-12-06
// 21:38 +0000": a fate for a report never written, and two zones.
func TestPreviewSaysTheFateInSentencesAndTheReportersZone(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	p := zonedPipeline(t, srv.Addr, "Asia/Tokyo") // +0900 all year
	st := p.store
	first := attack(t, st, "45.134.26.7", t0, 20)
	if err := p.Tick(t.Context(), t0); err != nil {
		t.Fatal(err)
	}
	pending := reportsIn(t, st, abusewatch.ReportPendingApproval)
	if len(pending) != 1 {
		t.Fatalf("%d reports pending, want 1", len(pending))
	}
	approve(t, st, pending[0].ID)
	sentAt := t0.Add(time.Minute)
	if err := p.Tick(t.Context(), sentAt); err != nil {
		t.Fatal(err)
	}
	srv.Next(t)

	// Every incident of 45.134.26.7 is reported: nothing new, no fate.
	pv, err := PreviewReport(t.Context(), p.cfg, st, nil, first.Addr, sentAt.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(pv.Fate, "Nothing new would be written: every incident from 45.134.26.7 has a report already") ||
		!strings.Contains(pv.Fate, pending[0].ID[:12]+", sent") || pv.ReportedIn != pending[0].ID ||
		strings.Contains(pv.Fate, "approval") || strings.Contains(pv.Fate, "would wait") {
		t.Errorf("preview of an address reported already: %+q (reported in %q)", pv.Fate, pv.ReportedIn)
	}

	// A new attacker of the same network waits for hostco's cooldown: the round writes
	// no report to hostco before it ends (its incidents join the next, which then waits
	// for approval); both times in Tokyo's zone.
	second := attack(t, st, "45.134.26.8", t0.Add(time.Hour), 10)
	pv, err = PreviewReport(t.Context(), p.cfg, st, nil, second.Addr, t0.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	until := sentAt.Add(7 * 24 * time.Hour).In(tokyo).Format("2006-01-02 15:04 -0700")
	was := sentAt.In(tokyo).Format("2006-01-02 15:04 -0700")
	want := "It would not be written before " + until + " (cooldown: abuse@hostco.example had a report on " + was +
		"): these incidents join the party's next report then, which waits for your approval (review mode). Below, how it would read now."
	if pv.Fate != want {
		t.Errorf("preview during the cooldown:\n got %q\nwant %q", pv.Fate, want)
	}
	if strings.Contains(pv.Fate, "+0000") {
		t.Errorf("the fate mixes zones: %q", pv.Fate)
	}
	srv.Nothing(t)
}

// A report ID must be at least 6 characters long: a shorter one is said to be so, not
// "no report".
func TestAShortReportIDIsSaidToBeShort(t *testing.T) {
	p, st, _ := outboxPipeline(t, "127.0.0.1:1", "review", parties[:1], "")
	attack(t, st, "45.134.26.7", t0, 20)
	if err := p.Tick(t.Context(), t0); err != nil {
		t.Fatal(err)
	}
	id := reportsIn(t, st)[0].ID
	if _, _, err := FindReport(st, id[:5]); err == nil || !strings.Contains(err.Error(), "at least 6 characters") {
		t.Errorf("FindReport(%q) = %v; want too short", id[:5], err)
	}
	if r, ok, err := FindReport(st, id[:6]); err != nil || !ok || r.ID != id {
		t.Errorf("FindReport(%q) = %v, %v, %v", id[:6], r.ID, ok, err)
	}
}

// approve and reject check every ID before they change any report: a mistyped one
// among several changes nothing and is named.
func TestApproveWithOneUnknownIDChangesNothing(t *testing.T) {
	p, st, _ := outboxPipeline(t, "127.0.0.1:1", "review", parties, "")
	attack(t, st, "45.134.26.7", t0, 20)
	attack(t, st, "185.220.100.7", t0, 20)
	if err := p.Tick(t.Context(), t0); err != nil {
		t.Fatal(err)
	}
	rs := reportsIn(t, st, abusewatch.ReportPendingApproval)
	if len(rs) != 2 {
		t.Fatalf("%d reports pending, want 2", len(rs))
	}
	for _, change := range []func([]string) (ReportsChanged, error){
		func(ids []string) (ReportsChanged, error) { return ApproveReports(p.cfg, st, ids, false, t0) },
		func(ids []string) (ReportsChanged, error) { return RejectReports(st, ids, t0) },
	} {
		done, err := change([]string{rs[0].ID, "ffffffffff", rs[1].ID[:8]})
		if len(done.Changed) != 0 || err == nil || !strings.Contains(err.Error(), `no report "ffffffffff"`) || !strings.Contains(err.Error(), "No report was changed") {
			t.Errorf("with an unknown ID: done %v, %v", done, err)
		}
		if n := len(reportsIn(t, st, abusewatch.ReportPendingApproval)); n != 2 {
			t.Errorf("%d reports still pending, want both", n)
		}
	}
	// The same report named twice (in full and by a prefix) is approved once.
	done, err := ApproveReports(p.cfg, st, []string{rs[0].ID, rs[0].ID[:7]}, false, t0)
	if err != nil || len(done.Changed) != 1 {
		t.Errorf("approving one report named twice: %v, %v", done, err)
	}
	// Approved again (a script run twice), it is queued already: not an error, and it
	// says so; the other report, named with it, is approved.
	done, err = ApproveReports(p.cfg, st, []string{rs[0].ID, rs[1].ID}, false, t0)
	if err != nil || !slices.Equal(done.Already, []string{rs[0].ID}) || !slices.Equal(done.Changed, []string{rs[1].ID}) {
		t.Errorf("approving a queued report again: %+v, %v; want it already, the other changed", done, err)
	}
	done, err = RejectReports(st, []string{rs[0].ID}, t0)
	if err != nil || len(done.Changed) != 1 {
		t.Errorf("rejecting a queued report: %+v, %v", done, err)
	}
	done, err = RejectReports(st, []string{rs[0].ID}, t0)
	if err != nil || !slices.Equal(done.Already, []string{rs[0].ID}) || len(done.Changed) != 0 {
		t.Errorf("rejecting a rejected report again: %+v, %v", done, err)
	}
	if _, err = ApproveReports(p.cfg, st, []string{rs[0].ID}, false, t0); err == nil ||
		!strings.Contains(err.Error(), "is rejected: only a report that is pending-approval, failed, held or sent can be approved") {
		t.Errorf("approving a rejected report: %v", err)
	}
}

// --since reads a date, and a date and time without an offset, in the zone the
// commands show times in; an RFC 3339 time keeps its offset.
func TestParseSinceReadsLocalTimesInTheShownZone(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip(err)
	}
	now := time.Date(2026, 12, 6, 23, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"2026-12-06":                time.Date(2026, 12, 6, 0, 0, 0, 0, berlin),
		"2026-12-06T22:00:00":       time.Date(2026, 12, 6, 22, 0, 0, 0, berlin),
		"2026-12-06 22:00:00":       time.Date(2026, 12, 6, 22, 0, 0, 0, berlin),
		"2026-12-06T22:00":          time.Date(2026, 12, 6, 22, 0, 0, 0, berlin),
		"2026-07-01":                time.Date(2026, 7, 1, 0, 0, 0, 0, berlin), // summer time
		"2026-12-06T22:00:00Z":      time.Date(2026, 12, 6, 22, 0, 0, 0, time.UTC),
		"2026-12-06T22:00:00+05:00": time.Date(2026, 12, 6, 17, 0, 0, 0, time.UTC),
		"36h":                       now.Add(-36 * time.Hour),
		"7d":                        now.Add(-7 * 24 * time.Hour),
	} {
		got, err := ParseSince(in, now, berlin)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseSince(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseSince("yesterday", now, berlin); err == nil || !strings.Contains(err.Error(), "Europe/Berlin") {
		t.Errorf("ParseSince(yesterday) = %v; want an error naming the zone", err)
	}
}

// A --since later than now is refused, naming the value and now in the zone it was read
// in: every command would answer "nothing", and scan would skip and save past every line.
// A moment ahead (a clock a little off) is taken.
func TestParseSinceRefusesTheFuture(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip(err)
	}
	now := time.Date(2026, 12, 6, 21, 0, 0, 0, time.UTC)
	for _, in := range []string{"2027-01-01", "2026-12-06T23:00:00", "2026-12-06T21:10:00Z", "-5h"} {
		_, err := ParseSince(in, now, berlin)
		if err == nil || !strings.Contains(err.Error(), "in the future") || !strings.Contains(err.Error(), in) ||
			!strings.Contains(err.Error(), "2026-12-06 22:00 +0100 Europe/Berlin") {
			t.Errorf("ParseSince(%q) = %v; want it refused as in the future, with now in Berlin", in, err)
		}
	}
	if got, err := ParseSince("2026-12-06T21:01:00Z", now, berlin); err != nil || !got.Equal(now.Add(time.Minute)) {
		t.Errorf("ParseSince(a minute ahead) = %v, %v; want it taken (clock skew)", got, err)
	}
}
