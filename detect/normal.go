package detect

import (
	"io/fs"
	"regexp"
	"regexp/syntax"
	"strings"
)

// NormalRules are the records the admin declared normal, in logcheck format: one
// extended regular expression per line. A rule matches a record when it matches the
// message (rules written for the message alone, e.g. "^Accepted publickey for ") or the
// whole line (logcheck's rules, written with timestamp and host).
//
// logcheck's whole-line rules all start with the same timestamp and host pattern, then
// the program: "^(\w{3} [ :[:digit:]]{11}|[0-9T:.+-]{32}) [._[:alnum:]-]+ sshd\[[0-9]+\]: ".
// The header parser has already read those, so such a rule is cut down at load to its
// message part and filed under its program: it is then tried only on that program's
// records, without re-matching the header, and it works for every timestamp format
// (RFC 3164, RFC 5424, rsyslog's high precision, the journal).
type NormalRules struct {
	n          int                 // rule lines
	rules      []normalRule        // a line may give several: one per branch, per text tried
	programs   map[string]*ruleSet // message rules for the records of one program
	anyProgram ruleSet             // message rules for the records of any program
	tagged     ruleSet             // whole-line rules matched on "program[pid]: message"
	lines      ruleSet             // whole-line rules kept as written

	// Rules with no literal prefix: those that require a literal are found by one scan
	// of the line (every text a rule is tried on is part of the line); the rest are
	// tried on every record.
	floating   *literalScanner
	floatLits  []string
	floatIDs   []int32
	unfiltered []int32

	warnings []*RuleError // NormalRuleWarnings'
}

// Warnings are the files of the directories not read and the rules that load but
// never match or do not match what they did in logcheck (NormalRuleWarnings).
func (n *NormalRules) Warnings() []*RuleError {
	if n == nil {
		return nil
	}
	return n.warnings
}

// The text of a record a normal rule is tried on.
const (
	onMessage = iota // the message, after "program[pid]: "
	onTagged         // "program[pid]: message", in file formats
	onLine           // the whole line
)

type normalRule struct {
	ruleLine
	m      matcher
	target int // onMessage, onTagged or onLine
}

// matcher is a compiled rule with the cheap checks that rule it out before the regexp.
type matcher struct {
	re       *regexp.Regexp
	fast     *fastProg // the same rule for detect's own matcher; nil: regexp only
	prefixes []string  // every match starts with one of them; nil when unknown
	required string    // every match contains it; "" when unknown
}

func newMatcher(re *regexp.Regexp, tree *syntax.Regexp) matcher {
	m := matcher{re: re, fast: compileFast(tree, false), prefixes: literalPrefixes(tree), required: requiredLiteral(tree)}
	// A literal the prefix already checks is no further filter.
	for _, p := range m.prefixes {
		if strings.Contains(p, m.required) {
			m.required = ""
			break
		}
	}
	return m
}

