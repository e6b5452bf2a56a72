package detect

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
)

// The sources of the tests below: PostgreSQL's log file, a syslog file and the journal.
const (
	pgFile    = "/var/log/postgresql/postgresql-15-main.log"
	pgSyslog  = "/var/log/syslog"
	pgJournal = "journal"
)

// declared returns the shipped rules with prefix declared for the three sources.
func declared(t *testing.T, prefix string) *Detector {
	t.Helper()
	p, err := ParsePostgresPrefix(prefix)
	if err != nil {
		t.Fatal(err)
	}
	return shipped(t).WithPostgresPrefixes(func(source string) *PostgresPrefix {
		if source == pgFile || source == pgSyslog || source == pgJournal {
			return p
		}
		return nil
	})
}

// pgForms is one line of PostgreSQL's log file in the three forms it takes: the file,
// the journal (its stderr), and syslog's first chunk.
func pgForms(line string) []abusewatch.Record {
	return []abusewatch.Record{
		{Source: pgFile, Line: line, Read: readTime},
		{Source: pgJournal, Line: "Dec  7 07:48:13 db postgres[7063]" + TagSeparator(line) + line, Read: readTime},
		{Source: pgSyslog, Line: "Dec  7 07:48:13 db postgres[7063]: [7-1] " + line, Read: readTime},
	}
}

// PostgreSQL's failed logins and probes, as PostgreSQL 15 wrote them with
// log_line_prefix '%m %r [%p] ' (testdata/postgres, see its PROVENANCE), declared for
// the source, in the log file, the journal and syslog. Lines not listed are no event and
// blame no address: the user and database names spell addresses, quotes and whole
// messages, and a newline in a name starts a line with a tab.
func TestPostgresLoginsFromRealServer(t *testing.T) {
	d := declared(t, "%m %r [%p] ")
	type want struct {
		class      abusewatch.Class
		addr, user string
		port       uint16
	}
	const (
		fail  = abusewatch.ClassAuthFailure
		local = abusewatch.Class("local-auth-failure")
		probe = abusewatch.Class("protocol-probe")
		hba   = "127.0.0.2"
		// the names the hostile clients sent
		spelled = `x FATAL:  no pg_hba.conf entry for host "6.6.6.6", user "y`
		prefix  = "q 6.6.6.6(1) x@y FATAL:  password authentication failed for use"
	)
	events := map[int]want{
		2: {fail, "127.0.0.1", "postgres", 48846}, 5: {fail, "127.0.0.1", "nosuchuser", 48874},
		8: {fail, "::1", "alice", 37284}, 10: {fail, "127.0.0.1", "postgres", 50612},
		12: {fail, "127.0.0.1", "x'@'6.6.6.6'", 50628}, 15: {fail, "127.0.0.1", "host=6.6.6.6", 48906},
		18: {fail, "127.0.0.1", `a"b`, 48914},
		21: {fail, "127.0.0.1", spelled, 48930}, 24: {fail, "127.0.0.1", spelled, 48940},
		27: {fail, "127.0.0.1", spelled, 50648}, 30: {fail, "127.0.0.1", spelled, 50652},
		33: {fail, "127.0.0.1", prefix, 48944}, 36: {fail, "127.0.0.1", prefix, 48958},
		39: {fail, "127.0.0.1", "alice", 48968},
		41: {local, "", "nosuchuser", 0},
		44: {probe, "127.0.0.1", "", 48986}, 45: {probe, "127.0.0.1", "", 50666},
		46: {probe, "127.0.0.1", "", 48994}, 47: {probe, "::1", "", 50996}, 48: {probe, "127.0.0.1", "", 34706},
		// pg_hba.conf's refusals: the address is the message's, right after the prefix;
		// the names that follow it are the client's, quotes and all.
		49: {fail, hba, "postgres", 0}, 50: {fail, hba, "x'@'6.6.6.6'", 0}, 51: {fail, hba, "host=6.6.6.6", 0},
		52: {fail, hba, spelled, 0}, 53: {fail, hba, `a"b", database "x`, 0},
		54: {fail, hba, "postgres", 0},
		55: {probe, "127.0.0.1", "", 55309}, 56: {probe, "127.0.0.1", "", 38029},
		// 57 is a refusal whose user name has a newline: its first line is cut, and the
		// next starts with a tab.
	}
	lines := readLines(t, "testdata/postgres/postgres-15-stderr-recommended.log")
	seen := 0
	for i, line := range lines {
		for _, rec := range pgForms(line) {
			out, ev := d.Classify(rec)
			w, ok := events[i+1]
			if !ok {
				if out == Recognised || ev.Addr.IsValid() {
					t.Errorf("%d: %v %s from %v, want no event: %s", i+1, out, ev.Class, ev.Addr, rec.Line)
				}
				continue
			}
			seen++
			var addr netip.Addr
			if w.addr != "" {
				addr = netip.MustParseAddr(w.addr)
			}
			if out != Recognised || ev.Class != w.class || ev.Addr != addr || ev.Name != "" || ev.User != w.user || ev.Port != w.port || ev.Service != "postgres" {
				t.Errorf("%d: %s\n got %v %s addr=%v name=%q user=%q port=%d service=%s\nwant %s addr=%v user=%q port=%d",
					i+1, rec.Line, out, ev.Class, ev.Addr, ev.Name, ev.User, ev.Port, ev.Service, w.class, addr, w.user, w.port)
			}
		}
	}
	if seen != 3*len(events) {
		t.Errorf("%d lines, %d of the %d events listed (in 3 forms)", len(lines), seen, 3*len(events))
	}
	// The file's line has its time and pid from the prefix, and names this host.
	_, ev := d.Classify(pgForms(lines[1])[0])
	if want := time.Date(2026, 12, 7, 7, 48, 13, 707000000, time.UTC); !ev.Time.Equal(want) || ev.Host != localHost() {
		t.Errorf("line 2: time %v host %q, want %v and %q", ev.Time, ev.Host, want, localHost())
	}
}

