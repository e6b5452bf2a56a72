package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/abusewatch/abusewatch/store"
)

// tuningConfig writes a config to dir/abusewatch.toml with detect as its [detect]
// table, its store and maildir in dir, nothing sent or looked up, and returns its path.
func tuningConfig(t *testing.T, dir, detect string) string {
	t.Helper()
	doc := fmt.Sprintf(`[reporter]
name = "Test Admin"
[detect]
timezone = "UTC"
%s
[correlate]
threshold = 5
window = "10m"
[lookup]
rdap = false
resolvers = ["127.0.0.1:1"]
timeout = "100ms"
[[contact]]
network = "45.134.26.0/24"
emails = ["abuse@hostco.example"]
[mail]
transport = "maildir"
maildir = %q
from = "abusewatch@example.org"
[policy]
mode = "auto"
settle = "0s"
max_age = "0s"
[store]
path = %q
`, detect, filepath.Join(dir, "maildir"), filepath.Join(dir, "state.db"))
	file := filepath.Join(dir, "abusewatch.toml")
	if err := os.WriteFile(file, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// testedVerdicts runs rules test --json with args and returns its verdicts, one a line.
func testedVerdicts(t *testing.T, dir string, args ...string) []testedLine {
	t.Helper()
	stdout, stderr, code := runBinary(t, dir, append(append([]string{"rules", "test"}, args...), "--json")...)
	if code != 0 {
		t.Fatalf("rules test %v: exit %d\n%s%s", args, code, stdout, stderr)
	}
	var out []testedLine
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var v testedLine
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		out = append(out, v)
	}
	return out
}

// scan --rules DIR means what rules test --rules DIR means: DIR's normal rules instead
// of the configured ones, with the configured attack rules still first. It dropped
// them, and the admin's own attack rule lost the lines scanned, which are read once:
// 0 events, 8 unknown, for good. --attack-from-config=false leaves them out in both.
func TestScanRulesKeepsTheConfiguredAttackRules(t *testing.T) {
	var lines strings.Builder
	for i := 1; i <= 8; i++ {
		fmt.Fprintf(&lines, "Dec  7 10:00:%02d web1 myapp[1]: login failed for bob%d from 45.134.26.9\n", i, i)
	}
	for _, tt := range []struct {
		fromConfig bool
		events     int
	}{{true, 8}, {false, 0}} {
		t.Run(fmt.Sprintf("attack-from-config=%v", tt.fromConfig), func(t *testing.T) {
			dir := t.TempDir()
			attack, normal := filepath.Join(dir, "ad"), filepath.Join(dir, "nd")
			os.Mkdir(attack, 0o755)
			os.Mkdir(normal, 0o755)
			os.WriteFile(filepath.Join(attack, "local"), []byte("myapp auth-failure ^login failed for (?P<user>[^ ]+) from <HOST>$\n"), 0o644)
			os.WriteFile(filepath.Join(normal, "local"), []byte("^New seat seat[0-9]+\\.$\n"), 0o644)
			log := filepath.Join(dir, "old.log")
			os.WriteFile(log, []byte(lines.String()), 0o644)
			cfg := tuningConfig(t, dir, fmt.Sprintf("attack_dirs = [%q]", attack))
			flag := fmt.Sprintf("--attack-from-config=%v", tt.fromConfig)
			events := 0
			for _, v := range testedVerdicts(t, dir, "--config", cfg, "--rules", normal, flag, log) {
				if v.Verdict == "event" {
					events++
				}
			}
			stdout, stderr, code := runBinary(t, dir, "scan", "--config", cfg, "--rules", normal, flag, "--json", log)
			if code != 0 {
				t.Fatalf("scan: exit %d\n%s%s", code, stdout, stderr)
			}
			sum := scanCounts(t, stdout)
			if events != tt.events || int(sum["events"]) != tt.events || int(sum["unknown"]) != 8-tt.events {
				t.Errorf("rules test found %d events, scan stored %v events and %v unknown; want %d events", events, sum["events"], sum["unknown"], tt.events)
			}
		})
	}
	stdout, _, _ := runBinary(t, t.TempDir(), "scan", "-h")
	if !strings.Contains(stdout, "-attack-from-config") || !strings.Contains(stdout, "the configured attack_dirs stay") {
		t.Errorf("scan -h does not say the configured attack rules stay:\n%s", stdout)
	}
}

// rules test classifies as the daemon of its config does, with or without --rules:
// [detect] builtin_rules = false leaves the shipped rules out unless --builtin is
// given (the flag's default put them back), and with --rules the config's
// numeric_hosts and its sources' postgres_prefix still apply (it started from an empty
// config, and said unknown where scan stores events). rules suggest loads them so too.
func TestRulesTestClassifiesAsTheDaemonOfItsConfig(t *testing.T) {
	dir := t.TempDir()
	normal := filepath.Join(dir, "nd")
	os.Mkdir(normal, 0o755)
	os.WriteFile(filepath.Join(normal, "local"), []byte("^New seat seat[0-9]+\\.$\n"), 0o644)
	auth := filepath.Join(dir, "auth.log")
	os.WriteFile(auth, []byte("Dec  7 10:00:01 web1 sshd[5]: Failed password for root from 45.134.26.9 port 22 ssh2\n"), 0o644)
	own := tuningConfig(t, dir, "builtin_rules = false")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "unknown"},
		{[]string{"--rules", normal}, "unknown"},
		{[]string{"--builtin"}, "event"},
		{[]string{"--rules", normal, "--builtin"}, "event"},
	} {
		if v := testedVerdicts(t, dir, append([]string{"--config", own}, append(tt.args, auth)...)...); v[0].Verdict != tt.want {
			t.Errorf("builtin_rules = false, %v: %+v, want %s", tt.args, v[0], tt.want)
		}
	}
	if sum := scanCounts(t, mustScan(t, dir, own, auth)); sum["events"] != 0 {
		t.Errorf("scan with builtin_rules = false stored %v events, want 0", sum["events"])
	}

	pure := filepath.Join(dir, "pure.log")
	os.WriteFile(pure, []byte("Jan  7 14:19:31 ftpcdr pure-ftpd: (?@172.21.10.2) [WARNING] Authentication failed for user [root]\n"), 0o644)
	numeric := tuningConfig(t, t.TempDir(), `numeric_hosts = ["pure-ftpd"]`)
	for _, args := range [][]string{nil, {"--rules", normal}} {
		v := testedVerdicts(t, dir, append([]string{"--config", numeric}, append(args, pure)...)...)
		if v[0].Verdict != "event" || v[0].Addr != "172.21.10.2" {
			t.Errorf("numeric_hosts = [\"pure-ftpd\"], %v: %+v, want an event from 172.21.10.2", args, v[0])
		}
	}
	stdout, stderr, code := runBinary(t, dir, "rules", "suggest", "--config", numeric, "--rules", normal, pure)
	if code != 0 || !strings.Contains(stdout, "No unknown records: nothing to suggest.") || strings.Contains(stdout, "numeric_hosts") {
		t.Errorf("rules suggest --rules with numeric_hosts: exit %d\n%s%s", code, stdout, stderr)
	}

	capture, err := os.ReadFile(repoPath(t, "detect/testdata/postgres/postgres-15-stderr-recommended.log"))
	if err != nil {
		t.Fatal(err)
	}
	pgDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(pgDir, "postgresql-15-main.log"), capture, 0o644); err != nil {
		t.Fatal(err)
	}
	pg := pgConfig(t, pgDir, "%m %r [%p] ")
	v := testedVerdicts(t, pgDir, "--config", pg, "--rules", normal, "postgresql-15-main.log")
	if len(v) < 2 || v[1].Verdict != "event" || v[1].Class != "auth-failure" || v[1].Addr != "127.0.0.1" {
		t.Errorf("postgres_prefix with --rules, line 2: %+v, want auth-failure from 127.0.0.1", v[min(1, len(v)-1)])
	}
}

