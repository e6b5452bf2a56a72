package detect

import (
	"bufio"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/abusewatch/abusewatch"
)

// readTime is when the test records were "read": the corpus has no years, so the year
// is inferred from it.
var readTime = time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)

// shipped returns a Detector with the rules abusewatch ships.
func shipped(tb testing.TB) *Detector {
	tb.Helper()
	fsys := os.DirFS("../configs")
	n, err := LoadNormalRules(fsys, "rules/normal.d")
	if err != nil {
		tb.Fatal(err)
	}
	a, err := LoadAttackRules(fsys, "rules/attack.d")
	if err != nil {
		tb.Fatal(err)
	}
	return New(n, a, time.UTC)
}

// numericShipped is shipped with the admin's declaration that pure-ftpd and login write
// addresses in their <PTR> slots (pure-ftpd's DontResolve, a telnetd that passes
// addresses), as the corpora's servers did: their addresses are events then.
func numericShipped(tb testing.TB) *Detector {
	return shipped(tb).WithNumericHosts([]string{"pure-ftpd", "login"})
}

func record(line string) abusewatch.Record {
	return abusewatch.Record{Source: "/var/log/auth.log", Line: line, Offset: int64(len(line) + 1), Read: readTime}
}

func readLines(tb testing.TB, path string) []string {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

// crowdsec's parser.assert says, for line N of the log, which source IP and user its
// parsers extract.
var assertMeta = regexp.MustCompile(`^results\["s01-parse"\]\["[^"]+"\]\[([0-9]+)\]\.Evt\.Meta\["(source_ip|target_user|username)"\] == "(.*)"$`)

type asserted struct{ ip, user string }

func readAssert(tb testing.TB, path string) map[int]asserted {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	want := make(map[int]asserted)
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		m := assertMeta.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		i, _ := strconv.Atoi(m[1])
		a := want[i]
		if m[2] == "source_ip" {
			a.ip = m[3]
		} else {
			a.user = m[3]
		}
		want[i] = a
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return want
}

// reportable are the classes a report may come from: a benign line must never get one.
var reportable = map[abusewatch.Class]bool{
	abusewatch.ClassAuthFailure: true, abusewatch.ClassInvalidUser: true, "protocol-probe": true,
	"refused-connect": true, "port-probe": true, "refused-query": true, "reverse-mapping": true,
}

// Every corpus line with a syslog header for which crowdsec extracts a source IP is an
// event from the same address (and user) here, or an unknown record whose generic
// address is that one; lines crowdsec extracts no address from are never events
// about an address.
func TestCrowdsecCorpusAddresses(t *testing.T) {
	d := numericShipped(t)
	asserts, err := filepath.Glob("testdata/crowdsec/*/parser.assert")
	if err != nil {
		t.Fatal(err)
	}
	recognised, unknown := 0, 0
	for _, assertFile := range asserts {
		want := readAssert(t, assertFile)
		extracts := false // whether crowdsec's parser for this case extracts addresses at all
		for _, w := range want {
			extracts = extracts || w.ip != ""
		}
		logs, _ := filepath.Glob(filepath.Join(filepath.Dir(assertFile), "*.log"))
		for _, logFile := range logs {
			for i, line := range readLines(t, logFile) {
				name := filepath.Base(filepath.Dir(logFile)) + "/" + filepath.Base(logFile) + ":" + strconv.Itoa(i+1)
				out, ev := d.Classify(record(line))
				if out == Unparsed {
					continue // dropbear-logs: crowdsec's datasource stripped the header
				}
				w := want[i]
				if w.ip == "" {
					if extracts && out == Recognised && ev.Addr.IsValid() && reportable[ev.Class] {
						t.Errorf("%s: %v from %v, crowdsec extracts no address from %q", name, ev.Class, ev.Addr, line)
					}
					continue
				}
				wantAddr := netip.MustParseAddr(w.ip).Unmap()
				switch {
				case out == Recognised && ev.Addr == wantAddr:
					recognised++
					if w.user != "" && ev.User != "" && ev.User != w.user {
						t.Errorf("%s: user %q, want %q", name, ev.User, w.user)
					}
				case out == Unknown && ev.Addr == wantAddr:
					unknown++
				default:
					t.Errorf("%s: got %v %v %v, want an event from %s: %q", name, out, ev.Class, ev.Addr, wantAddr, line)
				}
			}
		}
	}
	t.Logf("%d corpus lines recognised, %d unknown with the right address", recognised, unknown)
	if recognised < 60 {
		t.Errorf("only %d corpus lines recognised with crowdsec's address", recognised)
	}
}

// Corpus cases without a parser.assert, each line an attack from one address.
func TestCrowdsecCorpusWithoutAsserts(t *testing.T) {
	d := shipped(t)
	for file, want := range map[string]struct {
		addr  string
		class abusewatch.Class
	}{
		"testdata/crowdsec/ssh-bf/ssh-bf.log":                     {"35.188.49.176", abusewatch.ClassInvalidUser},
		"testdata/crowdsec/ssh-generic-test/ssh-generic-test.log": {"127.0.0.1", abusewatch.ClassInvalidUser},
		"testdata/crowdsec/ssh-slow-bf/ssh-slow-bf.log":           {"103.100.210.198", abusewatch.ClassInvalidUser},
	} {
		for _, line := range readLines(t, file) {
			if line == "" {
				continue
			}
			out, ev := d.Classify(record(line))
			if out != Recognised || ev.Class != want.class || ev.Addr != netip.MustParseAddr(want.addr) {
				t.Errorf("%s: got %v %v %v, want %s from %s", line, out, ev.Class, ev.Addr, want.class, want.addr)
			}
		}
	}
}

// exim's mainlog, vsftpd.log and proftpd's SystemLog have no syslog header: each line
// is read with the service's own header, and the rules written for its syslog messages
// classify it, with crowdsec's address and user (TestCrowdsecCorpusAddresses checks
// every line crowdsec parses; this one that no line is unparsed and the attacks are
// events of the right class and host).
func TestCrowdsecCorpusNativeFormats(t *testing.T) {
	d := shipped(t)
	for _, tt := range []struct {
		file, program, host string
		events              int // auth-failure and invalid-user events
	}{
		{"testdata/crowdsec/exim-logs/exim-logs.log", "exim", localHost(), 6},
		{"testdata/crowdsec/vsftpd-logs/vsftpd-logs.log", "vsftpd", localHost(), 3},
		{"testdata/crowdsec/vsftpd-bf/vsftpd-bf.log", "vsftpd", localHost(), 6},
		{"testdata/crowdsec/proftpd-bf/proftpd-bf.log", "proftpd", "mantis", 6},
	} {
		events := 0
		for _, line := range readLines(t, tt.file) {
			if line == "" {
				continue
			}
			v := d.Explain(record(line))
			if v.Outcome == Unparsed || v.Header.Program != tt.program || v.Header.Host != tt.host {
				t.Errorf("%s: %v program %q host %q (%v), want %s on %s", line, v.Outcome, v.Header.Program, v.Header.Host, v.Err, tt.program, tt.host)
			}
			if v.Outcome == Recognised && (v.Event.Class == abusewatch.ClassAuthFailure || v.Event.Class == abusewatch.ClassInvalidUser) {
				events++
				if v.Event.Host != tt.host || v.Event.Service != tt.program {
					t.Errorf("%s: event on %q by %q", line, v.Event.Host, v.Event.Service)
				}
			}
		}
		if events != tt.events {
			t.Errorf("%s: %d failed logins, want %d", tt.file, events, tt.events)
		}
	}
	// proftpd-logs mixes SystemLog and syslog lines: all five are failed logins.
	for _, line := range readLines(t, "testdata/crowdsec/proftpd-logs/proftpd-logs.log") {
		if out, ev := d.Classify(record(line)); out != Recognised || (ev.Class != abusewatch.ClassAuthFailure && ev.Class != abusewatch.ClassInvalidUser) {
			t.Errorf("%s: %v %v", line, out, ev.Class)
		}
	}
}

// Postfix's SASL failures name the user tried after the address (sasl_username=).
func TestCrowdsecCorpusPostfixSASLUser(t *testing.T) {
	d := shipped(t)
	user := regexp.MustCompile(`, sasl_username=(\S+)$`)
	for _, line := range readLines(t, "testdata/crowdsec/postfix-honeypot-users/postfix-honeypot-users.log") {
		out, ev := d.Classify(record(line))
		if want := user.FindStringSubmatch(line)[1]; out != Recognised || ev.Class != abusewatch.ClassAuthFailure || ev.User != want {
			t.Errorf("%s: got %v %v user %q, want auth-failure user %q", line, out, ev.Class, ev.User, want)
		}
	}
}

// Firewall lines are port probes from SRC with protocol and flags; ufw's AUDIT and
// ALLOW lines are what it let through.
func TestCrowdsecCorpusFirewall(t *testing.T) {
	d := shipped(t)
	src := regexp.MustCompile(`SRC=(\S+)`)
	probes := 0
	for _, line := range readLines(t, "testdata/crowdsec/iptables-scan-multi-port/iptables-scan-multi-port.log") {
		out, ev := d.Classify(record(line))
		want := abusewatch.Class("port-probe")
		if strings.Contains(line, "[UFW AUDIT]") || strings.Contains(line, "[UFW ALLOW]") {
			want = "firewall-accept"
		}
		addr := netip.MustParseAddr(src.FindStringSubmatch(line)[1])
		if out != Recognised || ev.Class != want || ev.Addr != addr || (want == "port-probe" && (ev.Proto != "TCP" || ev.LocalPort == 0)) {
			t.Errorf("%s: got %v %v %v %q dport %d, want %s from %s", line, out, ev.Class, ev.Addr, ev.Proto, ev.LocalPort, want, addr)
		}
		if want == "port-probe" {
			probes++
		}
	}
	if probes == 0 {
		t.Error("no probes in the corpus")
	}
}

// Key exchange failures, banner garbage and timeouts are protocol probes from the
// address sshd names; the kex_exchange_identification lines name none.
func TestCrowdsecCorpusProtocolProbes(t *testing.T) {
	d := shipped(t)
	for _, file := range []string{
		"testdata/crowdsec/sshd_banner_exchange/sshd_banner_exchange.log",
		"testdata/crowdsec/sshd-bad-keyexchange-bf/sshd-bad-keyexchange-bf.log",
		"testdata/crowdsec/ssh-timeout/ssh-timeout.log",
	} {
		for _, line := range readLines(t, file) {
			if strings.TrimSpace(line) == "" {
				continue
			}
			line = strings.TrimRight(line, " ")
			out, ev := d.Classify(record(line))
			if strings.Contains(line, "kex_exchange_identification") {
				if out == Recognised {
					t.Errorf("%s: got %v %v, want no event", line, out, ev.Class)
				}
				continue
			}
			if out != Recognised || ev.Class != "protocol-probe" || !ev.Addr.IsValid() || ev.Port == 0 {
				t.Errorf("%s: got %v %v %v port %d, want protocol-probe", line, out, ev.Class, ev.Addr, ev.Port)
			}
		}
	}
}

func TestClassifyEvent(t *testing.T) {
	d := shipped(t)
	line := "Sep  6 09:57:21 bullseye sshd[581]: Accepted publickey for vagrant from 192.168.121.1 port 56296 ssh2: RSA SHA256:1M4RzhMyWuFS/86uPY/ce2prh/dVTHW7iD2RhpquOZA"
	out, ev := d.Classify(record(line))
	want := abusewatch.Event{
		Time:    time.Date(2025, time.September, 6, 9, 57, 21, 0, time.UTC),
		Class:   abusewatch.ClassAuthSuccess,
		Addr:    netip.MustParseAddr("192.168.121.1"),
		Port:    56296,
		User:    "vagrant",
		Service: "sshd",
		Host:    "bullseye",
		Source:  "/var/log/auth.log",
		Line:    line,
	}
	if out != Recognised || ev != want {
		t.Errorf("Classify = %v\n%+v\nwant %+v", out, ev, want)
	}
}

// User names are attacker-controlled: one that contains a fake address must never
// move the event's address away from the real, last one that sshd wrote.
func TestHostileUserNames(t *testing.T) {
	d := shipped(t)
	const real = "203.0.113.7"
	tests := []struct {
		name    string
		program string
		msg     string
		class   abusewatch.Class
		addr    string
		port    uint16
		user    string
	}{
		{"invalid user", "sshd", "Invalid user x from 6.6.6.6 port 22 from 203.0.113.7 port 4242",
			abusewatch.ClassInvalidUser, real, 4242, "x from 6.6.6.6 port 22"},
		{"invalid user, old format without port", "sshd", "Invalid user x from 6.6.6.6 port 22 from 203.0.113.7",
			abusewatch.ClassInvalidUser, real, 0, "x from 6.6.6.6 port 22"},
		{"invalid user, sshd-session", "sshd-session", "Invalid user x from 6.6.6.6 from 203.0.113.7 port 4242",
			abusewatch.ClassInvalidUser, real, 4242, "x from 6.6.6.6"},
		{"failed password for invalid user", "sshd", "Failed password for invalid user x from 6.6.6.6 port 22 ssh2 from 203.0.113.7 port 4242 ssh2",
			abusewatch.ClassInvalidUser, real, 4242, "x from 6.6.6.6 port 22 ssh2"},
		{"failed publickey with a fake key suffix", "sshd", "Failed publickey for invalid user a from 6.6.6.6 port 1 ssh2: RSA SHA256:x from 203.0.113.7 port 4242 ssh2: RSA SHA256:abc",
			abusewatch.ClassInvalidUser, real, 4242, "a from 6.6.6.6 port 1 ssh2: RSA SHA256:x"},
		{"failed none for an empty invalid user", "sshd", "Failed none for invalid user  from 203.0.113.7 port 4242 ssh2",
			abusewatch.ClassInvalidUser, real, 4242, ""},
		{"user named invalid user", "sshd", "Failed password for invalid user invalid user root from 6.6.6.6 port 1 ssh2 from 203.0.113.7 port 4242 ssh2",
			abusewatch.ClassInvalidUser, real, 4242, "invalid user root from 6.6.6.6 port 1 ssh2"},
		{"failed password", "sshd", "Failed password for root from 203.0.113.7 port 4242 ssh2",
			abusewatch.ClassAuthFailure, real, 4242, "root"},
		{"failed keyboard-interactive/pam", "sshd", "Failed keyboard-interactive/pam for x from 6.6.6.6 port 22 ssh2 from 203.0.113.7 port 4242 ssh2",
			abusewatch.ClassAuthFailure, real, 4242, "x from 6.6.6.6 port 22 ssh2"},
		{"pam_unix rhost with hostile user", "sshd", "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.7  user=x rhost=6.6.6.6",
			abusewatch.ClassAuthFailure, real, 0, "x rhost=6.6.6.6"},
		{"pam_unix rhost with hostile user ending in an address", "sshd", "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.7  user=x  user=root rhost=6.6.6.6",
			abusewatch.ClassAuthFailure, real, 0, "x  user=root rhost=6.6.6.6"},
		{"pam_unix without user", "sshd", "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.7",
			abusewatch.ClassAuthFailure, real, 0, ""},
		{"disconnected from invalid user", "sshd", "Disconnected from invalid user x 6.6.6.6 port 22 [preauth] 203.0.113.7 port 4242 [preauth]",
			abusewatch.ClassInvalidUser, real, 4242, "x 6.6.6.6 port 22 [preauth]"},
		{"connection closed by invalid user", "sshd", "Connection closed by invalid user x 6.6.6.6 port 22 203.0.113.7 port 4242 [preauth]",
			abusewatch.ClassInvalidUser, real, 4242, "x 6.6.6.6 port 22"},
		{"connection closed by authenticating user", "sshd", "Connection closed by authenticating user root 6.6.6.6 port 22 [preauth] 203.0.113.7 port 4242 [preauth]",
			abusewatch.ClassAuthFailure, real, 4242, "root 6.6.6.6 port 22 [preauth]"},
		{"connection reset by authenticating user", "sshd", "Connection reset by authenticating user root 203.0.113.7 port 4242 [preauth]",
			abusewatch.ClassAuthFailure, real, 4242, "root"},
		{"accepted password", "sshd", "Accepted password for x from 6.6.6.6 port 22 ssh2 from 203.0.113.7 port 4242 ssh2",
			abusewatch.ClassAuthSuccess, real, 4242, "x from 6.6.6.6 port 22 ssh2"},
		{"accepted certificate", "sshd", "Accepted publickey for alice from 203.0.113.7 port 4242 ssh2: ED25519-CERT SHA256:abc ID alice@example (serial 7) CA ED25519 SHA256:def",
			abusewatch.ClassAuthSuccess, real, 4242, "alice"},
		{"IPv6", "sshd", "Invalid user x from 2001:db8::1 port 22 from 2001:db8::7 port 4242",
			abusewatch.ClassInvalidUser, "2001:db8::7", 4242, "x from 2001:db8::1 port 22"},
		{"IPv4-mapped IPv6 is unmapped", "sshd", "Invalid user x from ::ffff:203.0.113.7 port 4242",
			abusewatch.ClassInvalidUser, real, 4242, "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			line := "Feb 12 14:10:21 srv " + tt.program + "[1]: " + tt.msg
			out, ev := d.Classify(record(line))
			if out != Recognised {
				t.Fatalf("Classify(%q) = %v, want event", line, out)
			}
			if ev.Class != tt.class || ev.Addr != netip.MustParseAddr(tt.addr) || ev.Port != tt.port || ev.User != tt.user {
				t.Errorf("got %s %v port %d user %q\nwant %s %s port %d user %q", ev.Class, ev.Addr, ev.Port, ev.User, tt.class, tt.addr, tt.port, tt.user)
			}
		})
	}
}

