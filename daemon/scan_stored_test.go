package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// rereadWith scans files again whole (Reread) with a pipeline of its own on cfg's store,
// and returns its counters and error.
func rereadWith(t *testing.T, cfg *Config, files ...string) (*Counters, error) {
	t.Helper()
	st := openTestStore(t, cfg)
	defer st.Close()
	p, err := NewPipeline(cfg, st, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	p.Reread()
	_, err = p.Scan(t.Context(), files, time.Time{})
	return p.Counters, err
}

// A reread of a file read whole that stops midway (the store refuses the second
// batch's commit; a Ctrl-C, a kill) leaves the file's mark at the end it had: the
// daemon, and a plain scan, go on from there, not from the reread's first batch, which
// would read (and the daemon store) the lines after it a second time. Read again to
// the end, it stores nothing: every record is stored before.
func TestRereadStoppedMidwayLeavesTheMarkWhereItWas(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "auth.log")
	n := 2*batchSize + 500
	appendTo(t, logFile, userLines(0, n))
	cfg := followConfig(t, dir, logFile)
	if lines, _, err := scanWith(t, cfg, logFile); err != nil || lines != int64(n) {
		t.Fatalf("first scan read %d lines, %v", lines, err)
	}
	end := markOfFile(t, cfg, logFile)

	failBatch(t, logFile, 2, false)
	if _, err := rereadWith(t, cfg, logFile); !errors.Is(err, errInjected) {
		t.Fatalf("reread returned %v; want the injected refusal", err)
	}
	ingestFault = nil
	if got := markOfFile(t, cfg, logFile); got != end {
		t.Errorf("after a reread stopped at its second batch the mark is at %d; want where it was, %d", got, end)
	}
	if lines, _, err := scanWith(t, cfg, logFile); err != nil || lines != 0 {
		t.Errorf("a plain scan after the stopped reread read %d lines, %v; want none", lines, err)
	}
	c, err := rereadWith(t, cfg, logFile)
	if err != nil || c.Lines.Load() != int64(n) || c.Events.Load() != 0 || c.AlreadyStored.Load() != int64(n) {
		t.Errorf("a reread to the end read %d lines, made %d events, found %d stored, %v; want %d lines, all stored before",
			c.Lines.Load(), c.Events.Load(), c.AlreadyStored.Load(), err, n)
	}
	checkStoredOnce(t, cfg, n)
}

// markOfFile is the offset of path's mark in cfg's store.
func markOfFile(t *testing.T, cfg *Config, path string) int64 {
	t.Helper()
	st := openTestStore(t, cfg)
	defer st.Close()
	pos, ok, err := st.Position(path)
	if err != nil || !ok {
		t.Fatalf("no mark of %s: %v", path, err)
	}
	return pos.Offset
}

// A scan holds a few hours of stored events at a time (storedRecords): a merged log
// that comes back to an hour it left (its lines out of order: two files' lines one
// after the other) finds the records of that hour stored before, those it already
// found there counted as found, so that one stored record stands for one line only.
// Here a record written twice in one second, stored twice; the merged log holds it
// three times, the third after six other hours: it stores that one only.
func TestAScanThatComesBackToAnHourFindsEachStoredRecordOnce(t *testing.T) {
	dir := t.TempDir()
	at := hoursAgo(30)
	line := func(t time.Time, user string) string {
		return fmt.Sprintf("%s web1 sshd[4242]: Failed password for invalid user %s from 3.3.3.3 port 22 ssh2\n", t.Format(time.RFC3339), user)
	}
	twice := line(at, "admin") + line(at, "admin")
	first := filepath.Join(dir, "auth.log")
	appendTo(t, first, twice)
	cfg := followConfig(t, dir, first)
	if lines, _, err := scanWith(t, cfg, first); err != nil || lines != 2 {
		t.Fatalf("first scan read %d lines, %v", lines, err)
	}
	var later strings.Builder
	for h := 1; h <= 2*maxStoredHours; h++ {
		later.WriteString(line(at.Add(time.Duration(h)*time.Hour), fmt.Sprintf("u%d", h)))
	}
	merged := filepath.Join(dir, "merged.log")
	if err := os.WriteFile(merged, []byte(line(at, "admin")+later.String()+line(at, "admin")+line(at, "admin")), 0o644); err != nil {
		t.Fatal(err)
	}
	st := openTestStore(t, cfg)
	p, err := NewPipeline(cfg, st, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Scan(t.Context(), []string{merged}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if got := p.Counters.AlreadyStored.Load(); got != 2 {
		t.Errorf("the merged log's records found stored: %d; want 2", got)
	}
	evs, err := st.EventsByAddr(netip.MustParseAddr("3.3.3.3"), at.Add(-time.Hour), at.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	admin := 0
	for _, ev := range evs {
		if ev.User == "admin" {
			admin++
		}
	}
	if admin != 3 {
		t.Errorf("%d events of admin's record stored; want 3 (two read before, one written a third time)", admin)
	}
	st.Close()
}

// Times are the same when equal; where either has a fraction of a second (the
// journal's, rsyslog's high-precision format), it was dated by another clock than its
// copy in a traditional file, up to copyTolerance apart, and they are one record. Two
// whole-second times a second apart are two records: sshd's failed password, tried
// again.
func TestAScanFindsARecordStoredWithAFractionOfASecondInItsCopy(t *testing.T) {
	dir := t.TempDir()
	at := hoursAgo(5)
	const msg = "web1 sshd[77]: Failed password for root from 3.3.3.3 port 22 ssh2\n"
	precise := filepath.Join(dir, "precise.log")
	appendTo(t, precise, at.Add(1250*time.Millisecond).Format("2006-01-02T15:04:05.000000-07:00")+" "+msg+ // a copy follows, 0.75 s later
		at.Add(10*time.Second).Format(time.RFC3339)+" "+msg) // its copy in the other file is dated a second later: another try
	cfg := followConfig(t, dir, precise)
	if lines, _, err := scanWith(t, cfg, precise); err != nil || lines != 2 {
		t.Fatalf("first scan read %d lines, %v", lines, err)
	}
	traditional := filepath.Join(dir, "auth.log")
	appendTo(t, traditional, at.Add(2*time.Second).Format(time.Stamp)+" "+msg+at.Add(11*time.Second).Format(time.Stamp)+" "+msg)
	st := openTestStore(t, cfg)
	p, err := NewPipeline(cfg, st, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Scan(t.Context(), []string{traditional}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if stored, events := p.Counters.AlreadyStored.Load(), p.Counters.Events.Load(); stored != 1 || events != 1 {
		t.Errorf("found %d records stored, stored %d events; want the copy of the precise time found, the try a second after the other stored", stored, events)
	}
	st.Close()
}