// Without a declared prefix, no line of PostgreSQL's is an event, nor names an address,
// whatever it spells: not the captures of its log file (two prefixes) and of syslog, not
// the review's forged lines (review 20b H1, H2, L3), not lines that look as the rules'
// own messages do. The prefix of a source is no other source's.
func TestPostgresUndeclaredMakesNoEvent(t *testing.T) {
	d := declared(t, "%m %r [%p] ")
	var lines []string
	for _, file := range []string{"postgres-15-stderr-recommended.log", "postgres-15-stderr-default.log", "postgres-15-syslog.log"} {
		lines = append(lines, readLines(t, "testdata/postgres/"+file)...)
	}
	lines = append(lines, reviewForged...)
	lines = append(lines,
		`6.6.6.6(1) FATAL:  password authentication failed for user "root"`,
		`Dec  7 07:48:13 db postgres[7063]: 6.6.6.6(1) FATAL:  password authentication failed for user "root"`,
		`Dec  7 07:48:13 db postgres[7063]: - FATAL:  no pg_hba.conf entry for host "6.6.6.6", user "x", database "y", no encryption`,
		`Dec  7 07:48:13 db postgres[7063]: 2026-12-07 07:48:13.707 UTC 6.6.6.6(1) [7063] LOG:  incomplete startup packet`,
	)
	for _, source := range []string{"/var/log/auth.log", "/var/log/postgresql/other.log", "syslog"} {
		for _, d := range []*Detector{shipped(t), d} {
			for _, line := range lines {
				rec := abusewatch.Record{Source: source, Line: line, Read: readTime}
				if out, ev := d.Classify(rec); out == Recognised || ev.Addr.IsValid() {
					t.Errorf("%s: %v %s from %v, want no event: %s", source, out, ev.Class, ev.Addr, line)
				}
			}
		}
	}
}

