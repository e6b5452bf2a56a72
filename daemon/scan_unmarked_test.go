package daemon

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/store"
)

// A daemon older than rotated marks followed auth.log, read it (lines 0–99), saw it
// rotated to auth.log.1 (an hour ago) and moved to the new auth.log (lines 100–129): its
// store holds the position in the new file and no mark. Scan of auth.log.1 cannot know
// that file was read: it reads it whole, and warns that such a daemon may have read it
// (it said nothing, and stored its lines twice); so too once a daemon that keeps marks
// has run on that store (it keeps them from then on). A store whose daemon kept marks
// from its first start (the file was rotated before, never read by it), and a file that
// is no rotated name of a followed one, get no such warning.
func TestScanOfARotatedFileOnAStoreWithoutMarks(t *testing.T) {
	for _, tc := range []struct {
		name   string
		scan   string // the file scanned, in the directory
		old    bool   // the store holds the position a daemon older than marks left
		daemon bool   // a daemon that keeps marks runs before the scan
		warn   bool
	}{
		{name: "older daemon", scan: "auth.log.1", old: true, warn: true},
		{name: "older daemon, then this one", scan: "auth.log.1", old: true, daemon: true, warn: true},
		{name: "this daemon from its first start", scan: "auth.log.1", daemon: true},
		{name: "another file", scan: "other.log", old: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			logFile := filepath.Join(dir, "auth.log")
			appendTo(t, logFile, userLines(0, 100))
			rotated := filepath.Join(dir, tc.scan)
			if err := os.Rename(logFile, rotated); err != nil {
				t.Fatal(err)
			}
			hourAgo := time.Now().Add(-time.Hour)
			if err := os.Chtimes(rotated, hourAgo, hourAgo); err != nil {
				t.Fatal(err)
			}
			appendTo(t, logFile, userLines(100, 130))
			fi, err := os.Stat(logFile)
			if err != nil {
				t.Fatal(err)
			}
			cfg := followConfig(t, dir, logFile)
			if tc.old {
				st := openTestStore(t, cfg)
				pos := identity(logFile, fi)
				pos.Offset = fi.Size()
				if _, err := st.Commit(nil, []store.Position{pos}); err != nil {
					t.Fatal(err)
				}
				if err := st.Close(); err != nil {
					t.Fatal(err)
				}
			}
			if tc.daemon {
				runUntilRead(t, cfg, logFile)
			}
			st := openTestStore(t, cfg)
			tap := &logTap{more: make(chan struct{})}
			p, err := NewPipeline(cfg, st, slog.New(tap))
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.Scan(t.Context(), []string{rotated}, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			if n := p.Counters.Lines.Load(); n != 100 {
				t.Errorf("scan read %d lines; want the 100 of the file", n)
			}
			warned := tap.count("WARN", "no rotated mark tells whether a daemon read this file") > 0
			if tc.warn {
				if !warned || len(got) != 1 || got[0].UnmarkedRotationOf != logFile {
					t.Errorf("warned %v, found %+v; want a warning, the file a rotation of %s", warned, got, logFile)
				}
			} else if warned || len(got) != 0 {
				t.Errorf("warned %v, found %+v; want neither", warned, got)
			}
		})
	}
}
