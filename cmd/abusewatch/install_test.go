package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

func TestInstallPutsFilesInPlaceAndKeepsAnEditedConfig(t *testing.T) {
	root := t.TempDir()
	stdout, stderr, code := runBinary(t, root, "install", "--root", root)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	for _, f := range []string{
		"usr/bin/abusewatch", "usr/lib/systemd/system/abusewatch.service", "usr/lib/sysusers.d/abusewatch.conf",
		"usr/lib/tmpfiles.d/abusewatch.conf", "etc/abusewatch/abusewatch.toml",
		"usr/share/abusewatch/rules/attack.d/sshd", "usr/share/abusewatch/report.tmpl",
	} {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			t.Errorf("install did not write %s: %v", f, err)
		}
	}
	if fi, err := os.Stat(filepath.Join(root, "usr/bin/abusewatch")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("the binary is not executable: %v", err)
	}
	if !strings.Contains(stdout, "systemctl daemon-reload && systemctl enable --now abusewatch") {
		t.Errorf("install does not say how to start the service:\n%s", stdout)
	}
	if _, err := os.Stat(filepath.Join(root, "etc/systemd/system/abusewatch.service")); !os.IsNotExist(err) {
		t.Errorf("install wrote the unit into /etc/systemd/system, the admin's: %v", err)
	}

	conf := filepath.Join(root, "etc/abusewatch/abusewatch.toml")
	edited := []byte("# mine\n[mail]\nfrom = \"me@example.org\"\n")
	if err := os.WriteFile(conf, edited, 0o640); err != nil {
		t.Fatal(err)
	}
	stdout, _, code = runBinary(t, root, "install", "--root", root)
	if code != 0 || !strings.Contains(stdout, "kept your edited") {
		t.Errorf("second install: exit %d\n%s", code, stdout)
	}
	if got, _ := os.ReadFile(conf); string(got) != string(edited) {
		t.Errorf("install overwrote the edited config")
	}
	if _, err := os.Stat(conf + ".new"); err != nil {
		t.Errorf("the shipped config was not put beside it as .new: %v", err)
	}
}

// The unit passes systemd-analyze verify and its security exposure is "OK" or better.
func TestServiceUnitVerifiesAndIsHardened(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed (Debian package systemd)")
	}
	unit, err := os.ReadFile(repoPath(t, "deploy/abusewatch.service"))
	if err != nil {
		t.Fatal(err)
	}
	// verify checks that ExecStart exists: point it at the binary under test.
	dir := t.TempDir()
	path := filepath.Join(dir, "abusewatch.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(string(unit), "/usr/bin/abusewatch", binary)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(analyze, "verify", path).CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err := exec.Command(analyze, "security", "--offline=true", path).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+) (\S+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	level, _ := strconv.ParseFloat(string(m[1]), 64)
	if level > 3.9 { // systemd calls up to 3.9 "OK", up to 1.9 "SAFE"
		t.Errorf("exposure level %s %s; want OK or better", m[1], m[2])
	}
}

