package detect

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// MaxLineLen is the longest line detect reads; longer lines are unparsed. Syslog
// daemons cut at 1–8 KiB, so anything longer is not a syslog record.
const MaxLineLen = 8 << 10

// Header is the syslog header of a record.
type Header struct {
	Time    time.Time
	Host    string // the host that logged it
	Program string // e.g. "sshd" (tag without [pid]); empty when the record has no tag
	PID     int    // 0 when absent
	Message string // the text after "program[pid]: " and one more space, rsyslog's (see ParseHeader)

	tagged string // in file formats, the text after the host: "program[pid]: message"
	format string // "" for syslog; the service whose own log format it is (native.go)

	// declared says that a postgres record's message was read by the log_line_prefix
	// declared for its source (postgres.go); its other records make no event.
	declared bool
	// continued says that a line of PostgreSQL's own log file is the next line of the
	// message before it (postgres.go).
	continued bool
	// local says that Time was read from a wall clock without an offset, in the
	// location of detect.timezone: in the hour an autumn clock change repeats, it names
	// two instants, and the source's order settles which (SourceTimes).
	local bool
}

// ParseHeader parses the syslog header of one log line. It reads RFC 3164 ("Feb 12
// 14:10:21 host sshd[1]: msg", also with a year after the day), RFC 5424 ("<34>1
// 2026-11-20T03:14:07.123Z host sshd 123 - - msg", also without the <PRI>), rsyslog's
// high-precision file format ("2026-11-20T03:14:07.123456+00:00 host sshd[123]: msg",
// "t" and "z" in either case) and journalctl's -o short-unix and -o short-full
// (parseJournalctlTime), each with an optional leading "<PRI>". A line without a syslog header or a <PRI> may
// be in the log format of exim's mainlog, vsftpd's vsftpd.log or proftpd's SystemLog:
// the header names the service as the program (see native.go).
//
// The message is the text after the tag's colon and one space, and after one more space
// when there are two: rsyslog's forwarding template keeps the space that followed the
// tag, so a central rsyslog writes "sshd[1]:  Failed …" (see DropSenderSpace). In RFC
// 5424, one leading space of MSG is dropped for the same reason.
//
// A timestamp without a year gets the latest year that puts it no more than a day after
// ref, so December lines read in January land in the previous year (see WithYear). A
// file may hold the lines of eleven months ago when it is first read: a month's
// allowance, as the syslog listener gives a live sender's fast clock, made those next
// year's, then (too far ahead to believe) dated when read, an old attack reported as
// one of now, maybe to whoever holds the address today. A line read as it was written
// gets that month (parseHeader with FastClock, see abusewatch.Record.Live). A time
// after ref is returned as it is: the caller decides what to believe. A reader that knows
// the year better than one line can tell (a scan, BacklogYears) gives it in
// abusewatch.Record.Year (Detector.Explain). Timestamps without a zone are in loc
// (time.Local when nil), in the hour an autumn clock change repeats at the instant
// time.Date picks: a source read in order settles it (Detector.ExplainInOrder). An RFC
// 5424 nil timestamp ("-") becomes ref.
//
// Lines longer than MaxLineLen, with invalid UTF-8 or with control characters other than
// tab are refused: they are not syslog records, whatever their prefix.
func ParseHeader(line string, ref time.Time, loc *time.Location) (Header, error) {
	return parseHeader(line, &dating{ref: ref, ahead: backlogAhead, loc: loc})
}

// backlogAhead is how far after ref a line of a backlog, which may be eleven months old,
// may be dated without a year and still be of ref's year (see ParseHeader).
const backlogAhead = 24 * time.Hour

// dating is what dates a line's time beyond the line itself.
type dating struct {
	ref   time.Time     // when the line was read (a scan's: the file's last write)
	ahead time.Duration // how far after ref a time without a year may be (ParseHeader)
	loc   *time.Location
	// year is the year of a time without one when the reader knows it
	// (abusewatch.Record.Year); 0: WithYear gives it one.
	year int
}

// parseHeader is ParseHeader with the allowance of a time without a year, and the year,
// that dt gives.
func parseHeader(line string, dt *dating) (Header, error) {
	if dt.loc == nil {
		dt.loc = time.Local
	}
	if err := checkLine(line); err != nil {
		return Header{}, err
	}
	s := skipPRI(line)
	h, err := parseSyslog(s, dt)
	if err != nil && s == line {
		// No syslog header, and no <PRI>: a service's own log file (native.go)?
		if nh, ok := parseNative(line, dt.loc); ok {
			return nh, nil
		}
	}
	return h, err
}

