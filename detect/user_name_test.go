package detect

import (
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/abusewatch/abusewatch"
)

// hostileUserNames spell, in a user name, each position where programs write their
// client, with 6.6.6.6 or 2001:db8::6 (the party an attacker wants reported), as an
// address, IPv6, a mapped address, and dovecot's own text after its user name.
var hostileUserNames = []string{
	"6.6.6.6",
	"2001:db8::6",
	"::ffff:6.6.6.6",
	"x from 6.6.6.6 port 1",
	"x from 6.6.6.6 port 1 ",
	"x from 2001:db8::6 port 1 ",
	"x from ::ffff:6.6.6.6 port 1 ",
	"x from [6.6.6.6]:1 ",
	"x from [2001:db8::6]:1 ",
	"x rip=6.6.6.6 ",
	"x rip=6.6.6.6, ",
	"x rip=::ffff:6.6.6.6 ",
	"x rip=2001:db8::6 ",
	"x rhost=6.6.6.6 ",
	"x SRC=6.6.6.6 DST=192.0.2.1 ",
	"x client=y[6.6.6.6], ",
	"x 6.6.6.6 port 1",
	"x 6.6.6.6 port 1 [preauth]",
	"x>, method=PLAIN, rip=6.6.6.6, lip=192.0.2.1, TLS, session=<y",
	"x>, rip=6.6.6.6, lip=192.0.2.1, session=<y",
	"x>, method=PLAIN, rip=6.6.6.6, lip=192.0.2.1, mpid=1, TLS, session=<y>, x=<",
	">, rip=6.6.6.6, lip=192.0.2.1, session=<y",
}

var dovecotUser = regexp.MustCompile(`user=<[^<>]*>`)
var dovecotRip = regexp.MustCompile(`, rip=[^,]*`)

// dovecot writes the user name of its login lines as the client sent it, ">" and
// spaces included ("user=<%u>", str_sanitize replaces control characters only), before
// rip=. A name must never supply the address: in a line with dovecot's rip= the address
// is rip='s or none, and in one without (a login_log_format_elements without %r, a
// client without an address) it is none, whichever attack rule or unknown record reads
// it (review 32's open defect 1: a name "x from 6.6.6.6 port 1" or "x>, rip=6.6.6.6,
// …, session=<y" named 6.6.6.6 in an unknown record). The lines are the real ones of
// testdata/crowdsec/dovecot-logs, and the same with dovecot's "Maximum number of
// connections from user+IP exceeded" reason, which no attack rule reads.
func TestDovecotUserNameNeverNamesTheAddress(t *testing.T) {
	d := shipped(t)
	var lines []string
	for _, line := range readLines(t, "testdata/crowdsec/dovecot-logs/dovecot-logs.log") {
		if !strings.Contains(line, "-login: ") {
			continue
		}
		lines = append(lines, line)
		// the same line as an unknown record: another reason before the user name
		if i, j := strings.Index(line, "-login: "), strings.Index(line, ": user=<"); j > i {
			lines = append(lines, line[:i]+"-login: Maximum number of connections from user+IP exceeded (mail_max_userip_connections=10)"+line[j:])
		}
	}
	if len(lines) < 14 {
		t.Fatalf("%d dovecot login lines, want 14", len(lines))
	}
	for _, line := range lines {
		real := netip.MustParseAddr(strings.TrimPrefix(dovecotRip.FindString(line), ", rip="))
		// dovecot's own line: the rip= it wrote is the address
		if v := d.Explain(record(line)); v.Event.Addr != real {
			t.Errorf("%s: %v from %v, want %v", line, v.Outcome, v.Event.Addr, real)
		}
		for _, name := range hostileUserNames {
			hostile := dovecotUser.ReplaceAllLiteralString(line, "user=<"+name+">")
			v := d.Explain(record(hostile))
			if v.Event.Addr.IsValid() && v.Event.Addr != real {
				t.Errorf("%s: %v %q from %v (%s), want %v or none", hostile, v.Outcome, v.Event.Class, v.Event.Addr, v.Rule, real)
			}
			noRip := dovecotRip.ReplaceAllLiteralString(hostile, "")
			if v := d.Explain(record(noRip)); v.Event.Addr.IsValid() {
				t.Errorf("%s: %v %q from %v (%s), want no address", noRip, v.Outcome, v.Event.Class, v.Event.Addr, v.Rule)
			}
		}
	}
}

