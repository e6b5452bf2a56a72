package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// forgedHostConfig is review 33's: every address that may be reported has a contact
// (a static one for all of IPv4 and IPv6), three events in an hour make an incident,
// and reports are written at once to a maildir.
func forgedHostConfig(dir, extra string) string {
	return `[reporter]
name = "Sam Example"
email = "security@example.org"
[detect]
timezone = "UTC"
` + extra + `
[correlate]
threshold = 3
window = "1h"
[lookup]
rdap = false
resolvers = ["127.0.0.1:1"]
timeout = "100ms"
[[contact]]
network = "0.0.0.0/0"
emails = ["abuse@everyone.example"]
[[contact]]
network = "::/0"
emails = ["abuse6@everyone.example"]
[mail]
transport = "maildir"
maildir = "` + filepath.Join(dir, "maildir") + `"
from = "abusewatch@example.org"
admin = "root@example.org"
[policy]
settle = "0s"
mode = "auto"
max_age = "3650d"
[store]
path = "` + filepath.Join(dir, "state.db") + `"
`
}

// Review 33 F1 and F3, end to end with the lines the real servers wrote: a MariaDB
// client's user name with newlines (mysqld_safe --syslog makes each line a record) and
// a pure-ftpd client whose PTR record reads "8.8.8.8" each had 8.8.8.8 reported to
// abuse@everyone.example. scan now writes no report: MariaDB's events are forgeable
// (for the admin), and pure-ftpd's address-looking host is no address without
// [detect] numeric_hosts.
func TestScanReportsNoAddressAClientWrote(t *testing.T) {
	dir := t.TempDir()
	writeConfig(t, dir, forgedHostConfig(dir, ""))
	stdout, stderr, code := runBinary(t, dir, "scan", "--config", filepath.Join(dir, "x.toml"),
		repoPath(t, "detect/testdata/mariadb/newline-middle-syslog.log"), repoPath(t, "detect/testdata/pureftpd/ptr-syslog.log"))
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	mails, err := reportMails(filepath.Join(dir, "maildir"))
	if err != nil {
		t.Fatal(err)
	}
	if len(mails) != 0 {
		t.Errorf("%d reports written, want none:\n%s", len(mails), stdout)
	}
	for _, line := range strings.Split(stdout, "\n") {
		if strings.HasPrefix(line, "8.8.8.8") && strings.Contains(line, "sent to") {
			t.Errorf("8.8.8.8 reported: %s", line)
		}
	}
}

// rules test reads a <PTR> slot as the config declares: pure-ftpd's captured failures
// are no events without numeric_hosts (an address there may be a PTR record's text),
// and events from the address with it (the admin set DontResolve); MariaDB's lines are
// events of the forgeable class mysql-auth-failure.
func TestRulesTestReadsPTRSlotsAsDeclared(t *testing.T) {
	for _, tt := range []struct {
		extra     string
		wantEvent bool
	}{
		{"", false},
		{`numeric_hosts = ["pure-ftpd"]`, true},
	} {
		dir := t.TempDir()
		writeConfig(t, dir, forgedHostConfig(dir, tt.extra))
		stdout, stderr, code := runBinary(t, dir, "rules", "test", "--json", "--config", filepath.Join(dir, "x.toml"),
			repoPath(t, "detect/testdata/pureftpd/ptr-syslog.log"))
		if code != 0 {
			t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
		}
		failures := 0
		for _, l := range strings.Split(strings.TrimSpace(stdout), "\n") {
			var got testedLine
			if err := json.Unmarshal([]byte(l), &got); err != nil {
				t.Fatalf("%q: %v", l, err)
			}
			if got.Line%3 != 2 { // New connection, Logout: no slot the rules read
				if got.Addr != "" {
					t.Errorf("%s: an address", l)
				}
				continue
			}
			failures++
			switch {
			case tt.wantEvent && (got.Verdict != "event" || got.Class != "auth-failure" || got.Addr != "8.8.8.8"):
				t.Errorf("numeric_hosts declared: %s, want an auth-failure from 8.8.8.8", l)
			case !tt.wantEvent && (got.Verdict != "unknown" || got.Addr != ""):
				t.Errorf("nothing declared: %s, want unknown with no address", l)
			}
		}
		if failures != 4 {
			t.Errorf("%d failed logins read, want 4:\n%s", failures, stdout)
		}
	}
	dir := t.TempDir()
	writeConfig(t, dir, forgedHostConfig(dir, ""))
	stdout, stderr, code := runBinary(t, dir, "rules", "test", "--json", "--config", filepath.Join(dir, "x.toml"),
		repoPath(t, "detect/testdata/mariadb/newline-middle-syslog.log"))
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	if n := strings.Count(stdout, `"class":"mysql-auth-failure","addr":"8.8.8.8"`); n != 4 || strings.Contains(stdout, `"class":"auth-failure"`) {
		t.Errorf("want the 4 client-written lines as mysql-auth-failure from 8.8.8.8 and no auth-failure:\n%s", stdout)
	}
	if _, err := os.Stat(filepath.Join(dir, "maildir")); err == nil {
		t.Errorf("rules test wrote mail")
	}
}
