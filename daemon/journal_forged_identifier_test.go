package daemon

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/daemon/journaltest"
	"github.com/abusewatch/abusewatch/store"
)

// A local user who copies logger to ~/sshd writes entries with _COMM=sshd and
// SYSLOG_IDENTIFIER=sshd, which the identifiers filter lets in: journald's _UID and
// _SYSTEMD_UNIT, which the user cannot choose, tell them from sshd's. Entries of a
// configured unit, and those of root (sshd's socket-activated instances), are read;
// the others are refused, counted (as refused, not as errors), and logged once a minute,
// and the cursor moves past
// them (a restart does not read them again).
func TestJournalRefusesAnIdentifierFromAnotherUser(t *testing.T) {
	journaltest.Need(t)
	dir := t.TempDir()
	const boot = "0123456789abcdef0123456789abcdef"
	entry := func(k int, unit, uid, comm, ident string) []byte {
		exe := map[string]string{"sshd": "/usr/sbin/sshd", "sshd-session": "/usr/lib/openssh/sshd-session"}[comm]
		if uid != "0" {
			exe = "/home/mallory/" + comm
		}
		ts := time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC).Add(time.Duration(k) * time.Second)
		return journaltest.Entry(fmt.Sprintf("__REALTIME_TIMESTAMP=%d", ts.UnixMicro()), fmt.Sprintf("__MONOTONIC_TIMESTAMP=%d", 1000+k), "_BOOT_ID="+boot,
			fmt.Sprintf("MESSAGE=Failed password for root from 9.9.9.%d port 22 ssh2", k),
			"_SYSTEMD_UNIT="+unit, "_UID="+uid, "_COMM="+comm, "_EXE="+exe, "SYSLOG_IDENTIFIER="+ident, "_PID=31337", "_HOSTNAME=web1", "_TRANSPORT=syslog")
	}
	entries := [][]byte{
		entry(0, "ssh.service", "0", "sshd", "sshd"),
		entry(1, "ssh@3-192.0.2.1:22-3.3.3.3:50000.service", "0", "sshd-session", "sshd-session"), // socket-activated: root
		entry(2, "ssh.service", "0", "sshd", "sshd"),
	}
	for k := 3; k < 15; k++ { // ~/sshd run from a shell, and from a web application's user
		unit, uid := "session-3.scope", "1000"
		if k%2 == 0 {
			unit, uid = "php8.2-fpm.service", "33"
		}
		entries = append(entries, entry(k, unit, uid, "sshd", "sshd"))
	}
	entries = append(entries, entry(15, "ssh.service", "0", "sshd", "sshd"))
	journaltest.Write(t, filepath.Join(dir, "remote.journal"), entries...)

	jc := JournalConfig{Enabled: true, Directory: dir, Command: "journalctl", Units: []string{"ssh.service"}, Identifiers: []string{"sshd", "sshd-session"}}
	st := tempStore(t)
	r := startJournalReader(t, newJournalReaderConfig(jc, st))
	var lines []string
	for len(lines) < 4 {
		l := next(t, r.out)
		if _, err := r.d.store.Commit(nil, []store.Position{l.pos, l.fp}); err != nil {
			t.Fatal(err)
		}
		if !l.posOnly {
			lines = append(lines, l.rec.Line)
		}
	}
	want := []string{
		"2026-11-22T02:00:00.000000Z web1 sshd[31337]: Failed password for root from 9.9.9.0 port 22 ssh2",
		"2026-11-22T02:00:01.000000Z web1 sshd-session[31337]: Failed password for root from 9.9.9.1 port 22 ssh2",
		"2026-11-22T02:00:02.000000Z web1 sshd[31337]: Failed password for root from 9.9.9.2 port 22 ssh2",
		"2026-11-22T02:00:15.000000Z web1 sshd[31337]: Failed password for root from 9.9.9.15 port 22 ssh2",
	}
	if !slices.Equal(lines, want) {
		t.Errorf("records:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	c := r.d.sources.get(journalSource)
	if c.Refused.Load() != 12 || c.Errors.Load() != 0 || c.Lines.Load() != 4 {
		t.Errorf("counters: %d refused, %d errors, %d lines; want 12, 0, 4", c.Refused.Load(), c.Errors.Load(), c.Lines.Load())
	}
	if warned := strings.Count(r.log(), "journal: refused"); warned != 1 || !strings.Contains(r.log(), "uid=1000 unit=session-3.scope") {
		t.Errorf("%d warnings about refused entries; want 1, naming UID 1000 and its session:\n%s", warned, r.log())
	}
	r.stop()

	// The refused entries' cursor was committed: nothing is read again.
	journaltest.Write(t, filepath.Join(dir, "remote.journal"), entry(16, "ssh.service", "0", "sshd", "sshd"))
	r = startJournalReader(t, newJournalReaderConfig(jc, st))
	if l := next(t, r.out); l.posOnly || !strings.Contains(l.rec.Line, "from 9.9.9.16 ") {
		t.Errorf("after a restart read %q (position only: %v); want the new entry", l.rec.Line, l.posOnly)
	}
}
