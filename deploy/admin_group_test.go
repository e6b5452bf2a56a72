package deploy

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// These tests run the real daemon as the unit would: as an unprivileged user with the
// unit's SupplementaryGroups=, under the unit's system call filter for the calls the
// admin socket makes (chown), and with /proc mounted as ProtectProc=invisible mounts it.
// The test binary itself sets that up in a child (TestMain, launchEnv) and then executes
// the daemon: Go cannot run code between fork and exec.

// launchEnv carries a launchSpec to the test binary run as the daemon's launcher.
const launchEnv = "ABUSEWATCH_TEST_LAUNCH_UNDER_UNIT"

// launchSpec is what the launcher does before it executes the daemon.
type launchSpec struct {
	Argv     []string
	UID, GID int
	Groups   []int
	HideProc bool      // ProtectProc=invisible: a /proc with hidepid=invisible
	Deny     []uintptr // system call numbers the unit's filter refuses
	Errno    int       // SystemCallErrorNumber=, 0: the default, killing the process
}

func TestMain(m *testing.M) {
	if spec := os.Getenv(launchEnv); spec != "" {
		err := launch(spec)
		fmt.Fprintf(os.Stderr, "launcher: %v\n", err)
		os.Exit(125)
	}
	os.Exit(m.Run())
}

// launch runs in a mount namespace of its own, as root: it mounts /proc as the unit
// would, drops to the service's user and groups, installs the filter and executes the
// daemon. It returns only on failure.
func launch(encoded string) error {
	var s launchSpec
	if err := json.Unmarshal([]byte(encoded), &s); err != nil {
		return err
	}
	if s.HideProc {
		if err := unix.Mount("none", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			return fmt.Errorf("making / private: %w", err)
		}
		if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "hidepid=invisible"); err != nil {
			return fmt.Errorf("mounting /proc with hidepid=invisible: %w", err)
		}
	}
	if err := syscall.Setgroups(s.Groups); err != nil {
		return err
	}
	if err := syscall.Setgid(s.GID); err != nil {
		return err
	}
	if err := syscall.Setuid(s.UID); err != nil {
		return err
	}
	// The filter holds for this thread, and so for the program it executes.
	runtime.LockOSThread()
	action := uint32(unix.SECCOMP_RET_KILL_PROCESS)
	if s.Errno != 0 {
		action = unix.SECCOMP_RET_ERRNO | uint32(s.Errno)
	}
	prog := []unix.SockFilter{{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 0}} // seccomp_data.nr
	for i, nr := range s.Deny {
		prog = append(prog, unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: uint32(nr), Jt: uint8(len(s.Deny) - i)})
	}
	prog = append(prog, unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW},
		unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: action})
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return err
	}
	if err := unix.Prctl(unix.PR_SET_SECCOMP, unix.SECCOMP_MODE_FILTER, uintptr(unsafe.Pointer(&fprog)), 0, 0); err != nil {
		return fmt.Errorf("seccomp: %w", err)
	}
	env := slices.DeleteFunc(os.Environ(), func(e string) bool { return strings.HasPrefix(e, launchEnv+"=") })
	return syscall.Exec(s.Argv[0], s.Argv, env)
}

// unitService is what the tests read of the unit's [Service] section.
type unitService struct {
	filters       []string          // SystemCallFilter= values in order
	sets          []map[string]bool // the system calls each names
	errno         int               // SystemCallErrorNumber=, 0 when not set
	supplementary []string
	protectProc   string
}

// readUnit reads deploy/abusewatch.service with the extra lines of a drop-in after it.
func readUnit(t *testing.T, extra ...string) unitService {
	t.Helper()
	needTools(t, "systemd-analyze")
	b, err := os.ReadFile("abusewatch.service")
	if err != nil {
		t.Fatal(err)
	}
	var u unitService
	for _, line := range append(strings.Split(string(b), "\n"), extra...) {
		key, value, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok || strings.HasPrefix(key, "#") {
			continue
		}
		switch key {
		case "SystemCallFilter":
			u.filters = append(u.filters, value)
			u.sets = append(u.sets, syscallSet(t, strings.TrimPrefix(value, "~")))
		case "SystemCallErrorNumber":
			for e := syscall.Errno(1); e < 200 && u.errno == 0; e++ {
				if unix.ErrnoName(e) == value {
					u.errno = int(e)
				}
			}
			if u.errno == 0 {
				t.Fatalf("SystemCallErrorNumber=%s: not an errno name this test knows", value)
			}
		case "SupplementaryGroups":
			u.supplementary = append(u.supplementary, strings.Fields(value)...)
		case "ProtectProc":
			u.protectProc = value
		}
	}
	return u
}

