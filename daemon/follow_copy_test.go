package daemon

import (
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// replaceByCopy does what rsync without --inplace does to path when the remote file grew
// by lines from..to-1 (as do cp to a temporary name and mv): a new file with the same
// bytes and the new lines after them, renamed over the path.
func replaceByCopy(t *testing.T, path string, from, to int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, append(b, userLines(from, to)...), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// A followed file is synced from another host the way rsync does by default: each sync
// renames a grown copy over it. The daemon continues each copy from where it read the
// file it replaces: it read each from its first line, and 100, 150, 200 lines were
// stored as 100, 250, 450 events.
func TestFileReplacedByAGrownCopyWhileFollowed(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "auth.log")
	appendTo(t, logFile, userLines(0, 100))
	cfg := followConfig(t, dir, logFile)
	h := &caughtUp{wants: map[string]chan struct{}{}}
	_, stop := runDaemon(t, cfg, h)
	h.wait(t, logFile, int64(len(userLines(0, 100))))
	replaceByCopy(t, logFile, 100, 150)
	h.wait(t, logFile, int64(len(userLines(0, 150))))
	replaceByCopy(t, logFile, 150, 200)
	h.wait(t, logFile, int64(len(userLines(0, 200))))
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	checkStoredOnce(t, cfg, 200)
}

// The same while the daemon is stopped: started again, it continues the copy from the
// saved offset (it read it from its start, and warned that lines could not be read).
func TestFileReplacedByAGrownCopyWhileStopped(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "auth.log")
	appendTo(t, logFile, userLines(0, 100))
	cfg := followConfig(t, dir, logFile)
	runUntilRead(t, cfg, logFile)
	replaceByCopy(t, logFile, 100, 150)
	runUntilRead(t, cfg, logFile)
	checkStoredOnce(t, cfg, 150)
}

// A file replaced by another that only starts like it, but not up to the offset (a new
// log whose first lines happen to differ), is still read from its start.
func TestFileReplacedByAnotherIsReadWhole(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "auth.log")
	appendTo(t, logFile, userLines(0, 100))
	cfg := followConfig(t, dir, logFile)
	runUntilRead(t, cfg, logFile)
	tmp := logFile + ".new"
	if err := os.WriteFile(tmp, []byte(userLines(0, 50)+userLines(1000, 1100)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, logFile); err != nil {
		t.Fatal(err)
	}
	runUntilRead(t, cfg, logFile)
	st := openTestStore(t, cfg)
	events, err := st.EventsByAddr(netip.MustParseAddr("3.3.3.3"), time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil || len(events) != 250 {
		t.Errorf("%d events for 100 lines and a new file of 150, %v; want 250", len(events), err)
	}
}

// The daemon read auth.log (lines 0–99) and was stopped; lines 100–149 were written, it
// was rotated to auth.log.1 and a new auth.log got 150–179. Started again, the daemon
// reads the rest of auth.log.1 and keeps its mark: scan of auth.log.1 then reads nothing
// again (it read its 150 lines a second time).
func TestScanOfAFileRotatedWhileTheDaemonWasStopped(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "auth.log")
	appendTo(t, logFile, userLines(0, 100))
	cfg := followConfig(t, dir, logFile)
	runUntilRead(t, cfg, logFile)
	appendTo(t, logFile, userLines(100, 150))
	if err := os.Rename(logFile, logFile+".1"); err != nil {
		t.Fatal(err)
	}
	appendTo(t, logFile, userLines(150, 180))
	runUntilRead(t, cfg, logFile)

	checkScanKnows(t, cfg, logFile+".1", int64(len(userLines(0, 150))))
	checkStoredOnce(t, cfg, 180)
}

// auth.log (lines 0–99) is rotated while the daemon runs; it reads the new file (100–129)
// and is stopped. auth.log is rotated again (auth.log.1 becomes .2), and the daemon,
// started again, reads the rest of auth.log.1 and keeps its mark. Scan of auth.log.2
// then reads nothing again: the mark count goes on across the restart. Counted from 0,
// the mark of auth.log.1 took the slot of auth.log.2's, and its 100 lines were read twice.
func TestRotatedMarksOutliveARestart(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "auth.log")
	appendTo(t, logFile, userLines(0, 100))
	cfg, _, _, stop := followAcrossRotation(t, dir, logFile, 100, 130)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(logFile+".1", logFile+".2"); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(logFile, logFile+".1"); err != nil {
		t.Fatal(err)
	}
	appendTo(t, logFile, userLines(130, 150))
	runUntilRead(t, cfg, logFile)

	st := openTestStore(t, cfg)
	p, err := NewPipeline(cfg, st, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	got, err := p.Scan(t.Context(), []string{logFile + ".2", logFile + ".1"}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if n := p.Counters.Lines.Load(); n != 0 || len(got) != 2 {
		t.Errorf("scan read %d lines, found %+v; want none read", n, got)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	checkStoredOnce(t, cfg, 150)
}
