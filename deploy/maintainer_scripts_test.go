package deploy

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// The scripts honour $DPKG_ROOT (dpkg --root), so these tests run them on a tree of
// their own, with the real dpkg, systemctl and systemd-sysusers, and never touch this
// system's services or users.

func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
}

// run runs a command with extra environment and fails the test when it fails.
func run(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// idIn returns name's id in a passwd or group file of the tree.
func idIn(t *testing.T, file, name string) int {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if f := strings.Split(line, ":"); len(f) > 2 && f[0] == name {
			id, err := strconv.Atoi(f[2])
			if err != nil {
				t.Fatal(err)
			}
			return id
		}
	}
	t.Fatalf("%s has no %s", file, name)
	return -1
}

// The .deb's life in a tree: install creates the user and gives the config to its
// group; a reinstall (an upgrade) leaves the enabled service enabled; remove disables it
// and keeps the state and the config; purge deletes the state.
func TestDebInstallRemoveAndPurge(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and the packages")
	}
	if os.Geteuid() != 0 {
		t.Skip("dpkg --root sets the owners of what it unpacks: needs root")
	}
	needTools(t, "dpkg", "systemctl", "systemd-sysusers", "systemd-tmpfiles")
	dir := t.TempDir()
	var deb string
	for name := range buildPackages(t, dir) { // skips without nfpm
		if strings.HasSuffix(name, ".deb") {
			deb = filepath.Join(dir, name)
		}
	}
	root := t.TempDir()
	for _, d := range []string{"etc", "var/lib/dpkg/info", "var/lib/dpkg/updates"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "var/lib/dpkg/status"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	dpkg := func(args ...string) string {
		t.Helper()
		return run(t, nil, "dpkg", append([]string{"--root=" + root, "--force-script-chrootless"}, args...)...)
	}

	dpkg("--install", deb)
	gid := idIn(t, filepath.Join(root, "etc/group"), "abusewatch")
	idIn(t, filepath.Join(root, "etc/passwd"), "abusewatch")
	for path, mode := range map[string]os.FileMode{"etc/abusewatch": 0o750, "etc/abusewatch/abusewatch.toml": 0o640} {
		fi, err := os.Stat(filepath.Join(root, path))
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); fi.Mode().Perm() != mode || st.Uid != 0 || int(st.Gid) != gid {
			t.Errorf("after install, /%s is %04o %d:%d; want %04o root:abusewatch (0:%d)", path, fi.Mode().Perm(), st.Uid, st.Gid, mode, gid)
		}
	}
	run(t, nil, "systemctl", "--root="+root, "enable", "abusewatch.service")
	enabled := filepath.Join(root, "etc/systemd/system/multi-user.target.wants/abusewatch.service")
	state := filepath.Join(root, "var/lib/abusewatch/state.db")
	if err := os.WriteFile(state, []byte("the state database"), 0o640); err != nil {
		t.Fatal(err)
	}

	dpkg("--install", deb) // the same version again: prerm upgrade, postinst configure VERSION
	if !exists(enabled) || !exists(state) {
		t.Errorf("after an upgrade: enabled %v, state kept %v; want both", exists(enabled), exists(state))
	}

	dpkg("--remove", "abusewatch")
	if exists(enabled) {
		t.Errorf("after remove the service is still enabled")
	}
	for _, path := range []string{state, filepath.Join(root, "etc/abusewatch/abusewatch.toml")} {
		if !exists(path) {
			t.Errorf("remove deleted %s", path)
		}
	}

	dpkg("--purge", "abusewatch")
	for _, path := range []string{filepath.Join(root, "var/lib/abusewatch"), filepath.Join(root, "etc/abusewatch")} {
		if exists(path) {
			t.Errorf("purge left %s", path)
		}
	}
	idIn(t, filepath.Join(root, "etc/passwd"), "abusewatch") // the user stays: files may carry its id
}

