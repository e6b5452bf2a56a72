package daemon

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/daemon/journaltest"
	"github.com/abusewatch/abusewatch/store"
)

// testdata/journalctl.json is real `journalctl --output=json` output (entries made with
// systemd-journal-remote from an export file): sshd and sshd-session on a host "bastion",
// and a cron entry.
func TestJournalRecordsFromRecordedOutput(t *testing.T) {
	f, err := os.Open("testdata/journalctl.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	var seqs []int64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		jr, err := journalRecord(sc.Bytes(), time.Now(), journalTrust{})
		if err != nil {
			t.Fatal(err)
		}
		if jr.rec.Source != "journal" || jr.pos.Source != "journal" || jr.rest.Source != journalCursorKey {
			t.Errorf("source %q, positions %q and %q; want journal", jr.rec.Source, jr.pos.Source, jr.rest.Source)
		}
		lines = append(lines, jr.rec.Line)
		seqs = append(seqs, jr.pos.Offset)
	}
	want := []string{
		"2026-11-22T02:08:05.860172Z bastion sshd[991]: Invalid user admin from 203.0.113.9 port 50122",
		"2026-11-22T02:08:06.860172Z bastion sshd-session[992]: Failed password for invalid user admin from 203.0.113.9 port 50122 ssh2",
		"2026-11-22T02:08:07.860172Z bastion cron[17]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)",
	}
	if !slices.Equal(lines, want) {
		t.Errorf("records:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if !slices.Equal(seqs, []int64{1, 2, 3}) {
		t.Errorf("sequence numbers %v; want 1, 2, 3", seqs)
	}
}

// The two positions committed for an entry give back its sequence-number ID, number,
// realtime and xor hash; a position committed by an older version (no second one, or a
// second one it left behind) still gives the sequence-number ID and number.
func TestJournalCursorRoundTrip(t *testing.T) {
	cursor := "s=4c252754fe71446484b8827a9b6a2c55;i=2a;b=0123456789abcdef0123456789abcdef;m=3e9;t=660d3f2b94d8c;x=2efbc9535a167731"
	at, ok := parseJournalCursor(cursor)
	if !ok {
		t.Fatal("cursor not understood")
	}
	pos, rest := journalPositions(at)
	if pos.Source != "journal" || pos.Offset != 0x2a || rest.Source != journalCursorKey {
		t.Errorf("positions %+v, %+v", pos, rest)
	}
	if got := savedJournalCursor(pos, rest, true); got != "s=4c252754fe71446484b8827a9b6a2c55;i=2a;t=660d3f2b94d8c;x=2efbc9535a167731" {
		t.Errorf("saved cursor %q", got)
	}
	if got := savedJournalCursor(pos, store.Position{}, false); got != "s=4c252754fe71446484b8827a9b6a2c55;i=2a" {
		t.Errorf("cursor saved by an older version %q", got)
	}
	moved := pos
	moved.Offset++ // an older version read one more entry and left rest behind
	if got := savedJournalCursor(moved, rest, true); got != "s=4c252754fe71446484b8827a9b6a2c55;i=2b" {
		t.Errorf("cursor with a second position of another entry %q", got)
	}
	for _, bad := range []string{"", "i=2a", "s=4c25;i=2a", "s=4c252754fe71446484b8827a9b6a2c55", "s=4c252754fe71446484b8827a9b6a2c55;i=zz"} {
		if _, ok := parseJournalCursor(bad); ok {
			t.Errorf("cursor %q accepted", bad)
		}
	}
}

// Cursors are ordered as journalctl orders entries: by sequence number in one
// sequence-number ID, by monotonic time in one boot, else by realtime, then xor hash.
func TestJournalCursorOrder(t *testing.T) {
	const (
		s1 = "11111111111111111111111111111111"
		s2 = "22222222222222222222222222222222"
		b1 = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		b2 = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	)
	for _, tc := range []struct {
		a, b  string
		ord   int
		known bool
	}{
		{"s=" + s1 + ";i=5;b=" + b1 + ";m=9;t=1;x=1", "s=" + s1 + ";i=6;b=" + b1 + ";m=1;t=9;x=9", -1, true}, // seqnum first
		{"s=" + s1 + ";i=5;b=" + b1 + ";m=9;t=1;x=1", "s=" + s2 + ";i=1;b=" + b1 + ";m=a;t=0;x=0", -1, true}, // same boot: monotonic
		{"s=" + s1 + ";i=5;b=" + b1 + ";m=9;t=1;x=1", "s=" + s2 + ";i=1;b=" + b2 + ";m=1;t=0;x=9", 1, true},  // else realtime
		{"s=" + s1 + ";i=5;b=" + b1 + ";m=9;t=1;x=1", "s=" + s2 + ";i=1;b=" + b1 + ";m=9;t=1;x=2", -1, true}, // then xor hash
		{"s=" + s1 + ";i=5;b=" + b1 + ";m=9;t=1;x=1", "s=" + s1 + ";i=5;b=" + b1 + ";m=9;t=1;x=1", 0, true},  // the same entry
		{"s=" + s1 + ";i=5;b=" + b1 + ";m=9;t=1;x=1", "s=" + s1 + ";i=5", 0, true},                           // an old cursor: its entry
		{"s=" + s2 + ";i=5;b=" + b1 + ";m=9;t=1;x=1", "s=" + s1 + ";i=5", 0, false},                          // an old cursor: another journal
		{"s=" + s2 + ";i=9;b=" + b1 + ";m=9;t=5;x=1", "s=" + s1 + ";i=5;t=6;x=0", -1, true},                  // a saved cursor: by realtime
	} {
		a, _ := parseJournalCursor(tc.a)
		b, _ := parseJournalCursor(tc.b)
		if ord, known := a.order(b); ord != tc.ord || known != tc.known {
			t.Errorf("%s vs %s: %d, %v; want %d, %v", tc.a, tc.b, ord, known, tc.ord, tc.known)
		}
	}
}

// A field journald could not store as text comes as an array of bytes, and a field set
// twice as an array of values; a host or program name cannot break the header. A line
// over maxLine is cut there, from a string or from bytes.
func TestJournalRecordOddFields(t *testing.T) {
	line := `{"__CURSOR":"s=4c252754fe71446484b8827a9b6a2c55;i=7;b=0","__REALTIME_TIMESTAMP":"1795313285860172",` +
		`"MESSAGE":[70,97,105,108,255],"_COMM":["sshd","x"],"_PID":"12","_HOSTNAME":"evil host: x"}`
	jr, err := journalRecord([]byte(line), time.Now(), journalTrust{})
	if err != nil {
		t.Fatal(err)
	}
	if want := "2026-11-22T02:08:05.860172Z evilhostx sshd[12]: Fail\xff"; jr.rec.Line != want || jr.cut {
		t.Errorf("line %q (cut %v); want %q", jr.rec.Line, jr.cut, want)
	}
	if _, err := journalRecord([]byte(`{"MESSAGE":"no cursor"}`), time.Now(), journalTrust{}); err == nil {
		t.Error("an entry without a cursor was accepted")
	}
	if _, err := journalRecord([]byte(`not json`), time.Now(), journalTrust{}); err == nil {
		t.Error("garbage was accepted")
	}
	// A program name (SYSLOG_IDENTIFIER is the sender's) as long as the cap.
	jr, err = journalRecord([]byte(`{"__CURSOR":"s=4c252754fe71446484b8827a9b6a2c55;i=7","SYSLOG_IDENTIFIER":"`+strings.Repeat("p", maxLine)+`","MESSAGE":"m"}`), time.Now(), journalTrust{})
	if err != nil || len(jr.rec.Line) != maxLine || !jr.cut {
		t.Errorf("long program name: line of %d bytes (cut %v, %v); want %d, cut", len(jr.rec.Line), jr.cut, err, maxLine)
	}
	long := strings.Repeat("\xfe", maxLine+10)
	nums, _ := json.Marshal([]int{int(long[0])})
	nums = bytes.Repeat(append(bytes.TrimSuffix(bytes.TrimPrefix(nums, []byte("[")), []byte("]")), ','), len(long))
	for _, msg := range []string{`"` + strings.Repeat("y", maxLine) + `"`, "[" + string(nums[:len(nums)-1]) + "]"} {
		jr, err := journalRecord([]byte(`{"__CURSOR":"s=4c252754fe71446484b8827a9b6a2c55;i=7","MESSAGE":`+msg+`}`), time.Now(), journalTrust{})
		if err != nil {
			t.Fatal(err)
		}
		if len(jr.rec.Line) != maxLine || !jr.cut {
			t.Errorf("long message: line of %d bytes (cut %v); want %d, cut", len(jr.rec.Line), jr.cut, maxLine)
		}
	}
}

func TestJournalArgs(t *testing.T) {
	cfg := JournalConfig{Units: []string{"ssh.service"}, Identifiers: []string{"sshd", "sshd-session"}}
	got := journalArgs(cfg, "s=1;i=2", true, nil)
	want := []string{"--follow", "--no-tail", "--output=json", "--all", "--output-fields=MESSAGE,_COMM,_EXE,SYSLOG_IDENTIFIER,_PID,_HOSTNAME,_UID,_SYSTEMD_UNIT,_TRANSPORT", "--no-pager", "--quiet",
		"--cursor=s=1;i=2", "_SYSTEMD_UNIT=ssh.service", "+", "SYSLOG_IDENTIFIER=sshd", "SYSLOG_IDENTIFIER=sshd-session"}
	if !slices.Equal(got, want) {
		t.Errorf("args %q\nwant %q", got, want)
	}
	// A directory's journals of one sequence-number ID.
	cfg.Directory = "/j"
	got = journalArgs(cfg, "s=1;i=2", false, []string{"/j/remote-a.journal", "/j/remote-a@x.journal"})
	want = []string{"--no-tail", "--output=json", "--all", "--output-fields=MESSAGE,_COMM,_EXE,SYSLOG_IDENTIFIER,_PID,_HOSTNAME,_UID,_SYSTEMD_UNIT,_TRANSPORT", "--no-pager", "--quiet",
		"--file=/j/remote-a.journal", "--file=/j/remote-a@x.journal", "--cursor=s=1;i=2", "_SYSTEMD_UNIT=ssh.service", "+", "SYSLOG_IDENTIFIER=sshd", "SYSLOG_IDENTIFIER=sshd-session"}
	if !slices.Equal(got, want) {
		t.Errorf("args %q\nwant %q", got, want)
	}
	got = journalArgs(JournalConfig{}, "", false, nil)
	want = []string{"--no-tail", "--output=json", "--all", "--output-fields=MESSAGE,_COMM,_EXE,SYSLOG_IDENTIFIER,_PID,_HOSTNAME,_UID,_SYSTEMD_UNIT,_TRANSPORT", "--no-pager", "--quiet"}
	if !slices.Equal(got, want) {
		t.Errorf("args %q\nwant %q", got, want)
	}
}

// sshEntry is an sshd entry of host in boot, k seconds (and monotonic milliseconds) into
// the boot, with msg as its message.
func sshEntry(host, boot string, k int, msg string) []byte {
	epoch := time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC)
	return journaltest.Entry(fmt.Sprintf("__REALTIME_TIMESTAMP=%d", epoch.Add(time.Duration(k)*time.Second).UnixMicro()+int64(len(host))),
		fmt.Sprintf("__MONOTONIC_TIMESTAMP=%d", 1000+k), "_BOOT_ID="+boot, "MESSAGE="+msg,
		"_SYSTEMD_UNIT=ssh.service", "_COMM=sshd", "_PID=4242", "_HOSTNAME="+host)
}

