package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/daemon/journaltest"
)

// bootWeb is the boot ID of the hosts the tests write journals for, unless they say.
const bootWeb = "0123456789abcdef0123456789abcdef"

// sshEntry is host's sshd entry for numbered user u<user> (then pad), k seconds after
// lineEpoch plus off, k milliseconds into boot.
func sshEntry(host, boot string, k int, off time.Duration, user int, pad string) []byte {
	ts := lineEpoch().Add(time.Duration(k)*time.Second + off)
	return journaltest.Entry(fmt.Sprintf("__REALTIME_TIMESTAMP=%d", ts.UnixMicro()), fmt.Sprintf("__MONOTONIC_TIMESTAMP=%d", 1000*(1+k)), "_BOOT_ID="+boot,
		fmt.Sprintf("MESSAGE=Failed password for invalid user u%d%s from 3.3.3.3 port 22 ssh2", user, pad),
		"_SYSTEMD_UNIT=ssh.service", "_COMM=sshd", "_EXE=/usr/sbin/sshd", "_UID=0", "SYSLOG_IDENTIFIER=sshd", "_PID=4242", "_HOSTNAME="+host)
}

// appendJournal appends numbered sshd entries from..to-1 (host web9) and one cron entry
// to the journal file in dir.
func appendJournal(t *testing.T, dir string, from, to int) {
	t.Helper()
	var entries [][]byte
	for i := from; i < to; i++ {
		entries = append(entries, sshEntry("web9", bootWeb, i, 0, i, ""))
	}
	// Not ssh: the unit filter keeps it out.
	ts := lineEpoch().Add(time.Duration(to) * time.Second)
	entries = append(entries, journaltest.Entry(fmt.Sprintf("__REALTIME_TIMESTAMP=%d", ts.UnixMicro()), fmt.Sprintf("__MONOTONIC_TIMESTAMP=%d", 1000*(1+to)), "_BOOT_ID="+bootWeb,
		"MESSAGE=Failed password for invalid user cron from 3.3.3.3 port 22 ssh2",
		"_SYSTEMD_UNIT=cron.service", "_COMM=cron", "SYSLOG_IDENTIFIER=CRON", "_PID=7", "_HOSTNAME=web9"))
	journaltest.Write(t, filepath.Join(dir, "remote.journal"), entries...)
}

// journalConfig is a config reading the journals in jdir, ssh.service only.
func journalConfig(t *testing.T, dir, jdir string) string {
	t.Helper()
	return writeSourceConfig(t, dir, "\n[journal]\nenabled = true\ndirectory = \""+jdir+"\"\nunits = [\"ssh.service\"]\nidentifiers = []\n")
}

// The journal source reads a real journal through a real journalctl: the entries of the
// ssh unit become events on the journal's host, new entries are followed, and after a
// restart the cursor committed with the events resumes exactly after the last one.
func TestJournalSourceFollowsAndResumesAtTheCursor(t *testing.T) {
	journaltest.Need(t)
	dir := t.TempDir()
	jdir := filepath.Join(dir, "journal")
	if err := os.Mkdir(jdir, 0o755); err != nil {
		t.Fatal(err)
	}
	appendJournal(t, jdir, 0, 50)
	cfg := journalConfig(t, dir, jdir)

	d := startDaemon(t, dir, "run", "--debug", "--config", cfg)
	d.waitEvents(t, 50)
	appendJournal(t, jdir, 50, 80) // followed while running
	d.waitEvents(t, 80)
	d.stop(t)

	appendJournal(t, jdir, 80, 100) // written while stopped
	d = startDaemon(t, dir, "run", "--debug", "--config", cfg)
	d.waitLog(t, "journal: reading a journal of the directory", `from="s=`)
	d.waitEvents(t, 20)
	d.stop(t)
	checkExactlyOnce(t, dir, 100)

	events := storedEvents(t, dir)
	for _, e := range events {
		if e.Host != "web9" || e.Service != "sshd" || e.Source != "journal" || !strings.HasPrefix(e.Line, lineEpoch().Format("2006-01-02T")) {
			t.Fatalf("event %+v: want host web9, service sshd, source journal and the journal's time", e)
		}
	}
}

// systemd-journal-remote's directory for a fleet holds one journal per host, each with
// its own sequence-number ID; web1 and web2 share a boot ID, web3 has its own. Every
// host is read, and after a restart each entry written meanwhile is read once: each
// host's journal resumes from its own committed position.
func TestJournalFleetDirectoryResumesOnceAcrossHosts(t *testing.T) {
	journaltest.Need(t)
	dir := t.TempDir()
	jdir := filepath.Join(dir, "journal")
	if err := os.Mkdir(jdir, 0o755); err != nil {
		t.Fatal(err)
	}
	hosts := []struct {
		name, boot string
	}{{"web3", "fedcba9876543210fedcba9876543210"}, {"web1", bootWeb}, {"web2", bootWeb}}
	// Each host in turn writes numbered users from first on, k from..to-1 seconds into its
	// boot (a millisecond later than the host before).
	write := func(from, to, first int) {
		user := first
		for j, h := range hosts {
			var entries [][]byte
			for k := from; k < to; k++ {
				entries = append(entries, sshEntry(h.name, h.boot, k, time.Duration(j)*time.Millisecond, user, ""))
				user++
			}
			journaltest.Write(t, filepath.Join(jdir, "remote-"+h.name+".journal"), entries...)
		}
	}
	write(0, 20, 0) // users 0–59
	cfg := journalConfig(t, dir, jdir)
	d := startDaemon(t, dir, "run", "--debug", "--config", cfg)
	d.waitEvents(t, 60)
	d.stop(t)

	write(20, 30, 60) // users 60–89, written while stopped
	d = startDaemon(t, dir, "run", "--debug", "--config", cfg)
	d.waitEvents(t, 30)
	d.stop(t)
	checkExactlyOnce(t, dir, 90)
	resumed := 0
	for _, l := range d.lines() {
		if containsAll(l, []string{"journal: reading a journal of the directory", `from="s=`}) {
			resumed++
		}
	}
	if resumed != 3 {
		t.Errorf("%d journals resumed from their own position; want the 3 hosts'", resumed)
	}
}