// rpm calls the scripts with the number of versions left (prerm, postrm): 0 is a
// removal, 1 an upgrade. Without rpm here, the scripts run as rpm runs them.
func TestRemoveScriptsTakeRPMArguments(t *testing.T) {
	needTools(t, "systemctl")
	root := t.TempDir()
	unit, err := os.ReadFile("abusewatch.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"usr/lib/systemd/system", "var/lib/abusewatch"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "usr/lib/systemd/system/abusewatch.service"), unit, 0o644); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(root, "var/lib/abusewatch/state.db")
	if err := os.WriteFile(state, []byte("the state database"), 0o640); err != nil {
		t.Fatal(err)
	}
	run(t, nil, "systemctl", "--root="+root, "enable", "abusewatch.service")
	enabled := filepath.Join(root, "etc/systemd/system/multi-user.target.wants/abusewatch.service")
	env := []string{"DPKG_ROOT=" + root}

	run(t, env, "sh", "prerm.sh", "1")
	run(t, env, "sh", "postrm.sh", "1")
	if !exists(enabled) || !exists(state) {
		t.Errorf("after an upgrade: enabled %v, state kept %v; want both", exists(enabled), exists(state))
	}
	run(t, env, "sh", "prerm.sh", "0")
	run(t, env, "sh", "postrm.sh", "0")
	if exists(enabled) {
		t.Errorf("after a removal the service is still enabled")
	}
	if !exists(state) {
		t.Errorf("a removal deleted the state database")
	}
}

// preinstall creates, before the sysusers file is unpacked, the user and groups that
// file declares: running it gives the same passwd and group as systemd-sysusers does.
func TestPreinstallCreatesTheUserTheSysusersFileDeclares(t *testing.T) {
	needTools(t, "systemd-sysusers")
	viaScript, viaFile := t.TempDir(), t.TempDir()
	sysusers, err := os.ReadFile("abusewatch.sysusers")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{filepath.Join(viaScript, "etc"), filepath.Join(viaFile, "etc"), filepath.Join(viaFile, "usr/lib/sysusers.d")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(viaFile, "usr/lib/sysusers.d/abusewatch.conf"), sysusers, 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, []string{"DPKG_ROOT=" + viaScript}, "sh", "preinstall.sh", "install")
	run(t, nil, "systemd-sysusers", "--root="+viaFile, "abusewatch.conf")
	for _, file := range []string{"etc/passwd", "etc/group"} {
		a, err := os.ReadFile(filepath.Join(viaScript, file))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(viaFile, file))
		if err != nil {
			t.Fatal(err)
		}
		if string(a) != string(b) || !strings.Contains(string(a), "abusewatch:") {
			t.Errorf("/%s from preinstall.sh:\n%s\nfrom abusewatch.sysusers:\n%s", file, a, b)
		}
	}
}

// An upgrade restarts the service only when the new binary's check-config, run as the
// service's user, accepts the config: a config the new version refuses would take the
// service down. The script runs for real in a mount namespace of its own, with /etc,
// /usr and /var as overlays (systemd-sysusers and systemd-tmpfiles make the user and
// the directories there) and a /run that says systemd runs. No systemd runs here: that
// the restart itself happens (systemctl try-restart) is not tested, only that the script
// goes to it or not.
func TestUpgradeRestartsOnlyOnAConfigTheNewVersionAccepts(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	if os.Geteuid() != 0 {
		t.Skip("mounts overlays in a mount namespace: needs root")
	}
	needTools(t, "unshare", "runuser", "systemd-sysusers", "systemd-tmpfiles")
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	binary := filepath.Join(dir, "abusewatch")
	if out, err := exec.Command("go", "build", "-o", binary, "../cmd/abusewatch").CombinedOutput(); err != nil {
		t.Fatalf("building abusewatch: %v\n%s", err, out)
	}
	const good = `[reporter]
name = "Test Admin"
[mail]
from = "abusewatch@example.org"
[admin]
socket = ""
[[source]]
files = ["/var/log/abusewatch-test-auth.log"]
`
	// A class this version makes no more, as an older one may have made it.
	const refused = good + "[correlate]\nreportable = [\"auth-failures\"]\n"
	for _, tc := range []struct {
		name, config string
		restarts     bool
	}{{"accepted", good, true}, {"refused", refused, false}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := filepath.Join(dir, tc.name+".toml")
			if err := os.WriteFile(cfg, []byte(tc.config), 0o644); err != nil {
				t.Fatal(err)
			}
			ov := t.TempDir()
			var setup strings.Builder
			for _, d := range []string{"etc", "usr", "var"} {
				for _, sub := range []string{"upper", "work"} {
					if err := os.MkdirAll(filepath.Join(ov, d, sub), 0o755); err != nil {
						t.Fatal(err)
					}
				}
				fmt.Fprintf(&setup, "mount -t overlay overlay -o lowerdir=/%s,upperdir=%s/upper,workdir=%s/work /%s\n", d, filepath.Join(ov, d), filepath.Join(ov, d), d)
			}
			setup.WriteString(`mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/system
install -m 0755 "$BIN" /usr/bin/abusewatch
install -D -m 0644 abusewatch.sysusers /usr/lib/sysusers.d/abusewatch.conf
install -D -m 0644 abusewatch.tmpfiles /usr/lib/tmpfiles.d/abusewatch.conf
install -D -m 0644 abusewatch.service /usr/lib/systemd/system/abusewatch.service
mkdir -p /etc/abusewatch /var/log && install -m 0640 "$CFG" /etc/abusewatch/abusewatch.toml
: > /var/log/abusewatch-test-auth.log
sh postinstall.sh configure >/dev/null # the first install gives the config to the service's group
exec sh postinstall.sh configure 0.9
`)
			cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-ec", setup.String())
			cmd.Env = append(os.Environ(), "BIN="+binary, "CFG="+cfg, "PATH=/usr/sbin:/usr/bin:/sbin:/bin")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("postinstall.sh configure 0.9: %v\n%s", err, out)
			}
			restarting := strings.Contains(string(out), "abusewatch: restarting the service onto the new version")
			refusal := strings.Contains(string(out), `/etc/abusewatch/abusewatch.toml:10: correlate.reportable: "auth-failures" is not an event class`) &&
				strings.Contains(string(out), "the service is NOT restarted")
			if restarting != tc.restarts || refusal == tc.restarts {
				t.Errorf("restarting %v, the refusal said %v; want restarting %v:\n%s", restarting, refusal, tc.restarts, out)
			}
		})
	}
}
