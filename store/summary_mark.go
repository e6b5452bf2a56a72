package store

import (
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// metaSummaryMark is what the last daily summary had counted (SummaryMark, JSON).
var metaSummaryMark = []byte("summary_mark")

// SummaryMark is where the last daily summary left off, so that the next one counts
// what came after it and nothing twice: the shapes' counts and the sources' positions
// are cumulative, and only their difference from the mark belongs to a period. A line
// read late (a backlog read after a restart) moves them when it is read, whatever time
// it was logged at.
type SummaryMark struct {
	From time.Time `json:"from"` // the start of the period it covered
	Sent time.Time `json:"sent"` // the end of the period it covered
	// The incidents it went through (those whose last event was in its period, listed
	// or not): an incident of that period made after it (of lines read late) is not
	// among them, and the next summary shows it.
	Incidents []string              `json:"incidents,omitempty"`
	Shapes    map[string]int64      `json:"shapes"`  // each unknown-record shape's count then
	Sources   map[string]SourceMark `json:"sources"` // each configured source's position then
	// Start marks the start of the schedule, not a summary: the first summary covers
	// the time from From (the oldest line the store held then) on, Sent included, the
	// time of the outbox round that started it, whose reports no summary counted.
	Start bool `json:"start,omitempty"`
	// Begin is where the events not summarised before it began (the end of the summary
	// before, or the schedule's start): From, unless summaryMaxPeriod cut its period
	// short. Newest is the time of the newest event it counted (zero: none). A summary
	// sent while the clock was fast ends in the future once the clock is set back: the
	// next starts from these (daemon's resumeSummaries), which are not.
	Begin  time.Time `json:"begin,omitzero"`
	Newest time.Time `json:"newest,omitzero"`
	// NextSeq is the Seq of the first event stored after it: the next summary counts the
	// events stored from it on, whatever their date (store's SummaryEvents). 0: not kept
	// (a store of an older version), and the next counts by date alone.
	NextSeq uint64 `json:"next_seq,omitempty"`
}

// SourceMark is a source's position at a summary and when it was last seen to move: by
// Moved (the end of a summary's period), it had read up to a line it had not read at the
// summary before.
type SourceMark struct {
	Position Position  `json:"position"`
	Moved    time.Time `json:"moved"`
}

// LastSummaryMark returns the mark the last summary left; ok is false before the first
// summary that left one (a store of an older version knows only SummarySent).
func (s *Store) LastSummaryMark() (m SummaryMark, ok bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketMeta).Get(metaSummaryMark)
		if v == nil {
			return nil
		}
		ok = true
		if err := json.Unmarshal(v, &m); err != nil {
			return fmt.Errorf("the last summary's mark: %w", err)
		}
		return nil
	})
	return m, ok, err
}

// SetSummaryMark records m and, in the same transaction, that the summary was sent at
// m.Sent: the next summary starts where this one ended.
func (s *Store) SetSummaryMark(m SummaryMark) error {
	v, err := json.Marshal(m)
	if err != nil {
		return err
	}
	sent, err := m.Sent.MarshalText()
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketMeta)
		if err := b.Put(metaSummaryMark, v); err != nil {
			return err
		}
		return b.Put(metaSummary, sent)
	})
}
