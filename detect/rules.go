package detect

import (
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"regexp/syntax"
	"strings"
	"unicode/utf8"

	"github.com/abusewatch/abusewatch"
)

// RuleError is a rule that could not be loaded: the file, the line and why.
type RuleError struct {
	File string
	Line int
	Err  error
}

func (e *RuleError) Error() string { return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err) }

func (e *RuleError) Unwrap() error { return e.Err }

// ruleLine is one rule as written: where it is and its text.
type ruleLine struct {
	file string
	line int
	text string
}

func (r ruleLine) errorf(format string, args ...any) *RuleError {
	return &RuleError{File: r.file, Line: r.line, Err: fmt.Errorf(format, args...)}
}

// RuleDir is a directory of rule files: Dir inside FS, named Name in errors (the path an
// admin would look for, e.g. "/etc/logcheck/ignore.d.server").
type RuleDir struct {
	FS   fs.FS
	Dir  string
	Name string
}

// ruleDirs names each of dirs inside fsys by its own path.
func ruleDirs(fsys fs.FS, dirs []string) []RuleDir {
	out := make([]RuleDir, len(dirs))
	for i, d := range dirs {
		out[i] = RuleDir{FS: fsys, Dir: d, Name: d}
	}
	return out
}

// readRules returns the rules in the files of dirs, in directory order and then file
// name order, without comments and blank lines. Like logcheck it skips dotfiles, backups
// and package-manager leftovers, so a stale "sshd.dpkg-old" never changes what is normal.
func readRules(dirs []RuleDir) ([]ruleLine, error) {
	var rules []ruleLine
	for _, dir := range dirs {
		entries, err := fs.ReadDir(dir.FS, dir.Dir)
		if err != nil {
			return nil, fmt.Errorf("rule directory %s: %w", dir.Name, err)
		}
		for _, e := range entries {
			if e.IsDir() || skipRuleFile(e.Name()) {
				continue
			}
			file := path.Join(dir.Name, e.Name())
			data, err := fs.ReadFile(dir.FS, path.Join(dir.Dir, e.Name()))
			if err != nil {
				return nil, fmt.Errorf("rule file: %w", err)
			}
			for i, text := range strings.Split(string(data), "\n") {
				text = strings.TrimSuffix(text, "\r")
				trimmed := strings.TrimSpace(text)
				if trimmed == "" || trimmed[0] == '#' {
					continue // a blank egrep pattern would match every line
				}
				rules = append(rules, ruleLine{file: file, line: i + 1, text: text})
			}
		}
	}
	return rules, nil
}

func skipRuleFile(name string) bool {
	return strings.HasPrefix(name, ".") || strings.HasSuffix(name, "~") ||
		strings.HasSuffix(name, ".bak") || strings.Contains(name, ".dpkg-") ||
		strings.Contains(name, ".rpm")
}

// NormalRules are the records the admin declared normal, in logcheck format: one
// extended regular expression per line. A rule matches a record when it matches
// anywhere in the whole line (logcheck's rules, written with timestamp and host) or in
// the message (rules written for the message alone, e.g. "^Accepted publickey for ").
type NormalRules struct {
	n int
	// Rules anchored with ^ and a literal are only tried on text that starts with the
	// literal's first rune: most records then meet a handful of rules, not all of them.
	byFirst map[rune][]*regexp.Regexp
	rest    []*regexp.Regexp
}

// normalChunk is how many rules one alternation holds: one regexp per rule is slow with
// thousands of rules, one for all of them is too large to compile.
const normalChunk = 100

// LoadNormalRules loads the normal rules of the rule files in dirs, paths inside fsys.
// The first rule that does not compile is returned as a *RuleError.
func LoadNormalRules(fsys fs.FS, dirs ...string) (*NormalRules, error) {
	return LoadNormalRuleDirs(ruleDirs(fsys, dirs)...)
}

