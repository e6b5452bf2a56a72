package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/lookup/lookuptest"
)

// redactLog is the privacy review's t1 and t4 (/tmp/privacy40/exp), the lines that are
// reported, and hostile user names: each burst six lines, 3 s apart, from HH:MM on
// rv21Day; %d is the line's number in its burst.
var redactLog = []struct{ at, host, prog, msg string }{
	{"08:00", "db7.corp.internal", "sshd[100%d]", "Failed password for root from 45.134.26.17 port 4000%d ssh2"},
	{"08:05", "ftp-int", "proftpd[20%d]", "10.0.0.8 (45.134.26.60[45.134.26.60]) - USER webmaster%d (Login failed): Incorrect password"},
	{"08:07", "gw-int", "sshd[30%d]", "drop connection #%d from [45.134.26.70]:5042%[1]d on [10.0.0.5]:22 penalty: failed authentication"},
	{"08:20", "bastion", "sshd[210%d]", "Failed password for invalid user Tr0ub4dor&3 from 81.2.69.6 port 600%d ssh2"},
	{"08:30", "mail1", "dovecot", "imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<carol@customer.example>, method=PLAIN, rip=89.100.1.10, lip=10.0.0.25, TLS, session=<abcDEF%d>"},
	{"08:31", "mx-int-relay01", "postfix/submission/smtpd[300%d]", "warning: unknown[45.134.26.20]: SASL LOGIN authentication failed: UGFzc3dvcmQ6, sasl_username=dave%d@customer.example"},
	{"08:32", "mail1", "dovecot", "auth: passwd-file(erin@customer.example,45.134.26.21,<sEsS%d>): Password mismatch"},
	// A name that writes a second "from ADDR port N", one with > and spaces, and one
	// that is also a word of the line around it.
	{"08:40", "web1", "sshd[400%d]", "Failed password for invalid user x from 1.2.3.4 port 22 from 45.134.27.80 port 3000%d ssh2"},
	{"08:41", "web1", "sshd[410%d]", "Failed password for invalid user <evil> name>%[1]d from 45.134.27.81 port 3100%[1]d ssh2"},
	{"08:42", "web1", "sshd[420%d]", "Failed password for invalid user password from 45.134.27.82 port 3200%d ssh2"},
	// proftpd writes its ServerName (our FQDN) first and our local address last.
	{"08:50", "ftp-int", "proftpd[50%d]", "ftp-int.corp.internal (45.134.28.90[45.134.28.90]) - USER alice%d: no such user found from 45.134.28.90 [45.134.28.90] to 10.0.0.8:21"},
}

// secrets are what a report with redact = ["users", "hosts"] must not say: user names,
// passwords typed as names, our customers' addresses, our host names and local
// addresses.
var secrets = []string{"root", "webmaster", "alice", "Tr0ub4dor", "carol@", "dave", "erin", "customer.example",
	"1.2.3.4", "evil", "name>", "invalid user password",
	"db7", "corp.internal", "ftp-int", "gw-int", "bastion", "mail1", "mx-int-relay01", "web1", "10.0.0."}

