package detect

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/abusewatch/abusewatch"
)

// A rule that does not compile is reported with file and line, every one of them, and
// the others still load and match.
func TestBadRulesReportedRestLoad(t *testing.T) {
	fsys := fstest.MapFS{
		"n/a": file("^good one$\n^bad (\n^(a)\\1$\n^good two$\n"),
		"a/r": file("sshd auth-failure ^x <HOST>$\nsshd auth-failure ^y (<HOST>$\nsshd auth-failure ^z <HOST>$\n"),
	}
	n, err := LoadNormalRules(fsys, "n")
	var errs RuleErrors
	if !errors.As(err, &errs) || len(errs) != 2 || errs[0].Line != 2 || errs[1].Line != 3 || errs[1].File != "n/a" {
		t.Fatalf("err = %v, want n/a:2 and n/a:3", err)
	}
	if n.Len() != 2 || !normalMatch(n, "", "good one") || !normalMatch(n, "", "good two") {
		t.Errorf("the good rules did not load: %d rules", n.Len())
	}
	a, err := LoadAttackRules(fsys, "a")
	if !errors.As(err, &errs) || len(errs) != 1 || errs[0].Line != 2 {
		t.Fatalf("err = %v, want a/r:2", err)
	}
	if a.Len() != 2 {
		t.Errorf("attack rules loaded: %d, want 2", a.Len())
	}
}

// logcheck's whole-line rules are cut down to the message of their program, so they
// match records in every header format, and only records of that program.
func TestLogcheckRulesMatchEveryFormat(t *testing.T) {
	rules := []string{
		`^(\w{3} [ :[:digit:]]{11}|[0-9T:.+-]{32}) [._[:alnum:]-]+ sshd\[[[:digit:]]+\]: Server listening on [.:[:xdigit:]]+ port [[:digit:]]+\.$`,
		`^\w{3} [ :0-9]{11} [._[:alnum:]-]+ postfix/smtpd?\[[0-9]+\]: connect from [^[:space:]]+$`,
		`^(\w{3} [ :0-9]{11}|[0-9T:.+-]{32}) [._[:alnum:]-]+ kernel:( \[ *[0-9]+\.[0-9]+\])? eth0: link up$`,
		`^(\w{3} [ :0-9]{11}|[0-9T:.+-]{32}) [._[:alnum:]-]+ su(\[[0-9]+\])?: Successful su for [a-z]+ by [a-z]+$`,
		`^(\w{3} [ :0-9]{11}|[0-9T:.+-]{32}) [._[:alnum:]-]+ (imap|pop3)-login: Disconnected$`,
	}
	n, err := LoadNormalRules(fstest.MapFS{"d/r": file(strings.Join(rules, "\n"))}, "d")
	if err != nil {
		t.Fatal(err)
	}
	if len(n.programs) < 6 {
		t.Errorf("rules filed under %d programs, want sshd, postfix/smtp, postfix/smtpd, kernel, su, imap-login, pop3-login", len(n.programs))
	}
	d := New(n, nil, time.UTC)
	for line, want := range map[string]Outcome{
		"Feb 12 14:10:21 srv sshd[1]: Server listening on 0.0.0.0 port 22.":              Normal,
		"2026-02-12T14:10:21.123456+00:00 srv sshd[1]: Server listening on :: port 22.":  Normal,
		"<38>1 2026-02-12T14:10:21Z srv sshd 1 - - Server listening on 0.0.0.0 port 22.": Normal,
		// a central rsyslog's file: two spaces after the tag (rsyslog/rsyslog#160)
		"2026-02-12T14:10:21.123456+00:00 srv sshd[1]:  Server listening on :: port 22.":  Normal,
		"2026-02-12T14:10:21.123456+00:00 srv sshd[1]:   Server listening on :: port 22.": Unknown,
		"Feb 12 14:10:21 srv sshd-session[1]: Server listening on 0.0.0.0 port 22.":       Unknown,
		"Feb 12 14:10:21 srv cron[1]: Server listening on 0.0.0.0 port 22.":               Unknown,
		"Feb 12 14:10:21 srv sshd[1]: Server listening on 0.0.0.0 port 22. x":             Unknown,
		"Feb 12 14:10:21 mx postfix/smtpd[7]: connect from a.example[192.0.2.1]":          Normal,
		"Feb 12 14:10:21 mx postfix/smtp[7]: connect from a.example[192.0.2.1]":           Normal,
		"Feb 12 14:10:21 srv kernel: [ 12.345678] eth0: link up":                          Normal,
		"Feb 12 14:10:21 srv kernel: eth0: link up":                                       Normal,
		"Feb 12 14:10:21 srv su[9]: Successful su for root by alice":                      Normal,
		"Feb 12 14:10:21 srv su: Successful su for root by alice":                         Normal,
		"Feb 12 14:10:21 srv pop3-login: Disconnected":                                    Normal,
		"Feb 12 14:10:21 srv smtp-login: Disconnected":                                    Unknown,
	} {
		if out, _ := d.Classify(record(line)); out != want {
			t.Errorf("%s: %v, want %v", line, out, want)
		}
	}
}

