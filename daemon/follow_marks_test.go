package daemon

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/store"
)

// rotateKeeping rotates path as logrotate with "rotate keep" does: name.N becomes
// name.N+1 (name.keep is deleted), path becomes name.1, and a new path gets text.
func rotateKeeping(t *testing.T, path string, keep int, text string) {
	t.Helper()
	if err := os.Remove(fmt.Sprintf("%s.%d", path, keep)); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for n := keep - 1; n >= 1; n-- {
		if err := os.Rename(fmt.Sprintf("%s.%d", path, n), fmt.Sprintf("%s.%d", path, n+1)); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendTo(t, path, text)
}

// waitLines waits until c counted n lines, or fails the test after 30s.
func waitLines(t *testing.T, c *SourceCounters, n int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for c.Lines.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("read %d lines of %d within 30s", c.Lines.Load(), n)
		}
		<-tick.C
	}
}

// marksOf are the rotated marks of path committed in cfg's store, by name.
func marksOf(t *testing.T, cfg *Config, path string) map[string]store.Position {
	t.Helper()
	st := openTestStore(t, cfg)
	defer st.Close()
	all, err := st.Positions()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]store.Position{}
	for _, p := range all {
		if _, ok := markNumber(path, p.Source); ok {
			out[p.Source] = p
		}
	}
	return out
}

// auth.log is rotated 12 times while the daemon runs, logrotate keeping 12 rotated
// files (hourly, "rotate 12"): each keeps its mark, and scan of all of them reads
// nothing again. Marks were a ring of 8: the 9th rotation overwrote the 1st's mark, and
// scan read the 4 oldest files again. Once only 2 rotated files are kept, the marks
// beyond the newest 8 are forgotten.
func TestMoreRotationsThanMarks(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "auth.log")
	appendTo(t, logFile, userLines(0, 10))
	cfg := followConfig(t, dir, logFile)
	d, stop := runDaemon(t, cfg, slog.DiscardHandler)
	c := d.sources.get(logFile)
	waitLines(t, c, 10)
	const rotations = 12
	for i := 1; i <= rotations; i++ {
		rotateKeeping(t, logFile, rotations, userLines(i*10, i*10+10))
		waitLines(t, c, int64(i*10+10))
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if n := len(marksOf(t, cfg, logFile)); n != rotations {
		t.Errorf("%d marks for %d rotated files; want one each", n, rotations)
	}
	st := openTestStore(t, cfg)
	p, err := NewPipeline(cfg, st, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	var rotated []string
	for i := rotations; i >= 1; i-- {
		rotated = append(rotated, fmt.Sprintf("%s.%d", logFile, i))
	}
	got, err := p.Scan(t.Context(), rotated, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if n := p.Counters.Lines.Load(); n != 0 || len(got) != rotations {
		var as []string
		for _, f := range got {
			as = append(as, filepath.Base(f.Path)+" as "+f.ReadAs)
		}
		t.Errorf("scan read %d lines again, knew %d files of %d read: %s", n, len(got), rotations, strings.Join(as, ", "))
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	checkStoredOnce(t, cfg, rotations*10+10)

	// logrotate now keeps 2: one more rotation, and the marks of the files gone but
	// the newest 8 are forgotten.
	for i := 3; i <= rotations; i++ {
		if err := os.Remove(fmt.Sprintf("%s.%d", logFile, i)); err != nil {
			t.Fatal(err)
		}
	}
	d, stop = runDaemon(t, cfg, slog.DiscardHandler)
	c = d.sources.get(logFile)
	rotateKeeping(t, logFile, 2, userLines(500, 510))
	waitLines(t, c, 10)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	marks := marksOf(t, cfg, logFile)
	for n := rotations + 1 - rotatedMarks; n <= rotations; n++ {
		if _, ok := marks[rotatedMark(logFile, int64(n))]; !ok {
			t.Errorf("mark %d was forgotten, one of the newest %d", n, rotatedMarks)
		}
	}
	if len(marks) != rotatedMarks {
		t.Errorf("%d marks kept; want the newest %d", len(marks), rotatedMarks)
	}
}

// A store whose daemon named mark n n%8 (11 rotations: marks 8, 9 and 10 named 0, 1 and
// 2): the daemon names them by their number, so that the newest are not taken for the
// oldest and forgotten.
func TestMarksOfARingNamedByTheirNumber(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "auth.log")
	appendTo(t, logFile, userLines(0, 10))
	cfg := followConfig(t, dir, logFile)
	st := openTestStore(t, cfg)
	pos := []store.Position{{Source: marksKey(logFile), Offset: 11}}
	for k := range 8 {
		n := k
		if k < 3 {
			n += 8
		}
		name := fmt.Sprintf("%s (rotated away, mark %d)", logFile, k)
		pos = append(pos, store.Position{Source: name, Dev: 1, Inode: uint64(1000 + n), Offset: 10},
			store.Position{Source: fingerprintKey(name), Dev: 99, Inode: 0, Offset: 10})
	}
	if _, err := st.Commit(nil, pos); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	runUntilRead(t, cfg, logFile)
	marks := marksOf(t, cfg, logFile)
	for n := 3; n <= 10; n++ {
		if m, ok := marks[rotatedMark(logFile, int64(n))]; !ok || m.Inode != uint64(1000+n) {
			t.Errorf("mark %d: %+v, %v; want the mark of inode %d", n, m, ok, 1000+n)
		}
	}
	if len(marks) != 8 {
		t.Errorf("%d marks; want 8: %v", len(marks), marks)
	}
	st = openTestStore(t, cfg)
	if p, _, err := st.Position(marksKey(logFile)); err != nil || p.Offset != 11 || p.Inode != marksNumbered {
		t.Errorf("count %+v, %v; want 11, numbered", p, err)
	}
	if p, ok, _ := st.Position(fingerprintKey(rotatedMark(logFile, 10))); !ok || p.Dev != 99 {
		t.Errorf("fingerprint of mark 10: %+v, %v; want moved with it", p, ok)
	}
}
