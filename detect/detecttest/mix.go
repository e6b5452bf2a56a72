// Package detecttest makes realistic syslog records for detect's benchmarks and the
// bench/ programs: an auth log of a busy Internet-facing server, about half of it
// attacks (sshd brute force, firewall probes, FTP and SMTP AUTH guessing) and half the
// normal traffic of cron, sudo, sshd logins, postfix and systemd.
package detecttest

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// attacks and normals are message templates for "host program[pid]: message"; %A is an
// address, %P a port, %N a number, %U a user name, %H a hex id.
var attacks = []string{
	"sshd[%N]: Failed password for root from %A port %P ssh2",
	"sshd[%N]: Failed password for invalid user %U from %A port %P ssh2",
	"sshd[%N]: Invalid user %U from %A port %P",
	"sshd[%N]: Connection closed by authenticating user root %A port %P [preauth]",
	"sshd[%N]: Disconnected from invalid user %U %A port %P [preauth]",
	"sshd[%N]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=%A  user=root",
	"sshd[%N]: Received disconnect from %A port %P:11: Bye Bye [preauth]",
	"sshd[%N]: Did not receive identification string from %A port %P",
	"sshd[%N]: Unable to negotiate with %A port %P: no matching key exchange method found. Their offer: diffie-hellman-group14-sha1,diffie-hellman-group1-sha1 [preauth]",
	"sshd[%N]: message repeated 2 times: [ Failed password for root from %A port %P ssh2]",
	"kernel: [%N.%N] [UFW BLOCK] IN=eth0 OUT= MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00 SRC=%A DST=198.51.100.10 LEN=44 TOS=0x00 PREC=0x00 TTL=243 ID=%N PROTO=TCP SPT=%P DPT=23 WINDOW=1024 RES=0x00 SYN URGP=0",
	"kernel: [%N.%N] [UFW BLOCK] IN=eth0 OUT= MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00 SRC=%A DST=198.51.100.10 LEN=60 TOS=0x00 PREC=0x00 TTL=52 ID=%N DF PROTO=UDP SPT=%P DPT=161 LEN=40",
	"postfix/smtpd[%N]: warning: unknown[%A]: SASL LOGIN authentication failed: UGFzc3dvcmQ6",
	"pure-ftpd: (?@%A) [WARNING] Authentication failed for user [%U]",
	"vsftpd[%N]: pam_unix(vsftpd:auth): authentication failure; logname= uid=0 euid=0 tty=ftp ruser=%U rhost=%A",
	"dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<%U>, method=PLAIN, rip=%A, lip=198.51.100.10, TLS, session=<%H>",
}

var normals = []string{
	"CRON[%N]: pam_unix(cron:session): session opened for user root by (uid=0)",
	"CRON[%N]: (root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)",
	"CRON[%N]: pam_unix(cron:session): session closed for user root",
	"sshd[%N]: Accepted publickey for deploy from %A port %P ssh2: ED25519 SHA256:3Bq2mYkq8xX4Q8Cj0Nw0Ll6sXzq5ZbT0a1b2c3d4e5f",
	"sshd[%N]: pam_unix(sshd:session): session opened for user deploy by (uid=0)",
	"sshd[%N]: pam_unix(sshd:session): session closed for user deploy",
	"sshd[%N]: Received disconnect from %A port %P:11: disconnected by user",
	"sshd[%N]: Disconnected from user deploy %A port %P",
	"sudo:   deploy : TTY=pts/0 ; PWD=/home/deploy ; USER=root ; COMMAND=/usr/bin/systemctl restart nginx",
	"sudo: pam_unix(sudo:session): session opened for user root by deploy(uid=0)",
	"sudo: pam_unix(sudo:session): session closed for user root",
	"postfix/smtpd[%N]: connect from mail-%N.example.net[%A]",
	"postfix/smtpd[%N]: disconnect from mail-%N.example.net[%A] ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5",
	"postfix/qmgr[%N]: %H: removed",
	"postfix/cleanup[%N]: %H: message-id=<%H@example.net>",
	"postfix/smtpd[%N]: %H: client=mail-%N.example.net[%A]",
	"systemd-logind[%N]: New session %N of user deploy.",
	"systemd-logind[%N]: Removed session %N.",
	"ntpd[%N]: kernel reports TIME_ERROR: 0x41: Clock Unsynchronized",
}

var users = []string{"admin", "test", "oracle", "ubuntu", "postgres", "user", "git", "guest", "ftpuser", "pi"}

var months = []string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

// AuthLog returns n records in RFC 3164 file format, half attacks and half normal
// traffic, the same for the same seed.
func AuthLog(n int, seed uint64) []string {
	r := rand.New(rand.NewPCG(seed, 42))
	out := make([]string, n)
	for i := range out {
		tmpl := normals[r.IntN(len(normals))]
		if i%2 == 0 {
			tmpl = attacks[r.IntN(len(attacks))]
		}
		sec := i / 40
		stamp := fmt.Sprintf("%s %2d %02d:%02d:%02d", months[(sec/86400/28)%12], 1+(sec/86400)%28, (sec/3600)%24, (sec/60)%60, sec%60)
		out[i] = stamp + " srv1 " + fill(r, tmpl)
	}
	return out
}

func fill(r *rand.Rand, tmpl string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(tmpl, '%')
		if i < 0 || i+1 >= len(tmpl) {
			b.WriteString(tmpl)
			return b.String()
		}
		b.WriteString(tmpl[:i])
		switch tmpl[i+1] {
		case 'A':
			if r.IntN(20) == 0 {
				fmt.Fprintf(&b, "2001:db8:%x::%x", r.IntN(65536), r.IntN(65536))
			} else {
				fmt.Fprintf(&b, "%d.%d.%d.%d", 1+r.IntN(222), r.IntN(256), r.IntN(256), 1+r.IntN(254))
			}
		case 'P':
			fmt.Fprintf(&b, "%d", 1024+r.IntN(64000))
		case 'N':
			fmt.Fprintf(&b, "%d", 1+r.IntN(99999))
		case 'U':
			b.WriteString(users[r.IntN(len(users))])
		case 'H':
			fmt.Fprintf(&b, "%X", 0x1000000000+r.Int64N(0xEFFFFFFFFF))
		default:
			b.WriteString(tmpl[i : i+2])
		}
		tmpl = tmpl[i+2:]
	}
}