// journalReader is a journal source running on a real store: what it sends, what it logs
// and its counters.
type journalReader struct {
	d      *Daemon
	out    chan sourceLine
	stop   func()
	mu     sync.Mutex
	logged bytes.Buffer
	more   chan struct{} // closed and replaced whenever the reader logs
}

func (r *journalReader) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.more != nil {
		close(r.more)
	}
	r.more = make(chan struct{})
	return r.logged.Write(p)
}

// waitLog waits until done holds of what r logged, or fails the test at the deadline
// saying that want was not logged.
func (r *journalReader) waitLog(t *testing.T, want string, done func(log string) bool) {
	t.Helper()
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		log, more := r.logged.String(), r.more
		if more == nil {
			r.more = make(chan struct{})
			more = r.more
		}
		r.mu.Unlock()
		if done(log) {
			return
		}
		select {
		case <-more:
		case <-deadline.C:
			t.Fatalf("not logged within 30s: %s\n%s", want, r.log())
		}
	}
}

func (r *journalReader) log() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.logged.String()
}

// newJournalReader is a journal source on the journals in dir with the store st.
func newJournalReader(dir string, st *store.Store) *journalReader {
	return newJournalReaderConfig(JournalConfig{Enabled: true, Directory: dir, Command: "journalctl"}, st)
}

