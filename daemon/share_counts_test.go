package daemon

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/mailer/mailtest"
)

// The scenarios of review session 19 (/tmp/rv19-repro/split/gen.py and split2/gen.py):
// a /24 that comes back low and slow, three failed logins a day per address (below the
// threshold), split between two parties' /25s by the static contact table, one address
// on the do-not-contact list.

// splitDays are the days of November each address of the scenario "split" is active.
var splitDays = map[string][]int{
	"45.134.26.10":  {10, 13, 16},
	"45.134.26.11":  {11, 14, 24},
	"45.134.26.140": {12, 15, 25},
	"45.134.26.141": {17, 20, 26},
	"45.134.26.200": {18, 21, 27}, // do-not-contact
}

// split2Days is the scenario "split2": .10 and .141 recur on their own (six days each),
// and are reported on their own before their /24's recurrence.
var split2Days = map[string][]int{
	"45.134.26.10":  {10, 13, 16, 19, 22, 23},
	"45.134.26.11":  {11, 14, 24},
	"45.134.26.140": {12, 15, 25},
	"45.134.26.141": {11, 17, 20, 22, 26, 27},
	"45.134.26.200": {18, 21, 27},
}

// shareLog is the log of days: three failed logins an active day per address at 03:MM:01
// UTC, MM its last octet modulo 50, two minutes apart, each from a port of its own; in
// time order, as sshd writes them.
func shareLog(days map[string][]int) []abusewatch.Record {
	type line struct {
		at   time.Time
		text string
	}
	var lines []line
	port := 40000
	for _, a := range slices.Sorted(maps.Keys(days)) {
		octet := int(netip.MustParseAddr(a).As4()[3])
		for _, d := range days[a] {
			for i := range 3 {
				at := time.Date(2026, 11, d, 3, octet%50+2*i, 1, 0, time.UTC)
				port++
				lines = append(lines, line{at, fmt.Sprintf("%s web1 sshd[%d]: Failed password for invalid user admin%d from %s port %d ssh2",
					at.Format(time.RFC3339), port, i, a, port)})
			}
		}
	}
	slices.SortStableFunc(lines, func(x, y line) int { return x.at.Compare(y.at) })
	var recs []abusewatch.Record
	var off int64
	for _, l := range lines {
		off += int64(len(l.text) + 1)
		recs = append(recs, abusewatch.Record{Source: "/var/log/auth.log", Line: l.text, Offset: off})
	}
	return recs
}

// sharePipeline is the pipeline of the scenarios: auto mode without a cooldown, mail
// to a maildir with X-ARF parts, raw events kept for retention (0: the default). The
// network rule counts 3 addresses: a /24's recurrence is reported only when as many of
// its addresses sent reportable evidence (review 21b H3), and the scenarios' /24s hold
// 3 (split2) to 5; it was 10, which no day of theirs reaches either.
func sharePipeline(t *testing.T, retention string) (*Pipeline, *Config) {
	t.Helper()
	dir := t.TempDir()
	keep := ""
	if retention != "" {
		keep = "[retention]\nevents = \"" + retention + "\"\n"
	}
	doc := `
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
recurrence_days = 5
network_addresses = 3
` + keep + `
[lookup]
rdap = false
resolvers = ["127.0.0.1:1"]
timeout = "100ms"
[[do_not_contact]]
network = "45.134.26.200"
reason = "a customer of ours"
[[contact]]
network = "45.134.26.0/25"
emails = ["abuse@party-a.example"]
[[contact]]
network = "45.134.26.128/25"
emails = ["abuse@party-b.example"]
[mail]
transport = "maildir"
maildir = "` + filepath.Join(dir, "maildir") + `"
from = "abusewatch@example.org"
admin = "root@example.org"
xarf = true
[policy]
settle = "0s"
mode = "auto"
cooldown = "0s"
[summary]
time = ""
[store]
path = "` + filepath.Join(dir, "state.db") + `"
`
	cfg := parseTestConfig(t, filepath.Join(dir, "abusewatch.toml"), doc)
	st := openTestStore(t, cfg)
	p, err := NewPipeline(cfg, st, discardLog())
	if err != nil {
		t.Fatal(err)
	}
	return p, cfg
}

