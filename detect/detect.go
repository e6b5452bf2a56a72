// Package detect turns one log record into one verdict: unparsed, normal, unknown, an
// attack event whose address comes only from an anchored position in the record, or the
// next line of the PostgreSQL message before it (a continuation: no event).
//
// Detection works by exclusion, as logcheck does: attack rules are tried first, so a
// record that looks like an attack is never dropped as normal; then the admin's normal
// rules drop what is known to be harmless; whatever is left is unknown and goes to the
// admin for tuning, reduced to its Shape, with a Suggest-ed normal rule. An unknown record
// with an address in a generic trusted position still becomes an event of class unknown.
//
// It is built for hundreds of thousands of records a second against thousands of rules:
// rules are filed by program and by the literal prefixes regexp/syntax proves they start
// with, logcheck's whole-line rules are cut down to their message, the other rules are
// found by the literals they require (one Aho-Corasick pass), and the rules that meet a
// record run in detect's own matcher (see fastmatch.go), without allocating. Everything
// here is pure: no I/O beyond reading rule files (and this host's name, once, for the
// services' own log formats that name no host, unless WithSourceHosts names it: see
// native.go), no clock except as a fallback for records read without a time, safe for
// concurrent use.
package detect

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/abusewatch/abusewatch"
)

// Outcome is what Classify made of a record.
type Outcome int

// The outcomes of Classify.
const (
	Unparsed   Outcome = iota // no syslog header could be read (garbage, binary, over-long, invalid UTF-8): counted and skipped
	Normal                    // matched a normal rule: dropped
	Unknown                   // not normal, not recognised: an unknown record for tuning
	Recognised                // an attack rule matched: the returned Event is filled
	// Continuation is the next line of a PostgreSQL message, which PostgreSQL starts with
	// a tab (a DETAIL's second line, a multi-line statement): part of the record before
	// it, counted as such, never an event nor an unknown shape (see postgres.go).
	Continuation
)

func (o Outcome) String() string {
	switch o {
	case Unparsed:
		return "unparsed"
	case Normal:
		return "normal"
	case Unknown:
		return "unknown"
	case Recognised:
		return "event"
	case Continuation:
		return "continuation"
	}
	return "Outcome(" + strconv.Itoa(int(o)) + ")"
}

// Detector classifies records with a fixed set of rules. It is safe for concurrent use;
// to change the rules, build a new Detector.
type Detector struct {
	normal     *NormalRules
	attack     *AttackRules
	loc        *time.Location
	sourceHost func(source string) string          // see WithSourceHosts; nil: this machine
	postgres   func(source string) *PostgresPrefix // see WithPostgresPrefixes; nil: none declared
	numeric    map[string]bool                     // see WithNumericHosts: programs whose <PTR> is an address
}

// New returns a Detector. Nil rule sets match nothing; a nil loc means time.Local, the
// zone of timestamps written without one.
func New(normal *NormalRules, attack *AttackRules, loc *time.Location) *Detector {
	if loc == nil {
		loc = time.Local
	}
	return &Detector{normal: normal, attack: attack, loc: loc}
}

// WithSourceHosts returns a Detector that names the host of a record whose line names
// none (exim's mainlog, vsftpd.log: see native.go) hostOf(rec.Source), this machine's
// name when that is "": a central server reads such files copied or mounted from its
// fleet, and each is about the host it came from. A line whose header names a host keeps
// it. hostOf must be safe for concurrent use; nil names this machine for every source.
func (d *Detector) WithSourceHosts(hostOf func(source string) string) *Detector {
	named := *d
	named.sourceHost = hostOf
	return &named
}

// WithPostgresPrefixes returns a Detector that reads PostgreSQL's lines from a source
// with the log_line_prefix prefixOf(rec.Source) declares for it (see postgres.go), in
// PostgreSQL's own log file, the journal and syslog alike. PostgreSQL's records of a
// source it gives nil for make no event: a client may have written them. prefixOf must
// be safe for concurrent use; nil declares none.
func (d *Detector) WithPostgresPrefixes(prefixOf func(source string) *PostgresPrefix) *Detector {
	declared := *d
	declared.postgres = prefixOf
	return &declared
}

// WithNumericHosts returns a Detector that takes an address in a <PTR> slot of the
// records of programs (their syslog names: "pure-ftpd") as the client's: the admin
// declares that these programs write the client's address there, not the name its
// reverse DNS gave (pure-ftpd with DontResolve, -H). Without the declaration an address
// there makes no event, as whoever owns the client's address writes its PTR record,
// and "8.8.8.8" is a name glibc returns as it is.
func (d *Detector) WithNumericHosts(programs []string) *Detector {
	declared := *d
	declared.numeric = make(map[string]bool, len(programs))
	for _, p := range programs {
		declared.numeric[p] = true
	}
	return &declared
}