// newJournalReaderConfig is a journal source configured by jc with the store st.
func newJournalReaderConfig(jc JournalConfig, st *store.Store) *journalReader {
	r := &journalReader{out: make(chan sourceLine, 100)}
	r.d = &Daemon{cfg: &Config{Journal: jc},
		log: slog.New(slog.NewTextHandler(r, &slog.HandlerOptions{Level: slog.LevelDebug})), store: st}
	return r
}

// startJournal starts the journal source on the journals in dir with the store st.
func startJournal(t *testing.T, dir string, st *store.Store) *journalReader {
	t.Helper()
	return startJournalReader(t, newJournalReader(dir, st))
}

// startJournalReader starts the journal source r.
func startJournalReader(t *testing.T, r *journalReader) *journalReader {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	r.d.journalPolled = make(chan struct{}, 1)
	go func() { r.d.readJournal(ctx, r.out); close(done) }()
	r.stop = func() { cancel(); <-done }
	t.Cleanup(r.stop)
	return r
}

// take receives n records, committing the positions of each as the daemon does.
func (r *journalReader) take(t *testing.T, n int) []string {
	t.Helper()
	var msgs []string
	for range n {
		l := next(t, r.out)
		if _, err := r.d.store.Commit(nil, []store.Position{l.pos, l.fp}); err != nil {
			t.Fatal(err)
		}
		_, msg, _ := strings.Cut(l.rec.Line, ": ")
		msgs = append(msgs, msg)
	}
	return msgs
}

func tempStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "state.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// journalctl prints a field over 4096 bytes as null without --all, and a message that is
// not UTF-8 as an array of bytes: both arrive whole, and one over 64 KiB is cut there and
// counted as long, as a line of a file is.
func TestJournalLongAndBinaryMessagesArriveWhole(t *testing.T) {
	journaltest.Need(t)
	dir := t.TempDir()
	const boot = "0123456789abcdef0123456789abcdef"
	long := "Failed password for invalid user " + strings.Repeat("a", 5000) + " from 3.3.3.3 port 22 ssh2"
	binary := "Invalid user \xff\xfe" + strings.Repeat("b", 6000) + " from 3.3.3.3"
	journaltest.Write(t, filepath.Join(dir, "remote.journal"),
		sshEntry("web1", boot, 0, long),
		sshEntry("web1", boot, 1, strings.Repeat("c", 100<<10)),
		sshEntry("web1", boot, 2, binary),
		sshEntry("web1", boot, 3, strings.Repeat("\xfd", 70<<10)),
		sshEntry("web1", boot, 4, "last"))
	r := startJournal(t, dir, tempStore(t))
	got := r.take(t, 5)
	if got[0] != long {
		t.Errorf("a message of %d bytes arrived as %d bytes %.40q", len(long), len(got[0]), got[0])
	}
	if got[2] != binary {
		t.Errorf("a message of %d bytes, not UTF-8, arrived as %d bytes %.40q", len(binary), len(got[2]), got[2])
	}
	for i, b := range map[int]string{1: "c", 3: "\xfd"} {
		if got[i] != strings.Repeat(b, len(got[i])) || len(got[i]) < 60<<10 || len(got[i]) >= 64<<10 {
			t.Errorf("message %d: %d bytes %.20q; want the first 64 KiB of the line", i, len(got[i]), got[i])
		}
	}
	if got[4] != "last" {
		t.Errorf("last message %q", got[4])
	}
	c := r.d.sources.get(journalSource)
	if c.Lines.Load() != 5 || c.Long.Load() != 2 || c.Errors.Load() != 0 {
		t.Errorf("counters: %d lines, %d long, %d errors; want 5, 2, 0", c.Lines.Load(), c.Long.Load(), c.Errors.Load())
	}
}

