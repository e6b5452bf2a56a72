package daemon

import (
	"os"
	"path/filepath"
	"testing"
)

// The followed path is a symlink (logs/auth.log -> ../data/auth.log) and logrotate
// rotates its target while the daemon is stopped: data/auth.log becomes
// data/auth.log.1, beside the target, not beside the path. The daemon, started again,
// finds it there and reads the rest of it (lines 100–149), then the new target. It
// looked beside the path only, and those lines were lost.
func TestSymlinkTargetRotatedWhileStopped(t *testing.T) {
	dir := t.TempDir()
	logs, data := filepath.Join(dir, "logs"), filepath.Join(dir, "data")
	for _, d := range []string{logs, data} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	target, logFile := filepath.Join(data, "auth.log"), filepath.Join(logs, "auth.log")
	appendTo(t, target, userLines(0, 100))
	if err := os.Symlink("../data/auth.log", logFile); err != nil {
		t.Fatal(err)
	}
	cfg := followConfig(t, dir, logFile)
	runUntilRead(t, cfg, logFile)
	appendTo(t, target, userLines(100, 150))
	if err := os.Rename(target, target+".1"); err != nil {
		t.Fatal(err)
	}
	appendTo(t, target, userLines(150, 180))
	runUntilRead(t, cfg, logFile)
	checkStoredOnce(t, cfg, 180)
}
