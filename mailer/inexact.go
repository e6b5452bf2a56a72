package mailer

import "time"

// Inexact says which of an incident's times and counts its report cannot state exactly:
// a party's share of a network incident after retention deleted raw lines of it is
// counted and dated from what is left, and from per-address daily counters, which keep
// a day but no time of day. The memo then says what it knows (the day; "at least")
// rather than a midnight or a count that looks exact.
type Inexact struct {
	// FirstDay, LastDay: First (Last) is known only as a day, midnight UTC to midnight
	// UTC (a clock time within it is a bound, not a line's).
	FirstDay, LastDay bool
	// Lines, Conns: Count (Attempts) is a lower bound: lines of it were deleted.
	Lines, Conns bool
}

// markInexact marks the sources (and the addresses within them) standing for an
// incident of inexact as they are: a day for a time (when that incident gives the
// source's first or last), a lower bound for a count.
func markInexact(sources []*source, inexact map[string]Inexact) {
	for _, s := range sources {
		for _, m := range s.members {
			in, ok := inexact[m.ID]
			if !ok {
				continue
			}
			s.linesAtLeast, s.connsAtLeast = s.linesAtLeast || in.Lines, s.connsAtLeast || in.Conns
			s.firstDay = s.firstDay || (in.FirstDay && m.First.Equal(s.inc.First))
			s.lastDay = s.lastDay || (in.LastDay && m.Last.Equal(s.inc.Last))
		}
		markInexact(s.addrs, inexact)
	}
}

// seen is t, a source's first or last event, as the memo shows it: in our zone with the
// offset from GMT, or, known only as a day (Inexact), that day in GMT and that the time
// of day is not kept; in our zone the day could read as the day before or after.
func (c *Composer) seen(t time.Time, dayOnly bool) string {
	if dayOnly {
		return t.UTC().Format("2006-01-02") + " GMT (time of day not kept)"
	}
	return c.timestamp(t)
}
