package detect

import (
	"strings"
	"testing"
	"testing/fstest"
)

// A normal rule runs at most once on a record however often its line repeats the
// literal the rule is found by, and the fast matcher's work on a text is bounded,
// backtracking included: past the bound regexp decides, in time linear in the text
// (review 30 finding 2: one 7.9 KB line cost 3 s, one 7 KB line 28 s). Work is
// counted, not timed.
func TestNormalRuleWorkIsBounded(t *testing.T) {
	const session = `^.*: session opened for user .* by .*\(uid=0\)$`
	const abc = `^.*a.*b.*c$`
	n, err := LoadNormalRules(fstest.MapFS{"n/local": file(session + "\n" + abc + "\n")}, "n")
	if err != nil {
		t.Fatal(err)
	}
	const header = "Dec  7 10:00:00 web1 myjob: "
	for _, tt := range []struct {
		line string
		want Outcome
	}{
		{header + strings.Repeat(": session opened for user ", 300), Unknown}, // 7.9 KB
		{header + strings.Repeat("a", 7000), Unknown},                         // 7 KB
		{header + strings.Repeat("ab", 3500) + "c", Normal},
		{header + "cron: session opened for user root by (uid=0)", Normal},
		{header + "x: session opened for user root by x" + strings.Repeat(": session opened for user ", 250) + " by (uid=0)", Normal},
	} {
		h, err := ParseHeader(tt.line, readTime, nil)
		if err != nil {
			t.Fatal(err)
		}
		// Each rule that needs a literal is found once, not once per occurrence.
		ids := n.floating.scan(tt.line, nil)
		seen := map[int32]bool{}
		for _, id := range ids {
			if seen[id] {
				t.Errorf("%.40s… (%d bytes): rule %s found %d times", tt.line, len(tt.line), n.rules[id].where, len(ids))
				break
			}
			seen[id] = true
		}
		// The fast matcher gives up within its budget, on the line and the message.
		for _, r := range n.rules {
			if r.m.fast == nil {
				continue
			}
			for _, text := range []string{tt.line, h.Message} {
				var caps [maxFastCaps]int
				matched, ok, work := r.m.fast.run(text, &caps)
				if bound := maxFastWork + 2*len(text); work > bound {
					t.Errorf("%s on %.40s… (%d bytes): work %d, want at most %d", r.where, text, len(text), work, bound)
				}
				if ok && matched != r.m.re.MatchString(text) {
					t.Errorf("%s on %.40s…: fast matched=%v, regexp disagrees", r.where, text, matched)
				}
			}
		}
		if got := New(n, nil, nil).Explain(record(tt.line)).Outcome; got != tt.want {
			t.Errorf("%.60s… (%d bytes): %v, want %v", tt.line, len(tt.line), got, tt.want)
		}
	}
}