// reviewForged are review 20b's hostile lines (/tmp/pgrev), as PostgreSQL wrote them
// with a prefix that holds the client's names: H2 with Debian's default '%m [%p]
// %q%u@%d ' (a user name with a newline), H1 with it and through syslog with
// '%m %r [%p] %q%u@%d ' (a database name with a newline after a spelled refusal), and
// L3's old Debian default '%t [%p-%l] %q%u@%d '.
var reviewForged = []string{
	"2026-12-07 07:50:00.100 UTC [9300] a",
	`2026-12-07 07:44:46.367 UTC 6.6.6.6 [1] x@y FATAL:  password authentication failed for user "root"`,
	`b FATAL:  no pg_hba.conf entry for host "203.0.113.9", user "a`,
	"\t" + `2026-12-07 07:44:46.367 UTC 6.6.6.6 [1] x", database "y FATAL:  password authentication failed for user "root"`,
	"\tb\", no encryption",
	`2026-12-07 07:50:00.100 UTC [9300] FATAL:  no pg_hba.conf entry for host "6.6.6.6", user "a@", database "b", no encryption`,
	`z FATAL:  no pg_hba.conf entry for host "203.0.113.9", user "FATAL:  no pg_hba.conf entry for host "6.6.6.6", user "a", database "", database "b", no encryption`,
	`Dec  7 07:50:00 db postgres[9300]: [7-1] 2026-12-07 07:50:00.100 UTC 203.0.113.9(41000) [9300] FATAL:  no pg_hba.conf entry for host "6.6.6.6", user "a@", database "b", no encryption`,
	`Dec  7 07:50:00 db postgres[9300]: [7-2] z FATAL:  no pg_hba.conf entry for host "203.0.113.9", user "FATAL:  no pg_hba.conf entry for host "6.6.6.6", user "a", database "", database "b", no encryption`,
	"Dec  7 07:50:00 db postgres[9300]: [7-3] \tz\", no encryption",
	`2026-12-07 07:43:28 UTC [25127-1] postgres@postgres FATAL:  no pg_hba.conf entry for host "81.2.69.160", user "postgres", database "postgres", no encryption`,
	`2026-12-07 07:43:28.932 +0545 [25127] postgres@postgres FATAL:  no pg_hba.conf entry for host "81.2.69.160", user "postgres", database "postgres", no encryption`,
}

// The review's hostile names (20b H1, H2), sent to a server whose prefix the admin
// declared and which therefore holds none of them: PostgreSQL writes them in the
// message only, where a newline is followed by a tab. The event, where there is one,
// is the real client's (203.0.113.9), never the address a name spells; and so with
// the same names shaped for the declared prefix. The lines are as PostgreSQL writes a
// message with a newline (append_with_tabs) after '%m %r [%p] '.
func TestPostgresNamesNeverChooseTheAddress(t *testing.T) {
	d := declared(t, "%m %r [%p] ")
	real := netip.MustParseAddr("203.0.113.9")
	const at = "2026-12-07 07:50:00.100 UTC 203.0.113.9(41000) [9300] "
	for _, tt := range []struct {
		name  string
		lines []string
		event bool // the first line is an event (from real)
	}{
		{"H1: a refusal spelled in the user name, a newline in the database name", []string{
			at + `FATAL:  no pg_hba.conf entry for host "203.0.113.9", user "FATAL:  no pg_hba.conf entry for host "6.6.6.6", user "a", database "", database "b", no encryption`,
			"\tz\", no encryption",
		}, true},
		{"H2: a whole line of the old prefix after a newline in the user name", []string{
			at + `FATAL:  password authentication failed for user "a`,
			"\t" + `2026-12-07 07:44:46.367 UTC 6.6.6.6 [1] x"`,
		}, false},
		{"H2 shaped for the declared prefix", []string{
			at + `FATAL:  password authentication failed for user "a`,
			"\t" + `2026-12-07 07:44:46.367 UTC 6.6.6.6(1) [1] FATAL:  password authentication failed for user "root"`,
			"\t" + `2026-12-07 07:44:46.367 UTC 6.6.6.6(1) [1] FATAL:  x"`,
		}, false},
		{"an address and a refusal in the user name", []string{
			at + `FATAL:  password authentication failed for user "6.6.6.6(1) FATAL:  no pg_hba.conf entry for host "6.6.6.6", user "x"`,
		}, true},
		{"an address in brackets in a role's name", []string{
			at + `DETAIL:  Role "[6.6.6.6]" does not exist.`,
			at + `DETAIL:  Role "x from 6.6.6.6 port 22" does not exist.`,
		}, false},
		{"[local] in the user name", []string{
			at + `FATAL:  password authentication failed for user "[local] FATAL:  x"`,
		}, true},
	} {
		for i, line := range tt.lines {
			for _, rec := range pgForms(line) {
				out, ev := d.Classify(rec)
				if ev.Addr.IsValid() && ev.Addr != real || ev.Class == "local-auth-failure" {
					t.Errorf("%s: %v %s from %v: %s", tt.name, out, ev.Class, ev.Addr, rec.Line)
				}
				if want := tt.event && i == 0; want != (out == Recognised) {
					t.Errorf("%s: %v %s from %v, want an event %v: %s", tt.name, out, ev.Class, ev.Addr, want, rec.Line)
				}
			}
		}
	}
	// syslog's later chunks are never read, whatever they spell: PostgreSQL cuts a long
	// line where it may, and the next chunk starts with what was there.
	for _, chunk := range []string{"[7-2] ", "[7-3] "} {
		line := "Dec  7 07:50:00 db postgres[9300]: " + chunk + `2026-12-07 07:44:46.367 UTC 6.6.6.6(1) [1] FATAL:  password authentication failed for user "root"`
		if out, ev := d.Classify(abusewatch.Record{Source: pgSyslog, Line: line, Read: readTime}); out == Recognised || ev.Addr.IsValid() {
			t.Errorf("%v %s from %v: %s", out, ev.Class, ev.Addr, line)
		}
	}
}

