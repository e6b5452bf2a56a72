package main

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/daemon"
	"github.com/abusewatch/abusewatch/daemon/disktest"
	"github.com/abusewatch/abusewatch/store"
)

// sum is the sha256 of the file at path.
func sum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// scannedStore writes a config in dir with its store at storeDir/state.db, scans 300
// lines into it and returns the config.
func scannedStore(t *testing.T, dir, storeDir string) string {
	t.Helper()
	logFile := filepath.Join(dir, "auth.log")
	appendFile(t, logFile, numberedLines(0, 300))
	cfg := writeSourceConfig(t, storeDir, fileSource(logFile))
	if out, errOut, code := runBinary(t, dir, "scan", "--config", cfg, logFile); code != 0 {
		t.Fatalf("scan: exit %d\n%s%s", code, out, errOut)
	}
	return cfg
}

// waitOpened waits until the process pid holds the file at path open (it then waits
// for its lock), or fails the test after a deadline.
func waitOpened(t *testing.T, pid int, path string) {
	t.Helper()
	fdDir := "/proc/" + strconv.Itoa(pid) + "/fd"
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(30 * time.Second)
	for {
		entries, _ := os.ReadDir(fdDir)
		for _, e := range entries {
			if target, _ := os.Readlink(filepath.Join(fdDir, e.Name())); target == path {
				return
			}
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("process %d did not open %s", pid, path)
		}
	}
}

// An exclude started in the last second of a compact opened the old file, waited for
// its lock, and stored the exclusion into the deleted file: it said "will never be
// reported", and the exclusion was gone (review35 F1). Here the test holds the store's
// lock as compact does, renames a copy over it once the real exclude has opened it, and
// then lets go.
func TestExcludeDuringCompactsRenameIsKept(t *testing.T) {
	dir := t.TempDir()
	cfg := scannedStore(t, dir, dir)
	path := filepath.Join(dir, "state.db")
	held, err := store.Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, "exclude", "45.134.7.0/24", "--reason", "our partner", "--config", cfg)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		held.Close()
		t.Fatal(err)
	}
	waitOpened(t, cmd.Process.Pid, path)
	// compact's last steps: its copy renamed over the path, then the old file closed.
	b, err := os.ReadFile(path) // held and quiet: every commit is on disk
	if err == nil {
		err = os.WriteFile(path+".compact", b, 0o640)
	}
	if err == nil {
		err = os.Rename(path+".compact", path)
	}
	held.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exclude: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	out, errOut, code := runBinary(t, dir, "exclude", "--list", "--config", cfg)
	if code != 0 || !strings.Contains(out, "45.134.7.0/24") {
		t.Errorf("exclude said\n%s\nbut exclude --list: exit %d\n%s%s", stdout.String(), code, out, errOut)
	}
}

// A query on a store that no daemon holds opens it read-only: the file is the same byte
// for byte, and a store on a file system mounted read-only (a disk being repaired) is
// read. Needs root to mount a tmpfs.
func TestQueryReadsAStoreOnAReadOnlyFileSystem(t *testing.T) {
	dir := t.TempDir()
	storeDir := disktest.Small(t, dir, "16m")
	cfg := scannedStore(t, dir, storeDir)
	path := filepath.Join(storeDir, "state.db")
	before := sum(t, path)
	if out, errOut, code := runBinary(t, dir, "incidents", "--config", cfg); code != 0 {
		t.Fatalf("incidents: exit %d\n%s%s", code, out, errOut)
	}
	if sum(t, path) != before {
		t.Error("a query changed the store")
	}
	if out, err := exec.Command("mount", "-o", "remount,ro", storeDir).CombinedOutput(); err != nil {
		t.Fatalf("remount ro: %v %s", err, out)
	}
	for _, args := range [][]string{{"incidents"}, {"ip", "192.0.2.10"}, {"exclude", "--list"}, {"outbox"}} {
		out, errOut, code := runBinary(t, dir, append(args, "--config", cfg)...)
		if code != 0 || !strings.Contains(errOut, "using "+path+" directly") {
			t.Errorf("%s on a read-only file system: exit %d\n%s%s", args[0], code, out, errOut)
		}
	}
}

