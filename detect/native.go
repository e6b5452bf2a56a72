package detect

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Some services write their own log file rather than to syslog, with a header of their
// own: exim's mainlog (/var/log/exim4/mainlog), vsftpd's vsftpd.log, proftpd's
// SystemLog and PostgreSQL's stderr log (/var/log/postgresql/postgresql-15-main.log).
// ParseHeader reads these when a line has no syslog header, so the attack rules written
// for the service's syslog messages classify them too:
//
//	exim      2022-06-29 16:04:19 [1234] MSG           (".123" and " +0200" may follow the time; [pid] is optional)
//	vsftpd    Mon Jun  8 12:08:53 2020 [pid 27244] MSG  (MSG as after "vsftpd[27244]: ")
//	proftpd   2021-05-28 18:08:34,399 host proftpd[498819] MSG
//	postgres  2026-12-07 07:48:13.707 UTC 127.0.0.1(48846) [7063] FATAL:  …
//
// PostgreSQL's line starts with its log_line_prefix; here it is recognised by its usual
// start, %m or %t (the time and a zone abbreviation), then [%p] (or the old [%p-%l]),
// perhaps with one word (%h or %r) before it, and its message is the whole line, as
// after "postgres[7063]: " in the journal. Such a record makes no event: only the
// prefix its source declares reads a PostgreSQL line exactly (postgres.go); this keeps
// it from being taken for exim's, whose message the client's names would then start.
//
// exim, vsftpd and postgres name no host: the record's host is this machine's name (the
// files are local), or the one Detector.WithSourceHosts gives the record's source (a
// central server's copies of its fleet's files). A line with a <PRI> is never read this
// way: it came from a network, not a file.

// nativeFormats are the names ParseHeader gives the formats it reads beyond syslog.
const (
	formatExim     = "exim"
	formatVsftpd   = "vsftpd"
	formatProftpd  = "proftpd"
	formatPostgres = "postgres"
)

// localHost is this machine's name, the host of records whose format names none.
var localHost = sync.OnceValue(func() string {
	if h, err := os.Hostname(); err == nil && h != "" && !strings.ContainsAny(h, " \t") {
		return h
	}
	return "localhost"
})

// NamesHost says whether h's line named its host: a syslog header does, and proftpd's;
// exim's, vsftpd's and PostgreSQL's own files do not (their Host is this machine's, or
// the [[source]]'s host: WithSourceHosts).
func (h Header) NamesHost() bool { return h.namesHost() }

// namesHost says whether h's line named its host: a syslog header does, and proftpd's.
func (h Header) namesHost() bool {
	return h.format != formatExim && h.format != formatVsftpd && h.format != formatPostgres
}

// parseNative reads the header of one of the native formats above; ok is false when
// line is in none of them.
func parseNative(line string, loc *time.Location) (Header, bool) {
	switch {
	case len(line) > 20 && isDigits(line[:4]) && line[4] == '-' && line[10] == ' ':
		t, rest, ok := parseDateTime(line)
		if !ok {
			return Header{}, false
		}
		if strings.HasPrefix(rest, ",") {
			return parseProftpd(t, rest[1:], loc)
		}
		if h, ok := parsePostgres(t, line, rest, loc); ok {
			return h, true
		}
		return parseExim(t, rest, loc)
	case len(line) > 4 && line[3] == ' ' && weekdays[line[:3]]:
		return parseVsftpd(line[4:], loc)
	}
	return Header{}, false
}

var weekdays = map[string]bool{"Mon": true, "Tue": true, "Wed": true, "Thu": true, "Fri": true, "Sat": true, "Sun": true}

// dateTime is a wall-clock time without a zone.
type dateTime struct{ year, month, day, hour, min, sec, nsec int }

func (d dateTime) in(loc *time.Location) (time.Time, bool) {
	t := time.Date(d.year, time.Month(d.month), d.day, d.hour, d.min, d.sec, d.nsec, loc)
	return t, t.Day() == d.day && d.month >= 1 && d.month <= 12 && d.hour < 24 && d.min < 60 && d.sec <= 60
}