// Lines that look like attacks but carry no usable address are unknown, never events.
func TestClassifyNoAddressIsUnknown(t *testing.T) {
	d := shipped(t)
	for _, msg := range []string{
		"Invalid user x from 999.1.1.1 port 22",
		"Invalid user x from 203.0.113.7 port 99999",
		"Invalid user x from host.example.com port 22",
		"Invalid user x from 203.0.113.7 port 22 trailing",
		"Failed password for root from 6.6.6.6 port 22 ssh2 and then some",
	} {
		line := "Feb 12 14:10:21 srv sshd[1]: " + msg
		if out, ev := d.Classify(record(line)); out != Unknown {
			t.Errorf("Classify(%q) = %v %v, want unknown", line, out, ev.Addr)
		}
	}
}

func TestShippedNormalRules(t *testing.T) {
	d := shipped(t)
	normal := []string{
		"sshd[812]: Server listening on 0.0.0.0 port 22.",
		"sshd[812]: Server listening on :: port 22.",
		"sshd[812]: Received SIGHUP; restarting.",
		"sshd[812]: Received signal 15; terminating.",
		"sshd[900]: pam_unix(sshd:session): session opened for user vagrant(uid=1000) by (uid=0)",
		"sshd[900]: pam_unix(sshd:session): session opened for user root by (uid=0)",
		"sshd[900]: pam_unix(sshd:session): session closed for user vagrant",
		"sshd[900]: Disconnected from user vagrant 192.168.121.1 port 56296",
		"sshd[900]: Received disconnect from 192.168.121.1 port 56296:11: disconnected by user",
		"sshd[900]: Starting session: shell on pts/0 for root from 192.168.121.1 port 56296 id 0",
		"sshd[900]: Starting session: command for backup from 192.168.121.1 port 56296 id 0",
		"sshd[900]: Close session: user ansible from 192.168.1.1 port 34928 id 0",
		"CRON[4410]: (root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)",
		"crond[4410]: (root) CMD (run-parts /etc/cron.hourly)",
		"CRON[4409]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)",
		"crond[4409]: pam_unix(crond:session): session opened for user root by (uid=0)",
		"CRON[4409]: pam_unix(cron:session): session closed for user root",
		"systemd[1]: Started Session 5 of user root.",
		"systemd[1]: Started session-5.scope - Session 5 of User root.",
		"systemd[1]: session-5.scope: Deactivated successfully.",
		"systemd[1]: Starting User Manager for UID 0...",
		"systemd[1]: Started User Manager for UID 0.",
		"systemd[1]: Finished User Runtime Directory /run/user/0.",
		"systemd[1]: Created slice User Slice of UID 0.",
		"systemd[1]: Removed slice user-0.slice - User Slice of UID 0.",
		"systemd[1]: user@0.service: Deactivated successfully.",
		"systemd[7101]: pam_unix(systemd-user:session): session opened for user root(uid=0) by (uid=0)",
		"systemd-logind[512]: New session 5 of user root.",
		"systemd-logind[512]: New session c1 of user gdm.",
		"systemd-logind[512]: Removed session 5.",
		"systemd-logind[512]: Session 5 logged out. Waiting for processes to exit.",
	}
	for _, s := range normal {
		line := "Feb 12 14:10:21 srv " + s
		if out, _ := d.Classify(record(line)); out != Normal {
			t.Errorf("Classify(%q) = %v, want normal", line, out)
		}
	}
	for _, line := range readLines(t, "testdata/crowdsec/sshd-logs-fp/sshd-logs.log") {
		if out, _ := d.Classify(record(line)); out != Normal {
			t.Errorf("Classify(%q) = %v, want normal", line, out)
		}
	}
	unknown := []string{
		"sshd[900]: Disconnected from user root 203.0.113.7 port 4242 [preauth]",
		"sshd[900]: pam_unix(sshd:session): session opened for user root(uid=0) by (uid=0) extra",
		"sudo[77]: pam_unix(sudo:session): session opened for user root(uid=0) by admin(uid=1000)",
	}
	for _, s := range unknown {
		line := "Feb 12 14:10:21 srv " + s
		if out, _ := d.Classify(record(line)); out != Unknown {
			t.Errorf("Classify(%q) = %v, want unknown", line, out)
		}
	}
}

