package daemon

// The daily summary's period and counts, with the real pipeline (detect, store,
// correlate, outbox, maildir) and a clock the test sets: each summary covers what
// happened since the last one ended, once.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/mailer"
	"github.com/abusewatch/abusewatch/store"
)

// periodLog is the file the period tests' lines come from: a configured source.
const periodLog = "/var/log/abusewatch-test-auth.log"

// periodPipeline is a pipeline in mode with summaries at 07:00 Berlin (06:00Z), static
// contacts for the test networks and periodLog as its source; extra is appended to the
// config.
func periodPipeline(t *testing.T, mode, extra string) (*Pipeline, *Config) {
	t.Helper()
	dir := t.TempDir()
	doc := `
[[source]]
files = ["` + periodLog + `"]

[reporter]
name = "Sam Example"
organisation = "Example Hosting Ltd"
email = "security@example.org"
timezone = "Europe/Berlin"

[detect]
timezone = "UTC"

[correlate]
threshold = 5
window = "10m"

[lookup]
rdap = false
resolvers = ["127.0.0.1:1"]
timeout = "100ms"

[[contact]]
network = "45.134.26.0/24"
emails = ["abuse@hostco.example"]

[[contact]]
network = "81.2.69.0/24"
emails = ["abuse@broadband.example"]

[mail]
transport = "maildir"
maildir = "` + filepath.Join(dir, "maildir") + `"
from = "abusewatch@example.org"
admin = "root@example.org"

[policy]
settle = "0s"
mode = "` + mode + `"
cooldown = "0s"

[summary]
time = "07:00"

[store]
path = "` + filepath.Join(dir, "state.db") + `"
` + extra
	cfg := parseTestConfig(t, "/etc/abusewatch/abusewatch.toml", doc)
	p, err := NewPipeline(cfg, openTestStore(t, cfg), discardLog())
	if err != nil {
		t.Fatal(err)
	}
	return p, cfg
}

// periodFeed reads lines of periodLog into p as the daemon does: the events with the
// file's position after them. Each line is "TIME TEXT" with TIME in RFC 3339.
type periodFeed struct {
	p   *Pipeline
	off int64
}

func (f *periodFeed) lines(t *testing.T, lines ...string) {
	t.Helper()
	var recs []abusewatch.Record
	for _, l := range lines {
		f.off += int64(len(l) + 1)
		recs = append(recs, abusewatch.Record{Source: periodLog, Line: l, Offset: f.off})
	}
	pos := []store.Position{{Source: periodLog, Dev: 1, Inode: 2, Offset: f.off}}
	if err := f.p.Ingest(t.Context(), recs, pos); err != nil {
		t.Fatal(err)
	}
}

// failedLogins are n failed logins from addr, one a minute from at.
func failedLogins(addr string, at time.Time, n int) []string {
	var out []string
	for i := range n {
		ts := at.Add(time.Duration(i) * time.Minute).UTC().Format(time.RFC3339)
		out = append(out, fmt.Sprintf("%s web1 sshd[%d]: Failed password for root from %s port %d ssh2", ts, 100+i, addr, 40000+i))
	}
	return out
}

// unknownLine is a record no rule knows, logged at at.
func unknownLine(at time.Time) string {
	return at.UTC().Format(time.RFC3339) + " web1 frobd[7]: frobnication level 3 exceeded on eth0"
}

// sentSummaries returns the text of each summary in maildir, the oldest first (by
// their periods: the files' names are not in order).
func sentSummaries(t *testing.T, maildir string) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(maildir, "new", "*"))
	var out []string
	for _, f := range files {
		msg, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(msg), "Message-Id: <summary-") {
			continue
		}
		text, _, _ := summaryParts(t, msg)
		out = append(out, text)
	}
	period := func(text string) string { return strings.SplitN(text, "\n", 3)[1] }
	sort.Slice(out, func(i, j int) bool { return period(out[i]) < period(out[j]) })
	return out
}

// section is the part of a summary's text from the line starting with head to the next
// section's head (a line in capitals after an empty line).
func section(text, head string) string {
	i := strings.Index(text, "\n"+head)
	if i < 0 {
		return ""
	}
	s := text[i+1:]
	if j := regexp.MustCompile(`\n\n[A-Z]`).FindStringIndex(s[1:]); j != nil {
		s = s[:j[0]+1]
	}
	return s
}

// refusingRelay fails every delivery while down, as a relay that refuses connections.
type refusingRelay struct {
	next mailer.Transport
	down bool
}

