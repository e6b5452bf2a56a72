package detect

import (
	"regexp/syntax"
	"slices"
	"strings"
	"unicode/utf8"
)

// Trying a thousand regular expressions on every record is what makes a naive filter
// slow (about 45,000 lines/s with logcheck's server database). Most rules, though, start
// with literal text: "Accepted publickey for ", "connect from ". A ruleSet indexes rules
// by the literal prefixes regexp/syntax proves every match starts with, so a record
// meets only the few rules whose prefix it starts with; rules without such a prefix are
// tried on every record, after a cheaper check for a literal they require.

// maxPrefixes bounds the alternatives a rule is indexed under; a rule with more (e.g.
// a long alternation of words) is indexed under their common part or not at all.
const maxPrefixes = 32

// keyLen is how much of a prefix the index's map keys hold: long enough to split the
// rules of a busy program, short enough that few distinct key lengths exist.
const keyLen = 8

// literalPrefixes returns literal strings such that every match of re, which must start
// with ^, begins with one of them. It returns nil when no such non-empty set is known.
func literalPrefixes(re *syntax.Regexp) []string {
	if re.Op != syntax.OpConcat || len(re.Sub) == 0 || re.Sub[0].Op != syntax.OpBeginText {
		if re.Op == syntax.OpBeginText {
			return nil
		}
		return nil
	}
	out := concatPrefixes(re.Sub[1:])
	for _, p := range out {
		if p == "" {
			return nil
		}
	}
	return out
}

// concatPrefixes returns the prefixes of the concatenation subs.
func concatPrefixes(subs []*syntax.Regexp) []string {
	out := []string{""}
	for _, s := range subs {
		ext, complete := startsWith(s)
		if ext == nil {
			return out
		}
		next := make([]string, 0, len(out)*len(ext))
		for _, a := range out {
			for _, b := range ext {
				next = append(next, a+b)
			}
		}
		if len(next) > maxPrefixes {
			return []string{commonPrefix(next)}
		}
		out = next
		if !complete {
			return out
		}
	}
	return out
}

// startsWith returns the strings a match of re may start with, and whether each is the
// whole match (so what follows re in a concatenation extends it). nil means unknown.
func startsWith(re *syntax.Regexp) ([]string, bool) {
	switch re.Op {
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 {
			return nil, false
		}
		return []string{string(re.Rune)}, true
	case syntax.OpEmptyMatch:
		return []string{""}, true
	case syntax.OpCapture:
		return startsWith(re.Sub[0])
	case syntax.OpConcat:
		out := concatPrefixes(re.Sub)
		// Complete only when every part was a fixed set of strings.
		for _, s := range re.Sub {
			if _, complete := startsWith(s); !complete {
				return out, false
			}
		}
		return out, true
	case syntax.OpAlternate:
		var out []string
		complete := true
		for _, s := range re.Sub {
			ext, c := startsWith(s)
			if ext == nil {
				return nil, false
			}
			complete = complete && c
			out = append(out, ext...)
		}
		if len(out) > maxPrefixes {
			return []string{commonPrefix(out)}, false
		}
		return out, complete
	case syntax.OpCharClass:
		// A small class like [Ss] is a few alternatives.
		var out []string
		for i := 0; i+1 < len(re.Rune); i += 2 {
			for r := re.Rune[i]; r <= re.Rune[i+1]; r++ {
				if len(out) == 16 {
					return nil, false
				}
				out = append(out, string(r))
			}
		}
		return out, true
	case syntax.OpPlus:
		ext, _ := startsWith(re.Sub[0])
		return ext, false
	case syntax.OpQuest:
		ext, complete := startsWith(re.Sub[0])
		if ext == nil {
			return nil, false
		}
		return append([]string{""}, ext...), complete
	case syntax.OpRepeat:
		if re.Min >= 1 {
			ext, _ := startsWith(re.Sub[0])
			return ext, false
		}
	}
	return nil, false
}

func commonPrefix(ss []string) string {
	p := ss[0]
	for _, s := range ss[1:] {
		for !strings.HasPrefix(s, p) {
			p = p[:len(p)-1]
		}
	}
	for p != "" && !utf8.ValidString(p) {
		p = p[:len(p)-1]
	}
	return p
}

// requiredLiteral returns the longest literal that every match of re contains, or "".
func requiredLiteral(re *syntax.Regexp) string {
	switch re.Op {
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 {
			return ""
		}
		return string(re.Rune)
	case syntax.OpCapture:
		return requiredLiteral(re.Sub[0])
	case syntax.OpPlus:
		return requiredLiteral(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return requiredLiteral(re.Sub[0])
		}
	case syntax.OpConcat:
		best := ""
		for _, s := range re.Sub {
			if l := requiredLiteral(s); len(l) > len(best) {
				best = l
			}
		}
		return best
	}
	return ""
}

// requiredLiterals returns the literals of re's top-level concatenation after its
// first piece (the prefix check covers that one): each must occur in every match.
func requiredLiterals(re *syntax.Regexp) []string {
	if re.Op != syntax.OpConcat {
		return nil
	}
	var out []string
	for i, s := range re.Sub {
		if i < 2 {
			continue // ^ and the prefix
		}
		if l := requiredLiteral(s); len(l) >= 3 {
			out = append(out, l)
		}
	}
	return out
}

// ruleSet indexes rules (by their position in some slice) for the texts they may match.
type ruleSet struct {
	lens   []int              // distinct key lengths, in increasing order
	keyed  map[string][]int32 // prefix[:keyLen] → rules, in increasing order
	always []int32            // rules without a known prefix: tried on every text
}

// add indexes rule id under prefixes (nil: no known prefix).
func (s *ruleSet) add(id int32, prefixes []string) {
	if len(prefixes) == 0 {
		s.always = append(s.always, id)
		return
	}
	if s.keyed == nil {
		s.keyed = make(map[string][]int32)
	}
	for _, p := range prefixes {
		k := p[:min(len(p), keyLen)]
		if ids := s.keyed[k]; len(ids) == 0 || ids[len(ids)-1] != id {
			s.keyed[k] = append(ids, id)
		}
		if !slices.Contains(s.lens, len(k)) {
			s.lens = append(s.lens, len(k))
			slices.Sort(s.lens)
		}
	}
}

// candidates appends to buf, in increasing order and without repeats, the rules that may
// match text. Callers pass a stack array's slice, so the common case does not allocate.
func (s *ruleSet) candidates(text string, buf []int32) []int32 {
	if s == nil {
		return buf
	}
	start := len(buf)
	buf = append(buf, s.always...)
	for _, l := range s.lens {
		if l > len(text) {
			break
		}
		buf = append(buf, s.keyed[text[:l]]...)
	}
	c := buf[start:]
	if len(c) > 1 {
		slices.Sort(c)
		c = slices.Compact(c)
		buf = buf[:start+len(c)]
	}
	return buf
}

func (s *ruleSet) empty() bool { return s == nil || (len(s.keyed) == 0 && len(s.always) == 0) }
