package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/daemon/journaltest"
)

// runDaemon runs the daemon of cfg, its log in tap, until the test ends or stop is
// called; stop returns Run's error.
func runDaemon(t *testing.T, cfg *Config, tap slog.Handler) (d *Daemon, stop func() error) {
	t.Helper()
	d, err := New(cfg, slog.New(tap))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	stopped := false
	var runErr error
	stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(30 * time.Second):
				if l, ok := tap.(interface{ all() []string }); ok {
					t.Fatalf("Run did not return within 30s; the log:\n%s", strings.Join(l.all(), "\n"))
				}
				t.Fatal("Run did not return within 30s")
			}
		}
		return runErr
	}
	t.Cleanup(func() { stop() })
	return d, stop
}

// eventTimes are the times of the events of addr in cfg's store.
func eventTimes(t *testing.T, cfg *Config, addr string) []time.Time {
	t.Helper()
	st := openTestStore(t, cfg)
	defer st.Close()
	events, err := st.EventsByAddr(netip.MustParseAddr(addr), time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	var times []time.Time
	for _, ev := range events {
		times = append(times, ev.Time)
	}
	return times
}

// A followed file's lines dated more than maxSkew after they were read (a fleet host's
// clock, written by a central rsyslog) are dated when they were read: 200 days ahead,
// as the listener does. (Without a year, a backlog's line more than a day ahead is last
// year's: a file read the first time may hold lines of eleven months ago, see
// detect.ParseHeader; a line added as the file is followed gets a month, see
// TestAFastClocksYearlessLineWrittenAsFollowedIsThisYears.) A line dated an hour ago is
// believed. The host's clock is warned of once, not per line.
func TestAFollowedFilesLineDatedAheadIsDatedWhenRead(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "web2.log")
	cfg := observeConfig(t, dir, fmt.Sprintf("[[source]]\nfiles = [%q]\n[detect]\ntimezone = \"UTC\"", logFile), 1)
	now := time.Now().UTC()
	var b strings.Builder
	for i := range 6 {
		fmt.Fprintf(&b, "%s web2 sshd[%d]: Failed password for root from 45.4.0.9 port %d ssh2\n",
			now.Add(200*24*time.Hour+time.Duration(i)*time.Second).Format("2006-01-02T15:04:05.000000-07:00"), i, 30000+i)
	}
	believed := now.Add(-time.Hour).Truncate(time.Second)
	fmt.Fprintf(&b, "%s web3 sshd[9]: Failed password for root from 45.5.0.9 port 50000 ssh2\n", believed.Format(time.RFC3339))
	if err := os.WriteFile(logFile, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	tap := &logTap{more: make(chan struct{})}
	before := time.Now()
	d, stop := runDaemon(t, cfg, tap)
	waitCounter(t, "lines", &d.Pipeline().Counters.Lines, 7)
	after := time.Now()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{"45.4.0.9"} {
		times := eventTimes(t, cfg, addr)
		if len(times) == 0 {
			t.Errorf("no events of %s", addr)
		}
		for _, at := range times {
			if at.Before(before.Truncate(time.Second)) || at.After(after) {
				t.Errorf("an event of %s dated %s; want it dated when read (%s to %s)", addr, at.UTC(), before.UTC(), after.UTC())
			}
		}
	}
	if times := eventTimes(t, cfg, "45.5.0.9"); len(times) != 1 || !times[0].Equal(believed) {
		t.Errorf("the line of an hour ago made events dated %v; want %s", times, believed)
	}
	if n := d.Pipeline().Counters.Redated.Load(); n != 6 {
		t.Errorf("%d lines counted as redated; want 6", n)
	}
	if n := tap.count("WARN", "dated more than 5 minutes after it was read is dated when it was read", "source="+logFile, "host=web2", "ahead=200 days"); n != 1 {
		t.Errorf("%d warnings of web2's clock; want 1. The log:\n%s", n, strings.Join(tap.all(), "\n"))
	}
}

// A syslog sender whose clock is years behind (an RTC reset) is warned of, once, and its
// messages make no event: dated as sent they were mailed as attacks of 2020 to a store
// with nothing newer (max_age counts from the newest event, theirs). A message of an
// hour ago from another sender is stored.
func TestASyslogSenderYearsBehindIsWarnedOfAndNotStored(t *testing.T) {
	dir := t.TempDir()
	cfg := syslogStoreConfig(t, dir)
	tap := &logTap{more: make(chan struct{})}
	d, stop := runDaemon(t, cfg, tap)
	m := regexp.MustCompile(`proto=tcp addr=(\S+)`).FindStringSubmatch(tap.wait(t, "syslog: listening", "proto=tcp"))
	conn := dialFrom(t, "127.0.0.1", m[1])
	old := time.Date(2020, 3, 1, 10, 0, 0, 0, time.UTC)
	for i := range 6 {
		fmt.Fprintf(conn, "<38>1 %s fleet7 sshd %d - - Failed password for root from 45.9.0.9 port %d ssh2\n",
			old.Add(time.Duration(i)*time.Second).Format(time.RFC3339), 100+i, 5000+i)
	}
	fmt.Fprintf(conn, "%s\n", sshdMessage(1, "45.9.0.10"))
	waitCounter(t, "lines", &d.Pipeline().Counters.Lines, 7)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if times := eventTimes(t, cfg, "45.9.0.9"); len(times) != 0 {
		t.Errorf("%d events of 2020 stored: %v", len(times), times)
	}
	if times := eventTimes(t, cfg, "45.9.0.10"); len(times) != 1 {
		t.Errorf("%d events of an hour ago stored; want 1", len(times))
	}
	if n := d.Pipeline().Counters.Stale.Load(); n != 6 {
		t.Errorf("%d messages counted as stale; want 6", n)
	}
	if n := tap.count("WARN", "dated more than policy.max_age before it arrived", "host=fleet7", "dated=2020-03-01T10:00:00Z"); n != 1 {
		t.Errorf("%d warnings of fleet7's clock; want 1. The log:\n%s", n, strings.Join(tap.all(), "\n"))
	}
}

// The journal's entries are held to the same rule: one whose time is 200 days after it
// was read (a journal-remote file from a host whose clock is wrong) is dated when read.
func TestAJournalEntryDatedAheadIsDatedWhenRead(t *testing.T) {
	journaltest.Need(t)
	dir := t.TempDir()
	journals := filepath.Join(dir, "journal")
	if err := os.Mkdir(journals, 0o755); err != nil {
		t.Fatal(err)
	}
	ahead := time.Now().Add(200 * 24 * time.Hour)
	var entries [][]byte
	for k := range 3 {
		entries = append(entries, journaltest.Entry(fmt.Sprintf("__REALTIME_TIMESTAMP=%d", ahead.Add(time.Duration(k)*time.Second).UnixMicro()),
			fmt.Sprintf("__MONOTONIC_TIMESTAMP=%d", 1000+k), "_BOOT_ID=0123456789abcdef0123456789abcdef",
			fmt.Sprintf("MESSAGE=Failed password for root from 45.134.26.9 port %d ssh2", 40000+k),
			"_SYSTEMD_UNIT=ssh.service", "_COMM=sshd", "_EXE=/usr/sbin/sshd", "_UID=0", "_PID=4242", "_HOSTNAME=web7"))
	}
	journaltest.Write(t, filepath.Join(journals, "remote.journal"), entries...)
	cfg := observeConfig(t, dir, fmt.Sprintf("[journal]\nenabled = true\ndirectory = %q", journals), 1)
	tap := &logTap{more: make(chan struct{})}
	before := time.Now()
	d, stop := runDaemon(t, cfg, tap)
	waitCounter(t, "lines", &d.Pipeline().Counters.Lines, 3)
	after := time.Now()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	times := eventTimes(t, cfg, "45.134.26.9")
	if len(times) != 3 {
		t.Errorf("%d events; want 3", len(times))
	}
	for _, at := range times {
		if at.Before(before.Truncate(time.Second)) || at.After(after) {
			t.Errorf("an entry dated %s; want it dated when read (%s to %s)", at.UTC(), before.UTC(), after.UTC())
		}
	}
	if n := tap.count("WARN", "dated more than 5 minutes after it was read", "host=web7", "ahead=200 days"); n != 1 {
		t.Errorf("%d warnings of web7's clock; want 1. The log:\n%s", n, strings.Join(tap.all(), "\n"))
	}
}
