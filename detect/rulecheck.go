package detect

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"

	"github.com/abusewatch/abusewatch"
)

// NormalRuleUnder returns the normal rule ("FILE:LINE") that matches rec, "" for none,
// whatever the attack rules make of it: for a record an attack rule decided (v, what
// Explain made of rec), the normal rule that never takes effect there, since attack rules
// come first. It returns "" for an unparsed record or a continuation.
func (d *Detector) NormalRuleUnder(rec abusewatch.Record, v Verdict) string {
	if v.Outcome == Unparsed || v.Outcome == Continuation {
		return ""
	}
	h := v.Header
	if r := d.normal.match(rec.Line, &h, unrepeat(h.Message)); r != nil {
		return r.String()
	}
	return ""
}

// The ways a normal rule is written so that it silently never matches.
var (
	errByteOrderMark = errors.New("the file starts with a UTF-8 byte order mark, which is part of this rule (or comment): it never matches; save the file without it")
	errLeadingSpace  = errors.New("the rule starts with white space, which a record must then start with: it never matches; remove it")
	errSpaceAfterEnd = errors.New("white space after the closing $: a record cannot go on after its end, so the rule never matches; remove it")
	errTextAfterEnd  = errors.New("text after the closing $: a record cannot go on after its end, so the rule never matches; egrep (logcheck) has no comment at the end of a rule: put it on a line of its own, starting with #")
	errTextBeforeTop = errors.New("text before ^: a record cannot start after its start, so the rule never matches; remove the text or the ^")
	errAttackRule    = errors.New("this looks like an attack rule (PROGRAM CLASS REGEX) in a directory of normal rules, where it is one regular expression that never matches: put its file in a directory of [detect] attack_dirs (with --rules, in one whose name starts with attack)")
)

// NormalRuleWarnings reads the normal rule files of dirs as LoadNormalRuleDirs does and
// returns what it warns of (NormalRules.Warnings): the files not read, and with file and
// line the rules that egrep (logcheck) and Go's regexp both take, so they load, but
// that never match or do not do what they did in logcheck. A directory that cannot be
// read is an error.
func NormalRuleWarnings(dirs ...RuleDir) ([]*RuleError, error) {
	lines, warn, err := readRules(dirs)
	if err != nil {
		return nil, err
	}
	for _, l := range lines {
		warn = append(warn, normalRuleWarnings(l)...)
	}
	return warn, nil
}

// normalRuleWarnings are the warnings about one normal rule: a UTF-8 byte order mark at
// the start of the file, white space before the rule, white space or text after a
// closing $, text before a ^ (an attack rule in the wrong directory, too), and the
// GNU egrep repetition {,n}, which Go's regexp reads as text.
func normalRuleWarnings(l ruleLine) []*RuleError {
	text := l.text
	tree, err := syntax.Parse(text, syntax.Perl)
	if err != nil {
		return nil // the rule's load error says why
	}
	var warn []*RuleError
	switch {
	case l.line == 1 && strings.HasPrefix(text, "\uFEFF"):
		warn = append(warn, &RuleError{File: l.file, Line: l.line, Err: errByteOrderMark})
	case text[0] == ' ' || text[0] == '\t':
		warn = append(warn, &RuleError{File: l.file, Line: l.line, Err: errLeadingSpace})
	}
	trimmed := strings.TrimRight(text, " \t")
	if trimmed != text && strings.HasSuffix(trimmed, "$") && !strings.HasSuffix(trimmed, `\$`) {
		warn = append(warn, &RuleError{File: l.file, Line: l.line, Err: errSpaceAfterEnd})
	}
	if warn == nil { // each of those also leaves text before ^ or after $
		if err := misplacedAnchor(text, tree); err != nil {
			warn = append(warn, &RuleError{File: l.file, Line: l.line, Err: err})
		}
	}
	if rep := ereOnlyRepeat(text); rep != "" {
		warn = append(warn, &RuleError{File: l.file, Line: l.line, Err: fmt.Errorf(
			"%s is the text %q in Go's regular expressions, where egrep (logcheck) reads 0 to %s repetitions, so the rule does not match what it did there: write {0,%s}",
			rep, rep, rep[2:len(rep)-1], rep[2:len(rep)-1])})
	}
	return warn
}

// misplacedAnchor says why a rule (text, parsed as tree) never matches when, in the
// rule or in one of its alternatives as a whole, a closing $ has text after it or a ^ text before it (an
// anchor inside a group is left alone), or looks like an attack rule; nil otherwise.
func misplacedAnchor(text string, tree *syntax.Regexp) error {
	program, rest := cutField(text)
	class, rest := cutField(rest)
	rest = strings.TrimLeft(rest, " \t")
	if programPattern.MatchString(program) && classPattern.MatchString(class) &&
		(strings.HasPrefix(rest, "^") || strings.Contains(rest, "<HOST>") || strings.Contains(rest, "<NAME>") || strings.Contains(rest, "<PTR>")) {
		return errAttackRule
	}
	branches := []*syntax.Regexp{tree}
	if tree.Op == syntax.OpAlternate {
		branches = tree.Sub
	}
	for _, b := range branches {
		if b.Op != syntax.OpConcat {
			continue
		}
		for i, sub := range b.Sub {
			switch {
			case sub.Op == syntax.OpEndText && slices.ContainsFunc(b.Sub[i+1:], consumes):
				return errTextAfterEnd
			case sub.Op == syntax.OpBeginText && slices.ContainsFunc(b.Sub[:i], consumes):
				return errTextBeforeTop
			}
		}
	}
	return nil
}

// consumes says whether every match of re takes at least one character.
func consumes(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpLiteral:
		return len(re.Rune) > 0
	case syntax.OpCharClass, syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return true
	case syntax.OpCapture, syntax.OpPlus:
		return consumes(re.Sub[0])
	case syntax.OpRepeat:
		return re.Min > 0 && consumes(re.Sub[0])
	case syntax.OpConcat:
		return slices.ContainsFunc(re.Sub, consumes)
	case syntax.OpAlternate:
		for _, sub := range re.Sub {
			if !consumes(sub) {
				return false
			}
		}
		return true
	}
	return false // *, ?, anchors, the empty string
}

var ereRepeat = regexp.MustCompile(`^\{,[0-9]+\}`)

// ereOnlyRepeat returns the first {,n} of rule outside a bracket expression and not
// escaped: GNU egrep's 0 to n repetitions, a literal "{,n}" in Go's regexp. "" for none.
func ereOnlyRepeat(rule string) string {
	inClass := false
	for i := 0; i < len(rule); i++ {
		switch c := rule[i]; {
		case c == '\\':
			i++ // the escaped character
		case inClass && c == '[' && strings.HasPrefix(rule[i+1:], ":"):
			if end := strings.Index(rule[i+2:], ":]"); end >= 0 {
				i += end + 3 // [:digit:]
			}
		case inClass:
			inClass = c != ']'
		case c == '[':
			inClass = true
			if strings.HasPrefix(rule[i+1:], "^") {
				i++
			}
			if strings.HasPrefix(rule[i+1:], "]") {
				i++ // a ] first in the brackets is one of their characters
			}
		case c == '{':
			if rep := ereRepeat.FindString(rule[i:]); rep != "" {
				return rep
			}
		}
	}
	return ""
}