// mustScan runs scan --json of log with cfg and returns its output.
func mustScan(t *testing.T, dir, cfg, log string) string {
	t.Helper()
	stdout, stderr, code := runBinary(t, dir, "scan", "--config", cfg, "--json", log)
	if code != 0 {
		t.Fatalf("scan: exit %d\n%s%s", code, stdout, stderr)
	}
	return stdout
}

// rules test --rules DIR says when the daemon of its config does not load DIR: the
// README's loop tried /etc/abusewatch/normal.d, which no config listed, and rules test
// said normal while the daemon, reloaded, kept the lines unknown. A directory the
// config lists, relative to where the command runs as the daemon takes it, gets no note.
func TestRulesTestSaysTheDaemonDoesNotLoadTheDirectory(t *testing.T) {
	dir := t.TempDir()
	normal, attack := filepath.Join(dir, "nd"), filepath.Join(dir, "attack.d")
	os.Mkdir(normal, 0o755)
	os.Mkdir(attack, 0o755)
	os.WriteFile(filepath.Join(normal, "local"), []byte("^New seat seat[0-9]+\\.$\n"), 0o644)
	log := filepath.Join(dir, "auth.log")
	os.WriteFile(log, []byte("Dec  7 10:00:03 web1 systemd-logind[400]: New seat seat0.\n"), 0o644)
	cfg := tuningConfig(t, dir, "")
	stdout, stderr, code := runBinary(t, dir, "rules", "test", "--config", cfg, "--rules", normal, "--rules", attack, log)
	if code != 0 || !strings.Contains(stdout, "normal") ||
		!strings.Contains(stderr, "the daemon does not load "+normal+": add it to [detect] normal_dirs") ||
		!strings.Contains(stderr, "the daemon does not load "+attack+": add it to [detect] attack_dirs") {
		t.Errorf("directories the config does not list: exit %d\n%s%s", code, stdout, stderr)
	}
	cfg = tuningConfig(t, dir, `normal_dirs = ["nd"]
attack_dirs = ["attack.d"]`)
	stdout, stderr, code = runBinary(t, dir, "rules", "test", "--config", cfg, "--rules", normal, "--rules", attack, log)
	if code != 0 || strings.Contains(stderr, "does not load") {
		t.Errorf("directories the config lists: exit %d\n%s%s", code, stdout, stderr)
	}
}

