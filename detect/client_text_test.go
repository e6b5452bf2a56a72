package detect

import (
	"net/netip"
	"strings"
	"testing"
	"time"

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
	namesNone(t, d, []string{
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
	})
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
		{"Dec  7 10:00:01 mx1 postfix/smtpd[1]: 4F2A81C0123: client=unknown[203.0.113.7], orig_queue_id=1B2C3D, orig_client=x[192.0.2.9]", "203.0.113.7", 0},
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
	namesNone(t, d, []string{
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
		"Dec  7 16:00:01 web1 myapp[7]: login refused (user x from 6.6.6.6 port 22)",
		"Dec  7 16:00:01 web1 myapp[7]: login refused, User: x from 6.6.6.6 port 22",
		// dovecot's mail processes start with the user name: "imap(USER)<PID><ID>: ".
		"Dec  7 16:00:04 mx dovecot: imap(x rip=6.6.6.6 )<1234><abc>: Disconnected: Logged out in=0 out=0",
		// sshd's last " from ADDR" counts against a client's "from ADDR port N".
		"Dec  7 16:00:10 web1 myapp[7]: refused x from 6.6.6.6 port 22 from 203.0.113.5",
		"Dec  7 16:00:10 web1 myapp[7]: refused x from 6.6.6.6 port 22 from 203.0.113.5 [preauth]",
	})
}

// exim writes its client as "NAME (HELO) [ADDR]", "(HELO) [ADDR]", "NAME [ADDR]" or
// "[ADDR]" after "from " in its connection lines, and quotes the client's command
// before H= in a protocol error (synprot_error: "SMTP %s error in \"%s\" %s %s" with
// smtp_cmd_buffer, host_and_ident); proftpd starts its lines with "HOST
// (NAME[ADDR])". Those lines name their client again (review 31 F6; the exim lines are
// /tmp/review31/det/extra.log's, hand-written in exim's formats: the corpora hold
// none; the proftpd prefixes are testdata/crowdsec/proftpd-logs').
func TestUnknownAddressEximConnectionsAndProftpd(t *testing.T) {
	d := shipped(t)
	for _, tt := range []struct {
		line string
		addr string
	}{
		{`Dec  7 16:00:01 mx exim[1234]: SMTP protocol error in "AUTH LOGIN" H=(User) [203.0.113.5]:52616 AUTH command used when not advertised`, "203.0.113.5"},
		{`2026-12-07 16:00:01 SMTP protocol error in "auth plain" H=mx.example.org (User) [203.0.113.5]:52616 AUTH command used when not advertised`, "203.0.113.5"},
		{`Dec  7 16:00:02 mx exim[1234]: SMTP call from (User) [203.0.113.6]:52616 dropped: too many unrecognized commands (last was "GET / HTTP/1.1")`, "203.0.113.6"},
		{`Dec  7 16:00:03 mx exim[1234]: SMTP protocol synchronization error (input sent without waiting for greeting): rejected connection from H=[203.0.113.7]:52616 input="GET / HTTP/1.1"`, "203.0.113.7"},
		{`Dec  7 16:00:04 mx exim[1234]: no MAIL in SMTP connection from (User) [203.0.113.8]:52616 D=0s C=EHLO,AUTH`, "203.0.113.8"},
		{`Dec  7 16:00:05 mx exim[1234]: SMTP connection from (User) [203.0.113.9]:52616 lost D=0s`, "203.0.113.9"},
		{`2026-12-07 16:00:05 SMTP connection from mail.example.org [203.0.113.9]:52616 lost D=0s`, "203.0.113.9"},
		{`2026-12-07 16:00:05 SMTP connection from mail.example.org (helo.example) [203.0.113.9]:52616 lost D=0s`, "203.0.113.9"},
		{`Dec  7 16:00:09 mx exim[1234]: TLS error on connection from (User) [203.0.113.13]:52616 (SSL_accept): error:0A00006C:SSL routines::bad key share`, "203.0.113.13"},
		{`Dec  7 16:00:08 mx proftpd[1234]: mx.example.org (203.0.113.12[203.0.113.12]) - SECURITY VIOLATION: Root login attempted`, "203.0.113.12"},
		{`Dec  7 16:00:08 mx proftpd[1234]: mx.example.org (scan.example.net[203.0.113.12]) - SECURITY VIOLATION: Root login attempted`, "203.0.113.12"},
		{`2021-05-28 18:08:01,124 mantis proftpd[498625] mantis (192.168.1.142[192.168.1.142]): SECURITY VIOLATION: Root login attempted`, "192.168.1.142"},
	} {
		v := d.Explain(record(tt.line))
		if v.Outcome != Unknown || v.Event.Class != abusewatch.ClassUnknown || v.Event.Addr != netip.MustParseAddr(tt.addr) {
			t.Errorf("%s: %v %q %v (%s), want unknown from %s", tt.line, v.Outcome, v.Event.Class, v.Event.Addr, v.Rule, tt.addr)
		}
	}
	// What the client writes in those lines never names an address: the command exim
	// quotes, unless a bare verb or "AUTH MECH" (and then exim's H= after it counts
	// against anything the client placed there), its HELO, a PTR name that is another
	// address.
	namesNone(t, d, []string{
		`Dec  7 16:00:01 mx exim[1234]: SMTP protocol error in "AUTH LOGIN H=x [6.6.6.6]:1" H=(User) [203.0.113.5]:52616 AUTH command used when not advertised`,
		`Dec  7 16:00:01 mx exim[1234]: SMTP protocol error in "AUTH LOGIN" H=(x) [6.6.6.6]:1 x "" H=(User) [203.0.113.5]:52616 AUTH command used when not advertised`,
		`Dec  7 16:00:01 mx exim[1234]: SMTP syntax error in "GET / HTTP/1.1 H=[6.6.6.6]" H=[203.0.113.5]:52616 unrecognized command`,
		`Dec  7 16:00:01 mx exim[1234]: SMTP syntax error in "EHLO [6.6.6.6]" H=[6.6.6.6]:52616 x`,
		`Dec  7 16:00:01 mx myapp[7]: bad command "AUTH LOGIN" H=x [6.6.6.6]:1 refused`,
		`Dec  7 16:00:01 mx exim[1234]: SMTP connection from ([6.6.6.6]) lost D=0s`,
		`Dec  7 16:00:08 mx proftpd[1234]: mx.example.org (6.6.6.6[203.0.113.12]) - SECURITY VIOLATION: Root login attempted`,
		`Dec  7 16:00:08 mx proftpd[1234]: mx.example.org x (6.6.6.6[6.6.6.6]) - x`,
		`Dec  7 16:00:08 mx myftpd[1234]: x (6.6.6.6[6.6.6.6]) - proftpd's form, another program`,
	})
}