// syscallSet expands the names and @sets of one SystemCallFilter= value with
// systemd-analyze, as systemd does.
func syscallSet(t *testing.T, value string) map[string]bool {
	t.Helper()
	set := map[string]bool{}
	var add func(name string)
	add = func(name string) {
		if !strings.HasPrefix(name, "@") {
			set[name] = true
			return
		}
		out, err := exec.Command("systemd-analyze", "syscall-filter", "--no-pager", name).Output()
		if err != nil {
			t.Fatalf("systemd-analyze syscall-filter %s: %v", name, err)
		}
		for _, l := range strings.Split(string(out), "\n")[1:] {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
				add(l)
			}
		}
	}
	for _, name := range strings.Fields(value) {
		add(name)
	}
	return set
}

// refuses says whether the unit's filters refuse the system call name: the first
// SystemCallFilter= makes an allow list (or, with ~, a deny list), and each later one
// adds to it or takes from it (systemd.exec(5)).
func (u unitService) refuses(t *testing.T, name string) bool {
	if len(u.filters) == 0 {
		return false
	}
	allowList := !strings.HasPrefix(u.filters[0], "~")
	listed := false
	for i, f := range u.filters {
		deny := strings.HasPrefix(f, "~")
		if u.sets[i][name] {
			listed = deny != allowList // an allow list lists what is allowed, a deny list what is denied
		}
	}
	return listed != allowList
}

// daemonRun is the daemon started by the launcher, with its log as it comes.
type daemonRun struct {
	cmd   *exec.Cmd
	lines chan string
	log   []string
	done  chan struct{}
	err   error // the exit, once done is closed
}

// startUnderUnit starts `abusewatch run --config cfg` as uid:gid with the unit's
// supplementary groups, filter and /proc.
func startUnderUnit(t *testing.T, u unitService, binary, cfg string, uid, gid int) *daemonRun {
	t.Helper()
	spec := launchSpec{Argv: []string{binary, "run", "--config", cfg}, UID: uid, GID: gid, Groups: []int{gid},
		HideProc: u.protectProc == "invisible", Errno: u.errno}
	for _, name := range u.supplementary {
		if g, err := user.LookupGroup(name); err == nil { // systemd would refuse a missing one; this host may lack it
			id, _ := strconv.Atoi(g.Gid)
			spec.Groups = append(spec.Groups, id)
		}
	}
	// The calls the admin socket makes: os.Chown is fchownat, File.Chown fchown.
	for name, nr := range map[string]uintptr{"fchownat": unix.SYS_FCHOWNAT, "fchown": unix.SYS_FCHOWN} {
		if u.refuses(t, name) {
			spec.Deny = append(spec.Deny, nr)
		}
	}
	encoded, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0])
	cmd.Dir = filepath.Dir(cfg)
	cmd.Env = append(os.Environ(), launchEnv+"="+string(encoded))
	if spec.HideProc {
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS}
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &daemonRun{cmd: cmd, lines: make(chan string, 1000), done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			d.lines <- sc.Text()
		}
		d.err = cmd.Wait()
		close(d.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-d.done
		if t.Failed() {
			t.Logf("daemon log:\n%s", strings.Join(d.log, "\n"))
		}
	})
	return d
}

// waitLine waits for a log line containing want; false when the daemon ended first
// (after the lines it wrote before it ended).
func (d *daemonRun) waitLine(t *testing.T, want string) (string, bool) {
	t.Helper()
	deadline := time.After(time.Minute)
	ended := false
	for {
		var l string
		if ended {
			select {
			case l = <-d.lines:
			default:
				return "", false
			}
		} else {
			select {
			case l = <-d.lines:
			case <-d.done:
				ended = true
				continue
			case <-deadline:
				t.Fatalf("no log line with %q within a minute", want)
			}
		}
		d.log = append(d.log, l)
		if strings.Contains(l, want) {
			return l, true
		}
	}
}

