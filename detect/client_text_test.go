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
		// exim's "for" precedes its own text, not a user name (review 31's extra.log:3)
		{`Dec  7 16:00:03 mx exim[1234]: SMTP protocol synchronization error (input sent without waiting for greeting): rejected connection from H=[203.0.113.7]:52616 input="GET / HTTP/1.1"`, "203.0.113.7", 0},
		// a user name before PAM's rhost=, which PAM writes after it, is not sshd's
		{"Dec  7 10:00:01 web1 myapp[1]: pam_foo(myapp:auth): something new; logname= uid=0 euid=0 tty= ruser= rhost=203.0.113.7  user=root", "203.0.113.7", 0},
	} {
		v := d.Explain(record(tt.line))
		if v.Outcome != Unknown || v.Event.Class != abusewatch.ClassUnknown || v.Event.Addr != netip.MustParseAddr(tt.addr) || v.Event.Port != tt.port {
			t.Errorf("%s: %v %q %v port %d (%s), want unknown from %s port %d", tt.line, v.Outcome, v.Event.Class, v.Event.Addr, v.Event.Port, v.Rule, tt.addr, tt.port)
		}
	}
}

// A user name is the client's text: it may hold spaces and spell any position, and in
// some of sshd's formats nothing of sshd's follows it (OpenSSH ≤ 7.4's
// "input_userauth_request: invalid user %s", logit in auth2.c; "Disconnecting: Too many
// authentication failures for %.100s"). sshd's PAM failure ends with the client
// ("PAM: %s for %s%.100s from %.100s", auth-pam.c), and dovecot's auth process writes
// "MECH(USER,ADDR,<ID>)" after the user name. None of these records may name the
// address a user name spelled (review 31 F5; /tmp/review31/det/pam.log, dv.log,
// client.log).
func TestUnknownAddressNeverFromUserName(t *testing.T) {
	d := shipped(t)
	for _, line := range []string{
		"Dec  7 16:00:10 web1 sshd[1234]: error: PAM: User not known to the underlying authentication module for illegal user x from 6.6.6.6 port 22 from 203.0.113.5",
		"Dec  7 16:00:10 web1 sshd[1234]: error: PAM: User not known to the underlying authentication module for illegal user x from 6.6.6.6 port 22",
		"Dec  7 16:00:01 web1 sshd[1234]: input_userauth_request: invalid user x from 6.6.6.6 port 22 [preauth]",
		"Dec  7 16:00:01 web1 sshd[1234]: input_userauth_request: invalid user x from 6.6.6.6 port 22",
		"Dec  7 16:00:01 web1 sshd[1234]: input_userauth_request: invalid user x rhost=6.6.6.6 [preauth]",
		"Dec  7 16:00:01 web1 sshd[1234]: input_userauth_request: invalid user x from [6.6.6.6] [preauth]",
		"Dec  7 16:00:01 web1 sshd[1234]: input_userauth_request: invalid user x client=y[6.6.6.6], [preauth]",
		"Dec  7 16:00:01 web1 sshd[1234]: input_userauth_request: invalid user x SRC=6.6.6.6 DST=1 [preauth]",
		"Dec  7 16:00:01 web1 sshd[1234]: Disconnecting: Too many authentication failures for x from 6.6.6.6 port 22 [preauth]",
		"Dec  7 16:00:04 web1 sshd[1234]: pam_unix(sshd:auth): check pass; user x from 6.6.6.6 port 22 unknown",
		"Dec  7 16:00:01 mx dovecot: auth: Debug: passwd-file(x rip=6.6.6.6,203.0.113.5,<abc>): lookup: user=x file=/etc/dovecot/users",
		"Dec  7 16:00:03 mx dovecot: auth: Info: checkpassword(x rip=6.6.6.6,203.0.113.5,<abc>): Login failed (status=1)",
		"Dec  7 16:00:11 web1 dovecot: auth: Error: passwd-file(x rip=6.6.6.6,203.0.113.5): no passwd file",
		"Dec  7 16:00:11 web1 dovecot: auth: Error: passwd-file(x) rip=6.6.6.6): no passwd file",
		"Dec  7 16:00:12 web1 dovecot: auth: passwd-file(x from 6.6.6.6 port 22,203.0.113.5,<abc>): lookup: user=x file=/etc/dovecot/users",
		"Dec  7 16:00:13 web1 dovecot: auth-worker(7): pam(x rhost=6.6.6.6,203.0.113.5,<abc>): #1/1 style=1 msg=Password: ",
		// dovecot's mail processes start with the user name: "imap(USER)<PID><ID>: ".
		"Dec  7 16:00:04 mx dovecot: imap(x rip=6.6.6.6 )<1234><abc>: Disconnected: Logged out in=0 out=0",
		// sshd's last " from ADDR" counts against a client's "from ADDR port N".
		"Dec  7 16:00:10 web1 myapp[7]: refused x from 6.6.6.6 port 22 from 203.0.113.5",
		"Dec  7 16:00:10 web1 myapp[7]: refused x from 6.6.6.6 port 22 from 203.0.113.5 [preauth]",
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
