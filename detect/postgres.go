package detect

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// PostgreSQL starts every line it logs with the log_line_prefix its admin set in
// postgresql.conf, and some of that prefix's escapes (%u the user, %d the database, %a
// the application) are text the client sent, written as sent, newlines included: with
// them in the prefix, a client writes whole lines of its own into the log file or the
// journal, or its own text right before "FATAL:" (Debian's default, '%m [%p] %q%u@%d ',
// holds two). Nothing in a line tells which prefix wrote it. So PostgreSQL's lines
// make events only from a source whose prefix the admin declared: the declared prefix
// holds no client text (ParsePostgresPrefix refuses it), each line's prefix is read by
// it exactly, and the client's address is taken from %r or %h at its place there, or
// from pg_hba.conf's own message, which then starts right after the prefix. The text of
// a message is safe: PostgreSQL writes a tab after each newline inside one.
//
// The message the rules see (attack.d/postgres) is the address the prefix gave, then a
// space and what follows the prefix: "203.0.113.9(41000) FATAL:  password …" (%r),
// "203.0.113.9 FATAL:  …" (%h), "[local] FATAL:  …" (the Unix socket), or "- FATAL:  …"
// (no %r or %h, none given, or a host name, which log_hostname makes the client's own
// reverse DNS). The address is written by detect from the one it parsed, so it is the
// same in the three forms a line takes: the log file (the line is the prefix and the
// message), the journal ("postgres[pid]: " and the line) and syslog ("postgres[pid]: ",
// PostgreSQL's chunk number and the line).

// postgresProgram is the program PostgreSQL's lines have: syslog_ident's default, the
// journal's identifier, and what ParseHeader names its log file's lines.
const postgresProgram = "postgres"

// PostgresPrefix is a log_line_prefix declared for a source, compiled once. It is safe
// for concurrent use.
type PostgresPrefix struct {
	text  string
	full  *regexp.Regexp // the prefix and the message's severity, anchored at the start
	short *regexp.Regexp // the part before %q, which processes without a client stop at; nil without %q
	// Submatch indices in full (and in short where it has them), -1 when the prefix
	// has no such escape.
	time, remote, pid, session int
	remotePort                 bool  // the remote escape is %r: "host(port)"
	unread                     error // why a PostgreSQL line it does not read makes no event
	timeKind                   byte  // 'm', 't' or 'n'
}

// String is the prefix as declared.
func (p *PostgresPrefix) String() string { return p.text }

// The escapes of log_line_prefix (PostgreSQL 17's documentation, "What to log"), each
// with what it writes: a regular expression for the server's text, or why it is refused.
var postgresEscapes = map[byte]struct{ pattern, client, unreadable string }{
	'm': {pattern: `[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3} (?:[A-Za-z]{2,6}|[+-][0-9]{2}(?:[0-9]{2})?)`},
	't': {pattern: `[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} (?:[A-Za-z]{2,6}|[+-][0-9]{2}(?:[0-9]{2})?)`},
	's': {pattern: `[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} (?:[A-Za-z]{2,6}|[+-][0-9]{2}(?:[0-9]{2})?)`},
	'n': {pattern: `[0-9]{1,12}\.[0-9]{3}`},
	'p': {pattern: `[0-9]{1,10}`},
	'P': {pattern: `[0-9]{0,10}`},
	'l': {pattern: `[0-9]{1,20}`},
	'x': {pattern: `[0-9]{1,20}`},
	'Q': {pattern: `-?[0-9]{1,20}`},
	'c': {pattern: `[0-9a-f]{1,16}\.[0-9a-f]{1,8}`},
	'v': {pattern: `(?:-?[0-9]{1,10}/[0-9]{1,10})?`},
	'e': {pattern: `[0-9A-Z]{5}`},
	// %r and %h: an address, a host name with log_hostname on, [local] for the Unix
	// socket, or nothing for a process without a client; %r adds "(port)" over TCP.
	'r': {pattern: `(?:\[local\]|[^\s()\[\]]+\([0-9]{1,5}\))?`},
	'h': {pattern: `(?:\[local\]|[^\s()\[\]]+)?`},
	'L': {pattern: `(?:\[local\]|[0-9A-Fa-f:.]+)?`}, // the server's own address (PostgreSQL 16)
	'u': {client: "the user name"},
	'd': {client: "the database name"},
	'a': {client: "the application name"},
	'i': {unreadable: "a command tag"},
	'b': {unreadable: "the backend type, which extensions name too"},
}

