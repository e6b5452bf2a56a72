package detect

import (
	"sort"
	"time"
)

// newYearStep is how far a line's time without a year may lie before the line's before
// it, read forward, and still be of the same year: a host's clock stepped back, a relay's
// hosts out of step, a fast clock a month ahead (FastClock), the repeated hour of
// autumn. A line further back than that follows a New Year.
const newYearStep = FastClock

// maxNewYears is the most New Years a log read whole may span and still be dated by its
// order: a log of more is no log written in order (lines of clocks far apart, or
// forged), and its lines are dated one by one, as of the last write (ParseHeader).
const maxNewYears = 50

// BacklogYears gives the lines of a log read whole, from its start (a scan of a file or
// of its compressed copy), the years their times without a year lack. A log is written
// forward: read in order, a line whose date lies more than a month before the date of
// the line before it follows a New Year, and every line before it is of an earlier year
// (a file holding Nov 20, Jan 15, Jun 15 and Dec 1 began the year before). The last
// line's year is the one ParseHeader gives it, as of ref; each line before it is that
// year less the New Years after it. Line by line, from ref alone, the Nov 20 would be of
// ref's year, a year late, and a file of exactly twelve months would start "tomorrow".
//
// Add each line in order, then End; Year then tells a line's year by the offset just
// after it (0 past maxNewYears). Lines with a year, or with another timestamp, take no part. A step back of
// a month or less (a clock's) is no New Year; the cost is that a line of a clock more
// than a month off dates the lines before it a year early, never late: an attack of
// now is never made one of years ago by the lines after it, only the lines before it.
type BacklogYears struct {
	last     int64   // the key of the last line read without a year (yearKey)
	lines    int64   // how many lines without a year
	newYears []int64 // the offsets just after the first line of each year but the first; one more past maxNewYears
	end      int     // the last line's year; 0 until End, or with no line without a year
}

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
	if b.lines > 0 && key < b.last-int64(newYearStep/time.Second) && len(b.newYears) <= maxNewYears {
		b.newYears = append(b.newYears, offset)
	}
	b.last = key
	b.lines++
}

// End settles the years, the last line's as of ref (the file's last write, or now)
// in loc (time.Local when nil).
func (b *BacklogYears) End(ref time.Time, loc *time.Location) {
	if b.lines == 0 {
		return
	}
	if loc == nil {
		loc = time.Local
	}
	days, secs := b.last/86400, b.last%86400
	t := time.Date(0, time.January, 1+int(days), int(secs/3600), int(secs%3600/60), int(secs%60), 0, loc)
	if t, ok := WithYear(t, ref, backlogAhead, loc); ok {
		b.end = t.Year()
	}
}

// Year is the year of the time without a year of the line that ends at offset; 0 when
// the file's lines tell none (no line without a year, or no End).
func (b *BacklogYears) Year(offset int64) int {
	if b.end == 0 || len(b.newYears) > maxNewYears {
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
