package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A process keeps auth.log open across its rotation (a vsftpd session that opened it
// before logrotate renamed it) and writes lines 110–159 to it after the new auth.log got
// lines 100–109. The daemon reads them through the descriptor it keeps for a while, and
// commits their position under the rotated file's mark, not the path's: scan of
// auth.log.1 then reads nothing again, and the daemon started again reads no line twice.
// It closed the old file when it moved to the new one, and the 50 lines were lost.
func TestLinesWrittenToTheRotatedFileAfterTheSwitch(t *testing.T) {
	dir := t.TempDir()
	logFile, w := heldOpenLog(t, dir)
	cfg, _, d, stop := followAcrossRotation(t, dir, logFile, 100, 110)
	if _, err := w.WriteString(userLines(110, 160)); err != nil {
		t.Fatal(err)
	}
	c := d.sources.get(logFile)
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	for c.Lines.Load() < 160 {
		if time.Now().After(deadline) {
			t.Fatalf("read %d lines of 160 within 30s", c.Lines.Load())
		}
		<-tick.C
	}
	tick.Stop()
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	checkScanKnows(t, cfg, logFile+".1", int64(len(userLines(0, 100))+len(userLines(110, 160))))
	runUntilRead(t, cfg, logFile)
	checkStoredOnce(t, cfg, 160)
}

// The file rotated away is read on while it gets lines, however long, and let go once
// quiet for lateQuiet; let go, it is looked at every lateCheck and read on when it has
// grown. It was closed lateFor (an hour) after the switch however it was written to,
// and what came after was lost without a word.
func TestTheRotatedFileIsReadOnWhileWritten(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.log")
	for _, tc := range []struct {
		name    string
		at      []time.Duration // readLate at t0+at[i], a line written before each
		open    []bool          // whether the file is held after each
		written bool
	}{
		{name: "quiet", at: []time.Duration{time.Second, lateQuiet - time.Second, lateQuiet}, open: []bool{true, true, false}},
		{name: "written to", written: true, at: []time.Duration{lateQuiet - time.Second, 2*lateQuiet - 2*time.Second, time.Hour, 3 * time.Hour},
			open: []bool{true, true, true, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			appendTo(t, path, userLines(0, 10))
			out := make(chan sourceLine, 1000)
			ff := &fileFollower{path: path, log: slog.New(slog.DiscardHandler), store: noPositions{}, c: &SourceCounters{}, out: out}
			ctx := context.Background()
			t0 := time.Now()
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			o := ff.open(ctx, path, fi.Size()) // read to its end when rotated away
			if o == nil {
				t.Fatal("cannot open the file")
			}
			if err := os.Rename(path, path+".1"); err != nil {
				t.Fatal(err)
			}
			defer os.Remove(path + ".1")
			if err := ff.keepLate(ctx, o, t0); err != nil {
				t.Fatal(err)
			}
			defer ff.closeLate()
			for i, at := range tc.at {
				if tc.written {
					appendTo(t, path+".1", userLines(100+i, 101+i))
				}
				if err := ff.readLate(ctx, t0.Add(at)); err != nil {
					t.Fatal(err)
				}
				if open := len(ff.late) > 0; open != tc.open[i] {
					t.Fatalf("after %v: held %v; want %v", at, open, tc.open[i])
				}
			}
			if tc.written {
				if n := ff.c.Lines.Load(); n != int64(len(tc.at)) {
					t.Errorf("read %d lines of %d", n, len(tc.at))
				}
				return
			}
			// Let go, then written to: read on at the next look.
			last := t0.Add(tc.at[len(tc.at)-1])
			appendTo(t, path+".1", userLines(200, 203))
			if err := ff.readLate(ctx, last.Add(lateCheck)); err != nil || ff.c.Lines.Load() != 3 || len(ff.late) != 1 {
				t.Fatalf("read %d lines at the next look, held %d, %v; want 3 read, the file held again", ff.c.Lines.Load(), len(ff.late), err)
			}
		})
	}
}

// A writer that kept auth.log open across its rotation (a vsftpd session) writes lines
// 110–139 to auth.log.1 after the follower let it go, quiet for lateQuiet (here 50ms):
// at its next look (lateCheck) the follower finds it grown and reads on from where it
// stopped, each line once. They were lost without a word.
func TestLinesWrittenToTheRotatedFileAfterItWasLetGo(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "auth.log")
	w, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.WriteString(userLines(0, 100)); err != nil {
		t.Fatal(err)
	}
	tap := &logTap{more: make(chan struct{})}
	out := make(chan sourceLine, 1000)
	ff := &fileFollower{path: path, log: slog.New(tap), store: noPositions{}, c: &SourceCounters{}, out: out,
		quiet: 50 * time.Millisecond, check: 10 * time.Millisecond}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- ff.run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	lines := map[string]int{}
	// read takes what the follower sends until it sent n lines, or fails after 10s.
	read := func(n int) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for got := 0; got < n; {
			select {
			case l := <-out:
				if !l.posOnly {
					lines[l.rec.Line]++
					got++
				}
			case <-deadline:
				t.Fatalf("%d lines of %d within 10s; the log:\n%s", got, n, strings.Join(tap.all(), "\n"))
			}
		}
	}
	read(100)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendTo(t, path, userLines(100, 110))
	read(10)
	tap.wait(t, "stopped reading the file rotated away")
	if _, err := w.WriteString(userLines(110, 140)); err != nil {
		t.Fatal(err)
	}
	read(30)
	tap.wait(t, "written to after the daemon stopped reading it: reading on")
	for i, l := range strings.SplitAfter(userLines(0, 140), "\n")[:140] {
		if n := lines[strings.TrimSuffix(l, "\n")]; n != 1 {
			t.Errorf("line %d read %d times", i, n)
		}
	}
}

