package daemon

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/daemon/journaltest"
	"github.com/abusewatch/abusewatch/store"
)

// A configured unit runs code of others than its service: postfix's local(8) runs a
// user's ~/.forward pipe as that user in postfix@-.service, PostgreSQL's COPY … TO
// PROGRAM runs a command as postgres in its unit, cron runs users' jobs in cron.service.
// Such a process may name any program (logger -t sshd), set its process name
// (prctl(PR_SET_NAME), which _COMM shows) or run a copy of logger named sshd (_EXE in
// the user's files), and may exit before journald looks at it (no _EXE). None of these
// is read as the program it names: each is refused (no record, so no event, whatever a
// rule of PROGRAM * would match), counted, and logged once per unit, process and
// identifier. The services' own entries (sshd, sshd-session, postfix/smtpd from smtpd,
// postgres) are read as before.
func TestJournalReadsAnIdentifierOnlyFromItsOwnProcess(t *testing.T) {
	journaltest.Need(t)
	dir := t.TempDir()
	const boot = "0123456789abcdef0123456789abcdef"
	entry := func(k int, unit, uid, comm, exe, ident, msg string) []byte {
		ts := time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC).Add(time.Duration(k) * time.Second)
		fields := []string{fmt.Sprintf("__REALTIME_TIMESTAMP=%d", ts.UnixMicro()), fmt.Sprintf("__MONOTONIC_TIMESTAMP=%d", 1000+k), "_BOOT_ID=" + boot,
			"MESSAGE=" + msg, "_SYSTEMD_UNIT=" + unit, "_UID=" + uid, "_COMM=" + comm, "SYSLOG_IDENTIFIER=" + ident,
			fmt.Sprintf("_PID=%d", 5000+k), "_HOSTNAME=mx1", "_TRANSPORT=syslog"}
		if exe != "" {
			fields = append(fields, "_EXE="+exe)
		}
		return journaltest.Entry(fields...)
	}
	ssh := func(k int) string { return fmt.Sprintf("Failed password for root from 8.8.8.%d port 22 ssh2", k) }
	const (
		postfix  = "postfix@-.service"
		postgres = "postgresql@15-main.service"
		cron     = "cron.service"
	)
	entries := [][]byte{
		// The services' own.
		entry(0, "ssh.service", "0", "sshd", "/usr/sbin/sshd", "sshd", "Failed password for root from 3.3.3.0 port 22 ssh2"),
		entry(1, "ssh.service", "0", "sshd-session", "/usr/lib/openssh/sshd-session", "sshd-session", "Failed password for root from 3.3.3.1 port 22 ssh2"),
		// Socket-activated (a unit of its own, not configured), its binary replaced by an upgrade.
		entry(2, "ssh@3-192.0.2.1:22-3.3.3.2:50000.service", "0", "sshd", "/usr/sbin/sshd (deleted)", "sshd", "Failed password for root from 3.3.3.2 port 22 ssh2"),
		entry(3, postfix, "107", "smtpd", "/usr/lib/postfix/sbin/smtpd", "postfix/smtpd", "warning: unknown[3.3.3.3]: SASL LOGIN authentication failed: UGFzc3dvcmQ6, sasl_username=u3"),
		entry(4, postfix, "107", "smtpd", "/usr/libexec/postfix/smtpd", "postfix/submission/smtpd", "warning: unknown[3.3.3.4]: SASL PLAIN authentication failed: , sasl_username=u4"),
		entry(5, postgres, "108", "postgres", "/usr/lib/postgresql/15/bin/postgres", "postgres", "2026-11-22 02:00:05.000 UTC 3.3.3.5(4000) [5005] FATAL:  password authentication failed for user \"u5\""),

		// Others posing as them.
		entry(6, postfix, "1000", "logger", "/usr/bin/logger", "sshd", ssh(6)), // |logger -t sshd in ~/.forward
		entry(7, postfix, "1000", "logger", "/usr/bin/logger", "sshd", ssh(7)),
		entry(8, postgres, "108", "python3", "/usr/bin/python3.11", "sshd", ssh(8)), // COPY … TO PROGRAM
		entry(9, cron, "1000", "sh", "/usr/bin/dash", "sshd", ssh(9)),               // a user's cron job
		entry(10, postfix, "1000", "sshd", "/usr/bin/python3.11", "sshd", ssh(10)),  // prctl(PR_SET_NAME, "sshd")
		entry(11, postfix, "1000", "sshd", "/home/bob/sshd", "sshd", ssh(11)),       // a copy of logger named sshd
		entry(12, postfix, "33", "sshd", "/var/www/sshd", "sshd", ssh(12)),          // www-data's ~/.forward
		entry(13, postfix, "1000", "sshd", "/usr/sbin/sshd", "sshd", ssh(13)),       // the real sshd, run by a user
		entry(14, postfix, "1000", "sshd", "", "sshd", ssh(14)),                     // ended before journald looked
		entry(15, postfix, "107", "smtpd", "/var/spool/postfix/smtpd", "postfix/smtpd", "warning: unknown[8.8.8.15]: SASL LOGIN authentication failed: UGFzc3dvcmQ6, sasl_username=x"),
		entry(16, postgres, "108", "postgres", "/var/lib/postgresql/postgres", "postgres", "2026-11-22 02:00:16.000 UTC 8.8.8.16(4000) [5016] FATAL:  password authentication failed for user \"x\""),
		entry(20, postgres, "1000", "postgres", "/usr/lib/postgresql/15/bin/postgres", "postgres", // the real binary, run by a user
			"2026-11-22 02:00:20.000 UTC 8.8.8.20(4000) [5020] FATAL:  password authentication failed for user \"x\""),
		entry(17, cron, "1000", "logger", "/usr/bin/logger", "kernel", "[UFW BLOCK] IN=eth0 OUT= SRC=8.8.8.17 DST=192.0.2.1 PROTO=TCP SPT=4000 DPT=22"),
		// A rule of PROGRAM * (pam_unix) matches whatever the program: not read under logger either.
		entry(18, postfix, "1000", "logger", "/usr/bin/logger", "vsftpd",
			"pam_unix(vsftpd:auth): authentication failure; logname= uid=0 euid=0 tty=ftp ruser=root rhost=8.8.8.18  user=root"),

		entry(19, "ssh.service", "0", "sshd", "/usr/sbin/sshd", "sshd", "Failed password for root from 3.3.3.19 port 22 ssh2"),
	}
	journaltest.Write(t, filepath.Join(dir, "remote.journal"), entries...)

	jc := JournalConfig{Enabled: true, Directory: dir, Command: "journalctl", Units: []string{"ssh.service", postfix, postgres, cron}, Identifiers: []string{"sshd", "sshd-session"}}
	r := startJournalReader(t, newJournalReaderConfig(jc, tempStore(t)))
	want := []string{
		"2026-11-22T02:00:00.000000Z mx1 sshd[5000]: Failed password for root from 3.3.3.0 port 22 ssh2",
		"2026-11-22T02:00:01.000000Z mx1 sshd-session[5001]: Failed password for root from 3.3.3.1 port 22 ssh2",
		"2026-11-22T02:00:02.000000Z mx1 sshd[5002]: Failed password for root from 3.3.3.2 port 22 ssh2",
		"2026-11-22T02:00:03.000000Z mx1 postfix/smtpd[5003]: warning: unknown[3.3.3.3]: SASL LOGIN authentication failed: UGFzc3dvcmQ6, sasl_username=u3",
		"2026-11-22T02:00:04.000000Z mx1 postfix/submission/smtpd[5004]: warning: unknown[3.3.3.4]: SASL PLAIN authentication failed: , sasl_username=u4",
		"2026-11-22T02:00:05.000000Z mx1 postgres[5005]: 2026-11-22 02:00:05.000 UTC 3.3.3.5(4000) [5005] FATAL:  password authentication failed for user \"u5\"",
		"2026-11-22T02:00:19.000000Z mx1 sshd[5019]: Failed password for root from 3.3.3.19 port 22 ssh2",
	}
	var lines []string
	for len(lines) < len(want) { // the refused entries come before the last one
		l := next(t, r.out)
		if _, err := r.d.store.Commit(nil, []store.Position{l.pos, l.fp}); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, l.rec.Line)
	}
	if !slices.Equal(lines, want) {
		t.Errorf("records:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	c := r.d.sources.get(journalSource)
	if c.Refused.Load() != 14 || c.Errors.Load() != 0 || c.Lines.Load() != 7 {
		t.Errorf("counters: %d refused, %d errors, %d lines; want 14, 0, 7", c.Refused.Load(), c.Errors.Load(), c.Lines.Load())
	}
	log := r.log()
	// Entries 6 and 7 are one unit, process and identifier: one warning.
	if n := strings.Count(log, "unit=postfix@-.service comm=logger identifier=sshd"); n != 1 {
		t.Errorf("%d warnings about logger posing as sshd in postfix@-.service; want 1:\n%s", n, log)
	}
	for _, who := range []string{
		"unit=postgresql@15-main.service comm=python3 identifier=sshd",
		"unit=cron.service comm=sh identifier=sshd",
		"unit=postfix@-.service comm=sshd identifier=sshd",
		"unit=postgresql@15-main.service comm=postgres identifier=postgres",
		"unit=cron.service comm=logger identifier=kernel",
		"unit=postfix@-.service comm=logger identifier=vsftpd",
	} {
		if !strings.Contains(log, who) {
			t.Errorf("no warning naming %s:\n%s", who, log)
		}
	}
	if strings.Contains(log, "8.8.8.") {
		t.Errorf("a refused entry's message was logged (the poser's text):\n%s", log)
	}
}

// Each of journald's fields is checked on its own: a process is its program only when its
// name, its executable's name and place, and its UID all say so.
func TestJournalProcessIsItsProgram(t *testing.T) {
	for _, tc := range []struct {
		program, transport, comm, exe, uid string
		want                               string
	}{
		{"sshd", "syslog", "sshd", "/usr/sbin/sshd", "0", ""},
		{"sshd", "syslog", "sshd-session", "/usr/lib/openssh/sshd-session", "0", ""},
		{"sshd-session", "syslog", "sshd-session", "/usr/libexec/openssh/sshd-session (deleted)", "0", ""},
		{"postfix/smtpd", "syslog", "smtpd", "/usr/lib/postfix/sbin/smtpd", "107", ""},
		{"postfix-out/submission/smtpd", "syslog", "smtpd", "/usr/libexec/postfix/smtpd", "89", ""},
		{"dovecot", "syslog", "log", "/usr/lib/dovecot/log", "0", ""},
		{"dovecot", "syslog", "managesieve-log", "/usr/lib/dovecot/managesieve-login", "118", ""}, // _COMM is cut at 15 bytes
		{"mysqld", "stdout", "mysqld", "/usr/sbin/mariadbd", "106", ""},                           // a link to mariadbd
		{"CRON", "syslog", "cron", "/usr/sbin/cron", "0", ""},                                     // a program the table does not know
		{"myservice", "syslog", "myservice", "/opt/myservice/bin/myservice", "1001", ""},          // and its UID is not checked
		{"kernel", "kernel", "", "", "", ""},

		{"sshd", "syslog", "logger", "/usr/bin/logger", "1000", notItsProcess},
		{"postfix/smtpd", "syslog", "postlog", "/usr/sbin/postlog", "0", notItsProcess},
		{"postfix/", "syslog", "smtpd", "/usr/lib/postfix/sbin/smtpd", "107", notItsProcess},
		{"myservice", "syslog", "python3", "/usr/bin/python3.11", "0", notItsProcess},
		{"sshd", "syslog", "sshd", "/usr/bin/python3.11", "0", notItsExecutable},     // prctl(PR_SET_NAME)
		{"myservice", "syslog", "myservice", "/usr/bin/perl", "0", notItsExecutable}, // the same, for a program the table does not know
		{"sshd", "syslog", "sshd", "/home/bob/sshd", "0", notInstalled},              // root running a user's file is still not sshd
		{"postgres", "syslog", "postgres", "/var/lib/postgresql/postgres", "108", notInstalled},
		{"myservice", "syslog", "myservice", "/usr/../home/bob/myservice", "0", notInstalled},
		{"sshd", "syslog", "sshd", "/usr/sbin/sshd", "105", notRoot},
		{"postgres", "syslog", "postgres", "/usr/lib/postgresql/15/bin/postgres", "1000", aUsersProcess},
		{"sshd", "syslog", "sshd", "", "0", untold},
		{"sshd", "syslog", "", "/usr/sbin/sshd", "0", untold},
		{"sshd", "syslog", "sshd", "/usr/sbin/sshd", "", untold},
		{"kernel", "syslog", "kernel", "/usr/bin/kernel", "0", notTheKernel},
	} {
		raw := func(s string) json.RawMessage {
			if s == "" {
				return nil
			}
			b, _ := json.Marshal(s)
			return b
		}
		e := journalEntry{Transport: raw(tc.transport), Comm: raw(tc.comm), Exe: raw(tc.exe), UID: raw(tc.uid)}
		if got := journalProcessIs(tc.program, &e); got != tc.want {
			t.Errorf("%s from %s (%s, UID %s): %q; want %q", tc.program, tc.comm, tc.exe, tc.uid, got, tc.want)
		}
	}
}

// With units = [] and identifiers = [] (everything is read) nothing is refused: an entry
// whose process is not the program it names, root's included, is read under its process
// name, never as that program.
func TestJournalReadsEverythingUnderTheProcessName(t *testing.T) {
	for _, tc := range []struct{ entry, want string }{
		{`"_UID":"0","_COMM":"logger","_EXE":"/usr/bin/logger","SYSLOG_IDENTIFIER":"sshd"`, "logger[12]"},
		{`"_UID":"1000","_COMM":"sshd","_EXE":"/home/bob/sshd","SYSLOG_IDENTIFIER":"sshd"`, "sshd[12]"}, // as a file's line: forgeable
		{`"_UID":"0","_COMM":"sshd","_EXE":"/usr/sbin/sshd","SYSLOG_IDENTIFIER":"sshd"`, "sshd[12]"},
		{`"_UID":"107","_COMM":"smtpd","_EXE":"/usr/lib/postfix/sbin/smtpd","SYSLOG_IDENTIFIER":"postfix/smtpd"`, "smtpd[12]"}, // not root, no unit
		{`"_UID":"0","_COMM":"smtpd","_EXE":"/usr/lib/postfix/sbin/smtpd","SYSLOG_IDENTIFIER":"postfix/smtpd"`, "postfix/smtpd[12]"},
	} {
		line := `{"__CURSOR":"s=4c252754fe71446484b8827a9b6a2c55;i=7","__REALTIME_TIMESTAMP":"1795313285860172","_PID":"12","_HOSTNAME":"mx1","MESSAGE":"m",` + tc.entry + `}`
		jr, err := journalRecord([]byte(line), time.Now(), newJournalTrust(JournalConfig{}))
		if err != nil {
			t.Fatal(err)
		}
		if want := "2026-11-22T02:08:05.860172Z mx1 " + tc.want + ": m"; jr.refused || jr.rec.Line != want {
			t.Errorf("%s: %q (refused %v); want %q", tc.entry, jr.rec.Line, jr.refused, want)
		}
	}
}
