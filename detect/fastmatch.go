package detect

import (
	"regexp/syntax"
	"strings"
	"unicode/utf8"
)

// Go's regexp runs rules like "^Invalid user (?P<user>.*) from <HOST> port <PORT>$" in
// its general backtracker, which clears and checks a bitmap of (instruction, position)
// pairs: about 2 µs a record, and the submatch slice it returns is an allocation. Log
// rules are nearly all anchored sequences of literals and character runs, so detect
// compiles such rules once more into a small program of its own: literals compare as
// strings, runs of a character class are scanned in one loop, and a run followed by a
// literal backtracks straight to the literal's previous occurrence (strings.LastIndex)
// instead of one character at a time. The order in which alternatives are tried is
// Perl's, as in Go's regexp, so matches and submatches are the same; rules with
// anything else (case folding, word boundaries, repeated groups) and matches that would
// take too long stay with regexp. TestFastMatchAgreesWithRegexp holds it to that.

type opcode uint8

const (
	opLit   opcode = iota // the literal lit
	opClass               // min to max runes of cls (max < 0: no limit), greedy or not
	opSplit               // try pc+1, then arg
	opJmp                 // go to arg
	opSave                // record the position in submatch slot arg
	opEnd                 // the end of the text
	opMatch               // success
)

type fastInst struct {
	op       opcode
	lit      string
	cls      *runeClass
	min, max int
	greedy   bool
	arg      int
}

// runeClass is a character class: a bitmap for ASCII, ranges for the rest.
type runeClass struct {
	ascii [2]uint64
	high  []rune // pairs of inclusive ranges above 0x7f
}

func newRuneClass(ranges []rune) *runeClass {
	c := &runeClass{}
	for i := 0; i+1 < len(ranges); i += 2 {
		lo, hi := ranges[i], ranges[i+1]
		for r := lo; r <= hi && r < utf8.RuneSelf; r++ {
			c.ascii[r/64] |= 1 << (r % 64)
		}
		if hi >= utf8.RuneSelf {
			c.high = append(c.high, max(lo, utf8.RuneSelf), hi)
		}
	}
	return c
}

func (c *runeClass) has(r rune) bool {
	if r < utf8.RuneSelf {
		return c.ascii[r/64]&(1<<(r%64)) != 0
	}
	for i := 0; i < len(c.high); i += 2 {
		if r >= c.high[i] && r <= c.high[i+1] {
			return true
		}
	}
	return false
}

// fastProg is a compiled rule; nil when the rule is not of the supported kind.
type fastProg struct {
	insts []fastInst
	ncap  int // submatch slots used (2 per group, group 0 included)
}

// maxFastCaps bounds the submatch slots, so they live in an array on the stack.
const maxFastCaps = 32

// compileFast compiles re, which must start with ^, or returns nil.
func compileFast(re *syntax.Regexp, captures bool) *fastProg {
	if re.Op != syntax.OpConcat || len(re.Sub) == 0 || re.Sub[0].Op != syntax.OpBeginText {
		return nil
	}
	c := &fastCompiler{captures: captures, ncap: 2}
	if captures {
		c.emit(fastInst{op: opSave, arg: 0})
	}
	for _, s := range re.Sub[1:] {
		if !c.compile(s) {
			return nil
		}
	}
	if captures {
		c.emit(fastInst{op: opSave, arg: 1})
	}
	c.emit(fastInst{op: opMatch})
	if c.ncap > maxFastCaps {
		return nil
	}
	return &fastProg{insts: c.insts, ncap: c.ncap}
}

type fastCompiler struct {
	insts    []fastInst
	captures bool
	ncap     int
}

func (c *fastCompiler) emit(i fastInst) int {
	c.insts = append(c.insts, i)
	return len(c.insts) - 1
}

// single returns the class a one-character node matches, or nil.
func single(re *syntax.Regexp) *runeClass {
	switch re.Op {
	case syntax.OpLiteral:
		if len(re.Rune) == 1 && re.Flags&syntax.FoldCase == 0 {
			return newRuneClass([]rune{re.Rune[0], re.Rune[0]})
		}
	case syntax.OpCharClass:
		return newRuneClass(re.Rune)
	case syntax.OpAnyCharNotNL:
		return newRuneClass([]rune{0, '\n' - 1, '\n' + 1, utf8.MaxRune})
	case syntax.OpAnyChar:
		return newRuneClass([]rune{0, utf8.MaxRune})
	}
	return nil
}

