package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// copyTruncate rotates like logrotate's copytruncate: copy the file to path.1, then
// truncate it in place (the writer keeps its descriptor and appends at the new end).
func copyTruncate(t *testing.T, path string) {
	t.Helper()
	src, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(path + ".1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
}

// A log rotated by copytruncate while the daemon lags behind the writer: the lines it had
// not read yet are read from the copy, the file is read again from its start, and no
// line is cut or repeated, even when the file has grown past the old offset again before
// the daemon looks.
func TestRotationByCopytruncate(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "auth.log")
	appendFile(t, logFile, "")
	cfg := writeSourceConfig(t, dir, fileSource(logFile))
	d := startDaemon(t, dir, "run", "--debug", "--config", cfg)
	d.waitLog(t, "following", logFile)

	w, err := os.OpenFile(logFile, os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	n := 0
	write := func(k int) {
		if _, err := w.WriteString(numberedLines(n, n+k)); err != nil {
			t.Fatal(err)
		}
		n += k
	}
	// Small, then caught up: the daemon holds an offset in the middle of nothing.
	write(100)
	d.waitCaughtUp(t, logFile)
	// Large, then rotated at once: the daemon is still reading when the copy is made.
	write(5000)
	copyTruncate(t, logFile)
	// And more than before, so the file is longer than the old offset when it looks.
	write(6000)
	// A copytruncate found its copy: nothing lost, so nothing for status's warnings.
	if l := d.waitLog(t, "truncated", logFile); !strings.Contains(l, "level=INFO") {
		t.Errorf("a handled copytruncate is logged as %s", l)
	}
	d.waitCaughtUp(t, logFile)
	d.stop(t)
	checkExactlyOnce(t, dir, n)
}
