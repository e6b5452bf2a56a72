package mailer

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/abusewatch/abusewatch"
)

// The user name the rule captured is masked whole wherever the attacker put words of
// the line around it or inside it, and a line where it cannot be told apart from the
// rest is withheld after the program's prefix, never quoted; with redact off every line
// is quoted as logged.
func TestRedactMasksHostileUserNamesWhole(t *testing.T) {
	c := testComposer(t).With(Options{Redact: Redaction{Users: true}})
	off := testComposer(t)
	src := netip.MustParseAddr("203.0.113.7")
	head := "2026-12-07T08:00:00.000000+00:00 web1 sshd[1]: "
	for _, tc := range []struct{ user, msg, want string }{
		{"x from 1.2.3.4 port 22", "Failed password for invalid user x from 1.2.3.4 port 22 from 203.0.113.7 port 4 ssh2",
			"Failed password for invalid user <user> from 203.0.113.7 port 4 ssh2"},
		{"<a> b>c", "Failed password for <a> b>c from 203.0.113.7 port 4 ssh2", "Failed password for <user> from 203.0.113.7 port 4 ssh2"},
		{"a", "Failed password for a from 203.0.113.7 port 4 ssh2", "Failed password for <user> from 203.0.113.7 port 4 ssh2"},
		{"password", "Failed password for password from 203.0.113.7 port 4 ssh2", messageMask},
		{"from", "Failed password for from from 203.0.113.7 port 4 ssh2", messageMask},
		{"web1", "Failed password for web1 from 203.0.113.7 port 4 ssh2", "Failed password for <user> from 203.0.113.7 port 4 ssh2"},
		{"gone", "Failed password for someone from 203.0.113.7 port 4 ssh2", messageMask},
	} {
		ev := abusewatch.Event{Addr: src, Host: "web1", Service: "sshd", User: tc.user, Line: head + tc.msg}
		if got := c.redactLine(ev); got != head+tc.want {
			t.Errorf("user %q:\n got %s\nwant %s", tc.user, got, head+tc.want)
		}
		if got := off.redactLine(ev); got != ev.Line {
			t.Errorf("user %q without redact: %s", tc.user, got)
		}
	}
	// A line whose header is not the program's: all of it is message.
	ev := abusewatch.Event{Addr: src, Host: "web1", Service: "sshd", User: "password", Line: "Failed password for password from 203.0.113.7"}
	if got := c.redactLine(ev); strings.Contains(got, "for password") {
		t.Errorf("an unread header: %s", got)
	}
}