// LoadNormalRuleDirs loads the normal rules of the rule files in dirs, which may lie in
// different file systems (the embedded defaults and the admin's directories).
func LoadNormalRuleDirs(dirs ...RuleDir) (*NormalRules, error) {
	lines, err := readRules(dirs)
	if err != nil {
		return nil, err
	}
	// Each rule is compiled alone first, so an error names its own line. Rules anchored
	// with ^ are then combined as ^(?:a|b|…): an alternation anchored as a whole is
	// tried at the start of the text only, one that is not is tried at every offset.
	byFirst := make(map[rune][]normalRule)
	var starts, floats []normalRule
	for _, l := range lines {
		re, err := regexp.Compile(l.text)
		if err != nil {
			return nil, l.errorf("%v", err)
		}
		anchored, first := startAnchored(l.text)
		switch {
		case anchored && first >= 0:
			byFirst[first] = append(byFirst[first], normalRule{l.text[1:], re})
		case anchored:
			starts = append(starts, normalRule{l.text[1:], re})
		default:
			floats = append(floats, normalRule{l.text, re})
		}
	}
	n := &NormalRules{n: len(lines), byFirst: make(map[rune][]*regexp.Regexp)}
	for r, rules := range byFirst {
		n.byFirst[r] = combine("^", rules)
	}
	n.rest = append(combine("^", starts), combine("", floats)...)
	return n, nil
}

type normalRule struct {
	text string // for an anchored rule, without its leading ^
	re   *regexp.Regexp
}

// startAnchored reports whether text starts with a ^ that anchors all of it, so that
// ^(?:rest) means the same (not "^a|b", whose b is unanchored), and if so the rune every
// match starts with, or -1 when that is not one fixed rune.
func startAnchored(text string) (bool, rune) {
	if !strings.HasPrefix(text, "^") {
		return false, -1
	}
	tree, err := syntax.Parse(text, syntax.Perl)
	if err != nil {
		return false, -1
	}
	if tree.Op == syntax.OpBeginText {
		return true, -1
	}
	if tree.Op != syntax.OpConcat || tree.Sub[0].Op != syntax.OpBeginText {
		return false, -1
	}
	if lit := tree.Sub[1]; lit.Op == syntax.OpLiteral && lit.Flags&syntax.FoldCase == 0 {
		return true, lit.Rune[0]
	}
	return true, -1
}

// combine builds alternations of up to normalChunk rules each. Every rule compiled alone,
// so its parentheses balance and (?:rule) keeps its meaning; flags like (?i) stay inside
// their group. Should an alternation still fail (e.g. \Q without \E), its rules stay
// one regexp each.
func combine(prefix string, rules []normalRule) []*regexp.Regexp {
	var res []*regexp.Regexp
	for len(rules) > 0 {
		chunk := rules[:min(normalChunk, len(rules))]
		rules = rules[len(chunk):]
		texts := make([]string, len(chunk))
		for i, r := range chunk {
			texts[i] = r.text
		}
		if re, err := regexp.Compile(prefix + "(?:(?:" + strings.Join(texts, ")|(?:") + "))"); err == nil {
			res = append(res, re)
			continue
		}
		for _, r := range chunk {
			res = append(res, r.re)
		}
	}
	return res
}

// Len is the number of rules loaded.
func (n *NormalRules) Len() int {
	if n == nil {
		return 0
	}
	return n.n
}

func (n *NormalRules) match(line, message string) bool {
	return n != nil && (n.matchText(message) || n.matchText(line))
}

func (n *NormalRules) matchText(s string) bool {
	first, _ := utf8.DecodeRuneInString(s)
	for _, re := range n.byFirst[first] {
		if re.MatchString(s) {
			return true
		}
	}
	for _, re := range n.rest {
		if re.MatchString(s) {
			return true
		}
	}
	return false
}

// AttackRules classify records: one rule per line, "PROGRAM CLASS REGEX". The regex is
// matched against the message of records from PROGRAM (a name, a comma-separated list of
// names, or * for any) and must contain <HOST>, the address the event is about.
type AttackRules struct {
	rules     []*attackRule
	byProgram map[string][]*attackRule // rules for that program and for any, in file order
	any       []*attackRule            // rules for any program
}

type attackRule struct {
	class abusewatch.Class
	re    *regexp.Regexp
	host  int // submatch indices, -1 when the rule has no such group
	port  int
	user  int
	name  int
}

// The placeholders of attack rules. The address pattern is loose on purpose: what it
// captures must still parse as a netip.Addr, and the rule's anchors decide where it is.
const (
	hostPattern = `(?P<host>[0-9]{1,3}(?:\.[0-9]{1,3}){3}|[0-9A-Fa-f]*:[0-9A-Fa-f:.]+)`
	portPattern = `(?P<port>[0-9]{1,5})`
)

var (
	classPattern   = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	programPattern = regexp.MustCompile(`^(?:\*|[^\s,*]+(?:,[^\s,*]+)*)$`)
)

// LoadAttackRules loads the attack rules of the rule files in dirs, paths inside fsys.
// The first rule that is malformed is returned as a *RuleError.
func LoadAttackRules(fsys fs.FS, dirs ...string) (*AttackRules, error) {
	return LoadAttackRuleDirs(ruleDirs(fsys, dirs)...)
}