// A prefix that holds an escape the client writes, or that cannot be read exactly, is
// refused, and the error names the escape.
func TestPostgresPrefixRefused(t *testing.T) {
	for _, tt := range []struct{ prefix, want string }{
		{"%m [%p] %q%u@%d ", "has %u, the user name as the client sent it, newlines included"},
		{"%m [%p] %d ", "has %d, the database name as the client sent it"},
		{"%m %r [%p] app=%a ", "has %a, the application name as the client sent it"},
		{"%t [%p-%l] %q%u@%d ", "has %u"},
		{"%m [%p] %i ", "has %i, a command tag: words with spaces"},
		{"%m [%p] %b: ", "has %b, the backend type"},
		{"%m [%p] %k ", "has %k, an escape PostgreSQL does not know"},
		{"%m [%10p] ", "pads an escape (%10p)"},
		{"%m [%-10p] ", "pads an escape (%-10p)"},
		{"[%p] %m ", "does not start with the time"},
		{"%p %m ", "does not start with the time"},
		{" %m [%p] ", "does not start with the time"},
		{"%q%m [%p] ", "does not start with the time"},
		{"%m%r [%p] ", "has %r right after %m"},
		{"%m [%p] %", "ends in a lone %"},
		{"", "is empty"},
		{"%m [%p]\n", "control character"},
	} {
		_, err := ParsePostgresPrefix(tt.prefix)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParsePostgresPrefix(%q) = %v, want an error with %q", tt.prefix, err, tt.want)
		}
	}
}

