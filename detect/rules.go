package detect

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"

	"github.com/abusewatch/abusewatch"
)

// RuleError is a rule that could not be loaded: the file, the line and why.
type RuleError struct {
	File string
	Line int
	Err  error
}

func (e *RuleError) Error() string {
	if e.Line == 0 { // about the whole file
		return fmt.Sprintf("%s: %v", e.File, e.Err)
	}
	return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
}

func (e *RuleError) Unwrap() error { return e.Err }

// ruleLine is one rule as written: where it is and its text.
type ruleLine struct {
	file  string
	line  int
	text  string
	where string // "FILE:LINE", made once: a verdict names its rule without allocating
}

// String is where the rule is, "FILE:LINE".
func (r ruleLine) String() string { return r.where }

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

// RuleFileError is a rule file in a directory that could be listed but that could not
// be read (Debian's logcheck rule files are root:logcheck 0640).
type RuleFileError struct {
	Dir  RuleDir // the directory it is in
	Path string  // the directory's name and the file's: where the admin looks for it
	Err  error   // why, without the path inside the directory's file system
}

func (e *RuleFileError) Error() string {
	return fmt.Sprintf("rule file %q cannot be read: %v", e.Path, e.Err)
}

func (e *RuleFileError) Unwrap() error { return e.Err }

// readRules returns the rules in the files of dirs, in directory order and then file
// name order, without comments and blank lines, and a note on each file it leaves out
// that is not a leftover. Like logcheck (run-parts) it reads only the files whose names
// are letters, digits, "_" and "-": a stale "sshd.dpkg-old", an editor's "#sshd#" or a
// README.md never changes what is normal.
func readRules(dirs []RuleDir) ([]ruleLine, []*RuleError, error) {
	var rules []ruleLine
	var notes []*RuleError
	for _, dir := range dirs {
		entries, err := fs.ReadDir(dir.FS, dir.Dir)
		if err != nil {
			return nil, nil, fmt.Errorf("rule directory %s: %w", dir.Name, err)
		}
		for _, e := range entries {
			if e.IsDir() {
				continue
			}
			file := path.Join(dir.Name, e.Name())
			if !ruleFileName(e.Name()) {
				if !Leftover(e.Name()) && !strings.Contains(e.Name(), "#") && !strings.HasPrefix(e.Name(), "README") {
					// A dotted name may be a rule file the admin meant (local.rules):
					// say so rather than drop its rules silently.
					notes = append(notes, &RuleError{File: file, Err: errSkippedName})
				}
				continue
			}
			data, err := fs.ReadFile(dir.FS, path.Join(dir.Dir, e.Name()))
			if err != nil {
				var pe *fs.PathError
				if errors.As(err, &pe) {
					err = pe.Err // "open local: permission denied" names the file without its directory
				}
				return nil, nil, &RuleFileError{Dir: dir, Path: file, Err: err}
			}
			for i, text := range strings.Split(string(data), "\n") {
				text = strings.TrimSuffix(text, "\r")
				trimmed := strings.TrimSpace(text)
				if trimmed == "" || trimmed[0] == '#' {
					continue // a blank egrep pattern would match every line
				}
				rules = append(rules, ruleLine{file: file, line: i + 1, text: text, where: file + ":" + strconv.Itoa(i+1)})
			}
		}
	}
	return rules, notes, nil
}

var errSkippedName = errors.New("not read: as logcheck (run-parts) does, only files named with letters, digits, _ and - are read as rules; rename it to use it")

