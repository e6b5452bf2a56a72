package detect

import (
	"slices"
	"sort"
	"time"
)

// newYearStep is how far a line's time without a year may lie before the line's before
// it, read forward, and still be of the same year: a host's clock stepped back, a relay's
// hosts out of step, a fast clock a month ahead (FastClock), the repeated hour of
// autumn. A line further back than that follows a New Year, when the lines after it
// bear it out (outOfStep).
const newYearStep = FastClock

// maxNewYears is the most New Years a log read whole may span and still be dated by its
// order: a log of more is no log written in order (lines of clocks far apart, or
// forged), and its lines are dated one by one, as of the last write (ParseHeader).
const maxNewYears = 50

// stepLookahead is how many lines after a line more than a month from the file's
// course BacklogYears reads to tell an outlier from a New Year (or a gap). A host that
// boots with its clock reset writes a few lines at its reset time (Jan 1 00:00) before
// NTP sets it: a run of up to this many such lines is still an outlier. The cost of
// more is reading ahead that many lines for each line out of step.
const stepLookahead = 16

// outlierRun is how close (either way round the year's end) a line after a line out
// of step must be to it to be of the same run rather than the file's course: a reset
// clock's lines are seconds apart, and the lines just after a New Year include a
// relay's late "Dec 31 23:59:59".
const outlierRun = 24 * time.Hour

// returnBack is how far before the file's course a line after one out of step may lie
// and still be that course resumed: the lines a host out of step interrupted go on
// where they were (seconds out of order), not weeks before.
const returnBack = 24 * time.Hour

// maxOutliers is the most lines out of step a log read whole may hold and still be
// dated by its order (see maxNewYears).
const maxOutliers = 10000

// keyYear is the length of the year of yearKey, in seconds: a leap year.
const keyYear = 366 * 86400

// BacklogYears gives the lines of a log read whole, from its start (a scan of a file or
// of its compressed copy), the years their times without one lack. A log is written
// forward: read in order, a line whose date lies more than a month before the date of
// the line before it follows a New Year, and every line before it is of an earlier year
// (a file holding Nov 20, Jan 15, Jun 15 and Dec 1 began the year before). The last
// line's year is the one ParseHeader gives it, as of ref; each line before it is that
// year less the New Years after it. Line by line, from ref alone, the Nov 20 would be of
// ref's year, a year late, and a file of exactly twelve months would start "tomorrow".
//
// One line is no New Year: a host that booted with its clock reset ("Jan  1 00:00:07"
// in a December log), or a relay's sender with any date it likes, would date every
// line before it, the attacks of this morning, a year early. A line more than a month
// from the file's course (the last line in step) is out of step when the file goes on
// where it was after it (and after the lines of its own run, a day either side of it):
// it neither starts a year nor moves the course, and it is dated alone, as of ref
// (Year 0). A step back the lines after it keep to is a New Year. The cost: a run of
// more than stepLookahead lines of a clock more than a month off still dates the lines
// before it a year early, never late.
//
// Add each line in order, then End; Year then tells a line's year by the offset just
// after it (0 past maxNewYears). Lines with a year, or with another timestamp, take no
// part.
type BacklogYears struct {
	pending  []yearLine // lines read but not yet placed: each needs stepLookahead after it
	course   int64      // the key of the last line in step (yearKey)
	lines    int64      // how many lines without a year were placed in step
	newYears []int64    // the offsets just after the first line of each year but the first; one more past maxNewYears
	outliers []int64    // the offsets just after each line out of step, ascending; one more past maxOutliers
	end      int        // the last line's year; 0 until End, or with no line without a year
}

// yearLine is a line without a year: its yearKey, and the offset just after it.
type yearLine struct{ key, offset int64 }

// Add reads line, the file's next one, which ends at offset.
func (b *BacklogYears) Add(line string, offset int64) {
	st, _, ok := read3164(skipPRI(line))
	if !ok || st.year != 0 {
		return
	}
	key, ok := yearKey(st)
	if !ok {
		return
	}
	b.pending = append(b.pending, yearLine{key, offset})
	if len(b.pending) > stepLookahead {
		b.place(b.pending[0], b.pending[1:], nil)
		b.pending = slices.Delete(b.pending, 0, 1)
	}
}

