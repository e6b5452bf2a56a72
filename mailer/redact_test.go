package mailer

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
)

// The user name the rule captured is masked whole wherever the attacker put words of
// the line around it or inside it, and a line where it cannot be told apart from the
// rest is withheld after the program's prefix, never quoted; with redact off every line
// is quoted as logged.
func TestRedactMasksHostileUserNamesWhole(t *testing.T) {
	const withheldAs = "<message withheld: it names a user abusewatch could not tell apart from the rest; auth-failure from 203.0.113.7 port 4>"
	c := testComposer(t).With(Options{Redact: Redaction{Users: true}})
	off := testComposer(t)
	src := netip.MustParseAddr("203.0.113.7")
	head := "2026-12-07T08:00:00.000000+00:00 web1 sshd[1]: "
	for _, tc := range []struct{ user, msg, want string }{
		{"x from 1.2.3.4 port 22", "Failed password for invalid user x from 1.2.3.4 port 22 from 203.0.113.7 port 4 ssh2",
			"Failed password for invalid user <user> from 203.0.113.7 port 4 ssh2"},
		{"<a> b>c", "Failed password for <a> b>c from 203.0.113.7 port 4 ssh2", "Failed password for <user> from 203.0.113.7 port 4 ssh2"},
		{"a", "Failed password for a from 203.0.113.7 port 4 ssh2", "Failed password for <user> from 203.0.113.7 port 4 ssh2"},
		{"password", "Failed password for password from 203.0.113.7 port 4 ssh2", withheldAs},
		{"from", "Failed password for from from 203.0.113.7 port 4 ssh2", withheldAs},
		{"web1", "Failed password for web1 from 203.0.113.7 port 4 ssh2", "Failed password for <user> from 203.0.113.7 port 4 ssh2"},
		{"gone", "Failed password for someone from 203.0.113.7 port 4 ssh2", withheldAs},
	} {
		ev := abusewatch.Event{Addr: src, Port: 4, Class: abusewatch.ClassAuthFailure, Host: "web1", Service: "sshd", User: tc.user, Line: head + tc.msg}
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

// With redact "hosts", our host's name in a line's header becomes its mail.hosts
// address or host-N, and the local addresses our programs write at known words become
// <our-address>, one mail.hosts lists aside; the attacker's address and port stay.
func TestRedactMasksOurHostsAndLocalAddresses(t *testing.T) {
	c := testComposer(t).With(Options{Redact: Redaction{Hosts: true},
		Hosts: map[string][]netip.Addr{"db7.corp.internal": {netip.MustParseAddr("198.51.100.10")}}})
	c.labels = map[string]string{"gw-int": "host-1"}
	src := netip.MustParseAddr("203.0.113.7")
	stamp := "2026-12-07T08:00:00.000000+00:00 "
	for _, tc := range []struct{ host, prog, msg, want string }{
		{"db7.corp.internal", "sshd[1]", "drop connection #0 from [203.0.113.7]:50420 on [10.0.0.5]:22 penalty: failed authentication",
			"198.51.100.10 sshd[1]: drop connection #0 from [203.0.113.7]:50420 on [<our-address>]:22 penalty: failed authentication"},
		{"gw-int", "sshd[1]", "Connection from 203.0.113.7 port 4 on 10.0.0.5 port 22 rdomain \"\"",
			"host-1 sshd[1]: Connection from 203.0.113.7 port 4 on <our-address> port 22 rdomain \"\""},
		{"gw-int", "sshd[1]", "Connection from 203.0.113.7 port 4 on 198.51.100.10 port 22",
			"host-1 sshd[1]: Connection from 203.0.113.7 port 4 on 198.51.100.10 port 22"},
		{"gw-int", "dovecot", "imap-login: Login: user=<a>, method=PLAIN, rip=203.0.113.7, lip=fd00::25, TLS",
			"host-1 dovecot: imap-login: Login: user=<a>, method=PLAIN, rip=203.0.113.7, lip=<our-address>, TLS"},
		{"gw-int", "proftpd[2]", "10.0.0.8 (203.0.113.7[203.0.113.7]) - USER a (Login failed): Incorrect password",
			"host-1 proftpd[2]: <our-address> (203.0.113.7[203.0.113.7]) - USER a (Login failed): Incorrect password"},
		// proftpd's ServerName (our FQDN) and its closing "to LOCAL:PORT"; a user name
		// that writes " to " is the attacker's and stays as written.
		{"gw-int", "proftpd[2]", "gw-int.corp.example (203.0.113.7[203.0.113.7]) - USER a: no such user found from 203.0.113.7 [203.0.113.7] to 10.9.8.7:21",
			"host-1 proftpd[2]: host-1 (203.0.113.7[203.0.113.7]) - USER a: no such user found from 203.0.113.7 [203.0.113.7] to <our-address>:21"},
		{"db7.corp.internal", "proftpd[2]", "db7.corp.internal (203.0.113.7[203.0.113.7]) - USER x to y: no such user found from 203.0.113.7 [203.0.113.7] to ::ffff:10.9.8.7:21",
			"198.51.100.10 proftpd[2]: 198.51.100.10 (203.0.113.7[203.0.113.7]) - USER x to y: no such user found from 203.0.113.7 [203.0.113.7] to <our-address>:21"},
		{"gw-int", "proftpd[2]", "198.51.100.10 (203.0.113.7[203.0.113.7]) - USER a: no such user found from 203.0.113.7 [203.0.113.7] to 198.51.100.10:21",
			"host-1 proftpd[2]: 198.51.100.10 (203.0.113.7[203.0.113.7]) - USER a: no such user found from 203.0.113.7 [203.0.113.7] to 198.51.100.10:21"},
		{"gw-int", "kernel", "[UFW BLOCK] IN=eth0 OUT= SRC=203.0.113.7 DST=10.0.0.5 LEN=44 PROTO=TCP SPT=4444 DPT=22",
			"host-1 kernel: [UFW BLOCK] IN=eth0 OUT= SRC=203.0.113.7 DST=<our-address> LEN=44 PROTO=TCP SPT=4444 DPT=22"},
		// RFC 5424: no "PROGRAM[PID]:" tag; the host is still replaced.
		{"gw-int", "sshd", "1 - - Failed password for a from 203.0.113.7 port 4 ssh2",
			"host-1 sshd 1 - - Failed password for a from 203.0.113.7 port 4 ssh2"},
	} {
		ev := abusewatch.Event{Addr: src, Host: tc.host, Service: strings.Split(tc.prog, "[")[0], Line: stamp + tc.host + " " + tc.prog + ": " + tc.msg}
		if tc.prog == "sshd" {
			ev.Line = stamp + tc.host + " sshd " + tc.msg
		}
		if got := c.redactLine(ev); got != stamp+tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.msg, got, stamp+tc.want)
		}
	}
}