// ruleFileName says whether a file in a rule directory is read as rules: run-parts'
// names, which logcheck reads, of letters, digits, "_" and "-". Leftovers ("x~",
// "x.dpkg-old"), editors' files ("#x#", "x.swp"), dotfiles, README.md and x.conf are not.
func ruleFileName(name string) bool {
	if name == "" {
		return false
	}
	for _, c := range name {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Leftover says whether a file name is an editor's or a package manager's leftover (a
// dotfile, "x~", "x.bak", "x.swp", "x.orig", "x.dpkg-old", "x.rpmnew"): not a file in
// use, whether rules (skipped like logcheck skips them, with any other name run-parts
// skips: ruleFileName) or a log a glob names (its lines would be read twice).
func Leftover(name string) bool {
	return strings.HasPrefix(name, ".") || strings.HasSuffix(name, "~") ||
		strings.HasSuffix(name, ".bak") || strings.HasSuffix(name, ".swp") || strings.HasSuffix(name, ".orig") ||
		strings.Contains(name, ".dpkg-") || strings.Contains(name, ".rpm")
}

// AttackRules classify records: one rule per line, "PROGRAM CLASS REGEX". The regex is
// matched against the message of records from PROGRAM (a name, a comma-separated list of
// names, or * for any) and must contain <HOST> (an address), <NAME> (a host name, for
// records that log a name instead of an address) or <PTR> (what the program wrote there
// from the client's reverse DNS without checking it: a name, or the address when it
// does not resolve), the remote end the event is about.
type AttackRules struct {
	rules     []*attackRule
	byProgram map[string]*attackSet // rules for that program and for any, in file order
	any       attackSet             // rules for any program
	// ptrPrograms are the programs a rule of which has a <PTR> slot: they write the
	// client's unchecked reverse name where they name the client.
	ptrPrograms map[string]bool
	notes       []*RuleError // the files of the directories not read (readRules)
}

// attackSet is the rules that apply to one program, indexed by their literal prefixes.
type attackSet struct {
	rules []*attackRule
	index ruleSet
}

func (s *attackSet) add(r *attackRule) {
	s.index.add(int32(len(s.rules)), r.prefixes)
	s.rules = append(s.rules, r)
}

type attackRule struct {
	ruleLine
	class    abusewatch.Class
	re       *regexp.Regexp
	fast     *fastProg // the same rule for detect's own matcher; nil: regexp only
	prefixes []string  // every match starts with one of them; nil when unknown
	required []string  // every match contains each of them: checked before the regexp runs
	host     int       // submatch indices, -1 when the rule has no such group
	port     int
	user     int
	name     int
	ptr      int
	proto    int
	flags    int
	dport    int
}

// The placeholders of attack rules. The address pattern is loose on purpose: what it
// captures must still parse as a netip.Addr, and the rule's anchors decide where it is.
// Kept to one character class, it also keeps the compiled rule small, which is what
// Go's backtracking matcher spends its time on. An address ends in a hex digit or in
// "::": inet_ntop writes "2001:db8:1:2:1:2::" for an interface ID whose last groups are
// zero, which an attacker picks in its own /64; a single ":" ends no address, so a rule's
// ":" after the slot stays the rule's.
// A name is what DNS may return: letters, digits, dots, dashes and underscores. A PTR
// slot holds a name or an address: either pattern's characters.
const (
	hostPattern = `(?P<host>[0-9A-Fa-f:.]*(?:[0-9A-Fa-f]|::))`
	portPattern = `(?P<port>[0-9]{1,5})`
	namePattern = `(?P<name>[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?)`
	ptrPattern  = `(?P<ptr>[A-Za-z0-9_:](?:[A-Za-z0-9_.:-]*(?:[A-Za-z0-9_]|::))?)`
)

var (
	classPattern   = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	programPattern = regexp.MustCompile(`^(?:\*|[^\s,*]+(?:,[^\s,*]+)*)$`)
)

// LoadAttackRules loads the attack rules of the rule files in dirs, paths inside fsys.
// See LoadAttackRuleDirs for the errors.
func LoadAttackRules(fsys fs.FS, dirs ...string) (*AttackRules, error) {
	return LoadAttackRuleDirs(ruleDirs(fsys, dirs)...)
}

// LoadAttackRuleDirs loads the attack rules of the rule files in dirs, which may lie in
// different file systems. A malformed rule does not stop the others: they are returned
// together with a RuleErrors naming every bad rule's file and line.
func LoadAttackRuleDirs(dirs ...RuleDir) (*AttackRules, error) {
	lines, notes, err := readRules(dirs)
	if err != nil {
		return nil, err
	}
	a := &AttackRules{byProgram: make(map[string]*attackSet), notes: notes}
	var programs [][]string // per rule, nil for any
	var errs RuleErrors
	for _, l := range lines {
		progs, r, err := parseAttackRule(l)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		a.rules = append(a.rules, r)
		programs = append(programs, progs)
		for _, p := range progs {
			a.byProgram[p] = &attackSet{}
		}
	}
	for i, r := range a.rules {
		if r.ptr >= 0 {
			for _, p := range programs[i] {
				if a.ptrPrograms == nil {
					a.ptrPrograms = map[string]bool{}
				}
				a.ptrPrograms[p] = true
			}
		}
		if programs[i] == nil {
			a.any.add(r)
			for _, set := range a.byProgram {
				set.add(r)
			}
			continue
		}
		for _, p := range programs[i] {
			a.byProgram[p].add(r)
		}
	}
	if errs != nil {
		return a, errs
	}
	return a, nil
}

func parseAttackRule(l ruleLine) ([]string, *attackRule, *RuleError) {
	program, rest := cutField(l.text)
	class, rest := cutField(rest)
	text := strings.TrimRight(strings.TrimLeft(rest, " \t"), " \t")
	hosts, names, ptrs := strings.Count(text, "<HOST>"), strings.Count(text, "<NAME>"), strings.Count(text, "<PTR>")
	switch {
	case text == "":
		return nil, nil, l.errorf("want PROGRAM CLASS REGEX")
	case !programPattern.MatchString(program):
		return nil, nil, l.errorf("bad program %q: want a name, names separated by commas, or *", program)
	case !classPattern.MatchString(class):
		return nil, nil, l.errorf("bad class %q: want lower-case letters, digits and dashes, e.g. auth-failure", class)
	case hosts > 1 || names > 1 || ptrs > 1:
		return nil, nil, l.errorf("the regex may contain <HOST>, <NAME> and <PTR> at most once each")
	case ptrs > 0 && hosts+names > 0:
		return nil, nil, l.errorf("<PTR> is the one slot of the remote end: a rule with it has no <HOST> or <NAME>")
	case hosts+names+ptrs == 0 && !strings.HasPrefix(class, "local-"):
		return nil, nil, l.errorf("the regex must contain <HOST> (an address), <NAME> (a host name) or <PTR> (an unverified reverse name, or the address); only a class starting with \"local-\" (e.g. local-auth-failure, a failed su) has no remote end")
	case strings.Count(text, "<PORT>") > 1:
		return nil, nil, l.errorf("the regex may contain <PORT> at most once")
	}
	expanded := strings.NewReplacer("<HOST>", hostPattern, "<PORT>", portPattern, "<NAME>", namePattern, "<PTR>", ptrPattern).Replace(text)
	re, err := regexp.Compile(expanded)
	if err != nil {
		// The error quotes the regex: as the admin wrote it, not its expansion.
		return nil, nil, l.errorf("%s", strings.NewReplacer(hostPattern, "<HOST>", portPattern, "<PORT>", namePattern, "<NAME>", ptrPattern, "<PTR>").Replace(err.Error()))
	}
	// Log text is attacker-controlled: only a rule anchored at both ends pins the
	// address to a position the attacker cannot move with a crafted user name.
	tree, err := syntax.Parse(expanded, syntax.Perl)
	if err != nil || !anchored(tree) {
		return nil, nil, l.errorf("the regex must be anchored: start with ^ and end with $")
	}
	if before, after := wildcardsAround(tree); before && after {
		return nil, nil, l.errorf("<HOST> has .* in the user name before it and .* after it: both can hold an address an attacker wrote, and the regex may take the wrong one; bound one side with what the program cannot write there, e.g. (?P<user>[^:]*) where it writes \": \" after the address")
	}
	r := &attackRule{
		ruleLine: l,
		class:    abusewatch.Class(class),
		re:       re,
		fast:     compileFast(tree, true),
		prefixes: literalPrefixes(tree),
		required: requiredLiterals(tree),
		host:     re.SubexpIndex("host"),
		port:     re.SubexpIndex("port"),
		user:     re.SubexpIndex("user"),
		name:     re.SubexpIndex("name"),
		ptr:      re.SubexpIndex("ptr"),
		proto:    re.SubexpIndex("proto"),
		flags:    re.SubexpIndex("flags"),
		dport:    re.SubexpIndex("dport"),
	}
	// Only the placeholders may name these groups: they decide what an address is.
	for g, want := range map[string]int{"host": hosts, "port": strings.Count(text, "<PORT>"), "name": names, "ptr": ptrs} {
		if count(re.SubexpNames(), g) != want {
			return nil, nil, l.errorf("do not name a group %q; write <%s>", g, strings.ToUpper(g))
		}
	}
	if program == "*" {
		return nil, r, nil
	}
	return strings.Split(program, ","), r, nil
}

// wildcardsAround reports whether re has a repetition of any character (.*, .+, .{2,})
// in its user group before its host group, and one after the host group, in the order
// the regex reads. Then both sides may hold "ADDR port N: …" that an attacker wrote (a
// user name before the real address, a new user name or a password after it), and
// which address the group takes depends on the text, not on where the program writes
// it. Rules without a user group (a kernel's firewall fields) are not asked.
func wildcardsAround(re *syntax.Regexp) (before, after bool) {
	seenHost := false
	var walk func(re *syntax.Regexp, inUser bool)
	walk = func(re *syntax.Regexp, inUser bool) {
		switch {
		case re.Op == syntax.OpCapture && (re.Name == "host" || re.Name == "ptr"):
			seenHost = true
			return
		case re.Op == syntax.OpCapture && re.Name == "user":
			inUser = true
		case (re.Op == syntax.OpStar || re.Op == syntax.OpPlus || (re.Op == syntax.OpRepeat && (re.Max < 0 || re.Max > 64))) &&
			(re.Sub[0].Op == syntax.OpAnyCharNotNL || re.Sub[0].Op == syntax.OpAnyChar):
			if seenHost {
				after = true
			} else if inUser {
				before = true
			}
		}
		for _, sub := range re.Sub {
			walk(sub, inUser)
		}
	}
	walk(re, false)
	return before, after
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

// Classes are the classes the loaded rules give their events, each once, in the order
// the rules come.
func (a *AttackRules) Classes() []abusewatch.Class {
	if a == nil {
		return nil
	}
	var out []abusewatch.Class
	for _, r := range a.rules {
		if !slices.Contains(out, r.class) {
			out = append(out, r.class)
		}
	}
	return out
}

// RuleClass is an attack rule's place and the class of its events.
type RuleClass struct {
	File  string
	Line  int
	Class abusewatch.Class
}

// RuleClasses are the loaded rules' places and classes, in the order the rules come.
func (a *AttackRules) RuleClasses() []RuleClass {
	if a == nil {
		return nil
	}
	out := make([]RuleClass, len(a.rules))
	for i, r := range a.rules {
		out[i] = RuleClass{File: r.file, Line: r.line, Class: r.class}
	}
	return out
}

// Warnings name the files of the rule directories that were not read and are no
// leftover (a local.rules, a README.md), for the admin to see.
func (a *AttackRules) Warnings() []*RuleError {
	if a == nil {
		return nil
	}
	return a.notes
}

// AttackRuleClasses are the classes the attack rules of dirs give their events, each
// once, read without compiling the rules: a malformed rule's field is left out.
func AttackRuleClasses(dirs ...RuleDir) ([]abusewatch.Class, error) {
	lines, _, err := readRules(dirs)
	if err != nil {
		return nil, err
	}
	var out []abusewatch.Class
	for _, l := range lines {
		_, rest := cutField(l.text)
		class, _ := cutField(rest)
		if classPattern.MatchString(class) && !slices.Contains(out, abusewatch.Class(class)) {
			out = append(out, abusewatch.Class(class))
		}
	}
	return out, nil
}

// Len is the number of rules loaded.
func (a *AttackRules) Len() int {
	if a == nil {
		return 0
	}
	return len(a.rules)
}

// writesPTR says whether a rule of program reads a <PTR> slot: the program names its
// client by an unchecked reverse lookup there, and in the PAM rhost= it sets.
func (a *AttackRules) writesPTR(program string) bool {
	return a != nil && a.ptrPrograms[program]
}

// forProgram returns the rules that apply to records of program, in file order.
func (a *AttackRules) forProgram(program string) *attackSet {
	if a == nil {
		return nil
	}
	if set, ok := a.byProgram[program]; ok {
		return set
	}
	return &a.any
}

// match returns the first rule that matches msg, and its submatch index, which lies in
// caps when detect's own matcher decided (no allocation) or comes from regexp.
func (s *attackSet) match(msg string, caps *[maxFastCaps]int) (*attackRule, []int) {
	if s == nil || s.index.empty() {
		return nil, nil
	}
	var arr [32]int32
	for _, id := range s.index.candidates(msg, arr[:0]) {
		r := s.rules[id]
		if r.prefixes != nil && !hasAnyPrefix(msg, r.prefixes) || !containsAll(msg, r.required) {
			continue
		}
		if r.fast != nil {
			if matched, ok := r.fast.exec(msg, caps); ok {
				if matched {
					return r, caps[:r.fast.ncap]
				}
				continue
			}
		}
		if m := r.re.FindStringSubmatchIndex(msg); m != nil {
			return r, m
		}
	}
	return nil, nil
}

func containsAll(s string, lits []string) bool {
	for _, l := range lits {
		if !strings.Contains(s, l) {
			return false
		}
	}
	return true
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// SplitRuleDirs sorts rule directories given on a command line into normal and attack
// directories: a directory holding normal.d or attack.d (like configs/rules) gives
// those; one whose name starts with "attack" holds attack rules; any other (like
// /etc/logcheck/ignore.d.server) holds normal rules.
func SplitRuleDirs(dirs []string) (normal, attack []string, err error) {
	for _, d := range dirs {
		st, err := os.Stat(d)
		if err != nil {
			return nil, nil, fmt.Errorf("rule directory: %w", err)
		}
		if !st.IsDir() {
			return nil, nil, fmt.Errorf("rule directory %s is not a directory", d)
		}
		tree := false
		for _, sub := range []struct {
			name string
			to   *[]string
		}{{"normal.d", &normal}, {"attack.d", &attack}} {
			if st, err := os.Stat(filepath.Join(d, sub.name)); err == nil && st.IsDir() {
				*sub.to = append(*sub.to, filepath.Join(d, sub.name))
				tree = true
			}
		}
		switch {
		case tree:
		case strings.HasPrefix(filepath.Base(filepath.Clean(d)), "attack"):
			attack = append(attack, d)
		default:
			normal = append(normal, d)
		}
	}
	return normal, attack, nil
}
