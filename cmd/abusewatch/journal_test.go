package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/store"
)

// journalRemote is systemd-journal-remote, which writes journal files from the export
// format: the tests use it to make a real journal that a real journalctl reads.
const journalRemote = "/lib/systemd/systemd-journal-remote"

func needJournal(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("journalctl"); err != nil {
		t.Skip("journalctl is not installed (Debian: apt-get install systemd); the JSON and cursor handling are tested in daemon/journal_test.go")
	}
	if _, err := os.Stat(journalRemote); err != nil {
		t.Skip("systemd-journal-remote is not installed (Debian: apt-get install systemd-journal-remote): no way to write a journal file")
	}
}

// appendJournal appends numbered sshd entries from..to-1 (host web9) and one cron entry
// to the journal file in dir.
func appendJournal(t *testing.T, dir string, from, to int) {
	t.Helper()
	var b bytes.Buffer
	entry := func(i int, fields ...string) {
		ts := lineEpoch().Add(time.Duration(i) * time.Second)
		fmt.Fprintf(&b, "__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n_BOOT_ID=0123456789abcdef0123456789abcdef\n", ts.UnixMicro(), 1000+i)
		for _, f := range fields {
			b.WriteString(f + "\n")
		}
		b.WriteString("\n")
	}
	for i := from; i < to; i++ {
		entry(i, fmt.Sprintf("MESSAGE=Failed password for invalid user u%d from 3.3.3.3 port 22 ssh2", i),
			"_SYSTEMD_UNIT=ssh.service", "_COMM=sshd", "SYSLOG_IDENTIFIER=sshd", "_PID=4242", "_HOSTNAME=web9")
	}
	// Not ssh: the unit filter keeps it out.
	entry(to, "MESSAGE=Failed password for invalid user cron from 3.3.3.3 port 22 ssh2",
		"_SYSTEMD_UNIT=cron.service", "_COMM=cron", "SYSLOG_IDENTIFIER=CRON", "_PID=7", "_HOSTNAME=web9")
	cmd := exec.Command(journalRemote, "-o", filepath.Join(dir, "remote.journal"), "-")
	cmd.Stdin = &b
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("systemd-journal-remote: %v\n%s", err, out)
	}
}

// The journal source reads a real journal through a real journalctl: the entries of the
// ssh unit become events on the journal's host, new entries are followed, and after a
// restart the cursor committed with the events resumes exactly after the last one.
func TestJournalSourceFollowsAndResumesAtTheCursor(t *testing.T) {
	needJournal(t)
	dir := t.TempDir()
	jdir := filepath.Join(dir, "journal")
	if err := os.Mkdir(jdir, 0o755); err != nil {
		t.Fatal(err)
	}
	appendJournal(t, jdir, 0, 50)
	cfg := writeSourceConfig(t, dir, "\n[journal]\nenabled = true\ndirectory = \""+jdir+"\"\nunits = [\"ssh.service\"]\nidentifiers = []\n")

	d := startDaemon(t, dir, "run", "--debug", "--config", cfg)
	d.waitEvents(t, 50)
	appendJournal(t, jdir, 50, 80) // followed while running
	d.waitEvents(t, 80)
	d.stop(t)

	appendJournal(t, jdir, 80, 100) // written while stopped
	d = startDaemon(t, dir, "run", "--debug", "--config", cfg)
	d.waitLog(t, "journal: reading", "--after-cursor=s=")
	d.waitEvents(t, 20)
	d.stop(t)
	checkExactlyOnce(t, dir, 100)

	st, err := store.Open(filepath.Join(dir, "state.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	events, err := st.EventsByAddr(sourceAddr, time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		if e.Host != "web9" || e.Service != "sshd" || e.Source != "journal" || !strings.HasPrefix(e.Line, lineEpoch().Format("2006-01-02T")) {
			t.Fatalf("event %+v: want host web9, service sshd, source journal and the journal's time", e)
		}
	}
}

// Without journalctl the daemon says what is missing and keeps trying, it does not die.
func TestJournalctlMissingIsRetried(t *testing.T) {
	dir := t.TempDir()
	cfg := writeSourceConfig(t, dir, "\n[journal]\nenabled = true\ncommand = \"journalctl-not-installed\"\n")
	d := startDaemon(t, dir, "run", "--config", cfg)
	d.waitLog(t, "level=ERROR", "journalctl stopped; starting it again", "install systemd's journalctl", "errors=1")
	d.waitLog(t, "level=ERROR", "journalctl stopped; starting it again", "errors=2")
	d.stop(t)
}