// shareMails are the mails in the maildir of cfg about a party's share of the
// /24's recurrence, by recipient, decoded (mailText); the X-ARF parts by recipient and
// address.
func shareMails(t *testing.T, cfg *Config) (map[string]string, map[string]map[string]string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(cfg.Mail.Maildir, "new", "*"))
	text, xarf := map[string]string{}, map[string]map[string]string{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		h, parts, err := mailtest.Parts(raw)
		if err != nil {
			t.Fatal(err)
		}
		body := strings.ReplaceAll(mailText(t, raw), "\r\n", "\n")
		// A party's share is told as its block, or, with two addresses or more, as
		// the narrowest network of them without an address left out (toldAs): party
		// B's as 45.134.26.140/31 when the do-not-contact 45.134.26.200 is of it.
		told := regexp.MustCompile(`Source network:  45\.134\.26\.(0/25|128/25|140/31)\n`)
		if !told.MatchString(body) {
			continue // an address's own recurrence, or the admin's mail
		}
		to := h.Get("To")
		if text[to] != "" {
			t.Fatalf("two shares to %s", to)
		}
		text[to], xarf[to] = body, map[string]string{}
		for _, part := range parts[1:] {
			var doc struct {
				Source      string `json:"source_identifier"`
				Description string `json:"description"`
			}
			if json.Unmarshal(part.Body, &doc) == nil && doc.Source != "" {
				xarf[to][doc.Source] = doc.Description
			}
		}
	}
	return text, xarf
}

// logLineTimes are the times of the log lines a memo shows, as written ("2026-11-11 04:11:01 +0100").
var logLineTimes = regexp.MustCompile(`(?m)^  (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4})  `)

// shownDays are the days (in the memo's zone) of the log lines memo shows, each once, and
// whether each lies within its First seen and Last seen (of one known only as a day,
// "2026-11-12 GMT (time of day not kept)", within that day).
func shownDays(t *testing.T, memo string) (days []string, within bool) {
	t.Helper()
	field := func(name string, end bool) time.Time {
		if m := regexp.MustCompile(name + `:\s+(\d{4}-\d\d-\d\d) GMT \(time of day not kept\)\n`).FindStringSubmatch(memo); m != nil {
			day, err := time.Parse("2006-01-02", m[1])
			if err != nil {
				t.Fatal(err)
			}
			if end {
				return day.Add(24*time.Hour - time.Nanosecond)
			}
			return day
		}
		m := regexp.MustCompile(name + `:\s+(\S+ \S+ \S+)`).FindStringSubmatch(memo)
		if m == nil {
			t.Fatalf("no %s in\n%s", name, memo)
		}
		at, err := time.Parse("2006-01-02 15:04:05 -0700", m[1])
		if err != nil {
			t.Fatal(err)
		}
		return at
	}
	first, last := field("First seen", false), field("Last seen", true)
	within = true
	for _, m := range logLineTimes.FindAllStringSubmatch(memo, -1) {
		at, err := time.Parse("2006-01-02 15:04:05 -0700", m[1])
		if err != nil {
			t.Fatal(err)
		}
		within = within && !at.Before(first) && !at.After(last)
		if d := m[1][:10]; !slices.Contains(days, d) {
			days = append(days, d)
		}
	}
	return days, within
}

// Two rounds of the outbox after the scan: the first reports the addresses that recur on
// their own, the second the /24's shares (a party that had a report in a round waits).
func shareRounds(t *testing.T, p *Pipeline) {
	t.Helper()
	for _, at := range []time.Time{time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC), time.Date(2026, 11, 27, 12, 5, 0, 0, time.UTC)} {
		if err := p.Tick(t.Context(), at); err != nil {
			t.Fatal(err)
		}
	}
}

// A party's share of a /24's recurrence whose other addresses recur on their own (and
// are reported on their own) counts the party's own lines: 45.134.26.11 made 9 failed
// logins on 11, 14 and 24 Nov, all stored. Before, the share subtracted from the /24's
// 27 lines the other parties' stored lines, those of the addresses recurring on their
// own too (which the /24 never counted), went below zero and fell back to the 3 lines of
// the /24's sample that were the party's: "1 or more" addresses, "at least 3 (at least 3
// log lines)", and the lines of one day of three.
func TestAShareOfANetworkRecurrenceCountsThePartysOwnLines(t *testing.T) {
	p, cfg := sharePipeline(t, "")
	if err := p.Ingest(t.Context(), shareLog(split2Days), nil); err != nil {
		t.Fatal(err)
	}
	shareRounds(t, p)
	text, _ := shareMails(t, cfg)
	for _, tc := range []struct {
		to, addr string
		days     []string
	}{
		{"<abuse@party-a.example>", "45.134.26.11", []string{"2026-11-11", "2026-11-14", "2026-11-24"}},
		{"<abuse@party-b.example>", "45.134.26.140", []string{"2026-11-12", "2026-11-15", "2026-11-25"}},
	} {
		memo := text[tc.to]
		if memo == "" {
			t.Fatalf("no share to %s; the shares: %v", tc.to, text)
		}
		saysAll(t, "the share to "+tc.to, memo, "Addresses seen:  1\n", "                 "+tc.addr+"\n", "Connections:     9 (9 log lines)\n")
		if days, within := shownDays(t, memo); !slices.Equal(days, tc.days) || !within {
			t.Errorf("the share to %s shows lines of %v (all within First and Last seen: %v), want of %v:\n%s", tc.to, days, within, tc.days, memo)
		}
	}
}