func (c *fastCompiler) compile(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpEmptyMatch:
		return true
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 {
			return false
		}
		c.emit(fastInst{op: opLit, lit: string(re.Rune)})
		return true
	case syntax.OpCharClass, syntax.OpAnyCharNotNL, syntax.OpAnyChar:
		c.emit(fastInst{op: opClass, cls: single(re), min: 1, max: 1, greedy: true})
		return true
	case syntax.OpEndText:
		c.emit(fastInst{op: opEnd})
		return true
	case syntax.OpCapture:
		if !c.captures {
			return c.compile(re.Sub[0])
		}
		slot := 2 * re.Cap
		c.ncap = max(c.ncap, slot+2)
		c.emit(fastInst{op: opSave, arg: slot})
		if !c.compile(re.Sub[0]) {
			return false
		}
		c.emit(fastInst{op: opSave, arg: slot + 1})
		return true
	case syntax.OpConcat:
		for _, s := range re.Sub {
			if !c.compile(s) {
				return false
			}
		}
		return true
	case syntax.OpAlternate:
		var jumps []int
		for i, s := range re.Sub {
			split := -1
			if i < len(re.Sub)-1 {
				split = c.emit(fastInst{op: opSplit})
			}
			if !c.compile(s) {
				return false
			}
			if split >= 0 {
				jumps = append(jumps, c.emit(fastInst{op: opJmp}))
				c.insts[split].arg = len(c.insts)
			}
		}
		for _, j := range jumps {
			c.insts[j].arg = len(c.insts)
		}
		return true
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat:
		lo, hi := 0, -1
		switch re.Op {
		case syntax.OpPlus:
			lo = 1
		case syntax.OpQuest:
			hi = 1
		case syntax.OpRepeat:
			lo, hi = re.Min, re.Max
		}
		greedy := re.Flags&syntax.NonGreedy == 0
		if cls := single(re.Sub[0]); cls != nil {
			c.emit(fastInst{op: opClass, cls: cls, min: lo, max: hi, greedy: greedy})
			return true
		}
		if re.Op != syntax.OpQuest || !greedy {
			return false // repeated groups stay with regexp
		}
		split := c.emit(fastInst{op: opSplit})
		if !c.compile(re.Sub[0]) {
			return false
		}
		c.insts[split].arg = len(c.insts)
		return true
	}
	return false
}

// frame is a choice point to come back to, or a submatch slot to restore.
type frame struct {
	kind    uint8 // frameSplit, frameRun or frameSave
	pc      int32 // where to resume (frameSave: the slot)
	pos     int32 // frameSplit: where; frameSave: the old value
	lo, end int32 // frameRun: the run's shortest and current end
	limit   int32 // frameRun, not greedy: the run's longest end
}

const (
	frameSplit = iota
	frameRun
	frameSave
)

// maxFastFrames and maxFastWork bound the work: past them, regexp decides (in time
// linear in the text). Work is every instruction run and every byte a run of a class
// or a search for a run's next literal reads, when the program goes forward and when
// it backtracks: counting instructions alone let "^.*a.*b.*c$" read a 7 KB line a
// thousand times over before giving up (review 30 finding 2).
const (
	maxFastFrames = 64
	maxFastWork   = 1 << 15
)

// exec matches s; caps receives the submatch positions. ok is false when the program
// gave up and regexp must decide.
func (p *fastProg) exec(s string, caps *[maxFastCaps]int) (matched, ok bool) {
	matched, ok, _ = p.run(s, caps)
	return matched, ok
}

