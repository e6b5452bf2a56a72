package detect

import (
	"net/netip"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

// Hostile lines for each slot GenericAddr reads: the client's text spells the slot with
// 6.6.6.6 where the program's own slot is unusable (zoned, malformed, "unknown", a host
// name), absent, or after the client's text. Whatever decides the line (an attack rule,
// or the generic fallback of an unknown one), its event names the real address
// (203.0.113.7) or none: never 6.6.6.6, and never a server we delivered to (9.9.9.9).
func TestGenericAddrHostileSlots(t *testing.T) {
	d := shipped(t)
	for _, tt := range []struct {
		name, msg, want string
	}{
		// "from [ADDR]": postscreen, postfix's "from NAME[ADDR]", exim's H= and "from … [ADDR]"
		{"postscreen zoned client", "postfix/postscreen[1]: NON-SMTP COMMAND from [fe80::1%eth0]:41323 after CONNECT: GET / HTTP/1.1 from [6.6.6.6]:1", ""},
		{"postscreen zoned client, PREGREET", "postfix/postscreen[1]: PREGREET 11 after 0.1 from [fe80::1%eth0]:41323: EHLO x from [6.6.6.6]:1", ""},
		{"postscreen unknown client", "postfix/postscreen[1]: NON-SMTP COMMAND from [unknown]:41323 after CONNECT: GET / from [6.6.6.6]:1", ""},
		{"postscreen malformed client", "postfix/postscreen[1]: NON-SMTP COMMAND from [1.2.3]:41323 after CONNECT: GET / from [6.6.6.6]:1", ""},
		{"postscreen client with a name", "postfix/postscreen[1]: NON-SMTP COMMAND from [x.example]:41323 after CONNECT: GET / from [6.6.6.6]:1", ""},
		{"smtpd unspecified client", "postfix/smtpd[1]: too many errors after DATA from unknown[0.0.0.0]", ""},
		{"postscreen unspecified client", "postfix/postscreen[1]: CONNECT from [::]:41323 to [192.0.2.1]:25", ""},
		{"smtpd multicast client", "postfix/smtpd[1]: too many errors after DATA from unknown[224.0.0.1]", ""},
		{"smtpd unknown[unknown]", "postfix/smtpd[1]: lost connection after CONNECT from unknown[unknown] junk from [6.6.6.6]:1", ""},
		{"smtpd zoned client", "postfix/smtpd[1]: improper command pipelining after CONNECT from unknown[fe80::1%eth0]: from x[6.6.6.6]: y", ""},
		{"smtpd client= zoned", "postfix/smtpd[1]: 4D5F: client=unknown[fe80::1%eth0] x from [6.6.6.6]:1", ""},
		{"smtpd, the client's text after the real client", "postfix/smtpd[1]: improper command pipelining after CONNECT from unknown[203.0.113.7]: GET / from [6.6.6.6]:1", ""},
		{"smtpd, the real client", "postfix/smtpd[1]: improper command pipelining after CONNECT from unknown[203.0.113.7]: GET / HTTP/1.1", "203.0.113.7"},
		{"exim H= zoned", "exim[1]: H=(x) [fe80::1%eth0]:25 junk from [6.6.6.6]:1", ""},
		{"exim from … zoned", "exim[1]: SMTP connection from (x) [fe80::1%eth0]:25 lost x from [6.6.6.6]:1", ""},
		{"cleanup header of a local message", "postfix/cleanup[1]: 4D5F: warning: header Subject: hi from [6.6.6.6]: x from local; from=<www@h> to=<u@h>", ""},
		{"cleanup header reject", "postfix/cleanup[1]: 4D5F: reject: header Subject: hi from x[6.6.6.6]; y from local; from=<www@h> to=<u@h>: 5.7.1 no", ""},
		{"cleanup body, a second instance", "postfix-in/cleanup[1]: 4D5F: hold: body hi from [6.6.6.6]: x from local; from=<www@h>", ""},
		{"cleanup message-id", "postfix/cleanup[1]: 4D5F: message-id=<a from [6.6.6.6]:1>", ""},
		{"smtp: a server's reply", "postfix/smtp[1]: 4D5F: host mx.example[9.9.9.9] said: 550 mail from [6.6.6.6]: blocked (in reply to RCPT TO command)", ""},
		{"lmtp: a server's reply", "postfix/lmtp[1]: 4D5F: host lmtp.example[9.9.9.9] said: 451 from [6.6.6.6]: x (in reply to end of DATA command)", ""},
		{"exim delivery: the server it delivered to", "exim[1]: 1abc23-000123-AB ** bad@x R=dnslookup T=remote_smtp H=mx.x [9.9.9.9]: SMTP error from remote mail server after RCPT TO:<bad@x>: 550 5.1.1 user unknown", ""},
		{"exim delivery, 4.97 IDs and a date", "exim[1]: 2026-12-07 08:00:41 1x5dJQ-00000002ksM-1pMm == a@x R=dnslookup T=remote_smtp defer (-44) H=mx.x [9.9.9.9]: SMTP error from remote mail server after RCPT TO:<a@x>: 451 x", ""},
		{"exim arrival: the client", "exim[1]: 1abc23-000123-AB <= a@b.example H=(x) [203.0.113.7]:4242 P=esmtp S=1", "203.0.113.7"},
		// " from ADDR port N"
		{"from-port zoned", "sshd[1]: Connection from fe80::1%eth0 port 22 on x: junk from 6.6.6.6 port 1", ""},
		{"from-port host name", "sshd[1]: Connection from host.example port 22 on x: junk from 6.6.6.6 port 1", ""},
		{"from-port, the client's text first", "sshd[1]: banner junk from 6.6.6.6 port 1 from 203.0.113.7 port 22", ""},
		{"last from, [preauth]", "myapp[7]: refused x from 6.6.6.6 port 22 from 203.0.113.7 [preauth]", ""},
		// "rhost=", "rip=", "SRC= DST="
		{"rhost= empty", "foo[1]: authentication failure; logname= uid=0 euid=0 tty=x ruser=x rhost=6.6.6.6 rhost=  user=root", ""},
		{"rhost= zoned", "foo[1]: authentication failure; rhost=fe80::1%eth0 x rhost=6.6.6.6", ""},
		{"rhost= host name", "foo[1]: authentication failure; rhost=host.example x rhost=6.6.6.6", ""},
		{"rip= zoned, in the user name", "dovecot[1]: imap-login: Disconnected: user=<x>, rip=6.6.6.6, lip=x>, method=PLAIN, rip=fe80::1%eth0, lip=192.0.2.1, session=<y>", ""},
		{"rip= in the user name counts against dovecot's", "dovecot[1]: imap-login: Disconnected: user=<x>, rip=6.6.6.6, lip=x>, method=PLAIN, rip=203.0.113.7, lip=192.0.2.1, session=<y>", ""},
		{"rip= after the user name", "dovecot[1]: imap-login: Disconnected: user=<x>, method=PLAIN, rip=203.0.113.7, lip=192.0.2.1, session=<y>", "203.0.113.7"},
		{"SRC= zoned", "kernel: IN=eth0 OUT= SRC=fe80::1%eth0 DST=ff02::1 x SRC=6.6.6.6 DST=192.0.2.1", ""},
		{"rip= of another program", "imapd[1]: LOGIN FAILED x rip=6.6.6.6, y", ""},
		{"SRC= DST= of another program", "sshd[1]: banner junk SRC=6.6.6.6 DST=192.0.2.1 LEN=40", ""},
		{"SRC= DST= of the packet filter", "kernel: [nft odd] IN=eth0 OUT= SRC=203.0.113.7 DST=192.0.2.1 LEN=40", "203.0.113.7"},
		{"SRC= malformed", "kernel: IN=eth0 OUT= SRC=1.2.3 DST=192.0.2.1 x SRC=6.6.6.6 DST=192.0.2.1", ""},
		// proftpd's "HOST (NAME[ADDR]) - "
		{"proftpd zoned", "proftpd[1]: host (x[fe80::1%eth0]) - junk from [6.6.6.6]:1", ""},
		{"proftpd unknown", "proftpd[1]: host (x[unknown]) - junk from [6.6.6.6]:1", ""},
		{"proftpd, its client", "proftpd[1]: host (x[203.0.113.7]) - junk", "203.0.113.7"},
	} {
		v := d.Explain(record("Feb 12 14:10:21 srv " + tt.msg))
		var want netip.Addr
		if tt.want != "" {
			want = netip.MustParseAddr(tt.want)
		}
		if v.Event.Addr != want {
			t.Errorf("%s: %s: %v %q names %v, want %v", tt.name, tt.msg, v.Outcome, v.Event.Class, v.Event.Addr, want)
		}
	}
}

// A line an attack rule matched but refused (its address unusable, a name where it
// reads an address, a bad port, an address in a PTR slot) is no event at all: neither
// normal rules nor the generic fallback see it, which would take the address from
// another part of the line, here the client's own text (an ident user name, a command).
func TestRefusedAttackMatchMakesNoGenericEvent(t *testing.T) {
	attack, err := LoadAttackRules(fstest.MapFS{"a/local": file(
		"hostd auth-failure ^denied (?P<user>\\S+) at <HOST>(?: port <PORT>)?$\n" +
			"nameonly auth-failure ^denied (?P<user>\\S+) at <NAME>$\n")}, "a")
	if err != nil {
		t.Fatal(err)
	}
	custom := New(nil, attack, time.UTC)
	for _, tt := range []struct {
		d        *Detector
		msg, why string
	}{
		{custom, "hostd[1]: denied rhost=6.6.6.6 at 1.2.3", "no address"},
		{custom, "hostd[1]: denied rhost=6.6.6.6 at 203.0.113.7 port 99999", "bad port"},
		{custom, "nameonly[1]: denied rhost=6.6.6.6 at 203.0.113.7", "host name"},
		// libwrap's "user@host": the user is the client's ident reply
		{shipped(t), "in.telnetd[1]: refused connect from rhost=6.6.6.6,@1.2.3", "no address"},
		{shipped(t), "pure-ftpd[1]: (?@203.0.113.7) [INFO] x rip=6.6.6.6, is now logged in", "numeric_hosts"},
	} {
		v := tt.d.Explain(record("Feb 12 14:10:21 srv " + tt.msg))
		if v.Outcome != Unknown || v.Rule == "" || !strings.Contains(v.Refused(), tt.why) {
			t.Errorf("%s: %v by %q (%q), want refused: %s", tt.msg, v.Outcome, v.Rule, v.Refused(), tt.why)
		}
		if v.Event.Addr.IsValid() || v.Event.Class != "" {
			t.Errorf("%s: refused, and still an event %q naming %v", tt.msg, v.Event.Class, v.Event.Addr)
		}
	}
}
