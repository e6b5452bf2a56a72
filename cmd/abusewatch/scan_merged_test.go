package main

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/store"
)

// failedLogin is sshd's line of a failed login of root from addr, by the process pid,
// at, in the traditional format of auth.log.
func failedLogin(at time.Time, pid int, addr string) string {
	return fmt.Sprintf("%s web1 sshd[%d]: Failed password for root from %s port %d ssh2\n", at.Format(time.Stamp), pid, addr, 40000+pid)
}

// eventsOf opens the store of the config in dir (no daemon holds it) and returns the
// lines of addr's events, of any time.
func eventsOf(t *testing.T, dir, addr string) []string {
	t.Helper()
	st, err := store.Open(filepath.Join(dir, "state.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	evs, err := st.EventsByAddr(netip.MustParseAddr(addr), time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	lines := make([]string, len(evs))
	for i, ev := range evs {
		lines[i] = ev.Line
	}
	return lines
}

// maildirText is every mail of the maildir in dir, one after the other, with the
// quoted-printable soft line breaks joined.
func maildirText(t *testing.T, dir string) (string, int) {
	t.Helper()
	mails, err := filepath.Glob(filepath.Join(dir, "maildir", "new", "*"))
	if err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	for _, m := range mails {
		b, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		all.WriteString(strings.ReplaceAll(strings.ReplaceAll(string(b), "\r\n", "\n"), "=\n", ""))
	}
	return all.String(), len(mails)
}

// The admin scanned auth.log (three failed logins, below the threshold of five), then
// the merged log that `zcat auth.log.*.gz; cat auth.log` gives: an older line, the same
// lines, then new ones. It does not start with the bytes read, so it is read whole; its
// lines read before were stored a second time: the incident said "5 connections, 8
// lines", and the report to the ISP quoted three lines twice (review 44 M3). A record
// stored before is not stored again, and a record repeated in a file counts each time
// it is written, as before.
func TestScanOfAMergedLogStoresNoRecordTwice(t *testing.T) {
	dir, config := demoConfigFile(t, "auto")
	const addr = "45.134.26.99"
	at := time.Now().UTC().Truncate(time.Hour).Add(-2 * time.Hour)
	sec := func(i int) time.Time { return at.Add(time.Duration(i) * time.Second) }
	// sshd[22] tried twice in one second: two records, written the same.
	authLog := failedLogin(sec(1), 21, addr) + failedLogin(sec(2), 22, addr) + failedLogin(sec(2), 22, addr)
	if err := os.WriteFile(filepath.Join(dir, "auth.log"), []byte(authLog), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runBinary(t, dir, "scan", "--config", config, "auth.log")
	if code != 0 || !strings.Contains(stdout, "Read 3 lines: 3 events") {
		t.Fatalf("scan auth.log: exit %d\n%s%s", code, stdout, stderr)
	}

	older := fmt.Sprintf("%s web1 sshd[11]: Server listening on 0.0.0.0 port 22.\n", at.Add(-time.Hour).Format(time.Stamp))
	// Then a third try of sshd[22] in that second, and three more connections.
	merged := older + authLog + failedLogin(sec(2), 22, addr) + failedLogin(sec(4), 24, addr) + failedLogin(sec(5), 25, addr) + failedLogin(sec(6), 26, addr)
	if err := os.WriteFile(filepath.Join(dir, "merged.log"), []byte(merged), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code = runBinary(t, dir, "scan", "--config", config, "merged.log")
	if code != 0 {
		t.Fatalf("scan merged.log: exit %d\n%s%s", code, stdout, stderr)
	}
	for _, want := range []string{"Read 8 lines: 4 events, 1 normal", "3 records already stored, not stored again", "1 incident, 1 report written"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("scan merged.log does not say %q:\n%s%s", want, stdout, stderr)
		}
	}
	if lines := eventsOf(t, dir, addr); len(lines) != 7 {
		t.Errorf("%d events of %s stored, want 7 (3 read before, 4 new):\n%s", len(lines), addr, strings.Join(lines, "\n"))
	}
	mail, n := maildirText(t, dir)
	if n != 1 {
		t.Fatalf("%d mails in the maildir, want the one report", n)
	}
	for pid, times := range map[int]int{21: 1, 22: 3, 24: 1, 25: 1, 26: 1} {
		if got := strings.Count(mail, fmt.Sprintf("sshd[%d]: Failed password", pid)); got != times {
			t.Errorf("the report quotes sshd[%d]'s line %d times, want %d:\n%s", pid, got, times, mail)
		}
	}
}
