package detect

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func file(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }

// normalMatch reports whether n drops the record line with message msg; a line without
// a syslog header is matched as it is.
func normalMatch(n *NormalRules, line, msg string) bool {
	if h, err := ParseHeader(line, readTime, time.UTC); err == nil {
		return n.match(line, &h, msg) != nil
	}
	return n.match(line, nil, msg) != nil
}

func TestLoadNormalRulesBadRegex(t *testing.T) {
	fsys := fstest.MapFS{
		"n/a-good": file("^fine$\n"),
		"n/b-bad":  file("# comment\n\n^ok [[:digit:]]+$\n   \n^broken (unclosed$\n^never reached(\n"),
	}
	_, err := LoadNormalRules(fsys, "n")
	var re *RuleError
	if !errors.As(err, &re) {
		t.Fatalf("err = %v, want *RuleError", err)
	}
	if re.File != "n/b-bad" || re.Line != 5 {
		t.Errorf("error at %s:%d, want n/b-bad:5", re.File, re.Line)
	}
	if !strings.HasPrefix(err.Error(), "n/b-bad:5: ") || !strings.Contains(err.Error(), "missing closing )") {
		t.Errorf("Error() = %q", err)
	}
}

// A bad rule deep in a big file is reported at its own line, not at the alternation
// that combines it with its neighbours.
func TestLoadNormalRulesBadRegexInLargeFile(t *testing.T) {
	var b strings.Builder
	for i := 1; i <= 250; i++ {
		if i == 217 {
			b.WriteString("^x{2,1}$\n")
			continue
		}
		fmt.Fprintf(&b, "^rule %d$\n", i)
	}
	_, err := LoadNormalRules(fstest.MapFS{"d/big": file(b.String())}, "d")
	var re *RuleError
	if !errors.As(err, &re) || re.File != "d/big" || re.Line != 217 {
		t.Fatalf("err = %v, want d/big:217", err)
	}
}

func TestLoadNormalRulesSkipsLikeLogcheck(t *testing.T) {
	bad := file("(\n")
	fsys := fstest.MapFS{
		"n/sshd":          file("^a$\r\n^b$\n"),
		"n/.hidden":       bad,
		"n/sshd~":         bad,
		"n/sshd.bak":      bad,
		"n/sshd.dpkg-old": bad,
		"n/sshd.rpmnew":   bad,
		"n/sub/deeper":    bad,
		"n/#sshd#":        bad, // an editor's autosave, half edited
		"n/README.md":     bad,
		"n/local.conf":    bad,
		"m/cron":          file("^c$"),
		"m/local_2-x":     file("^d$"),
	}
	n, err := LoadNormalRules(fsys, "n", "m")
	if err != nil {
		t.Fatal(err)
	}
	if n.Len() != 4 {
		t.Errorf("Len() = %d, want 4", n.Len())
	}
	if !normalMatch(n, "x", "a") || !normalMatch(n, "x", "c") || !normalMatch(n, "x", "d") {
		t.Error("rules from both directories should match")
	}
	// A name logcheck skips that may be a rule file the admin meant is named, so that
	// its rules are not dropped without a word; leftovers, autosaves and READMEs are not.
	var notes []string
	for _, w := range n.Warnings() {
		notes = append(notes, w.Error())
	}
	want := []string{"n/local.conf: " + errSkippedName.Error()}
	if !slices.Equal(notes, want) {
		t.Errorf("warnings %q, want %q", notes, want)
	}
	a, err := LoadAttackRules(fstest.MapFS{"a/local.rules": file("sshd auth-failure ^x <HOST>$")}, "a")
	if err != nil || a.Len() != 0 || len(a.Warnings()) != 1 || a.Warnings()[0].File != "a/local.rules" {
		t.Errorf("attack rules in a/local.rules: %d loaded, warnings %v, %v; want none loaded and a warning", a.Len(), a.Warnings(), err)
	}
}

// A rule file that cannot be read is named with its directory, as the admin knows it,
// not by its name inside the directory alone ("open local: no such file or directory":
// a link to a file since removed).
func TestUnreadableRuleFileIsNamedWithItsDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.Symlink(filepath.Join(dir, "gone"), filepath.Join(dir, "local")); err != nil {
		t.Fatal(err)
	}
	_, err := LoadNormalRuleDirs(RuleDir{FS: os.DirFS(dir), Dir: ".", Name: dir})
	var fe *RuleFileError
	if !errors.As(err, &fe) || !errors.Is(err, fs.ErrNotExist) || fe.Dir.Name != dir {
		t.Fatalf("err = %#v, want a RuleFileError of %s", err, dir)
	}
	if want := `rule file "` + filepath.Join(dir, "local") + `" cannot be read: no such file or directory`; err.Error() != want {
		t.Errorf("err = %q, want %q", err, want)
	}
}

func TestLoadNormalRulesMissingDir(t *testing.T) {
	_, err := LoadNormalRules(fstest.MapFS{}, "nowhere")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("err = %v, want fs.ErrNotExist", err)
	}
}