// After retention deleted the raw events of a /24 recurrence's first days, a party's
// share still counts the party's lines of those days, from the per-address daily
// counters the recurrence itself is counted from, and its First seen is that of its
// first line shown: party A's 18 lines from 10 Nov, party B's 18 from 12 Nov. Before,
// the share was capped at the lines the store still held (3 and 12, stated as exact),
// and began at the first of them, two weeks after the lines it showed. Where the
// counters alone know the first day, the share says the day and that its time is not
// kept: it said "2026-11-12 01:00:00 +0100", midnight UTC, a time no line was logged at.
func TestAShareAfterRetentionCountsThePrunedDaysAndBeginsAtItsFirstLine(t *testing.T) {
	p, cfg := sharePipeline(t, "10d")
	if err := p.Ingest(t.Context(), shareLog(splitDays), nil); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	if err := Retain(t.Context(), p.store, cfg.Retention, cfg.Correlate, now, func(string, ...any) {}); err != nil {
		t.Fatal(err)
	}
	if oldest, _, _ := p.store.OldestEvent(); !oldest.After(time.Date(2026, 11, 17, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("retention kept events from %v, want from 17 Nov on", oldest)
	}
	shareRounds(t, p)
	text, xarf := shareMails(t, cfg)
	for _, tc := range []struct {
		to, first, last string
		addrs           []string
	}{
		{"<abuse@party-a.example>", "2026-11-10 04:10:01 +0100", "2026-11-24 04:15:01 +0100", []string{"45.134.26.10", "45.134.26.11"}},
		// B's first line (12 Nov 03:40:01 UTC) is gone, and the sample kept a later one
		// of that day: First seen is the day the counters know, without a time.
		{"<abuse@party-b.example>", "2026-11-12 GMT (time of day not kept)", "2026-11-26 04:45:01 +0100", []string{"45.134.26.140", "45.134.26.141"}},
	} {
		memo := text[tc.to]
		if memo == "" {
			t.Fatalf("no share to %s; the shares: %v", tc.to, text)
		}
		saysAll(t, "the share to "+tc.to, memo, "First seen:      "+tc.first+"\n", "Last seen:       "+tc.last+"\n",
			"(18 log lines)\n", "Addresses seen:  2\n")
		if _, within := shownDays(t, memo); !within {
			t.Errorf("the share to %s shows lines outside its First and Last seen:\n%s", tc.to, memo)
		}
		if strings.Contains(memo, "45.134.26.200") {
			t.Errorf("the share to %s names the do-not-contact address:\n%s", tc.to, memo)
		}
		for _, a := range tc.addrs {
			if xarf[tc.to][a] == "" {
				t.Errorf("the share to %s has no X-ARF part for %s (it has %v)", tc.to, a, xarf[tc.to])
			}
		}
	}
}

// With every raw event kept, a party's share shows its own lines: the first, a sample
// and the last (party B's 18 lines: 12 Nov 04:40:01 to 26 Nov 04:45:01), each of its
// addresses among them (and in an X-ARF part of its own), all of them when they fit.
// Before, it showed the /24's sample cut down to the party: four lines of B, neither
// its first nor its last; for A only the three of 45.134.26.10's first day.
func TestAShareShowsThePartysOwnFirstSampleAndLastLines(t *testing.T) {
	p, cfg := sharePipeline(t, "")
	if err := p.Ingest(t.Context(), shareLog(splitDays), nil); err != nil {
		t.Fatal(err)
	}
	shareRounds(t, p)
	text, xarf := shareMails(t, cfg)
	for _, tc := range []struct {
		to, firstLine, lastLine string
		addrs                   []string
	}{
		{"<abuse@party-a.example>", "2026-11-10 04:10:01 +0100", "2026-11-24 04:15:01 +0100", []string{"45.134.26.10", "45.134.26.11"}},
		{"<abuse@party-b.example>", "2026-11-12 04:40:01 +0100", "2026-11-26 04:45:01 +0100", []string{"45.134.26.140", "45.134.26.141"}},
	} {
		memo := text[tc.to]
		if memo == "" {
			t.Fatalf("no share to %s; the shares: %v", tc.to, text)
		}
		shown := logLineTimes.FindAllStringSubmatch(memo, -1)
		if len(shown) == 0 || shown[0][1] != tc.firstLine || shown[len(shown)-1][1] != tc.lastLine {
			t.Errorf("the share to %s does not show its first line (%s) and its last (%s):\n%s", tc.to, tc.firstLine, tc.lastLine, memo)
		}
		saysAll(t, "the share to "+tc.to, memo, "Connections:     18 (18 log lines)\n", "Addresses seen:  2\n")
		for _, a := range tc.addrs {
			if !strings.Contains(memo, "from "+a+" port") {
				t.Errorf("the share to %s shows no line of %s:\n%s", tc.to, a, memo)
			}
			if xarf[tc.to][a] == "" {
				t.Errorf("the share to %s has no X-ARF part for %s (it has %v)", tc.to, a, xarf[tc.to])
			}
		}
	}
}

// A party's share of a network incident other than a recurrence, begun before the
// oldest raw line retention kept, counts the party's lines left (those the store holds
// and those the incident kept as evidence): what it surely is, not what it was. Its
// report says "at least". Before, party A's 4 lines left of its 6 were stated as
// exactly 4.
func TestAShareOfANetworkIncidentAfterRetentionSaysAtLeast(t *testing.T) {
	p, cfg := sharePipeline(t, "1d")
	line := func(a string, at time.Time, port int) abusewatch.Event {
		return abusewatch.Event{Time: at, Class: abusewatch.ClassAuthFailure, Addr: netip.MustParseAddr(a), Port: uint16(port),
			Host: "web1", Service: "sshd", Line: fmt.Sprintf("web1 sshd[%d]: Failed password for root from %s port %d ssh2", port, a, port)}
	}
	// Three lines of each address: .10 and .140 (one party each) on 25 Nov, .11 and
	// .141 on 27 Nov.
	var evs []abusewatch.Event
	port := 40000
	for _, day := range []struct {
		d     int
		addrs []string
	}{{25, []string{"45.134.26.10", "45.134.26.140"}}, {27, []string{"45.134.26.11", "45.134.26.141"}}} {
		for i, a := range day.addrs {
			for j := range 3 {
				port++
				evs = append(evs, line(a, time.Date(2026, 11, day.d, 3, 10*i+j, 1, 0, time.UTC), port))
			}
		}
	}
	if _, err := p.store.Commit(evs, nil); err != nil {
		t.Fatal(err)
	}
	inc := abusewatch.Incident{ID: "net-45.134.26.0-25nov", Key: "net:45.134.26.0/24", Rule: "network", Addr: evs[0].Addr,
		Network: netip.MustParsePrefix("45.134.26.0/24"), Classes: []abusewatch.Class{abusewatch.ClassAuthFailure},
		First: evs[0].Time, Last: evs[len(evs)-1].Time, Count: len(evs), Attempts: len(evs), Hosts: []string{"web1"}, Severity: 2,
		Evidence: []abusewatch.Event{evs[0], evs[3], evs[6], evs[len(evs)-1]}, // the first of each address, and the last
		Sources:  []netip.Addr{evs[0].Addr, evs[6].Addr, evs[3].Addr, evs[9].Addr}}
	slices.SortFunc(inc.Sources, netip.Addr.Compare)
	if err := p.store.PutIncidents([]abusewatch.Incident{inc}); err != nil {
		t.Fatal(err)
	}
	if err := Retain(t.Context(), p.store, cfg.Retention, cfg.Correlate, time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC), func(string, ...any) {}); err != nil {
		t.Fatal(err)
	}
	if oldest, _, _ := p.store.OldestEvent(); !oldest.After(time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("retention kept events from %v, want from 27 Nov on", oldest)
	}
	shareRounds(t, p)
	text, _ := shareMails(t, cfg)
	// Party A: .10's first line (kept as evidence) and .11's three; party B: .140's
	// first and .141's last (the evidence), and .141's others.
	for _, to := range []string{"<abuse@party-a.example>", "<abuse@party-b.example>"} {
		memo := text[to]
		if memo == "" {
			t.Fatalf("no share to %s; the shares: %v", to, text)
		}
		saysAll(t, "the share to "+to, memo, "Connections:     at least 4 (at least 4 log lines)\n")
	}
}
