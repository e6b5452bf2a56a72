package daemon

import (
	"bytes"
	"flag"
	"fmt"
	"image/png"
	"io"
	"log/slog"
	"mime"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/detect"
	"github.com/abusewatch/abusewatch/mailer"
	"github.com/abusewatch/abusewatch/mailer/mailtest"
	"github.com/abusewatch/abusewatch/store"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// seededStore is a store with a day of events, three incidents (one where a login
// succeeded) and reports in every state the summary counts.
func seededStore(t *testing.T, now time.Time) (*Config, *store.Store) {
	t.Helper()
	dir := t.TempDir()
	doc := `
[reporter]
name = "Sam Example"
timezone = "Europe/Berlin"

[mail]
transport = "maildir"
maildir = "` + filepath.Join(dir, "maildir") + `"
from = "abusewatch@example.org"
admin = "root@example.org"

[policy]
settle = "0s"
mode = "review"

[summary]
time = "07:00"
top = 3

[store]
path = "` + filepath.Join(dir, "state.db") + `"
`
	cfg := parseTestConfig(t, "/etc/abusewatch/abusewatch.toml", doc)
	st := openTestStore(t, cfg)

	var events []abusewatch.Event
	add := func(addr string, class abusewatch.Class, host string, first time.Time, n int, every time.Duration) {
		for i := range n {
			events = append(events, abusewatch.Event{Time: first.Add(time.Duration(i) * every), Class: class,
				Addr: netip.MustParseAddr(addr), Port: 40000, User: "root", Service: "sshd", Host: host, Line: "x"})
		}
	}
	add("45.134.26.7", abusewatch.ClassAuthFailure, "web1", now.Add(-20*time.Hour), 120, time.Minute)
	add("45.134.26.8", abusewatch.ClassInvalidUser, "web1", now.Add(-5*time.Hour), 40, 3*time.Minute)
	add("218.92.0.7", abusewatch.ClassAuthFailure, "mail", now.Add(-2*time.Hour), 30, time.Minute)
	add("218.92.0.7", abusewatch.ClassAuthSuccess, "mail", now.Add(-89*time.Minute), 1, 0)
	add("81.2.69.5", abusewatch.ClassAuthFailure, "web1\x1b[31m", now.Add(-30*time.Hour), 10, time.Minute) // before the period
	if _, err := st.Commit(events, nil); err != nil {
		t.Fatal(err)
	}
	inc := func(id, addr string, first, last time.Time, count int, success bool, classes ...abusewatch.Class) abusewatch.Incident {
		a := netip.MustParseAddr(addr)
		return abusewatch.Incident{ID: id, Key: "ip:" + addr, Addr: a, Network: netip.PrefixFrom(a, 32), Classes: classes,
			First: first, Last: last, Count: count, Attempts: count, Hosts: []string{"web1"}, Success: success}
	}
	incs := []abusewatch.Incident{
		inc("i-new", "45.134.26.7", now.Add(-20*time.Hour), now.Add(-18*time.Hour), 120, false, abusewatch.ClassAuthFailure),
		inc("i-grow", "185.220.100.7", now.Add(-3*24*time.Hour), now.Add(-4*time.Hour), 900, false, abusewatch.ClassAuthFailure, abusewatch.ClassInvalidUser),
		inc("i-owned", "218.92.0.7", now.Add(-2*time.Hour), now.Add(-89*time.Minute), 31, true, abusewatch.ClassAuthFailure, abusewatch.ClassAuthSuccess),
		inc("i-old", "81.2.69.5", now.Add(-30*time.Hour), now.Add(-29*time.Hour), 10, false, abusewatch.ClassAuthFailure),
	}
	if err := st.PutIncidents(incs); err != nil {
		t.Fatal(err)
	}
	report := func(id string, state abusewatch.ReportState, incident, to string, updated time.Time, problem string) {
		if _, err := st.AddReport(abusewatch.Report{ID: id, State: state, Incidents: []string{incident},
			Contact: abusewatch.Contact{Emails: []string{to}}, Created: updated.Add(-time.Hour), Updated: updated, Error: problem}); err != nil {
			t.Fatal(err)
		}
	}
	report("0123456789abcdef0123456789abcdef", abusewatch.ReportPendingApproval, "i-new", "abuse@hostco.example", now.Add(-17*time.Hour), "")
	report("fedcba9876543210fedcba9876543210", abusewatch.ReportSent, "i-grow", "abuse@relay-net.example", now.Add(-4*time.Hour), "")
	report("00000000000000001111111111111111", abusewatch.ReportFailed, "i-old", "abuse@broadband.example", now.Add(-3*time.Hour),
		"mailer: smtp: mx.broadband.example:25: end of DATA: SMTP error 550: 5.7.1 we do not accept reports")
	return cfg, st
}

// shapesForTest stands in for the unknown-shapes store that the tuning issue adds.
type shapesForTest []mailer.Shape

func (s shapesForTest) TopShapes(time.Time, int) ([]mailer.Shape, error) { return s, nil }

func TestDailySummaryMatchesTheGoldenFile(t *testing.T) {
	now := time.Date(2026, 11, 21, 6, 0, 0, 0, time.UTC) // 07:00 in Berlin
	cfg, st := seededStore(t, now)
	shapes := shapesForTest{{Shape: "web1 CRON[<N>]: (root) CMD (<PATH>)", Count: 288,
		Sample: "web1 CRON[4242]: (root) CMD (/usr/local/bin/backup)", Rule: `^\w{3} [ :0-9]{11} [._[:alnum:]-]+ CRON\[[0-9]+\]: \(root\) CMD \(/usr/local/bin/backup\)$`}}
	sum, err := BuildSummary(cfg, st, shapes, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	sum.Host = "gw.example.org" // the test runs on any machine
	msg, err := mailer.ComposeSummary(sum, cfg.Mail.From, cfg.Mail.Admin, now)
	if err != nil {
		t.Fatal(err)
	}
	text, html, chart := summaryParts(t, msg)
	golden(t, "summary.golden.txt", text)
	golden(t, "summary.golden.html", html)
	img, err := png.Decode(bytes.NewReader(chart))
	if err != nil {
		t.Fatalf("the chart is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 200 || b.Dy() < 50 {
		t.Errorf("chart is %v", b)
	}

	// What matters most comes first: the possible compromise, then the approvals.
	comp, pend, events := strings.Index(text, "POSSIBLE COMPROMISES"), strings.Index(text, "WAITING FOR YOUR APPROVAL"), strings.Index(text, "EVENTS:")
	if comp < 0 || pend < comp || events < pend {
		t.Errorf("sections out of order: compromises %d, approvals %d, events %d", comp, pend, events)
	}
	if !strings.Contains(text, "abusewatch report approve 0123456789abcdef0123456789abcdef") {
		t.Error("no command to approve the pending report")
	}
}

// The shapes come from the store, each with the normal rule detect suggests for it.
func TestDailySummaryListsTheStoredShapesWithARule(t *testing.T) {
	now := time.Date(2026, 11, 21, 6, 0, 0, 0, time.UTC)
	cfg, st := seededStore(t, now)
	sample := "2026-11-21T03:00:00.000000+00:00 web1 backupd[77]: nightly copy finished in 31 s"
	if err := st.AddShapes([]store.Shape{{Shape: "backupd: nightly copy finished in N s", Count: 7, First: now.Add(-3 * time.Hour),
		Last: now.Add(-time.Hour), Sample: sample}}); err != nil {
		t.Fatal(err)
	}
	sum, err := BuildSummary(cfg, st, &storeShapes{st: st}, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := mailer.ComposeSummary(sum, cfg.Mail.From, cfg.Mail.Admin, now)
	if err != nil {
		t.Fatal(err)
	}
	text, _, _ := summaryParts(t, msg)
	if !strings.Contains(text, "backupd: nightly copy finished in N s") || !strings.Contains(text, "backupd") || len(sum.Shapes) != 1 || sum.Shapes[0].Rule == "" {
		t.Errorf("the summary does not list the stored shape with a rule (%+v):\n%s", sum.Shapes, text)
	}
}

func TestSummaryIsDueOncePerDayAtTheConfiguredTime(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	for _, tc := range []struct{ now, want string }{
		{"2026-11-21T05:59:00Z", "2026-11-20T07:00:00+01:00"},
		{"2026-11-21T06:00:00Z", "2026-11-21T07:00:00+01:00"},
		{"2026-11-21T23:00:00Z", "2026-11-21T07:00:00+01:00"},
	} {
		now, _ := time.Parse(time.RFC3339, tc.now)
		want, _ := time.Parse(time.RFC3339, tc.want)
		if got := SummaryDue("07:00", berlin, now); !got.Equal(want) {
			t.Errorf("SummaryDue at %s = %v, want %v", tc.now, got, want)
		}
	}
}

func TestSummariseSendsOnceADayAndNotOnTheFirstRun(t *testing.T) {
	now := time.Date(2026, 11, 21, 6, 30, 0, 0, time.UTC)
	cfg, st := seededStore(t, now)
	p, err := NewPipeline(cfg, st, discardLog())
	if err != nil {
		t.Fatal(err)
	}
	maildir := cfg.Mail.Maildir
	count := func() int {
		files, _ := filepath.Glob(filepath.Join(maildir, "new", "*"))
		return len(files)
	}
	for i, step := range []struct {
		at   time.Duration
		want int
	}{{0, 0}, {time.Hour, 0}, {24 * time.Hour, 1}, {25 * time.Hour, 1}, {48 * time.Hour, 2}} {
		if err := p.Summarise(t.Context(), now.Add(step.at)); err != nil {
			t.Fatal(err)
		}
		if got := count(); got != step.want {
			t.Fatalf("step %d (+%v): %d summaries sent, want %d", i, step.at, got, step.want)
		}
	}
}

// summaryParts takes the text, the HTML and the PNG out of a summary message and checks
// its structure: alternative(text, related(html, png)).
func summaryParts(t *testing.T, msg []byte) (string, string, []byte) {
	t.Helper()
	h, parts, err := mailtest.Parts(msg)
	if err != nil {
		t.Fatal(err)
	}
	if mt, _, _ := mime.ParseMediaType(h.Get("Content-Type")); mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q, want multipart/alternative", mt)
	}
	var text, html string
	var chart []byte
	for _, p := range parts {
		switch p.Header.Get("Content-Type") {
		case "text/plain; charset=utf-8":
			text = strings.ReplaceAll(string(p.Body), "\r\n", "\n")
		case "text/html; charset=utf-8":
			html = strings.ReplaceAll(string(p.Body), "\r\n", "\n")
		default:
			if p.Header.Get("Content-Id") != "<events-per-hour@abusewatch>" {
				t.Errorf("image part Content-ID %q", p.Header.Get("Content-Id"))
			}
			chart = p.Body
		}
	}
	if text == "" || html == "" || chart == nil {
		t.Fatalf("missing part: text %d, html %d, chart %d bytes", len(text), len(html), len(chart))
	}
	if !strings.Contains(html, `src="cid:events-per-hour@abusewatch"`) {
		t.Error("the HTML does not show the embedded chart")
	}
	return text, html, chart
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to create it)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it after you checked the change):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// A busy host makes thousands of incidents a day: the summary lists the 100 new ones and
// the summary.top growing ones with the most events, the 50 oldest reports waiting for
// approval, and says how many there are of each.
func TestSummaryListsTheBiggestOfManyIncidents(t *testing.T) {
	now := time.Date(2026, 11, 21, 6, 0, 0, 0, time.UTC)
	cfg, st := seededStore(t, now)
	base, err := BuildSummary(cfg, st, nil, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	var incs []abusewatch.Incident
	for i := range 150 + 5 {
		a := netip.AddrFrom4([4]byte{45, 10, byte(i / 200), byte(i%200 + 1)})
		first := now.Add(-time.Duration(i+1) * time.Minute)
		if i >= 150 {
			first = now.Add(-48 * time.Hour) // growing: started before the day
		}
		incs = append(incs, abusewatch.Incident{ID: fmt.Sprintf("many-%03d", i), Key: "ip:" + a.String(), Rule: "per-address", Addr: a,
			Network: netip.PrefixFrom(a, 32), Classes: []abusewatch.Class{abusewatch.ClassAuthFailure},
			First: first, Last: now.Add(-time.Minute), Count: 1000 + i, Attempts: 10})
	}
	if err := st.PutIncidents(incs); err != nil {
		t.Fatal(err)
	}
	for i := range 60 {
		r := abusewatch.Report{ID: fmt.Sprintf("pending-%02d", i), State: abusewatch.ReportPendingApproval, Created: now.Add(-time.Duration(60-i) * time.Minute),
			Contact: abusewatch.Contact{Emails: []string{"abuse@example.net"}}, Incidents: []string{incs[i].ID}}
		if _, err := st.AddReport(r); err != nil {
			t.Fatal(err)
		}
	}
	sum, err := BuildSummary(cfg, st, nil, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	if sum.NewTotal != base.NewTotal+150 || len(sum.New) != summaryNewIncidents || sum.New[0].Count != 1149 {
		t.Errorf("new: %d listed of %d, the first with %d events; want %d of %d, the biggest (1149) first",
			len(sum.New), sum.NewTotal, sum.New[0].Count, summaryNewIncidents, base.NewTotal+150)
	}
	if sum.GrowingTotal != base.GrowingTotal+5 || len(sum.Growing) != 3 || sum.Growing[0].Count != 1154 {
		t.Errorf("growing: %d listed of %d; want summary.top (3) of %d, the biggest first", len(sum.Growing), sum.GrowingTotal, base.GrowingTotal+5)
	}
	if sum.PendingTotal != base.PendingTotal+60 || len(sum.Pending) != summaryPendingReports {
		t.Errorf("pending: %d listed of %d; want %d of %d", len(sum.Pending), sum.PendingTotal, summaryPendingReports, base.PendingTotal+60)
	}
	// The command given lists them all, read hours later: 1,000 by default was not all,
	// and "--since 24h" moved on with the clock.
	since, err := ParseSince(strings.TrimSuffix(sum.Since, " --limit 0"), now.Add(5*time.Hour), Location(cfg.Reporter.Timezone))
	if err != nil || !strings.HasSuffix(sum.Since, " --limit 0") {
		t.Fatalf("the command's --since %q: %v; want a time and --limit 0", sum.Since, err)
	}
	listed, err := QueryIncidents(st, since, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	listedIDs := map[string]bool{}
	for _, inc := range listed.Incidents {
		listedIDs[inc.ID] = true
	}
	for _, inc := range incs[:150] {
		if !listedIDs[inc.ID] {
			t.Errorf("new incident %s is not listed by `incidents --since %s`", inc.ID, sum.Since)
		}
	}
	sum.Host = "gw.example.org"
	msg, err := mailer.ComposeSummary(sum, cfg.Mail.From, cfg.Mail.Admin, now)
	if err != nil {
		t.Fatal(err)
	}
	text, html, _ := summaryParts(t, msg)
	for _, want := range []string{
		fmt.Sprintf("WAITING FOR YOUR APPROVAL: %d reports (the 50 oldest below: `abusewatch outbox --state pending-approval` lists them all)", sum.PendingTotal),
		fmt.Sprintf("NEW INCIDENTS: %d (the 100 with the most events: `abusewatch incidents --since 2026-11-20T07:00 --limit 0` lists them all)", sum.NewTotal),
		// The growing ones are listed by the same command (review 46: the line gave none).
		fmt.Sprintf("GROWING INCIDENTS (started earlier, still active): %d (the 3 with the most events: `abusewatch incidents --since 2026-11-20T07:00 --limit 0` lists them all, with the new ones)", sum.GrowingTotal),
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the text does not say %q", want)
		}
	}
	for _, inc := range incs[150:] {
		if !listedIDs[inc.ID] {
			t.Errorf("growing incident %s is not listed by `incidents --since %s`", inc.ID, sum.Since)
		}
	}
	if !strings.Contains(html, "the 3 with the most events: <code>abusewatch incidents --since 2026-11-20T07:00 --limit 0</code> lists them all, with the new ones") {
		t.Error("the HTML part gives no command that lists the growing incidents")
	}
	// Of a daemon not run with the default config, the command names its config.
	cfg.commandFile = "/srv/abusewatch/aw.toml"
	if other, err := BuildSummary(cfg, st, nil, nil, now); err != nil || other.ListAll != "abusewatch incidents --config /srv/abusewatch/aw.toml --since 2026-11-20T07:00 --limit 0" {
		t.Errorf("the command of a config elsewhere: %q, %v", other.ListAll, err)
	} else if other.ListPending != "abusewatch outbox --config /srv/abusewatch/aw.toml --state pending-approval" {
		t.Errorf("the approval list's command of a config elsewhere: %q", other.ListPending)
	}
	if !strings.Contains(html, fmt.Sprintf("New incidents: %d (the 100 with the most events", sum.NewTotal)) {
		t.Error("the HTML part does not say how many new incidents there are")
	}
	// The subject counts them all too, not the ones listed.
	h, _, err := mailtest.Parts(msg)
	if err != nil {
		t.Fatal(err)
	}
	subject, _ := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
	for _, want := range []string{fmt.Sprintf("%d reports wait for your approval", sum.PendingTotal), fmt.Sprintf("%d new incidents", sum.NewTotal)} {
		if !strings.Contains(subject, want) {
			t.Errorf("subject %q does not say %q", subject, want)
		}
	}
}

// Host names and unknown records come from logs: what the summary shows of them has no
// bidi override that would show the admin (and the rule they are invited to paste)
// in another order than it is, and an absurdly long record is cut.
func TestSummaryShowsLogTextAsItIs(t *testing.T) {
	now := time.Date(2026, 11, 21, 6, 0, 0, 0, time.UTC)
	cfg, st := seededStore(t, now)
	long := "web2 backupd[77]: copy \u202efdp.exe finished " + strings.Repeat("x", 400) + " end"
	shapes := shapesForTest{{Shape: "backupd: copy \u202efdp.exe finished", Count: 7, Sample: long, Rule: `^backupd\[[0-9]+\]: copy \u202efdp\.exe$`}}
	sum, err := BuildSummary(cfg, st, shapes, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	sum.ByHost = append(sum.ByHost, mailer.Count{Value: "<b>web2</b>\u202eBcc:x@y", N: 6})
	msg, err := mailer.ComposeSummary(sum, cfg.Mail.From, cfg.Mail.Admin, now)
	if err != nil {
		t.Fatal(err)
	}
	text, html, _ := summaryParts(t, msg)
	for name, part := range map[string]string{"text": text, "HTML": html} {
		if strings.ContainsRune(part, '\u202e') {
			t.Errorf("the %s part holds a bidi override", name)
		}
		if strings.Contains(part, strings.Repeat("x", 300)) || !strings.Contains(part, "x end") {
			t.Errorf("the %s part does not cut the long record in its middle", name)
		}
	}
	if !strings.Contains(text, "copy fdp.exe finished") || !strings.Contains(text, "web2</b>Bcc:x@y") {
		t.Errorf("the text part lost the shape or the host:\n%s", text)
	}
}

// Text from logs and from lookups stays one printable line, without the C1 controls a
// terminal may obey (U+009B is a CSI) as well as the C0 ones.
func TestSanitizeText(t *testing.T) {
	if got := sanitizeText("a\x1b[31mb\u009b2Jc\n\x7fd"); got != "a [31mb 2Jc  d" {
		t.Errorf("sanitizeText = %q", got)
	}
}

// status prints the last warnings, whose errors may quote a registry or a mail server.
func TestLastWarningsArePrintable(t *testing.T) {
	ring := &errorRing{keep: 2}
	log := slog.New(ringHandler{slog.NewTextHandler(io.Discard, nil), ring})
	log.Warn("report delivery failed", "err", "550 no\x1b]0;owned\x07\u009b2J")
	if e := ring.entries(); len(e) != 1 || e[0].Message != "report delivery failed err=550 no ]0;owned  2J" {
		t.Errorf("entries = %q", e)
	}
}

// A summary sent late (the daemon was stopped over summary.time for days) covers the
// time since the last one, up to summaryMaxPeriod: a compromise of the days before
// is in it, not only the last 24 hours'.
func TestALateSummaryCoversTheTimeSinceTheLastOne(t *testing.T) {
	start := time.Date(2026, 11, 21, 6, 30, 0, 0, time.UTC) // the last summary
	for _, tc := range []struct {
		name   string
		down   time.Duration // until the next summary is sent
		ago    time.Duration // the compromise, before it
		from   time.Time     // the period it covers
		hours  string        // its chart's bars
		listed bool          // the compromise is in it
	}{
		{"on time", 24 * time.Hour, 20 * time.Hour, start, "per hour", true},
		{"three days late", 72 * time.Hour, 50 * time.Hour, start, "per 3 hours", true},
		{"three weeks late", 21 * 24 * time.Hour, 6 * 24 * time.Hour, start.Add(14 * 24 * time.Hour), "per 7 hours", true},
		{"older than the cap", 21 * 24 * time.Hour, 8 * 24 * time.Hour, start.Add(14 * 24 * time.Hour), "per 7 hours", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, st := seededStore(t, start)
			p, err := NewPipeline(cfg, st, discardLog())
			if err != nil {
				t.Fatal(err)
			}
			if err := st.SetSummarySent(start); err != nil {
				t.Fatal(err)
			}
			now := start.Add(tc.down)
			login := now.Add(-tc.ago)
			a := netip.MustParseAddr("203.0.113.9")
			inc := abusewatch.Incident{ID: "i-late", Key: "success:203.0.113.9", Rule: "success-after-failure", Addr: a,
				Network: netip.PrefixFrom(a, 32), Classes: []abusewatch.Class{abusewatch.ClassAuthFailure, abusewatch.ClassAuthSuccess},
				First: login.Add(-time.Minute), Last: login, Count: 7, Hosts: []string{"web1"}, Success: true, AdminOnly: true,
				Evidence: []abusewatch.Event{
					{Time: login.Add(-time.Minute), Class: abusewatch.ClassAuthFailure, Addr: a, User: "root", Host: "web1",
						Line: "web1 sshd[1]: Failed password for root from 203.0.113.9 port 40000 ssh2"},
					{Time: login, Class: abusewatch.ClassAuthSuccess, Addr: a, User: "alice", Host: "web1",
						Line: "web1 sshd[2]: Accepted password for alice from 203.0.113.9 port 40001 ssh2"},
				}}
			if err := st.PutIncidents([]abusewatch.Incident{inc}); err != nil {
				t.Fatal(err)
			}
			if err := p.Summarise(t.Context(), now); err != nil {
				t.Fatal(err)
			}
			files, _ := filepath.Glob(filepath.Join(cfg.Mail.Maildir, "new", "*"))
			if len(files) != 1 {
				t.Fatalf("%d summaries sent, want 1", len(files))
			}
			msg, err := os.ReadFile(files[0])
			if err != nil {
				t.Fatal(err)
			}
			text, _, _ := summaryParts(t, msg)
			loc := Location(cfg.Reporter.Timezone)
			period := tc.from.In(loc).Format("2006-01-02 15:04:05 -0700") + " to " + now.In(loc).Format("2006-01-02 15:04:05 -0700")
			if !strings.Contains(text, period) || !strings.Contains(text, "  "+tc.hours+"  |") {
				t.Errorf("the summary does not cover %s %s:\n%s", period, tc.hours, text)
			}
			listed := strings.Contains(text, "203.0.113.9") && strings.Contains(text, "Accepted password for alice from 203.0.113.9")
			if listed != tc.listed {
				t.Errorf("the compromise of %v before is listed: %v, want %v:\n%s", tc.ago, listed, tc.listed, text)
			}
		})
	}
}

// A shape the rules loaded now decide (the admin added the rule the summary suggested)
// is not listed again, though the store counts it for as long as its records are kept:
// the tuning loop ends.
func TestDailySummaryLeavesOutTheShapesTheRulesNowDecide(t *testing.T) {
	now := time.Date(2026, 11, 21, 6, 0, 0, 0, time.UTC)
	cfg, st := seededStore(t, now)
	sample := "2026-11-21T03:00:00.000000+00:00 web1 backupd[77]: nightly copy finished in 31 s"
	if err := st.AddShapes([]store.Shape{{Shape: "backupd: nightly copy finished in N s", Count: 7, First: now.Add(-3 * time.Hour),
		Last: now.Add(-time.Hour), Sample: sample}}); err != nil {
		t.Fatal(err)
	}
	normal, err := detect.LoadNormalRules(fstest.MapFS{"normal/backupd": {Data: []byte("^nightly copy finished in [0-9]+ s$\n")}}, "normal")
	if err != nil {
		t.Fatal(err)
	}
	rules := ShapeRules{Detector: detect.New(normal, nil, time.UTC), Since: now.Add(-30 * time.Minute)}
	sum, err := BuildSummary(cfg, st, &storeShapes{st: st, rules: rules}, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Shapes) != 0 {
		t.Errorf("the summary lists shapes the rules now decide: %+v", sum.Shapes)
	}
	// Seen after the rules came (review 31 F4): a record of its shape that they left
	// unknown, whatever its first sample: listed.
	rules.Since = now.Add(-2 * time.Hour)
	if sum, err = BuildSummary(cfg, st, &storeShapes{st: st, rules: rules}, nil, now); err != nil {
		t.Fatal(err)
	}
	if len(sum.Shapes) != 1 {
		t.Errorf("the summary leaves out a shape seen after the rules came: %+v", sum.Shapes)
	}
}
