package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The daemon read auth.log (lines 0–999) and was stopped; then the file was renamed,
// copied, compressed, truncated or replaced, and the admin scans what is there to be
// sure nothing was missed. `scan` knows a file read before under another name by its
// inode or by the fingerprint of the bytes before the saved offset, as the daemon knows
// a rotated file, says so, and reads only what follows: every line is stored once, and a
// daemon started afterwards reads none of them again.
func TestScanOfALogReadBeforeUnderAnotherName(t *testing.T) {
	type step struct {
		scan []string // the files to scan, in dir
		flag []string // more flags
		said []string // what the scan must say (each a substring of its output)
		read int      // the lines it reads
	}
	for _, tc := range []struct {
		name string
		// change changes dir/auth.log after the daemon read lines 0–999 of it.
		change func(t *testing.T, dir, logFile string)
		steps  []step
		// stored says how often line i must be stored in the end, i < upTo.
		stored func(i int) int
		upTo   int
		// restart: the daemon is started again after the scans and reads auth.log
		// (lines 2000–2099) to its end.
		restart bool
	}{
		{
			name:   "renamed by logrotate",
			change: func(t *testing.T, dir, logFile string) { rotateByRename(t, logFile, 4) },
			steps: []step{{scan: []string{"auth.log.1"}, read: 0,
				said: []string{"auth.log.1 was read before as auth.log (up to line 1000 / byte "}}},
			stored: once, upTo: 1000,
		},
		{
			name: "lines written while the daemon was stopped, then renamed, scanned, and the daemon started",
			change: func(t *testing.T, dir, logFile string) {
				appendFile(t, logFile, numberedLines(1000, 1200))
				rotateByRename(t, logFile, 4)
				appendFile(t, logFile, numberedLines(2000, 2100))
			},
			steps: []step{{scan: []string{"auth.log.1"}, read: 200,
				said: []string{"auth.log.1 was read before as auth.log (up to line 1000 / byte "}}},
			stored:  func(i int) int { return btoi(i < 1200 || i >= 2000) },
			upTo:    2100,
			restart: true,
		},
		{
			name: "copied, while the daemon was stopped, with lines written after the copy",
			change: func(t *testing.T, dir, logFile string) {
				appendFile(t, logFile, numberedLines(1000, 1200))
				copyFile(t, logFile, filepath.Join(dir, "copy.log"))
				appendFile(t, logFile, numberedLines(2000, 2100))
			},
			steps: []step{{scan: []string{"copy.log"}, read: 200,
				said: []string{"copy.log holds what was read before from auth.log, of which it is a copy (up to line 1000 / byte "}}},
			stored:  func(i int) int { return btoi(i < 1200 || i >= 2000) },
			upTo:    2100,
			restart: true,
		},
		{
			name: "copytruncate while the daemon was stopped, the copy scanned, and the daemon started",
			change: func(t *testing.T, dir, logFile string) {
				appendFile(t, logFile, numberedLines(1000, 1200))
				copyFile(t, logFile, logFile+".1")
				if err := os.Truncate(logFile, 0); err != nil {
					t.Fatal(err)
				}
				appendFile(t, logFile, numberedLines(2000, 2100))
			},
			steps: []step{{scan: []string{"auth.log.1"}, read: 200,
				said: []string{"auth.log.1 holds what was read before from auth.log, of which it is a copy (up to line 1000 / byte "}}},
			stored:  func(i int) int { return btoi(i < 1200 || i >= 2000) },
			upTo:    2100,
			restart: true,
		},
		{
			name: "renamed, then copied: each scanned, then both again in one invocation",
			change: func(t *testing.T, dir, logFile string) {
				rotateByRename(t, logFile, 4)
				copyFile(t, logFile+".1", filepath.Join(dir, "copy.log"))
			},
			steps: []step{
				{scan: []string{"auth.log.1"}, said: []string{"auth.log.1 was read before as auth.log (up to line 1000 / byte "}},
				{scan: []string{"copy.log"}, said: []string{"copy.log holds what was read before from auth.log"}},
				{scan: []string{"auth.log.1", "copy.log", "auth.log.1"}, said: []string{"Nothing new"}},
			},
			stored: once, upTo: 1000,
		},
		{
			name: "renamed and compressed",
			change: func(t *testing.T, dir, logFile string) {
				appendFile(t, logFile, numberedLines(1000, 1050))
				rotateByRename(t, logFile, 4)
				gzipFile(t, logFile+".1")
			},
			steps: []step{{scan: []string{"auth.log.1.gz"}, read: 50,
				said: []string{"auth.log.1.gz holds what was read before from auth.log, of which it is a copy (up to line 1000 / byte "}}},
			stored: func(i int) int { return btoi(i < 1050) }, upTo: 1050,
		},
		{
			name: "renamed, lines after the offset skipped by --since",
			change: func(t *testing.T, dir, logFile string) {
				appendFile(t, logFile, numberedLines(1000, 1200))
				rotateByRename(t, logFile, 4)
			},
			steps: []step{{scan: []string{"auth.log.1"}, flag: []string{"--since", lineTime(1100)}, read: 200,
				said: []string{"auth.log.1 was read before as auth.log (up to line 1000 / byte ", "100 events before --since skipped"}}},
			stored: func(i int) int { return btoi(i < 1000 || i >= 1100) }, upTo: 1200,
		},
		{
			// It holds every line read, then others: the lines after them are read, and
			// the daemon still continues auth.log where it stopped (its lines after the
			// offset are not those of combined.log).
			name: "a file that holds the lines read, then others",
			change: func(t *testing.T, dir, logFile string) {
				b, err := os.ReadFile(logFile)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, "combined.log"), append(b, numberedLines(3000, 3100)...), 0o644); err != nil {
					t.Fatal(err)
				}
				appendFile(t, logFile, numberedLines(1000, 1100))
			},
			steps: []step{{scan: []string{"combined.log"}, read: 100,
				said: []string{"combined.log holds what was read before from auth.log, of which it is a copy (up to line 1000 / byte "}}},
			stored:  func(i int) int { return btoi(i < 1100 || i >= 3000) },
			upTo:    3100,
			restart: true,
		},
		{
			// Longer than before: only the fingerprint tells it is not the file read.
			name: "truncated and written again",
			change: func(t *testing.T, dir, logFile string) {
				if err := os.WriteFile(logFile, []byte(numberedLines(1000, 2200)), 0o644); err != nil {
					t.Fatal(err)
				}
			},
			steps: []step{{scan: []string{"auth.log"}, read: 1200,
				said: []string{"auth.log was read before up to byte ", "no longer holds what was read then", "reading it from the start"}}},
			stored: once, upTo: 2200,
		},
		{
			// The same first line (the same first 128 bytes and more), then other lines:
			// another file, read whole; its first record, stored before, is not stored
			// again (review 44 M3).
			name: "another file that starts with the same line",
			change: func(t *testing.T, dir, logFile string) {
				other := numberedLine(0) + strings.ReplaceAll(numberedLines(1001, 2000), "web1 ", "web2 ")
				if err := os.WriteFile(filepath.Join(dir, "other.log"), []byte(other), 0o644); err != nil {
					t.Fatal(err)
				}
			},
			steps:  []step{{scan: []string{"other.log"}, read: 1000, said: []string{"1 record already stored, not stored again"}}},
			stored: func(i int) int { return btoi(i != 1000) }, upTo: 2000,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			logFile := filepath.Join(dir, "auth.log")
			cfg := readThenStop(t, dir, logFile)
			tc.change(t, dir, logFile)
			for _, s := range tc.steps {
				args := append(append([]string{"scan", "--config", cfg}, s.flag...), s.scan...)
				stdout, stderr, code := runBinary(t, dir, args...)
				if code != 0 {
					t.Fatalf("%v: exit %d\n%s%s", s.scan, code, stdout, stderr)
				}
				for _, w := range s.said {
					if !strings.Contains(stdout+stderr, w) {
						t.Errorf("scan %v does not say %q:\n%s%s", s.scan, w, stdout, stderr)
					}
				}
				if want := "Read " + counted(s.read, "line") + ":"; !strings.Contains(stdout, want) {
					t.Errorf("scan %v: want %q:\n%s", s.scan, want, stdout)
				}
			}
			if tc.restart {
				d := startDaemon(t, dir, "run", "--debug", "--config", cfg)
				d.waitCaughtUp(t, logFile)
				d.stop(t)
			}
			checkStored(t, dir, tc.upTo, tc.stored)
		})
	}
}