// parseSyslog reads the syslog header of s, a line without its <PRI>.
func parseSyslog(s string, dt *dating) (Header, error) {
	switch {
	case strings.HasPrefix(s, "1 "):
		return parse5424(s[2:], dt.ref, dt.loc)
	case len(s) > 4 && isDigits(s[:4]) && s[4] == '-':
		stamp, rest, _ := strings.Cut(s, " ")
		t, local, err := parseRFC3339(stamp, dt.loc)
		if err != nil {
			return Header{}, err
		}
		h, err := parseHostTag(t, rest)
		h.local = local
		return h, err
	default:
		t, rest, err := parse3164Time(s, dt)
		if err != nil {
			// journalctl's -o short-unix and -o short-full are no syslog's, and rarer:
			// tried only when the line is not RFC 3164.
			if t, rest, ok, jerr := parseJournalctlTime(s, dt.loc); ok {
				if jerr != nil {
					return Header{}, jerr
				}
				return parseHostTag(t, rest)
			}
			return Header{}, err
		}
		h, err := parseHostTag(t, rest)
		h.local = true
		return h, err
	}
}

// checkLine refuses what cannot be a syslog record. Control characters matter beyond
// parsing: the line ends up in mail and on terminals.
func checkLine(line string) error {
	if len(line) > MaxLineLen {
		return fmt.Errorf("line is %d bytes, longer than %d", len(line), MaxLineLen)
	}
	ascii := true
	for i := 0; i < len(line); i++ {
		c := line[i]
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
		if (c < ' ' && c != '\t') || c == 0x7f {
			return &controlError{rune(c), i}
		}
	}
	if ascii {
		return nil // the common case, checked byte by byte
	}
	if !utf8.ValidString(line) {
		return errors.New("line is not valid UTF-8")
	}
	for i, r := range line {
		if r != '\t' && unicode.IsControl(r) {
			return &controlError{r, i}
		}
	}
	return nil
}

// controlError is why checkLine refused a line with a control character: the first one.
type controlError struct {
	r  rune
	at int // its byte offset
}

func (e *controlError) Error() string {
	return fmt.Sprintf("line has control character %U at byte %d", e.r, e.at)
}

// replaceControls returns line with each control character but the tab replaced by
// with; bytes that are not UTF-8 stay as they are.
func replaceControls(line string, with byte) string {
	b := make([]byte, 0, len(line))
	for i := 0; i < len(line); {
		r, w := rune(line[i]), 1
		if r >= utf8.RuneSelf {
			r, w = utf8.DecodeRuneInString(line[i:])
		}
		if r != '\t' && r != utf8.RuneError && unicode.IsControl(r) {
			b = append(b, with)
		} else {
			b = append(b, line[i:i+w]...)
		}
		i += w
	}
	return string(b)
}

// skipPRI drops a leading "<PRI>": files rarely have it, network messages always do.
func skipPRI(s string) string {
	if len(s) < 3 || s[0] != '<' {
		return s
	}
	end := strings.IndexByte(s, '>')
	if end < 2 || end > 4 || !isDigits(s[1:end]) {
		return s
	}
	return s[end+1:]
}

// stamp3164 is an RFC 3164 timestamp as written: year 0 when it has none.
type stamp3164 struct {
	year, day, hh, mm, ss int
	mon                   time.Month
}

// read3164 reads "Mmm dd hh:mm:ss " or "Mmm dd yyyy hh:mm:ss " and returns the rest.
func read3164(s string) (st stamp3164, rest string, ok bool) {
	if len(s) < 4 || s[3] != ' ' {
		return st, "", false
	}
	if st.mon, ok = months[s[:3]]; !ok {
		return st, "", false
	}
	rest = strings.TrimLeft(s[4:], " ") // the day is padded with a space or a zero
	dayText, rest, _ := strings.Cut(rest, " ")
	day, err := strconv.Atoi(dayText)
	if err != nil || len(dayText) > 2 || day < 1 || day > 31 {
		return st, "", false
	}
	st.day = day
	if len(rest) > 5 && isDigits(rest[:4]) && rest[4] == ' ' {
		st.year, _ = strconv.Atoi(rest[:4])
		rest = rest[5:]
	}
	if len(rest) < 9 || rest[2] != ':' || rest[5] != ':' || rest[8] != ' ' ||
		!isDigits(rest[0:2]) || !isDigits(rest[3:5]) || !isDigits(rest[6:8]) {
		return st, "", false
	}
	st.hh, _ = strconv.Atoi(rest[0:2])
	st.mm, _ = strconv.Atoi(rest[3:5])
	st.ss, _ = strconv.Atoi(rest[6:8])
	if st.hh > 23 || st.mm > 59 || st.ss > 60 {
		return st, "", false
	}
	return st, rest[9:], true
}