// serviceIDs writes root/etc/passwd and root/etc/group with the abusewatch user and
// group as systemd-sysusers would, and returns their ids. Root may give files to any
// group; anyone else only to their own, so the group gets one of those ids then (a
// supplementary one where there is one: new files get the primary group anyway).
func serviceIDs(t *testing.T, root string) (uid, gid int) {
	t.Helper()
	uid, gid = 64123, 64123
	if os.Geteuid() != 0 {
		uid, gid = os.Getuid(), os.Getegid()
		groups, _ := os.Getgroups()
		for _, g := range groups {
			if g != gid {
				gid = g
				break
			}
		}
	}
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	for file, line := range map[string]string{
		"passwd": fmt.Sprintf("root:x:0:0:root:/root:/bin/sh\nabusewatch:x:%d:%d:abusewatch daemon:/var/lib/abusewatch:/usr/sbin/nologin\n", uid, gid),
		"group":  fmt.Sprintf("root:x:0:\nadm:x:4:abusewatch\nabusewatch:x:%d:\n", gid),
	} {
		if err := os.WriteFile(filepath.Join(root, "etc", file), []byte(line), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return uid, gid
}

// ownedBy fails the test unless path has this mode and group.
func ownedBy(t *testing.T, path string, mode os.FileMode, gid int) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != mode {
		t.Errorf("%s has mode %04o; want %04o", path, fi.Mode().Perm(), mode)
	}
	if got := int(fi.Sys().(*syscall.Stat_t).Gid); got != gid {
		t.Errorf("%s belongs to group %d; want %d (abusewatch)", path, got, gid)
	}
}

// The unit runs as abusewatch: the config and its directory are the abusewatch group's
// (0640, 0750), the group found in the tree's /etc/group as sysusers made it.
func TestInstallGivesTheConfigToTheServiceGroup(t *testing.T) {
	root := t.TempDir()
	_, gid := serviceIDs(t, root)
	stdout, stderr, code := runBinary(t, root, "install", "--root", root)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	conf := filepath.Join(root, "etc/abusewatch/abusewatch.toml")
	ownedBy(t, filepath.Dir(conf), 0o750, gid)
	ownedBy(t, conf, 0o640, gid)

	// An edited config is the admin's: kept as it is, with a warning when the service
	// cannot read it; the shipped one beside it is the group's like the first.
	if err := os.WriteFile(conf, []byte("# mine\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(conf, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(conf, -1, 0); err != nil && os.Geteuid() == 0 {
		t.Fatal(err)
	}
	stdout, stderr, code = runBinary(t, root, "install", "--root", root)
	if code != 0 {
		t.Fatalf("second install: exit %d\n%s%s", code, stdout, stderr)
	}
	ownedBy(t, conf+".new", 0o640, gid)
	if os.Geteuid() == 0 {
		ownedBy(t, conf, 0o600, 0)
		want := fmt.Sprintf("chgrp %d %s && chmod 0640 %s", gid, conf, conf)
		if !strings.Contains(stdout, "cannot read your "+conf) || !strings.Contains(stdout, want) {
			t.Errorf("install does not say the service cannot read the kept config (want %q):\n%s", want, stdout)
		}
	}
}

// Without the abusewatch group (sysusers has not run in the tree), install still makes
// the config unreadable to others and says exactly how to create the group and give
// the config to it.
func TestInstallWithoutTheServiceGroupSaysWhatToRun(t *testing.T) {
	root := t.TempDir()
	stdout, stderr, code := runBinary(t, root, "install", "--root", root)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	dir := filepath.Join(root, "etc/abusewatch")
	for _, want := range []string{
		"systemd-sysusers --root=" + root + " abusewatch.conf",
		"chgrp abusewatch " + dir + " " + filepath.Join(dir, "abusewatch.toml"),
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("install does not say %q:\n%s", want, stdout)
		}
	}
	ownedBy(t, dir, 0o750, os.Getegid())
	ownedBy(t, filepath.Join(dir, "abusewatch.toml"), 0o640, os.Getegid())
}

// The service user reads the installed config (check-config gets as far as the
// config's content), and another unprivileged user is refused.
func TestInstalledConfigIsReadableByTheServiceUserAndNoOneElse(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run as other users; TestInstallGivesTheConfigToTheServiceGroup checks the group and mode")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("setpriv is not installed (Debian package util-linux)")
	}
	root := t.TempDir()
	uid, gid := serviceIDs(t, root)
	// The other users must get through the test's own directories.
	for _, d := range []string{filepath.Dir(root), root} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if stdout, stderr, code := runBinary(t, root, "install", "--root", root); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	checkConfigAs := func(uid, gid int) string {
		cmd := exec.Command(setpriv, "--reuid="+strconv.Itoa(uid), "--regid="+strconv.Itoa(gid), "--clear-groups",
			filepath.Join(root, "usr/bin/abusewatch"), "check-config", "--config", filepath.Join(root, "etc/abusewatch/abusewatch.toml"))
		cmd.Dir = "/"
		out, _ := cmd.CombinedOutput()
		return string(out)
	}
	// The shipped config is valid but for who we are: the service gets to that.
	if out := checkConfigAs(uid, gid); strings.Contains(out, "permission denied") || !strings.Contains(out, "mail.from") {
		t.Errorf("check-config as the service user (%d:%d):\n%s", uid, gid, out)
	}
	if out := checkConfigAs(uid+1, gid+1); !strings.Contains(out, "permission denied") {
		t.Errorf("check-config as another user read the config:\n%s", out)
	}
}

// A drop-in is where an admin changes the unit, and a reinstall leaves it; a unit an
// earlier install put in /etc/systemd/system, edited or not, is never overwritten or
// removed, and install says how to move to a drop-in.
func TestReinstallNeverLosesTheAdminsUnitChanges(t *testing.T) {
	root := t.TempDir()
	if stdout, stderr, code := runBinary(t, root, "install", "--root", root); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	shipped, err := os.ReadFile(repoPath(t, "deploy/abusewatch.service"))
	if err != nil {
		t.Fatal(err)
	}
	dropIn := filepath.Join(root, "etc/systemd/system/abusewatch.service.d/override.conf")
	oldUnit := filepath.Join(root, "etc/systemd/system/abusewatch.service")
	edits := map[string][]byte{
		dropIn:  []byte("[Service]\nEnvironment=GOMEMLIMIT=512MiB\n"),
		oldUnit: append(append([]byte{}, shipped...), "Environment=GOMEMLIMIT=512MiB\n"...),
	}
	for path, b := range edits {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	stdout, stderr, code := runBinary(t, root, "install", "--root", root)
	if code != 0 {
		t.Fatalf("second install: exit %d\n%s%s", code, stdout, stderr)
	}
	for path, b := range edits {
		if got, err := os.ReadFile(path); err != nil || string(got) != string(b) {
			t.Errorf("reinstall changed %s: %v\n%s", path, err, got)
		}
	}
	if got, _ := os.ReadFile(filepath.Join(root, "usr/lib/systemd/system/abusewatch.service")); string(got) != string(shipped) {
		t.Errorf("the installed unit is not the shipped one")
	}
	for _, want := range []string{
		"warning: " + oldUnit + " overrides the unit installed in " + filepath.Join(root, "usr/lib/systemd/system/abusewatch.service"),
		"It differs from the shipped unit",
		"systemctl edit abusewatch",
		"rm " + oldUnit + " && systemctl daemon-reload && systemctl reenable abusewatch",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("install does not say %q:\n%s", want, stdout)
		}
	}
}