// scanRedactLog writes redactLog, scans it and runs the outbox's round an hour on.
func (c *rv21Case) scanRedactLog(t *testing.T) {
	t.Helper()
	var text strings.Builder
	var last time.Time
	for _, b := range redactLog {
		var hh, mm int
		if _, err := fmt.Sscanf(b.at, "%d:%d", &hh, &mm); err != nil {
			t.Fatal(err)
		}
		for i := range 6 {
			last = rv21Day.Add(time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute + time.Duration(3*i)*time.Second)
			prog := b.prog
			if strings.Contains(prog, "%d") {
				prog = fmt.Sprintf(prog, i)
			}
			fmt.Fprintf(&text, "%s %s %s: %s\n", last.Format("2006-01-02T15:04:05.000000-07:00"), b.host, prog, fmt.Sprintf(b.msg, i))
		}
	}
	file := filepath.Join(c.dir, "auth.log")
	if err := os.WriteFile(file, []byte(text.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(file, last, last); err != nil {
		t.Fatal(err)
	}
	if err := c.p.ScanFiles(t.Context(), []string{file}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := c.p.Tick(t.Context(), last.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
}

// headers are the To, Subject and Reply-To of every mail in c's maildir, sorted.
func (c *rv21Case) headers(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, m := range c.messages(t) {
		out = append(out, m.header.Get("To")+" | "+m.header.Get("Subject")+" | "+m.header.Get("Reply-To"))
	}
	slices.Sort(out)
	return out
}

func redactCase(t *testing.T, mailExtra string) *rv21Case {
	r := lookuptest.NewRDAP(t)
	answer(r, "45.134.26.0/24", "PARTY-A", "NL", "abuse@party-a.example")
	answer(r, "45.134.27.0/24", "PARTY-C", "NL", "abuse@party-c.example")
	answer(r, "45.134.28.0/24", "PARTY-D", "NL", "abuse@party-d.example")
	answer(r, "81.2.69.0/24", "BROADBAND", "GB", "abuse@broadband.example")
	answer(r, "89.100.0.0/16", "CAROLS-ISP", "IE", "abuse@carols-isp.example")
	c := newRV21Case(t, r, mailExtra, "", "")
	c.scanRedactLog(t)
	return c
}

// With [mail] redact = ["users", "hosts"], no report of the privacy review's t1 and t4
// says a user name, a password typed as one, a customer's mail address, one of our host
// names or local addresses, in the memo, the X-ARF description or its evidence; hostile
// names (a second "from ADDR port N", ">" and spaces, a word of the line) are masked
// whole. Our host with a public address in mail.hosts is named by it, the others
// host-N. The attackers' addresses, ports and times stay, and the headers are those of
// the reports without redact. Before, every line went as logged (review M1, M2).
func TestRedactMasksUserNamesAndOurHostsInEveryQuotedLine(t *testing.T) {
	raw := redactCase(t, "")
	rawMails := raw.mails(t)
	all := strings.Join(rawMails, "\n----\n")
	for _, want := range []string{"user=<carol@customer.example>", "db7.corp.internal sshd[1000]: Failed password for root from 45.134.26.17 port 40000 ssh2",
		"lip=10.0.0.25", "ftp-int.corp.internal (45.134.28.90[45.134.28.90]) - USER alice0: no such user found from 45.134.28.90 [45.134.28.90] to 10.0.0.8:21",
		"Failed password for invalid user x from 1.2.3.4 port 22 from 45.134.27.80 port 30000 ssh2", "to our hosts db7.corp.internal"} {
		if !strings.Contains(all, want) {
			t.Errorf("without redact, the reports do not quote %q as logged:\n%s", want, all)
		}
	}

	c := redactCase(t, `redact = ["users", "hosts"]
hosts = { "db7.corp.internal" = "62.239.1.5" }`)
	mails := c.mails(t)
	if len(mails) != len(rawMails) || len(mails) < 3 {
		t.Fatalf("%d reports with redact, %d without; want the same reports:\n%s", len(mails), len(rawMails), strings.Join(mails, "\n----\n"))
	}
	all = strings.Join(mails, "\n----\n")
	for _, s := range secrets {
		if strings.Contains(all, s) {
			t.Errorf("a report with redact says %q:\n%s", s, all)
		}
	}
	for _, want := range []string{
		"62.239.1.5 sshd[1000]: Failed password for <user> from 45.134.26.17 port 40000 ssh2",
		"Our hosts hit:   62.239.1.5\r\n",
		"to our hosts 62.239.1.5 between",
		"dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<user>, method=PLAIN, rip=89.100.1.10, lip=<our-address>, TLS",
		"SASL LOGIN authentication failed: UGFzc3dvcmQ6, sasl_username=<user>",
		"dovecot: auth: passwd-file(<user>,45.134.26.21,<sEsS0>): Password mismatch",
		"proftpd[200]: <our-address> (45.134.26.60[45.134.26.60]) - USER <user> (Login failed): Incorrect password",
		"(45.134.28.90[45.134.28.90]) - USER <user>: no such user found from 45.134.28.90 [45.134.28.90] to <our-address>:21",
		"Failed password for invalid user <user> from 45.134.27.80 port 30000 ssh2",
		"Failed password for invalid user <user> from 45.134.27.81 port 31000 ssh2",
		"Failed password for invalid user <user> from 81.2.69.6 port 6000 ssh2",
		"sshd[4200]: <message withheld",
		"Source address:  45.134.27.82",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("the reports with redact do not say %q:\n%s", want, all)
		}
	}
	if strings.Contains(all, "host-") == false {
		t.Errorf("our hosts without an address in mail.hosts are not host-N:\n%s", all)
	}
	if a, b := raw.headers(t), c.headers(t); !slices.Equal(a, b) {
		t.Errorf("redact changed the headers:\n%s\nwithout:\n%s", strings.Join(b, "\n"), strings.Join(a, "\n"))
	}
}

// An unknown [mail] redact value is refused with the file, line and key, and the
// nearest value; the known ones are taken, none by default. Before, the option did
// not exist.
func TestRedactConfigRefusesAnUnknownValue(t *testing.T) {
	_, err := ParseConfig("a.toml", []byte("[reporter]\nname = \"A\"\n[mail]\nfrom = \"a@example.org\"\nredact = [\"users\", \"hostnames\"]\n"))
	if err == nil || !strings.HasPrefix(err.Error(), "a.toml:5: mail.redact") || !strings.Contains(err.Error(), `"hostnames"`) || !strings.Contains(err.Error(), `"hosts"`) {
		t.Errorf("err = %v; want a.toml:5: mail.redact naming \"hostnames\" and \"hosts\"", err)
	}
	cfg, err := ParseConfig("a.toml", []byte("[reporter]\nname = \"A\"\n[mail]\nfrom = \"a@example.org\"\nredact = [\"users\", \"hosts\"]\n"))
	if err != nil || !slices.Equal(cfg.Mail.Redact, []string{"users", "hosts"}) {
		t.Errorf("redact = [\"users\", \"hosts\"]: %v, %v", cfg, err)
	}
	cfg, err = ParseConfig("a.toml", []byte("[reporter]\nname = \"A\"\n[mail]\nfrom = \"a@example.org\"\n"))
	if err != nil || len(cfg.Mail.Redact) != 0 {
		t.Errorf("default: %v, %v; want none", cfg.Mail.Redact, err)
	}
}