// An entry whose JSON is over maxJournalEntry (with --all a message of many MiB) is
// skipped and counted; journalctl keeps running and the next entry is read.
func TestJournalEntryOverTheSizeLimitIsSkipped(t *testing.T) {
	journaltest.Need(t)
	dir := t.TempDir()
	const boot = "0123456789abcdef0123456789abcdef"
	journaltest.Write(t, filepath.Join(dir, "remote.journal"),
		sshEntry("web1", boot, 0, "first"),
		sshEntry("web1", boot, 1, strings.Repeat("h", maxJournalEntry+1)),
		sshEntry("web1", boot, 2, "after"))
	r := startJournal(t, dir, tempStore(t))
	if got := r.take(t, 2); !slices.Equal(got, []string{"first", "after"}) {
		t.Errorf("messages %.40q; want first, after", got)
	}
	c := r.d.sources.get(journalSource)
	if c.Lines.Load() != 2 || c.Errors.Load() != 1 || strings.Contains(r.log(), "journalctl stopped") {
		t.Errorf("counters: %d lines, %d errors; want 2, 1; log:\n%s", c.Lines.Load(), c.Errors.Load(), r.log())
	}
}

// fleet is three hosts' journals in one directory, as systemd-journal-remote writes
// them: one file and sequence-number ID per host. web1 and web2 share a boot ID (as in
// a test fleet: journalctl orders them by monotonic time), web3 has its own.
type fleet struct {
	t   *testing.T
	dir string
}

// write appends entries k = from..to-1 of each host and returns their messages, sorted.
func (f fleet) write(from, to int) []string {
	hosts := []struct{ name, boot string }{
		{"web3", "fedcba9876543210fedcba9876543210"},
		{"web1", "0123456789abcdef0123456789abcdef"},
		{"web2", "0123456789abcdef0123456789abcdef"},
	}
	var msgs []string
	for _, h := range hosts {
		var entries [][]byte
		for k := from; k < to; k++ {
			msg := fmt.Sprintf("Failed password for invalid user %s-%d from 3.3.3.3 port 22 ssh2", h.name, k)
			entries = append(entries, sshEntry(h.name, h.boot, k, msg))
			msgs = append(msgs, msg)
		}
		journaltest.Write(f.t, filepath.Join(f.dir, h.name+".journal"), entries...)
	}
	slices.Sort(msgs)
	return msgs
}

// In a directory of journals with different sequence-number IDs, a restart resumes each
// after its own committed entry: only the entries written since are read, none twice.
func TestJournalResumesAfterTheCommittedEntryAcrossHosts(t *testing.T) {
	journaltest.Need(t)
	f := fleet{t, t.TempDir()}
	st := tempStore(t)
	first := f.write(0, 10)
	r := startJournal(t, f.dir, st)
	if got := r.take(t, len(first)); !slices.Equal(sorted(got), first) {
		t.Fatalf("first run read %q\nwant %q", got, first)
	}
	r.stop()

	second := f.write(10, 15)
	r = startJournal(t, f.dir, st)
	if got := r.take(t, len(second)); !slices.Equal(sorted(got), second) {
		t.Errorf("after the restart read %q\nwant %q", got, second)
	}
	if log := r.log(); strings.Count(log, `msg="journal: reading a journal of the directory"`) != 3 || strings.Count(log, `from="s=`) != 3 {
		t.Errorf("the three journals did not each resume from their own position:\n%s", log)
	}
}

// Since systemd 250 `journalctl --follow` shows the newest boot alone (the system
// journal's entries of the boot before, written after the last one read, or a directory's
// hosts of other boots): journalctl without --follow reads every boot to the end.
func TestJournalReadsEveryBootBeforeFollowing(t *testing.T) {
	journaltest.Need(t)
	f := fleet{t, t.TempDir()}
	all := f.write(0, 4)
	r := newJournalReader(f.dir, tempStore(t))
	// A deadline, not a wait: a journalctl that follows never ends on its own.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, _, err := r.d.runJournalctl(ctx, &journalReading{c: r.d.sources.get(journalSource), out: r.out}, "", false, nil, nil)
	if n != len(all) || !errors.Is(err, errJournalEnded) {
		t.Errorf("read %d entries, then %v; want %d and the end", n, err, len(all))
	}
}