// LoadAttackRuleDirs loads the attack rules of the rule files in dirs, which may lie in
// different file systems.
func LoadAttackRuleDirs(dirs ...RuleDir) (*AttackRules, error) {
	lines, err := readRules(dirs)
	if err != nil {
		return nil, err
	}
	a := &AttackRules{byProgram: make(map[string][]*attackRule)}
	var programs [][]string // per rule, nil for any
	for _, l := range lines {
		progs, r, err := parseAttackRule(l)
		if err != nil {
			return nil, err
		}
		a.rules = append(a.rules, r)
		programs = append(programs, progs)
		for _, p := range progs {
			a.byProgram[p] = nil
		}
	}
	for i, r := range a.rules {
		if programs[i] == nil {
			a.any = append(a.any, r)
			for p := range a.byProgram {
				a.byProgram[p] = append(a.byProgram[p], r)
			}
			continue
		}
		for _, p := range programs[i] {
			a.byProgram[p] = append(a.byProgram[p], r)
		}
	}
	return a, nil
}

func parseAttackRule(l ruleLine) ([]string, *attackRule, error) {
	program, rest := cutField(l.text)
	class, rest := cutField(rest)
	text := strings.TrimRight(strings.TrimLeft(rest, " \t"), " \t")
	switch {
	case text == "":
		return nil, nil, l.errorf("want PROGRAM CLASS REGEX")
	case !programPattern.MatchString(program):
		return nil, nil, l.errorf("bad program %q: want a name, names separated by commas, or *", program)
	case !classPattern.MatchString(class):
		return nil, nil, l.errorf("bad class %q: want lower-case letters, digits and dashes, e.g. auth-failure", class)
	case strings.Count(text, "<HOST>") != 1:
		return nil, nil, l.errorf("the regex must contain <HOST> exactly once")
	case strings.Count(text, "<PORT>") > 1:
		return nil, nil, l.errorf("the regex may contain <PORT> at most once")
	}
	expanded := strings.Replace(strings.Replace(text, "<HOST>", hostPattern, 1), "<PORT>", portPattern, 1)
	re, err := regexp.Compile(expanded)
	if err != nil {
		return nil, nil, l.errorf("%v", err)
	}
	// Log text is attacker-controlled: only a rule anchored at both ends pins the
	// address to a position the attacker cannot move with a crafted user name.
	if tree, err := syntax.Parse(expanded, syntax.Perl); err != nil || !anchored(tree) {
		return nil, nil, l.errorf("the regex must be anchored: start with ^ and end with $")
	}
	r := &attackRule{
		class: abusewatch.Class(class),
		re:    re,
		host:  re.SubexpIndex("host"),
		port:  re.SubexpIndex("port"),
		user:  re.SubexpIndex("user"),
		name:  re.SubexpIndex("name"),
	}
	// Only the placeholders may name these groups: they decide what an address is.
	for g, want := range map[string]int{"host": 1, "port": strings.Count(text, "<PORT>")} {
		if count(re.SubexpNames(), g) != want {
			return nil, nil, l.errorf("do not name a group %q; write <%s>", g, strings.ToUpper(g))
		}
	}
	if program == "*" {
		return nil, r, nil
	}
	return strings.Split(program, ","), r, nil
}

// anchored reports whether re is ^…$ as a whole, not just in one alternative.
func anchored(re *syntax.Regexp) bool {
	return re.Op == syntax.OpConcat && len(re.Sub) >= 2 &&
		re.Sub[0].Op == syntax.OpBeginText && re.Sub[len(re.Sub)-1].Op == syntax.OpEndText
}

func count(names []string, name string) int {
	n := 0
	for _, s := range names {
		if s == name {
			n++
		}
	}
	return n
}

// cutField returns the first space- or tab-separated field of s and the text after it.
func cutField(s string) (field, rest string) {
	s = strings.TrimLeft(s, " \t")
	if i := strings.IndexAny(s, " \t"); i >= 0 {
		return s[:i], s[i:]
	}
	return s, ""
}

// Len is the number of rules loaded.
func (a *AttackRules) Len() int {
	if a == nil {
		return 0
	}
	return len(a.rules)
}

// forProgram returns the rules that apply to records of program, in file order.
func (a *AttackRules) forProgram(program string) []*attackRule {
	if a == nil {
		return nil
	}
	if rules, ok := a.byProgram[program]; ok {
		return rules
	}
	return a.any
}