// parse3164Time reads "Mmm dd hh:mm:ss " or "Mmm dd yyyy hh:mm:ss " and returns the rest;
// a time without a year is of dt.year when the reader knows it, else of the latest year
// that puts it no more than dt.ahead after dt.ref.
func parse3164Time(s string, dt *dating) (time.Time, string, error) {
	st, rest, ok := read3164(s)
	if !ok {
		return time.Time{}, "", fmt.Errorf("no syslog timestamp at %q", prefix(s, 20))
	}
	mon, day, loc := st.mon, st.day, dt.loc
	if st.year != 0 {
		t := time.Date(st.year, mon, day, st.hh, st.mm, st.ss, 0, loc)
		if t.Day() != day {
			return time.Time{}, "", fmt.Errorf("no such date: %s %d %d", mon, day, st.year)
		}
		return t, rest, nil
	}
	if dt.year != 0 {
		// The reader's year, from the order of the file's lines (BacklogYears); a Feb
		// 29 it does not have is dated as the line alone would be.
		if t := time.Date(dt.year, mon, day, st.hh, st.mm, st.ss, 0, loc); t.Day() == day {
			return t, rest, nil
		}
	}
	t := time.Date(0, mon, day, st.hh, st.mm, st.ss, 0, loc) // year 0 is a leap year: Feb 29 stays
	if t.Day() == day {
		if t, ok := WithYear(t, dt.ref, dt.ahead, loc); ok {
			return t, rest, nil
		}
	}
	return time.Time{}, "", fmt.Errorf("no such date: %s %d", mon, day)
}

// FastClock is how far after its arrival a live message's time without a year may be and
// still be of the arrival's year: a sender whose clock is days or weeks fast rather than
// a time of last year (the syslog listener's allowance, and that of a followed file's
// line read as it was written, abusewatch.Record.Live; a backlog's is a day, see
// ParseHeader). The daemon dates such a message when it arrived, and warns of the
// host's clock.
const FastClock = 31 * 24 * time.Hour

// WithYear gives t, a time whose year is unknown (the year of t is ignored), the latest
// year that puts it no more than ahead after ref, in loc: December lines read in
// January stay in December. Going back up to eight years finds a Feb 29 even across
// 2100; ok is false when none does (no such date). Files and the syslog listener share
// it, each with its allowance.
func WithYear(t, ref time.Time, ahead time.Duration, loc *time.Location) (time.Time, bool) {
	t = t.In(loc)
	limit, year := ref.Add(ahead), ref.In(loc).Year()
	for y := year + 1; y >= year-8; y-- {
		d := time.Date(y, t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), loc)
		if d.Day() == t.Day() && !d.After(limit) {
			return d, true
		}
	}
	return time.Time{}, false
}

var months = map[string]time.Month{
	"Jan": time.January, "Feb": time.February, "Mar": time.March, "Apr": time.April,
	"May": time.May, "Jun": time.June, "Jul": time.July, "Aug": time.August,
	"Sep": time.September, "Oct": time.October, "Nov": time.November, "Dec": time.December,
}

// parseRFC3339 reads an RFC 3339 timestamp; one without a zone is in loc, and local says
// so. A zone written without its colon ("+0000", as journalctl -o short-iso of systemd
// 252 writes it) is read too, and the "t" and "z" RFC 3339 allows in lower case.
func parseRFC3339(s string, loc *time.Location) (t time.Time, local bool, err error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, false, nil
	}
	if t, err := time.Parse("2006-01-02T15:04:05.999999999-0700", s); err == nil {
		return t, false, nil
	}
	if t, err := time.ParseInLocation("2006-01-02T15:04:05.999999999", s, loc); err == nil {
		return t, true, nil
	}
	if strings.ContainsAny(s, "tz") {
		// RFC 3339 section 5.6: "T" and "Z" may be lower case; Go's layouts take
		// only upper case. Nothing else in the stamp has a case.
		return parseRFC3339(strings.ToUpper(s), loc)
	}
	return time.Time{}, false, fmt.Errorf("bad RFC 3339 timestamp %q", prefix(s, 40))
}

// parseHostTag reads "host program[pid]: message". A record without a tag (rsyslog's
// "last message repeated" lines, some kernels) keeps its text as the message.
func parseHostTag(t time.Time, s string) (Header, error) {
	host, rest, ok := strings.Cut(s, " ")
	if !ok || host == "" {
		return Header{}, errors.New("no host after the timestamp")
	}
	h := Header{Time: t, Host: host, Message: rest, tagged: rest}
	end := strings.IndexAny(rest, " [:")
	if end <= 0 || end > 64 {
		return h, nil
	}
	program, tail, pid := rest[:end], rest[end:], 0
	if tail[0] == '[' {
		num, after, ok := strings.Cut(tail[1:], "]")
		if !ok || !isDigits(num) || len(num) > 10 {
			return h, nil
		}
		pid, _ = strconv.Atoi(num)
		tail = after
	}
	if !strings.HasPrefix(tail, ":") {
		return h, nil
	}
	h.Program, h.PID = program, pid
	h.Message = DropSenderSpace(strings.TrimPrefix(tail[1:], " "))
	if program == "kernel" {
		h.Message = skipUptime(h.Message)
	}
	return h, nil
}