func (r *refusingRelay) Deliver(ctx context.Context, rep abusewatch.Report) (string, error) {
	if r.down {
		return "", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}
	}
	return r.next.Deliver(ctx, rep)
}

func utc(d, h, m int) time.Time { return time.Date(2026, 11, d, h, m, 0, 0, time.UTC) }

// A summary delayed by the relay (down over summary.time, back three hours later) and
// the next, on time: the second starts where the first ended, so the attack of the
// hours between is in one of them only.
func TestSummaryAfterADelayedOneStartsWhereItEnded(t *testing.T) {
	p, cfg := periodPipeline(t, "auto", "")
	relay := &refusingRelay{next: p.transport}
	p.SetTransport(relay)
	feed := &periodFeed{p: p}
	tick := func(now time.Time) { _ = p.Tick(t.Context(), now) } // refused deliveries fail the round
	tick(utc(20, 6, 30))                                         // the schedule starts
	tick(utc(21, 6, 5))                                          // on time
	relay.down = true
	feed.lines(t, failedLogins("45.134.26.7", utc(22, 6, 30), 8)...)
	tick(utc(22, 6, 5))
	tick(utc(22, 7, 0))
	relay.down = false
	tick(utc(22, 9, 0)) // the relay is back: the report goes, and the summary
	tick(utc(23, 6, 5)) // on time

	sums := sentSummaries(t, cfg.Mail.Maildir)
	if len(sums) != 3 {
		t.Fatalf("%d summaries, want 3", len(sums))
	}
	if !strings.Contains(sums[1], "2026-11-21 07:05:00 +0100 to 2026-11-22 10:00:00 +0100") ||
		!strings.Contains(sums[1], "EVENTS: 8") || !strings.Contains(sums[1], "NEW INCIDENTS: 1") {
		t.Errorf("the delayed summary does not cover the attack:\n%s", sums[1])
	}
	if !strings.Contains(sums[2], "2026-11-22 10:00:00 +0100 to 2026-11-23 07:05:00 +0100") {
		t.Errorf("the next summary does not start where the delayed one ended:\n%s", sums[2])
	}
	if !strings.Contains(sums[2], "EVENTS: 0") || !strings.Contains(sums[2], "NEW INCIDENTS: 0") ||
		!strings.Contains(sums[2], "REPORTS: 0 sent") {
		t.Errorf("the next summary counts the delayed one's hours again:\n%s", sums[2])
	}
}

// One login after an attack makes one possible compromise, as the alert says; the
// attack's own incident stays among the new incidents, with its report.
func TestSummaryShowsOneLoginAsOneCompromise(t *testing.T) {
	p, cfg := periodPipeline(t, "observe", "")
	feed := &periodFeed{p: p}
	tick := ticker(t, p)
	tick(utc(21, 6, 30))
	feed.lines(t, failedLogins("81.2.69.5", utc(21, 8, 0), 7)...)
	tick(utc(21, 8, 20))
	feed.lines(t, utc(22, 2, 0).Format(time.RFC3339)+" web1 sshd[4242]: Accepted password for alice from 81.2.69.5 port 51234 ssh2")
	tick(utc(22, 2, 5))
	tick(utc(22, 6, 5))

	sums := sentSummaries(t, cfg.Mail.Maildir)
	if len(sums) != 1 {
		t.Fatalf("%d summaries, want 1", len(sums))
	}
	comp := section(sums[0], "POSSIBLE COMPROMISES")
	if n := strings.Count(comp, "Accepted password for alice"); n != 1 {
		t.Errorf("the login is shown as %d compromises, want 1:\n%s", n, sums[0])
	}
	// Its span ends the next day: the end says so.
	if !strings.Contains(comp, "to 2026-11-22 03:00:00 +0100") {
		t.Errorf("the compromise's span has no end date:\n%s", comp)
	}
	news := section(sums[0], "NEW INCIDENTS")
	if !strings.HasPrefix(news, "NEW INCIDENTS: 1") || !strings.Contains(news, "81.2.69.5") ||
		!strings.Contains(news, "report: held to abuse@broadband.example") {
		t.Errorf("the attack is not among the new incidents with its report:\n%s", sums[0])
	}
}

