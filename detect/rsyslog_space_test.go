package detect

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/abusewatch/abusewatch"
)

// A central rsyslog that receives its fleet's messages through rsyslog's RFC 5424
// forwarding template writes two spaces after the tag (rsyslog/rsyslog#160). Such an
// SSH failure is an attack from the address sshd wrote, on the host that logged it,
// whichever timestamp the file has; with one more space it is not sshd's message and
// no rule anchored at its start takes it.
func TestRsyslogDoubleSpaceFailureIsAnAttack(t *testing.T) {
	d := shipped(t)
	const failed = "Failed password for root from 45.134.26.9 port 4000 ssh2"
	for _, header := range []string{
		"2026-12-06T10:00:01.000000+00:00 web1 sshd[100]:",
		"Dec  6 10:00:01 web1 sshd[100]:",
		"Dec  6 10:00:01 web1 sshd:",
	} {
		line := header + "  " + failed
		out, ev := d.Classify(record(line))
		if out != Recognised || ev.Class != abusewatch.ClassAuthFailure || ev.Addr != netip.MustParseAddr("45.134.26.9") ||
			ev.Port != 4000 || ev.User != "root" || ev.Host != "web1" || ev.Service != "sshd" || ev.Line != line {
			t.Errorf("%q: %v %+v; want an auth-failure of root from 45.134.26.9 port 4000 on web1", line, out, ev)
		}
		line = header + "   " + failed
		if out, ev := d.Classify(record(line)); out == Recognised {
			t.Errorf("%q: %v %+v; want no attack: the message starts with a space", line, out, ev)
		}
	}
}

// The dropped space is the sender's, before anything the client wrote: with it, hostile
// text still never moves the address away from the anchored one: the record is read as
// with one space.
func TestRsyslogDoubleSpaceKeepsTheAnchoredAddress(t *testing.T) {
	d := shipped(t)
	real := netip.MustParseAddr("203.0.113.7")
	for _, line := range []string{
		`sshd[1]: Failed password for invalid user x from 6.6.6.6 port 1 ssh2 from 203.0.113.7 port 22 ssh2`,
		`sshd[1]: Invalid user "quoted" 'name' with  spaces from 203.0.113.7 port 22`,
		`sshd[1]: Invalid user  from 6.6.6.6 port 1 from 203.0.113.7 port 22`,
		`sshd[1]: refused connect from x@6.6.6.6 (203.0.113.7)`,
		`vsftpd[1]: [x] FAIL LOGIN: Client "6.6.6.6"] FAIL LOGIN: Client "203.0.113.7"`,
		`dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<x>, method=PLAIN, rip=6.6.6.6, lip=1.1.1.1, TLS>, method=PLAIN, rip=203.0.113.7, lip=192.0.2.1, TLS, session=<x>`,
		`postfix/postscreen[1]: PREGREET 30 after 0.1 from [203.0.113.7]:1: x from [6.6.6.6]:2: EHLO y`,
	} {
		one := "2026-12-06T10:00:01.000000+00:00 web1 " + line
		two := "2026-12-06T10:00:01.000000+00:00 web1 " + strings.Replace(line, ": ", ":  ", 1)
		outOne, evOne := d.Classify(record(one))
		outTwo, evTwo := d.Classify(record(two))
		evOne.Line, evTwo.Line = "", ""
		if outTwo != outOne || evTwo != evOne {
			t.Errorf("%q: %v %+v\nwith one space: %v %+v", two, outTwo, evTwo, outOne, evOne)
		}
		if evTwo.Addr.IsValid() && evTwo.Addr != real {
			t.Errorf("%q: event from %v, want %v or none", two, evTwo.Addr, real)
		}
	}
}