// Classify parses rec's syslog header and classifies it: attack rules first, then normal
// rules, else unknown. A Recognised outcome comes with an Event, whose Seq is left to the
// store. A record whose attack rule captured something that is not an address is
// Unknown: it looked like an attack but carries no address to blame. An Unknown record
// with an address where programs, not their clients, write one (GenericAddr: "from ADDR
// port", "rhost=ADDR", a mail server's "from NAME[ADDR]", …, before any quote) comes
// with an Event of class abusewatch.ClassUnknown; other Unknown records come with none
// (a zero Event.Class).
func (d *Detector) Classify(rec abusewatch.Record) (Outcome, abusewatch.Event) {
	v := d.Explain(rec)
	return v.Outcome, v.Event
}

// Verdict is what Classify made of a record, with the rule that decided it.
type Verdict struct {
	Outcome Outcome
	Event   abusewatch.Event
	Header  Header // the parsed header; zero when Unparsed
	Rule    string // "FILE:LINE" of the attack or normal rule that matched; "" for none
	Err     error  // why the record is Unparsed, or why an attack rule's match was refused
}

// Explain classifies rec like Classify and says which rule decided (for `rules test`).
// It knows nothing of the lines before rec (see ExplainInOrder).
func (d *Detector) Explain(rec abusewatch.Record) Verdict {
	return d.ExplainInOrder(rec, nil)
}

// ExplainInOrder is Explain of rec, the next line of a source read in the order it was
// written, whose lines before it seen remembers: a local time of the hour an autumn
// clock change repeats is then dated by the source's order (SourceTimes.Local), and
// seen remembers rec's time. A nil seen knows nothing (the first pass of that hour,
// unless rec is live).
func (d *Detector) ExplainInOrder(rec abusewatch.Record, seen *SourceTimes) Verdict {
	ref := rec.Read
	if ref.IsZero() {
		ref = time.Now()
	}
	dt := dating{ref: ref, ahead: backlogAhead, loc: d.loc, year: rec.Year}
	if rec.Live {
		dt.ahead = FastClock
	}
	h, err := parseHeader(rec.Line, &dt)
	if d.postgres != nil {
		h, err = d.readPostgres(rec, h, err)
	}
	if err != nil {
		var control *controlError
		if errors.As(err, &control) {
			if v, ok := d.explainControls(rec, control.at, seen); ok {
				return v
			}
		}
		return Verdict{Outcome: Unparsed, Err: err}
	}
	if h.local {
		h.Time = seen.Local(h.Time, rec.Read, rec.Live)
	} else if !h.continued {
		seen.Saw(h.Time)
	}
	if d.sourceHost != nil && !h.namesHost() {
		if host := d.sourceHost(rec.Source); host != "" {
			h.Host = host
		}
	}
	return d.explainHeader(rec, h)
}

// ParseLiveHeader is ParseHeader for a line read as it was written (abusewatch.Record.Live),
// as Explain reads it: a time without a year may be up to FastClock after ref. The syslog
// listener reads its messages so, to know the time the pipeline will read in them.
func ParseLiveHeader(line string, ref time.Time, loc *time.Location) (Header, error) {
	return parseHeader(line, &dating{ref: ref, ahead: FastClock, loc: loc})
}

// YearGuessed says whether the time in line's header has no year of its own (RFC 3164's
// "Dec  7 13:03:12"): its year is the reader's guess, and the guess of a line from a
// clock more than FastClock fast is a year back. A header read with references four
// years apart gives a time four years apart then (four: Feb 29 stays Feb 29), and the
// same time when its year is written.
func YearGuessed(line string, loc *time.Location) bool {
	ref := time.Now()
	a, errA := parseHeader(line, &dating{ref: ref, ahead: backlogAhead, loc: loc})
	b, errB := parseHeader(line, &dating{ref: ref.AddDate(4, 0, 0), ahead: backlogAhead, loc: loc})
	return errA == nil && errB == nil && !a.Time.Equal(b.Time)
}

