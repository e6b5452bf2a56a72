package daemon

import (
	"time"
)

// The time a record gives is its host's clock, and a host's clock can be wrong: a fleet
// host days fast, an RTC reset to 2020, a VM restored from a snapshot. These rules say
// what the daemon believes of it, the same for every source: the syslog listener's
// messages (syslogRecord), a followed file's lines, the journal's entries and a scan's
// lines (Pipeline.Ingest, against the time each record was read; a scan's, against the
// file's last write).

// maxAhead is how far after it was read a record's time may be: a day, for a host in
// another time zone that writes no offset. A time later than that is not believed (no
// report claims an attack "to come"): the record is dated when it was read, and the
// host's clock is warned of. A year-less time gets its year by detect.WithYear, which
// takes up to a month ahead for this year's from the syslog listener and for a followed
// file's line read as it was written (abusewatch.Record.Live), so that a fast clock's
// lines are dated when read rather than a year back; a day for a backlog (a file's
// first read, lines written while the daemon was stopped), which may be months old.
const maxAhead = 24 * time.Hour

// believedTime is t, the time a record read at read gives, or read when t is more than
// maxAhead after it; ahead says which.
func believedTime(t, read time.Time) (believed time.Time, ahead bool) {
	if !read.IsZero() && t.After(read.Add(maxAhead)) {
		return read, true
	}
	return t, false
}

// staleOnArrival says whether a message the syslog listener received at read is dated
// more than maxAge (policy.max_age) before it: its sender's clock is far behind (an RTC
// reset, a restored VM), or a relay held it that long. Such a message makes no event:
// dated as it says, it could only be reported as an attack of years ago (to a store with
// nothing newer, max_age counts from the newest event, which is its own), and dated when
// it arrived, a relay's backlog (rsyslog's imfile sending a host's old log) would be
// reported as current. Lines read from files are exempt: reading an old log for the
// first time keeps what it read and reports it as on the day. With no max_age (0), any
// age is kept.
func staleOnArrival(t, read time.Time, maxAge time.Duration) bool {
	return maxAge > 0 && !read.IsZero() && t.Before(read.Add(-maxAge))
}
