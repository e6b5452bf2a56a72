package daemon

import (
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/store"
)

// commitPositions commits positions to cfg's store as a daemon would have: the state a
// daemon killed at some point leaves, or an older one wrote.
func commitPositions(t *testing.T, cfg *Config, positions ...store.Position) {
	t.Helper()
	st := openTestStore(t, cfg)
	defer st.Close()
	if _, err := st.Commit(nil, positions); err != nil {
		t.Fatal(err)
	}
}

// fileID is the device and inode of the file at path.
func fileID(t *testing.T, path string) store.Position {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return identity(path, fi)
}

// fpOf are the bytes of text a follower remembers as read last (its fingerprint).
func fpOf(text string) []byte {
	return lastBytes(nil, []byte(text))
}

// runUntilStarted runs the daemon of cfg until it has read what its files held when it
// started (the files let go it found grown included), and stops it: whatever it would
// read twice it has read by then.
func runUntilStarted(t *testing.T, cfg *Config) *logTap {
	t.Helper()
	tap := &logTap{more: make(chan struct{})}
	d, stop := runDaemon(t, cfg, tap)
	tap.wait(t, "abusewatch running") // the files are followed: filesLeft counts them
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for d.filesLeft.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the files were not read to their end within 30s; the log:\n%s", strings.Join(tap.all(), "\n"))
		}
		<-tick.C
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	return tap
}

// marksOfInode are the names of the rotated marks of path in cfg's store that are of
// the file id.
func marksOfInode(t *testing.T, cfg *Config, path string, id store.Position) []string {
	t.Helper()
	var names []string
	for name, m := range marksOf(t, cfg, path) {
		if m.Dev == id.Dev && m.Inode == id.Inode {
			names = append(names, name)
		}
	}
	return names
}

// The daemon read auth.log (lines 0–99), saw it renamed to auth.log.1, marked it (mark 0)
// and was killed before it committed that it moved on to the new auth.log: the path's
// position is still auth.log.1's. A writer that keeps auth.log.1 open adds 110–119 to it;
// the new auth.log has 100–109. Started again, the daemon reads auth.log.1 on from there
// under its mark 0, not under a new one; started once more after 120–139 were written to
// auth.log.1, it reads them once. It marked auth.log.1 again (mark 1), left mark 0 at
// its old offset, and every later start read on from both marks: lines 110–139 stored
// twice or three times (review 25, the SIGKILL case, made deterministic).
func TestARotatedFileReadAgainAfterAKillKeepsItsMark(t *testing.T) {
	dir := t.TempDir()
	logFile, w := heldOpenLog(t, dir)
	cfg := followConfig(t, dir, logFile)
	runUntilRead(t, cfg, logFile)

	// What the kill leaves: the rotation counted and marked, the path not moved on.
	id := fileID(t, logFile)
	if err := os.Rename(logFile, logFile+".1"); err != nil {
		t.Fatal(err)
	}
	a := int64(len(userLines(0, 100)))
	mark := rotatedMark(logFile, 0)
	commitPositions(t, cfg,
		store.Position{Source: marksKey(logFile), Inode: marksNumbered, Offset: 1},
		store.Position{Source: mark, Dev: id.Dev, Inode: id.Inode, Offset: a},
		fingerprintOf(mark, fpOf(userLines(0, 100)), a))
	appendTo(t, logFile, userLines(100, 110))
	if _, err := w.WriteString(userLines(110, 120)); err != nil {
		t.Fatal(err)
	}
	runUntilStarted(t, cfg)
	if names := marksOfInode(t, cfg, logFile, id); len(names) != 1 || names[0] != mark {
		t.Errorf("auth.log.1 has the marks %v; want only %s", names, mark)
	}

	if _, err := w.WriteString(userLines(120, 140)); err != nil {
		t.Fatal(err)
	}
	runUntilStarted(t, cfg)
	checkStoredOnce(t, cfg, 140)
}