// A cursor committed by an older version (the sequence-number ID and number alone)
// still resumes after its entry.
func TestJournalResumesFromACursorSavedByAnOlderVersion(t *testing.T) {
	journaltest.Need(t)
	dir := t.TempDir()
	const boot = "0123456789abcdef0123456789abcdef"
	var entries [][]byte
	for k := range 6 {
		entries = append(entries, sshEntry("web1", boot, k, fmt.Sprintf("entry %d", k)))
	}
	journaltest.Write(t, filepath.Join(dir, "remote.journal"), entries...)
	out, err := exec.Command("journalctl", "--directory="+dir, "--output=json", "--no-pager").Output()
	if err != nil {
		t.Fatal(err)
	}
	third, err := journalRecord(bytes.Split(out, []byte("\n"))[2], time.Now(), journalTrust{})
	if err != nil {
		t.Fatal(err)
	}
	st := tempStore(t)
	if _, err := st.Commit(nil, []store.Position{third.pos}); err != nil { // as the older version did
		t.Fatal(err)
	}
	r := startJournal(t, dir, st)
	if got := r.take(t, 3); !slices.Equal(got, []string{"entry 3", "entry 4", "entry 5"}) {
		t.Errorf("read %q; want entries 3 to 5", got)
	}
	if log := r.log(); !strings.Contains(log, "saved by an older abusewatch") {
		t.Errorf("no word about the old cursor:\n%s", log)
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// An older abusewatch kept one merged cursor for a directory. At the first start after
// the upgrade each host's journal resumes after it: exactly the entries the merged
// reading had not reached yet are read, and from then on each journal's own position.
func TestJournalDirectoryResumesFromAnOlderVersionsMergedCursor(t *testing.T) {
	journaltest.Need(t)
	f := fleet{t, t.TempDir()}
	f.write(0, 10)
	out, err := exec.Command("journalctl", "--directory="+f.dir, "--merge", "--output=json", "--no-pager").Output()
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(out), []byte("\n"))
	var unread []string
	for i, line := range lines {
		jr, err := journalRecord(line, time.Now(), journalTrust{})
		if err != nil {
			t.Fatal(err)
		}
		if i > 16 {
			_, msg, _ := strings.Cut(jr.rec.Line, ": ")
			unread = append(unread, msg)
		}
	}
	at, err := journalRecord(lines[16], time.Now(), journalTrust{})
	if err != nil {
		t.Fatal(err)
	}
	st := tempStore(t)
	if _, err := st.Commit(nil, []store.Position{at.pos, at.rest}); err != nil { // as the older version did
		t.Fatal(err)
	}
	unread = append(unread, f.write(10, 12)...)
	slices.Sort(unread)
	r := startJournal(t, f.dir, st)
	if got := sorted(r.take(t, len(unread))); !slices.Equal(got, unread) {
		t.Errorf("read %q\nwant %q", got, unread)
	}
	r.stop()

	more := f.write(12, 14)
	r = startJournal(t, f.dir, st)
	if got := sorted(r.take(t, len(more))); !slices.Equal(got, more) {
		t.Errorf("after the next restart read %q\nwant %q", got, more)
	}
	if log := r.log(); strings.Contains(log, "resuming after the saved entry") {
		t.Errorf("the older version's cursor was used again:\n%s", log)
	}
}

// A host whose journal appears in the directory while the daemon reads it (a new
// host, or one systemd-journal-upload delivers its backlog for) is read from its
// beginning, however old its entries, and the hosts already read go on from where
// they were.
func TestJournalDirectoryReadsANewHostFromItsBeginning(t *testing.T) {
	journaltest.Need(t)
	f := fleet{t, t.TempDir()}
	first := f.write(0, 5)
	r := startJournal(t, f.dir, tempStore(t))
	if got := sorted(r.take(t, len(first))); !slices.Equal(got, first) {
		t.Fatalf("read %q\nwant %q", got, first)
	}
	var entries [][]byte
	var late []string
	for k := range 5 { // an hour before the others' first entries
		msg := fmt.Sprintf("Failed password for invalid user web4-%d from 3.3.3.3 port 22 ssh2", k)
		ts := time.Date(2026, 11, 22, 1, 0, k, 0, time.UTC)
		entries = append(entries, journaltest.Entry(fmt.Sprintf("__REALTIME_TIMESTAMP=%d", ts.UnixMicro()), fmt.Sprintf("__MONOTONIC_TIMESTAMP=%d", 1000+k),
			"_BOOT_ID=22222222222222222222222222222222", "MESSAGE="+msg, "_SYSTEMD_UNIT=ssh.service", "_COMM=sshd", "_PID=4242", "_HOSTNAME=web4"))
		late = append(late, msg)
	}
	journaltest.Write(t, filepath.Join(f.dir, "web4.journal"), entries...)
	late = append(late, f.write(5, 7)...)
	slices.Sort(late)
	if got := sorted(r.take(t, len(late))); !slices.Equal(got, late) {
		t.Errorf("read %q\nwant %q", got, late)
	}
}
