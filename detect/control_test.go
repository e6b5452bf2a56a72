package detect

import (
	"path/filepath"
	"strings"
	"testing"
	"unicode"
)

// A user name with a control character in it (CR, ESC, NUL, U+0085: services other than
// sshd log the name as the client sent it) keeps the attack it is in an event: the
// corpus's failed logins with such a name are the same events, from the same address,
// the name shown with "?" (another review's finding: such lines were dropped whole as
// unparsed, out of every incident).
func TestControlCharacterInUserNameKeepsTheEvent(t *testing.T) {
	d := numericShipped(t)
	logs, _ := filepath.Glob("testdata/crowdsec/*/*.log")
	tested := map[string]int{} // by program
	for _, f := range logs {
		for _, line := range readLines(t, f) {
			v := d.Explain(record(line))
			u := v.Event.User
			if v.Outcome != Recognised || len(u) < 2 || strings.Count(line, u) != 1 {
				continue
			}
			for _, control := range []string{"\r", "\x1b[31m", "\x00", "\u0085", "\u009b2J", "\x7f"} {
				hostile := strings.Replace(line, u, u[:1]+control+u[1:], 1)
				got := d.Explain(record(hostile))
				shown := u[:1] + "?" + strings.TrimLeft(control, "\r\x1b\x00\u0085\u009b\x7f") + u[1:]
				if got.Outcome != Recognised || got.Event.Class != v.Event.Class || got.Event.Addr != v.Event.Addr || got.Event.User != shown {
					t.Errorf("%s: %q: %v %s from %v user %q (%v), want %s from %v user %q", f, hostile, got.Outcome, got.Event.Class, got.Event.Addr, got.Event.User, got.Err, v.Event.Class, v.Event.Addr, shown)
					continue
				}
				if strings.ContainsFunc(got.Event.Line, func(r rune) bool { return r != '\t' && unicode.IsControl(r) }) {
					t.Errorf("%q: the event's line keeps a control character: %q", hostile, got.Event.Line)
				}
			}
			tested[v.Header.Program]++
		}
	}
	for _, program := range []string{"sshd", "vsftpd", "proftpd", "pure-ftpd", "dovecot", "exim", "postfix/smtps/smtpd"} {
		if tested[program] == 0 {
			t.Errorf("no failed login of %s with a user name in the corpus (tested: %v)", program, tested)
		}
	}
}

// A control character outside the message still makes the record unparsed: in the
// header (the host, the program), at the start (the daemon's mark for a syslog message
// without <PRI>), and in a record no attack rule recognises.
func TestControlCharacterOutsideAnAttackIsUnparsed(t *testing.T) {
	d := shipped(t)
	const attack = "Feb 12 14:10:21 srv sshd[1]: Invalid user x from 203.0.113.7 port 22"
	if out, _ := d.Classify(record(attack)); out != Recognised {
		t.Fatalf("%s: %v", attack, out)
	}
	for _, line := range []string{
		"\x00" + attack,
		"\u0085" + attack,
		strings.Replace(attack, "srv", "s\x1brv", 1),
		strings.Replace(attack, "srv", "srv\r", 1),
		strings.Replace(attack, "sshd", "ss\x00hd", 1),
		strings.Replace(attack, "[1]", "[1\r]", 1),
		strings.Replace(attack, "12 14", "12\r14", 1),
		"Feb 12 14:10:21 srv myapp[1]: something new from 203.0.113.7 port 22 by x\x1b[2J",
	} {
		if v := d.Explain(record(line)); v.Outcome != Unparsed || v.Event.Addr.IsValid() {
			t.Errorf("%q: %v %v, want unparsed", line, v.Outcome, v.Event.Addr)
		}
	}
}
