package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func TestInstallPutsFilesInPlaceAndKeepsAnEditedConfig(t *testing.T) {
	root := t.TempDir()
	stdout, stderr, code := runBinary(t, root, "install", "--root", root)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	for _, f := range []string{
		"usr/bin/abusewatch", "etc/systemd/system/abusewatch.service", "usr/lib/sysusers.d/abusewatch.conf",
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