// A [store] path that names another program's bbolt file: every command refuses it,
// names it and leaves it as it is; a query made abusewatch's buckets in it, and scan and
// run then stored events and sent reports from it (review35 F4).
func TestAnotherProgramsBoltFileIsRefusedByEveryCommand(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "auth.log")
	appendFile(t, logFile, numberedLines(0, 10))
	cfg := writeSourceConfig(t, dir, fileSource(logFile))
	// testdata/other-program.db: a bbolt file (bbolt v1.5.0, 4 kB pages) with one bucket,
	// "users", holding alice = admin, as another program would keep one; bbolt itself
	// stays in store/.
	path := filepath.Join(dir, "state.db")
	other, err := os.ReadFile(filepath.Join("testdata", "other-program.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, other, 0o600); err != nil {
		t.Fatal(err)
	}
	before := sum(t, path)
	for _, args := range [][]string{{"incidents"}, {"scan", logFile}, {"compact"}, {"correlate"}, {"exclude", "45.134.7.0/24"}, {"outbox"}} {
		out, errOut, code := runBinary(t, dir, append(args, "--config", cfg)...)
		if code == 0 || !strings.Contains(errOut, path) || !strings.Contains(errOut, "not an abusewatch state database") ||
			strings.Contains(errOut, "stop the daemon") {
			t.Errorf("%s on another program's file: exit %d\n%s%s", args[0], code, out, errOut)
		}
	}
	if sum(t, path) != before {
		t.Error("another program's file was changed")
	}
}

// A file that is no database says so, and what to do; scan does not send the admin to
// stop a daemon that has nothing to do with it (review35 F7, F8).
func TestNotADatabaseSaysWhatToDo(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "auth.log")
	appendFile(t, logFile, numberedLines(0, 10))
	cfg := writeSourceConfig(t, dir, fileSource(logFile))
	path := filepath.Join(dir, "state.db")
	if err := os.WriteFile(path, bytes.Repeat([]byte("SQLite format 3\x00"), 1024), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"scan", logFile}, {"incidents"}, {"compact"}} {
		out, errOut, code := runBinary(t, dir, append(args, "--config", cfg)...)
		if code == 0 || !strings.Contains(errOut, path) || !strings.Contains(errOut, "not a bbolt database") ||
			!strings.Contains(errOut, "restore it from a backup") || strings.Contains(errOut, "stop the daemon") {
			t.Errorf("%s on a file that is no database: exit %d\n%s%s", args[0], code, out, errOut)
		}
	}
}

// check-config said OK for store paths that run then refused: a directory, a path under
// a regular file, a symlink to nothing (review35 F9).
func TestCheckConfigRefusesAStorePathRunCannotOpen(t *testing.T) {
	for name, c := range map[string]struct {
		setup func(dir string) string // returns the store path
		want  string
	}{
		"directory": {func(dir string) string {
			os.Mkdir(filepath.Join(dir, "var"), 0o755)
			return filepath.Join(dir, "var")
		}, "is a directory"},
		"under a file": {func(dir string) string {
			os.WriteFile(filepath.Join(dir, "var"), nil, 0o644)
			return filepath.Join(dir, "var", "state.db")
		}, "which is a file, not a directory"},
		"dangling symlink": {func(dir string) string {
			os.Symlink(filepath.Join(dir, "gone", "state.db"), filepath.Join(dir, "state.db"))
			return filepath.Join(dir, "state.db")
		}, "which does not exist"},
	} {
		dir := t.TempDir()
		logFile := filepath.Join(dir, "auth.log")
		appendFile(t, logFile, numberedLines(0, 10))
		storePath := c.setup(dir)
		cfg := writeSourceConfig(t, dir, fileSource(logFile))
		text, _ := os.ReadFile(cfg)
		os.WriteFile(cfg, bytes.Replace(text, []byte(filepath.Join(dir, "state.db")), []byte(storePath), 1), 0o644)
		out, errOut, code := runBinary(t, dir, "check-config", "--config", cfg)
		if code == 0 || !strings.Contains(errOut, "store.path") || !strings.Contains(errOut, c.want) {
			t.Errorf("%s: check-config exit %d\n%s%s", name, code, out, errOut)
		}
		if name == "dangling symlink" {
			if _, errOut, _ := runBinary(t, dir, "scan", "--config", cfg, logFile); !strings.Contains(errOut, "which does not exist") {
				t.Errorf("scan through a dangling symlink:\n%s", errOut)
			}
		}
	}
}

