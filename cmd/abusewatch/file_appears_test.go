package main

import (
	"os"
	"path/filepath"
	"testing"
)

// A configured file that does not exist at start, and a file matching a glob that is
// created later, are both followed from their first line once they appear.
func TestFilesThatAppearLater(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "auth.log")
	logs := filepath.Join(dir, "hosts")
	if err := os.Mkdir(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := writeSourceConfig(t, dir, fileSource(plain, filepath.Join(logs, "*.log")))
	d := startDaemon(t, dir, "run", "--debug", "--config", cfg)
	d.waitLog(t, "abusewatch running", "files=1")

	appendFile(t, plain, numberedLines(0, 100))
	globbed := filepath.Join(logs, "web2.log")
	appendFile(t, globbed, numberedLines(100, 200))
	appendFile(t, filepath.Join(logs, "web2.log.1"), numberedLines(900, 901)) // rotated: not followed
	d.waitCaughtUp(t, plain)
	d.waitCaughtUp(t, globbed)
	d.stop(t)
	checkExactlyOnce(t, dir, 200)
}

// A file deleted and created again under the same name: what was written to the deleted
// file before the new one appeared is read through the open descriptor, then the new file.
func TestFileDeletedAndRecreated(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "auth.log")
	appendFile(t, logFile, numberedLines(0, 100))
	cfg := writeSourceConfig(t, dir, fileSource(logFile))
	d := startDaemon(t, dir, "run", "--debug", "--config", cfg)
	d.waitCaughtUp(t, logFile)

	w, err := os.OpenFile(logFile, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(logFile); err != nil {
		t.Fatal(err)
	}
	w.WriteString(numberedLines(100, 3000)) // to the deleted file
	w.Close()
	appendFile(t, logFile, numberedLines(3000, 3100))
	d.waitLog(t, "file was rotated", "rotations=1")
	d.waitCaughtUp(t, logFile)
	d.stop(t)
	checkExactlyOnce(t, dir, 3100)
}