// A line no rule took a name from (class unknown, quoted in a network report) has the
// names our programs write at fixed words masked: sasl_username=, user=<…>, PAM's
// user=, dovecot's PROCESS(NAME) and DRIVER(NAME,ADDR.
func TestRedactMasksNamesAtFixedWordsOfUnknownLines(t *testing.T) {
	c := testComposer(t).With(Options{Redact: Redaction{Users: true}})
	src := netip.MustParseAddr("203.0.113.7")
	head := "2026-12-07T08:00:00.000000+00:00 mail1 dovecot: "
	for _, tc := range []struct{ msg, want string }{
		{"imap-login: Login aborted: user=<carol@customer.example>, rip=203.0.113.7, lip=10.0.0.25",
			"imap-login: Login aborted: user=<user>, rip=203.0.113.7, lip=10.0.0.25"},
		{"imap-login: Login aborted: user=<a>, b>, rip=203.0.113.7, lip=10.0.0.25",
			"imap-login: Login aborted: user=<user>, rip=203.0.113.7, lip=10.0.0.25"},
		{"imap-login: Aborted: user=<carol@customer.example", "imap-login: Aborted: user=<user>"},
		{"imap(carol@customer.example)<123><abc>: Disconnected: Logged out", "imap(<user>)<123><abc>: Disconnected: Logged out"},
		{"auth: ldap(erin@customer.example,203.0.113.7,<s>): unknown reply", "auth: ldap(<user>,203.0.113.7,<s>): unknown reply"},
		{"warning: unknown[203.0.113.7]: SASL PLAIN authentication aborted, sasl_username=dave@customer.example",
			"warning: unknown[203.0.113.7]: SASL PLAIN authentication aborted, sasl_username=<user>"},
		{"pam_unix(dovecot:auth): check pass; rhost=203.0.113.7 user=frank smith", "pam_unix(dovecot:auth): check pass; rhost=203.0.113.7 user=<user>"},
	} {
		ev := abusewatch.Event{Addr: src, Host: "mail1", Service: "dovecot", Line: head + tc.msg}
		if got := c.redactLine(ev); got != head+tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.msg, got, head+tc.want)
		}
	}
}