// A logcheck rule for a message that starts with spaces (an indented trace) describes
// the whole line: it matches that line although the header parser drops a second space
// after the tag as rsyslog's.
func TestLogcheckRuleForAnIndentedMessage(t *testing.T) {
	rules := []string{
		`^\w{3} [ :0-9]{11} [._[:alnum:]-]+ python3\[[0-9]+\]:   File "/usr/lib/[^"]+", line [0-9]+$`,
		`^\w{3} [ :0-9]{11} [._[:alnum:]-]+ app:  step [0-9]+$`,
	}
	n, err := LoadNormalRules(fstest.MapFS{"d/r": file(strings.Join(rules, "\n"))}, "d")
	if err != nil {
		t.Fatal(err)
	}
	d := New(n, nil, time.UTC)
	for line, want := range map[string]Outcome{
		`Feb 12 14:10:21 srv python3[5]:   File "/usr/lib/x.py", line 3`:  Normal,
		`Feb 12 14:10:21 srv python3[5]:    File "/usr/lib/x.py", line 3`: Unknown,
		`Feb 12 14:10:21 srv python3[5]: File "/usr/lib/x.py", line 3`:    Unknown,
		`Feb 12 14:10:21 srv app:  step 2`:                                Normal,
		`Feb 12 14:10:21 srv app:   step 2`:                               Unknown,
	} {
		if out, _ := d.Classify(record(line)); out != want {
			t.Errorf("%s: %v, want %v", line, out, want)
		}
	}
}

func TestLiteralScanner(t *testing.T) {
	s := newLiteralScanner([]string{"he", "she", "his", "hers", "x"}, []int32{0, 1, 2, 3, 4})
	got := map[int32]bool{}
	for _, id := range s.scan("ushers", nil) {
		got[id] = true
	}
	if len(got) != 3 || !got[0] || !got[1] || !got[3] {
		t.Errorf("scan(ushers) found %v, want he, she, hers", got)
	}
	if ids := s.scan("nothing", nil); len(ids) != 0 {
		t.Errorf("scan(nothing) = %v", ids)
	}
}

