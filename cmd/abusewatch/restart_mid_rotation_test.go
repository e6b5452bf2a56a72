package main

import (
	"os"
	"path/filepath"
	"testing"
)

// The daemon stopped mid-file; while it was down the log was rotated three times (by
// rename, name.1 … name.3). On start it reads the rest of the file it was reading (now
// auth.log.3, found by inode) from the saved offset, then auth.log.2 and auth.log.1 whole,
// then the live file: every line once.
func TestSeveralRotationsWhileStopped(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "auth.log")
	cfg := readThenStop(t, dir, logFile)

	n := 1000
	for range 3 {
		appendFile(t, logFile, numberedLines(n, n+700))
		n += 700
		rotateByRename(t, logFile, 4)
	}
	appendFile(t, logFile, numberedLines(n, n+300))
	n += 300

	d := startDaemon(t, dir, "run", "--debug", "--config", cfg)
	d.waitLog(t, "read the rest of a file rotated while the daemon was stopped", "auth.log.3", "from=")
	d.waitCaughtUp(t, logFile)
	d.stop(t)
	checkExactlyOnce(t, dir, n)
}

// A file truncated in place while the daemon was stopped (no rotated copy) is read from
// its start, with a warning.
func TestTruncatedWhileStopped(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "auth.log")
	cfg := readThenStop(t, dir, logFile)

	if err := os.Truncate(logFile, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, logFile, numberedLines(1000, 1100))
	d := startDaemon(t, dir, "run", "--debug", "--config", cfg)
	d.waitLog(t, "level=WARN", "truncated, reading it from the start", "auth.log")
	d.waitCaughtUp(t, logFile)
	d.stop(t)
	checkExactlyOnce(t, dir, 1100)
}