// proftpd's own prefix in the corpus's real lines (crowdsec's proftpd-logs and
// proftpd-bf, syslog and SystemLog formats alike) names the client: GenericAddr reads
// it whatever the rest of the line says.
func TestGenericAddrProftpdCorpusPrefix(t *testing.T) {
	n := 0
	for _, file := range []string{"testdata/crowdsec/proftpd-logs/proftpd-logs.log", "testdata/crowdsec/proftpd-bf/proftpd-bf.log"} {
		for _, line := range readLines(t, file) {
			if line == "" {
				continue
			}
			h, err := ParseHeader(line, time.Now(), time.UTC)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			// the address between "[" and "])" of "HOST (NAME[ADDR])"
			_, rest, _ := strings.Cut(h.Message, "[")
			want, _, _ := strings.Cut(rest, "])")
			addr, _, ok := GenericAddr(h.Program, h.Message)
			if !ok || addr != netip.MustParseAddr(want).Unmap() {
				t.Errorf("%s: GenericAddr %v %v, want %s", line, addr, ok, want)
			}
			n++
		}
	}
	if n < 10 {
		t.Errorf("%d corpus lines, want at least 10", n)
	}
}

// namesNone checks that d reads each of lines as an unknown record naming no address.
func namesNone(t *testing.T, d *Detector, lines []string) {
	t.Helper()
	for _, line := range lines {
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