// What dovecot writes after the user name still names the client of an unknown record:
// an empty name, a name with spaces, ">" or an address that dovecot's rip= agrees with,
// a line without a session (dovecot before 2.1), an IPv6 or mapped rip=.
func TestDovecotRipAfterTheUserNameNamesTheClient(t *testing.T) {
	d := shipped(t)
	const reason = "Dec  7 16:00:01 mx dovecot: imap-login: Maximum number of connections from user+IP exceeded (mail_max_userip_connections=10): "
	for _, tt := range []struct{ rest, addr string }{
		{"user=<>, rip=203.0.113.5, lip=192.0.2.1, session=<abc>", "203.0.113.5"},
		{"user=<bob smith>, method=PLAIN, rip=203.0.113.5, lip=192.0.2.1, mpid=0, TLS, session=<abc>", "203.0.113.5"},
		{"user=<a>b>, method=PLAIN, rip=203.0.113.5, lip=192.0.2.1, TLS, session=<abc>", "203.0.113.5"},
		{"user=<203.0.113.5>, method=PLAIN, rip=203.0.113.5, lip=192.0.2.1, TLS, session=<abc>", "203.0.113.5"},
		{"user=<bob>, method=PLAIN, rip=203.0.113.5, lip=192.0.2.1", "203.0.113.5"},
		{"user=<bob>, method=PLAIN, rip=2001:db8::5, lip=2001:db8::1, TLS, session=<abc>", "2001:db8::5"},
		{"user=<bob>, method=PLAIN, rip=::ffff:203.0.113.5, lip=::ffff:192.0.2.1, TLS, session=<abc>", "203.0.113.5"},
	} {
		v := d.Explain(record(reason + tt.rest))
		if v.Outcome != Unknown || v.Event.Class != abusewatch.ClassUnknown || v.Event.Addr != netip.MustParseAddr(tt.addr) {
			t.Errorf("%s: %v %q from %v, want unknown from %s", tt.rest, v.Outcome, v.Event.Class, v.Event.Addr, tt.addr)
		}
	}
}

// Other text a client chose, in dovecot's and other programs' key=value fields: no
// position in it names the address, in lines where the program writes no slot of its
// own after it (courier's "ip=[ADDR]" is none; dovecot's proxy(USER), its mail
// processes' mailbox names; a HELO or envelope address).
func TestUnknownAddressNeverFromClientKeys(t *testing.T) {
	d := shipped(t)
	namesNone(t, d, []string{
		// dovecot's proxy lines start with the user name
		"Dec  7 16:00:01 mx dovecot: imap-login: proxy(x from 6.6.6.6 port 1): disconnecting 192.0.2.9 (Disconnected by server(0s idle, in=0, out=0))",
		"Dec  7 16:00:01 mx dovecot: imap-login: Error: proxy(x rip=6.6.6.6 ): Login failed to 192.0.2.9:143: Authentication failed",
		"Dec  7 16:00:01 mx dovecot: imap-login: proxy(x>, rip=6.6.6.6, session=<y): started proxying to 192.0.2.9:143: user=<x>",
		// a mailbox name in a mail process's line
		"Dec  7 16:00:01 mx dovecot: imap(bob)<1234><abc>: Mailbox x from 6.6.6.6 port 1 : Expunged",
		"Dec  7 16:00:01 mx dovecot: lmtp(bob)<1234><abc>: msgid=<m>: saved mail to x rip=6.6.6.6 ",
		// courier writes user= as the client sent it, and its ip=[ADDR] is no slot
		"Dec  7 16:00:01 mx imapd: DISCONNECTED, user=x from [6.6.6.6]:1, ip=[::ffff:203.0.113.5], headers=0, body=0, rcvd=0, sent=0, time=0",
		"Dec  7 16:00:01 mx imapd: LOGOUT, user=x rhost=6.6.6.6 , ip=[::ffff:203.0.113.5], headers=0, body=0, rcvd=0, sent=0, time=0",
		"Dec  7 16:00:01 mx pop3d: LOGIN, user=x from 2001:db8::6 port 1 , ip=[::ffff:203.0.113.5], port=[1], protocol=POP3",
		"Dec  7 16:00:01 mx myapp[7]: denied login=x from 6.6.6.6 port 1 ",
		"Dec  7 16:00:01 mx myapp[7]: denied helo=<x from [6.6.6.6]:1 >",
		"Dec  7 16:00:01 mx myapp[7]: denied from=<x from [6.6.6.6]:1 >",
	})
}

