package detect

import (
	"net/netip"
	"testing"

	"github.com/abusewatch/abusewatch"
)

// sshd writes the client's first line, when it is not an SSH banner, in quotes and with
// no address of its own ("client sent invalid protocol identifier \"%.256s\""): a client
// that writes "[ADDR]", "SRC=ADDR ", "rhost=ADDR" or "from ADDR port N" there must not
// make the record an unknown-class event about ADDR, an innocent party the policy may
// report to (review 30 finding 1; the reviewer's evade1.log and fg/logs/auth.log).
func TestUnknownAddressNeverFromClientText(t *testing.T) {
	d := shipped(t)
	const kex = "Dec  7 10:00:01 web1 sshd[1234]: error: kex_exchange_identification: client sent invalid protocol identifier "
	for _, line := range []string{
		kex + `"GET /[198.51.100.77] HTTP/1.1"`,
		kex + `"x rhost=198.51.100.77"`,
		kex + `"SRC=198.51.100.77 "`,
		kex + `"SRC=198.51.100.77 DST=192.0.2.1 LEN=40"`,
		kex + `"a from 198.51.100.77 port 22"`,
		kex + `"CONNECT [81.2.69.10]:25 HTTP/1.1"`,
		kex + `"CONNECT 81.2.69.10:25 HTTP/1.1"`,
		kex + `"GET http://[2001:db8::1]/ HTTP/1.1"`,
		kex + `"H=x [81.2.69.10]:25"`,
		kex + `"x" from 81.2.69.10 port 22 "y"`, // a client's quotes end no quoted text
		kex + `'CONNECT from unknown[81.2.69.10]: x'`,
		// The same words without quotes, where no mail server writes its client.
		"Dec  7 10:00:01 web1 myproxy[7]: bad request line: CONNECT [81.2.69.10]:25 HTTP/1.1",
		"Dec  7 10:00:01 web1 myproxy[7]: bad request line: GET http://x[81.2.69.10]/ HTTP/1.1",
		"Dec  7 10:00:01 web1 myproxy[7]: upstream x[81.2.69.10]: refused",
		// postfix names the mail servers it connects to in the same "NAME[ADDR]" form:
		// the hosts we sent mail to, not clients.
		"Dec  7 10:00:01 mx1 postfix/smtp[4242]: 4F2A81C0123: to=<bob@example.net>, relay=mx.example.net[81.2.69.10]:25, delay=0.5, delays=0.1/0/0.3/0.1, dsn=4.0.0, status=deferred (host mx.example.net[81.2.69.10] said: 451 try later (in reply to RCPT TO command))",
		"Dec  7 10:00:01 mx1 postfix/smtp[4242]: connect to mx.example.net[81.2.69.10]:25: Connection refused",
		// A user name that spells a slot next to the real one: two addresses, none.
		"Dec  7 10:00:01 web1 myapp[7]: login by x from 81.2.69.10 port 1 from 203.0.113.7 port 4242 refused",
		"Dec  7 10:00:01 web1 myapp[7]: login by x rhost=81.2.69.10 rhost=203.0.113.7",
		"Dec  7 10:00:01 web1 myapp[7]: login by x from victim.example port 1 from 203.0.113.7 port 4242 refused",
		"Dec  7 10:00:01 web1 myapp[7]: auth: rhost= user=x rhost=81.2.69.10",
	} {
		v := d.Explain(record(line))
		if v.Outcome != Unknown {
			t.Errorf("%s: %v (%s), want unknown", line, v.Outcome, v.Rule)
			continue
		}
		if v.Event.Class != "" || v.Event.Addr.IsValid() {
			t.Errorf("%s: an event of class %q about %v, want none", line, v.Event.Class, v.Event.Addr)
		}
	}
}

// What mail servers, sshd, PAM, dovecot and the packet filter write themselves still
// makes an unknown record an event about the client (the crowdsec corpus's lines are
// checked by TestCrowdsecCorpusAddresses; these are the other forms).
func TestUnknownAddressWhereProgramsWriteIt(t *testing.T) {
	d := shipped(t)
	for _, tt := range []struct {
		line string
		addr string
		port uint16
	}{
		{"Dec  7 10:00:01 mx1 postfix/smtpd[1]: 4F2A81C0123: client=unknown[203.0.113.7], sasl_method=PLAIN, sasl_username=bob", "203.0.113.7", 0},
		{"Dec  7 10:00:01 mx1 postfix/smtpd[1]: lost connection after STARTTLS from mail.example.org[2001:db8::7]", "2001:db8::7", 0},
		{"Dec  7 10:00:01 mx1 postfix/smtpd[1]: warning: unknown[203.0.113.7]: something new", "203.0.113.7", 0},
		{"Dec  7 10:00:01 mx1 postfix/postscreen[1]: NOQUEUE: reject: RCPT from [203.0.113.7]:4242: 450 4.3.2 Service currently unavailable; from=<a@b.example>, to=<c@d.example>, proto=ESMTP, helo=<x>", "203.0.113.7", 0},
		{"2022-06-29 16:04:14 H=mail.example.org (helo.example) [203.0.113.7]:4242 I=[192.0.2.1]:25 something new", "203.0.113.7", 0},
		{"2022-06-29 16:04:14 H=([192.0.2.99]) [203.0.113.7]:4242 something new", "203.0.113.7", 0},
		{"2022-06-29 16:04:14 H=[203.0.113.7]:4242 something new", "203.0.113.7", 0},
		{"Dec  7 10:00:01 web1 sshd[1]: Something new from 203.0.113.7 port 4242 on 192.0.2.1 port 22 rdomain \"\"", "203.0.113.7", 4242},
		{"Dec  7 10:00:01 web1 dovecot: imap-login: Something new: user=<bob>, method=PLAIN, rip=203.0.113.7, lip=192.0.2.1, session=<x>", "203.0.113.7", 0},
		{"Dec  7 10:00:01 fw kernel: [12.5] NEW IN=eth0 OUT= MAC=00:08:a2:0c:1f:12:00:c8:8b:e2:d6:87:08:00 SRC=203.0.113.7 DST=192.0.2.1 LEN=40", "203.0.113.7", 0},
		{"Dec  7 10:00:01 web1 sshd[1]: Something new from 203.0.113.7 port 4242: client said \"x from 203.0.113.7 port 1\"", "203.0.113.7", 4242},
	} {
		v := d.Explain(record(tt.line))
		if v.Outcome != Unknown || v.Event.Class != abusewatch.ClassUnknown || v.Event.Addr != netip.MustParseAddr(tt.addr) || v.Event.Port != tt.port {
			t.Errorf("%s: %v %q %v port %d (%s), want unknown from %s port %d", tt.line, v.Outcome, v.Event.Class, v.Event.Addr, v.Event.Port, v.Rule, tt.addr, tt.port)
		}
	}
}
