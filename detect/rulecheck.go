package detect

import (
	"errors"
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
)

// NormalRuleWarnings reads the normal rule files of dirs as LoadNormalRuleDirs does and
// returns, with file and line, the rules written so that they load but never match: a
// UTF-8 byte order mark at the start of the file, white space before the rule, white
// space after a closing $. egrep (logcheck) takes them as they are too, so they load;
// this is for the admin to see. A directory that cannot be read is an error.
func NormalRuleWarnings(dirs ...RuleDir) ([]*RuleError, error) {
	lines, err := readRules(dirs)
	if err != nil {
		return nil, err
	}
	var warn []*RuleError
	for _, l := range lines {
		text := l.text
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
	}
	return warn, nil
}