// sshd writes the user name before the client's address: "Connection closed by
// authenticating user %s %s port %d [preauth]", "Failed %s for %s%.100s from %.200s
// port %d ssh2", …. A user name that spells an address, "from X port Y", rip=, an IPv6
// or mapped address must leave the real address the event's, and where no attack rule
// reads the line (sshd's "Close session: user %s from %.200s port %d id %d", OpenSSH ≤
// 7.4's "input_userauth_request: invalid user %s [preauth]", which ends with the name)
// the unknown record names none: after the word "user" only the client's text may
// follow. The lines are the real ones of testdata/crowdsec (the file named), their
// user name replaced.
func TestSSHDUserNameNeverNamesTheAddress(t *testing.T) {
	d := shipped(t)
	for _, tt := range []struct {
		file, before, user, after string
		class                     abusewatch.Class // "" for a normal or unknown record naming none
		addr                      string
		port                      uint16
	}{
		{"sshd-logs/sshd-logs.log", "Dec 22 14:53:37 ip-172-31-20-90 sshd[4177]: Connection closed by authenticating user ", "root", " 206.81.24.125 port 45362 [preauth]", abusewatch.ClassAuthFailure, "206.81.24.125", 45362},
		{"sshd-logs/sshd-logs.log", "Aug 03 21:39:20 hostname sshd[69420]: Connection closed by invalid user ", "root", " 206.81.24.125 port 45362 [preauth]", abusewatch.ClassInvalidUser, "206.81.24.125", 45362},
		{"sshd-logs/sshd-logs.log", "Feb 19 10:38:14 myhost sshd[3355]: Disconnected from invalid user ", "ftp", " 92.255.85.135 port 26138 [preauth]", abusewatch.ClassInvalidUser, "92.255.85.135", 26138},
		{"sshd-logs/sshd-logs.log", "Feb 19 10:38:14 myhost sshd[3355]: Disconnected from authenticating user ", "ftp", " 92.255.85.135 port 26138 [preauth]", abusewatch.ClassAuthFailure, "92.255.85.135", 26138},
		{"sshd-logs/sshd-logs.log", "Feb 8 17:15:01 hostname sshd[1478159]: Connection reset by authenticating user ", "root", " 80.94.92.63 port 49115 [preauth]", abusewatch.ClassAuthFailure, "80.94.92.63", 49115},
		{"sshd-logs/sshd-logs.log", "Apr  6 18:51:41 eve sshd[2784424]: Failed password for invalid user ", "root", " from 192.168.1.2 port 51182 ssh2", abusewatch.ClassInvalidUser, "192.168.1.2", 51182},
		{"sshd-logs/sshd-logs.log", "2023-11-14T00:20:42.738197+01:00 myserver sshd[1112652]: User ", "root", " from 192.168.1.1 not allowed because not listed in AllowUsers", abusewatch.ClassAuthFailure, "192.168.1.1", 0},
		{"sshd-logs/sshd-logs.log", "Nov 2 15:40:14 workshop sshd[28179]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=5.33.63.160 user=", "workshop", "", abusewatch.ClassAuthFailure, "5.33.63.160", 0},
		{"sshd-logs-fp/sshd-logs.log", "Jun 29 16:53:37 my-vps sshd[3685002]: Close session: user ", "ansible", " from 192.168.1.1 port 34928 id 0", "", "", 0},
	} {
		real := tt.before + tt.user + tt.after
		if !slices.Contains(readLines(t, "testdata/crowdsec/"+tt.file), real) {
			t.Fatalf("%s is no line of testdata/crowdsec/%s", real, tt.file)
		}
		for _, name := range append([]string{tt.user}, hostileUserNames...) {
			line := tt.before + name + tt.after
			v := d.Explain(record(line))
			if tt.class == "" {
				if v.Outcome == Recognised || v.Event.Class != "" || v.Event.Addr.IsValid() {
					t.Errorf("%s: %v %q from %v (%s), want a normal or unknown record naming none", line, v.Outcome, v.Event.Class, v.Event.Addr, v.Rule)
				}
				continue
			}
			if v.Outcome != Recognised || v.Event.Class != tt.class || v.Event.Addr != netip.MustParseAddr(tt.addr) || v.Event.Port != tt.port || strings.TrimSpace(v.Event.User) != strings.TrimSpace(name) {
				t.Errorf("%s: %v %q from %v port %d user %q (%s), want %s from %s port %d user %q", line, v.Outcome, v.Event.Class, v.Event.Addr, v.Event.Port, v.Event.User, v.Rule, tt.class, tt.addr, tt.port, name)
			}
		}
	}
	// OpenSSH ≤ 7.4 (auth2.c): logit("input_userauth_request: invalid user %s", user)
	// with " [preauth]" from the privilege-separated child: the name ends sshd's text.
	for _, name := range hostileUserNames {
		line := "Dec  7 16:00:01 web1 sshd[1234]: input_userauth_request: invalid user " + name + " [preauth]"
		if v := d.Explain(record(line)); v.Event.Addr.IsValid() || v.Outcome == Recognised {
			t.Errorf("%s: %v %q from %v (%s), want an unknown record naming none", line, v.Outcome, v.Event.Class, v.Event.Addr, v.Rule)
		}
	}
}

