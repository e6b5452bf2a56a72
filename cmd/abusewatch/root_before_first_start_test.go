package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// An admin installs abusewatch, and before `systemctl enable --now` types `sudo
// abusewatch incidents` or back-fills with `sudo abusewatch scan`. The state directory is
// the service user's already (tmpfiles made it), so systemd does not give back what root
// leaves in it: a query made a root-owned state.db, and the daemon could not open it.

// serviceUID stands for the abusewatch user: the owner of the state directory.
const serviceUID = 65534

// firstStartSetup is a host after install, before the first start: a state directory
// owned by the service's user, with nothing in it.
type firstStartSetup struct {
	dir, cfg, log, stateDir, db string
}

func newFirstStartSetup(t *testing.T) *firstStartSetup {
	t.Helper()
	dir := t.TempDir()
	s := &firstStartSetup{dir: dir, cfg: filepath.Join(dir, "abusewatch.toml"), log: filepath.Join(dir, "auth.log"),
		stateDir: filepath.Join(dir, "state")}
	s.db = filepath.Join(s.stateDir, "state.db")
	if err := os.Mkdir(s.stateDir, 0o750); err != nil {
		t.Fatal(err)
	}
	appendFile(t, s.log, "Dec  7 10:00:01 web1 sshd[100]: Failed password for root from 45.134.26.99 port 50000 ssh2\n")
	doc := `[[source]]
files = ["` + s.log + `"]
[reporter]
name = "Test Admin"
[mail]
transport = "maildir"
maildir = "` + filepath.Join(dir, "maildir") + `"
from = "abusewatch@example.org"
[lookup]
rdap = false
[policy]
settle = "0s"
mode = "review"
[admin]
socket = "` + filepath.Join(dir, "run", "admin.sock") + `"
[store]
path = "` + s.db + `"
`
	if err := os.WriteFile(s.cfg, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

// serviceOwns gives the state directory to the service's user, as tmpfiles does, and
// lets that user reach the config, the log and the binary.
func (s *firstStartSetup) serviceOwns(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the state directory belongs to another user")
	}
	if err := os.Chown(s.stateDir, serviceUID, serviceUID); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Dir(binary), filepath.Dir(s.dir), s.dir} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// asService runs the binary in s.dir as the service's user.
func (s *firstStartSetup) asService(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), binary, args...)
	cmd.Dir = s.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: serviceUID, Gid: serviceUID}}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
}

func (s *firstStartSetup) noDatabase(t *testing.T, after string) {
	t.Helper()
	if _, err := os.Stat(s.db); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s made %s (stat: %v): nothing but a change may create the store", after, s.db, err)
	}
}

// Every query with the daemon stopped and no store yet answers "nothing", as on an
// empty store (exit status, --json), says why on stderr, and leaves no file behind.
func TestQueriesBeforeTheFirstStartCreateNoStore(t *testing.T) {
	s := newFirstStartSetup(t)
	for _, q := range []struct {
		args []string
		code int
		json bool
		out  string
	}{
		{args: []string{"incidents"}, out: "No incidents since"},
		{args: []string{"incidents", "--json"}, json: true, out: `"total": 0`},
		{args: []string{"ip", "45.134.26.99"}, out: "0 events"},
		{args: []string{"ip", "45.134.26.99", "--json"}, json: true},
		{args: []string{"net", "45.134.26.0/24"}, out: "0 events"},
		{args: []string{"outbox"}, out: "The outbox is empty"},
		{args: []string{"outbox", "--json"}, json: true, out: `"reports": []`},
		{args: []string{"unknown"}, out: "No unknown records"},
		{args: []string{"exclude", "--list"}, out: "No network is excluded"},
		{args: []string{"exclude", "--list", "--json"}, json: true, out: "[]"},
		{args: []string{"rules", "suggest"}, out: "nothing to suggest"},
		{args: []string{"report", "show", "abcdef"}, code: 1},
		{args: []string{"report", "approve", "abcdef"}, code: 1},
		{args: []string{"report", "preview", "45.134.26.99"}, code: 1},
		{args: []string{"exclude", "--remove", "45.134.26.0/24"}, code: 1},
	} {
		name := strings.Join(q.args, " ")
		stdout, stderr, code := runBinary(t, s.dir, append(q.args, "--config", s.cfg)...)
		if code != q.code {
			t.Errorf("%s: exit %d, want %d\nstdout: %s\nstderr: %s", name, code, q.code, stdout, stderr)
		}
		if !strings.Contains(stderr, "there is no state database at "+s.db+" yet: the daemon has not run and nothing was scanned") {
			t.Errorf("%s: stderr does not say there is no state database yet:\n%s", name, stderr)
		}
		if strings.Contains(stderr, "using "+s.db+" directly") {
			t.Errorf("%s: claims to use a store that does not exist:\n%s", name, stderr)
		}
		if q.json && !json.Valid([]byte(stdout)) {
			t.Errorf("%s: stdout is not JSON:\n%s", name, stdout)
		}
		if !strings.Contains(stdout, q.out) {
			t.Errorf("%s: stdout lacks %q:\n%s", name, q.out, stdout)
		}
		s.noDatabase(t, name)
	}
	// whois reads the store's cache when there is one, and never makes one.
	runBinary(t, s.dir, "whois", "--config", s.cfg, "45.134.26.99")
	s.noDatabase(t, "whois")
	// A scan of a file that is not there fails before the store is opened.
	for _, bad := range []string{"nosuch.log", s.stateDir} {
		if _, stderr, code := runBinary(t, s.dir, "scan", "--config", s.cfg, bad); code == 0 {
			t.Errorf("scan %s: exit 0\n%s", bad, stderr)
		}
		s.noDatabase(t, "scan "+bad)
	}
	// Nor does a scan whose rules do not load, nor correlate with nothing to correlate.
	rules := filepath.Join(s.dir, "attack.d") // a name that says it holds attack rules
	if err := os.Mkdir(rules, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rules, "bad"), []byte("sshd auth-failure ^from <HOST> (port$\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := runBinary(t, s.dir, "scan", "--config", s.cfg, "--rules", rules, s.log); code == 0 || !strings.Contains(stderr, "missing closing )") {
		t.Errorf("scan with a broken rule: exit %d\n%s", code, stderr)
	}
	s.noDatabase(t, "scan with a broken rule")
	if _, stderr, code := runBinary(t, s.dir, "correlate", "--config", s.cfg); code != 1 || !strings.Contains(stderr, "nothing to correlate") {
		t.Errorf("correlate without a store: exit %d\n%s", code, stderr)
	}
	s.noDatabase(t, "correlate")
}