// rules suggest proposes no rule for the entry that counts the shapes past the store's
// list (store.OtherShapes): one made from its sample dropped that one shape of the
// many it counts. --limit still gives that many proposals.
func TestRulesSuggestSkipsTheOtherShapesEntry(t *testing.T) {
	dir := t.TempDir()
	var lines strings.Builder
	letters := "ghijklmnopqrstuvwxyz" // no hex digits: a word of them is not masked
	word := func(i int) string {
		var w []byte
		for range 4 {
			w = append(w, letters[i%len(letters)])
			i /= len(letters)
		}
		return string(w)
	}
	// The first shape seen 3 times, the most frequent: the list fills with the others.
	for range 3 {
		lines.WriteString("Dec  7 10:00:00 web1 myapp[1]: job started\n")
	}
	for i := range store.MaxShapes + 50 {
		fmt.Fprintf(&lines, "Dec  7 %02d:%02d:%02d web1 myapp[1]: event %s happened\n", 10+i/3600, i/60%60, i%60, word(i))
	}
	log := filepath.Join(dir, "many.log")
	os.WriteFile(log, []byte(lines.String()), 0o644)
	cfg := tuningConfig(t, dir, "")
	mustScan(t, dir, cfg, log)
	stdout, stderr, code := runBinary(t, dir, "rules", "suggest", "--config", cfg, "--since", "3650d", "--limit", "2", "--json")
	var got []suggestion
	if err := json.Unmarshal([]byte(stdout), &got); code != 0 || err != nil {
		t.Fatalf("rules suggest: exit %d (%v)\n%s%s", code, err, stdout, stderr)
	}
	if len(got) != 2 || got[0].Shape != "myapp: job started" || got[1].Shape == store.OtherShapes || got[1].Count != 1 {
		t.Errorf("suggestions = %+v; want myapp: job started and one shape seen once", got)
	}
	stdout, _, _ = runBinary(t, dir, "rules", "suggest", "--config", cfg, "--since", "3650d", "--limit", "2")
	if !strings.Contains(stdout, "# 51 records of other shapes, counted together") {
		t.Errorf("rules suggest does not say what it left out:\n%s", stdout)
	}
}