// Rules combined into one alternation must match exactly what they match alone.
func TestNormalRulesCombinedMatchLikeAlone(t *testing.T) {
	rules := []string{
		`(?i)^started`, `^Removed session [0-9]+\.$`, `^Received SIGHUP$`, `^Received signal [0-9]+$`, `^(Started|Stopped) x$`, `^(Created|Removed) y$`, `\Qa.b`, `^x$|^y$`, `(?P<u>z)`, `(?P<u>w)`,
		`^\w{3} [ :[:digit:]]{11} [._[:alnum:]-]+ CRON\[[0-9]+\]: \(root\) CMD`,
	}
	n, err := LoadNormalRules(fstest.MapFS{"d/r": file(strings.Join(rules, "\n"))}, "d")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		line, msg string
		want      bool
	}{
		{"", "STARTED x", true},
		{"", "Removed session 4.", true},
		{"", "Removed session 4. ", false},
		{"", "xRemoved session 4.", false},
		{"", "xSTARTED", false},
		{"", "xa.b", true},
		{"", "axb", false},
		{"", "y", true},
		{"", "xy", false},
		{"", "w", true},
		{"", "Received signal 15", true},
		{"", "xReceived signal 15", false},
		{"", "Stopped x", true},
		{"", "a Stopped x", false},
		{"", "Removed y", true},
		{"", "a Removed y", false},
		{"", "Rx Received signal 15", false},
		{"Feb 12 14:10:21 host CRON[1]: (root) CMD (true)", "(root) CMD (true)", true},
		{"Feb 12 14:10:21 host cron[1]: (root) CMD (true)", "(root) CMD (true)", false},
	} {
		if got := normalMatch(n, tt.line, tt.msg); got != tt.want {
			t.Errorf("match(%q, %q) = %v, want %v", tt.line, tt.msg, got, tt.want)
		}
	}
}

func TestLoadAttackRulesErrors(t *testing.T) {
	good := `sshd invalid-user ^Invalid user (?P<user>.*) from <HOST>(?: port <PORT>)?$`
	tests := []struct {
		name, rule, wantErr string
	}{
		{"no regex", "sshd auth-failure", "want PROGRAM CLASS REGEX"},
		{"no host", `sshd auth-failure ^Failed password for (?P<user>.*)$`, "must contain <HOST> (an address), <NAME> (a host name) or <PTR>"},
		{"two hosts", `sshd auth-failure ^<HOST> <HOST>$`, "<HOST>, <NAME> and <PTR> at most once each"},
		{"two ports", `sshd auth-failure ^<HOST> <PORT> <PORT>$`, "<PORT> at most once"},
		{"bad regex", `sshd auth-failure ^from <HOST> (port$`, "missing closing )"},
		// The error quotes the regex as written, not <HOST>'s expansion.
		{"bad regex quoted as written", `sshd auth-failure ^from <HOST> (port <PORT>$`, "missing closing ): `^from <HOST> (port <PORT>$`"},
		{"bad class", `sshd Auth_Failure ^from <HOST>$`, "bad class"},
		{"bad program", `sshd,,cron auth-failure ^from <HOST>$`, "bad program"},
		{"not anchored at the end", `sshd auth-failure ^from <HOST>`, "must be anchored"},
		{"not anchored at the start", `sshd auth-failure from <HOST>$`, "must be anchored"},
		{"anchored in one branch only", `sshd auth-failure ^a <HOST>$|b`, "must be anchored"},
		{"multi-line anchors", `sshd auth-failure (?m)^from <HOST>$`, "must be anchored"},
		{"own host group", `sshd auth-failure ^(?P<host>\S+) <HOST>$`, `do not name a group "host"`},
		{"own port group", `sshd auth-failure ^(?P<port>\S+) <HOST>$`, `do not name a group "port"`},
		{"open user name before the address and open text after it", `sshd auth-failure ^Disconnecting user (?P<user>.*) <HOST> port <PORT>: .* \[preauth\]$`, "<HOST> has .* in the user name before it and .* after it"},
		{"open user name and an open password", `vsftpd auth-success ^\[(?P<user>.+)\] OK LOGIN: Client "<HOST>"(?:, anon password "(?:.*)")?$`, "<HOST> has .* in the user name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{"a/sshd": file("# header\n" + good + "\n\n" + tt.rule + "\n" + good + "\n")}
			_, err := LoadAttackRules(fsys, "a")
			var re *RuleError
			if !errors.As(err, &re) {
				t.Fatalf("err = %v, want *RuleError", err)
			}
			if re.File != "a/sshd" || re.Line != 4 || !strings.Contains(re.Err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want a/sshd:4: …%s…", err, tt.wantErr)
			}
		})
	}
}

