package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// After an upgrade that made MariaDB's and MySQL's classes forgeable and pure-ftpd's
// host slot a <PTR>, check-config said OK and a scan made no incident without a word
// (review 37 F4). A config that reads them is told why, and pure-ftpd what to set; a
// config that declares pure-ftpd in numeric_hosts, or reads neither, is not.
func TestCheckConfigWarnsOfMariaDBAndPureFTPdSources(t *testing.T) {
	dir := t.TempDir()
	journal := filepath.Join(dir, "journal")
	if err := os.MkdirAll(journal, 0o755); err != nil {
		t.Fatal(err)
	}
	logFile := filepath.Join(dir, "auth.log")
	if err := os.WriteFile(logFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	base := "[reporter]\nname = \"Test Admin\"\n[mail]\nfrom = \"abusewatch@example.org\"\n[admin]\nsocket = \"\"\n" +
		"[store]\npath = \"" + filepath.Join(dir, "state.db") + "\"\n"
	withJournal := func(units string) string {
		return base + "[journal]\nenabled = true\ndirectory = \"" + journal + "\"\nunits = [" + units + "]\n"
	}
	mariadb := "journal.units: mariadb.service may hold MariaDB's or MySQL's lines: their failed logins (mysql-auth-failure, mysql-protocol-probe) are events for you alone and never make a report outside"
	pureFTPd := "journal.units: pure-ftpd.service may hold pure-ftpd's lines, and [detect] numeric_hosts does not name pure-ftpd"
	for _, tc := range []struct {
		name, doc string
		want      []string // in stderr
		not       []string
	}{
		{"mariadb unit", withJournal(`"ssh.service", "mariadb.service"`), []string{"warning: x.toml:12: " + mariadb, "newlines in its user name", "README.md"}, []string{"pure-ftpd"}},
		{"pure-ftpd unit", withJournal(`"ssh.service", "pure-ftpd.service"`), []string{"warning: x.toml:12: " + pureFTPd,
			"echo yes > /etc/pure-ftpd/conf/DontResolve", `numeric_hosts = ["pure-ftpd"]`}, []string{"MariaDB"}},
		{"Debian's pure-ftpd-mysql unit", withJournal(`"pure-ftpd-mysql.service"`), []string{"pure-ftpd-mysql.service may hold pure-ftpd's lines"}, []string{"MariaDB"}},
		{"pure-ftpd declared", withJournal(`"pure-ftpd.service"`) + "[detect]\nnumeric_hosts = [\"pure-ftpd\"]\n", nil, []string{"pure-ftpd", "warning"}},
		{"mysql log file", base + "[[source]]\nfiles = [\"" + logFile + "\", \"/var/log/mysql/mysql.log\"]\n", []string{"source[0].files: /var/log/mysql/mysql.log may hold MariaDB's or MySQL's lines"}, nil},
		{"neither", base + "[[source]]\nfiles = [\"" + logFile + "\"]\n", nil, []string{"MariaDB", "pure-ftpd"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			writeConfig(t, dir, tc.doc)
			stdout, stderr, code := runBinary(t, dir, "check-config", "x.toml")
			if code != 0 || !strings.HasPrefix(stdout, "x.toml: OK: ") {
				t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(stderr, n) {
					t.Errorf("stderr has %q:\n%s", n, stderr)
				}
			}
		})
	}
}
