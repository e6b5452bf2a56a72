package detect

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"regexp/syntax"
	"slices"
	"testing"

	"github.com/abusewatch/abusewatch/detect/detecttest"
)

// fastCase is a rule compiled both ways.
type fastCase struct {
	where string
	re    *regexp.Regexp
	fast  *fastProg
}

func fastCases(t *testing.T, n *NormalRules, a *AttackRules) []fastCase {
	var out []fastCase
	for _, r := range n.rules {
		if r.m.fast != nil {
			out = append(out, fastCase{r.where, r.m.re, r.m.fast})
		}
	}
	for _, r := range a.rules {
		if r.fast != nil {
			out = append(out, fastCase{r.where, r.re, r.fast})
		}
	}
	return out
}

// Detect's own matcher agrees with regexp on every rule it takes over: the shipped rules
// and, where installed, logcheck's server database, over the corpus, the benchmark's log
// and texts made to make it backtrack.
func TestFastMatchAgreesWithRegexp(t *testing.T) {
	d := shipped(t)
	cases := fastCases(t, d.normal, d.attack)
	if _, err := os.Stat(logcheckServer); err == nil {
		n, err := LoadNormalRuleDirs(RuleDir{FS: os.DirFS(logcheckServer), Dir: ".", Name: logcheckServer})
		var errs RuleErrors
		if err != nil && !errors.As(err, &errs) {
			t.Fatal(err)
		}
		cases = append(cases, fastCases(t, n, &AttackRules{})...)
	}
	if len(cases) < 50 {
		t.Fatalf("only %d rules compiled for the fast matcher", len(cases))
	}
	var texts []string
	logs, _ := filepath.Glob("testdata/crowdsec/*/*.log")
	for _, f := range logs {
		texts = append(texts, readLines(t, f)...)
	}
	texts = append(texts, detecttest.AuthLog(400, 7)...)
	var messages []string
	for _, l := range texts {
		if h, err := ParseHeader(l, readTime, nil); err == nil {
			messages = append(messages, h.Message, unrepeat(h.Message))
			if h.tagged != "" {
				messages = append(messages, h.tagged)
			}
		}
	}
	messages = append(messages,
		"Invalid user a from b from 1.2.3.4 port 22 from 5.6.7.8 port 33",
		"Failed password for x from 1.2.3.4 port 1 ssh2 from 2001:db8::1 port 22 ssh2",
		"Failed password for  from  port  ssh2", "", "é", "Invalid user é from 1.2.3.4", "Invalid user \xff from 1.2.3.4",
		// addresses that end in "::", where the slot's last "::" meets a rule's ":"
		"Failed password for root from 2a01:4f8:1:2:1:2:: port 1000 ssh2", "Received disconnect from 2001:db8:1:2:::11: Bye",
		"Exit before auth from <2001:db8:::35928>: Exited normally", "warning: unknown[2001:db8::]: SASL LOGIN authentication failed: x",
		"srclimit_penalise: 2001:db8:1:2::/64: activating ipv6 penalty of 30 seconds for penalty: x", "Failed password for root from 1::: port 1 ssh2")
	compared, fastDecided := 0, 0
	for _, c := range cases {
		for _, m := range messages {
			want := c.re.FindStringSubmatchIndex(m)
			var caps [maxFastCaps]int
			matched, ok := c.fast.exec(m, &caps)
			if !ok {
				continue
			}
			fastDecided++
			compared++
			if matched != (want != nil) {
				t.Fatalf("%s: %q: fast matched=%v, regexp %v (%s)", c.where, m, matched, want != nil, c.re)
			}
			if matched && c.fast.ncap > 2 && !slices.Equal(caps[:c.fast.ncap], want) {
				t.Fatalf("%s: %q: fast submatches %v, regexp %v (%s)", c.where, m, caps[:c.fast.ncap], want, c.re)
			}
		}
	}
	t.Logf("%d rules, %d comparisons decided by the fast matcher", len(cases), fastDecided)
}

// Rules the fast matcher does not take stay with regexp.
func TestFastMatchLeavesTheRestToRegexp(t *testing.T) {
	for _, rule := range []string{`(?i)^abc$`, `^a\bb$`, `^(ab)+$`, `abc$`, `^(?m)a$`, `^(a|b)*$`} {
		tree, err := syntax.Parse(rule, syntax.Perl)
		if err != nil {
			t.Fatal(err)
		}
		if compileFast(tree, true) != nil {
			t.Errorf("%s compiled for the fast matcher", rule)
		}
	}
	for _, rule := range []string{`^a.*b$`, `^(?P<u>.*) from (?P<h>[0-9.]+)(?: port ([0-9]{1,5}))?$`, `^x(?:a|bc|)y$`, `^a.*?b$`} {
		tree, _ := syntax.Parse(rule, syntax.Perl)
		if compileFast(tree, true) == nil {
			t.Errorf("%s not compiled for the fast matcher", rule)
		}
	}
}
