package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/daemon"
)

const testedLog = `Feb 12 14:10:21 srv sshd[1]: Failed password for invalid user x from 6.6.6.6 port 1 ssh2 from 203.0.113.7 port 4242 ssh2
Feb 12 14:10:22 srv sshd[1]: refused connect from bad.example.org
Feb 12 14:10:23 srv CRON[2]: (root) CMD (true)
Feb 12 14:10:24 srv myapp[3]: cache warmed in 12 ms
garbage without a header
Feb 12 14:10:25 srv myapp[3]: cache warmed in 15 ms
`

// rules test --json prints one object per input line in the exact shape, with
// the rule that decided, and leaves out empty fields.
func TestRulesTestJSONPrintsOneObjectPerLine(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "auth.log")
	os.WriteFile(log, []byte(testedLog), 0o644)
	stdout, stderr, code := runBinary(t, dir, "rules", "test", "--config", filepath.Join(dir, "none.toml"), "--rules", repoPath(t, "configs/rules"), "--builtin=false", "--json", log)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	want := []string{
		`{"line":1,"verdict":"event","class":"invalid-user","addr":"203.0.113.7","user":"x from 6.6.6.6 port 1 ssh2","port":4242,"rule":"` + repoPath(t, "configs/rules/attack.d/sshd") + `:20"}`,
		`{"line":2,"verdict":"event","class":"wrapper-refused","host":"bad.example.org","rule":"` + repoPath(t, "configs/rules/attack.d/tcpwrappers") + `:`,
		`{"line":3,"verdict":"normal","rule":"` + repoPath(t, "configs/rules/normal.d/cron") + `:`,
		`{"line":4,"verdict":"unknown"}`,
		`{"line":5,"verdict":"unparsed"}`,
		`{"line":6,"verdict":"unknown"}`,
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), stdout)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d:\n got %s\nwant %s…", i+1, lines[i], w)
		}
		var obj map[string]any
		if err := json.Unmarshal([]byte(lines[i]), &obj); err != nil {
			t.Errorf("line %d is not JSON: %v", i+1, err)
		}
	}
}

// Without --json, rules test shows each line's verdict and a summary with the unknown
// shapes; a rule that does not compile is reported with file and line, the other rules
// of the directory still classify, and the command fails.
func TestRulesTestReportsBadRulesAndUsesTheRest(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "auth.log")
	os.WriteFile(log, []byte(testedLog), 0o644)
	rules := filepath.Join(dir, "ignore.d.server")
	os.Mkdir(rules, 0o755)
	os.WriteFile(filepath.Join(rules, "myapp"), []byte("^(broken\n^cache warmed in [0-9]+ ms$\n"), 0o644)
	stdout, stderr, code := runBinary(t, dir, "rules", "test", "--config", filepath.Join(dir, "none.toml"), "--rules", rules, log)
	// A set the daemon would refuse fails the test (rules test --rules new/ log &&
	// install): it exited 0.
	if code != 1 || !strings.Contains(stderr, "1 rule does not compile (see above): the daemon refuses to start, or to reload, with it") {
		t.Errorf("exit %d\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, filepath.Join(rules, "myapp")+":1:") {
		t.Errorf("the bad rule is not reported with file and line:\n%s", stderr)
	}
	if !regexp.MustCompile(`(?m)^ +4  normal +by ` + regexp.QuoteMeta(filepath.Join(rules, "myapp")) + `:2$`).MatchString(stdout) {
		t.Errorf("line 4 not dropped by myapp:2:\n%s", stdout)
	}
	if !strings.Contains(stdout, "2 events, 3 normal, 0 unknown, 1 unparsed.") {
		t.Errorf("summary missing:\n%s", stdout)
	}
}

// rules suggest FILE proposes, for each unknown shape, a rule that rules test then
// finds normal.
func TestRulesSuggestProposesRulesThatMatch(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "auth.log")
	os.WriteFile(log, []byte(testedLog), 0o644)
	empty := filepath.Join(dir, "empty")
	os.Mkdir(empty, 0o755)
	stdout, stderr, code := runBinary(t, dir, "rules", "suggest", "--rules", empty, "--json", log)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	var got []suggestion
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, stdout)
	}
	if len(got) != 1 || got[0].Count != 2 || got[0].Shape != "myapp: cache warmed in <N> ms" {
		t.Fatalf("suggestions = %+v", got)
	}
	rules := filepath.Join(dir, "normal")
	os.Mkdir(rules, 0o755)
	os.WriteFile(filepath.Join(rules, "suggested"), []byte(got[0].Rule+"\n"), 0o644)
	stdout, stderr, code = runBinary(t, dir, "rules", "test", "--config", filepath.Join(dir, "none.toml"), "--rules", rules, log)
	if code != 0 || !strings.Contains(stdout, "0 unknown") {
		t.Errorf("with the suggested rule %s: exit %d\n%s%s", got[0].Rule, code, stdout, stderr)
	}
}