// run is exec, and says how much work it did (see maxFastWork).
func (p *fastProg) run(s string, caps *[maxFastCaps]int) (matched, ok bool, work int) {
	for i := 0; i < p.ncap; i++ {
		caps[i] = -1
	}
	var stack [maxFastFrames]frame
	sp := 0
	pc, pos := 0, 0
	push := func(f frame) bool {
		if sp == len(stack) {
			return false
		}
		stack[sp] = f
		sp++
		return true
	}
	for {
		work++
		if work > maxFastWork {
			return false, false, work
		}
		in := &p.insts[pc]
		fail := false
		switch in.op {
		case opLit:
			if strings.HasPrefix(s[pos:], in.lit) {
				pos += len(in.lit)
				pc++
			} else {
				fail = true
			}
		case opEnd:
			if pos == len(s) {
				pc++
			} else {
				fail = true
			}
		case opSave:
			if !push(frame{kind: frameSave, pc: int32(in.arg), pos: int32(caps[in.arg])}) {
				return false, false, work
			}
			caps[in.arg] = pos
			pc++
		case opJmp:
			pc = in.arg
		case opSplit:
			if !push(frame{kind: frameSplit, pc: int32(in.arg), pos: int32(pos)}) {
				return false, false, work
			}
			pc++
		case opMatch:
			return true, true, work
		case opClass:
			lo, end, n := pos, pos, 0
			// The shortest run, then as far as the class and the limit allow.
			for (in.max < 0 || n < in.max) && end < len(s) {
				r, w := rune(s[end]), 1
				if r >= utf8.RuneSelf {
					r, w = utf8.DecodeRuneInString(s[end:])
				}
				if !in.cls.has(r) {
					break
				}
				end += w
				n++
				if n == in.min {
					lo = end
				}
			}
			work += end - pos
			if n < in.min {
				fail = true
				break
			}
			if in.min == 0 {
				lo = pos
			}
			if lo == end {
				pos = end
				pc++
				break
			}
			if in.greedy {
				end = p.runEnd(s, pc, lo, end, &work)
				if end < 0 {
					fail = true
					break
				}
				if !push(frame{kind: frameRun, pc: int32(pc), lo: int32(lo), end: int32(end)}) {
					return false, false, work
				}
				pos = end
			} else {
				if !push(frame{kind: frameRun, pc: int32(pc), lo: int32(lo), end: int32(lo), limit: int32(end)}) {
					return false, false, work
				}
				pos = lo
			}
			pc++
		}
		if !fail {
			continue
		}
		// Back to the latest choice point, undoing submatches on the way.
		for {
			work++
			if work > maxFastWork {
				return false, false, work
			}
			if sp == 0 {
				return false, true, work
			}
			f := &stack[sp-1]
			if f.kind == frameSave {
				caps[f.pc] = int(f.pos)
				sp--
				continue
			}
			if f.kind == frameSplit {
				pc, pos = int(f.pc), int(f.pos)
				sp--
				break
			}
			in := &p.insts[f.pc]
			var next int
			if in.greedy {
				next = p.runEnd(s, int(f.pc), int(f.lo), prevRune(s, int(f.end)), &work)
			} else {
				next = nextRune(s, int(f.end))
				if next > int(f.limit) {
					next = -1
				}
			}
			if next < 0 || next < int(f.lo) {
				sp--
				continue
			}
			f.end = int32(next)
			pc, pos = int(f.pc)+1, next
			break
		}
	}
}

// runEnd returns the longest end of a greedy run in [lo, end] after which the program
// can go on, as far as a following literal tells: the end where that literal occurs
// last. Without a following literal every end is possible. It returns -1 for none, and
// adds the bytes it searched to work.
func (p *fastProg) runEnd(s string, pc, lo, end int, work *int) int {
	if end < lo {
		return -1
	}
	k := pc + 1
	for p.insts[k].op == opSave {
		k++ // a submatch boundary takes no text: the literal after it decides
	}
	next := &p.insts[k]
	if next.op != opLit {
		return end
	}
	if strings.HasPrefix(s[end:], next.lit) {
		return end
	}
	limit := min(end+len(next.lit)-1, len(s))
	*work += limit - lo
	i := strings.LastIndex(s[lo:limit], next.lit)
	if i < 0 {
		return -1
	}
	return lo + i
}

func prevRune(s string, i int) int {
	if i <= 0 {
		return -1
	}
	if s[i-1] < utf8.RuneSelf {
		return i - 1
	}
	_, w := utf8.DecodeLastRuneInString(s[:i])
	return i - w
}

func nextRune(s string, i int) int {
	if i >= len(s) {
		return len(s) + 1
	}
	if s[i] < utf8.RuneSelf {
		return i + 1
	}
	_, w := utf8.DecodeRuneInString(s[i:])
	return i + w
}