func TestShape(t *testing.T) {
	for _, tt := range []struct{ program, msg, want string }{
		{"sshd", "Connection from 203.0.113.7 port 4242 on 192.0.2.1 port 22 rdomain \"\"", `sshd: Connection from <ADDR> port <N> on <ADDR> port <N> rdomain ""`},
		{"sshd", "Failed password for invalid user admin from 2001:db8::7 port 1 ssh2", "sshd: Failed password for invalid user <USER> from <ADDR> port <N> ssh2"},
		{"postfix/qmgr", "4F2A81C0123: removed", "postfix/qmgr: <HEX>: removed"},
		{"dovecot", "imap-login: Login: user=<bob>, rip=203.0.113.7, session=<deadbeef12>", "dovecot: imap-login: Login: user=<<USER>>, rip=<ADDR>, session=<<HEX>>"},
		{"pure-ftpd", "(?@203.0.113.7) [WARNING] Authentication failed for user [pi]", "pure-ftpd: (?@<ADDR>) [WARNING] Authentication failed for user [<USER>]"},
		{"x", "took 1.5 s at 12:30:01 id 0x7f3b", "x: took <N> s at <N> id <HEX>"},
		{"sshd", "message repeated 2 times: [ Invalid user a from 203.0.113.7 port 1]", "sshd: Invalid user <USER> from <ADDR> port <N>"},
	} {
		if got := Shape(tt.program, tt.msg); got != tt.want {
			t.Errorf("Shape(%q)\n got %q\nwant %q", tt.msg, got, tt.want)
		}
	}
	// Records that differ only in masked parts share a shape.
	a := Shape("sshd", "Failed password for root from 203.0.113.7 port 1 ssh2")
	b := Shape("sshd", "Failed password for alice from 198.51.100.9 port 65000 ssh2")
	if a != b {
		t.Errorf("%q != %q", a, b)
	}
}

// A suggested rule is a logcheck rule that compiles, matches its sample and records of
// the same shape, and not other records.
func TestSuggest(t *testing.T) {
	sample := "Feb 12 14:10:21 srv sshd[123]: Connection from 203.0.113.7 port 4242 on 192.0.2.1 port 22 rdomain \"\""
	rule, d := suggestedDetector(t, sample)
	if _, err := regexp.Compile(rule); err != nil {
		t.Fatalf("%s: %v", rule, err)
	}
	for line, want := range map[string]Outcome{
		sample: Normal,
		"2026-02-12T14:10:21.5+01:00 web sshd[9]: Connection from 2001:db8::1 port 1 on 2001:db8::2 port 22 rdomain \"\"": Normal,
		"Feb 12 14:10:21 srv sshd[123]: Connection from 203.0.113.7 port 4242 on 192.0.2.1 port 22 rdomain \"x\"":         Unknown,
		"Feb 12 14:10:21 srv cron[123]: Connection from 203.0.113.7 port 4242 on 192.0.2.1 port 22 rdomain \"\"":          Unknown,
	} {
		if out, _ := d.Classify(record(line)); out != want {
			t.Errorf("rule %s\n%s: %v, want %v", rule, line, out, want)
		}
	}
	if _, err := Suggest("not a syslog line"); err == nil {
		t.Error("Suggest of a line without a header succeeded")
	}
}

// A suggested rule matches its sample when the message starts with spaces (an indented
// trace) and when a central rsyslog wrote two spaces after the tag.
func TestSuggestLeadingSpaces(t *testing.T) {
	for _, sample := range []string{
		`Feb 12 14:10:21 srv python3[5]:   File "/usr/lib/x.py", line 3, in main`,
		"2026-02-12T14:10:21.123456+00:00 web1 sshd[9]:  Connection closed by 203.0.113.7 port 4242",
		"2026-02-12T14:10:21.123456+00:00 web1 sshd[9]: Connection closed by 203.0.113.7 port 4242",
	} {
		rule, d := suggestedDetector(t, sample)
		if out, _ := d.Classify(record(sample)); out != Normal {
			t.Errorf("rule %s\n%s: %v, want normal", rule, sample, out)
		}
	}
}

