package detect

// literalScanner finds, in one pass over a text, which of a set of literals occur in it
// (Aho-Corasick, as a DFA over byte classes). Rules that have no literal prefix but
// require a literal somewhere are found this way: the regexp runs only for rules whose
// literal the record contains.
type literalScanner struct {
	classes [256]uint8 // byte → class; class 0 is every byte no literal uses
	nclass  int
	next    []int32   // state*nclass + class → next state
	out     [][]int32 // state → the indexes (in lits) of the literals that end there
	ids     []int32   // literal index → its id
}

type trieNode struct {
	children map[byte]int32
	fail     int32
	out      []int32
}

// newLiteralScanner builds a scanner for lits[i] → ids[i]; literals must not be empty.
func newLiteralScanner(lits []string, ids []int32) *literalScanner {
	s := &literalScanner{ids: ids}
	for _, l := range lits {
		for i := 0; i < len(l); i++ {
			if s.classes[l[i]] == 0 {
				s.nclass++
				s.classes[l[i]] = uint8(s.nclass)
			}
		}
	}
	s.nclass++ // class 0
	nodes := []trieNode{{children: map[byte]int32{}}}
	for i, l := range lits {
		cur := int32(0)
		for j := 0; j < len(l); j++ {
			nxt, ok := nodes[cur].children[l[j]]
			if !ok {
				nxt = int32(len(nodes))
				nodes = append(nodes, trieNode{children: map[byte]int32{}})
				nodes[cur].children[l[j]] = nxt
			}
			cur = nxt
		}
		nodes[cur].out = append(nodes[cur].out, int32(i))
	}
	// Breadth first, so a node's fail link is complete before its children's.
	s.next = make([]int32, len(nodes)*s.nclass)
	s.out = make([][]int32, len(nodes))
	queue := []int32{0}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		n := &nodes[cur]
		if cur != 0 {
			n.out = append(n.out, nodes[n.fail].out...)
		}
		s.out[cur] = n.out
		for c := 0; c < 256; c++ {
			class := int(s.classes[c])
			if class == 0 {
				continue
			}
			child, ok := n.children[byte(c)]
			if !ok {
				if cur != 0 {
					s.next[int(cur)*s.nclass+class] = s.next[int(n.fail)*s.nclass+class]
				}
				continue
			}
			if cur != 0 {
				nodes[child].fail = s.next[int(n.fail)*s.nclass+class]
			}
			s.next[int(cur)*s.nclass+class] = child
			queue = append(queue, child)
		}
	}
	return s
}

// scan appends to buf the ids of the literals text contains, each once: a text that
// holds a literal a thousand times (a line of up to MaxLineLen that repeats a rule's
// literal) must not make its rule run a thousand times (review 30 finding 2).
func (s *literalScanner) scan(text string, buf []int32) []int32 {
	if s == nil {
		return buf
	}
	// Which literals were found: on the stack for up to 4,096 literals.
	var seenArr [64]uint64
	seen := seenArr[:]
	if words := (len(s.ids) + 63) / 64; words > len(seen) {
		seen = make([]uint64, words)
	}
	state := int32(0)
	nc := int32(s.nclass)
	for i := 0; i < len(text); i++ {
		state = s.next[state*nc+int32(s.classes[text[i]])]
		for _, lit := range s.out[state] {
			if w, bit := lit/64, uint64(1)<<(lit%64); seen[w]&bit == 0 {
				seen[w] |= bit
				buf = append(buf, s.ids[lit])
			}
		}
	}
	return buf
}
