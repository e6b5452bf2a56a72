package daemon

import (
	"fmt"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/detect"
)

// The time a record gives is its host's clock, and a host's clock can be wrong: a fleet
// host days fast, an RTC reset to 2020, a VM restored from a snapshot, a host in another
// zone that writes local time without an offset. These rules say what the daemon believes
// of it, one rule for every source: the syslog listener's messages (its count and warning
// per sender, syslogListener.message) and every record the pipeline reads (the event's
// time, Pipeline.checkClock): a followed file's lines, the journal's entries and a
// scan's lines, each against the time it was read (a scan's, against the file's last
// write).

// maxSkew is how far after it was read a record's time may be before its host's clock
// is called wrong: a few minutes between hosts is normal (five: Kerberos' allowance).
//
// No record is dated after it was read, within maxSkew or beyond: a line cannot be from
// the future. A report dates its evidence by its events, and one written at once would
// date an attack after the mail's own Date ("an attack to come"); `ip`, `net` and the
// summary count events up to now, and would leave out those of the incidents they list.
// Beyond maxSkew the record is dated when it was read, as within it, and counted
// (Counters.Redated) and its host warned of with the offset seen. That is a fast clock,
// or a host in another zone that writes no offset (Tokyo's "Dec  8 03:14:50" read in New
// York, 14 h ahead): a live line of either arrives as it is written, so the time it was
// read is its time to a poll's delay. A line of a backlog (a file's first read, a scan)
// was written before it was read too, so it is held to the same rule against that time.
// But a backlog's lines were not written as they were read: dated each at that one
// time, hours of a host's lines would be one burst, an incident that their times never
// made. A scan reads each file's headers before it (Pipeline.backlogYears), so it knows
// how far each host's last line is after the file's last write, and dates all that
// host's lines earlier by as much (clockShifted): a clock's offset is the same for all
// its lines, the last was written by the last write, and the spacing stays, so a
// window counts the same lines as by their own times. Only a line more than a day
// ahead (which tells no offset) is still dated at the last write alone. Every backlog
// is dated so: a followed file's first read reads its headers ahead the same way
// (fileFollower.backlogAhead), a journal directory's read of a host's journal is dated
// by its last entry against the journal file's last write (Daemon.journalAhead), and
// the syslog listener, whose relays flush hours of a host's messages with no last write
// to measure, learns each host's offset from its freshest message and holds a flush
// until it settles, then dates it by its last message (syslog_ahead.go).
//
// A year-less time gets its year by detect.WithYear, which takes up to a month ahead
// (detect.FastClock) for this year's from the syslog listener and for a followed file's
// line read as it was written (abusewatch.Record.Live), so that a fast clock's lines
// are dated when read rather than a year back; a day for a backlog, which may be eleven
// months old. A syslog message's year-less time more than a month fast is last year's by
// that guess: when that puts it more than policy.max_age back, where a message with its
// year would be held back as from a clock far behind (clockBehind), the clock is taken
// as fast (clockFast), as the same message with its year shows it. Files keep the year
// guessed: a line of last year is believed, as any line of the past is (see
// clockBehind), and a followed file may be written lines of months ago (a log appended
// to another), which dated when read would be reported as current.
const maxSkew = 5 * time.Minute

// clockVerdict is what the daemon believes of a record's time.
type clockVerdict int

const (
	clockBelieved clockVerdict = iota // its time, or when it was read if that is at most maxSkew earlier
	clockAhead                        // more than maxSkew after it was read: dated when read
	clockShifted                      // a line read at once with its host's others (a scan's, a backlog's, a journal read's, a flush's) whose last is more than maxSkew after it was written: dated that much earlier (Pipeline.checkClock)
	clockFast                         // a syslog message's year-less time more than max_age back: a clock more than a month fast, dated when read
	clockBehind                       // a syslog message more than max_age before it arrived: no event
)

// clockRule holds record times to the rules above.
type clockRule struct {
	maxAge time.Duration // policy.max_age; 0: any age
	zone   string        // detect.timezone, which year-less times are read in
}

// clockJudgement is clockRule's answer for one record.
type clockJudgement struct {
	time    time.Time     // what the record is dated
	verdict clockVerdict  //
	offset  time.Duration // how far the host's clock seems ahead of the time read (negative: behind)
}

// judge says what rec, read as of t, is dated. A time with no time read to hold it to
// (rec.Read zero) is believed.
func (r clockRule) judge(rec abusewatch.Record, t time.Time) clockJudgement {
	read := rec.Read
	switch {
	case read.IsZero():
		return clockJudgement{t, clockBelieved, 0}
	case t.After(read.Add(maxSkew)):
		return clockJudgement{read, clockAhead, t.Sub(read)}
	case t.After(read):
		return clockJudgement{read, clockBelieved, 0}
	case r.maxAge <= 0 || !t.Before(read.Add(-r.maxAge)):
		return clockJudgement{t, clockBelieved, 0}
	case rec.Source == syslogSource && detect.YearGuessed(rec.Line, Location(r.zone)):
		// The year after the guess is after read+FastClock and, t being before read,
		// less than a year after read.
		return clockJudgement{read, clockFast, t.AddDate(1, 0, 0).Sub(read)}
	case rec.Source == syslogSource:
		// Lines read from files are exempt: reading an old log for the first time keeps
		// what it read, for the admin (max_age keeps it from the outside). A syslog
		// message is sent as it is written: dated as it says, it is an attack of long
		// ago, never reported, and dated when it arrived, a relay's backlog (rsyslog's
		// imfile sending a host's old log) would be reported as current.
		return clockJudgement{t, clockBehind, t.Sub(read)}
	}
	return clockJudgement{t, clockBelieved, 0}
}

// offsetText writes how far a clock is off for the log: "14h0m3s", "62 days".
func offsetText(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	if d >= 48*time.Hour {
		return fmt.Sprintf("%d days", int(d.Hours()/24+0.5))
	}
	return d.Round(time.Second).String()
}