// The unknown-record shapes show how many records of each came in the period, and
// are ranked by that, not by all they ever counted.
func TestSummaryCountsTheShapesOfItsPeriod(t *testing.T) {
	p, cfg := periodPipeline(t, "observe", "")
	feed := &periodFeed{p: p}
	tick := ticker(t, p)
	tick(utc(20, 6, 30))
	cron := func(at time.Time) string {
		return at.UTC().Format(time.RFC3339) + " web1 backupd[9]: rotated the tapes in slot 4"
	}
	// Day one: five of an old shape; day two: one of it and two of a new one.
	feed.lines(t, cron(utc(20, 9, 0)), cron(utc(20, 9, 1)), cron(utc(20, 9, 2)), cron(utc(20, 9, 3)), cron(utc(20, 9, 4)))
	tick(utc(21, 6, 5))
	feed.lines(t, cron(utc(21, 9, 0)), unknownLine(utc(21, 9, 1)), unknownLine(utc(21, 9, 2)))
	tick(utc(22, 6, 5))

	sums := sentSummaries(t, cfg.Mail.Maildir)
	if len(sums) != 2 {
		t.Fatalf("%d summaries, want 2", len(sums))
	}
	if !strings.Contains(sums[0], "  5 x backupd") {
		t.Errorf("the first summary does not count 5 of the shape:\n%s", sums[0])
	}
	shapes := sums[1][strings.Index(sums[1], "UNKNOWN RECORDS"):]
	frob, backup := strings.Index(shapes, "  2 x frobd"), strings.Index(shapes, "  1 x backupd")
	if frob < 0 || backup < 0 || backup < frob {
		t.Errorf("the second summary does not show the period's counts, the most first:\n%s", shapes)
	}
}

// Reports held (observe mode) and rejected in the period are counted; a report that
// failed before the period is not counted in it.
func TestSummaryCountsTheReportsOfItsPeriod(t *testing.T) {
	p, cfg := periodPipeline(t, "observe", "")
	st := p.store
	now := utc(22, 6, 5)
	from := now.Add(-24 * time.Hour)
	add := func(id string, state abusewatch.ReportState, updated time.Time, problem string) {
		t.Helper()
		if _, err := st.AddReport(abusewatch.Report{ID: id, State: state, Incidents: []string{"i-" + id},
			Contact: abusewatch.Contact{Emails: []string{"abuse@hostco.example"}}, Created: updated.Add(-time.Hour),
			Updated: updated, Error: problem}); err != nil {
			t.Fatal(err)
		}
	}
	add("held-today-1", abusewatch.ReportHeld, now.Add(-3*time.Hour), "")
	add("held-today-2", abusewatch.ReportHeld, now.Add(-2*time.Hour), "")
	add("held-last-week", abusewatch.ReportHeld, now.Add(-7*24*time.Hour), "")
	add("rejected-today", abusewatch.ReportRejected, now.Add(-time.Hour), "the admin: a customer's scanner")
	add("failed-last-week", abusewatch.ReportFailed, now.Add(-6*24*time.Hour), "550 no such mailbox")
	text := summaryText(t, cfg, st, from, now)
	reports := section(text, "REPORTS:")
	for _, want := range []string{"0 sent, 2 held (observe mode", "0 failed, 1 rejected",
		"rejected-today  to abuse@hostco.example: rejected: the admin: a customer's scanner"} {
		if !strings.Contains(reports, want) {
			t.Errorf("the reports do not say %q:\n%s", want, reports)
		}
	}
}

// A configured source that read nothing in the period is named with a warning, and the
// summary does not call a day on which nothing was read a day of normal records.
func TestSummaryWarnsOfASourceThatReadNothing(t *testing.T) {
	p, cfg := periodPipeline(t, "observe", "")
	feed := &periodFeed{p: p}
	tick := ticker(t, p)
	tick(utc(20, 6, 30))
	feed.lines(t, failedLogins("45.134.26.7", utc(20, 9, 0), 2)...)
	tick(utc(21, 6, 5)) // the first summary with a mark
	feed.lines(t, failedLogins("45.134.26.7", utc(21, 9, 0), 3)...)
	tick(utc(22, 6, 5)) // read: 3 lines
	tick(utc(23, 6, 5)) // nothing read
	sums := sentSummaries(t, cfg.Mail.Maildir)
	if len(sums) != 3 {
		t.Fatalf("%d summaries, want 3", len(sums))
	}
	read := section(sums[1], "SOURCES")
	size := len(strings.Join(failedLogins("45.134.26.7", utc(21, 9, 0), 3), "\n")) + 1
	if want := fmt.Sprintf("%s: %d bytes read, 3 events, the last 2026-11-21 10:02:00 +0100", periodLog, size); !strings.Contains(read, want) {
		t.Errorf("the sources do not say %q:\n%s", want, sums[1])
	}
	silent := section(sums[2], "SOURCES")
	if want := periodLog + ": WARNING: read nothing in this period (nor since 2026-11-22 07:05:00 +0100)"; !strings.Contains(silent, want) {
		t.Errorf("the sources do not say %q:\n%s", want, sums[2])
	}
	if strings.Contains(sums[2], "every record was normal") || !strings.Contains(sums[2], "Nothing was read in this period") {
		t.Errorf("a day on which nothing was read is called normal:\n%s", sums[2])
	}
}