// A store has two marks of auth.log.1, as a daemon killed as it moved on from it left
// them (before marks were continued): mark 0 at the end of lines 0–99, mark 1 at the end
// of 110–119, both held by the file. A writer adds 120–139 to it while the daemon is
// stopped. Started, the daemon keeps mark 1, forgets mark 0 and reads 120–139 once. It
// watched both, read on from each: 110–139 stored again, 120–139 twice.
func TestTwoMarksOfOneRotatedFileAreMadeOne(t *testing.T) {
	dir := t.TempDir()
	logFile, w := heldOpenLog(t, dir)
	cfg, _, _, stop := followAcrossRotation(t, dir, logFile, 100, 110)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteString(userLines(110, 120)); err != nil {
		t.Fatal(err)
	}
	runUntilStarted(t, cfg) // reads 110–119 on under mark 0

	// Mark 1 where mark 0 is now; mark 0 back where the first start left it.
	id := fileID(t, logFile+".1")
	m0, m1 := rotatedMark(logFile, 0), rotatedMark(logFile, 1)
	st := openTestStore(t, cfg)
	pos, _, err := st.Position(m0)
	if err != nil {
		t.Fatal(err)
	}
	fp, _, err := st.Position(fingerprintKey(m0))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if b := int64(len(userLines(0, 100)) + len(userLines(110, 120))); pos.Inode != id.Inode || pos.Offset != b {
		t.Fatalf("mark 0 is %+v; want auth.log.1 (inode %d) read to %d", pos, id.Inode, b)
	}
	pos.Source, fp.Source = m1, fingerprintKey(m1)
	a := int64(len(userLines(0, 100)))
	commitPositions(t, cfg,
		store.Position{Source: marksKey(logFile), Inode: marksNumbered, Offset: 2},
		pos, fp,
		store.Position{Source: m0, Dev: id.Dev, Inode: id.Inode, Offset: a},
		fingerprintOf(m0, fpOf(userLines(0, 100)), a))

	if _, err := w.WriteString(userLines(120, 140)); err != nil {
		t.Fatal(err)
	}
	runUntilStarted(t, cfg)
	checkStoredOnce(t, cfg, 140)
	if names := marksOfInode(t, cfg, logFile, id); len(names) != 1 || names[0] != m1 {
		t.Errorf("auth.log.1 has the marks %v; want only %s", names, m1)
	}
}

// The mark of a rotated file deleted long ago (mark 5, lines 1000–1009) has the inode of
// auth.log.1 now, a larger file with other lines. Started, the daemon does not take
// auth.log.1 for the mark's file grown: no warning that bytes were not read, no error
// counted, nothing of auth.log.1 read. It warned of lost bytes and counted an error at
// every start.
func TestAMarkWhoseInodeAnotherFileGotIsNotWarnedOf(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "auth.log")
	appendTo(t, logFile+".1", userLines(0, 50))
	appendTo(t, logFile, userLines(50, 60))
	cfg := followConfig(t, dir, logFile)
	id := fileID(t, logFile+".1")
	stale := userLines(1000, 1010)
	mark := rotatedMark(logFile, 5)
	commitPositions(t, cfg,
		store.Position{Source: marksKey(logFile), Inode: marksNumbered, Offset: 6},
		store.Position{Source: mark, Dev: id.Dev, Inode: id.Inode, Offset: int64(len(stale))},
		fingerprintOf(mark, fpOf(stale), int64(len(stale))))

	tap := &logTap{more: make(chan struct{})}
	d, stop := runDaemon(t, cfg, tap)
	tap.wait(t, "read to the end", "offset="+strconv.Itoa(len(userLines(50, 60))))
	// The files let go are looked at before the first read to the end is told of.
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	c := d.sources.get(logFile)
	if n := tap.count("WARN"); n != 0 || c.Errors.Load() != 0 || c.Lines.Load() != 10 {
		t.Errorf("%d warnings, %d errors, %d lines read; want none, none, 10; the log:\n%s",
			n, c.Errors.Load(), c.Lines.Load(), strings.Join(tap.all(), "\n"))
	}
}

// auth.log.1, rotated away, is read on through the descriptor kept (a lateFile) and has
// a mark let go as well (a second mark of it, as a daemon killed as it moved on left
// one): when it grows, it is read on once, through the descriptor held, not opened
// again from the other mark. Each read on from its own offset, the lines after the
// further one were read twice.
func TestARotatedFileHeldOpenIsNotOpenedAgain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.log")
	appendTo(t, path, userLines(0, 10))
	out := make(chan sourceLine, 100)
	ff := &fileFollower{path: path, log: slog.New(slog.DiscardHandler), store: noPositions{}, c: &SourceCounters{}, out: out}
	ctx := t.Context()
	size := int64(len(userLines(0, 10)))
	o := ff.open(ctx, path, size)
	if o == nil {
		t.Fatal("cannot open the file")
	}
	o.markAs = rotatedMark(path, 1)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	if err := ff.keepLate(ctx, o, t0); err != nil {
		t.Fatal(err)
	}
	defer ff.closeLate()
	ff.letGo = []letGoFile{{mark: markOf(o.pos(rotatedMark(path, 0)), fingerprintOf(rotatedMark(path, 0), o.fp, size), true),
		as: rotatedMark(path, 0), size: size, known: true}}
	appendTo(t, path+".1", userLines(10, 13))
	if err := ff.readLate(ctx, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if n := ff.c.Lines.Load(); n != 3 || len(ff.late) != 1 {
		t.Errorf("read %d lines, %d files held; want 3 lines, 1 file", n, len(ff.late))
	}
}
