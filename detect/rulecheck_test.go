package detect

import (
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/abusewatch/abusewatch"
)

// The rules that load and never match are named with file and line; an escaped \$
// followed by a space, and a rule with nothing wrong, are not.
func TestNormalRuleWarnings(t *testing.T) {
	fsys := fstest.MapFS{
		"n/a": {Data: []byte("\uFEFF# a comment saved with a byte order mark\n^ok$\n")},
		"n/b": {Data: []byte("\t^indented$\n^space after end$ \r\n^price in \\$ \n^ok$\n")},
	}
	warn, err := NormalRuleWarnings(RuleDir{FS: fsys, Dir: "n", Name: "/etc/n"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range warn {
		got = append(got, w.Error()[:strings.Index(w.Error(), ": ")])
	}
	if want := "/etc/n/a:1 /etc/n/b:1 /etc/n/b:2"; strings.Join(got, " ") != want {
		t.Errorf("warnings at %v, want %s:\n%v", got, want, warn)
	}
}

// NormalRuleUnder names the normal rule that matches a line an attack rule decided.
func TestNormalRuleUnderAnAttackRule(t *testing.T) {
	fsys := fstest.MapFS{
		"a/sshd": {Data: []byte(`sshd auth-success ^Accepted publickey for (?P<user>\S+) from <HOST> port <PORT> ssh2$` + "\n")},
		"n/sshd": {Data: []byte("^Accepted publickey for backup from 192\\.0\\.2\\.10 port [0-9]+ ssh2$\n")},
	}
	attack, err := LoadAttackRules(fsys, "a")
	if err != nil {
		t.Fatal(err)
	}
	normal, err := LoadNormalRules(fsys, "n")
	if err != nil {
		t.Fatal(err)
	}
	d := New(normal, attack, time.UTC)
	for line, want := range map[string]string{
		"Dec  7 10:00:01 web1 sshd[1]: Accepted publickey for backup from 192.0.2.10 port 5 ssh2": "n/sshd:1",
		"Dec  7 10:00:01 web1 sshd[1]: Accepted publickey for alice from 192.0.2.10 port 5 ssh2":  "",
	} {
		rec := abusewatch.Record{Line: line}
		v := d.Explain(rec)
		if v.Outcome != Recognised {
			t.Fatalf("%s: %v", line, v.Outcome)
		}
		if got := d.NormalRuleUnder(rec, v); got != want {
			t.Errorf("%s: %q, want %q", line, got, want)
		}
	}
}
