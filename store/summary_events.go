package store

import (
	"encoding/binary"
	"time"

	"github.com/abusewatch/abusewatch"
)

// SummaryEvents returns the events a daily summary counts, oldest first, at most limit
// of them (0: all), and how many there were in all: of those dated from <= Time < to,
// the ones stored since the summary before (next <= Seq) or dated after what it counted
// (Time > after), and stored by the time the summary read LastSeq (Seq <= through). By
// when it was stored as well as by its date, a line read after the summary of its time
// went (a log file that appeared late, a syslog sender's queue) is in the next one.
// A block holds the events of one commit, whose Seqs are all on one side of a LastSeq
// read between commits: its key's Seq tells which, without decoding it.
func (s *Store) SummaryEvents(next, through uint64, after, from, to time.Time, limit int) ([]abusewatch.Event, int, error) {
	var out []abusewatch.Event
	n := 0
	to = to.Add(-time.Nanosecond)
	err := s.eachBlock(from, to, func(key []byte, x *blockIndex) error {
		first := binary.BigEndian.Uint64(key[4:])
		stored := first >= next
		if first > through || !stored && x.max <= after.UnixNano() {
			return nil
		}
		if limit > 0 && len(out) >= limit && stored && x.min >= from.UnixNano() && x.max <= to.UnixNano() {
			n += x.n // wholly counted: the index has the count
			return nil
		}
		rows, err := x.decodeRows()
		if err != nil {
			return err
		}
		for _, e := range rows {
			if e.Time.Before(from) || e.Time.After(to) || !stored && !e.Time.After(after) {
				continue
			}
			n++
			if limit <= 0 || len(out) < limit {
				out = append(out, e)
			}
		}
		return nil
	})
	sortEvents(out)
	return out, n, err
}
