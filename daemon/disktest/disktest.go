// Package disktest gives tests a real small disk to fill: a tmpfs mounted for the
// test, and a file written until the disk refuses more. Tests that need it skip where
// mounting is not allowed (it needs root and CAP_SYS_ADMIN).
package disktest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Small mounts a tmpfs of size (as mount's size= takes it) at dir/small, to be filled,
// and unmounts it when the test ends; it skips the test where it may not.
func Small(t testing.TB, dir, size string) string {
	t.Helper()
	path := filepath.Join(dir, "small")
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", path).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs to fill (needs root and CAP_SYS_ADMIN): %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", path).Run() })
	return path
}

// Fill writes a file in dir until its disk refuses more, and returns its path.
func Fill(t testing.TB, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	block := make([]byte, 64<<10)
	for {
		if _, err := f.Write(block); err != nil {
			return path
		}
	}
}
