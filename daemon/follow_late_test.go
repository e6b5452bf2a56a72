package daemon

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
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
	logFile := filepath.Join(dir, "auth.log")
	w, err := os.OpenFile(logFile, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.WriteString(userLines(0, 100)); err != nil {
		t.Fatal(err)
	}
	cfg := followConfig(t, dir, logFile)
	h := &caughtUp{wants: map[string]chan struct{}{}}
	d, stop := runDaemon(t, cfg, h)
	h.wait(t, logFile, int64(len(userLines(0, 100))))
	if err := os.Rename(logFile, logFile+".1"); err != nil {
		t.Fatal(err)
	}
	appendTo(t, logFile, userLines(100, 110))
	h.wait(t, logFile, int64(len(userLines(100, 110))))
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

	st := openTestStore(t, cfg)
	p, err := NewPipeline(cfg, st, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	got, err := p.Scan(t.Context(), []string{logFile + ".1"}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	size := int64(len(userLines(0, 100)) + len(userLines(110, 160)))
	if n := p.Counters.Lines.Load(); n != 0 || len(got) != 1 || got[0].Offset != size {
		t.Errorf("scan read %d lines, found %+v; want none read, the file known read to its end (%d)", n, got, size)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	runUntilRead(t, cfg, logFile)
	checkStoredOnce(t, cfg, 160)
}

// The file rotated away is read on while it gets lines, and closed once quiet for
// lateQuiet, or lateFor after the switch however it is written to.
func TestTheRotatedFileIsReadOnForAWhile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.log")
	appendTo(t, path, userLines(0, 10))
	out := make(chan sourceLine, 1000)
	ff := &fileFollower{path: path, log: slog.New(slog.DiscardHandler), store: noPositions{}, c: &SourceCounters{}, out: out}
	ctx := context.Background()
	t0 := time.Now()
	for _, tc := range []struct {
		name    string
		at      []time.Duration // readLate at t0+at[i], a line written before each
		open    []bool          // whether the file is held after each
		written bool
	}{
		{name: "quiet", at: []time.Duration{time.Second, lateQuiet - time.Second, lateQuiet}, open: []bool{true, true, false}},
		{name: "written to", written: true, at: []time.Duration{lateQuiet - time.Second, 2*lateQuiet - 2*time.Second, lateFor - time.Second, lateFor},
			open: []bool{true, true, true, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			o := ff.open(ctx, path, fi.Size()) // read to its end when rotated away
			if o == nil {
				t.Fatal("cannot open the file")
			}
			if err := ff.keepLate(ctx, o, t0); err != nil {
				t.Fatal(err)
			}
			for i, at := range tc.at {
				if tc.written {
					appendTo(t, path, userLines(100+i, 101+i))
				}
				if err := ff.readLate(ctx, t0.Add(at)); err != nil {
					t.Fatal(err)
				}
				if open := ff.late != nil; open != tc.open[i] {
					t.Fatalf("after %v: held %v; want %v", at, open, tc.open[i])
				}
			}
		})
	}
}