// compact of a symlinked store compacts the file the link names, where it is, and keeps
// the link; a copy left by a compact killed midway is removed by the next open for
// writing, which says so (review35 F5, F10).
func TestCompactThroughASymlinkAndAStaleCopy(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big")
	os.Mkdir(big, 0o755)
	cfg := scannedStore(t, dir, big)
	real := filepath.Join(big, "state.db")
	link := filepath.Join(dir, "var", "state.db")
	os.Mkdir(filepath.Dir(link), 0o755)
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	text, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, bytes.Replace(text, []byte(real), []byte(link), 1), 0o644)
	if err := os.WriteFile(real+".compact", make([]byte, 2<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runBinary(t, dir, "exclude", "45.134.7.0/24", "--config", cfg)
	if code != 0 || !strings.Contains(errOut, "removed "+real+".compact") {
		t.Errorf("exclude with a stale copy beside the store: exit %d\n%s%s", code, out, errOut)
	}
	old, err := os.Stat(real)
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, code = runBinary(t, dir, "compact", "--config", cfg)
	if code != 0 || !strings.Contains(out, real) {
		t.Fatalf("compact: exit %d\n%s%s", code, out, errOut)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("compact replaced the link: %v, %v", fi, err)
	}
	if fi, err := os.Stat(real); err != nil || os.SameFile(fi, old) {
		t.Errorf("compact left the real file as it was: %v", err)
	}
	if out, errOut, code := runBinary(t, dir, "exclude", "--list", "--config", cfg); code != 0 || !strings.Contains(out, "45.134.7.0/24") {
		t.Errorf("exclude --list after compact: exit %d\n%s%s", code, out, errOut)
	}
}

// The daemon's "cannot commit" says what to look at from the error: a read-only file
// system was "is the disk full?" (review35 F6). Real errors from a tmpfs. Needs root.
func TestCommitHintNamesTheCause(t *testing.T) {
	dir := t.TempDir()
	disk := disktest.Small(t, dir, "1m")
	f, err := os.OpenFile(disktest.Fill(t, disk), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, full := f.Write(make([]byte, 64<<10))
	f.Close()
	if out, err := exec.Command("mount", "-o", "remount,ro", disk).CombinedOutput(); err != nil {
		t.Fatalf("remount ro: %v %s", err, out)
	}
	_, ro := os.Create(filepath.Join(disk, "new"))
	for _, c := range []struct {
		err  error
		want string
	}{{full, "disk full"}, {ro, "read-only"}} {
		if c.err == nil || !strings.Contains(daemon.CommitHint(c.err), c.want) {
			t.Errorf("CommitHint(%v) = %q, want %q in it", c.err, daemon.CommitHint(c.err), c.want)
		}
	}
}

// The daemon removes a copy left by a killed compact as it opens the store, and logs it:
// nothing mentioned it, and on a nearly full disk it held the room of a whole store.
func TestDaemonRemovesAStaleCompactCopy(t *testing.T) {
	dir := t.TempDir()
	cfg := scannedStore(t, dir, dir)
	stale := filepath.Join(dir, "state.db.compact")
	if err := os.WriteFile(stale, make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, dir, "run", "--config", cfg)
	d.waitLog(t, "level=WARN", "removed "+stale, "stopped before it finished")
	d.waitLog(t, "abusewatch running")
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the stale copy is still there: %v", err)
	}
}