// parse5424 reads what follows "1 ": TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD [MSG].
func parse5424(s string, ref time.Time, loc *time.Location) (Header, error) {
	var f [5]string
	rest := s
	for i := range f {
		var ok bool
		if f[i], rest, ok = strings.Cut(rest, " "); !ok || f[i] == "" {
			return Header{}, errors.New("RFC 5424 header is incomplete")
		}
	}
	h := Header{Time: ref, Host: nilValue(f[1]), Program: nilValue(f[2])}
	if f[0] != "-" {
		t, local, err := parseRFC3339(f[0], loc)
		if err != nil {
			return Header{}, err
		}
		h.Time, h.local = t, local
	}
	if isDigits(f[3]) && len(f[3]) <= 10 {
		h.PID, _ = strconv.Atoi(f[3])
	}
	msg, err := skipStructuredData(rest)
	if err != nil {
		return Header{}, err
	}
	h.Message = DropSenderSpace(strings.TrimPrefix(msg, "\uFEFF")) // RFC 5424 marks UTF-8 text with a BOM
	return h, nil
}

// TagSeparator is what a line written for ParseHeader puts between the tag and msg:
// ": ", and one more space when msg starts with one, since ParseHeader drops a second
// space as rsyslog's (see DropSenderSpace). The journal and the syslog listener write
// their records with it, so their messages reach the rules exactly as they were sent.
func TagSeparator(msg string) string {
	if strings.HasPrefix(msg, " ") {
		return ":  "
	}
	return ": "
}

// DropSenderSpace drops one leading space of a message whose separator after the tag
// (or the structured data) is already read; the syslog listener drops it by the same
// rule, RFC 3164 and 5424 alike. rsyslog keeps the space that followed the
// tag in its msg property (rsyslog/rsyslog#160): its RFC 5424 forwarding template sends
// " Failed …", and a central rsyslog writes "sshd[1]:  Failed …" to its files. Rules are
// anchored at the start of the message, so that space would make a fleet's attacks
// unknown. Only one is the sender's: a message that starts with more spaces keeps the
// rest, and rules anchored at its start do not match it (sshd never writes one, so it is
// not the record the rule describes).
func DropSenderSpace(msg string) string {
	return strings.TrimPrefix(msg, " ")
}

func nilValue(s string) string {
	if s == "-" {
		return ""
	}
	return s
}

// skipStructuredData skips "-" or a run of "[id k="v" ...]" elements and returns the
// message after them. Inside values, '"', '\' and ']' are escaped with a backslash.
func skipStructuredData(s string) (string, error) {
	switch {
	case strings.HasPrefix(s, "-"):
		s = s[1:]
	case strings.HasPrefix(s, "["):
		for len(s) > 0 && s[0] == '[' {
			i, quoted := 1, false
			for ; i < len(s); i++ {
				c := s[i]
				if c == '\\' && quoted {
					i++
				} else if c == '"' {
					quoted = !quoted
				} else if c == ']' && !quoted {
					break
				}
			}
			if i >= len(s) {
				return "", errors.New("RFC 5424 structured data is not terminated")
			}
			s = s[i+1:]
		}
	default:
		return "", errors.New("RFC 5424 structured data is missing")
	}
	if s == "" {
		return "", nil
	}
	if s[0] != ' ' {
		return "", errors.New("RFC 5424 message does not follow the structured data")
	}
	return s[1:], nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// prefix shortens attacker-controlled text quoted in an error.
func prefix(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// skipUptime drops the kernel's "[ 1234.567890] " uptime stamp: it is part of the
// header, not of what the kernel says, and rules then need not repeat it.
func skipUptime(msg string) string {
	if len(msg) < 4 || msg[0] != '[' {
		return msg
	}
	end := strings.IndexByte(msg, ']')
	if end < 0 || !strings.HasPrefix(msg[end:], "] ") {
		return msg
	}
	stamp := strings.TrimLeft(msg[1:end], " ")
	secs, frac, ok := strings.Cut(stamp, ".")
	if !ok || !isDigits(secs) || !isDigits(frac) {
		return msg
	}
	return msg[end+2:]
}
