package detect

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
)

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// A local time of the hour an autumn change repeats names two instants: a source read in
// order is at the first pass until its lines go back in that hour, then at the second. A
// line read as it was written is of no pass that begins after it was read, and with no
// line before it, of the pass it was read in. Each line alone was dated by time.Date,
// which gives the second pass in Go (Europe/Berlin +0100): a first-pass line an hour late.
func TestExplainInOrderDatesTheRepeatedHour(t *testing.T) {
	type line struct {
		text string
		read time.Time // zero: the backlog's, read at 03:00 UTC
		live bool
		want string // UTC
	}
	utc := func(s string) time.Time {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			panic(err)
		}
		return t
	}
	const msg = " web1 sshd[1]: Failed password for root from 45.134.26.50 port 40000 ssh2"
	for _, c := range []struct {
		name  string
		zone  string
		lines []line
	}{
		{"a file read forward across the change", "Europe/Berlin", []line{
			{text: "Sep 25 10:00:00", want: "2026-09-25T08:00:00Z"},
			{text: "Oct 25 01:59:00", want: "2026-10-24T23:59:00Z"},
			{text: "Oct 25 02:50:00", want: "2026-10-25T00:50:00Z"},
			{text: "Oct 25 02:59:59", want: "2026-10-25T00:59:59Z"},
			{text: "Oct 25 02:00:00", want: "2026-10-25T01:00:00Z"},
			{text: "Oct 25 02:10:00", want: "2026-10-25T01:10:00Z"},
			{text: "Oct 25 03:00:00", want: "2026-10-25T02:00:00Z"},
		}},
		{"the first line of a backlog is of the first pass", "Europe/Berlin", []line{
			{text: "Oct 25 02:30:00", want: "2026-10-25T00:30:00Z"},
		}},
		{"a month's lines, then the repeated hour", "Europe/Berlin", []line{
			{text: "Sep 25 10:00:00", want: "2026-09-25T08:00:00Z"},
			{text: "Oct 25 02:59:00", want: "2026-10-25T00:59:00Z"},
			{text: "Oct 25 02:01:00", want: "2026-10-25T01:01:00Z"},
			{text: "Nov 25 10:00:00", want: "2026-11-25T09:00:00Z"},
			{text: "Dec  5 10:00:00", want: "2026-12-05T09:00:00Z"},
		}},
		{"lines seconds out of order stay in their pass", "Europe/Berlin", []line{
			{text: "Oct 25 02:30:05", want: "2026-10-25T00:30:05Z"},
			{text: "Oct 25 02:30:04", want: "2026-10-25T00:30:04Z"},
			{text: "Oct 25 02:05:00", want: "2026-10-25T01:05:00Z"},
			{text: "Oct 25 02:04:58", want: "2026-10-25T01:04:58Z"},
			{text: "Oct 25 02:06:00", want: "2026-10-25T01:06:00Z"},
		}},
		{"a source silent for most of the hour goes back less, but back", "Europe/Berlin", []line{
			{text: "Oct 25 02:40:00", want: "2026-10-25T00:40:00Z"},
			{text: "Oct 25 02:20:00", want: "2026-10-25T01:20:00Z"},
		}},
		{"a line with an offset is the source's last too", "Europe/Berlin", []line{
			{text: "2026-10-25T02:40:00+01:00", want: "2026-10-25T01:40:00Z"},
			{text: "Oct 25 02:45:00", want: "2026-10-25T01:45:00Z"},
		}},
		{"RFC 3339 without an offset is a local time", "Europe/Berlin", []line{
			{text: "2026-10-25T02:50:00", want: "2026-10-25T00:50:00Z"},
			{text: "2026-10-25T02:01:00", want: "2026-10-25T01:01:00Z"},
		}},
		{"a live line read in the first pass", "Europe/Berlin", []line{
			{text: "Oct 25 02:15:00", read: utc("2026-10-25T00:15:01Z"), live: true, want: "2026-10-25T00:15:00Z"},
		}},
		{"a live line with none before, read in the second pass", "Europe/Berlin", []line{
			{text: "Oct 25 02:15:00", read: utc("2026-10-25T01:15:01Z"), live: true, want: "2026-10-25T01:15:00Z"},
		}},
		{"a live line after backlog lines of the first pass", "Europe/Berlin", []line{
			{text: "Oct 25 02:55:00", want: "2026-10-25T00:55:00Z"},
			{text: "Oct 25 02:01:00", read: utc("2026-10-25T01:01:01Z"), live: true, want: "2026-10-25T01:01:00Z"},
		}},
		{"New York repeats 01:00-01:59", "America/New_York", []line{
			{text: "Nov  1 01:50:00", want: "2026-11-01T05:50:00Z"},
			{text: "Nov  1 01:10:00", want: "2026-11-01T06:10:00Z"},
		}},
		{"Lord Howe repeats half an hour", "Australia/Lord_Howe", []line{
			{text: "Apr  5 01:50:00", want: "2026-04-04T14:50:00Z"},
			{text: "Apr  5 01:35:00", want: "2026-04-04T15:05:00Z"},
		}},
		{"spring's change repeats nothing", "Europe/Berlin", []line{
			{text: "Mar 29 01:59:00", want: "2026-03-29T00:59:00Z"},
			{text: "Mar 29 03:00:00", want: "2026-03-29T01:00:00Z"},
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := New(nil, nil, mustZone(t, c.zone))
			var seen SourceTimes
			for _, l := range c.lines {
				read := l.read
				if read.IsZero() {
					read = time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
				}
				v := d.ExplainInOrder(abusewatch.Record{Source: "auth.log", Line: l.text + msg, Read: read, Live: l.live}, &seen)
				if v.Outcome == Unparsed {
					t.Fatalf("%q: %v", l.text, v.Err)
				}
				if got := v.Header.Time.UTC().Format(time.RFC3339); got != l.want {
					t.Errorf("%q (live %v): %s, want %s", l.text, l.live, got, l.want)
				}
				if v.Event.Class != "" && !v.Event.Time.Equal(v.Header.Time) {
					t.Errorf("%q: the event is dated %v, its header %v", l.text, v.Event.Time, v.Header.Time)
				}
			}
		})
	}
}