// scan --rules uses the rule directories of the command line instead of the config's.
func TestScanRulesFlagReplacesTheConfiguredRules(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "auth.log")
	os.WriteFile(log, []byte(testedLog), 0o644)
	cfg := filepath.Join(dir, "abusewatch.toml")
	os.WriteFile(cfg, []byte("[store]\npath = \""+filepath.Join(dir, "state.db")+"\"\n[reporter]\nname = \"Test Admin\"\n[mail]\ntransport = \"maildir\"\nmaildir = \""+filepath.Join(dir, "maildir")+"\"\nfrom = \"abusewatch@example.org\"\n[lookup]\nrdap = false\n"), 0o644)
	rules := filepath.Join(dir, "normal")
	os.Mkdir(rules, 0o755)
	os.WriteFile(filepath.Join(rules, "myapp"), []byte("^cache warmed in [0-9]+ ms$\n"), 0o644)
	for _, tt := range []struct {
		args    []string
		unknown float64
	}{{nil, 2}, {[]string{"--rules", rules}, 0}} {
		args := append([]string{"scan", "--config", cfg, "--json"}, tt.args...)
		stdout, stderr, code := runBinary(t, dir, append(args, log)...)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s%s", tt.args, code, stdout, stderr)
		}
		var sum map[string]any
		if err := json.Unmarshal([]byte(stdout), &sum); err != nil || sum["unknown"] != tt.unknown {
			t.Errorf("%v: unknown = %v, want %v (%v)\n%s", tt.args, sum["unknown"], tt.unknown, err, stdout)
		}
	}
}

// A reload re-reads the attack rule directories too: a broken attack rule is refused
// with its file and line and the running rules stay; a fixed one classifies at once.
func TestReloadCoversAttackRuleDirectories(t *testing.T) {
	s := newAdminSetup(t)
	attack := filepath.Join(s.dir, "attack.d")
	os.Mkdir(attack, 0o755)
	doc, _ := os.ReadFile(s.cfg)
	os.WriteFile(s.cfg, []byte(strings.Replace(string(doc), "[detect]\n", "[detect]\nattack_dirs = [\""+attack+"\"]\n", 1)), 0o644)
	s.start(t)
	os.WriteFile(filepath.Join(attack, "myapp"), []byte("myapp knock ^knock from <HOST>$\nmyapp knock ^knock (from <HOST>$\n"), 0o644)
	_, stderr, code := s.admin(t, "reload")
	if code != 1 || !strings.Contains(stderr, filepath.Join(attack, "myapp")+":2:") {
		t.Errorf("reload with a broken attack rule: exit %d, %q", code, stderr)
	}
	os.WriteFile(filepath.Join(attack, "myapp"), []byte("myapp knock ^knock from <HOST>$\n"), 0o644)
	if _, stderr, code := s.admin(t, "reload"); code != 0 {
		t.Fatalf("reload: exit %d, %s", code, stderr)
	}
	appendFile(t, s.logFile, "2026-11-20T03:00:00.000000+00:00 web1 myapp[1]: knock from 3.3.3.7\n")
	deadline := time.Now().Add(30 * time.Second)
	for {
		var ip daemon.NetworkInfo
		s.adminJSON(t, &ip, "ip", "3.3.3.7", "--since", "3650d")
		if ip.ByClass["knock"] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the reloaded attack rule never classified the line: %+v", ip)
		}
	}
}

