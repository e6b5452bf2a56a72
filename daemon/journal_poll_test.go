package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/daemon/journaltest"
)

// waitPolls waits until the directory has been polled n more times than when called.
func (r *journalReader) waitPolls(t *testing.T, n int64) {
	t.Helper()
	want := r.d.journalPolls.Load() + n
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for r.d.journalPolls.Load() < want {
		select {
		case <-r.d.journalPolled: // a poll was counted: look again
		case <-deadline.C:
			t.Fatalf("the directory was not polled %d more times within 30s", n)
		}
	}
}

// A host's journal that grew is read once, when that read reached its last entry, and
// from the files that can hold entries after its position alone: not the files it was
// rotated into that were read before (review 25 #4).
func TestJournalDirectoryReadsAChangedJournalOnceFromItsNewFiles(t *testing.T) {
	journaltest.Need(t)
	f := fleet{t, t.TempDir()}
	first := f.write(0, 5)
	r := startJournal(t, f.dir, tempStore(t))
	if got := sorted(r.take(t, len(first))); !slices.Equal(got, first) {
		t.Fatalf("read %q\nwant %q", got, first)
	}
	r.waitPolls(t, 2)
	// web1's journal was rotated (its entries so far in an archived file of the same
	// sequence-number ID), then it logs again.
	active := filepath.Join(f.dir, "web1.journal")
	archived := filepath.Join(f.dir, "web1@0000000000000001-0000000000000005.journal")
	data, err := os.ReadFile(active)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(archived, data, 0o640); err != nil {
		t.Fatal(err)
	}
	from := len(r.log())
	var entries [][]byte
	var want []string
	for k := 5; k < 8; k++ {
		msg := fmt.Sprintf("Failed password for invalid user web1-%d from 3.3.3.3 port 22 ssh2", k)
		entries = append(entries, sshEntry("web1", "0123456789abcdef0123456789abcdef", k, msg))
		want = append(want, msg)
	}
	journaltest.Write(t, active, entries...)
	if got := r.take(t, len(want)); !slices.Equal(got, want) {
		t.Fatalf("read %q\nwant %q", got, want)
	}
	r.waitPolls(t, 3)
	var runs []string
	for l := range strings.Lines(r.log()[from:]) {
		if strings.Contains(l, `msg="journal: reading" command=`) {
			runs = append(runs, l)
		}
	}
	if len(runs) != 1 || strings.Contains(runs[0], archived) || !strings.Contains(runs[0], active) {
		t.Errorf("journalctl ran %d times for one change, want once on %s alone:\n%s", len(runs), active, strings.Join(runs, ""))
	}
}

// Without journalctl a directory's journals fail together: one error, and one back-off,
// per try, not one per host.
func TestJournalDirectoryWithoutJournalctlFailsOncePerTry(t *testing.T) {
	journaltest.Need(t)
	f := fleet{t, t.TempDir()}
	f.write(0, 2)
	r := startJournalReader(t, newJournalReaderConfig(JournalConfig{Enabled: true, Directory: f.dir, Command: "journalctl-not-installed"}, tempStore(t)))
	r.waitLog(t, "journalctl tried twice", func(log string) bool { return strings.Count(log, "journalctl stopped") >= 2 })
	r.stop()
	if n := strings.Count(r.log(), "journalctl stopped"); n > 2 || !strings.Contains(r.log(), "retry_in=2s") {
		t.Errorf("%d errors for two tries of three journals, or no back-off:\n%s", n, r.log())
	}
}