// postgresSeverity is what every line of PostgreSQL's starts with after the prefix:
// "LOG:  ", "FATAL:  ", "DETAIL:  ", "STATEMENT:  ", "DEBUG1:  ", …
const postgresSeverity = `[A-Z][A-Z0-9]*:  `

// ParsePostgresPrefix compiles log_line_prefix as an admin copied it from
// postgresql.conf (without its quotes). It refuses, with an error that says what the
// prefix has or lacks and why (the caller names the prefix and where it is):
//   - an escape that writes the client's text (%u, %d, %a): see the top of this file;
//   - an escape it does not know, or one with a padding ("%-10p"), whose text it cannot
//     read exactly, and %i and %b, whose words have spaces;
//   - a prefix that does not start with the time (%m, %t or %n): the time pins a line's
//     start to the server's text (a message's next line starts with a tab), and it is
//     the only time a line in PostgreSQL's own file has;
//   - two escapes with no text between them ("%m%r"): where one ends and the next begins
//     must not depend on what they write.
//
// The process id (%p or %c) is not required: with no client text in the prefix, nothing
// before the message can be forged, and a line some other process writes raw into the
// same file could spell a pid as well as a time.
func ParsePostgresPrefix(prefix string) (*PostgresPrefix, error) {
	if prefix == "" {
		return nil, errors.New("is empty")
	}
	if strings.ContainsAny(prefix, "\n\r\t") || strings.ContainsRune(prefix, 0) {
		return nil, errors.New("has a control character: log_line_prefix is one line of text")
	}
	noTime := errors.New("does not start with the time (%m, %t or %n), which pins a line's start to the server's text")
	p := &PostgresPrefix{text: prefix, time: -1, remote: -1, pid: -1, session: -1}
	var b strings.Builder
	b.WriteString("^")
	var short string      // the expression up to %q
	group := 0            // submatch groups so far
	lastEscape := byte(0) // the escape just written, when no text followed it yet
	first := true
	for i := 0; i < len(prefix); i++ {
		c := prefix[i]
		if c != '%' {
			if first {
				return nil, noTime
			}
			b.WriteString(regexp.QuoteMeta(string(c)))
			lastEscape = 0
			continue
		}
		if i+1 == len(prefix) {
			return nil, errors.New("ends in a lone %")
		}
		i++
		e := prefix[i]
		switch {
		case e == '%':
			if first {
				return nil, noTime
			}
			b.WriteString("%")
			lastEscape = 0
			continue
		case e == 'q':
			if first {
				return nil, noTime
			}
			if short == "" {
				short = b.String()
			}
			continue
		case e == '-' || e >= '0' && e <= '9':
			end := i
			for end < len(prefix) && (prefix[end] == '-' || prefix[end] >= '0' && prefix[end] <= '9') {
				end++
			}
			return nil, fmt.Errorf("pads an escape (%s): abusewatch reads escapes without padding only", prefix[i-1:min(end+1, len(prefix))])
		}
		esc, known := postgresEscapes[e]
		switch {
		case !known:
			return nil, fmt.Errorf("has %%%c, an escape PostgreSQL does not know", e)
		case esc.client != "":
			return nil, fmt.Errorf("has %%%c, %s as the client sent it, newlines included: a client could write lines of its own, or its own text before the message", e, esc.client)
		case esc.unreadable != "":
			return nil, fmt.Errorf("has %%%c, %s: words with spaces, so where it ends cannot be told", e, esc.unreadable)
		case first && e != 'm' && e != 't' && e != 'n':
			return nil, noTime
		case lastEscape != 0:
			return nil, fmt.Errorf("has %%%c right after %%%c: without text between them, where one ends depends on what they write", e, lastEscape)
		}
		first, lastEscape = false, e
		group++
		switch e {
		case 'm', 't', 'n':
			if p.time < 0 {
				p.time, p.timeKind = group, e
			}
		case 'p':
			if p.pid < 0 {
				p.pid = group
			}
		case 'c':
			if p.session < 0 {
				p.session = group
			}
		}
		if (e == 'r' || e == 'h') && p.remote < 0 {
			p.remote, p.remotePort = group, e == 'r'
		}
		b.WriteString("(" + esc.pattern + ")")
	}
	var err error
	// The severity is the last group: the message starts where it does.
	if p.full, err = regexp.Compile(b.String() + "(" + postgresSeverity + ")"); err != nil {
		return nil, err
	}
	if short != "" {
		if p.short, err = regexp.Compile(short + "(" + postgresSeverity + ")"); err != nil {
			return nil, err
		}
	}
	p.unread = fmt.Errorf("PostgreSQL's line, which does not start with the declared log_line_prefix %q and a severity: no event", prefix)
	return p, nil
}