// parseDateTime reads "YYYY-MM-DD HH:MM:SS" and returns the rest.
func parseDateTime(s string) (dateTime, string, bool) {
	if len(s) < 19 || s[4] != '-' || s[7] != '-' || s[10] != ' ' || s[13] != ':' || s[16] != ':' {
		return dateTime{}, "", false
	}
	var d dateTime
	for _, f := range []struct {
		text string
		to   *int
	}{{s[0:4], &d.year}, {s[5:7], &d.month}, {s[8:10], &d.day}, {s[11:13], &d.hour}, {s[14:16], &d.min}, {s[17:19], &d.sec}} {
		if !isDigits(f.text) {
			return dateTime{}, "", false
		}
		*f.to, _ = strconv.Atoi(f.text)
	}
	return d, s[19:], true
}

// millis reads "mmm" (three digits) at the start of s.
func millis(s string) (int, string, bool) {
	if len(s) < 3 || !isDigits(s[:3]) {
		return 0, "", false
	}
	ms, _ := strconv.Atoi(s[:3])
	return ms * int(time.Millisecond), s[3:], true
}

// parseExim reads what follows exim's "YYYY-MM-DD HH:MM:SS": [".mmm"] [" +hhmm"]
// [" [pid]"] " " MSG.
func parseExim(d dateTime, rest string, loc *time.Location) (Header, bool) {
	if strings.HasPrefix(rest, ".") {
		var ok bool
		if d.nsec, rest, ok = millis(rest[1:]); !ok {
			return Header{}, false
		}
	}
	if len(rest) > 6 && rest[0] == ' ' && (rest[1] == '+' || rest[1] == '-') && isDigits(rest[2:6]) {
		hh, _ := strconv.Atoi(rest[2:4])
		mm, _ := strconv.Atoi(rest[4:6])
		offset := hh*3600 + mm*60
		if rest[1] == '-' {
			offset = -offset
		}
		loc = time.FixedZone("", offset)
		rest = rest[6:]
	}
	t, ok := d.in(loc)
	if !ok || !strings.HasPrefix(rest, " ") || len(rest) < 2 {
		return Header{}, false
	}
	h := Header{Time: t, Host: localHost(), Program: "exim", Message: rest[1:], format: formatExim}
	if num, after, ok := strings.Cut(h.Message, "] "); ok && strings.HasPrefix(num, "[") && isDigits(num[1:]) && len(num) <= 11 {
		h.PID, _ = strconv.Atoi(num[1:])
		h.Message = after
	}
	return h, true
}

// parsePostgres reads what follows PostgreSQL's "YYYY-MM-DD HH:MM:SS" in line: [".mmm"]
// " " ZONE " " [WORD] " [pid]" (or " [pid-line]") and a space or a colon. ZONE is an abbreviation in
// letters ("UTC", "CEST") or an offset in hours ("+03"); exim writes "+0200", so a zone
// in hours and minutes ("+0545") is left to exim. Requiring [pid] after at most one word
// keeps exim's lines out ("SMTP connection from …").
func parsePostgres(d dateTime, line, rest string, loc *time.Location) (Header, bool) {
	if strings.HasPrefix(rest, ".") {
		var ok bool
		if d.nsec, rest, ok = millis(rest[1:]); !ok {
			return Header{}, false
		}
	}
	zone, rest, ok := strings.Cut(strings.TrimPrefix(rest, " "), " ")
	switch {
	case !ok || zone == "":
		return Header{}, false
	case zone == "UTC" || zone == "GMT":
		loc = time.UTC
	case len(zone) == 3 && (zone[0] == '+' || zone[0] == '-') && isDigits(zone[1:]):
		hh, _ := strconv.Atoi(zone[1:])
		if zone[0] == '-' {
			hh = -hh
		}
		loc = time.FixedZone(zone, hh*3600)
	case len(zone) < 2 || len(zone) > 6 || strings.TrimFunc(zone, isLetter) != "":
		return Header{}, false
	}
	// The word before [pid] is %h or %r: an address, a host name or [local], or
	// nothing (a process without a client: two spaces).
	if !strings.HasPrefix(rest, "[") || strings.HasPrefix(rest, "[local] ") {
		_, rest, _ = strings.Cut(rest, " ")
	}
	num, after, ok := strings.Cut(strings.TrimPrefix(rest, "["), "]")
	// "[%p-%l]", the pid and the session's line number, was Debian's default before
	// PostgreSQL 10 ('%t [%p-%l] %q%u@%d '), and pg_upgradecluster keeps it: its lines
	// are PostgreSQL's, not exim's (whose message the client's names would then start).
	if pid, line, numbered := strings.Cut(num, "-"); numbered && isDigits(line) && len(line) <= 20 {
		num = pid
	}
	if !strings.HasPrefix(rest, "[") || !ok || !isDigits(num) || len(num) > 10 ||
		!(strings.HasPrefix(after, " ") || strings.HasPrefix(after, ":")) {
		return Header{}, false
	}
	t, ok := d.in(loc)
	if !ok {
		return Header{}, false
	}
	pid, _ := strconv.Atoi(num)
	return Header{Time: t, Host: localHost(), Program: "postgres", PID: pid, Message: line, format: formatPostgres}, true
}