// `scan --json` lists the files read before and how far.
func TestScanJSONSaysWhatWasReadBefore(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "auth.log")
	cfg := readThenStop(t, dir, logFile)
	rotateByRename(t, logFile, 4)
	stdout, stderr, code := runBinary(t, dir, "scan", "--json", "--config", cfg, "auth.log.1")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	var sum struct {
		Lines      int `json:"lines"`
		ReadBefore []struct {
			File   string `json:"file"`
			ReadAs string `json:"read_as"`
			Lines  int64  `json:"lines_read_before"`
			Bytes  int64  `json:"bytes_read_before"`
		} `json:"read_before"`
	}
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	size := int64(len(numberedLines(0, 1000)))
	if sum.Lines != 0 || len(sum.ReadBefore) != 1 || sum.ReadBefore[0].File != "auth.log.1" || sum.ReadBefore[0].ReadAs != logFile ||
		sum.ReadBefore[0].Lines != 1000 || sum.ReadBefore[0].Bytes != size {
		t.Errorf("scan --json = %+v; want 0 lines read, auth.log.1 read before as %s up to line 1000 / byte %d", sum, logFile, size)
	}
}

func once(int) int { return 1 }

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// lineTime is the time of numberedLine(i), as --since takes it.
func lineTime(i int) string {
	line := numberedLine(i)
	return line[:strings.IndexByte(line, ' ')]
}

// checkStored fails the test unless each line i < n is stored want(i) times, and no other.
func checkStored(t *testing.T, dir string, n int, want func(int) int) {
	t.Helper()
	users := storedUsers(t, dir)
	var wrong []string
	for i := range n {
		u := "u" + strconv.Itoa(i)
		if users[u] != want(i) {
			wrong = append(wrong, fmt.Sprintf("%s×%d (want %d)", u, users[u], want(i)))
		}
		delete(users, u)
	}
	if len(wrong) > 0 {
		t.Errorf("%d lines stored a wrong number of times, e.g. %v", len(wrong), wrong[:min(10, len(wrong))])
	}
	if len(users) > 0 {
		t.Errorf("events for lines never written: %v", users)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
