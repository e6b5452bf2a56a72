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
	_, off := t.Zone()
	if !start.IsZero() && t.Sub(start) < maxFold {
		// t is of the offset that began at start: its wall clock was also that of
		// the instant d earlier, when the offset before was d larger.
		_, before := start.Add(-time.Second).Zone()
		if d := time.Duration(before-off) * time.Second; d > 0 && t.Sub(start) < d {
			return t.Add(-d), t, true
		}
	}
	if !end.IsZero() && end.Sub(t) <= maxFold {
		_, after := end.Zone()
		if d := time.Duration(off-after) * time.Second; d > 0 && end.Sub(t) <= d {
			return t, t.Add(d), true
		}
	}
	return t, t, false
}
