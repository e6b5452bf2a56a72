package detect

import "time"

// maxFold bounds how far from a change of its location's offset a time is looked at as
// maybe repeated: an autumn change repeats an hour (Lord Howe half an hour), and a
// change of a zone's standard offset has repeated up to a day.
const maxFold = 25 * time.Hour

// foldOf says whether t, read in its location from a wall clock without an offset, is
// of the time an autumn clock change repeats (02:00-02:59 on the last Sunday of October
// in Europe/Berlin): early and late are then the two instants of that wall clock, its
// first and its second pass (CEST +0200 and CET +0100); else both are t. time.Date picks
// one of the two, and says not which.
func foldOf(t time.Time) (early, late time.Time, ok bool) {
	start, end := t.ZoneBounds()
	nearStart, nearEnd := !start.IsZero() && t.Sub(start) < maxFold, !end.IsZero() && end.Sub(t) <= maxFold
	if !nearStart && !nearEnd {
		return t, t, false // most times: one lookup
	}
	_, off := t.Zone()
	if nearStart {
		// t is of the offset that began at start: its wall clock was also that of
		// the instant d earlier, when the offset before was d larger.
		_, before := start.Add(-time.Second).Zone()
		if d := time.Duration(before-off) * time.Second; d > 0 && t.Sub(start) < d {
			return t.Add(-d), t, true
		}
	}
	if nearEnd {
		_, after := end.Zone()
		if d := time.Duration(off-after) * time.Second; d > 0 && end.Sub(t) <= d {
			return t, t.Add(d), true
		}
	}
	return t, t, false
}

// foldJitter is how far a line may be dated before the line its source gave before it
// and still be of the same pass of a repeated hour: several processes' lines, or several
// hosts' in a relay's file, reach a log seconds out of order. A source that goes back
// further in the repeated hour has begun its second pass.
const foldJitter = 10 * time.Minute

// SourceTimes is what detect remembers of one source whose lines are read in the order
// they were written (a file read forward, a followed file, one host of the syslog
// listener): the time of its last line. It settles which instant a local time of the
// hour an autumn clock change repeats is (Local). The zero value knows no line yet; a nil
// one is a source read out of order. Not safe for concurrent use: one per source.
type SourceTimes struct {
	last time.Time
	// No time from quiet to calm (calm zero: none after quiet) is near a change of the
	// offset: Local need not look (the lookup costs as much as time.Date).
	quiet, calm time.Time
	knowsQuiet  bool
}

// Local is the instant t is, a time read in its location from a wall clock without an
// offset (a syslog time in detect.timezone) of a line of the source read at read; live
// says that it was read as it was written (a followed file's new line, a syslog
// message). Outside a repeated hour it is t. Inside one, it is the first pass (the
// earlier offset, +0200 in Europe/Berlin) until the source goes back in that hour, and
// the second pass (+0100) from then on: the offset that keeps the source's lines in the
// order they were written. A source with no line before it is at the first pass, but a
// line read as it was written after the second pass began is of the second. A line
// read as it was written is never of a pass that begins after it was read.
// Local remembers the instant as the source's last.
func (s *SourceTimes) Local(t, read time.Time, live bool) time.Time {
	if s != nil && s.knowsQuiet && !t.Before(s.quiet) && (s.calm.IsZero() || t.Before(s.calm)) {
		s.last = t
		return t
	}
	if early, late, ok := foldOf(t); ok {
		t = s.pass(early, late, read, live)
	} else if s != nil {
		start, end := t.ZoneBounds()
		s.quiet, s.calm, s.knowsQuiet = start, end, true
		if !start.IsZero() {
			s.quiet = start.Add(maxFold)
		}
		if !end.IsZero() {
			s.calm = end.Add(-maxFold)
		}
	}
	s.Saw(t)
	return t
}

// pass picks one of the instants early and late of a repeated wall clock (see Local).
func (s *SourceTimes) pass(early, late, read time.Time, live bool) time.Time {
	switch {
	case live && !read.IsZero() && late.After(read.Add(foldJitter)):
		return early // the second pass is yet to come
	case s != nil && !s.last.IsZero():
		if early.Before(s.last.Add(-foldJitter)) {
			return late // the source went back in the repeated hour
		}
		return early
	case live:
		return late
	}
	return early
}

// Saw remembers t, the time of the source's line just read (with an offset, or one
// Local gave), as its last.
func (s *SourceTimes) Saw(t time.Time) {
	if s != nil {
		s.last = t
	}
}