// A firewall event's protocol, TCP flags and port of ours decide whether it may be
// reported (a bare SYN, UDP and ICMP can be forged): rules test shows them, in text and
// in --json, and leaves them out where a rule captured none. The first line is line 1
// of detect/testdata/crowdsec/iptables-logs (crowdsecurity/hub, MIT: see its PROVENANCE).
func TestRulesTestShowsFirewallProtocolFlagsAndPort(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "kern.log")
	os.WriteFile(log, []byte(`Jun  8 14:34:33 sd-126005 kernel: [50028442.088484] IN=enp1s0 OUT= MAC=00:08:a2:0c:1f:12:00:c8:8b:e2:d6:87:08:00 SRC=195.54.160.107 DST=51.15.166.67 LEN=40 TOS=0x00 PREC=0x00 TTL=245 ID=37308 PROTO=TCP SPT=8080 DPT=8123 WINDOW=1024 RES=0x00 SYN URGP=0
Feb 12 14:10:22 srv kernel: IPTABLES-DROP: IN=eth0 OUT= MAC=00:00 SRC=203.0.113.8 DST=192.0.2.1 LEN=40 TOS=0x00 PREC=0x00 TTL=50 ID=1 DF PROTO=TCP SPT=80 DPT=40000 WINDOW=0 RES=0x00 ACK RST URGP=0
Feb 12 14:10:23 srv kernel: filter_IN_public_REJECT: IN=eth0 OUT= MAC=00:00 SRC=203.0.113.9 DST=192.0.2.1 LEN=28 TOS=0x00 PREC=0x00 TTL=50 ID=1 PROTO=ICMP TYPE=8 CODE=0 ID=1 SEQ=1
Feb 12 14:10:24 srv sshd[1]: Failed password for root from 203.0.113.10 port 4242 ssh2
`), 0o644)
	args := []string{"rules", "test", "--config", filepath.Join(dir, "none.toml"), "--rules", repoPath(t, "configs/rules"), "--builtin=false"}
	stdout, stderr, code := runBinary(t, dir, append(args, "--json", log)...)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	want := []map[string]any{
		{"addr": "195.54.160.107", "port": 8080.0, "proto": "TCP", "flags": "SYN", "dport": 8123.0},
		{"addr": "203.0.113.8", "port": 80.0, "proto": "TCP", "flags": "ACK RST", "dport": 40000.0},
		{"addr": "203.0.113.9", "proto": "ICMP"},
		{"addr": "203.0.113.10", "port": 4242.0},
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), stdout)
	}
	for i, line := range lines {
		var got map[string]any
		if err := json.Unmarshal([]byte(line), &got); err != nil {
			t.Fatalf("line %d is not JSON: %v", i+1, err)
		}
		for _, k := range []string{"addr", "port", "proto", "flags", "dport"} {
			if got[k] != want[i][k] {
				t.Errorf("line %d: %s = %v, want %v\n%s", i+1, k, got[k], want[i][k], line)
			}
		}
	}
	stdout, stderr, code = runBinary(t, dir, append(args, log)...)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	for _, w := range []string{
		`port-probe from 195.54.160.107 port 8080 to port 8123 proto TCP flags "SYN" by `,
		`port-probe from 203.0.113.8 port 80 to port 40000 proto TCP flags "ACK RST" by `,
		`port-probe from 203.0.113.9 proto ICMP by `,
		`auth-failure from 203.0.113.10 port 4242 user "root" by `,
	} {
		if !strings.Contains(stdout, w) {
			t.Errorf("text output lacks %q:\n%s", w, stdout)
		}
	}
}

// rules test stops at once on SIGTERM (and Ctrl-C), whatever it is doing: it looked at
// the signal every 4096 lines only, and a line that took minutes to match, or an input
// that did not come, had to be killed.
func TestRulesTestStopsOnSIGTERM(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "normal")
	os.Mkdir(rules, 0o755)
	// A bad rule: its report on stderr says the command is past its start, and so
	// handles SIGTERM.
	os.WriteFile(filepath.Join(rules, "local"), []byte("^(broken\n"), 0o644)
	cmd := exec.Command(binary, "rules", "test", "--config", filepath.Join(dir, "none.toml"), "--rules", rules, "-")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	// One line, and no end of the input: the command waits for the next.
	if _, err := io.WriteString(stdin, "Feb 12 14:10:23 srv CRON[2]: (root) CMD (true)\n"); err != nil {
		t.Fatal(err)
	}
	reported, said := make(chan struct{}), make(chan string, 1)
	wait := reported
	go func() {
		var all strings.Builder
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if all.WriteString(sc.Text() + "\n"); reported != nil && strings.Contains(sc.Text(), "do not compile") {
				close(reported)
				reported = nil
			}
		}
		said <- all.String()
	}()
	deadline := time.After(30 * time.Second)
	select {
	case <-wait:
	case <-deadline:
		t.Fatal("rules test never reported its bad rule")
	}
	cmd.Process.Signal(syscall.SIGTERM)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Errorf("rules test stopped with %v, want exit status 1", err)
		}
	case <-deadline:
		t.Fatal("rules test still runs 30 s after SIGTERM")
	}
	// At line 2, or at line 1 when the signal came before it was read.
	if text := <-said; !regexp.MustCompile(`interrupted \(terminated signal received\) at line [12] of -:`).MatchString(text) {
		t.Errorf("stderr:\n%s", text)
	}
}

