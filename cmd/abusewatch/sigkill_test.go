package main

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The daemon binary is killed with SIGKILL 25 times at random moments (before its first
// commit, or after a random number of lines) while a writer appends and now and then
// rotates the log by rename. Afterwards every line written is stored exactly once: the
// position committed with the events is where each restart continues.
func TestSIGKILLAtRandomMomentsLosesAndRepeatsNothing(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "auth.log")
	appendFile(t, logFile, "")
	cfg := writeSourceConfig(t, dir, fileSource(logFile))

	stop := make(chan struct{})
	written := make(chan int)
	// The first rotation waits until a daemon committed where it began: a daemon
	// killed before its first commit, the file rotated before the next start, knows
	// of no file before (at a first start the rotated files are old logs, for scan),
	// and under load the test lost the first file so.
	began := make(chan struct{})
	go func() {
		// The writer paces itself on a ticker (about 5,000 lines/s) and rotates every
		// 4,000 lines, keeping every rotated file.
		w, err := os.OpenFile(logFile, os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			t.Error(err)
			written <- 0
			return
		}
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		n := 0
		for {
			select {
			case <-stop:
				w.Close()
				written <- n
				return
			case <-tick.C:
			}
			if _, err := w.WriteString(numberedLines(n, n+10)); err != nil {
				t.Error(err)
			}
			n += 10
			if n%4000 == 0 {
				select {
				case <-began:
				case <-stop:
				}
				rotateByRename(t, logFile, 100)
				w.Close()
				if w, err = os.OpenFile(logFile, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644); err != nil {
					t.Error(err)
				}
			}
		}
	}()

	for i := range 25 {
		d := startDaemon(t, dir, "run", "--debug", "--config", cfg)
		if i%5 == 0 {
			d.waitLog(t, "following", logFile) // before the first commit of this run
		} else {
			d.waitEvents(t, 1+rand.IntN(3000))
		}
		d.kill()
		if i == 1 {
			close(began) // run 1 committed events, and so where the file began
		}
	}
	close(stop)
	n := <-written

	d := startDaemon(t, dir, "run", "--debug", "--config", cfg)
	d.waitCaughtUp(t, logFile)
	d.stop(t)
	t.Logf("%d lines written, %d rotations", n, n/4000)
	checkExactlyOnce(t, dir, n)
}
