package daemon

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/detect"
)

// fileAndListener runs a daemon that follows dir/auth.log and listens for syslog on a
// loopback TCP port, with a client connected to it: a fleet host whose file is read
// and whose messages are forwarded too, or a forger allowed to send.
func fileAndListener(t *testing.T) (cfg *Config, authLog string, d *Daemon, conn net.Conn, tap *logTap, stop func() error) {
	t.Helper()
	dir := t.TempDir()
	authLog = filepath.Join(dir, "auth.log")
	appendTo(t, authLog, "")
	cfg = observeConfig(t, dir, fmt.Sprintf("[[source]]\nfiles = [%q]\n[syslog]\ntcp = [\"127.0.0.1:0\"]\nallow = [\"127.0.0.1\"]\n[detect]\ntimezone = \"UTC\"", authLog), 1000)
	tap = &logTap{more: make(chan struct{})}
	d, stop = runDaemon(t, cfg, tap)
	m := regexp.MustCompile(`proto=tcp addr=(\S+)`).FindStringSubmatch(tap.wait(t, "syslog: listening", "proto=tcp"))
	return cfg, authLog, d, dialFrom(t, "127.0.0.1", m[1]), tap, stop
}

// sshdRecord is web1's sshd line of pid: as rsyslog writes it to a file (RFC 3339 with
// microseconds), and as it forwards it (RFC 5424).
func sshdRecord(at time.Time, pid int, msg string) (fileLine, message string) {
	return fmt.Sprintf("%s web1 sshd[%d]: %s\n", at.Format("2006-01-02T15:04:05.000000-07:00"), pid, msg),
		fmt.Sprintf("<38>1 %s web1 sshd %d - - %s\n", at.Format("2006-01-02T15:04:05.000000Z07:00"), pid, msg)
}