// A normal rule written for a line an attack rule decides never takes effect (attack
// rules come first): rules test says so, per line and in its summary, and in --json
// ("shadows"). The admin was left to wonder why README's own example did nothing.
func TestRulesTestSaysANormalRuleIsShadowed(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "auth.log")
	os.WriteFile(log, []byte("Dec  7 10:00:01 web1 sshd[1234]: Accepted publickey for backup from 192.0.2.10 port 50022 ssh2: ED25519 SHA256:abcdefABCDEF0123\n"+
		"Dec  7 10:00:02 web1 backup[77]: run 12 done\n"), 0o644)
	rules := filepath.Join(dir, "normal")
	os.Mkdir(rules, 0o755)
	os.WriteFile(filepath.Join(rules, "local"), []byte("^Accepted publickey for backup from 192\\.0\\.2\\.10 port [0-9]+ ssh2: ED25519 SHA256:[^ ]+$\n^run [0-9]+ done$\n"), 0o644)
	args := []string{"rules", "test", "--config", filepath.Join(dir, "none.toml"), "--rules", rules}
	stdout, stderr, code := runBinary(t, dir, append(args, log)...)
	local := filepath.Join(rules, "local")
	if code != 0 || !strings.Contains(stdout, "auth-success from 192.0.2.10 port 50022 user \"backup\" by (built in) configs/rules/attack.d/sshd:") ||
		!strings.Contains(stdout, "(normal rule "+local+":1 matches too, and never takes effect: attack rules come first)") ||
		!regexp.MustCompile(`(?m)^Normal rules that match lines an attack rule decided .*\n +1  `+regexp.QuoteMeta(local)+`:1$`).MatchString(stdout) ||
		strings.Contains(stdout, local+":2 matches") {
		t.Errorf("exit %d\n%s%s", code, stdout, stderr)
	}
	stdout, stderr, code = runBinary(t, dir, append(args, "--json", log)...)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if code != 0 || len(lines) != 2 || !strings.HasSuffix(lines[0], `"shadows":"`+local+`:1"}`) || strings.Contains(lines[1], "shadows") {
		t.Errorf("--json: exit %d\n%s%s", code, stdout, stderr)
	}
}

// A normal rule file saved with a UTF-8 byte order mark, a rule indented, or one with a
// space after its closing $ loads and silently never matches: rules test warns of each,
// with file and line.
func TestRulesTestWarnsOfRulesThatNeverMatch(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "auth.log")
	os.WriteFile(log, []byte(testedLog), 0o644)
	rules := filepath.Join(dir, "normal")
	os.Mkdir(rules, 0o755)
	os.WriteFile(filepath.Join(rules, "bom"), []byte("\uFEFF^cache warmed in [0-9]+ ms$\n"), 0o644)
	os.WriteFile(filepath.Join(rules, "spaces"), []byte("# fine\n  ^cache warmed in [0-9]+ ms$\n^cache warmed in [0-9]+ ms$ \n^cache warmed in [0-9]+ ms \\$ \n^fine$\n"), 0o644)
	stdout, stderr, code := runBinary(t, dir, "rules", "test", "--config", filepath.Join(dir, "none.toml"), "--rules", rules, log)
	if code != 0 || !strings.Contains(stdout, "2 unknown") {
		t.Errorf("exit %d\n%s%s", code, stdout, stderr)
	}
	for _, w := range []string{
		"Warning: " + filepath.Join(rules, "bom") + ":1: the file starts with a UTF-8 byte order mark",
		"Warning: " + filepath.Join(rules, "spaces") + ":2: the rule starts with white space",
		"Warning: " + filepath.Join(rules, "spaces") + ":3: white space after the closing $",
	} {
		if !strings.Contains(stderr, w) {
			t.Errorf("no %q in:\n%s", w, stderr)
		}
	}
	if n := strings.Count(stderr, "Warning: "); n != 3 {
		t.Errorf("%d warnings, want 3:\n%s", n, stderr)
	}
}