// Every escape the prefix may hold is read exactly, the address only from %r or %h and
// only when it is an address, and the time from %m, %t or %n.
func TestPostgresPrefixReadsEachEscape(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	const msg = `FATAL:  password authentication failed for user "x"`
	for _, tt := range []struct {
		prefix, line string
		message      string // "" when the line is not read
		time         time.Time
		pid          int
	}{
		{"%m %r [%p] ", "2026-12-07 07:48:13.707 UTC 203.0.113.9(41000) [7063] " + msg,
			"203.0.113.9(41000) " + msg, time.Date(2026, 12, 7, 7, 48, 13, 707000000, time.UTC), 7063},
		{"%m %r [%p] ", "2026-12-07 07:48:13.707 UTC ::ffff:203.0.113.9(41000) [7063] " + msg,
			"203.0.113.9(41000) " + msg, time.Date(2026, 12, 7, 7, 48, 13, 707000000, time.UTC), 7063},
		{"%m %r [%p] ", "2026-12-07 07:48:13.707 UTC fe80::1%eth0(41000) [7063] " + msg,
			"- " + msg, time.Date(2026, 12, 7, 7, 48, 13, 707000000, time.UTC), 7063},
		{"%m %r [%p] ", "2026-12-07 07:48:13.707 UTC  [7063] LOG:  checkpoint starting: time",
			"- LOG:  checkpoint starting: time", time.Date(2026, 12, 7, 7, 48, 13, 707000000, time.UTC), 7063},
		{"%m %r [%p] ", "2026-12-07 07:48:13.707 UTC 6.6.6.6 [7063] " + msg, "", time.Time{}, 0}, // %r has a port
		{"%m %r [%p] ", "2026-12-07 07:48:13.707 UTC 203.0.113.9(41000) [7063] x@y " + msg, "", time.Time{}, 0},
		{"%t %h [%p] ", "2026-12-07 10:48:13 +03 203.0.113.9 [7063] " + msg,
			"203.0.113.9 " + msg, time.Date(2026, 12, 7, 7, 48, 13, 0, time.UTC), 7063},
		{"%t %h [%p] ", "2026-12-07 08:48:13 CET 6.6.6.6.example.com [7063] " + msg,
			"- " + msg, time.Date(2026, 12, 7, 7, 48, 13, 0, time.UTC), 7063},
		{"%t %h [%p] ", "2026-12-07 13:18:13 +0530 [local] [7063] " + msg,
			"[local] " + msg, time.Date(2026, 12, 7, 7, 48, 13, 0, time.UTC), 7063},
		{"%n [%c] %l %e %x %v %Q %L %s: ", "1796629693.707 [6570a1b2.1b97] 3 28P01 0 3/7 -12 127.0.0.1 2026-12-07 07:48:00 UTC: " + msg,
			"- " + msg, time.Date(2026, 12, 7, 7, 48, 13, 707000000, time.UTC), 0x1b97},
		{"%m [%p] %P %%%r ", "2026-12-07 07:48:13.707 UTC [7063]  %203.0.113.9(1) " + msg,
			"203.0.113.9(1) " + msg, time.Date(2026, 12, 7, 7, 48, 13, 707000000, time.UTC), 7063},
		// the old Debian default without its names (review L3)
		{"%t [%p-%l] %q%h ", "2026-12-07 07:43:28 UTC [25127-1] 81.2.69.160 " + msg,
			"81.2.69.160 " + msg, time.Date(2026, 12, 7, 7, 43, 28, 0, time.UTC), 25127},
		// %q: a process without a client stops there; a client's line has it all
		{"%m [%p] %q%r ", "2026-12-07 07:48:13.707 UTC [7063] LOG:  database system is ready to accept connections",
			"- LOG:  database system is ready to accept connections", time.Date(2026, 12, 7, 7, 48, 13, 707000000, time.UTC), 7063},
		{"%m [%p] %q%r ", "2026-12-07 07:48:13.707 UTC [7063] 203.0.113.9(41000) " + msg,
			"203.0.113.9(41000) " + msg, time.Date(2026, 12, 7, 7, 48, 13, 707000000, time.UTC), 7063},
		{"%m [%p] ", "\t2026-12-07 07:48:13.707 UTC [7063] " + msg, "", time.Time{}, 0},
		{"%m [%p] ", "2026-12-07 07:48:13.707 UTC [7063] no severity", "", time.Time{}, 0},
	} {
		p, err := ParsePostgresPrefix(tt.prefix)
		if err != nil {
			t.Fatal(err)
		}
		h, ok := p.readFile(tt.line, berlin)
		switch {
		case tt.message == "" && ok:
			t.Errorf("%q read %q as %q, want it not read", tt.prefix, tt.line, h.Message)
		case tt.message == "":
		case !ok:
			t.Errorf("%q did not read %q", tt.prefix, tt.line)
		case h.Message != tt.message || !h.Time.Equal(tt.time) || h.PID != tt.pid || h.Program != "postgres":
			t.Errorf("%q read %q as\n %q at %v pid %d program %q\nwant %q at %v pid %d", tt.prefix, tt.line, h.Message, h.Time, h.PID, h.Program, tt.message, tt.time, tt.pid)
		}
	}
}