// explainControls classifies rec, whose line has its first control character at byte
// at, with each control character replaced by "?": a record an attack rule recognises
// so is that event (its user name and line shown with the "?"), since a user name is
// the client's text, and one with an ESC, CR, NUL or U+0085 in it must not keep a
// failed login out of an incident (services other than sshd log the name as it came).
// ok is false, and the record stays unparsed, for any other outcome, and when a
// control character is part of the header (the header read with "!" in their place
// differs): a header holding one is not believed. Nor is a line that starts with one:
// the daemon marks a syslog message without a <PRI> with a NUL at its start so that it
// is never read (unparsedMark).
func (d *Detector) explainControls(rec abusewatch.Record, at int, seen *SourceTimes) (Verdict, bool) {
	if at == 0 {
		return Verdict{}, false
	}
	// Each reading starts from what seen knew before the line; seen learns of it only
	// when it is read.
	var before, read, other SourceTimes
	if seen != nil {
		before = *seen
	}
	read, other = before, before
	line := rec.Line
	rec.Line = replaceControls(line, '?')
	v := d.ExplainInOrder(rec, &read)
	if v.Outcome != Recognised {
		return Verdict{}, false
	}
	rec.Line = replaceControls(line, '!')
	h := v.Header
	if o := d.ExplainInOrder(rec, &other).Header; !h.Time.Equal(o.Time) || h.Host != o.Host || h.Program != o.Program || h.PID != o.PID || h.format != o.format {
		return Verdict{}, false
	}
	if seen != nil {
		*seen = read
	}
	return v, true
}

// readPostgres reads rec, whose header ParseHeader gave as h and err, with the prefix
// its source declares: a postgres record of syslog or the journal has the prefix at the
// start of its message, and a line without a syslog header may be one of PostgreSQL's
// own file, which ParseHeader may have taken for another format (exim's, for a zone
// such as "+0545") or none (a prefix that starts with %n). Other records, most of
// them, do not look their source up.
func (d *Detector) readPostgres(rec abusewatch.Record, h Header, err error) (Header, error) {
	switch {
	case err == nil && h.format == "" && h.Program == postgresProgram:
		if pg := d.postgres(rec.Source); pg != nil {
			if l, ok := pg.readTagged(h.Message); ok {
				h.Message, h.declared = l.message, true
			}
		}
	case (err != nil || h.format != "") && skipPRI(rec.Line) == rec.Line && checkLine(rec.Line) == nil:
		if pg := d.postgres(rec.Source); pg != nil {
			if ph, ok := pg.readFile(rec.Line, d.loc); ok {
				return ph, nil
			}
			if strings.HasPrefix(rec.Line, "\t") {
				// The next line of the message before, which has the prefix and
				// the time: this one has neither.
				return Header{Host: localHost(), Program: postgresProgram, Message: rec.Line, format: formatPostgres, continued: true}, nil
			}
		}
	}
	return h, err
}

// errNoPostgresPrefix is why PostgreSQL's record of a source that declares no prefix
// makes no event (`rules test` shows it).
var errNoPostgresPrefix = errors.New("PostgreSQL's line, and its source declares no postgres_prefix: no event")

// unreadPostgres says why a PostgreSQL record of source makes no event.
func (d *Detector) unreadPostgres(source string) error {
	if d.postgres != nil {
		if pg := d.postgres(source); pg != nil {
			return pg.unread
		}
	}
	return errNoPostgresPrefix
}

// explainHeader classifies a record whose header is already parsed.
func (d *Detector) explainHeader(rec abusewatch.Record, h Header) Verdict {
	if h.Program == postgresProgram && (h.continued || h.format == "" && postgresContinuation(h.Message)) {
		return Verdict{Outcome: Continuation, Header: h}
	}
	msg := unrepeat(h.Message)
	if h.Program == postgresProgram && !h.declared {
		// No declared prefix read it: a client may have written it (postgres.go). It
		// is counted for tuning, and normal rules may drop it.
		if r := d.normal.match(rec.Line, &h, msg); r != nil {
			return Verdict{Outcome: Normal, Header: h, Rule: r.String()}
		}
		return Verdict{Outcome: Unknown, Header: h, Err: d.unreadPostgres(rec.Source)}
	}
	var caps [maxFastCaps]int
	if r, m := d.attack.forProgram(h.Program).match(msg, &caps); r != nil {
		ev, err := r.event(msg, m, d.numeric[h.Program])
		if err != nil {
			return Verdict{Outcome: Unknown, Header: h, Rule: r.String(), Err: err}
		}
		if h.Program == postgresProgram && !prefixAddrIs(msg, ev.Addr) {
			// PostgreSQL names the client of its prefix (%r, %h) in pg_hba.conf's
			// refusal too: a line where they differ is not one it wrote.
			return Verdict{Outcome: Unknown, Header: h, Rule: r.String(), Err: errPostgresTwoAddresses}
		}
		ev.Time, ev.Service, ev.Host = h.Time, h.Program, h.Host
		ev.Source, ev.Line = rec.Source, rec.Line
		return Verdict{Outcome: Recognised, Event: ev, Header: h, Rule: r.String()}
	}
	if r := d.normal.match(rec.Line, &h, msg); r != nil {
		return Verdict{Outcome: Normal, Header: h, Rule: r.String()}
	}
	v := Verdict{Outcome: Unknown, Header: h}
	if h.Program == postgresProgram {
		// The address of PostgreSQL's records is the prefix's, which the rules read;
		// the rest of its text names users and databases as the client wrote them.
		return v
	}
	if d.attack.writesPTR(h.Program) && !d.numeric[h.Program] {
		// A program that names its client by its unchecked reverse name (pure-ftpd,
		// login) may write that name in the generic positions too (login sets it as
		// PAM's rhost=): an address there may be a PTR record's text.
		return v
	}
	if addr, port, ok := GenericAddr(h.Program, msg); ok {
		v.Event = abusewatch.Event{
			Time: h.Time, Class: abusewatch.ClassUnknown, Addr: addr, Port: port,
			Service: h.Program, Host: h.Host, Source: rec.Source, Line: rec.Line,
		}
	}
	return v
}