// rules test --rules DIR tries DIR's normal rules with the configured attack rules, as
// the daemon will run them: an admin's attack rule still decides first (it replaced
// them, and the test said normal where the daemon makes an event).
// --attack-from-config=false leaves them out.
func TestRulesTestKeepsTheConfiguredAttackRules(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "auth.log")
	os.WriteFile(log, []byte("Feb 12 14:10:24 srv myapp[3]: knock from 203.0.113.5\n"), 0o644)
	attack := filepath.Join(dir, "attack")
	os.Mkdir(attack, 0o755)
	os.WriteFile(filepath.Join(attack, "myapp"), []byte("myapp knock ^knock from <HOST>$\n"), 0o644)
	cfg := filepath.Join(dir, "abusewatch.toml")
	os.WriteFile(cfg, []byte("[detect]\nattack_dirs = [\""+attack+"\"]\n[store]\npath = \""+filepath.Join(dir, "state.db")+"\"\n[reporter]\nname = \"Test Admin\"\n[mail]\ntransport = \"maildir\"\nmaildir = \""+filepath.Join(dir, "maildir")+"\"\nfrom = \"abusewatch@example.org\"\n[lookup]\nrdap = false\n"), 0o644)
	rules := filepath.Join(dir, "normal")
	os.Mkdir(rules, 0o755)
	os.WriteFile(filepath.Join(rules, "myapp"), []byte("^knock from .*$\n"), 0o644)
	stdout, stderr, code := runBinary(t, dir, "rules", "test", "--config", cfg, "--rules", rules, log)
	if code != 0 || !strings.Contains(stdout, "knock from 203.0.113.5 by "+filepath.Join(attack, "myapp")+":1 (normal rule "+filepath.Join(rules, "myapp")+":1 matches too") {
		t.Errorf("exit %d\n%s%s", code, stdout, stderr)
	}
	stdout, stderr, code = runBinary(t, dir, "rules", "test", "--config", cfg, "--attack-from-config=false", "--rules", rules, log)
	if code != 0 || !regexp.MustCompile(`(?m)^ +1  normal +by `+regexp.QuoteMeta(filepath.Join(rules, "myapp"))+`:1$`).MatchString(stdout) {
		t.Errorf("--attack-from-config=false: exit %d\n%s%s", code, stdout, stderr)
	}
	stdout, _, _ = runBinary(t, dir, "rules", "-h")
	if !strings.Contains(stdout, "-attack-from-config") {
		t.Errorf("rules -h does not document --attack-from-config:\n%s", stdout)
	}
}

// Every unknown line of `rules test` says why it is unknown. One an attack rule refused
// says which and why (pure-ftpd's <PTR>), one with an address in a slot abusewatch
// trusts showed "unknown from ADDR", but vsftpd's own-format CONNECT line (its address
// quoted, where no slot is trusted) and any line of a program without rules showed a
// bare "unknown", as if the output had lost its description (review 44 L8).
func TestRulesTestSaysWhyEachUnknownLineIsUnknown(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "mixed.log")
	os.WriteFile(log, []byte(`Mon Jun  8 12:08:44 2020 [pid 27245] CONNECT: Client "::ffff:93.24.101.89"
Dec  7 10:00:02 web1 myapp[77]: cache warmed in 12 ms
Dec  7 10:00:03 web1 myapp[78]: odd request from 203.0.113.9 port 50022
Dec  7 10:00:04 web1 pure-ftpd: (?@8.8.8.8) [WARNING] Authentication failed for user [admin]
`), 0o644)
	stdout, stderr, code := runBinary(t, dir, "rules", "test", "--config", repoPath(t, "configs/demo.toml"), log)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	verdicts := 0
	for l := range strings.Lines(stdout) {
		f := strings.Fields(l)
		if len(f) < 2 || f[1] != "unknown" {
			continue
		}
		verdicts++
		if len(f) == 2 {
			t.Errorf("line %s: unknown, and no word of why:\n%s", f[0], stdout)
		}
	}
	if verdicts != 4 {
		t.Fatalf("%d unknown lines, want the log's 4:\n%s", verdicts, stdout)
	}
	if !regexp.MustCompile(`(?m)^ +1  unknown   \(no attack or normal rule matches it\)$`).MatchString(stdout) {
		t.Errorf("vsftpd's CONNECT line does not say that no rule matches it:\n%s", stdout)
	}
	if !strings.Contains(stdout, "unknown   unknown from 203.0.113.9 port 50022 (no attack or normal rule matches it)\n") {
		t.Errorf("the line with an address in a trusted slot does not say that no rule matches it:\n%s", stdout)
	}
	if !strings.Contains(stdout, "numeric_hosts names the program") {
		t.Errorf("pure-ftpd's refused line lost its reason:\n%s", stdout)
	}
}