// A network incident split between two parties: the summary names each report's share
// (its party's network) and both reports on the incident's line.
func TestSummaryNamesEachPartysShareOfASplitReport(t *testing.T) {
	p, cfg := periodPipeline(t, "review", "")
	st := p.store
	now := utc(27, 6, 5)
	n := netip.MustParsePrefix("45.134.26.0/24")
	inc := abusewatch.Incident{ID: "i-net", Key: "net:" + n.String(), Rule: "per-network", Addr: netip.MustParseAddr("45.134.26.10"),
		Network: n, Classes: []abusewatch.Class{abusewatch.ClassAuthFailure}, First: utc(26, 8, 0), Last: utc(26, 9, 0),
		Count: 36, Attempts: 36, Hosts: []string{"web1"},
		Sources: []netip.Addr{netip.MustParseAddr("45.134.26.10"), netip.MustParseAddr("45.134.26.140"), netip.MustParseAddr("45.134.26.200")}}
	if err := st.PutIncidents([]abusewatch.Incident{inc}); err != nil {
		t.Fatal(err)
	}
	// Party B's report is told as its addresses' network, without the do-not-contact
	// 45.134.26.200 of its block (toldAs); its subject says so.
	for _, party := range []struct{ id, net, to, subject string }{
		{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "45.134.26.0/25", "abuse@party-a.example", "Abuse report: repeated SSH login attempts from 45.134.26.0/25"},
		{"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "45.134.26.128/25", "abuse@party-b.example", "Abuse report: repeated SSH login attempts from 45.134.26.140/31"},
	} {
		if _, err := st.AddReport(abusewatch.Report{ID: party.id, State: abusewatch.ReportPendingApproval, Incidents: []string{inc.ID}, Subject: party.subject,
			Contact: abusewatch.Contact{Network: netip.MustParsePrefix(party.net), Emails: []string{party.to}},
			Created: now.Add(-time.Hour), Updated: now.Add(-time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	text := summaryText(t, cfg, st, now.Add(-24*time.Hour), now)
	for _, re := range []string{`aaaa\S*  to abuse@party-a.example\n\s+about 45.134.26.0/25,`,
		`bbbb\S*  to abuse@party-b.example\n\s+about 45.134.26.140/31,`,
		`report: waiting for your approval \(aaaa\S*\); waiting for your approval \(bbbb\S*\)`} {
		if !regexp.MustCompile(re).MatchString(text) {
			t.Errorf("the summary does not match %s:\n%s", re, text)
		}
	}
}

// Lines of the last summary's period read after it was sent (a syslog sender's queue,
// a backlog that took longer than a round to read) make an incident of that period:
// the next summary shows it, new to the admin, though its events are of the period
// before.
func TestSummaryShowsAnIncidentReadAfterTheLastSummary(t *testing.T) {
	p, cfg := periodPipeline(t, "observe", "")
	feed := &periodFeed{p: p}
	tick := ticker(t, p)
	tick(utc(20, 6, 30))
	tick(utc(21, 6, 5))
	tick(utc(22, 9, 0)) // late: the daemon was stopped over 06:00Z
	// Then it reads what was logged while it was stopped.
	feed.lines(t, failedLogins("45.134.26.99", utc(22, 3, 0), 9)...)
	tick(utc(22, 9, 5))
	tick(utc(23, 6, 5))
	sums := sentSummaries(t, cfg.Mail.Maildir)
	if len(sums) != 3 {
		t.Fatalf("%d summaries, want 3", len(sums))
	}
	news := section(sums[2], "NEW INCIDENTS")
	if !strings.HasPrefix(news, "NEW INCIDENTS: 1") || !strings.Contains(news, "45.134.26.99") ||
		!strings.Contains(news, "report: held to abuse@hostco.example") || !strings.Contains(sums[2], "1 held") {
		t.Errorf("the incident read after the late summary is in no summary:\n%s", strings.Join(sums, "\n-----\n"))
	}
}

// An attack reported before a login came from its address is an attack in the summary,
// with its report, even when the login's own incident is of an earlier period: the
// alert went about that one.
func TestSummaryListsAReportedAttackWithALoginAsAnAttack(t *testing.T) {
	p, cfg := periodPipeline(t, "observe", "")
	st := p.store
	now := utc(22, 6, 5)
	a := netip.MustParseAddr("81.2.69.5")
	inc := abusewatch.Incident{ID: "i-attack", Key: "ip:81.2.69.5", Rule: "per-address", Addr: a, Network: netip.PrefixFrom(a, 32),
		Classes: []abusewatch.Class{abusewatch.ClassAuthFailure}, First: utc(21, 8, 0), Last: utc(21, 8, 6), Count: 7, Attempts: 7,
		Hosts: []string{"web1"}, Success: true}
	if err := st.PutIncidents([]abusewatch.Incident{inc}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddReport(abusewatch.Report{ID: "r-attack", State: abusewatch.ReportHeld, Incidents: []string{inc.ID},
		Contact: abusewatch.Contact{Emails: []string{"abuse@broadband.example"}}, Created: utc(21, 8, 10), Updated: utc(21, 8, 10)}); err != nil {
		t.Fatal(err)
	}
	sum, err := BuildSummarySince(cfg, st, nil, nil, now.Add(-24*time.Hour), now)
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Compromises) != 0 || len(sum.New) != 1 || sum.New[0].Reported != "held to abuse@broadband.example" {
		t.Errorf("compromises %+v, new incidents %+v: want the attack among the new incidents with its report", sum.Compromises, sum.New)
	}
}

// ticker is a function that runs the pipeline's Tick at now, failing the test on an
// error.
func ticker(t *testing.T, p *Pipeline) func(now time.Time) {
	return func(now time.Time) {
		t.Helper()
		if err := p.Tick(t.Context(), now); err != nil {
			t.Fatal(err)
		}
	}
}

// summaryText is the text part of the summary of the state database st from from to
// now, as mailed.
func summaryText(t *testing.T, cfg *Config, st *store.Store, from, now time.Time) string {
	t.Helper()
	sum, err := BuildSummarySince(cfg, st, nil, nil, from, now)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := mailer.ComposeSummary(sum, cfg.Mail.From, cfg.Mail.Admin, now)
	if err != nil {
		t.Fatal(err)
	}
	text, _, _ := summaryParts(t, msg)
	return text
}

// A login is a possible compromise in the summary of its period only: an address
// (without an abuse contact, so nothing is reported) that goes on attacking after it
// grows in the next summary as an attack, not as the same compromise again every
// morning.
func TestSummaryShowsACompromiseInThePeriodOfItsLogin(t *testing.T) {
	p, cfg := periodPipeline(t, "observe", "")
	feed := &periodFeed{p: p}
	tick := ticker(t, p)
	tick(utc(20, 6, 30))
	feed.lines(t, failedLogins("93.184.216.34", utc(21, 5, 0), 8)...)
	feed.lines(t, utc(21, 5, 50).Format(time.RFC3339)+" web1 sshd[4242]: Accepted password for alice from 93.184.216.34 port 51234 ssh2")
	tick(utc(21, 6, 5))
	feed.lines(t, failedLogins("93.184.216.34", utc(21, 9, 0), 8)...) // the attack goes on
	tick(utc(21, 9, 30))
	tick(utc(22, 6, 5))
	sums := sentSummaries(t, cfg.Mail.Maildir)
	if len(sums) != 2 {
		t.Fatalf("%d summaries, want 2", len(sums))
	}
	if n := strings.Count(section(sums[0], "POSSIBLE COMPROMISES"), "Accepted password for alice"); n != 1 {
		t.Errorf("the first summary shows the login %d times, want once:\n%s", n, sums[0])
	}
	if strings.Contains(sums[1], "POSSIBLE COMPROMISE") {
		t.Errorf("the next summary shows the same login as a possible compromise again:\n%s", sums[1])
	}
	if news := section(sums[1], "NEW INCIDENTS"); !strings.Contains(news, "93.184.216.34") {
		t.Errorf("the next summary does not show the attack that went on:\n%s", sums[1])
	}
}

// The summary names each host the syslog listener passed messages on from, and warns of
// one that sent nothing in its period, across a restart too (the last summary's mark
// remembers the senders): a fleet whose rsyslog stopped forwarding is not a quiet day.
func TestSummaryWarnsOfASyslogSenderThatSentNothing(t *testing.T) {
	p, cfg := periodPipeline(t, "observe", "[syslog]\nudp = [\"127.0.0.1:5514\"]\nallow = [\"127.0.0.0/8\"]\n")
	send := func(p *Pipeline, at time.Time, hosts ...string) {
		t.Helper()
		var recs []abusewatch.Record
		for _, h := range hosts {
			recs = append(recs, abusewatch.Record{Source: syslogSource, Read: at,
				Line: at.UTC().Format(time.RFC3339) + " " + h + " CRON[7]: (root) CMD (run-parts /etc/cron.hourly)"})
		}
		if err := p.Ingest(t.Context(), recs, nil); err != nil {
			t.Fatal(err)
		}
	}
	ticker(t, p)(utc(20, 6, 30))
	send(p, utc(20, 9, 0), "web1", "web2")
	ticker(t, p)(utc(21, 6, 5))
	// Restarted: what the process saw is gone, the summary's mark is not.
	q, err := NewPipeline(cfg, p.store, discardLog())
	if err != nil {
		t.Fatal(err)
	}
	send(q, utc(21, 9, 0), "web1")
	ticker(t, q)(utc(22, 6, 5))
	sums := sentSummaries(t, cfg.Mail.Maildir)
	if len(sums) != 2 {
		t.Fatalf("%d summaries, want 2", len(sums))
	}
	first, second := section(sums[0], "SOURCES"), section(sums[1], "SOURCES")
	for _, want := range []string{"syslog from web1: messages received", "syslog from web2: messages received"} {
		if !strings.Contains(first, want) {
			t.Errorf("the first summary's sources do not say %q:\n%s", want, sums[0])
		}
	}
	for _, want := range []string{"syslog from web1: messages received",
		"syslog from web2: WARNING: read nothing in this period (nor since 2026-11-20 10:00:00 +0100)"} {
		if !strings.Contains(second, want) {
			t.Errorf("the second summary's sources do not say %q:\n%s", want, sums[1])
		}
	}
}

// A day's summary keeps hourly bars when its round ran moments later than the day
// before (the ticker's jitter: 24h and 40ms made 2-hour bars and "Since 25h" about
// every other day) and on a DST day of 25 hours; a late summary of a week has 7-hour
// bars. Every event is in a bar, the one in the sliver past the last whole hour too.
func TestSummaryChartKeepsHourlyBarsForADayAndAMoment(t *testing.T) {
	p, cfg := periodPipeline(t, "observe", "")
	now := utc(22, 6, 2)
	for _, tc := range []struct {
		period      time.Duration
		hours, bars int
		since       string
	}{
		// The command's --since is the period's start rounded down: the minute of a
		// round that ran moments late is in it.
		{24 * time.Hour, 1, 24, "2026-11-21T07:02 --limit 0"},
		{24*time.Hour + 40*time.Millisecond, 1, 24, "2026-11-21T07:01 --limit 0"},
		{23 * time.Hour, 1, 23, "2026-11-21T08:02 --limit 0"},
		{25 * time.Hour, 1, 25, "2026-11-21T06:02 --limit 0"},
		{7 * 24 * time.Hour, 7, 24, "2026-11-15T07:02 --limit 0"},
	} {
		from := now.Add(-tc.period)
		last := abusewatch.Event{Time: now.Add(-time.Millisecond), Addr: netip.MustParseAddr("81.2.69.5"), Class: abusewatch.ClassAuthFailure,
			Host: "web1", Service: "sshd", Line: "web1 sshd[1]: Failed password for root from 81.2.69.5 port 4000 ssh2"}
		if _, err := p.store.Commit([]abusewatch.Event{last}, nil); err != nil {
			t.Fatal(err)
		}
		sum, err := BuildSummarySince(cfg, p.store, nil, nil, from, now)
		if err != nil {
			t.Fatal(err)
		}
		counted := 0
		for _, n := range sum.PerHour {
			counted += n
		}
		if sum.Hours != tc.hours || len(sum.PerHour) != tc.bars || sum.Since != tc.since || counted != sum.Events {
			t.Errorf("a period of %s: %d-hour bars, %d of them, since %s, %d of %d events charted; want %d-hour bars, %d, since %s, all",
				tc.period, sum.Hours, len(sum.PerHour), sum.Since, counted, sum.Events, tc.hours, tc.bars, tc.since)
		}
	}
}
