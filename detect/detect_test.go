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
// sshd parsers extract.
var assertMeta = regexp.MustCompile(`^results\["s01-parse"\]\["crowdsecurity/(?:sshd-logs|sshd-success-logs)"\]\[([0-9]+)\]\.Evt\.Meta\["(source_ip|target_user)"\] == "(.*)"$`)

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

// The shapes the shipped sshd rules classify. The corpus has others (key exchange
// failures, timeouts, AllowUsers, refused connections, "Connection closed by ADDR"):
// those classes come later and must stay unknown until then, never normal.
var classifiedShapes = []string{
	"Invalid user ", "Failed ", "Accepted ", "pam_unix(sshd:auth): authentication failure;",
	"Disconnected from invalid user ", "Disconnected from authenticating user ",
	"Connection closed by invalid user ", "Connection closed by authenticating user ",
	"Connection reset by authenticating user ",
}

func classified(msg string) bool {
	for _, p := range classifiedShapes {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// Every corpus line for which crowdsec extracts a source IP yields the same address
// (and user) here, or stays unknown when its shape is not classified yet.
func TestCrowdsecCorpusAddresses(t *testing.T) {
	d := shipped(t)
	asserts, err := filepath.Glob("testdata/crowdsec/*/parser.assert")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, assertFile := range asserts {
		want := readAssert(t, assertFile)
		if len(want) == 0 {
			continue // the case asserts only what the syslog parser reads
		}
		logs, _ := filepath.Glob(filepath.Join(filepath.Dir(assertFile), "*.log"))
		for _, logFile := range logs {
			for i, line := range readLines(t, logFile) {
				name := filepath.Base(logFile) + ":" + strconv.Itoa(i+1)
				h, err := ParseHeader(line, readTime, time.UTC)
				if err != nil {
					t.Errorf("%s: %v", name, err)
					continue
				}
				out, ev := d.Classify(record(line))
				w, ok := want[i]
				switch {
				case !ok || w.ip == "":
					if out == Recognised {
						t.Errorf("%s: %v from %v, crowdsec extracts no address from %q", name, ev.Class, ev.Addr, line)
					}
				case classified(h.Message):
					checked++
					if out != Recognised || ev.Addr != netip.MustParseAddr(w.ip) {
						t.Errorf("%s: got %v %v, want event from %s: %q", name, out, ev.Addr, w.ip, line)
					}
					if w.user != "" && ev.User != w.user {
						t.Errorf("%s: user %q, want %q", name, ev.User, w.user)
					}
				default:
					if out != Unknown {
						t.Errorf("%s: got %v, want unknown (not classified yet): %q", name, out, line)
					}
				}
			}
		}
	}
	if checked < 20 {
		t.Errorf("only %d corpus lines checked against crowdsec's addresses", checked)
	}
}

// Corpus cases without a parser.assert: every line is an invalid user from one address.
func TestCrowdsecCorpusInvalidUsers(t *testing.T) {
	d := shipped(t)
	for file, addr := range map[string]string{
		"testdata/crowdsec/ssh-bf/ssh-bf.log":                     "35.188.49.176",
		"testdata/crowdsec/ssh-generic-test/ssh-generic-test.log": "127.0.0.1",
	} {
		for _, line := range readLines(t, file) {
			if line == "" {
				continue
			}
			out, ev := d.Classify(record(line))
			if out != Recognised || ev.Class != abusewatch.ClassInvalidUser || ev.Addr != netip.MustParseAddr(addr) {
				t.Errorf("%s: got %v %v %v, want invalid-user from %s", line, out, ev.Class, ev.Addr, addr)
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
		"pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=attacker.example.net  user=root",
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
		"sshd[900]: Received disconnect from 203.0.113.7 port 4242:11: Bye Bye [preauth]",
		"sshd[900]: Received disconnect from 203.0.113.7 port 4242:11: disconnected by user [preauth]",
		"sshd[900]: Connection closed by 203.0.113.7 port 4242 [preauth]",
		"sshd[900]: Disconnected from user root 203.0.113.7 port 4242 [preauth]",
		"sshd[900]: pam_unix(sshd:session): session opened for user root(uid=0) by (uid=0) extra",
		"sudo[77]: pam_unix(sudo:session): session opened for user root(uid=0) by admin(uid=1000)",
		"sudo: pam_unix(sudo:auth): authentication failure; logname=zbadguy uid=4001 euid=0 tty=/dev/pts/12 ruser=zbadguy rhost=  user=zbadguy",
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
	for o, want := range map[Outcome]string{Unparsed: "unparsed", Normal: "normal", Unknown: "unknown", Recognised: "event", 9: "Outcome(9)"} {
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
