// Package detect turns one log record into one verdict: unparsed, normal, unknown, or an
// attack event whose address comes only from an anchored position in the record.
//
// Detection works by exclusion, as logcheck does: attack rules are tried first, so a
// record that looks like an attack is never dropped as normal; then the admin's normal
// rules drop what is known to be harmless; whatever is left is unknown and goes to the
// admin for tuning. Everything here is pure: no I/O beyond reading rule files, no clock
// except as a fallback for records read without a time, safe for concurrent use.
package detect

import (
	"fmt"
	"net/netip"
	"strconv"
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
	}
	return "Outcome(" + strconv.Itoa(int(o)) + ")"
}

// Detector classifies records with a fixed set of rules. It is safe for concurrent use;
// to change the rules, build a new Detector.
type Detector struct {
	normal *NormalRules
	attack *AttackRules
	loc    *time.Location
}

// New returns a Detector. Nil rule sets match nothing; a nil loc means time.Local, the
// zone of timestamps written without one.
func New(normal *NormalRules, attack *AttackRules, loc *time.Location) *Detector {
	if loc == nil {
		loc = time.Local
	}
	return &Detector{normal: normal, attack: attack, loc: loc}
}

// Classify parses rec's syslog header and classifies it: attack rules first, then normal
// rules, else unknown. Only a Recognised outcome comes with an Event, whose Seq is left
// to the store. A record whose attack rule captured something that is not an address is
// Unknown: it looked like an attack but carries no address to blame.
func (d *Detector) Classify(rec abusewatch.Record) (Outcome, abusewatch.Event) {
	ref := rec.Read
	if ref.IsZero() {
		ref = time.Now()
	}
	h, err := ParseHeader(rec.Line, ref, d.loc)
	if err != nil {
		return Unparsed, abusewatch.Event{}
	}
	for _, r := range d.attack.forProgram(h.Program) {
		m := r.re.FindStringSubmatchIndex(h.Message)
		if m == nil {
			continue
		}
		ev, err := r.event(h.Message, m)
		if err != nil {
			return Unknown, abusewatch.Event{}
		}
		ev.Time, ev.Service, ev.Host = h.Time, h.Program, h.Host
		ev.Source, ev.Line = rec.Source, rec.Line
		return Recognised, ev
	}
	if d.normal.match(rec.Line, h.Message) {
		return Normal, abusewatch.Event{}
	}
	return Unknown, abusewatch.Event{}
}

// event fills the fields the rule captured from msg; m is the submatch index.
func (r *attackRule) event(msg string, m []int) (abusewatch.Event, error) {
	group := func(i int) string {
		if i < 0 || m[2*i] < 0 {
			return ""
		}
		return msg[m[2*i]:m[2*i+1]]
	}
	addr, err := netip.ParseAddr(group(r.host))
	if err != nil || addr.Zone() != "" {
		return abusewatch.Event{}, fmt.Errorf("no address: %q", prefix(group(r.host), 45))
	}
	ev := abusewatch.Event{
		Class: r.class,
		Addr:  addr.Unmap(),
		User:  group(r.user),
		Name:  group(r.name),
	}
	if p := group(r.port); p != "" {
		port, err := strconv.ParseUint(p, 10, 16)
		if err != nil {
			return abusewatch.Event{}, fmt.Errorf("bad port %q", p)
		}
		ev.Port = uint16(port)
	}
	return ev, nil
}