func TestLoadAttackRulesPrograms(t *testing.T) {
	fsys := fstest.MapFS{"a/r": file(
		"sshd      one   ^x <HOST>$\n" +
			"*\ttwo\t^x <HOST>$\n" +
			"sshd,dropbear three ^y <HOST>$\n")}
	a, err := LoadAttackRules(fsys, "a")
	if err != nil {
		t.Fatal(err)
	}
	if a.Len() != 3 {
		t.Errorf("Len() = %d, want 3", a.Len())
	}
	classes := func(program string) string {
		var s []string
		for _, r := range a.forProgram(program).rules {
			s = append(s, string(r.class))
		}
		return strings.Join(s, ",")
	}
	for program, want := range map[string]string{"sshd": "one,two,three", "dropbear": "two,three", "cron": "two"} {
		if got := classes(program); got != want {
			t.Errorf("rules for %s = %s, want %s", program, got, want)
		}
	}
}

func TestShippedRulesLoad(t *testing.T) {
	fsys := os.DirFS("../configs")
	n, err := LoadNormalRules(fsys, "rules/normal.d")
	if err != nil {
		t.Fatal(err)
	}
	a, err := LoadAttackRules(fsys, "rules/attack.d")
	if err != nil {
		t.Fatal(err)
	}
	if n.Len() == 0 || a.Len() == 0 {
		t.Errorf("shipped rules: %d normal, %d attack", n.Len(), a.Len())
	}
}

func TestRuleErrorUnwrap(t *testing.T) {
	inner := errors.New("boom")
	err := error(&RuleError{File: "f", Line: 3, Err: inner})
	if err.Error() != "f:3: boom" || !errors.Is(err, inner) {
		t.Errorf("got %q", err)
	}
}

// The shipped rules, combined and dispatched, match exactly the records they match one
// by one.
func TestNormalRulesCombinedMatchLikeAloneOnCorpus(t *testing.T) {
	fsys := os.DirFS("../configs")
	n, err := LoadNormalRules(fsys, "rules/normal.d")
	if err != nil {
		t.Fatal(err)
	}
	lines, _, err := readRules(ruleDirs(fsys, []string{"rules/normal.d"}))
	if err != nil {
		t.Fatal(err)
	}
	var alone []*regexp.Regexp
	for _, l := range lines {
		alone = append(alone, regexp.MustCompile(l.text))
	}
	logs, _ := filepath.Glob("testdata/crowdsec/*/*.log")
	var records []string
	for _, f := range logs {
		records = append(records, readLines(t, f)...)
	}
	for _, s := range []string{"Started Session 5 of user root.", "x Started Session 5 of user root.",
		"(root) CMD (true)", "Removed session 5.", "Removed session 5. ", "New session 5 of user root."} {
		records = append(records, "Feb 12 14:10:21 srv p[1]: "+s)
	}
	matched := 0
	for _, line := range records {
		h, err := ParseHeader(line, readTime, time.UTC)
		if err != nil {
			continue
		}
		want := false
		for _, re := range alone {
			want = want || re.MatchString(line) || re.MatchString(h.Message)
		}
		if got := normalMatch(n, line, h.Message); got != want {
			t.Errorf("match(%q) = %v, rule by rule %v", line, got, want)
		}
		if want {
			matched++
		}
	}
	if matched < 5 {
		t.Errorf("only %d records matched", matched)
	}
}

// A normal rule that matches the empty string would make every line normal (a trailing
// "|", logcheck's classic typo): it is refused at load with its file and line, like a
// rule that does not compile, and the rules around it still load (review 30 finding 4).
func TestLoadNormalRulesRefusesEmptyMatch(t *testing.T) {
	fsys := fstest.MapFS{"n/local": file(strings.Join([]string{
		`^Server listening on .*$`,
		`^Server listening on .*$|`,
		`|^Server listening on .*$`,
		`^a$||^b$`,
		`^(Started|)$`,
		`.*`,
		`^$`,
		`^Started (cron|anacron)?\.$`,
	}, "\n"))}
	n, err := LoadNormalRules(fsys, "n")
	var errs RuleErrors
	if !errors.As(err, &errs) {
		t.Fatalf("err = %v, want RuleErrors", err)
	}
	var got []string
	for _, e := range errs {
		got = append(got, e.Error())
		if !strings.Contains(e.Error(), ": matches the empty string, so every line") {
			t.Errorf("%v: want the reason", e)
		}
	}
	want := []string{"n/local:2:", "n/local:3:", "n/local:4:", "n/local:5:", "n/local:6:", "n/local:7:"}
	if len(got) != len(want) {
		t.Fatalf("errors %q, want one each at %q", got, want)
	}
	for i, w := range want {
		if !strings.HasPrefix(got[i], w) {
			t.Errorf("error %d = %q, want it at %s", i, got[i], w)
		}
	}
	if n.Len() != 2 {
		t.Errorf("Len() = %d, want the 2 good rules", n.Len())
	}
	d := New(n, nil, time.UTC)
	for line, want := range map[string]Outcome{
		"Dec  7 10:00:00 web1 sshd[1]: Server listening on 0.0.0.0 port 22.": Normal,
		"Dec  7 10:00:00 web1 cron[1]: Started anacron.":                     Normal,
		"Dec  7 10:00:00 web1 myjob[1]: anything else":                       Unknown,
	} {
		if got := d.Explain(record(line)).Outcome; got != want {
			t.Errorf("%s: %v, want %v", line, got, want)
		}
	}
}