// A declared source's syslog records are read after PostgreSQL's chunk number, or
// without one; the journal's and syslog's header keep their time and host.
func TestPostgresSyslogChunks(t *testing.T) {
	d := declared(t, "%m %r [%p] ")
	const line = `2026-12-07 07:48:13.707 UTC 203.0.113.9(41000) [7063] FATAL:  password authentication failed for user "x"`
	for _, tag := range []string{"", "[7] ", "[7-1] ", "[1] "} {
		rec := abusewatch.Record{Source: pgSyslog, Line: "Dec  7 07:48:14 db7 postgres[7063]: " + tag + line, Read: time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC)}
		out, ev := d.Classify(rec)
		if out != Recognised || ev.Addr != netip.MustParseAddr("203.0.113.9") || ev.Host != "db7" || ev.Time.Second() != 14 {
			t.Errorf("%q: %v %s from %v host %q at %v", rec.Line, out, ev.Class, ev.Addr, ev.Host, ev.Time)
		}
	}
}

// rules test says why a PostgreSQL line is no event: its source declares no prefix, or
// the declared one does not read it (a continuation, or postgresql.conf has another).
func TestPostgresSaysWhyNoEvent(t *testing.T) {
	d := declared(t, "%m %r [%p] ")
	const line = `2026-12-07 07:48:13.707 UTC [7063] postgres@postgres FATAL:  password authentication failed for user "postgres"`
	for _, tt := range []struct{ source, want string }{
		{"/var/log/other.log", "its source declares no postgres_prefix"},
		{pgFile, `does not start with the declared log_line_prefix "%m %r [%p] " and a severity`},
	} {
		v := d.Explain(abusewatch.Record{Source: tt.source, Line: line, Read: readTime})
		if v.Outcome != Unknown || v.Err == nil || !strings.Contains(v.Err.Error(), tt.want) {
			t.Errorf("%s: %v (%v), want unknown saying %q", tt.source, v.Outcome, v.Err, tt.want)
		}
	}
}

// A declared source's line is read by its prefix even where ParseHeader alone takes it
// for exim's mainlog (a zone in hours and minutes) or for nothing (the epoch of %n).
func TestPostgresDeclaredFileBeforeOtherFormats(t *testing.T) {
	const refusal = `FATAL:  no pg_hba.conf entry for host "81.2.69.160", user "postgres", database "postgres", no encryption`
	for _, tt := range []struct{ prefix, line string }{
		{"%m [%p] ", "2026-12-07 07:43:28.932 +0545 [25127] " + refusal},
		{"%n [%p] ", "1796629693.707 [25127] " + refusal},
	} {
		rec := abusewatch.Record{Source: pgFile, Line: tt.line, Read: readTime}
		if out, ev := declared(t, tt.prefix).Classify(rec); out != Recognised || ev.Service != "postgres" || ev.Addr != netip.MustParseAddr("81.2.69.160") {
			t.Errorf("%q: %v %s from %v by %s", tt.line, out, ev.Class, ev.Addr, ev.Service)
		}
	}
}

// PostgreSQL names the client of its prefix (%r, %h) in pg_hba.conf's refusal too, so a
// line where the two differ is not one it wrote, and makes no event (review 21c: it was
// read with the message's address); one without an address in its prefix keeps the
// message's.
func TestPostgresPrefixAndRefusalNameOneClient(t *testing.T) {
	const refusal = `FATAL:  no pg_hba.conf entry for host "%s", user "postgres", database "postgres", no encryption`
	for _, tt := range []struct {
		prefix, line string
		addr         string // "" for no event
	}{
		{"%m %r [%p] ", "2026-12-07 07:50:00.100 UTC 7.7.7.7(41000) [9300] " + fmt.Sprintf(refusal, "203.0.113.9"), ""},
		{"%m %h [%p] ", "2026-12-07 07:50:00.100 UTC 7.7.7.7 [9300] " + fmt.Sprintf(refusal, "203.0.113.9"), ""},
		{"%m %r [%p] ", "2026-12-07 07:50:00.100 UTC 203.0.113.9(41000) [9300] " + fmt.Sprintf(refusal, "203.0.113.9"), "203.0.113.9"},
		{"%m %r [%p] ", "2026-12-07 07:50:00.100 UTC ::ffff:203.0.113.9(41000) [9300] " + fmt.Sprintf(refusal, "203.0.113.9"), "203.0.113.9"},
		{"%m [%p] ", "2026-12-07 07:50:00.100 UTC [9300] " + fmt.Sprintf(refusal, "203.0.113.9"), "203.0.113.9"},
	} {
		d := declared(t, tt.prefix)
		for _, rec := range pgForms(tt.line) {
			out, ev := d.Classify(rec)
			switch {
			case tt.addr == "" && out == Recognised:
				t.Errorf("%q: an event from %v; want none: %s", tt.prefix, ev.Addr, rec.Line)
			case tt.addr != "" && (out != Recognised || ev.Addr != netip.MustParseAddr(tt.addr)):
				t.Errorf("%q: %v from %v; want an event from %s: %s", tt.prefix, out, ev.Addr, tt.addr, rec.Line)
			}
		}
	}
}