// The shipped attack rules of the programs that write a user name before or after the
// client's address (sshd, dropbear, dovecot, courier, PAM), in each of their formats:
// with any hostile name an event's address is the real one, or the line is no event
// and, as an unknown record, names the real address or none. The formats are those the
// rules' comments quote (attack.d/sshd, attack.d/mail, attack.d/zz-pam), with %U for
// the name; those no rule reads (sshd's name-last lines, "Postponed", "Disconnected from
// user") name none with any name.
func TestShippedRulesNeverTakeTheAddressFromAUserName(t *testing.T) {
	d := shipped(t)
	real := netip.MustParseAddr("203.0.113.5")
	names := append([]string{
		"x, 6.6.6.6", "x,6.6.6.6", "x,6.6.6.6): unknown user (given password: ", "x' from 6.6.6.6:1",
		"x 6.6.6.6 port 1: Too many authentication failures [preauth]",
		"x from 6.6.6.6 not allowed because listed in DenyUsers", "x from 6.6.6.6 port 1 ssh2",
		"x, ip=[6.6.6.6]", "x rhost=6.6.6.6 user=y", "x rhost=6.6.6.6  user=y",
	}, hostileUserNames...)
	for _, tt := range []struct {
		format string
		event  bool // whether a rule reads it with the name "root"
	}{
		{"sshd[1]: Failed password for %U from 203.0.113.5 port 22 ssh2", true},
		{"sshd[1]: Failed publickey for %U from 203.0.113.5 port 22 ssh2: RSA SHA256:abc", true},
		{"sshd[1]: Failed password for invalid user %U from 203.0.113.5 port 22 ssh2", true},
		{"sshd[1]: Invalid user %U from 203.0.113.5", true},
		{"sshd-session[1]: Invalid user %U from 203.0.113.5 port 22", true},
		{"sshd[1]: Illegal user %U from 203.0.113.5", true},
		{"sshd[1]: Accepted password for %U from 203.0.113.5 port 22 ssh2", true},
		{"sshd[1]: error: maximum authentication attempts exceeded for invalid user %U from 203.0.113.5 port 22 ssh2 [preauth]", true},
		{"sshd[1]: error: maximum authentication attempts exceeded for %U from 203.0.113.5 port 22 ssh2 [preauth]", true},
		{"sshd[1]: Connection closed by authenticating user %U 203.0.113.5 port 22 [preauth]", true},
		{"sshd[1]: Connection closed by invalid user %U 203.0.113.5 port 22 [preauth]", true},
		{"sshd[1]: Disconnecting invalid user %U 203.0.113.5 port 22: Too many authentication failures [preauth]", true},
		{"sshd[1]: Disconnecting authenticating user %U 203.0.113.5 port 22: Change of username or service not allowed: (%U,ssh-connection) -> (%U,ssh-connection) [preauth]", true},
		{"sshd[1]: ssh_dispatch_run_fatal: Connection from invalid user %U 203.0.113.5 port 22: message authentication code incorrect [preauth]", true},
		{"sshd[1]: ssh_dispatch_run_fatal: Connection from authenticating user %U 203.0.113.5 port 22: Broken pipe [preauth]", true},
		{"sshd[1]: error: PAM: Authentication failure for illegal user %U from 203.0.113.5", true},
		{"sshd[1]: error: PAM: Authentication failure for %U from 203.0.113.5", true},
		{"sshd[1]: PAM 2 more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.5  user=%U", true},
		{"sshd[1]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.5  user=%U", true},
		{"sshd[1]: User %U from 203.0.113.5 not allowed because listed in DenyUsers", true},
		{"sshd[1]: error: PAM: Authentication failure for %U from host.example.org", false},
		{"sshd[1]: Disconnecting: Too many authentication failures for %U [preauth]", false},
		{"sshd[1]: Postponed keyboard-interactive for invalid user %U from 203.0.113.5 port 22 ssh2 [preauth]", false},
		{"sshd[1]: Disconnected from user %U 203.0.113.5 port 22", false},
		{"dropbear[1]: Bad password attempt for '%U' from 203.0.113.5:22", true},
		{"dropbear[1]: Login attempt for nonexistent user '%U' from 203.0.113.5:22", true},
		{"dropbear[1]: Exit before auth from <203.0.113.5:22>: (user '%U', 3 fails): Max auth tries reached - user '%U'", true},
		{"dovecot: auth: passwd-file(%U,203.0.113.5,<abc>): unknown user", true},
		{"dovecot: auth-worker(1): pam(%U,203.0.113.5): pam_authenticate() failed: Authentication failure (password mismatch?)", true},
		{"dovecot: imap-login: Login: user=<%U>, method=PLAIN, rip=203.0.113.5, lip=192.0.2.1, mpid=1, TLS, session=<abc>", true},
		{"dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<%U>, method=PLAIN, rip=203.0.113.5, lip=192.0.2.1, TLS, session=<abc>", true},
		{"imapd: LOGIN FAILED, user=%U, ip=[::ffff:203.0.113.5]", true},
		{"vsftpd: pam_unix(vsftpd:auth): authentication failure; logname= uid=0 euid=0 tty=ftp ruser=%U rhost=203.0.113.5  user=%U", true},
	} {
		for _, name := range append([]string{"root"}, names...) {
			line := "Feb 12 14:10:21 srv " + strings.ReplaceAll(tt.format, "%U", name)
			v := d.Explain(record(line))
			switch {
			case name == "root" && tt.event && (v.Outcome != Recognised || v.Event.Addr != real):
				t.Errorf("%s: %v from %v (%s), want an event from %v", line, v.Outcome, v.Event.Addr, v.Rule, real)
			case !tt.event && (v.Outcome == Recognised || v.Event.Addr.IsValid()):
				t.Errorf("%s: %v from %v (%s), want no event and no address", line, v.Outcome, v.Event.Addr, v.Rule)
			case v.Event.Addr.IsValid() && v.Event.Addr != real:
				t.Errorf("%s: %v %q from %v (%s), want %v or none", line, v.Outcome, v.Event.Class, v.Event.Addr, v.Rule, real)
			}
		}
	}
}
