package main

import (
	"os"
	"path/filepath"
	"testing"
)

// A log rotated by rename while lines are being written (logrotate's default, with the
// syslog daemon writing to the old file until it is told to reopen): every line, those
// written to the old file after the rename included, is stored exactly once.
func TestRotationByRenameWhileWriting(t *testing.T) {
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
	n := 0
	write := func(k int) {
		if _, err := w.WriteString(numberedLines(n, n+k)); err != nil {
			t.Fatal(err)
		}
		n += k
	}
	for range 4 {
		write(3000) // the daemon is still reading these when the file is renamed
		rotateByRename(t, logFile, 3)
		write(500) // the writer has not reopened yet: these go to the renamed file
		w.Close()
		if w, err = os.OpenFile(logFile, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644); err != nil {
			t.Fatal(err)
		}
		write(200)
	}
	w.Close()
	d.waitLog(t, "rotations=4")
	d.waitCaughtUp(t, logFile)
	d.stop(t)
	checkExactlyOnce(t, dir, n)
}
