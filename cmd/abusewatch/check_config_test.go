package main

import (
	"maps"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// The demo is made for scan, which names its log files: for run, it needs a [[source]].
func TestCheckConfigAcceptsTheDemo(t *testing.T) {
	doc, err := os.ReadFile(repoPath(t, "configs/demo.toml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	demo := filepath.Join(dir, "demo.toml")
	withSource := string(doc) + "\n[[source]]\nfiles = [\"" + repoPath(t, "configs/demo/auth.log") + "\"]\n"
	if err := os.WriteFile(demo, []byte(withSource), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runBinary(t, dir, "check-config", "--config", demo)
	if code != 0 || !strings.Contains(stdout, "OK") || !strings.Contains(stdout, "attack rules") || stderr != "" {
		t.Errorf("exit %d\n%s%s", code, stdout, stderr)
	}
	// One [[source]] file is "1 log file" (it said "1 log files").
	if !strings.Contains(stdout, ", 1 log file, mode") {
		t.Errorf("check-config does not count one log file in the singular:\n%s", stdout)
	}
}

// The example in observe mode needs no mail.from: nothing leaves but the admin's mail.
func TestCheckConfigAcceptsObserveModeWithoutMailFrom(t *testing.T) {
	doc, err := os.ReadFile(repoPath(t, "configs/abusewatch.toml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	observe := strings.Replace(string(doc), "\nmode = \"review\"", "\nmode = \"observe\"", 1)
	if err := os.WriteFile(filepath.Join(dir, "x.toml"), []byte(observe), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runBinary(t, dir, "check-config", "x.toml")
	if code != 0 || !strings.Contains(stdout, "x.toml: OK: ") || !strings.Contains(stdout, "mode observe") {
		t.Errorf("exit %d\n%s%s", code, stdout, stderr)
	}
}

// What run refuses, check-config refuses first, with the same words.
func TestCheckConfigRefusesWhatRunRefuses(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "auth.log")
	if err := os.WriteFile(logFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	base := "[reporter]\nname = \"Test Admin\"\n[mail]\nfrom = \"abusewatch@example.org\"\n[store]\npath = \"" + filepath.Join(dir, "state.db") + "\"\n" +
		"[admin]\nsocket = \"" + filepath.Join(dir, "admin.sock") + "\"\n"
	source := "[[source]]\nfiles = [\"" + logFile + "\"]\n"
	for _, tc := range []struct{ name, doc, want string }{
		{"nothing to watch", base, "bad.toml: no [[source]] files, no [journal] and no [syslog] listener configured: nothing to watch"},
		{"metrics without port", base + source + "[metrics]\nlisten = \"localhost\"\n", `bad.toml:12: metrics.listen: "localhost" is not an address to listen on`},
		{"no such group", base + "group = \"nosuchgroup\"\n" + source, `bad.toml:9: admin.group: no group "nosuchgroup" on this host`},
		{"missing certificate", base + source + "[syslog]\ntls = [\"127.0.0.1:0\"]\nallow = [\"127.0.0.1\"]\ncert_file = \"" + filepath.Join(dir, "cert.pem") +
			"\"\nkey_file = \"" + filepath.Join(dir, "key.pem") + "\"\n", "bad.toml:14: syslog.cert_file: open " + filepath.Join(dir, "cert.pem") + ": no such file or directory"},
		{"directory as log file", base + "[[source]]\nfiles = [\"" + dir + "\"]\n", "bad.toml:10: source[0].files: " + dir + " is a directory: name the log files in it"},
		{"host bits", base + source + "[policy]\nnever_report = [\"45.134.26.7/8\"]\n", "bad.toml:12: policy.never_report: 45.134.26.7/8 has address bits set past /8: write the network as 45.0.0.0/8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(filepath.Join(dir, "bad.toml"), []byte(tc.doc), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, cmd := range []string{"check-config", "run"} {
				_, stderr, code := runBinary(t, dir, cmd, "--config", "bad.toml")
				if code != 1 || !strings.HasPrefix(stderr, "abusewatch "+cmd+": "+tc.want) {
					t.Errorf("%s: exit %d, stderr %q; want exit 1 and %q", cmd, code, stderr, tc.want)
				}
			}
		})
	}
}

// Only check-config (for now) expands the globs and knows the classes the rules make.
func TestCheckConfigRefusesUnknownClassesAndDirectoryGlobs(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "old"), 0o755); err != nil {
		t.Fatal(err)
	}
	base := "[reporter]\nname = \"Test Admin\"\n[mail]\nfrom = \"abusewatch@example.org\"\n"
	for _, tc := range []struct{ doc, want string }{
		{base + "[[source]]\nfiles = [\"" + dir + "/*\"]\n", "bad.toml:6: source[0].files: " + dir + "/* matches the directory " + dir + "/old"},
		{base + "[journal]\nenabled = true\n[correlate]\nreportable = [\"auth-failures\"]\n",
			`bad.toml:8: correlate.reportable: "auth-failures" is not an event class: neither abusewatch nor an attack rule makes it, so it would count nothing (did you mean "auth-failure"?)`},
	} {
		if err := os.WriteFile(filepath.Join(dir, "bad.toml"), []byte(tc.doc), 0o644); err != nil {
			t.Fatal(err)
		}
		_, stderr, code := runBinary(t, dir, "check-config", "bad.toml")
		if code != 1 || !strings.HasPrefix(stderr, "abusewatch check-config: "+tc.want) {
			t.Errorf("exit %d, stderr %q; want exit 1 and %q", code, stderr, tc.want)
		}
	}
}

// A log file that is not there yet is followed when it appears: a warning, not a failure.
func TestCheckConfigWarnsOfMissingLogFile(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "auth.log")
	doc := "[reporter]\nname = \"Test Admin\"\n[mail]\nfrom = \"abusewatch@example.org\"\n[[source]]\nfiles = [\"" + missing + "\"]\n"
	if err := os.WriteFile(filepath.Join(dir, "x.toml"), []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runBinary(t, dir, "check-config", "x.toml")
	want := "warning: x.toml:6: source[0].files: " + missing + " does not exist (yet): it will be read when it appears" +
		" (if sshd logs only to the systemd journal, as on Debian 12 and later without rsyslog, set [journal] enabled = true)\n"
	if code != 0 || stderr != want || !strings.HasPrefix(stdout, "x.toml: OK: ") {
		t.Errorf("exit %d\nstdout %q\nstderr %q\nwant stderr %q", code, stdout, stderr, want)
	}
}

// The metrics endpoint has no authentication: a listen address other hosts reach is
// warned of (":9733" passed without a word), loopback is not.
func TestCheckConfigWarnsOfMetricsOnEveryInterface(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "auth.log")
	if err := os.WriteFile(logFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ listen, want string }{
		{":9733", `listens on every interface`},
		{"0.0.0.0:9733", `listens on every interface`},
		{"[::]:9733", `listens on every interface`},
		{"192.0.2.7:9733", `listens on 192.0.2.7, not loopback`},
		{"127.0.0.1:9733", ""},
		{"[::1]:9733", ""},
		{"localhost:9733", ""},
	} {
		doc := "[reporter]\nname = \"Test Admin\"\n[mail]\nfrom = \"abusewatch@example.org\"\n[[source]]\nfiles = [\"" + logFile + "\"]\n" +
			"[metrics]\nlisten = \"" + tc.listen + "\"\n"
		if err := os.WriteFile(filepath.Join(dir, "x.toml"), []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		stdout, stderr, code := runBinary(t, dir, "check-config", "x.toml")
		switch {
		case code != 0 || !strings.HasPrefix(stdout, "x.toml: OK: "):
			t.Errorf("%s: exit %d\n%s%s", tc.listen, code, stdout, stderr)
		case tc.want == "" && stderr != "":
			t.Errorf("%s: warned of loopback: %s", tc.listen, stderr)
		case tc.want != "" && !strings.Contains(stderr, "warning: x.toml:8: metrics.listen: \""+tc.listen+"\" "+tc.want+": anyone who reaches the port reads the metrics"):
			t.Errorf("%s: stderr %q; want a warning that it %s", tc.listen, stderr, tc.want)
		}
	}
}

// A normal rule written so that it loads but never matches (white space after its
// closing $, as an editor leaves it) is warned of with its file and line, as rules test
// does: check-config said OK, and the records it was for stayed unknown.
func TestCheckConfigWarnsOfANormalRuleThatNeverMatches(t *testing.T) {
	dir := t.TempDir()
	logFile, rules := filepath.Join(dir, "auth.log"), filepath.Join(dir, "normal")
	if err := os.WriteFile(logFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(rules, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rules, "backupd"), []byte("^nightly copy finished in [0-9]+ s$ \n"), 0o644); err != nil {
		t.Fatal(err)
	}
	writeConfig(t, dir, "[reporter]\nname = \"Test Admin\"\n[mail]\nfrom = \"abusewatch@example.org\"\n[[source]]\nfiles = [\""+logFile+"\"]\n"+
		"[detect]\nnormal_dirs = [\""+rules+"\"]\n")
	stdout, stderr, code := runBinary(t, dir, "check-config", "x.toml")
	if want := "warning: " + filepath.Join(rules, "backupd") + ":1: white space after the closing $"; code != 0 || !strings.HasPrefix(stdout, "x.toml: OK: ") || !strings.Contains(stderr, want) {
		t.Errorf("exit %d\nstdout %q\nstderr %q\nwant a warning %q", code, stdout, stderr, want)
	}
}

// A bad config gives file:line: key: problem (did you mean …?), and run refuses to start.
func TestBadConfigIsRefusedByCheckConfigAndRun(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules")
	if err := os.Mkdir(rules, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rules, "local"), []byte("^fine$\n^(unclosed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := "[mail]\nfrom = \"abusewatch@example.org\"\n[store]\npath = \"" + filepath.Join(dir, "state.db") + "\"\n" +
		"[[source]]\nfiles = [\"" + filepath.Join(dir, "auth.log") + "\"]\n"
	for _, tc := range []struct{ name, doc, want string }{
		{"unknown key", base + "[correlate]\nthresold = 3\n", `bad.toml:8: correlate.thresold: unknown key (did you mean "threshold"?)`},
		{"wrong type", base + "[correlate]\nwindow = 10\n", `bad.toml:8: correlate.window: wrong type`},
		{"bad rule", base + "[detect]\nnormal_dirs = [\"" + rules + "\"]\n[reporter]\nname = \"Test Admin\"\n", rules + "/local:2: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := filepath.Join(dir, "bad.toml")
			if err := os.WriteFile(cfg, []byte(tc.doc), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, cmd := range []string{"check-config", "run"} {
				_, stderr, code := runBinary(t, dir, cmd, "--config", "bad.toml")
				if code != 1 || !strings.Contains(stderr, tc.want) {
					t.Errorf("%s: exit %d, stderr %q; want exit 1 and %q", cmd, code, stderr, tc.want)
				}
			}
			if _, err := os.Stat(filepath.Join(dir, "state.db")); err == nil && tc.name != "bad rule" {
				t.Errorf("run created the store although the config is bad")
			}
		})
	}
}

func TestVersionAndUsage(t *testing.T) {
	stdout, _, code := runBinary(t, t.TempDir(), "version")
	if code != 0 || !strings.HasPrefix(stdout, "abusewatch ") {
		t.Errorf("version: exit %d, %q", code, stdout)
	}
	stdout, _, code = runBinary(t, t.TempDir(), "--help")
	for _, sub := range []string{"run", "scan", "check-config", "version"} {
		if code != 0 || !strings.Contains(stdout, "  "+sub+" ") {
			t.Errorf("--help does not list %s (exit %d):\n%s", sub, code, stdout)
		}
	}
	_, stderr, code := runBinary(t, t.TempDir(), "frobnicate")
	if code != 2 || !strings.Contains(stderr, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: exit %d, %q", code, stderr)
	}
	// A typo gets the command it is near, as a config key does.
	if _, stderr, code := runBinary(t, t.TempDir(), "scna", "x.log"); code != 2 || !strings.Contains(stderr, `unknown command "scna": did you mean "scan"?`) {
		t.Errorf("a mistyped command: exit %d, %q", code, stderr)
	}
}

// otherUsersDir is a test directory that other users may enter, as may the binary's.
func otherUsersDir(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to run check-config as another user")
	}
	dir := t.TempDir()
	for _, p := range []string{filepath.Dir(binary), filepath.Dir(dir), dir} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// runAs runs the binary to completion in dir as uid:gid with groups, as runuser would.
func runAs(t *testing.T, dir string, uid, gid uint32, groups []uint32, args ...string) (string, string, int) {
	t.Helper()
	return runBinaryAs(t, dir, &syscall.Credential{Uid: uid, Gid: gid, Groups: groups}, args...)
}

const nobody = 65534

// writeConfig writes doc to dir/x.toml, readable by everyone.
func writeConfig(t *testing.T, dir, doc string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "x.toml"), []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
}

// check-config run as the service user (the README's install step) warns of a log file
// that user cannot open, with the fix for it: RHEL's /var/log/secure is root:root 0600,
// which no group helps; a file its group may read wants the user in that group. (It
// said OK: only the daemon's first attempt showed it.)
func TestCheckConfigAsTheServiceUserWarnsOfALogFileItCannotRead(t *testing.T) {
	dir := otherUsersDir(t)
	secure, authLog := filepath.Join(dir, "secure"), filepath.Join(dir, "auth.log")
	for _, f := range []string{secure, authLog} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(authLog, 0o640); err != nil { // root:root 0640: its group may read it
		t.Fatal(err)
	}
	writeConfig(t, dir, "[reporter]\nname = \"Test Admin\"\n[mail]\nfrom = \"abusewatch@example.org\"\n[admin]\nsocket = \"\"\n"+
		"[store]\npath = \""+filepath.Join(dir, "state.db")+"\"\n[[source]]\nfiles = [\"secure\", \""+dir+"/auth.*\"]\n")
	if err := os.Chown(dir, nobody, -1); err != nil { // the store's directory is the user's
		t.Fatal(err)
	}
	stdout, stderr, code := runAs(t, dir, nobody, nobody, nil, "check-config", "x.toml")
	if code != 0 || !strings.HasPrefix(stdout, "x.toml: OK: ") {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	for _, want := range []string{
		"warning: x.toml:10: source[0].files: secure cannot be read by nobody (uid 65534), the user abusewatch runs as here: open secure: permission denied",
		"give nobody read access with an ACL (setfacl -m u:nobody:r " + secure + ")",
		"the daemon reads the file as soon as it may, without a restart",
		"warning: x.toml:10: source[0].files: " + authLog + " cannot be read by nobody (uid 65534)",
		"add nobody to that group (usermod -aG root nobody) and restart the daemon",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("check-config as nobody does not say %q:\n%s", want, stderr)
		}
	}
	// The user the files are readable to gets no warning.
	if _, stderr, code := runBinary(t, dir, "check-config", "x.toml"); code != 0 || stderr != "" {
		t.Errorf("check-config as root: exit %d\n%s", code, stderr)
	}
}

// check-config run as the service user warns of journal files that user may not read:
// journalctl, run with --quiet, would show it its own entries only and say nothing, and
// the daemon would read nothing of sshd's.
func TestCheckConfigAsTheServiceUserWarnsOfAJournalItCannotRead(t *testing.T) {
	dir := otherUsersDir(t)
	journal := filepath.Join(dir, "journal", "0123456789abcdef0123456789abcdef")
	if err := os.MkdirAll(journal, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(journal, "system.journal")
	if err := os.WriteFile(file, nil, 0o640); err != nil { // root:root, as systemd-journal's would be to a stranger
		t.Fatal(err)
	}
	writeConfig(t, dir, "[reporter]\nname = \"Test Admin\"\n[mail]\nfrom = \"abusewatch@example.org\"\n[admin]\nsocket = \"\"\n"+
		"[store]\npath = \""+filepath.Join(dir, "state.db")+"\"\n[journal]\nenabled = true\ndirectory = \""+filepath.Join(dir, "journal")+"\"\n")
	if err := os.Chown(dir, nobody, -1); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runAs(t, dir, nobody, nobody, nil, "check-config", "x.toml")
	want := "warning: x.toml:11: journal.directory: nobody (uid 65534), the user abusewatch runs as here, may not read the journal's files (such as " + file + ")"
	if code != 0 || !strings.HasPrefix(stdout, "x.toml: OK: ") || !strings.Contains(stderr, want) || !strings.Contains(stderr, "usermod -aG systemd-journal nobody") {
		t.Errorf("exit %d\n%s%s\nwant %q", code, stdout, stderr, want)
	}
	// A user who may read them, or a member of the file's group, gets no warning.
	if err := os.Chmod(file, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := runAs(t, dir, nobody, nobody, nil, "check-config", "x.toml"); code != 0 || strings.Contains(stderr, "journal") {
		t.Errorf("check-config with a readable journal: exit %d\n%s", code, stderr)
	}
}

// check-config run as the service user refuses a store that user cannot write, naming
// the directory or file, the user and the fix, as run does when it opens the store.
// (check-config said OK.)
func TestCheckConfigRefusesAStoreTheUserCannotWrite(t *testing.T) {
	dir := otherUsersDir(t)
	st := filepath.Join(dir, "st")
	if err := os.Mkdir(st, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "auth.log"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	writeConfig(t, dir, "[reporter]\nname = \"Test Admin\"\n[mail]\nfrom = \"abusewatch@example.org\"\n[admin]\nsocket = \"\"\n"+
		"[store]\npath = \"st/state.db\"\n[[source]]\nfiles = [\"auth.log\"]\n")
	for _, tc := range []struct {
		name, want, fix string
		prepare         func() error
	}{
		{"directory", "x.toml:8: store.path: nobody (uid 65534), the user abusewatch runs as here, cannot write the store's directory st: permission denied " +
			"(if nobody is the daemon's user, give it the directory: chown nobody: st;", "chown nobody: st", func() error { return nil }},
		{"database", "x.toml:8: store.path: nobody (uid 65534), the user abusewatch runs as here, cannot write the store st/state.db: permission denied " +
			"(if nobody is the daemon's user, give it the file (a scan or query run as root before the first start may have made it): chown nobody: st/state.db;",
			"chown nobody: st/state.db", func() error {
				if err := os.Chown(st, nobody, -1); err != nil {
					return err
				}
				return os.WriteFile(filepath.Join(st, "state.db"), []byte("root's"), 0o640)
			}},
	} {
		if err := tc.prepare(); err != nil {
			t.Fatal(err)
		}
		_, stderr, code := runAs(t, dir, nobody, nobody, nil, "check-config", "--config", "x.toml")
		if code != 1 || !strings.HasPrefix(stderr, "abusewatch check-config: "+tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want exit 1 and %q", tc.name, code, stderr, tc.want)
		}
		// run meets it on opening the store, and names the same fix.
		if _, stderr, code := runAs(t, dir, nobody, nobody, nil, "run", "--config", "x.toml"); code != 1 || !strings.Contains(stderr, tc.fix) {
			t.Errorf("%s: run: exit %d, stderr %q; want exit 1 and %q", tc.name, code, stderr, tc.fix)
		}
	}
}

// The daemon gives the admin socket to [admin] group, which chown(2) allows only to a
// member: check-config and run, as a user outside the group, say that the daemon's user
// must be a member, naming both. (run said "admin.socket: chown …: operation not
// permitted: set it to a path the daemon may create"; check-config said OK.)
func TestCheckConfigAndRunRefuseAnAdminGroupTheUserIsNotIn(t *testing.T) {
	dir := otherUsersDir(t)
	if err := os.Chown(dir, nobody, -1); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "auth.log"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	g, err := user.LookupGroupId("0")
	if err != nil {
		t.Skip("no name for group 0")
	}
	writeConfig(t, dir, "[reporter]\nname = \"Test Admin\"\n[mail]\nfrom = \"abusewatch@example.org\"\n"+
		"[admin]\nsocket = \"admin.sock\"\ngroup = \""+g.Name+"\"\n[store]\npath = \"state.db\"\n[[source]]\nfiles = [\"auth.log\"]\n")
	want := "x.toml:7: admin.group: the daemon's user must be a member of [admin] group " + g.Name + " (gid 0) to give the admin socket to it, " +
		"and nobody (uid 65534), the user abusewatch runs as here, is not: add it (usermod -aG " + g.Name + " nobody) and restart the daemon"
	for _, cmd := range []string{"check-config", "run"} {
		_, stderr, code := runAs(t, dir, nobody, nobody, nil, cmd, "--config", "x.toml")
		if code != 1 || !strings.HasPrefix(stderr, "abusewatch "+cmd+": "+want) {
			t.Errorf("%s: exit %d, stderr %q; want exit 1 and %q", cmd, code, stderr, want)
		}
	}
	// A member, by a supplementary group as usermod -aG makes it, passes.
	if stdout, stderr, code := runAs(t, dir, nobody, nobody, []uint32{0}, "check-config", "x.toml"); code != 0 {
		t.Errorf("check-config as a member: exit %d\n%s%s", code, stdout, stderr)
	}
}

// unitTree writes below a new directory the shipped unit, as the package installs it,
// and the drop-ins given (path below the root: contents); it returns the root.
func unitTree(t *testing.T, dropins map[string]string) string {
	t.Helper()
	root := t.TempDir()
	unit, err := os.ReadFile(repoPath(t, "deploy/abusewatch.service"))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"usr/lib/systemd/system/abusewatch.service": string(unit)}
	maps.Copy(files, dropins)
	for path, text := range files {
		if err := os.MkdirAll(filepath.Join(root, filepath.Dir(path)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, path), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{filepath.Dir(root), root} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// systemd starts the service with its user's groups and the unit's Group= and
// SupplementaryGroups=; runuser, which check-config runs under (README), gives the
// first only. So check-config, run as the unit's User=, counts the groups the unit and
// its drop-ins give as the service's: an [admin] group, a log file and the journal's
// files that the daemon will read through a group a drop-in gives are no error and no
// warning, and a note names the group and the drop-in. (It said the user must be
// added to the group, and warned of each file, a false alarm for a drop-in's group.)
func TestCheckConfigCountsTheGroupsADropInGivesTheService(t *testing.T) {
	dir := otherUsersDir(t)
	if err := os.Chown(dir, nobody, -1); err != nil { // the store's directory is the user's
		t.Fatal(err)
	}
	g, err := user.LookupGroupId("0")
	if err != nil {
		t.Skip("no name for group 0")
	}
	authLog := filepath.Join(dir, "auth.log")
	journal := filepath.Join(dir, "journal", "0123456789abcdef0123456789abcdef")
	if err := os.MkdirAll(journal, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{authLog, filepath.Join(journal, "system.journal")} {
		if err := os.WriteFile(f, nil, 0o640); err != nil { // root:root 0640: its group may read it
			t.Fatal(err)
		}
	}
	writeConfig(t, dir, "[reporter]\nname = \"Test Admin\"\n[mail]\nfrom = \"abusewatch@example.org\"\n"+
		"[admin]\nsocket = \"admin.sock\"\ngroup = \""+g.Name+"\"\n[store]\npath = \"state.db\"\n[[source]]\nfiles = [\"auth.log\"]\n"+
		"[journal]\nenabled = true\ndirectory = \""+filepath.Join(dir, "journal")+"\"\n")
	nogroup, err := user.LookupGroupId(strconv.Itoa(nobody))
	if err != nil {
		t.Skip("no name for nobody's group")
	}
	// The drop-ins make the unit nobody's, and give it only groups this host has.
	const asNobody = "etc/systemd/system/abusewatch.service.d/10-user.conf"
	groups := "etc/systemd/system/abusewatch.service.d/20-" + g.Name + ".conf"
	root := unitTree(t, map[string]string{
		asNobody: "[Service]\nUser=nobody\nGroup=" + nogroup.Name + "\n",
		groups:   "# the admins' group\n[Service]\nSupplementaryGroups=\nSupplementaryGroups=\\\n  " + g.Name + "\n",
	})
	stdout, stderr, code := runAs(t, dir, nobody, nobody, nil, "check-config", "--unit-root", root, "x.toml")
	if code != 0 || strings.Contains(stderr, "warning") || !strings.HasPrefix(stdout, "note: ") {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	for _, want := range []string{
		"note: admin.group: nobody (uid 65534) may give the admin socket to " + g.Name + " through the group " + g.Name + " (gid 0), which SupplementaryGroups= in " +
			filepath.Join(root, groups) + " gives the service (runuser does not)\n",
		"note: source[0].files: nobody (uid 65534) may read auth.log through the group " + g.Name + " (gid 0), which SupplementaryGroups= in " + filepath.Join(root, groups),
		"note: journal: nobody (uid 65534) may read the journal's files, such as " + filepath.Join(journal, "system.journal") + " through the group " + g.Name,
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("check-config does not say %q:\n%s", want, stdout)
		}
	}

	// The groups are the unit's user's only; an empty SupplementaryGroups= in a later
	// drop-in clears the list, and a drop-in's name in /etc hides the same in /usr/lib.
	for name, dropins := range map[string]map[string]string{
		"another user's unit": {groups: "[Service]\nSupplementaryGroups=" + g.Name + "\n"},
		"cleared":             {asNobody: "[Service]\nUser=nobody\n", groups: "[Service]\nSupplementaryGroups=" + g.Name + "\n", "etc/systemd/system/abusewatch.service.d/30-clear.conf": "[Service]\nSupplementaryGroups=\n"},
		"hidden": {asNobody: "[Service]\nUser=nobody\n", "usr/lib/systemd/system/abusewatch.service.d/20-groups.conf": "[Service]\nSupplementaryGroups=" + g.Name + "\n",
			"etc/systemd/system/abusewatch.service.d/20-groups.conf": "[Service]\nSupplementaryGroups=adm\n"},
	} {
		_, stderr, code := runAs(t, dir, nobody, nobody, nil, "check-config", "--unit-root", unitTree(t, dropins), "x.toml")
		if code != 1 || !strings.Contains(stderr, "admin.group: the daemon's user must be a member of [admin] group "+g.Name) {
			t.Errorf("%s: exit %d, want the admin group refused:\n%s", name, code, stderr)
		}
	}
}

// An attack rule whose class nothing counts (a typo: auth-failur) is warned of with its
// file and line and the class meant: check-config said OK, rules test showed its events,
// and the scan made no incident, without a word. A new class that [correlate]
// reportable lists is what the admin means: no warning.
func TestCheckConfigWarnsOfAMisspeltAttackRuleClass(t *testing.T) {
	dir := t.TempDir()
	logFile, rules := filepath.Join(dir, "auth.log"), filepath.Join(dir, "attack")
	if err := os.WriteFile(logFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(rules, 0o755); err != nil {
		t.Fatal(err)
	}
	local := "# myapp's logins\n" +
		"myapp auth-failur ^login failed for (?P<user>[^ ]+) from <HOST>$\n" +
		"myapp auth-failur ^login refused for (?P<user>[^ ]+) from <HOST>$\n" +
		"myapp token-abuse ^bad token from <HOST>$\n" +
		"myapp auth-failure ^password wrong for (?P<user>[^ ]+) from <HOST>$\n"
	if err := os.WriteFile(filepath.Join(rules, "myapp"), []byte(local), 0o644); err != nil {
		t.Fatal(err)
	}
	head := "[reporter]\nname = \"Test Admin\"\n[mail]\nfrom = \"abusewatch@example.org\"\n[[source]]\nfiles = [\"" + logFile + "\"]\n" +
		"[detect]\nattack_dirs = [\"" + rules + "\"]\n"
	writeConfig(t, dir, head)
	stdout, stderr, code := runBinary(t, dir, "check-config", "x.toml")
	want := "warning: " + filepath.Join(rules, "myapp") + ":2: class auth-failur: no shipped rule makes it and [correlate] reportable does not list it, so its events never make an incident of one address; did you mean auth-failure?\n" +
		"warning: " + filepath.Join(rules, "myapp") + ":4: class token-abuse: no shipped rule makes it and [correlate] reportable does not list it, so its events never make an incident of one address: if it is a class to report, list it in [correlate] reportable\n"
	if code != 0 || !strings.HasPrefix(stdout, "x.toml: OK: ") || stderr != want {
		t.Errorf("exit %d\nstdout %q\nstderr %q\nwant   %q", code, stdout, stderr, want)
	}
	writeConfig(t, dir, head+"[correlate]\nreportable = [\"auth-failure\", \"invalid-user\", \"token-abuse\"]\n")
	stdout, stderr, code = runBinary(t, dir, "check-config", "x.toml")
	if want := want[:strings.Index(want, "\n")+1]; code != 0 || !strings.HasPrefix(stdout, "x.toml: OK: ") || stderr != want {
		t.Errorf("with token-abuse reportable: exit %d\nstdout %q\nstderr %q\nwant   %q", code, stdout, stderr, want)
	}
}

// A rule file the service user cannot read (Debian's logcheck rule files are
// root:logcheck 0640) is named with its directory and the config key that names it, and
// how to let the user read it. It said "rule file: open local: permission denied".
func TestCheckConfigAsTheServiceUserNamesARuleFileItCannotRead(t *testing.T) {
	dir := otherUsersDir(t)
	logFile, rules := filepath.Join(dir, "auth.log"), filepath.Join(dir, "ignore.d.server")
	if err := os.WriteFile(logFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(rules, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rules, "local"), []byte("^nightly backup done$\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	writeConfig(t, dir, "[reporter]\nname = \"Test Admin\"\n[mail]\nfrom = \"abusewatch@example.org\"\n[admin]\nsocket = \"\"\n"+
		"[store]\npath = \""+filepath.Join(dir, "state.db")+"\"\n[[source]]\nfiles = [\""+logFile+"\"]\n"+
		"[detect]\nnormal_dirs = [\""+rules+"\"]\n")
	if err := os.Chown(dir, nobody, -1); err != nil { // the store's directory is the user's
		t.Fatal(err)
	}
	_, stderr, code := runAs(t, dir, nobody, nobody, nil, "check-config", "x.toml")
	want := "x.toml:12: detect.normal_dirs: rule file \"" + filepath.Join(rules, "local") + "\" cannot be read by nobody (uid 65534): permission denied " +
		"(the file's group root may read it: add nobody to that group (usermod -aG root nobody) and restart the daemon)"
	if code == 0 || !strings.Contains(stderr, want) {
		t.Errorf("exit %d\nstderr %q\nwant %q", code, stderr, want)
	}
}

// A relative rule directory is found where check-config runs (the config's directory)
// and not by the service, which runs in /: check-config said OK and the service refused
// to start. It is warned of, with the path to write.
func TestCheckConfigWarnsOfARelativeRuleDirectory(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "auth.log")
	if err := os.WriteFile(logFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "normal.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeConfig(t, dir, "[reporter]\nname = \"Test Admin\"\n[mail]\nfrom = \"abusewatch@example.org\"\n[[source]]\nfiles = [\""+logFile+"\"]\n"+
		"[detect]\nnormal_dirs = [\"normal.d\"]\n")
	stdout, stderr, code := runBinary(t, dir, "check-config", "x.toml")
	want := "warning: x.toml:8: detect.normal_dirs: \"normal.d\" is a relative path: it is taken from the directory abusewatch runs in (here " + dir +
		"), not from the config file's, and the service runs in /, where it is /normal.d (write the whole path, e.g. \"" + filepath.Join(dir, "normal.d") + "\")\n"
	if code != 0 || !strings.HasPrefix(stdout, "x.toml: OK: ") || stderr != want {
		t.Errorf("exit %d\nstdout %q\nstderr %q\nwant   %q", code, stdout, stderr, want)
	}
}