// PostgreSQL writes a tab after each newline inside a message (a DETAIL's second line, a
// statement of several lines): in its log file that line has no prefix, and through
// syslog it is a later chunk ("[7-3] \t…"). It continues the record before it: never an
// event, nor an unknown shape, nor unparsed, whatever its text spells (it may be the
// client's), declared prefix or not in the journal and syslog. Real lines of
// PostgreSQL 15 (testdata/postgres, see its PROVENANCE). (They were unparsed in the file
// and unknown shapes in syslog and the journal.)
func TestPostgresContinuationLinesBelongToTheRecordBefore(t *testing.T) {
	declaredFile := declared(t, "%m %r [%p] ")
	undeclared := shipped(t)
	check := func(d *Detector, rec abusewatch.Record, want Outcome) {
		t.Helper()
		v := d.Explain(rec)
		if v.Outcome != want || v.Event.Class != "" || v.Event.Addr.IsValid() {
			t.Errorf("%s: %v (%v) %s from %v, want %v: %q", rec.Source, v.Outcome, v.Err, v.Event.Class, v.Event.Addr, want, rec.Line)
		}
	}
	continued := 0
	for _, line := range readLines(t, "testdata/postgres/postgres-15-stderr-recommended.log") {
		rec := abusewatch.Record{Source: pgFile, Line: line, Read: readTime}
		if !strings.HasPrefix(line, "\t") {
			if v := declaredFile.Explain(rec); v.Outcome == Unparsed || v.Outcome == Continuation {
				t.Errorf("a line with its prefix is %v: %q", v.Outcome, line)
			}
			continue
		}
		continued++
		check(declaredFile, rec, Continuation)
		// Its stderr in the journal, declared or not.
		journal := abusewatch.Record{Source: pgJournal, Line: "Dec  7 07:48:13 db postgres[7063]" + TagSeparator(line) + line, Read: readTime}
		check(declaredFile, journal, Continuation)
		check(undeclared, journal, Continuation)
	}
	if continued != 12 {
		t.Errorf("%d lines of the log file start with a tab; the capture has 12", continued)
	}
	continued = 0
	for _, line := range readLines(t, "testdata/postgres/postgres-15-syslog.log") {
		if strings.Contains(line, "] \t") {
			continued++
			check(undeclared, abusewatch.Record{Source: pgSyslog, Line: line, Read: readTime}, Continuation)
		}
	}
	if continued != 12 {
		t.Errorf("%d chunks of syslog start with a tab; the capture has 12", continued)
	}
	// The review's forged lines that start with a tab spell a prefix and a refusal: a
	// continuation all the same, in every form.
	for _, line := range reviewForged {
		if strings.HasPrefix(line, "\t") {
			for _, rec := range pgForms(line) {
				check(declaredFile, rec, Continuation)
			}
		}
	}
	// A file that declares no prefix is not known to be PostgreSQL's: a line there that
	// starts with a tab stays unparsed.
	check(undeclared, abusewatch.Record{Source: pgFile, Line: "\tConnection matched pg_hba.conf line 97", Read: readTime}, Unparsed)
}