// An attack rule wins over a normal rule that matches the same record.
func TestAttackBeforeNormal(t *testing.T) {
	n, err := LoadNormalRules(fstest.MapFS{"n/all": file("sshd\n")}, "n")
	if err != nil {
		t.Fatal(err)
	}
	a, err := LoadAttackRules(os.DirFS("../configs"), "rules/attack.d")
	if err != nil {
		t.Fatal(err)
	}
	d := New(n, a, time.UTC)
	if out, _ := d.Classify(record("Feb 12 14:10:21 srv sshd[1]: Invalid user x from 203.0.113.7 port 1")); out != Recognised {
		t.Errorf("attack line = %v, want event", out)
	}
	if out, _ := d.Classify(record("Feb 12 14:10:21 srv sshd[1]: Server listening on :: port 22.")); out != Normal {
		t.Errorf("other sshd line = %v, want normal", out)
	}
}

func TestClassifyWithoutRules(t *testing.T) {
	d := New(nil, nil, nil)
	for line, want := range map[string]Outcome{
		"Feb 12 14:10:21 srv sshd[1]: Invalid user x from 203.0.113.7 port 1": Unknown,
		"\x00\x01binary":    Unparsed,
		"not syslog at all": Unparsed,
	} {
		rec := abusewatch.Record{Line: line} // no Read time: the clock stands in
		if out, _ := d.Classify(rec); out != want {
			t.Errorf("Classify(%q) = %v, want %v", line, out, want)
		}
	}
}

func TestOutcomeString(t *testing.T) {
	for o, want := range map[Outcome]string{Unparsed: "unparsed", Normal: "normal", Unknown: "unknown", Recognised: "event", Continuation: "continuation", 9: "Outcome(9)"} {
		if o.String() != want {
			t.Errorf("%d.String() = %q, want %q", int(o), o.String(), want)
		}
	}
}

func BenchmarkClassify(b *testing.B) {
	d := shipped(b)
	files, err := filepath.Glob("testdata/crowdsec/*/*.log")
	if err != nil {
		b.Fatal(err)
	}
	var recs []abusewatch.Record
	for _, f := range files {
		for _, line := range readLines(b, f) {
			recs = append(recs, record(line))
		}
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		d.Classify(recs[i%len(recs)])
	}
}