// A report records what its mail masks ([mail] redact, sorted), none without redact;
// written again as it is (Known.ID), it keeps its ID and Message-ID, which its
// incidents and a report it was written instead of gave it. Before, nothing was
// recorded, and the outbox could not tell a report written with another setting.
func TestAReportRecordsWhatItMasksAndKeepsItsIDWrittenAgain(t *testing.T) {
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	plain, err := testComposer(t).Compose(testContact(), []abusewatch.Incident{testIncident()}, now)
	if err != nil || plain.Redacted != nil {
		t.Fatalf("without redact: Redacted %v (%v), want none", plain.Redacted, err)
	}
	joined, err := testComposer(t).ComposeKnowing(testContact(), []abusewatch.Incident{testIncident()}, Known{Replaces: "0123456789abcdef0123456789abcdef"}, now)
	if err != nil || joined.ID == plain.ID {
		t.Fatalf("written instead of another: ID %s (%v), want one of its own", joined.ID, err)
	}
	masking := testComposer(t).With(Options{Redact: Redaction{Users: true, Hosts: true}})
	again, err := masking.ComposeKnowing(testContact(), []abusewatch.Incident{testIncident()}, Known{ID: joined.ID}, now.Add(time.Hour))
	if err != nil || again.ID != joined.ID || again.MessageID != joined.MessageID || !slices.Equal(again.Redacted, []string{"hosts", "users"}) {
		t.Errorf("written again with redact: ID %s, Message-ID %s, Redacted %v (%v); want %s, %s, [hosts users]",
			again.ID, again.MessageID, again.Redacted, err, joined.ID, joined.MessageID)
	}
	if users := (Redaction{Users: true}).Names(); !slices.Equal(users, []string{"users"}) {
		t.Errorf("users alone: %v", users)
	}
}

// A withheld message keeps what identifies the connection: an attacker who tries user
// names that are words of sshd's line ("port", "from", "ssh2", "invalid user", our
// host's name, its own address: review desk48 M4) made every such line lose its address
// and port. The name itself never stays (but where it is the address, which is the
// attacker's own and what the desk needs).
func TestRedactWithheldMessageKeepsAddressAndPort(t *testing.T) {
	c := testComposer(t).With(Options{Redact: Redaction{Users: true}})
	src := netip.MustParseAddr("45.134.26.21")
	head := "2026-12-07T08:00:00.000000+00:00 web1 sshd[1001]: "
	for _, user := range []string{"port", "from", "ssh2", "invalid user", "web1", "45.134.26.21", "40002"} {
		port := uint16(40002)
		msg := fmt.Sprintf("Failed password for invalid user %s from 45.134.26.21 port %d ssh2", user, port)
		ev := abusewatch.Event{Addr: src, Port: port, LocalPort: 22, Class: abusewatch.ClassInvalidUser, Host: "web1", Service: "sshd", User: user, Line: head + msg}
		got := c.redactLine(ev)
		if !strings.Contains(got, "withheld") {
			continue // told apart from the rest: masked as <user>
		}
		want := head + "<message withheld: it names a user abusewatch could not tell apart from the rest; invalid-user from 45.134.26.21 port 40002 to our port 22>"
		if got != want {
			t.Errorf("user %q:\n got %s\nwant %s", user, got, want)
		}
	}
	// The review's names that cannot be told apart are withheld, and keep the fields.
	for _, user := range []string{"port", "from", "ssh2", "invalid user"} {
		ev := abusewatch.Event{Addr: src, Port: 40002, Class: abusewatch.ClassInvalidUser, Host: "web1", Service: "sshd", User: user,
			Line: head + "Failed password for invalid user " + user + " from 45.134.26.21 port 40002 ssh2"}
		got := c.redactLine(ev)
		if !strings.Contains(got, " from 45.134.26.21 port 40002") {
			t.Errorf("user %q: the address and port are gone: %s", user, got)
		}
		if user != "from" && user != "port" && strings.Contains(got, user) {
			t.Errorf("user %q left in: %s", user, got)
		}
	}
}