func (m *matcher) match(s string) bool {
	if m.prefixes != nil {
		ok := false
		for _, p := range m.prefixes {
			if strings.HasPrefix(s, p) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	if m.required != "" && !strings.Contains(s, m.required) {
		return false
	}
	if m.fast != nil {
		var caps [maxFastCaps]int
		if matched, ok := m.fast.exec(s, &caps); ok {
			return matched
		}
	}
	return m.re.MatchString(s)
}

// RuleErrors are the rules that could not be loaded; the others loaded.
type RuleErrors []*RuleError

func (e RuleErrors) Error() string {
	msgs := make([]string, len(e))
	for i, r := range e {
		msgs[i] = r.Error()
	}
	return strings.Join(msgs, "\n")
}

// Unwrap gives errors.As and errors.Is each rule's error.
func (e RuleErrors) Unwrap() []error {
	out := make([]error, len(e))
	for i, r := range e {
		out[i] = r
	}
	return out
}

// LoadNormalRules loads the normal rules of the rule files in dirs, paths inside fsys.
// See LoadNormalRuleDirs for the errors.
func LoadNormalRules(fsys fs.FS, dirs ...string) (*NormalRules, error) {
	return LoadNormalRuleDirs(ruleDirs(fsys, dirs)...)
}

// LoadNormalRuleDirs loads the normal rules of the rule files in dirs, which may lie in
// different file systems (the embedded defaults and the admin's directories). A rule that
// does not compile does not stop the others: they are returned together with a
// RuleErrors naming every bad rule's file and line. A directory that cannot be read
// returns no rules.
func LoadNormalRuleDirs(dirs ...RuleDir) (*NormalRules, error) {
	lines, notes, err := readRules(dirs)
	if err != nil {
		return nil, err
	}
	n := &NormalRules{programs: make(map[string]*ruleSet), warnings: notes}
	var errs RuleErrors
	for _, l := range lines {
		n.warnings = append(n.warnings, normalRuleWarnings(l)...)
		if err := n.add(l); err != nil {
			errs = append(errs, err)
			continue
		}
		n.n++
	}
	if len(n.floatLits) > 0 {
		n.floating = newLiteralScanner(n.floatLits, n.floatIDs)
	}
	if errs != nil {
		return n, errs
	}
	return n, nil
}

func (n *NormalRules) add(l ruleLine) *RuleError {
	re, err := regexp.Compile(l.text)
	if err != nil {
		return l.errorf("%v", err)
	}
	if re.MatchString("") {
		// "^Server listening on .*$|", logcheck's classic typo: the empty branch
		// matches every line, and every unknown record (with the unknown-class
		// events) would vanish without a word (review 30 finding 4).
		return l.errorf("matches the empty string, so every line: an empty alternative (a | at either end, or ||?)")
	}
	tree, err := syntax.Parse(l.text, syntax.Perl)
	if err != nil {
		return l.errorf("%v", err)
	}
	// "^a|^b" is two rules: each branch is indexed on its own.
	if tree.Op == syntax.OpAlternate {
		for _, branch := range tree.Sub {
			if re, err := regexp.Compile(branch.String()); err == nil {
				n.addTree(l, re, branch)
				continue
			}
			n.addTree(l, re, tree)
			return nil
		}
		return nil
	}
	n.addTree(l, re, tree)
	return nil
}

func (n *NormalRules) addTree(l ruleLine, re *regexp.Regexp, tree *syntax.Regexp) {
	if programs, msg, ok := splitLogcheckRule(tree); ok {
		if mre, err := regexp.Compile(msg.String()); err == nil {
			if programs == nil {
				n.addRule(l, mre, msg, onTagged, &n.tagged)
				return
			}
			for _, program := range programs {
				set := n.programs[program]
				if set == nil {
					set = &ruleSet{}
					n.programs[program] = set
				}
				n.addRule(l, mre, msg, onMessage, set)
			}
			return
		}
	}
	// A rule that is not cut down is tried on the message and on the line. The line
	// holds the message, so a rule not anchored at the start is tried on the line alone.
	if literalPrefixes(tree) != nil || (tree.Op == syntax.OpConcat && tree.Sub[0].Op == syntax.OpBeginText) {
		n.addRule(l, re, tree, onMessage, &n.anyProgram)
	}
	n.addRule(l, re, tree, onLine, &n.lines)
}

// addRule indexes a rule in set by its prefixes, or among the floating rules.
func (n *NormalRules) addRule(l ruleLine, re *regexp.Regexp, tree *syntax.Regexp, target int, set *ruleSet) {
	id := int32(len(n.rules))
	m := newMatcher(re, tree)
	n.rules = append(n.rules, normalRule{l, m, target})
	switch {
	case m.prefixes != nil || (set != &n.anyProgram && set != &n.tagged && set != &n.lines):
		set.add(id, m.prefixes) // a program's own rules stay with the program
	case m.required != "":
		n.floatLits = append(n.floatLits, m.required)
		n.floatIDs = append(n.floatIDs, id)
	default:
		n.unfiltered = append(n.unfiltered, id)
	}
}

// Len is the number of rule lines loaded.
func (n *NormalRules) Len() int {
	if n == nil {
		return 0
	}
	return n.n
}

// splitLogcheckRule recognises a whole-line rule "^TIMESTAMP HOST REST" and returns what
// REST must match, anchored: the message alone with the programs it is for when REST is
// "PROGRAM: …" or "PROGRAM\[[0-9]+\]: …" and PROGRAM is a fixed set of names (like
// "postfix/smtpd?" or "(imap|pop3)-login"); else (no programs) "program[pid]: message".
func splitLogcheckRule(tree *syntax.Regexp) (programs []string, msg *syntax.Regexp, ok bool) {
	if tree.Op != syntax.OpConcat || len(tree.Sub) < 5 || tree.Sub[0].Op != syntax.OpBeginText {
		return nil, nil, false
	}
	// The timestamp may be one group or several pieces: find where it ends.
	var rest []*syntax.Regexp
	for k := 2; k+2 < len(tree.Sub); k++ {
		ts := &syntax.Regexp{Op: syntax.OpConcat, Flags: tree.Flags, Sub: tree.Sub[1:k]}
		sp, host := tree.Sub[k], tree.Sub[k+1]
		if sp.Op == syntax.OpLiteral && string(sp.Rune) == " " && matchesWhole(ts, "Feb  2 14:10:21") &&
			matchesWhole(host, "mail-1.example.org") && !matchesWhole(host, "a b") {
			rest = tree.Sub[k+2:]
			break
		}
	}
	if rest == nil {
		return nil, nil, false
	}
	first := rest[0]
	if first.Op != syntax.OpLiteral || first.Flags&syntax.FoldCase != 0 || first.Rune[0] != ' ' {
		return nil, nil, false
	}
	lit := func(flags syntax.Flags, s string) *syntax.Regexp {
		return &syntax.Regexp{Op: syntax.OpLiteral, Flags: flags, Rune: []rune(s)}
	}
	// Without the space after the host.
	tag := append([]*syntax.Regexp{}, rest...)
	if len(first.Rune) == 1 {
		tag = tag[1:]
	} else {
		tag[0] = lit(first.Flags, string(first.Rune[1:]))
	}
	anchored := func(subs ...*syntax.Regexp) *syntax.Regexp {
		all := append([]*syntax.Regexp{{Op: syntax.OpBeginText, Flags: tree.Flags}}, subs...)
		return &syntax.Regexp{Op: syntax.OpConcat, Flags: tree.Flags, Sub: all}
	}
	for j, r := range tag {
		if r.Op != syntax.OpLiteral || r.Flags&syntax.FoldCase != 0 {
			continue
		}
		text := string(r.Rune)
		var head string
		var body []*syntax.Regexp
		// The header parser drops a second space after the tag (rsyslog's, see
		// DropSenderSpace): the message of the line the rule describes lacks it too.
		if i := strings.Index(text, ": "); i >= 0 {
			head = text[:i]
			body = append([]*syntax.Regexp{lit(r.Flags, DropSenderSpace(text[i+2:]))}, tag[j+1:]...)
		} else if h, ok := strings.CutSuffix(text, "["); ok && j+2 < len(tag) && matchesWhole(tag[j+1], "12345") &&
			!matchesWhole(tag[j+1], "1]") && tag[j+2].Op == syntax.OpLiteral && tag[j+2].Flags&syntax.FoldCase == 0 &&
			strings.HasPrefix(string(tag[j+2].Rune), "]: ") {
			head = h
			body = append([]*syntax.Regexp{lit(r.Flags, DropSenderSpace(string(tag[j+2].Rune[3:])))}, tag[j+3:]...)
		} else if h, ok := strings.CutSuffix(text, ":"); ok && j+2 < len(tag) && matchesWhole(tag[j+1], " [ 1234.567890]") &&
			matchesWhole(tag[j+1], "") && tag[j+2].Op == syntax.OpLiteral && tag[j+2].Flags&syntax.FoldCase == 0 &&
			tag[j+2].Rune[0] == ' ' {
			// "kernel:( \[ *[0-9]+\.[0-9]+\])? …": the header parser drops the uptime.
			head = h
			body = tag[j+3:]
			if len(tag[j+2].Rune) > 1 {
				body = append([]*syntax.Regexp{lit(r.Flags, string(tag[j+2].Rune[1:]))}, body...)
			}
		} else {
			continue
		}
		pieces := tag[:j]
		// "su(\[[0-9]+\])?: …": an optional pid belongs to the header too.
		if head == "" && j > 0 && matchesWhole(tag[j-1], "[123]") && matchesWhole(tag[j-1], "") {
			pieces = tag[:j-1]
		}
		names := programNames(append(append([]*syntax.Regexp{}, pieces...), lit(r.Flags, head)))
		if names == nil {
			break
		}
		return names, anchored(body...), true
	}
	return nil, anchored(tag...), true
}

// programNames returns the program names pieces match, nil unless they are a fixed set.
func programNames(pieces []*syntax.Regexp) []string {
	names := []string{""}
	for _, p := range pieces {
		ext, complete := startsWith(p)
		if ext == nil || !complete {
			return nil
		}
		var next []string
		for _, a := range names {
			for _, b := range ext {
				next = append(next, a+b)
			}
		}
		if len(next) > maxPrefixes {
			return nil
		}
		names = next
	}
	for _, n := range names {
		if !isProgramName(n) {
			return nil
		}
	}
	return names
}

func isProgramName(s string) bool {
	return s != "" && !strings.ContainsAny(s, " \t[]:")
}

// matchesWhole reports whether re matches all of s.
func matchesWhole(re *syntax.Regexp, s string) bool {
	c, err := regexp.Compile(`^(?:` + re.String() + `)$`)
	return err == nil && c.MatchString(s)
}

// match reports whether the record with header h (from line) is normal, and which rule
// said so.
func (n *NormalRules) match(line string, h *Header, message string) *normalRule {
	if n == nil {
		return nil
	}
	if line == "" {
		line = message // a record given as its message alone
	}
	var arr [64]int32
	if h != nil && h.Program != "" {
		if set := n.programs[h.Program]; set != nil {
			if r := n.first(set, message, arr[:0]); r != nil {
				return r
			}
		}
	}
	if r := n.first(&n.anyProgram, message, arr[:0]); r != nil {
		return r
	}
	tagged := ""
	if h != nil {
		tagged = h.tagged
	}
	if tagged != "" {
		if r := n.first(&n.tagged, tagged, arr[:0]); r != nil {
			return r
		}
	}
	if r := n.first(&n.lines, line, arr[:0]); r != nil {
		return r
	}
	ids := n.floating.scan(line, arr[:0])
	ids = append(ids, n.unfiltered...)
	for _, id := range ids {
		r := &n.rules[id]
		text := line
		switch r.target {
		case onMessage:
			text = message
		case onTagged:
			if text = tagged; text == "" {
				continue
			}
		}
		if r.m.match(text) {
			return r
		}
	}
	return nil
}

func (n *NormalRules) first(set *ruleSet, text string, buf []int32) *normalRule {
	if set.empty() {
		return nil
	}
	for _, id := range set.candidates(text, buf) {
		if r := &n.rules[id]; r.m.match(text) {
			return r
		}
	}
	return nil
}