// adminGroupSetup is a directory with the daemon binary and a config whose [admin]
// group is group, readable and writable as the service would need.
func adminGroupSetup(t *testing.T, group string, uid int) (binary, cfg, socket string) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root to run the daemon and its clients as other users")
	}
	needTools(t, "systemd-analyze")
	dir := t.TempDir()
	for _, p := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	binary = filepath.Join(dir, "abusewatch")
	if out, err := exec.Command("go", "build", "-o", binary, "../cmd/abusewatch").CombinedOutput(); err != nil {
		t.Fatalf("building abusewatch: %v\n%s", err, out)
	}
	state := filepath.Join(dir, "state")
	if err := os.Mkdir(state, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(state, uid, -1); err != nil {
		t.Fatal(err)
	}
	logFile := filepath.Join(dir, "auth.log")
	if err := os.WriteFile(logFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	socket = filepath.Join(state, "admin.sock")
	cfg = filepath.Join(dir, "abusewatch.toml")
	doc := `[reporter]
name = "Test Admin"
[[source]]
files = ["` + logFile + `"]
[lookup]
rdap = false
resolvers = ["127.0.0.1:1"]
[mail]
transport = "maildir"
maildir = "` + filepath.Join(state, "maildir") + `"
from = "abusewatch@example.org"
[policy]
mode = "observe"
[admin]
socket = "` + socket + `"
group = "` + group + `"
[store]
path = "` + filepath.Join(state, "state.db") + `"
`
	if err := os.WriteFile(cfg, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return binary, cfg, socket
}

// status runs `abusewatch status` against the socket as uid:gid with groups.
func status(t *testing.T, binary, cfg, socket string, uid, gid uint32, groups ...uint32) (string, error) {
	t.Helper()
	cmd := exec.Command(binary, "status", "--config", cfg, "--socket", socket)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: groups}}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// The unit's own supplementary group adm as [admin] group: the daemon gives its socket
// to it under the unit's filter, and a member whose primary group is another is let in,
// though ProtectProc=invisible hides its /proc/PID from the daemon. Someone outside the
// group who reaches the socket is refused, and the log says why. (Before: the filter
// killed the daemon with SIGSYS at start, and the member was refused with err=<nil>.)
func TestAdminGroupWorksUnderTheShippedUnit(t *testing.T) {
	u := readUnit(t)
	if !slices.Contains(u.supplementary, "adm") {
		t.Fatalf("the unit's SupplementaryGroups= is %v: this test takes adm from it", u.supplementary)
	}
	adm, err := user.LookupGroup("adm")
	if err != nil {
		t.Skip("no group adm on this host")
	}
	admGID, _ := strconv.Atoi(adm.Gid)
	const nobody = 65534
	binary, cfg, socket := adminGroupSetup(t, "adm", nobody)
	d := startUnderUnit(t, u, binary, cfg, nobody, nobody)
	if _, ok := d.waitLine(t, "admin socket ready"); !ok {
		t.Fatalf("the daemon ended before its admin socket was ready: %v", d.err)
	}
	if fi, err := os.Stat(socket); err != nil || fi.Sys().(*syscall.Stat_t).Gid != uint32(admGID) {
		t.Fatalf("the socket is not adm's: %v", err)
	}
	// uid 1, primary group 1, adm only as a supplementary group.
	if out, err := status(t, binary, cfg, socket, 1, 1, uint32(admGID)); err != nil || !strings.Contains(out, "abusewatch is running") {
		t.Errorf("status as a member of adm whose primary group is another: %v\n%s", err, out)
	}
	// uid 2, outside adm, on a socket anyone may reach: the credentials refuse it.
	if err := os.Chmod(socket, 0o666); err != nil {
		t.Fatal(err)
	}
	if out, err := status(t, binary, cfg, socket, 2, 2); err == nil || !strings.Contains(out, "permission denied") {
		t.Errorf("status as uid 2 outside adm: %v\n%s", err, out)
	}
	line, _ := d.waitLine(t, "admin socket: refused a peer")
	if !strings.Contains(line, "uid=2") || !strings.Contains(line, fmt.Sprintf("not a member of [admin] group adm (gid %d)", admGID)) {
		t.Errorf("the refusal does not give its reason: %s", line)
	}
}

// A filter that refuses chown (a drop-in taking @chown away) makes the daemon stop with
// its reason, not die of SIGSYS without a word: the unit answers refused calls with an
// errno.
func TestAdminGroupRefusedByTheFilterSaysWhy(t *testing.T) {
	u := readUnit(t, "SystemCallFilter=~@chown")
	if u.errno == 0 {
		t.Fatal("the unit sets no SystemCallErrorNumber=: a refused call kills the daemon with SIGSYS, and nothing is logged")
	}
	const nobody = 65534
	binary, cfg, _ := adminGroupSetup(t, "adm", nobody)
	if _, err := user.LookupGroup("adm"); err != nil {
		t.Skip("no group adm on this host")
	}
	d := startUnderUnit(t, u, binary, cfg, nobody, nobody)
	line, _ := d.waitLine(t, "admin.group")
	<-d.done
	if ee, ok := d.err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Errorf("the daemon ended with %v; want exit status 1", d.err)
	}
	if !strings.Contains(line, "a system call filter may forbid chown") || !strings.Contains(line, "@chown") {
		t.Errorf("the daemon does not say the filter refused chown: %s", line)
	}
}
