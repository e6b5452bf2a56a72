package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The disk holding the store fills up while lines arrive: the daemon stops reading,
// keeps the batch and its position, retries, and once space is free again every line is
// stored exactly once. Needs root to mount a small tmpfs for the store.
func TestDiskFullWhileCommitting(t *testing.T) {
	dir := t.TempDir()
	storeDir := filepath.Join(dir, "small")
	if err := os.Mkdir(storeDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", storeDir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs to fill (needs root and CAP_SYS_ADMIN): %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", storeDir).Run() })

	logFile := filepath.Join(dir, "auth.log")
	appendFile(t, logFile, numberedLines(0, 100))
	cfg := writeSourceConfig(t, storeDir, fileSource(logFile))
	d := startDaemon(t, dir, "run", "--debug", "--config", cfg)
	d.waitCaughtUp(t, logFile)

	// Fill the disk, then write more than fits.
	filler := filepath.Join(storeDir, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	block := make([]byte, 64<<10)
	for {
		if _, err := f.Write(block); err != nil {
			break
		}
	}
	f.Close()
	appendFile(t, logFile, numberedLines(100, 20000))
	d.waitLog(t, "level=ERROR", "cannot commit what was read", "disk full")

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	d.waitCaughtUp(t, logFile)
	d.stop(t)
	checkExactlyOnce(t, storeDir, 20000)
}