// place settles l, the next line, by the lines after it (up to stepLookahead); end is
// the file's last write, with the lines at its end (nil before).
func (b *BacklogYears) place(l yearLine, after []yearLine, end *yearsEnd) {
	step := int64(newYearStep / time.Second)
	if b.lines > 0 && (l.key < b.course-step || l.key > b.course+step) && b.outOfStep(l, after, end) {
		if len(b.outliers) <= maxOutliers {
			b.outliers = append(b.outliers, l.offset)
		}
		return
	}
	if b.lines > 0 && l.key < b.course-step && len(b.newYears) <= maxNewYears {
		b.newYears = append(b.newYears, l.offset)
	}
	b.course = l.key
	b.lines++
}

// outOfStep says whether l, more than a month from the file's course, is an outlier:
// the first line after it that is not of its run (a day either side of it, round the
// year's end) goes on where the course was. At the file's end, with no such line, the
// file's last write tells: a file whose course was written then (within a day, see
// lastWrite) and whose last lines were not is a file those lines interrupted. Else, with none such in
// reach (a run longer than stepLookahead), l is in step.
func (b *BacklogYears) outOfStep(l yearLine, after []yearLine, end *yearsEnd) bool {
	run, back, ahead := int64(outlierRun/time.Second), int64(returnBack/time.Second), int64(newYearStep/time.Second)
	for _, a := range after {
		if d := (a.key - l.key + keyYear) % keyYear; d <= run || keyYear-d <= run {
			continue // of l's run
		}
		return a.key >= b.course-back && a.key <= b.course+ahead
	}
	if end == nil || len(after) == stepLookahead {
		return false
	}
	return end.near(b.course) && !end.near(l.key)
}

// yearsEnd is the file's last write (ref), in loc, at its end.
type yearsEnd struct {
	ref time.Time
	loc *time.Location
}

// lastWrite is how long before a file's last write its last line in step may have been
// written and still tell that the lines after it, of another date, were written at the
// end: a file is written up to its last write, give or take a clock's error. A file
// copied or touched since says nothing.
const lastWrite = 24 * time.Hour

// near says whether a line at key, given the year that puts it no more than
// backlogAhead after ref, lies within lastWrite before ref.
func (e *yearsEnd) near(key int64) bool {
	t, ok := WithYear(keyTime(key, e.loc), e.ref, backlogAhead, e.loc)
	return ok && e.ref.Sub(t) <= lastWrite
}

// keyTime is the time of key (yearKey) in year 0, a leap year, in loc.
func keyTime(key int64, loc *time.Location) time.Time {
	days, secs := key/86400, key%86400
	return time.Date(0, time.January, 1+int(days), int(secs/3600), int(secs%3600/60), int(secs%60), 0, loc)
}

// End settles the years, the last line's as of ref (the file's last write, or now)
// in loc (time.Local when nil).
func (b *BacklogYears) End(ref time.Time, loc *time.Location) {
	if loc == nil {
		loc = time.Local
	}
	end := &yearsEnd{ref, loc}
	for i, l := range b.pending {
		b.place(l, b.pending[i+1:], end)
	}
	b.pending = nil
	if b.lines == 0 {
		return
	}
	// The year of the last line in step: a line out of step after it is dated alone.
	if t, ok := WithYear(keyTime(b.course, loc), ref, backlogAhead, loc); ok {
		b.end = t.Year()
	}
}

// Year is the year of the time without a year of the line that ends at offset; 0 when
// the file's lines tell none (no line without a year, or no End), or when the line is
// out of step with them.
func (b *BacklogYears) Year(offset int64) int {
	if b.end == 0 || len(b.newYears) > maxNewYears || len(b.outliers) > maxOutliers {
		return 0
	}
	if _, found := slices.BinarySearch(b.outliers, offset); found {
		return 0
	}
	// The New Years that follow the line: each that begins at a line after it.
	after := len(b.newYears) - sort.Search(len(b.newYears), func(i int) bool { return b.newYears[i] > offset })
	return b.end - after
}

// yearKey is st's place in a leap year, in seconds: the order of dates and times
// without a year, Feb 29 included.
func yearKey(st stamp3164) (int64, bool) {
	if st.day > leapDays[st.mon] {
		return 0, false
	}
	day := int64(daysBefore[st.mon] + st.day - 1)
	return day*86400 + int64(st.hh*3600+st.mm*60+min(st.ss, 59)), true
}

// leapDays are the days of each month of a leap year; daysBefore, the days of the
// months before it.
var (
	leapDays   = [13]int{0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}
	daysBefore = func() (d [13]int) {
		for m := 2; m <= 12; m++ {
			d[m] = d[m-1] + leapDays[m-1]
		}
		return d
	}()
)