// journalctl prints a field over 4096 bytes as null unless it is given --all: an sshd
// message that long (a long user name) is an event like any other.
func TestJournalMessageOver4096BytesIsRead(t *testing.T) {
	journaltest.Need(t)
	dir := t.TempDir()
	jdir := filepath.Join(dir, "journal")
	if err := os.Mkdir(jdir, 0o755); err != nil {
		t.Fatal(err)
	}
	pad := strings.Repeat("x", 5000)
	journaltest.Write(t, filepath.Join(jdir, "remote.journal"),
		sshEntry("web9", bootWeb, 0, 0, 0, ""), sshEntry("web9", bootWeb, 1, 0, 1, pad), sshEntry("web9", bootWeb, 2, 0, 2, pad))
	d := startDaemon(t, dir, "run", "--debug", "--config", journalConfig(t, dir, jdir))
	d.waitEvents(t, 3)
	d.stop(t)
	users := storedUsers(t, dir)
	for i, want := range []string{"u0", "u1x", "u2x"} {
		n := 0
		for u, c := range users {
			if u == want || strings.HasPrefix(u, want) && want != "u0" {
				n += c
			}
		}
		if n != 1 {
			t.Errorf("user %d: %d events; want 1 (stored users: %d)", i, n, len(users))
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

// Postfix's smtpd logs as postfix/smtpd from a process named smtpd, and dovecot through
// its log process (_COMM=log): read from their units, the tag is their SYSLOG_IDENTIFIER,
// as in mail.log, and a SASL failure and an IMAP login failure are events.
func TestJournalPostfixAndDovecotEntriesAreEvents(t *testing.T) {
	journaltest.Need(t)
	dir := t.TempDir()
	jdir := filepath.Join(dir, "journal")
	if err := os.Mkdir(jdir, 0o755); err != nil {
		t.Fatal(err)
	}
	entry := func(k int, unit, uid, exe, ident, msg string) []byte {
		ts := lineEpoch().Add(time.Duration(k) * time.Second)
		return journaltest.Entry(fmt.Sprintf("__REALTIME_TIMESTAMP=%d", ts.UnixMicro()), fmt.Sprintf("__MONOTONIC_TIMESTAMP=%d", 1000*(1+k)), "_BOOT_ID="+bootWeb,
			"MESSAGE="+msg, "_SYSTEMD_UNIT="+unit, "_UID="+uid, "_COMM="+filepath.Base(exe), "_EXE="+exe, "SYSLOG_IDENTIFIER="+ident, "_PID=4242", "_HOSTNAME=mx1", "_TRANSPORT=syslog")
	}
	journaltest.Write(t, filepath.Join(jdir, "remote.journal"),
		// As postfix 3.7 (Debian 12) writes them, postfix running as its own user.
		entry(0, "postfix@-.service", "107", "/usr/lib/postfix/sbin/smtpd", "postfix/smtpd", "warning: unknown[3.3.3.3]: SASL LOGIN authentication failed: UGFzc3dvcmQ6, sasl_username=u0"),
		entry(1, "postfix@-.service", "107", "/usr/lib/postfix/sbin/smtpd", "postfix/submission/smtpd", "warning: unknown[3.3.3.3]: SASL PLAIN authentication failed: , sasl_username=u1"),
		// dovecot 2.3's login process, through its log process.
		entry(2, "dovecot.service", "0", "/usr/lib/dovecot/log", "dovecot", "imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<u2>, method=PLAIN, rip=3.3.3.3, lip=192.0.2.1, TLS, session=<4xTSbqk+iN4DAwMD>"))
	cfg := writeSourceConfig(t, dir, "\n[journal]\nenabled = true\ndirectory = \""+jdir+"\"\nunits = [\"postfix@-.service\", \"dovecot.service\"]\nidentifiers = []\n")
	d := startDaemon(t, dir, "run", "--debug", "--config", cfg)
	d.waitEvents(t, 3)
	d.stop(t)
	checkExactlyOnce(t, dir, 3)

	events := storedEvents(t, dir)
	var services []string
	for _, e := range events {
		services = append(services, fmt.Sprintf("%s %s %s", e.User, e.Service, e.Class))
	}
	slices.Sort(services)
	if want := []string{"u0 postfix/smtpd auth-failure", "u1 postfix/submission/smtpd auth-failure", "u2 dovecot auth-failure"}; !slices.Equal(services, want) {
		t.Errorf("events (user, service, class) %q\nwant %q", services, want)
	}
}