func isLetter(r rune) bool { return r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' }

// parseProftpd reads what follows proftpd's "YYYY-MM-DD HH:MM:SS,": "mmm host
// proftpd[pid] " MSG.
func parseProftpd(d dateTime, rest string, loc *time.Location) (Header, bool) {
	var ok bool
	if d.nsec, rest, ok = millis(rest); !ok || !strings.HasPrefix(rest, " ") {
		return Header{}, false
	}
	t, ok := d.in(loc)
	if !ok {
		return Header{}, false
	}
	host, rest, ok := strings.Cut(rest[1:], " ")
	if !ok || host == "" {
		return Header{}, false
	}
	tag, msg, ok := strings.Cut(rest, " ")
	num, ok2 := strings.CutPrefix(tag, "proftpd[")
	if !ok || !ok2 || !strings.HasSuffix(num, "]") || !isDigits(num[:len(num)-1]) || len(num) > 11 {
		return Header{}, false
	}
	pid, _ := strconv.Atoi(num[:len(num)-1])
	return Header{Time: t, Host: host, Program: "proftpd", PID: pid, Message: msg, format: formatProftpd}, true
}

// parseVsftpd reads what follows vsftpd's weekday: "Mmm dd hh:mm:ss yyyy [pid N] " MSG,
// the day padded with a space (vsftpd) or not.
func parseVsftpd(s string, loc *time.Location) (Header, bool) {
	if len(s) < 4 || s[3] != ' ' {
		return Header{}, false
	}
	mon, ok := months[s[:3]]
	if !ok {
		return Header{}, false
	}
	rest := strings.TrimLeft(s[4:], " ")
	dayText, rest, _ := strings.Cut(rest, " ")
	clock, rest, _ := strings.Cut(rest, " ")
	yearText, rest, _ := strings.Cut(rest, " ")
	day, err1 := strconv.Atoi(dayText)
	year, err2 := strconv.Atoi(yearText)
	if err1 != nil || err2 != nil || len(dayText) > 2 || len(yearText) != 4 || len(clock) != 8 || clock[2] != ':' || clock[5] != ':' ||
		!isDigits(clock[:2]) || !isDigits(clock[3:5]) || !isDigits(clock[6:]) {
		return Header{}, false
	}
	d := dateTime{year: year, month: int(mon), day: day}
	d.hour, _ = strconv.Atoi(clock[:2])
	d.min, _ = strconv.Atoi(clock[3:5])
	d.sec, _ = strconv.Atoi(clock[6:])
	t, ok := d.in(loc)
	if !ok {
		return Header{}, false
	}
	rest, ok = strings.CutPrefix(rest, "[pid ")
	if !ok {
		return Header{}, false
	}
	num, msg, ok := strings.Cut(rest, "] ")
	if !ok || !isDigits(num) || len(num) > 10 {
		return Header{}, false
	}
	pid, _ := strconv.Atoi(num)
	return Header{Time: t, Host: localHost(), Program: "vsftpd", PID: pid, Message: msg, format: formatVsftpd}, true
}
