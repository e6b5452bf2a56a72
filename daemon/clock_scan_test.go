package daemon

import (
	"fmt"
	"io"
	"log/slog"
	"mime/quotedprintable"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/store"
)

// scanAheadConfig is a store config that reports 45.134.26.0/24 to its abuse desk at
// threshold 5 in 10 minutes, reading times without an offset in UTC.
func scanAheadConfig(t *testing.T, dir string) *Config {
	t.Helper()
	return scanAheadConfigWith(t, dir, "")
}

// scanAheadConfigWith is scanAheadConfig with extra at its end.
func scanAheadConfigWith(t *testing.T, dir, extra string) *Config {
	t.Helper()
	return parseTestConfig(t, filepath.Join(dir, "abusewatch.toml"), fmt.Sprintf(`
[reporter]
name = "Sam"
organisation = "Org"
email = "security@example.org"
[detect]
timezone = "UTC"
[correlate]
threshold = 5
window = "10m"
[lookup]
rdap = false
resolvers = ["127.0.0.1:9"]
timeout = "100ms"
[[contact]]
network = "45.134.26.0/24"
emails = ["abuse@hostco.example"]
[mail]
transport = "maildir"
maildir = %q
from = "abusewatch@example.org"
admin = "root@example.org"
[policy]
settle = "0s"
mode = "auto"
[admin]
socket = ""
[store]
path = %q
`, filepath.Join(dir, "maildir"), filepath.Join(dir, "state.db"))+extra)
}

// scanTokyoFile scans a file last written at written whose n sshd failures from
// 45.134.26.17, every apart up to written, a host writes in Tokyo time without an
// offset: all 9 hours after the last write. It returns the pipeline.
func scanTokyoFile(t *testing.T, dir string, cfg *Config, written time.Time, n int, apart time.Duration) *Pipeline {
	t.Helper()
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for i := range n {
		at := written.Add(-time.Duration(n-1-i) * apart)
		fmt.Fprintf(&b, "%s tokyo1 sshd[%d]: Failed password for root from 45.134.26.17 port %d ssh2\n", at.In(tokyo).Format(time.Stamp), 300+i, 50000+i)
	}
	p, st := scanWrittenAt(t, cfg, filepath.Join(dir, "tokyo.log"), b.String(), written)
	defer st.Close()
	if err := p.Tick(t.Context(), time.Now()); err != nil {
		t.Fatal(err)
	}
	return p
}

// Review 37, 3: a scanned file's lines dated after its last write were each dated at
// that one instant: twelve failures 40 minutes apart from a host writing Tokyo time
// without an offset became one burst, an incident and a report to the abuse desk. The
// host's lines are all dated 9 hours earlier instead (its newest at the last write):
// still 40 minutes apart, they make no incident.
func TestAScanOfAHostAheadsSparseLinesMakesNoIncident(t *testing.T) {
	dir := t.TempDir()
	cfg := scanAheadConfig(t, dir)
	written := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	p := scanTokyoFile(t, dir, cfg, written, 12, 40*time.Minute)
	if n := p.Counters.Incidents.Load(); n != 0 {
		t.Errorf("%d incidents of failures 40 minutes apart; want none", n)
	}
	if mails := maildirMessages(t, filepath.Join(dir, "maildir")); len(mails) != 0 {
		t.Errorf("%d mails; want none:\n%s", len(mails), strings.Join(mails, "\n----\n"))
	}
	times := eventTimes(t, cfg, "45.134.26.17")
	if len(times) != 12 {
		t.Fatalf("%d events; want 12", len(times))
	}
	for i, at := range times {
		if want := written.Add(-time.Duration(11-i) * 40 * time.Minute); !at.Equal(want) {
			t.Errorf("event %d dated %s; want %s (9 hours before the host's time, 40 minutes apart, the last at the last write)", i, at.UTC(), want)
		}
	}
	if n := p.Counters.Redated.Load(); n != 12 {
		t.Errorf("%d lines counted as redated; want 12", n)
	}
}

