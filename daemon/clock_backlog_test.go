package daemon

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/daemon/journaltest"
)

// tokyoFailures are n sshd failures from addr that host writes in Tokyo time without an
// offset, apart from each other, the last at last: 9 hours ahead of a daemon that reads
// times without an offset in UTC.
func tokyoFailures(t *testing.T, host, addr string, n int, apart time.Duration, last time.Time) string {
	t.Helper()
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for i := range n {
		at := last.Add(-time.Duration(n-1-i) * apart)
		fmt.Fprintf(&b, "%s %s sshd[%d]: Failed password for root from %s port %d ssh2\n", at.In(tokyo).Format(time.Stamp), host, 300+i, addr, 50000+i)
	}
	return b.String()
}

// reportableIncidents are the incidents in cfg's store that may be reported outside.
func reportableIncidents(t *testing.T, cfg *Config) []string {
	t.Helper()
	st := openTestStore(t, cfg)
	defer st.Close()
	incs, _, err := st.IncidentsSince(time.Now().Add(-48*time.Hour), 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, inc := range incs {
		if !inc.AdminOnly {
			out = append(out, fmt.Sprintf("%s %s %d events from %s to %s", inc.Rule, inc.Addr, inc.Count, inc.First.UTC(), inc.Last.UTC()))
		}
	}
	return out
}

// A followed file's backlog at start: twelve failures 40 minutes apart, written in
// Tokyo time without an offset by a host 9 hours ahead of detect.timezone, were each
// dated when the daemon read them, in the same moment: one burst, an incident and a
// report to the abuse desk. The first read is read ahead as a scan's file is: the
// host's lines are all dated 9 hours earlier (its last at the file's last write), 40
// minutes apart as written, and make no incident. The same host's live burst, six
// failures read as they are written, is still an incident to report.
func TestAFollowedBacklogOfAHostAheadKeepsItsSpacing(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "auth.log")
	cfg := scanAheadConfigWith(t, dir, fmt.Sprintf("[[source]]\nfiles = [%q]\n", logFile))
	written := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	if err := os.WriteFile(logFile, []byte(tokyoFailures(t, "tokyo1", "45.134.26.17", 12, 40*time.Minute, written)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(logFile, written, written); err != nil {
		t.Fatal(err)
	}
	d, stop := runDaemon(t, cfg, &logTap{more: make(chan struct{})})
	defer stop()
	waitCounter(t, "lines", &d.Pipeline().Counters.Lines, 12)
	if n := d.Pipeline().Counters.Incidents.Load(); n != 0 {
		t.Errorf("%d incidents of a backlog's failures 40 minutes apart; want none", n)
	}
	// Live: the host's burst as it writes it.
	f, err := os.OpenFile(logFile, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(tokyoFailures(t, "tokyo1", "45.134.26.18", 6, time.Second, time.Now())); err != nil {
		t.Fatal(err)
	}
	f.Close()
	waitCounter(t, "incidents", &d.Pipeline().Counters.Incidents, 1)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if last := backlogSpacing(t, cfg, "the backlog"); !last.Equal(written) {
		t.Errorf("the backlog's last event dated %s; want %s (9 hours before the host's time, at the last write)", last.UTC(), written)
	}
	if n := d.Pipeline().Counters.Redated.Load(); n != 18 {
		t.Errorf("%d lines counted as redated; want 18, the backlog's and the burst's", n)
	}
}

// aheadEntries are n journal entries of sshd failures from addr on host, apart from
// each other, the last written at last by a clock 9 hours fast.
func aheadEntries(host, addr string, n int, apart time.Duration, last time.Time, mono int) [][]byte {
	var entries [][]byte
	for i := range n {
		at := last.Add(-time.Duration(n-1-i) * apart).Add(9 * time.Hour)
		entries = append(entries, journaltest.Entry(fmt.Sprintf("__REALTIME_TIMESTAMP=%d", at.UnixMicro()),
			fmt.Sprintf("__MONOTONIC_TIMESTAMP=%d", mono+i), "_BOOT_ID=0123456789abcdef0123456789abcdef",
			fmt.Sprintf("MESSAGE=Failed password for root from %s port %d ssh2", addr, 50000+i),
			"_SYSTEMD_UNIT=ssh.service", "_COMM=sshd", "_EXE=/usr/sbin/sshd", "_UID=0", "_PID=4242", "_HOSTNAME="+host))
	}
	return entries
}

// A journal directory read at start: a fleet host's clock 9 hours fast wrote twelve
// failures 40 minutes apart, which the daemon read in a moment and dated each when read:
// one burst, an incident and a report. As a scan's file, the read is dated by the host's
// last entry against the journal file's last write: its entries are all dated 9 hours
// earlier, 40 minutes apart, and make no incident. The host's live burst, read at the
// next poll, is still an incident to report.
func TestAJournalDirectoryBacklogOfAHostAheadKeepsItsSpacing(t *testing.T) {
	journaltest.Need(t)
	dir := t.TempDir()
	journals := filepath.Join(dir, "journal")
	if err := os.Mkdir(journals, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(journals, "remote-tokyo2.journal")
	written := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	journaltest.Write(t, file, aheadEntries("tokyo2", "45.134.26.17", 12, 40*time.Minute, written, 1000)...)
	if err := os.Chtimes(file, written, written); err != nil {
		t.Fatal(err)
	}
	cfg := scanAheadConfigWith(t, dir, fmt.Sprintf("[journal]\nenabled = true\ndirectory = %q\n", journals))
	d, stop := runDaemon(t, cfg, &logTap{more: make(chan struct{})})
	defer stop()
	waitCounter(t, "lines", &d.Pipeline().Counters.Lines, 12)
	if n := d.Pipeline().Counters.Incidents.Load(); n != 0 {
		t.Errorf("%d incidents of a journal's failures 40 minutes apart; want none", n)
	}
	journaltest.Write(t, file, aheadEntries("tokyo2", "45.134.26.18", 6, time.Second, time.Now(), 2000)...)
	waitCounter(t, "incidents", &d.Pipeline().Counters.Incidents, 1)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if last := backlogSpacing(t, cfg, "the journal's backlog"); !last.Equal(written) {
		t.Errorf("the journal's last event dated %s; want %s (9 hours before the host's time, at the file's last write)", last.UTC(), written)
	}
}

// A relay flushes its queue: a host writing Tokyo time without an offset (9 hours
// ahead of detect.timezone) had twelve failures 40 minutes apart queued, and they arrive
// over TCP in a moment. Each was dated when it arrived: one burst, an incident and a
// report. The listener holds the host's messages while they say more than its offset,
// and dates them all by the last one's: 40 minutes apart as written, the last when it
// arrived, no incident. The host's live burst, sent over UDP, is still an incident to
// report.
func TestARelaysFlushOfAHostAheadKeepsItsSpacing(t *testing.T) {
	dir := t.TempDir()
	cfg := scanAheadConfigWith(t, dir, "[syslog]\ntcp = [\"127.0.0.1:0\"]\nudp = [\"127.0.0.1:0\"]\nallow = [\"127.0.0.1\"]\n")
	tap := &logTap{more: make(chan struct{})}
	d, stop := runDaemon(t, cfg, tap)
	defer stop()
	addr := func(proto string) string {
		return regexp.MustCompile(`proto=` + proto + ` addr=(\S+)`).FindStringSubmatch(tap.wait(t, "syslog: listening", "proto="+proto))[1]
	}
	tcp := dialFrom(t, "127.0.0.1", addr("tcp"))
	udp, err := net.Dial("udp", addr("udp"))
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	before := time.Now()
	queued := time.Now().Add(-time.Minute)
	for l := range strings.Lines(tokyoFailures(t, "tokyo3", "45.134.26.17", 12, 40*time.Minute, queued)) {
		fmt.Fprintf(tcp, "<38>%s", l)
	}
	waitCounter(t, "lines", &d.Pipeline().Counters.Lines, 12)
	after := time.Now()
	if n := d.Pipeline().Counters.Incidents.Load(); n != 0 {
		t.Errorf("%d incidents of a flush's failures 40 minutes apart; want none", n)
	}
	for l := range strings.Lines(tokyoFailures(t, "tokyo3", "45.134.26.18", 6, time.Second, time.Now())) {
		fmt.Fprintf(udp, "<38>%s", strings.TrimSuffix(l, "\n"))
	}
	waitCounter(t, "incidents", &d.Pipeline().Counters.Incidents, 1)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if last := backlogSpacing(t, cfg, "the flush"); last.Before(before) || last.After(after) {
		t.Errorf("the flush's last event dated %s; want when it arrived (%s to %s)", last.UTC(), before.UTC(), after.UTC())
	}
	if n := d.Pipeline().Counters.Redated.Load(); n != 18 {
		t.Errorf("%d messages counted as redated; want 18", n)
	}
}

// backlogSpacing checks what each test above read of cfg's store: the twelve events of
// 45.134.26.17 (what, for the messages) 40 minutes apart, as the host wrote them, and
// the live burst of 45.134.26.18 the one reportable incident; it returns the time of
// the backlog's last event.
func backlogSpacing(t *testing.T, cfg *Config, what string) time.Time {
	t.Helper()
	times := eventTimes(t, cfg, "45.134.26.17")
	if len(times) != 12 {
		t.Fatalf("%d events of %s; want 12", len(times), what)
	}
	for i := 1; i < len(times); i++ {
		if gap := times[i].Sub(times[i-1]); gap != 40*time.Minute {
			t.Errorf("events %d and %d of %s %s apart; want 40m0s, as written", i-1, i, what, gap)
		}
	}
	reportable := reportableIncidents(t, cfg)
	if len(reportable) != 1 || !strings.Contains(reportable[0], "45.134.26.18") {
		t.Errorf("reportable incidents %q; want the live burst's of 45.134.26.18 alone", reportable)
	}
	return times[11]
}
