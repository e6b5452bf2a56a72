package daemon

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/detect"
)

// A postgres_prefix that holds an escape the client writes, or one abusewatch cannot
// read exactly, is refused at load, naming the file, the line, the source and the
// escape, in each section that takes one.
func TestPostgresPrefixWithClientEscapeIsRefused(t *testing.T) {
	line := checkBaseLines + 3
	for _, tt := range []struct{ doc, want string }{
		{"[[source]]\nfiles = [\"/var/log/postgresql/*.log\"]\npostgres_prefix = \"%m [%p] %q%u@%d \"\n",
			fmt.Sprintf(`x.toml:%d: source[0].postgres_prefix: log_line_prefix "%%m [%%p] %%q%%u@%%d " (of the [[source]] of /var/log/postgresql/*.log) has %%u, the user name as the client sent it, newlines included`, line)},
		{"[[source]]\nfiles = [\"/var/log/auth.log\"]\n[[source]]\nfiles = [\"/var/log/postgresql/*.log\"]\npostgres_prefix = \"%m %r [%p] %a \"\n",
			fmt.Sprintf(`x.toml:%d: source[1].postgres_prefix: log_line_prefix "%%m %%r [%%p] %%a " (of the [[source]] of /var/log/postgresql/*.log) has %%a, the application name as the client sent it`, line+2)},
		{"[journal]\nenabled = false\npostgres_prefix = \"%m [%p] db=%d \"\n",
			fmt.Sprintf(`x.toml:%d: journal.postgres_prefix: log_line_prefix "%%m [%%p] db=%%d " (of the journal) has %%d, the database name`, line)},
		{"[syslog]\nidle_timeout = \"1h\"\npostgres_prefix = \"[%p] %m \"\n",
			fmt.Sprintf(`x.toml:%d: syslog.postgres_prefix: log_line_prefix "[%%p] %%m " (of the syslog listener) does not start with the time`, line)},
		{"[[source]]\nfiles = [\"/var/log/postgresql/*.log\"]\npostgres_prefix = \"%m [%p] %k \"\n",
			fmt.Sprintf(`x.toml:%d: source[0].postgres_prefix: log_line_prefix "%%m [%%p] %%k " (of the [[source]] of /var/log/postgresql/*.log) has %%k, an escape PostgreSQL does not know`, line)},
		{"[[source]]\nfiles = [\"/var/log/postgresql/*.log\"]\npostgres_prefix = \"\"\n",
			fmt.Sprintf(`x.toml:%d: source[0].postgres_prefix: log_line_prefix "" (of the [[source]] of /var/log/postgresql/*.log) is empty`, line)},
	} {
		wantConfigError(t, checkBase+tt.doc, tt.want)
	}
	// The message says what to do.
	_, err := ParseConfig("x.toml", []byte(checkBase+"[[source]]\nfiles = [\"/var/log/postgresql/*.log\"]\npostgres_prefix = \"%m [%p] %q%u@%d \"\n"))
	for _, want := range []string{"(set a log_line_prefix abusewatch can read in postgresql.conf, e.g. '%m %r [%p] ', reload PostgreSQL and copy it here)"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v; want it to say %q", err, want)
		}
	}
}

// A declared prefix reaches detection for the records of its own source only: a file
// the [[source]]'s glob takes, the journal, the syslog listener. Another source's
// PostgreSQL lines make no event, even where they look alike.
func TestPostgresPrefixReachesItsSourceOnly(t *testing.T) {
	dir := t.TempDir()
	doc := checkBase + fmt.Sprintf("[[source]]\nfiles = [%q]\npostgres_prefix = \"%%m %%r [%%p] \"\n[[source]]\nfiles = [%q]\n[journal]\npostgres_prefix = \"%%t %%h [%%p] \"\n",
		filepath.Join(dir, "postgresql-*.log"), filepath.Join(dir, "other.log"))
	cfg, err := ParseConfig("x.toml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	rules, err := LoadRules(cfg)
	if err != nil {
		t.Fatal(err)
	}
	d := NewDetector(cfg, rules)
	const failed = `FATAL:  password authentication failed for user "postgres"`
	attacker := netip.MustParseAddr("203.0.113.9")
	for _, tt := range []struct {
		source, line string
		event        bool
	}{
		{filepath.Join(dir, "postgresql-15-main.log"), "2026-12-07 07:48:13.707 UTC 203.0.113.9(41000) [7063] " + failed, true},
		{filepath.Join(dir, "other.log"), "2026-12-07 07:48:13.707 UTC 203.0.113.9(41000) [7063] " + failed, false},
		{filepath.Join(dir, "postgresql-15-main.log"), "2026-12-07 07:48:13 UTC 203.0.113.9 [7063] " + failed, false}, // the journal's prefix
		{journalSource, "Dec  7 07:48:13 db postgres[7063]: 2026-12-07 07:48:13 UTC 203.0.113.9 [7063] " + failed, true},
		{journalSource, "Dec  7 07:48:13 db postgres[7063]: 2026-12-07 07:48:13.707 UTC 203.0.113.9(41000) [7063] " + failed, false},
		{syslogSource, "<11>Dec  7 07:48:13 db postgres[7063]: [7-1] 2026-12-07 07:48:13.707 UTC 203.0.113.9(41000) [7063] " + failed, false},
	} {
		out, ev := d.Classify(abusewatch.Record{Source: tt.source, Line: tt.line, Read: time.Now()})
		if got := out == detect.Recognised && ev.Addr == attacker; got != tt.event || !tt.event && ev.Addr.IsValid() {
			t.Errorf("%s: %s\n%v %s from %v; want an event: %v", tt.source, tt.line, out, ev.Class, ev.Addr, tt.event)
		}
	}
	// Without any postgres_prefix, none of it is an event.
	plain, err := ParseConfig("x.toml", []byte(checkBase+fmt.Sprintf("[[source]]\nfiles = [%q]\n", filepath.Join(dir, "postgresql-*.log"))))
	if err != nil {
		t.Fatal(err)
	}
	line := "2026-12-07 07:48:13.707 UTC 203.0.113.9(41000) [7063] " + failed
	if out, ev := NewDetector(plain, rules).Classify(abusewatch.Record{Source: filepath.Join(dir, "postgresql-15-main.log"), Line: line, Read: time.Now()}); out == detect.Recognised || ev.Addr.IsValid() {
		t.Errorf("no prefix declared: %v %s from %v", out, ev.Class, ev.Addr)
	}
}