// The shift keeps the spacing: six failures a minute apart, ahead of the last write,
// make the incident they make by their own times, and the report's first and last seen
// are the first and the last evidence line's, five minutes apart, the last at the last
// write.
func TestAScanOfAHostAheadsBurstKeepsItsSpacing(t *testing.T) {
	dir := t.TempDir()
	cfg := scanAheadConfig(t, dir)
	written := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	p := scanTokyoFile(t, dir, cfg, written, 6, time.Minute)
	if n := p.Counters.Incidents.Load(); n != 1 {
		t.Fatalf("%d incidents of 6 failures in 5 minutes; want 1", n)
	}
	mails := maildirMessages(t, filepath.Join(dir, "maildir"))
	var report string
	for _, m := range mails {
		if strings.Contains(m, "abuse@hostco.example") {
			report = m
		}
	}
	if report == "" {
		t.Fatalf("no report to abuse@hostco.example among %d mails:\n%s", len(mails), strings.Join(mails, "\n----\n"))
	}
	seen := func(what string) time.Time {
		m := regexp.MustCompile(what + `:\s+(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [-+]\d{4})`).FindStringSubmatch(report)
		if m == nil {
			t.Fatalf("no %q in the report:\n%s", what, report)
		}
		at, err := time.Parse("2006-01-02 15:04:05 -0700", m[1])
		if err != nil {
			t.Fatal(err)
		}
		return at
	}
	if first, last := seen("First seen"), seen("Last seen"); !first.Equal(written.Add(-5*time.Minute)) || !last.Equal(written) {
		t.Errorf("the report's first and last seen are %s and %s; want %s and %s, 5 minutes apart as its evidence lines",
			first.UTC(), last.UTC(), written.Add(-5*time.Minute), written)
	}
	// The evidence lines, each after its time as the report dates it and the line as
	// the host wrote it: in their order, a minute apart, as first and last seen say.
	text, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(report)))
	if err != nil {
		t.Fatal(err)
	}
	evidence := regexp.MustCompile(`(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [-+]\d{4})  \w{3} [ \d]\d \d\d:\d\d:\d\d tokyo1 sshd\[\d+\]: Failed password for root from 45\.134\.26\.17 port (\d+)`).FindAllStringSubmatch(string(text), -1)
	if len(evidence) != 6 {
		t.Fatalf("%d evidence lines in the report's text; want 6:\n%s", len(evidence), text)
	}
	for i, m := range evidence {
		at, err := time.Parse("2006-01-02 15:04:05 -0700", m[1])
		if err != nil {
			t.Fatal(err)
		}
		if want := written.Add(-time.Duration(5-i) * time.Minute); !at.Equal(want) || m[2] != fmt.Sprint(50000+i) {
			t.Errorf("evidence line %d: dated %s, port %s; want %s, port %d", i, at.UTC(), m[2], want, 50000+i)
		}
	}
	times := eventTimes(t, cfg, "45.134.26.17")
	for i, at := range times {
		if want := written.Add(-time.Duration(5-i) * time.Minute); !at.Equal(want) {
			t.Errorf("event %d dated %s; want %s", i, at.UTC(), want)
		}
	}
}

// Review 39, F1: one stray line of a host hours ahead (a cron job's, or a relay's sender
// naming the host) moved every line of the host back by as much, its attacks and the
// report with them. A host is ahead by its last line's excess: here its last line is
// on time, and its attack keeps its times.
func TestAScanOfAHostWithOneStrayLineAheadKeepsItsTimes(t *testing.T) {
	dir := t.TempDir()
	cfg := scanAheadConfig(t, dir)
	written := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	attack := written.Add(-30 * time.Minute)
	var b strings.Builder
	fmt.Fprintf(&b, "%s web1 CRON[7]: pam_unix(cron:session): session closed for user root\n", written.Add(20*time.Hour).Format(time.RFC3339))
	for i := range 6 {
		fmt.Fprintf(&b, "%s web1 sshd[%d]: Failed password for root from 45.134.26.17 port %d ssh2\n", attack.Add(time.Duration(i)*time.Minute).Format(time.RFC3339), 300+i, 50000+i)
	}
	_, st := scanWrittenAt(t, cfg, filepath.Join(dir, "relay.log"), b.String(), written)
	st.Close()
	times := eventTimes(t, cfg, "45.134.26.17")
	if len(times) != 6 {
		t.Fatalf("%d events; want 6", len(times))
	}
	for i, at := range times {
		if want := attack.Add(time.Duration(i) * time.Minute); !at.Equal(want) {
			t.Errorf("event %d dated %s; want %s, as the host wrote it", i, at.UTC(), want)
		}
	}
}

// Review 39, F2: a vsftpd log copied from mx2 ([[source]] host = "mx2"), written in Tokyo
// time without an offset: its lines name no host, and the scan's measure of how far a
// host is ahead kept them under this machine's name while the pipeline asked under
// mx2's: each line was dated at the last write, twelve failures 40 minutes apart one
// burst, an incident and a report. They are moved back together, and make none.
func TestAScanOfASourcesVsftpdLogAheadKeepsItsSpacing(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "vsftpd.log")
	cfg := scanAheadConfigWith(t, dir, fmt.Sprintf("[[source]]\nfiles = [%q]\nhost = \"mx2\"\n", name))
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	written := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	var b strings.Builder
	for i := range 12 {
		at := written.Add(-time.Duration(11-i) * 40 * time.Minute).In(tokyo)
		fmt.Fprintf(&b, "%s [pid %d] [root] FAIL LOGIN: Client \"45.134.26.17\"\n", at.Format("Mon Jan _2 15:04:05 2006"), 300+i)
	}
	p, st := scanWrittenAt(t, cfg, name, b.String(), written)
	if n := p.Counters.Incidents.Load(); n != 0 {
		t.Errorf("%d incidents of failures 40 minutes apart; want none", n)
	}
	st.Close()
	times := eventTimes(t, cfg, "45.134.26.17")
	if len(times) != 12 {
		t.Fatalf("%d events; want 12", len(times))
	}
	for i, at := range times {
		if want := written.Add(-time.Duration(11-i) * 40 * time.Minute); !at.Equal(want) {
			t.Errorf("event %d dated %s; want %s (40 minutes apart, the last at the last write)", i, at.UTC(), want)
		}
	}
}

// scanWrittenAt writes text to name, last written at written, and scans it into cfg's
// store with a pipeline of its own, which it returns with the store (the caller closes
// it before reading the store again).
func scanWrittenAt(t *testing.T, cfg *Config, name, text string, written time.Time) (*Pipeline, *store.Store) {
	t.Helper()
	if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(name, written, written); err != nil {
		t.Fatal(err)
	}
	st := openTestStore(t, cfg)
	p, err := NewPipeline(cfg, st, slog.New(slog.DiscardHandler))
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	if _, err := p.Scan(t.Context(), []string{name}, time.Time{}); err != nil {
		st.Close()
		t.Fatal(err)
	}
	return p, st
}