// storedOf are the events of addr in cfg's store (the daemon stopped).
func storedOf(t *testing.T, cfg *Config, addr string) []abusewatch.Event {
	t.Helper()
	st := openTestStore(t, cfg)
	defer st.Close()
	evs, err := st.EventsByAddr(netip.MustParseAddr(addr), time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// A sender the listener allows (or anyone who can forge a datagram from it) sends,
// before sshd's real lines reach auth.log, copies of them: five exact, and five with
// the real lines' host, program, PID and time but another address in the message. The
// exact copies stand in for the real lines (each record counted once, as the first
// source read it: the same event, the same address and class); the others are events of
// their own address and remove none of 3.3.3.3's. Without the memo 3.3.3.3 had 15
// events; with one that matched the header alone (host, program, PID, time), 5.
func TestAForgedCopyThroughTheListenerCannotRemoveARealEvent(t *testing.T) {
	cfg, authLog, d, conn, tap, stop := fileAndListener(t)
	at := time.Now().UTC().Truncate(time.Second).Add(-time.Hour)
	var real strings.Builder
	for i := range 10 {
		ts := at.Add(time.Duration(i) * time.Second)
		line, msg := sshdRecord(ts, 5000+i, fmt.Sprintf("Failed password for root from 3.3.3.3 port %d ssh2", 40000+i))
		real.WriteString(line)
		if i >= 5 { // the real header, another address
			_, msg = sshdRecord(ts, 5000+i, fmt.Sprintf("Failed password for root from 9.9.9.9 port %d ssh2", 40000+i))
		}
		fmt.Fprint(conn, msg)
	}
	waitCounter(t, "lines committed", &d.Pipeline().Counters.Lines, 10)
	appendTo(t, authLog, real.String())
	waitCounter(t, "lines committed", &d.Pipeline().Counters.Lines, 20)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	evs := storedOf(t, cfg, "3.3.3.3")
	fromFile := 0
	for _, ev := range evs {
		if ev.Source == authLog {
			fromFile++
		}
	}
	if len(evs) != 10 || fromFile != 5 {
		t.Errorf("3.3.3.3: %d events, %d of them from the file; want 10: 5 read first from the listener, the 5 whose forged header named another address from the file", len(evs), fromFile)
	}
	if evs := storedOf(t, cfg, "9.9.9.9"); len(evs) != 5 {
		t.Errorf("9.9.9.9: %d events; want the 5 forged lines", len(evs))
	}
	if n := tap.count("WARN", "the same records come through two sources", "source=syslog", "also_from="+authLog); n != 1 {
		t.Errorf("%d warnings naming the listener and the file; want 1. The log:\n%s", n, strings.Join(tap.all(), "\n"))
	}
}

// sshd may write the same text twice in one second from one PID, and each line counts:
// only a copy from another source is dropped, each pairing with one line. A line twice
// in the file and twice through the listener is 2 events (it was 4; a memo that dropped
// every repeat made 1), a line three times in the file alone 3. rsyslog's "message
// repeated 2 times: [ …]" is a copy of the line it repeats.
func TestIdenticalLinesWithinOneSourceAllCount(t *testing.T) {
	cfg, authLog, d, conn, _, stop := fileAndListener(t)
	at := time.Now().UTC().Truncate(time.Second).Add(-time.Hour)
	twice, twiceMsg := sshdRecord(at, 6000, "Failed password for root from 3.3.3.5 port 41000 ssh2")
	thrice, _ := sshdRecord(at, 6001, "Failed password for root from 3.3.3.6 port 41001 ssh2")
	// rsyslog's "message repeated" line in the file stands for the second of three
	// lines the listener gets: 3 events, not 4.
	repeated, repeatedMsg := sshdRecord(at, 6002, "Failed password for root from 3.3.3.7 port 41002 ssh2")
	summary, _ := sshdRecord(at, 6002, "message repeated 2 times: [ Failed password for root from 3.3.3.7 port 41002 ssh2]")
	fmt.Fprint(conn, twiceMsg+twiceMsg+repeatedMsg+repeatedMsg+repeatedMsg)
	waitCounter(t, "lines committed", &d.Pipeline().Counters.Lines, 5)
	appendTo(t, authLog, twice+thrice+twice+thrice+thrice+repeated+summary)
	waitCounter(t, "lines committed", &d.Pipeline().Counters.Lines, 12)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if evs := storedOf(t, cfg, "3.3.3.5"); len(evs) != 2 {
		t.Errorf("3.3.3.5: %d events; want 2 (twice in each source)", len(evs))
	}
	if evs := storedOf(t, cfg, "3.3.3.6"); len(evs) != 3 {
		t.Errorf("3.3.3.6: %d events; want 3 (three times in one source)", len(evs))
	}
	if evs := storedOf(t, cfg, "3.3.3.7"); len(evs) != 3 {
		t.Errorf("3.3.3.7: %d events; want 3 (a line three times through the listener, once and repeated in the file)", len(evs))
	}
	if n := d.Pipeline().Counters.Duplicate.Load(); n != 4 {
		t.Errorf("%d duplicates counted; want 4", n)
	}
}

// An unknown record with an address in a trusted position makes an event of class
// unknown, and its copy through a second source makes none; its line is counted unknown
// (as `rules test` counts it), not duplicate. Review 41 (F9): the per-source count
// (status's "N duplicate", abusewatch_source_discarded_total{reason="duplicate"})
// counted those copies too, and said more than lines_read_total{outcome="duplicate"}.
func TestDuplicatesPerSourceAddUpToTheLinesCountedDuplicate(t *testing.T) {
	cfg, authLog, d, conn, _, stop := fileAndListener(t)
	defer stop()
	at := time.Now().UTC().Truncate(time.Second).Add(-time.Hour)
	var file strings.Builder
	for i := range 2 {
		line, msg := sshdRecord(at.Add(time.Duration(i)*time.Second), 7000+i, fmt.Sprintf("Failed password for root from 3.3.3.8 port %d ssh2", 42000+i))
		file.WriteString(line)
		fmt.Fprint(conn, msg)
		ts := at.Add(time.Duration(i) * time.Second)
		text := fmt.Sprintf("weird thing from 3.3.3.9 port %d", 44300+i) // no rule knows it: unknown, with an event
		fmt.Fprintf(&file, "%s web1 myapp[%d]: %s\n", ts.Format("2006-01-02T15:04:05.000000-07:00"), 7100+i, text)
		fmt.Fprintf(conn, "<38>1 %s web1 myapp %d - - %s\n", ts.Format("2006-01-02T15:04:05.000000Z07:00"), 7100+i, text)
	}
	waitCounter(t, "lines committed", &d.Pipeline().Counters.Lines, 4)
	appendTo(t, authLog, file.String())
	waitCounter(t, "lines committed", &d.Pipeline().Counters.Lines, 8)
	st := d.status()
	perSource := int64(0)
	for _, s := range st.Sources {
		perSource += s.Duplicates
	}
	if st.Counters["duplicate"] != 2 || perSource != 2 || st.Counters["unknown"] != 4 {
		t.Errorf("lines counted duplicate %d, unknown %d; duplicates by source %d; want 2, 4 and 2 (the sshd lines' copies)",
			st.Counters["duplicate"], st.Counters["unknown"], perSource)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if evs := storedOf(t, cfg, "3.3.3.9"); len(evs) != 2 {
		t.Errorf("3.3.3.9: %d events of class unknown; want 2, the copies making none", len(evs))
	}
}

// twiceWarning is the warning that the config doc reads this host's sshd through the
// journal and a file, the host's logs being in logDir, or nil.
func twiceWarning(t *testing.T, logDir, doc string) *ConfigError {
	t.Helper()
	return parseTestConfig(t, "x.toml", checkBase+doc).readsSSHDTwiceIn(logDir)
}

// An admin from fail2ban keeps [[source]] files = ["/var/log/auth.log"] and turns the
// journal on (its default units are sshd's): check-config and run warn, with the
// source's line and how to read sshd once, as they do for a glob that takes auth.log or
// secure, a path that is auth.log once cleaned or linked, and the host's own journal
// directory. Review 41 (F8): reading sshd through the file alone is no matter of taking
// ssh out of units and identifiers when nothing else is in them (both empty read every
// entry); messages holds sshd's lines where there is no auth.log or secure (SUSE,
// Alpine), not beside them (RHEL); and where the file does not exist (no rsyslog) no
// record comes through both. Not for another host's journals (a directory), a [[source]]
// of another host, or a journal that does not read sshd.
func TestReadingSSHDThroughTheJournalAndAuthLogIsWarnedOf(t *testing.T) {
	logDir := t.TempDir()
	authLog, journalDir := filepath.Join(logDir, "auth.log"), filepath.Join(logDir, "journal")
	appendTo(t, authLog, "")
	if err := os.Mkdir(journalDir, 0o755); err != nil {
		t.Fatal(err)
	}
	w := twiceWarning(t, logDir, fmt.Sprintf("[[source]]\nfiles = [%q]\n[journal]\nenabled = true\n", authLog))
	want := fmt.Sprintf("x.toml:%d: source[0].files: %s is where rsyslog writes the sshd lines it takes from the journal, and [journal] reads sshd's entries too: "+
		"each record comes through both; the daemon counts it once (the copy from the second source makes no event) (read sshd once: through the journal alone, "+
		"which tells sshd's lines from a local user's forgeries where a file cannot, by leaving %[2]s out of [[source]] files; "+
		"or through the file alone, by setting [journal] enabled = false (it reads sshd's entries alone; units and identifiers both empty would read every entry))", checkBaseLines+2, authLog)
	if w == nil || w.Error() != want {
		t.Errorf("warning\n  %v\nwant\n  %s", w, want)
	}
	link := filepath.Join(t.TempDir(), "auth.log")
	if err := os.Symlink(authLog, link); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ files, journal, hint string }{
		{filepath.Join(logDir, "auth*"), "units = []\nidentifiers = []\n",
			"by naming in [journal] units the units it is to read, ssh's left out (units = [] and identifiers = [] read every entry, sshd's too), or by setting [journal] enabled = false)"},
		{filepath.Join(logDir, "*.log"), "units = [\"sshd.service\", \"cron.service\"]\n",
			"by leaving sshd.service out of [journal] units, and sshd, sshd-session out of [journal] identifiers)"},
		{logDir + "/../" + filepath.Base(logDir) + "/auth.l?g", "units = []\nidentifiers = [\"sshd\", \"postfix/smtpd\"]\n",
			"by leaving sshd out of [journal] identifiers)"},
		{link, fmt.Sprintf("directory = %q\n", journalDir), "by setting [journal] enabled = false"},
	} {
		doc := fmt.Sprintf("[[source]]\nfiles = [%q]\n[journal]\nenabled = true\n%s", tc.files, tc.journal)
		if w := twiceWarning(t, logDir, doc); w == nil || !strings.Contains(w.Error(), "or through the file alone, "+tc.hint) {
			t.Errorf("warning %v of\n%s\nwant it to say %q", w, doc, tc.hint)
		}
	}
	suse, rhel := t.TempDir(), t.TempDir()
	appendTo(t, filepath.Join(suse, "messages"), "")
	appendTo(t, filepath.Join(rhel, "messages"), "")
	appendTo(t, filepath.Join(rhel, "secure"), "")
	if twiceWarning(t, suse, fmt.Sprintf("[[source]]\nfiles = [%q]\n[journal]\nenabled = true\n", filepath.Join(suse, "messages"))) == nil {
		t.Error("no warning of messages where no auth.log or secure exists")
	}
	noRsyslog := t.TempDir()
	for _, tc := range []struct{ logDir, doc string }{
		{rhel, fmt.Sprintf("[[source]]\nfiles = [%q]\n[journal]\nenabled = true\n", filepath.Join(rhel, "messages"))},
		{noRsyslog, fmt.Sprintf("[[source]]\nfiles = [%q]\n[journal]\nenabled = true\n", filepath.Join(noRsyslog, "auth.log"))},
		{logDir, fmt.Sprintf("[[source]]\nfiles = [%q]\n", authLog)},
		{logDir, fmt.Sprintf("[[source]]\nfiles = [%q]\n[journal]\nenabled = true\ndirectory = %q\n", authLog, t.TempDir())},
		{logDir, fmt.Sprintf("[[source]]\nfiles = [%q]\nhost = \"mx2\"\n[journal]\nenabled = true\n", authLog)},
		{logDir, fmt.Sprintf("[[source]]\nfiles = [%q]\n[journal]\nenabled = true\nunits = [\"postfix@-.service\"]\nidentifiers = [\"postfix/smtpd\"]\n", authLog)},
		{logDir, "[[source]]\nfiles = [\"/srv/web1/auth.log\"]\n[journal]\nenabled = true\n"},
	} {
		if w := twiceWarning(t, tc.logDir, tc.doc); w != nil {
			t.Errorf("warning %v of\n%s", w, tc.doc)
		}
	}
}

// The memo under a flood: it holds at most its bound, forgetting the oldest first, and
// a copy it no longer holds is counted (twice, as without a memo), never dropped. A
// batch that is not kept (the store refused it) leaves the memo as it was, so the batch
// read again meets the same.
func TestTheRecordMemoIsBoundedAndKeptOnlyWithItsBatch(t *testing.T) {
	m := newRecordCopies()
	m.max = 4
	at := time.Now().Add(-time.Hour)
	record := func(i int) (detect.Header, abusewatch.Event) {
		msg := fmt.Sprintf("Failed password for root from 3.3.3.%d port 22 ssh2", i)
		return detect.Header{Host: "web1", Program: "sshd", PID: 100 + i, Message: msg},
			abusewatch.Event{Time: at, Addr: netip.MustParseAddr(fmt.Sprintf("3.3.3.%d", i)), Class: abusewatch.ClassAuthFailure}
	}
	log := slog.New(slog.DiscardHandler)
	b := m.begin()
	for i := range 6 {
		if h, ev := record(i); b.duplicate("/var/log/auth.log", h, ev, true) {
			t.Fatalf("record %d of one source taken for a copy", i)
		}
	}
	b.keep(log)
	if n := len(m.order) - m.head; n != 4 {
		t.Errorf("the memo holds %d records; want its bound, 4", n)
	}
	// The journal's copies: the two oldest are forgotten, and counted again.
	for try := range 2 {
		b = m.begin()
		var dropped []int
		for i := range 6 {
			if h, ev := record(i); b.duplicate(journalSource, h, ev, true) {
				dropped = append(dropped, i)
			}
		}
		if fmt.Sprint(dropped) != "[2 3 4 5]" {
			t.Errorf("try %d: copies dropped %v; want [2 3 4 5]", try, dropped)
		}
		// The first try's batch is refused by the store: not kept.
	}
	b.keep(log)
	if m.droppedFrom(journalSource) != 4 {
		t.Errorf("%d copies of the journal counted as dropped; want 4", m.droppedFrom(journalSource))
	}
}

// Review 41: what the memo must never take for a copy, and what a flood of one record
// costs it. Two full host names are two hosts, whatever their first label; through the
// listener a name must be the same (the sender chooses it); a line that names no host
// (exim's) is never a copy; a rotated file is its live file's source. A flood of one
// record (lines without a PID repeat exactly) is compared with a bounded few.
func TestTheRecordMemoTellsHostsApartAndBoundsAKeysRecords(t *testing.T) {
	at := time.Now().Add(-time.Hour)
	ev := abusewatch.Event{Time: at, Addr: netip.MustParseAddr("3.3.3.3"), Class: abusewatch.ClassAuthFailure}
	sshd := func(host string) detect.Header {
		return detect.Header{Host: host, Program: "sshd", PID: 100, Message: "Failed password for root from 3.3.3.3 port 22 ssh2"}
	}
	log := slog.New(slog.DiscardHandler)
	copied := func(first, second string, h1, h2 detect.Header) bool {
		m := newRecordCopies()
		b := m.begin()
		b.duplicate(first, h1, ev, true)
		b.keep(log)
		return m.begin().duplicate(second, h2, ev, true)
	}
	for _, tc := range []struct {
		name          string
		first, second string
		host1, host2  string
		want          bool
	}{
		{"journal's full name, the file's short one", journalSource, "/var/log/auth.log", "web1.example.org", "web1", true},
		{"the same name in two files", "/srv/a/auth.log", "/srv/b/auth.log", "web1", "WEB1", true},
		{"two full names, one first label", "/srv/dc1/auth.log", "/srv/dc2/auth.log", "mx1.dc1", "mx1.dc2", false},
		{"the listener's name must be the same", "/var/log/auth.log", syslogSource, "web1", "web1.evil", false},
		{"the listener first, then the file", syslogSource, "/var/log/auth.log", "web1.evil", "web1", false},
		{"the listener and the file naming it alike", syslogSource, "/var/log/auth.log", "web1", "web1", true},
		{"a rotated copy is its live file", "/var/log/auth.log.1", "/var/log/auth.log", "web1", "web1", false},
	} {
		if got := copied(tc.first, tc.second, sshd(tc.host1), sshd(tc.host2)); got != tc.want {
			t.Errorf("%s: taken for a copy = %v, want %v", tc.name, got, tc.want)
		}
	}
	read := time.Now()
	exim, err := detect.ParseHeader("2026-12-07 08:00:41 1vXyZa-000123-AB H=(x) [3.3.3.3] rejected EHLO or HELO x: syntactically invalid argument(s)", read, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	if copied("/srv/mx1/exim/mainlog", "/srv/mx2/exim/mainlog", exim, exim) {
		t.Error("the same exim line of two hosts' files taken for a copy: its line names no host")
	}

	m := newRecordCopies()
	b := m.begin()
	for range 10 * maxCopiesOfKey {
		if b.duplicate("/var/log/kern.log", sshd("web1"), ev, true) {
			t.Fatal("a line of one source taken for a copy")
		}
	}
	b.keep(log)
	for i := range 3 {
		b = m.begin()
		b.duplicate("/var/log/kern.log", sshd("web1"), ev, true)
		b.keep(log)
		for _, list := range m.byKey {
			if len(list) > maxCopiesOfKey {
				t.Fatalf("round %d: one record remembered %d times; want at most %d", i, len(list), maxCopiesOfKey)
			}
		}
	}
}
