package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A fleet host whose clock is 3 days fast writes year-less syslog lines to a file the
// daemon follows (a central rsyslog's). A line added as the daemon follows the file is
// read within a poll of being written: it gets the syslog listener's month of allowance,
// so it is this year's, too far ahead to believe, and dated when read. The daemon gave
// every file line a day, as to a backlog, and dated it a year back. A line the file held
// when the daemon started, 340 days old, is a backlog and stays last year's (with the
// month it was 25 days ahead, and dated when read: an old attack reported as of now).
func TestAFastClocksYearlessLineWrittenAsFollowedIsThisYears(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "fleet.log")
	cfg := observeConfig(t, dir, fmt.Sprintf("[[source]]\nfiles = [%q]\n[detect]\ntimezone = \"UTC\"", logFile), 1_000_000_000)
	line := func(at time.Time, addr string) string {
		return fmt.Sprintf("%s web3 sshd[42]: Failed password for root from %s port 40000 ssh2\n", at.UTC().Format(time.Stamp), addr)
	}
	start := time.Now()
	old := start.Add(-340 * 24 * time.Hour)
	appendTo(t, logFile, line(old, "45.4.0.1"))
	h := &caughtUp{wants: map[string]chan struct{}{}}
	_, stop := runDaemon(t, cfg, h)
	fi, err := os.Stat(logFile)
	if err != nil {
		t.Fatal(err)
	}
	h.wait(t, logFile, fi.Size())
	appendTo(t, logFile, line(time.Now().Add(3*24*time.Hour), "45.4.0.2"))
	if fi, err = os.Stat(logFile); err != nil {
		t.Fatal(err)
	}
	h.wait(t, logFile, fi.Size())
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	end := time.Now()
	if got := eventTimes(t, cfg, "45.4.0.1"); len(got) != 1 || got[0].Sub(old.Truncate(time.Second)).Abs() > time.Second {
		t.Errorf("the backlog's line 340 days old dated %v; want %v", got, old.UTC().Truncate(time.Second))
	}
	if got := eventTimes(t, cfg, "45.4.0.2"); len(got) != 1 || got[0].Before(start.Add(-time.Second)) || got[0].After(end) {
		t.Errorf("the line of a clock 3 days fast, written as followed, dated %v; want when it was read, between %v and %v", got, start, end)
	}
}