// Unrepeated is the message rsyslog's "message repeated N times: [ msg]" repeats, or
// msg: the record a line stands for (the daemon pairs copies of one record by it).
func Unrepeated(msg string) string { return unrepeat(msg) }

// unrepeat returns the message inside rsyslog's "message repeated N times: [ msg]", so
// the repeated record is classified like the first one.
func unrepeat(msg string) string {
	rest, ok := strings.CutPrefix(msg, "message repeated ")
	if !ok {
		return msg
	}
	i := 0
	for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
		i++
	}
	if i == 0 {
		return msg
	}
	inner, ok := strings.CutPrefix(rest[i:], " times: [")
	if !ok || !strings.HasSuffix(inner, "]") {
		return msg
	}
	return strings.TrimPrefix(inner[:len(inner)-1], " ")
}

// errPTRAddress is why a record whose <PTR> slot holds an address makes no event.
var errPTRAddress = errors.New("an address where the program writes the client's reverse DNS name unchecked (whoever owns the client's address may make its PTR record read \"8.8.8.8\"): no event, unless [detect] numeric_hosts names the program, which then writes addresses there")

// errNameAddress is why a record whose <NAME> slot alone holds an address makes no event.
var errNameAddress = errors.New("an address where the rule reads a host name (<NAME>): no event; a rule reads an address with <HOST>, and with <PTR> where the program may write either")

// event fills the fields the rule captured from msg; m is the submatch index. numeric
// says the admin declared that the record's program writes addresses in <PTR> slots.
func (r *attackRule) event(msg string, m []int, numeric bool) (abusewatch.Event, error) {
	group := func(i int) string {
		if i < 0 || m[2*i] < 0 {
			return ""
		}
		return msg[m[2*i]:m[2*i+1]]
	}
	ev := abusewatch.Event{
		Class: r.class,
		User:  group(r.user),
		Name:  group(r.name),
		Proto: group(r.proto),
		Flags: strings.TrimSpace(group(r.flags)),
	}
	if strings.Contains(ev.Flags, "  ") {
		ev.Flags = strings.Join(strings.Fields(ev.Flags), " ")
	}
	if ptr := group(r.ptr); ptr != "" {
		if a, err := netip.ParseAddr(ptr); err == nil && a.Zone() == "" {
			if !numeric {
				return abusewatch.Event{}, errPTRAddress
			}
			ev.Addr = a.Unmap()
		} else if strings.Contains(ptr, ":") {
			return abusewatch.Event{}, fmt.Errorf("no address: %q", prefix(ptr, 45))
		} else {
			ev.Name = ptr // the lookup stage never resolves a name alone into an address
		}
	}
	if ev.Name == "" {
		// nothing to check
	} else if _, err := netip.ParseAddr(ev.Name); err == nil {
		// A "name" that is an address: tcpd's "NAME (ADDR)" when the two are equal,
		// whose <HOST> gives the address. A <NAME> alone never does: a program that
		// writes a name there may have taken it from a PTR record.
		if r.host < 0 {
			return abusewatch.Event{}, errNameAddress
		}
		ev.Name = ""
	}
	if host := group(r.host); host != "" || (r.host >= 0 && ev.Name == "") {
		addr, err := netip.ParseAddr(host)
		if err != nil || addr.Zone() != "" {
			return abusewatch.Event{}, fmt.Errorf("no address: %q", prefix(host, 45))
		}
		ev.Addr = addr.Unmap()
	}
	if (r.name >= 0 || r.ptr >= 0) && r.host < 0 && !ev.Addr.IsValid() && ev.Name == "" {
		return abusewatch.Event{}, fmt.Errorf("no host name")
	}
	for _, p := range []struct {
		group int
		to    *uint16
	}{{r.port, &ev.Port}, {r.dport, &ev.LocalPort}} {
		text := group(p.group)
		if text == "" {
			continue
		}
		port, err := strconv.ParseUint(text, 10, 16)
		if err != nil {
			return abusewatch.Event{}, fmt.Errorf("bad port %q", text)
		}
		*p.to = uint16(port)
	}
	return ev, nil
}