// A root scan (or exclusion) before the first start makes the store the service's, like
// its directory; the service's user then opens it.
func TestRootScanBeforeTheFirstStartLeavesTheStoreToTheService(t *testing.T) {
	s := newFirstStartSetup(t)
	s.serviceOwns(t)
	if stdout, stderr, code := runBinary(t, s.dir, "scan", "--config", s.cfg, s.log); code != 0 {
		t.Fatalf("scan: exit %d\n%s%s", code, stdout, stderr)
	}
	fi, err := os.Stat(s.db)
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != serviceUID || st.Gid != serviceUID {
		t.Fatalf("root's scan made %s owned by %d:%d, want the directory's %d:%d", s.db, st.Uid, st.Gid, serviceUID, serviceUID)
	}
	stdout, stderr, code := s.asService(t, "incidents", "--config", s.cfg, "--since", "3650d")
	if code != 0 || !strings.Contains(stderr, "using "+s.db+" directly") {
		t.Fatalf("the service's user cannot open the store root's scan made: exit %d\n%s%s", code, stdout, stderr)
	}
	// The same of an exclusion added before the first start.
	if err := os.Remove(s.db); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := runBinary(t, s.dir, "exclude", "--config", s.cfg, "198.51.100.0/24"); code != 0 {
		t.Fatalf("exclude: exit %d\n%s", code, stderr)
	}
	if fi, err = os.Stat(s.db); err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != serviceUID || st.Gid != serviceUID {
		t.Fatalf("root's exclude made %s owned by %d:%d, want the directory's %d:%d", s.db, st.Uid, st.Gid, serviceUID, serviceUID)
	}
}

// A store the daemon may not open (root's, left by an earlier version's root query) is
// an error that says whose it is and the chown that fixes it.
func TestDaemonSaysWhoseStoreItCannotOpen(t *testing.T) {
	s := newFirstStartSetup(t)
	s.serviceOwns(t)
	if _, stderr, code := runBinary(t, s.dir, "scan", "--config", s.cfg, s.log); code != 0 {
		t.Fatalf("scan: exit %d\n%s", code, stderr)
	}
	if err := os.Chown(s.db, 0, 0); err != nil {
		t.Fatal(err)
	}
	me := strconv.Itoa(serviceUID)
	if u, err := user.LookupId(me); err == nil {
		me = u.Username
	}
	_, stderr, code := s.asService(t, "run", "--config", s.cfg)
	root := "root:root"
	if g, err := user.LookupGroupId("0"); err == nil {
		root = "root:" + g.Name
	}
	if code == 0 || !strings.Contains(stderr, "permission denied: it belongs to "+root) ||
		!strings.Contains(stderr, "chown "+me+": "+s.db) {
		t.Fatalf("run as %s with a store of root's: exit %d, want the owner and \"chown %s: %s\" in:\n%s", me, code, me, s.db, stderr)
	}
}
