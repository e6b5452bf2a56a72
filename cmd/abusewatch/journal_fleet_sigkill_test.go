package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/abusewatch/abusewatch/daemon/journaltest"
)

// The daemon killed with SIGKILL at random moments while three hosts' journals grow in
// a journal-remote directory, each host's entries delivered after the others' later
// ones: at the last start every entry has been stored exactly once. Each host's journal
// has its own position, committed with its events.
func TestJournalFleetSIGKILLLosesAndRepeatsNothing(t *testing.T) {
	journaltest.Need(t)
	dir := t.TempDir()
	f := &fleetJournals{t: t, dir: filepath.Join(dir, "journal")}
	if err := os.Mkdir(f.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f.write(2000)
	cfg := journalConfig(t, dir, f.dir)
	for i := range 8 {
		d := startDaemon(t, dir, "run", "--debug", "--config", cfg)
		f.write(500) // while it runs
		if i%3 == 2 {
			d.waitLog(t, "journal: reading a journal of the directory") // before the first commit
		} else {
			d.waitEvents(t, 1+rand.IntN(800))
		}
		d.kill()
		f.write(300) // while it is stopped
	}
	d := startDaemon(t, dir, "run", "--debug", "--config", cfg)
	d.waitLog(t, "journal: read the directory's journals to their end")
	d.stop(t)
	if t.Failed() {
		return
	}
	if missing := missingRanges(t, dir, f.user); len(missing) > 0 {
		t.Errorf("users never stored: %v", missing)
	}
	checkExactlyOnce(t, dir, f.user)
}

// missingRanges lists the users 0..n-1 not stored, as ranges.
func missingRanges(t *testing.T, dir string, n int) []string {
	users := storedUsers(t, dir)
	var out []string
	start := -1
	for i := 0; i <= n; i++ {
		miss := i < n && users["u"+strconv.Itoa(i)] == 0
		if miss && start < 0 {
			start = i
		}
		if !miss && start >= 0 {
			out = append(out, fmt.Sprintf("u%d-u%d", start, i-1))
			start = -1
		}
	}
	return out
}
