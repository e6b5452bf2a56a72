package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The daemon's start logs Preflight's warnings, check-config prints them: both say that
// a MariaDB unit is read for the admin alone and that pure-ftpd wants numeric_hosts
// (review 37 F4), once each, and nothing once numeric_hosts names pure-ftpd.
func TestPreflightWarnsOfMariaDBAndPureFTPd(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.toml")
	doc := "[reporter]\nname = \"Test Admin\"\n[mail]\nfrom = \"abusewatch@example.org\"\n[admin]\nsocket = \"\"\n" +
		"[store]\npath = \"" + filepath.Join(dir, "state.db") + "\"\n[journal]\nenabled = true\ndirectory = \"" + dir + "\"\n" +
		"units = [\"mariadb.service\", \"mysql.service\", \"pure-ftpd.service\"]\nidentifiers = [\"mariadbd\", \"pure-ftpd\"]\n"
	preflight := func(doc string) []string {
		t.Helper()
		if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, err := LoadConfig(path)
		if err != nil {
			t.Fatal(err)
		}
		_, warnings, err := cfg.Preflight()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, w := range warnings {
			out = append(out, w.Error())
		}
		return out
	}
	got := preflight(doc)
	if len(got) != 2 ||
		!strings.HasPrefix(got[0], path+":12: journal.units, journal.identifiers: mariadb.service, mysql.service, mariadbd may hold MariaDB's or MySQL's lines") ||
		!strings.HasPrefix(got[1], path+":12: journal.units, journal.identifiers: pure-ftpd.service, pure-ftpd may hold pure-ftpd's lines, and [detect] numeric_hosts does not name pure-ftpd") {
		t.Errorf("warnings:\n%s", strings.Join(got, "\n"))
	}
	got = preflight(doc + "[detect]\nnumeric_hosts = [\"pure-ftpd\"]\n")
	if len(got) != 1 || strings.Contains(got[0], "pure-ftpd") {
		t.Errorf("with numeric_hosts = [\"pure-ftpd\"]:\n%s", strings.Join(got, "\n"))
	}
}