// postgresLine is what the prefix of one line gave.
type postgresLine struct {
	message string // the address token, a space and the message (see the top of this file)
	stamp   string // the time escape's text
	pid     int
}

// read reads the prefix at the start of s and returns the message the rules see; ok is
// false when s does not start with this prefix and a severity.
func (p *PostgresPrefix) read(s string) (postgresLine, bool) {
	re, m := p.full, p.full.FindStringSubmatchIndex(s)
	if m == nil && p.short != nil {
		re, m = p.short, p.short.FindStringSubmatchIndex(s)
	}
	if m == nil {
		return postgresLine{}, false
	}
	last := re.NumSubexp() // the severity's group
	group := func(i int) string {
		if i < 0 || i >= last || m[2*i] < 0 {
			return ""
		}
		return s[m[2*i]:m[2*i+1]]
	}
	l := postgresLine{stamp: group(p.time)}
	token := "-"
	host, port := group(p.remote), ""
	if p.remotePort && strings.HasSuffix(host, ")") {
		host, port, _ = strings.Cut(strings.TrimSuffix(host, ")"), "(")
	}
	if host == "[local]" {
		token = host
	} else if a, err := netip.ParseAddr(host); err == nil && a.Zone() == "" {
		// An address only as a literal address: with log_hostname on, %r and %h
		// are a name, which the client's reverse DNS chose.
		token = a.Unmap().String()
		if port != "" {
			token += "(" + port + ")"
		}
	}
	l.message = token + " " + s[m[2*last]:]
	if pid := group(p.pid); pid != "" {
		l.pid, _ = strconv.Atoi(pid)
	} else if sess := group(p.session); sess != "" {
		_, hex, _ := strings.Cut(sess, ".") // %c is "start.pid", both in hex
		n, _ := strconv.ParseUint(hex, 16, 32)
		l.pid = int(n)
	}
	return l, true
}

// readFile reads a line of PostgreSQL's own log file (stderr): the prefix is the start
// of the line, and the line's time is the prefix's.
func (p *PostgresPrefix) readFile(line string, loc *time.Location) (Header, bool) {
	l, ok := p.read(line)
	if !ok {
		return Header{}, false
	}
	t, ok := p.timeOf(l.stamp, loc)
	if !ok {
		return Header{}, false
	}
	return Header{Time: t, Host: localHost(), Program: postgresProgram, PID: l.pid, Message: l.message,
		format: formatPostgres, declared: true}, true
}