// A log read whole is written forward: a line whose date lies more than a month before
// the line's before it follows a New Year, and the lines before it are of the year
// before. The last line's year is the one the line alone gets, as of the file's last
// write.
func TestBacklogYears(t *testing.T) {
	const msg = " web9 sshd[1]: m"
	for _, c := range []struct {
		name  string
		ref   time.Time
		lines []string // "stamp=year"
	}{
		{"more than a year: Nov 20 before January is last year's", time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC),
			[]string{"Nov 20 10:01:00=2025", "Jan 15 10:00:00=2026", "Jun 15 10:00:00=2026", "Dec  1 10:01:00=2026"}},
		{"exactly twelve months: the first day is last year's, not tomorrow", time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC),
			[]string{"Dec  8 00:10:00=2025", "Dec 31 23:59:59=2025", "Jan  1 00:00:01=2026", "Dec  7 11:00:00=2026"}},
		{"New Year read in January", time.Date(2027, 1, 1, 0, 5, 0, 0, time.UTC),
			[]string{"Dec 31 23:59:58=2026", "Dec 31 23:59:59=2026", "Jan  1 00:00:00=2027", "Jan  1 00:04:00=2027"}},
		{"December alone read in January", time.Date(2027, 1, 2, 0, 0, 0, 0, time.UTC),
			[]string{"Dec 30 10:00:00=2026", "Dec 31 10:00:00=2026"}},
		{"three New Years", time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC),
			[]string{"Oct  1 00:00:00=2023", "Mar  1 00:00:00=2024", "Jan  1 00:00:00=2025", "Nov  1 00:00:00=2025", "Jun  1 00:00:00=2026"}},
		{"Feb 29 goes back to the last leap year", time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC),
			[]string{"Feb 29 10:00:00=2024", "Feb 29 10:05:00=2024"}},
		{"Feb 29 of a leap year's backlog", time.Date(2028, 12, 7, 12, 0, 0, 0, time.UTC),
			[]string{"Nov 30 10:00:00=2027", "Feb 29 10:00:00=2028", "Mar  1 10:00:00=2028"}},
		{"a clock stepped back a day, and autumn's hour, are no New Year", time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC),
			[]string{"Oct 25 02:59:00=2026", "Oct 25 02:00:00=2026", "Dec  7 10:00:00=2026", "Dec  6 09:00:00=2026", "Dec  7 10:05:00=2026"}},
		{"a clock 24 days fast is no New Year either", time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC),
			[]string{"Dec  7 09:00:00=2026", "Dec 31 09:00:00=2026", "Dec  7 10:00:00=2026"}},
		{"lines with a year take no part", time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC),
			[]string{"Nov 20 10:01:00=2025", "Dec  1 2026 10:00:00=2026", "Jan 15 10:00:00=2026"}},
		{"more New Years than a log spans: each line alone", time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC),
			append(slices.Repeat([]string{"Dec  1 10:00:00=2026", "Jan  1 10:00:00=2026"}, maxNewYears+1), "Dec  7 10:00:00=2026")},
	} {
		t.Run(c.name, func(t *testing.T) {
			var lines []string
			var wants []string
			for _, l := range c.lines {
				stamp, year, _ := strings.Cut(l, "=")
				lines, wants = append(lines, "<38>"+stamp+msg), append(wants, year)
			}
			var years BacklogYears
			var offsets []int64
			offset := int64(0)
			for _, l := range lines {
				offset += int64(len(l)) + 1
				offsets = append(offsets, offset)
				years.Add(l, offset)
			}
			years.End(c.ref, time.UTC)
			d := New(nil, nil, time.UTC)
			for i, l := range lines {
				rec := abusewatch.Record{Line: l, Offset: offsets[i], Read: c.ref, Year: years.Year(offsets[i])}
				v := d.Explain(rec)
				if v.Outcome == Unparsed {
					t.Fatalf("%q: %v", l, v.Err)
				}
				if got := v.Header.Time.Format("2006"); got != wants[i] {
					t.Errorf("%q: dated %v, want the year %s", l, v.Header.Time, wants[i])
				}
			}
		})
	}
}