// The same while the daemon is stopped: it read auth.log.1 and auth.log and was stopped,
// and the writer then added lines 110–159 to auth.log.1. Started again, the daemon finds
// auth.log.1 by its rotated mark, grown, and reads on from the mark: every line stored
// once. They were lost without a word.
func TestLinesWrittenToTheRotatedFileWhileTheDaemonWasStopped(t *testing.T) {
	dir := t.TempDir()
	logFile, w := heldOpenLog(t, dir)
	cfg, _, _, stop := followAcrossRotation(t, dir, logFile, 100, 110)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteString(userLines(110, 160)); err != nil {
		t.Fatal(err)
	}
	tap := &logTap{more: make(chan struct{})}
	_, stop = runDaemon(t, cfg, tap)
	tap.wait(t, "written to after the daemon stopped reading it: reading on")
	tap.wait(t, "read to the end", "offset="+strconv.Itoa(len(userLines(100, 110))))
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	checkStoredOnce(t, cfg, 160)
}

// A file rotated away, let go, is found grown at the next look but no longer holds the
// bytes read last before where it was read to (truncated and written again): what was
// written to it is not read, and the follower says so, naming the file and the bytes,
// and counts it in the source's errors (status, metrics).
func TestARotatedFileLetGoThatCannotBeReadOnIsWarnedOf(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.log")
	appendTo(t, path, userLines(0, 10))
	tap := &logTap{more: make(chan struct{})}
	ff := &fileFollower{path: path, log: slog.New(tap), store: noPositions{}, c: &SourceCounters{}, out: make(chan sourceLine, 100)}
	ctx := context.Background()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	o := ff.open(ctx, path, fi.Size())
	if o == nil {
		t.Fatal("cannot open the file")
	}
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	if err := ff.keepLate(ctx, o, t0); err != nil {
		t.Fatal(err)
	}
	if err := ff.readLate(ctx, t0.Add(lateQuiet)); err != nil || len(ff.late) != 0 {
		t.Fatalf("held %d files after lateQuiet, %v; want it let go", len(ff.late), err)
	}
	// Truncated and written again, longer: the same inode.
	text := userLines(500, 530)
	if err := os.WriteFile(path+".1", []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := ff.readLate(ctx, t0.Add(lateQuiet+lateCheck)); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("bytes_not_read=%d", int64(len(text))-fi.Size())
	if n := tap.count("WARN", "rotated="+path+".1", want); n != 1 || ff.c.Errors.Load() != 1 || ff.c.Lines.Load() != 0 {
		t.Errorf("%d warnings with %s, %d errors counted, %d lines read; want 1, 1, none; the log:\n%s",
			n, want, ff.c.Errors.Load(), ff.c.Lines.Load(), strings.Join(tap.all(), "\n"))
	}
}