// readTagged reads the message of a syslog or journal record of postgres: the line
// PostgreSQL wrote, perhaps after syslog's chunk number. With syslog_sequence_numbers
// on (the default) a message that fits one chunk is "[SEQ] LINE" and the first chunk of
// a longer one "[SEQ-1] LINE"; later chunks ("[SEQ-2] …") are never read, since where
// PostgreSQL cuts a long line in the middle the next chunk starts with whatever text
// was there. Without a number, the line is the message, as PostgreSQL's stderr in the
// journal (or syslog with syslog_sequence_numbers off, whose later chunks "[2] …" look
// like a numbered message of their own: see the README).
func (p *PostgresPrefix) readTagged(msg string) (postgresLine, bool) {
	if strings.HasPrefix(msg, "[") {
		num, rest, ok := strings.Cut(msg[1:], "] ")
		seq, chunk, chunked := strings.Cut(num, "-")
		if ok && isDigits(seq) && len(seq) <= 20 && (!chunked || chunk == "1") {
			if l, ok := p.read(rest); ok {
				return l, true
			}
		}
	}
	return p.read(msg)
}

// postgresContinuation says whether msg, the message of a syslog or journal record of
// postgres, is the next line of a message: PostgreSQL writes a tab after each newline
// inside one (a DETAIL's second line, a statement of several lines), and through syslog
// that line is a later chunk of its own ("[7-3] \tConnection matched …"). Such a line
// makes no event and no unknown shape: it belongs to the record before it, and its
// text, like the message's, may be the client's.
func postgresContinuation(msg string) bool {
	if strings.HasPrefix(msg, "[") {
		if num, rest, ok := strings.Cut(msg[1:], "] "); ok {
			seq, chunk, _ := strings.Cut(num, "-")
			if isDigits(seq) && (chunk == "" || isDigits(chunk)) {
				msg = rest
			}
		}
	}
	return strings.HasPrefix(msg, "\t")
}

// timeOf reads the time escape's text: a zone "UTC" or "GMT" is UTC, one in hours
// ("+03", "-0330") is that offset, and an abbreviation in letters ("CEST"), which is no
// offset, is taken in loc ([detect] timezone: set it to log_timezone's zone).
func (p *PostgresPrefix) timeOf(stamp string, loc *time.Location) (time.Time, bool) {
	if p.timeKind == 'n' {
		secs, ms, _ := strings.Cut(stamp, ".")
		s, err1 := strconv.ParseInt(secs, 10, 64)
		m, err2 := strconv.Atoi(ms)
		return time.Unix(s, int64(m)*int64(time.Millisecond)), err1 == nil && err2 == nil
	}
	d, rest, ok := parseDateTime(stamp)
	if !ok {
		return time.Time{}, false
	}
	if p.timeKind == 'm' {
		if d.nsec, rest, ok = millis(strings.TrimPrefix(rest, ".")); !ok {
			return time.Time{}, false
		}
	}
	switch zone := strings.TrimPrefix(rest, " "); {
	case zone == "UTC" || zone == "GMT":
		loc = time.UTC
	case zone[0] == '+' || zone[0] == '-':
		hh, _ := strconv.Atoi(zone[1:3])
		mm := 0
		if len(zone) == 5 {
			mm, _ = strconv.Atoi(zone[3:5])
		}
		offset := hh*3600 + mm*60
		if zone[0] == '-' {
			offset = -offset
		}
		loc = time.FixedZone(zone, offset)
	}
	return d.in(loc)
}

// errPostgresTwoAddresses is why a PostgreSQL line whose prefix names one client and
// whose message another makes no event.
var errPostgresTwoAddresses = errors.New("PostgreSQL's line names one client in its prefix and another in its message: no event")

// prefixAddrIs says whether the address token that starts msg (a PostgreSQL message as
// the rules see it: "ADDR(PORT) …", "ADDR …", "[local] …" or "- …") is a, or names no
// address at all.
func prefixAddrIs(msg string, a netip.Addr) bool {
	token, _, _ := strings.Cut(msg, " ")
	if i := strings.IndexByte(token, '('); i >= 0 {
		token = token[:i]
	}
	p, err := netip.ParseAddr(token)
	return err != nil || p.Unmap() == a.Unmap()
}
