package detect

import (
	"errors"
	"os"
	"slices"
	"strconv"
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

// A rule that never matches because of where its anchors are is warned of: an inline
// comment after the closing $ (egrep has none), text before ^, and an attack rule
// (PROGRAM CLASS REGEX) in a directory of normal rules. Anchors inside a group, a
// rule made of alternatives each anchored, an escaped \$ and \^, and text that may be
// empty are not: each can match.
func TestNormalRuleWarningsOfMisplacedAnchors(t *testing.T) {
	fsys := fstest.MapFS{
		"n/local": {Data: []byte(strings.Join([]string{
			`^A4$ # the A4 line`,
			`x^A5$`,
			`^a$|b^c$`,
			`myapp auth-failure ^login failed for (?P<user>[^ ]+) from <HOST>$`,
			`myapp auth-failure login refused for (?P<user>.*) from <HOST>`,
			`^ok (a$|b)$`,
			`^ok$|^fine$`,
			`^price \$ [0-9]+ \^$`,
			`(x)?^ok$[ ]*`,
			`^ok$`,
		}, "\n") + "\n")},
	}
	warn, err := NormalRuleWarnings(RuleDir{FS: fsys, Dir: "n", Name: "/etc/n"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]error{
		"/etc/n/local:1": errTextAfterEnd,
		"/etc/n/local:2": errTextBeforeTop,
		"/etc/n/local:3": errTextBeforeTop,
		"/etc/n/local:4": errAttackRule,
		"/etc/n/local:5": errAttackRule,
	}
	for _, w := range warn {
		at := w.File + ":" + strconv.Itoa(w.Line)
		if want[at] == nil || !errors.Is(w, want[at]) {
			t.Errorf("unexpected warning %v", w)
		}
		delete(want, at)
	}
	for at, err := range want {
		t.Errorf("no warning at %s: %v", at, err)
	}
	// The rules load: egrep takes them too.
	if _, err := LoadNormalRuleDirs(RuleDir{FS: fsys, Dir: "n", Name: "/etc/n"}); err != nil {
		t.Fatal(err)
	}
}

// GNU egrep's {,n} (0 to n repetitions) is literal text in Go's regexp: a logcheck rule
// with it loads and never matches what it did. Escaped, or inside brackets, it is text
// in both, and {0,3} is one meaning in both.
func TestNormalRuleWarningsOfEgrepOnlyRepetition(t *testing.T) {
	fsys := fstest.MapFS{
		"n/jobs": {Data: []byte(`^job [0-9]{,3} done$` + "\n" + `^job [0-9]{0,3} done$` + "\n" + `^job \{,3} [{,3}] [[:digit:]{,3}]$` + "\n" +
			`^job []{,3}]$` + "\n" + `^job [^]x]{,12}$` + "\n")},
	}
	warn, err := NormalRuleWarnings(RuleDir{FS: fsys, Dir: "n", Name: "n"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range warn {
		got = append(got, w.Error())
	}
	want := []string{
		`n/jobs:1: {,3} is the text "{,3}" in Go's regular expressions, where egrep (logcheck) reads 0 to 3 repetitions, so the rule does not match what it did there: write {0,3}`,
		`n/jobs:5: {,12} is the text "{,12}" in Go's regular expressions, where egrep (logcheck) reads 0 to 12 repetitions, so the rule does not match what it did there: write {0,12}`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("warnings\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// The shipped rules give no warning: every one is written to match.
func TestShippedRulesGiveNoWarning(t *testing.T) {
	fsys := os.DirFS("../configs")
	n, err := LoadNormalRules(fsys, "rules/normal.d")
	if err != nil {
		t.Fatal(err)
	}
	a, err := LoadAttackRules(fsys, "rules/attack.d")
	if err != nil {
		t.Fatal(err)
	}
	if w := append(n.Warnings(), a.Warnings()...); len(w) != 0 {
		t.Errorf("the shipped rules give warnings: %v", w)
	}
}
