package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
)

// errInjected is the failure failBatch makes: what a full disk or an I/O error makes of
// the store's transaction.
var errInjected = errors.New("input/output error (injected by the test)")

// failBatch makes Ingest fail the n-th batch (from 1) of file, before its commit or
// after it, for the length of the test.
func failBatch(t *testing.T, file string, n int, afterCommit bool) {
	t.Helper()
	seen := 0
	ingestFault = func(recs []abusewatch.Record, committed bool) error {
		if len(recs) == 0 || recs[0].Source != file || committed != afterCommit {
			return nil
		}
		if seen++; seen == n {
			return errInjected
		}
		return nil
	}
	t.Cleanup(func() { ingestFault = nil })
}

// lockedBuffer is a log's text, written by any goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// scanWith scans files with a pipeline of its own on cfg's store, as `abusewatch scan`
// does, and returns the lines it read, what it logged at warning level and its error.
func scanWith(t *testing.T, cfg *Config, files ...string) (lines int64, warnings string, err error) {
	t.Helper()
	st := openTestStore(t, cfg)
	defer st.Close()
	var log lockedBuffer
	p, err := NewPipeline(cfg, st, slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Scan(t.Context(), files, time.Time{})
	return p.Counters.Lines.Load(), log.String(), err
}

// checkScanKnows scans file with cfg's store and fails the test unless it read no line
// again, knowing the file read to offset (its end).
func checkScanKnows(t *testing.T, cfg *Config, file string, offset int64) {
	t.Helper()
	st := openTestStore(t, cfg)
	p, err := NewPipeline(cfg, st, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	got, err := p.Scan(t.Context(), []string{file}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if n := p.Counters.Lines.Load(); n != 0 || len(got) != 1 || got[0].Offset != offset {
		t.Errorf("scan read %d lines, found %+v; want none read, the file known read to its end (%d)", n, got, offset)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}

// checkStoredOnce checks that cfg's store holds one event of each of userLines(0, n).
func checkStoredOnce(t *testing.T, cfg *Config, n int) {
	t.Helper()
	st := openTestStore(t, cfg)
	defer st.Close()
	events, err := st.EventsByAddr(netip.MustParseAddr("3.3.3.3"), time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, e := range events {
		count[e.User]++
	}
	var wrong []string
	for i := range n {
		if u := "u" + strconv.Itoa(i); count[u] != 1 {
			wrong = append(wrong, fmt.Sprintf("%s×%d", u, count[u]))
		}
	}
	if len(wrong) > 0 || len(events) != n {
		t.Errorf("%d events for %d lines; not stored once: %v", len(events), n, wrong[:min(10, len(wrong))])
	}
}

// What follows the commit of the second of three batches fails (the unknown lines'
// tally): scan warns, saying which file and lines, what failed and that the events are
// stored, and reads on to the end, as the daemon does; it still returns an error, for
// the exit status. It stopped at that batch, and the rest of the file was left unread.
// Every line is stored once, and a second scan reads nothing.
func TestScanReadsOnAfterAFailureFollowingACommit(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "auth.log")
	appendTo(t, logFile, userLines(0, 2*batchSize+500))
	cfg := followConfig(t, dir, logFile)
	failBatch(t, logFile, 2, true)

	lines, warnings, err := scanWith(t, cfg, logFile)
	var failed *ProcessingFailed
	if !errors.As(err, &failed) || failed.Batches != 1 || !errors.Is(err, errInjected) {
		t.Errorf("scan returned %v; want a ProcessingFailed of 1 batch, the injected failure", err)
	}
	if lines != 2*batchSize+500 {
		t.Errorf("scan read %d lines; want all %d", lines, 2*batchSize+500)
	}
	for _, want := range []string{
		"level=WARN", "the batch's events are stored", "reading goes on", "file=" + logFile,
		fmt.Sprintf("lines=%d-%d", batchSize+1, 2*batchSize), "tallying the unknown records' shapes", errInjected.Error(),
	} {
		if !strings.Contains(warnings, want) {
			t.Errorf("the warning lacks %q:\n%s", want, warnings)
		}
	}
	if n := strings.Count(warnings, "level=WARN"); n != 1 {
		t.Errorf("%d warnings; want 1:\n%s", n, warnings)
	}
	checkStoredOnce(t, cfg, 2*batchSize+500)

	ingestFault = nil
	if lines, _, err := scanWith(t, cfg, logFile); err != nil || lines != 0 {
		t.Errorf("a second scan read %d lines, %v; want none", lines, err)
	}
	checkStoredOnce(t, cfg, 2*batchSize+500)
}

// The store refuses the commit of the second of three batches: scan stops there with
// the error, having stored the first batch only, and a second scan reads on from where
// the first stopped: every line is stored once.
func TestScanStopsAtABatchTheStoreRefuses(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "auth.log")
	appendTo(t, logFile, userLines(0, 2*batchSize+500))
	cfg := followConfig(t, dir, logFile)
	failBatch(t, logFile, 2, false)

	lines, _, err := scanWith(t, cfg, logFile)
	if _, soft := errors.AsType[*ProcessingFailed](err); soft || !errors.Is(err, errInjected) {
		t.Errorf("scan returned %v; want the store's refusal, not a ProcessingFailed", err)
	}
	if lines != batchSize {
		t.Errorf("scan counted %d lines stored; want the first batch's %d", lines, batchSize)
	}
	checkStoredOnce(t, cfg, batchSize)

	ingestFault = nil
	if lines, _, err := scanWith(t, cfg, logFile); err != nil || lines != batchSize+500 {
		t.Errorf("a second scan read %d lines, %v; want the %d after the first batch", lines, err, batchSize+500)
	}
	checkStoredOnce(t, cfg, 2*batchSize+500)
}

// The daemon read auth.log (lines 0–99) and was stopped; lines 100–149 were written to
// it, then it was rotated to auth.log.1 and a new auth.log got 150–179. Scan of
// auth.log.1 reads 100–149 in one batch, and that batch fails:
//
//   - after its commit: scan moves the daemon's mark of auth.log past the batch, which
//     is stored. It moved it only to where the last batch without a failure ended (here
//     nowhere), and the daemon, started again, read 100–149 again from auth.log.1.
//   - before its commit: nothing of it is stored and the daemon's mark stays; a scan
//     again reads it.
//
// Either way, once the daemon has run again, every line is stored once.
func TestScanMovesTheDaemonsMarkPastABatchThatFailedAfterItsCommit(t *testing.T) {
	for _, afterCommit := range []bool{true, false} {
		t.Run(fmt.Sprintf("after commit %v", afterCommit), func(t *testing.T) {
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

			failBatch(t, logFile+".1", 1, afterCommit)
			lines, warnings, err := scanWith(t, cfg, logFile+".1")
			if !errors.Is(err, errInjected) {
				t.Fatalf("scan returned %v; want the injected failure", err)
			}
			if afterCommit && (lines != 50 || !strings.Contains(warnings, "lines=101-150")) {
				t.Errorf("scan read %d lines, warned %q; want 50, lines 101-150", lines, warnings)
			}
			ingestFault = nil
			if !afterCommit {
				if lines, _, err := scanWith(t, cfg, logFile+".1"); err != nil || lines != 50 {
					t.Errorf("a second scan read %d lines, %v; want the 50 the first did not store", lines, err)
				}
			}
			runUntilRead(t, cfg, logFile)
			checkStoredOnce(t, cfg, 180)
		})
	}
}