// A record of a service's own log format gets a rule that matches it, in that format and
// in syslog's: logcheck's whole-line form is taken apart to the program and message.
func TestSuggestNativeFormat(t *testing.T) {
	for _, tt := range []struct{ sample, same, syslog string }{
		{"2022-06-29 14:33:43 H=test.sa.com [1.2.3.4]:18146 temporarily rejected connection in \"connect\" ACL: \"Host is ratelimited (1.9/1h max:1.2)\"",
			"2022-07-01 01:02:03 H=test.sa.com [203.0.113.7]:1 temporarily rejected connection in \"connect\" ACL: \"Host is ratelimited (1.9/1h max:1.2)\"",
			"Feb 12 14:10:21 mx exim[1]: H=test.sa.com [203.0.113.7]:1 temporarily rejected connection in \"connect\" ACL: \"Host is ratelimited (1.9/1h max:1.2)\""},
		{`Mon Jun 8 12:08:44 2020 [pid 27245] CONNECT: Client "::ffff:93.24.101.89"`,
			`Tue Jun  9 01:02:03 2020 [pid 1] CONNECT: Client "203.0.113.7"`,
			`Feb 12 14:10:21 ftp vsftpd[1]: CONNECT: Client "203.0.113.7"`},
	} {
		rule, d := suggestedDetector(t, tt.sample)
		for _, line := range []string{tt.sample, tt.same, tt.syslog} {
			if out, _ := d.Classify(record(line)); out != Normal {
				t.Errorf("rule %s\n%s: %v, want normal", rule, line, out)
			}
		}
	}
}

// A header with no message has a shape the tuning list can name and the store can keep
// ("" is no key), and no rule is proposed for it: "^$" would drop every empty message.
func TestAnEmptyMessageHasAShapeButNoSuggestedRule(t *testing.T) {
	if got := Shape("", ""); got != abusewatch.EmptyShape {
		t.Errorf("Shape of an empty message = %q, want %q", got, abusewatch.EmptyShape)
	}
	for _, line := range []string{"Dec  7 07:00:00 web1 ", "2026-11-01T10:00:30Z web1 "} {
		h, err := ParseHeader(line, time.Now(), nil)
		if err != nil || h.Program != "" || h.Message != "" {
			t.Fatalf("ParseHeader(%q) = %+v, %v; want a header alone", line, h, err)
		}
		if rule, err := Suggest(line); err == nil {
			t.Errorf("Suggest(%q) = %q; want no rule", line, rule)
		}
	}
}

// A shape whose sample is rsyslog's "message repeated N times: [ …]" (Ubuntu's
// $RepeatedMsgReduction) gets a rule for the record the line stands for: normal rules
// are tried on the message inside the brackets, and the rule written from the whole
// message matched nothing, not even its sample.
func TestSuggestFromARepeatedMessage(t *testing.T) {
	sample := "Dec  7 10:00:00 web1 myapp[1]: message repeated 3 times: [ cache refreshed in 12 ms]"
	if Shape("myapp", "message repeated 3 times: [ cache refreshed in 12 ms]") != Shape("myapp", "cache refreshed in 12 ms") {
		t.Fatal("the repeated line and the plain one are not of one shape")
	}
	rule, d := suggestedDetector(t, sample)
	for line, want := range map[string]Outcome{
		sample: Normal,
		"Dec  7 10:00:05 web1 myapp[1]: cache refreshed in 7 ms":                                     Normal,
		"Dec  7 10:00:09 web1 myapp[2]: message repeated 2 times: [ cache refreshed in 30 ms]":       Normal,
		"Dec  7 10:00:09 web1 myapp[2]: message repeated 2 times: [ cache refreshed in 30 ms, slow]": Unknown,
	} {
		if out, _ := d.Classify(record(line)); out != want {
			t.Errorf("rule %s\n%s: %v, want %v", rule, line, out, want)
		}
	}
}

// suggestedDetector is the rule Suggest proposes for sample, and a detector with it as
// its only normal rule.
func suggestedDetector(t *testing.T, sample string) (string, *Detector) {
	t.Helper()
	rule, err := Suggest(sample)
	if err != nil {
		t.Fatal(err)
	}
	n, err := LoadNormalRules(fstest.MapFS{"d/r": file(rule)}, "d")
	if err != nil {
		t.Fatal(err)
	}
	return rule, New(n, nil, time.UTC)
}
