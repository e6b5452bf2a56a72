package main

import (
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// gzipFile compresses path to path.gz and removes path, like logrotate's compress
// without delaycompress.
func gzipFile(t *testing.T, path string) {
	t.Helper()
	src, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(path + ".gz")
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(dst)
	if _, err := io.Copy(zw, src); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

// rotateCompressed rotates like logrotate with compress and without delaycompress:
// name.N.gz becomes name.N+1.gz, the file becomes name.1 and is compressed at once.
func rotateCompressed(t *testing.T, path string) {
	t.Helper()
	for i := 8; i >= 1; i-- {
		if err := os.Rename(fmt.Sprintf("%s.%d.gz", path, i), fmt.Sprintf("%s.%d.gz", path, i+1)); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	gzipFile(t, path+".1")
}

// A log rotated and compressed at once while the daemon lags: the old file is read to
// its end through the descriptor the daemon holds, even though its name is gone.
func TestRotationWithCompression(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "auth.log")
	appendFile(t, logFile, "")
	cfg := writeSourceConfig(t, dir, fileSource(logFile))
	d := startDaemon(t, dir, "run", "--debug", "--config", cfg)
	d.waitLog(t, "following", logFile)

	n := 0
	for range 3 {
		appendFile(t, logFile, numberedLines(n, n+4000))
		n += 4000
		rotateCompressed(t, logFile)
		appendFile(t, logFile, numberedLines(n, n+100))
		n += 100
	}
	d.waitLog(t, "rotations=3")
	d.waitCaughtUp(t, logFile)
	d.stop(t)
	checkExactlyOnce(t, dir, n)
}

// The daemon stopped mid-file, then the file was rotated and compressed at once: on start
// the rest is read from the compressed copy from the saved offset, then the new file.
func TestRotationWithCompressionWhileStopped(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "auth.log")
	cfg := readThenStop(t, dir, logFile)

	appendFile(t, logFile, numberedLines(1000, 2000))
	rotateCompressed(t, logFile)
	appendFile(t, logFile, numberedLines(2000, 2500))

	d := startDaemon(t, dir, "run", "--debug", "--config", cfg)
	d.waitLog(t, "read the rest of a file rotated while the daemon was stopped", "auth.log.1.gz")
	d.waitCaughtUp(t, logFile)
	d.stop(t)
	checkExactlyOnce(t, dir, 2500)
}
