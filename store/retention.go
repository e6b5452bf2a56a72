package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/abusewatch/abusewatch"
	bolt "go.etcd.io/bbolt"
)

// Retention work runs in many small write transactions of at most chunk blocks or keys
// each, so the daemon's ingestion (which needs the single bbolt writer) waits for one
// chunk at most, never for the whole pass.
const defaultChunk = 2000

// PruneEvents deletes the raw events that happened before before, whole blocks at a
// time: a block (one commit's events of one hour) goes when its newest event is before
// before, so up to an hour's worth older than before may stay. The days concerned are
// sealed first, so the daily counters keep their trace. It works in transactions of at
// most chunk blocks (0: a default) and returns how many events it deleted; on
// cancellation it stops between transactions, leaving a consistent store.
func (s *Store) PruneEvents(ctx context.Context, before time.Time, chunk int) (int, error) {
	if chunk <= 0 {
		chunk = defaultChunk
	}
	if err := s.sealBefore(dayNumber(before) + 1); err != nil {
		return 0, fmt.Errorf("store: sealing the counters of days to prune: %w", err)
	}
	last, limit := hourOf(before), before.UnixNano()
	total := 0
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n, more := 0, false
		s.mu.Lock()
		err := s.db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketBlocks)
			var keys [][]byte
			c := b.Cursor()
			for k, v := c.First(); k != nil && binary.BigEndian.Uint32(k) <= last; k, v = c.Next() {
				if len(keys) == chunk {
					more = true
					break
				}
				x, err := readBlockIndex(k, blockValue(b, k, v))
				if err != nil {
					return s.blockError(k, err)
				}
				if x.max < limit {
					keys = append(keys, slices.Clone(k))
					n += x.n
				}
			}
			for _, k := range keys {
				if err := deleteBlock(b, k); err != nil {
					return err
				}
				if err := tx.Bucket(bucketUnsealed).Delete(k); err != nil {
					return err
				}
				s.cache.forget(k)
			}
			meta := tx.Bucket(bucketMeta)
			return metaPut(meta, metaEvents, metaUint(meta, metaEvents)-uint64(min(uint64(n), metaUint(meta, metaEvents))))
		})
		s.mu.Unlock()
		if err != nil {
			return total, fmt.Errorf("store: pruning events before %s: %w", before.Format(time.RFC3339), err)
		}
		total += n
		if !more {
			return total, nil
		}
	}
}

// sealBefore seals the pending counters of the days before day.
func (s *Store) sealBefore(day uint32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var due []uint32
	for d := range s.pending.days {
		if d < day {
			due = append(due, d)
		}
	}
	if len(due) == 0 {
		return nil
	}
	slices.Sort(due)
	err := s.db.Update(func(tx *bolt.Tx) error {
		return s.seal(tx, due, &s.pending, func(uint32) bool { return false })
	})
	if err == nil {
		s.pending.drop(due)
	}
	return err
}

// PruneIncidents deletes the incidents whose last event is before before, with their
// index entries; the reports that name them stay (their mail is the record of what was
// sent). One that has a report is deleted only when its last event is before
// reportedBefore too (the earlier of the two counts): a later recurrence of its scope
// begins after it, and without it the same logs gave a follow-up report or none,
// depending on when retention ran. Reported incidents are few (the outbox's daily
// cap); the others are hundreds of thousands a half-year on a busy host, about 1.4 kB
// each on disk with their indexes. It works in transactions of at most chunk incidents
// (0: a default), so ingestion waits for one at most, and returns how many it deleted;
// on cancellation it stops between transactions.
func (s *Store) PruneIncidents(ctx context.Context, before, reportedBefore time.Time, chunk int) (int, error) {
	if chunk <= 0 {
		chunk = defaultChunk
	}
	// Which ones: one read of the index of last events, not one per transaction.
	if reportedBefore.After(before) {
		reportedBefore = before
	}
	expired := func(tx *bolt.Tx, id, head []byte) bool {
		h, ok := readHead(head)
		if !ok || h.last >= before.UnixNano() {
			return false
		}
		return h.last < reportedBefore.UnixNano() || tx.Bucket(bucketReported).Get(id) == nil
	}
	var ids [][]byte
	if err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketIncidentLast).ForEach(func(id, v []byte) error {
			if expired(tx, id, v) {
				ids = append(ids, bytes.Clone(id))
			}
			return nil
		})
	}); err != nil {
		return 0, err
	}
	return s.deleteInChunks(ctx, ids, chunk, func(tx *bolt.Tx, id []byte) (bool, error) {
		if !expired(tx, id, tx.Bucket(bucketIncidentLast).Get(id)) {
			return false, nil // gone, grown or reported since it was listed
		}
		inc, ok, err := getIncident(tx, id)
		if err != nil || !ok {
			return false, err
		}
		return true, deleteIncident(tx, inc)
	})
}

// deleteInChunks calls del for each of keys, in transactions of at most chunk, and
// returns how many del said it deleted. It stops between transactions when ctx ends:
// the retention pass's deletes must let ingestion in.
func (s *Store) deleteInChunks(ctx context.Context, keys [][]byte, chunk int, del func(tx *bolt.Tx, key []byte) (bool, error)) (int, error) {
	total := 0
	for len(keys) > 0 {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n := min(chunk, len(keys))
		err := s.db.Update(func(tx *bolt.Tx) error {
			for _, k := range keys[:n] {
				deleted, err := del(tx, k)
				if err != nil {
					return err
				}
				if deleted {
					total++
				}
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		keys = keys[n:]
	}
	return total, nil
}

// PruneReportMessages deletes the mails of the reports that are done with (sent, failed
// or rejected) and last changed before before. The reports stay, so the outbox and the
// queries still say to whom, when and about which incidents, and the deliveries still
// count for the cooldown and the limits. At the daily cap a year is 18,000 mails of 10
// kB and more, kept for ever before. It deletes at most chunk per transaction (0: a
// default), and returns how many.
func (s *Store) PruneReportMessages(ctx context.Context, before time.Time, chunk int) (int, error) {
	if chunk <= 0 {
		chunk = defaultChunk
	}
	var ids [][]byte
	if err := s.db.View(func(tx *bolt.Tx) error {
		reports := tx.Bucket(bucketReports)
		return tx.Bucket(bucketMessages).ForEach(func(id, _ []byte) error {
			v := reports.Get(id)
			if v == nil {
				ids = append(ids, bytes.Clone(id)) // of no report: nothing shows it
				return nil
			}
			var r abusewatch.Report
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("report %s: %w", id, err)
			}
			if reportDone(r.State) && r.Updated.Before(before) {
				ids = append(ids, bytes.Clone(id))
			}
			return nil
		})
	}); err != nil {
		return 0, err
	}
	return s.deleteInChunks(ctx, ids, chunk, func(tx *bolt.Tx, id []byte) (bool, error) {
		return true, tx.Bucket(bucketMessages).Delete(id)
	})
}

// reportDone says whether a report in state will not be sent unless the admin asks
// again: sent, failed or rejected.
func reportDone(state abusewatch.ReportState) bool {
	switch state {
	case abusewatch.ReportSent, abusewatch.ReportFailed, abusewatch.ReportRejected:
		return true
	}
	return false
}

// CountersKeptFrom is the first day (UTC) the counters are kept for, ok false when
// retention has pruned none: nothing of the days before it is known (their raw events
// were deleted before).
func (s *Store) CountersKeptFrom() (day time.Time, ok bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		if d := metaUint(tx.Bucket(bucketMeta), metaCountedFrom); d > 0 {
			day, ok = time.Unix(int64(d)*86400, 0).UTC(), true
		}
		return nil
	})
	return day, ok, err
}

// PruneCounters deletes the daily counters of days before before, the hourly ones of
// hours before it and the activity of scopes not active since, at most chunk keys per
// transaction (0: a default). Raw events of those days still kept are not counted
// again.
func (s *Store) PruneCounters(ctx context.Context, before time.Time, chunk int) (int, error) {
	if chunk <= 0 {
		chunk = defaultChunk
	}
	day, hour := dayNumber(before), hourNumber(before)
	s.mu.Lock()
	err := s.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		return metaPut(meta, metaCountedFrom, max(metaUint(meta, metaCountedFrom), uint64(day)))
	})
	if err == nil {
		var old []uint32
		for d := range s.pending.days {
			if d < day {
				old = append(old, d)
			}
		}
		s.pending.drop(old)
	}
	s.mu.Unlock()
	if err != nil {
		return 0, fmt.Errorf("store: pruning counters: %w", err)
	}
	// A day behind in the activity index is put in it before its parts go.
	if err := s.catchUpActive(ctx, day, s.pendingLimit); err != nil {
		return 0, fmt.Errorf("store: putting the days sealed early in the activity index: %w", err)
	}
	total := 0
	for _, t := range []struct {
		bucket []byte
		limit  uint32
	}{{bucketDays, day}, {bucketDaysAll, day}, {bucketHourly, hour}} {
		hi := binary.BigEndian.AppendUint32(nil, t.limit)
		for {
			if err := ctx.Err(); err != nil {
				return total, err
			}
			n := 0
			err := s.db.Update(func(tx *bolt.Tx) error {
				b := tx.Bucket(t.bucket)
				var keys [][]byte
				c := b.Cursor()
				for k, _ := c.First(); k != nil && bytes.Compare(k, hi) < 0 && len(keys) < chunk; k, _ = c.Next() {
					keys = append(keys, slices.Clone(k))
				}
				for _, k := range keys {
					if err := b.Delete(k); err != nil {
						return err
					}
				}
				n = len(keys)
				return nil
			})
			total += n
			if err != nil {
				return total, fmt.Errorf("store: pruning counters before %s: %w", before.Format(time.DateOnly), err)
			}
			if n < chunk {
				break
			}
		}
	}
	// The activity index is walked whole: once per day of the cut, not every pass.
	s.mu.Lock()
	done := s.activePruned == day
	s.mu.Unlock()
	if done {
		return total, nil
	}
	n, err := s.pruneActive(ctx, day, chunk)
	total += n
	if err != nil {
		return total, fmt.Errorf("store: pruning the activity index before %s: %w", before.Format(time.DateOnly), err)
	}
	s.mu.Lock()
	s.activePruned = day
	s.mu.Unlock()
	return total, nil
}

// OldestEvent is the time of the oldest raw event kept, and false when there is none.
func (s *Store) OldestEvent() (time.Time, bool, error) {
	return s.edgeEvent(false)
}

// NewestEvent is the time of the newest raw event kept, and false when there is none.
func (s *Store) NewestEvent() (time.Time, bool, error) {
	return s.edgeEvent(true)
}

// edgeEvent reads the blocks of the first (or last) hour stored: their own times are
// in their indexes.
func (s *Store) edgeEvent(newest bool) (time.Time, bool, error) {
	var t int64
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketBlocks)
		c := b.Cursor()
		k, v := c.First()
		step := c.Next
		if newest {
			k, v = c.Last()
			step = c.Prev
		}
		if k == nil {
			return nil
		}
		hour := binary.BigEndian.Uint32(k)
		for ; k != nil && binary.BigEndian.Uint32(k) == hour; k, v = step() {
			x, err := readBlockIndex(k, blockValue(b, k, v))
			if err != nil {
				return s.blockError(k, err)
			}
			switch {
			case !ok:
				t, ok = x.min, true
				if newest {
					t = x.max
				}
			case newest:
				t = max(t, x.max)
			default:
				t = min(t, x.min)
			}
		}
		return nil
	})
	return time.Unix(0, t).UTC(), ok, err
}

// EachEvent calls fn with the events from <= Time <= to, oldest first, in slices of at
// most batch events. A goroutine reads ahead, one hour of blocks per short read
// transaction, so a long pass (re-correlation) decompresses while fn works and
// neither holds one snapshot open nor blocks the writer's file growth. Blocks of one
// hour are read in the order they were stored; when they overlap in time (events that
// arrived out of order) the hour's events are sorted first.
func (s *Store) EachEvent(from, to time.Time, batch int, fn func([]abusewatch.Event) error) error {
	if batch <= 0 {
		batch = defaultChunk
	}
	batches := make(chan []abusewatch.Event, 1)
	stop := make(chan struct{})
	var readErr error
	go func() {
		defer close(batches)
		// The hours are decoded straight into the batches (an event is 200 bytes, and
		// 10 million of them copied twice more were a fifth of a pass's allocations);
		// what an hour brings beyond a batch starts the next.
		room := batch + batch/4
		buf := reusedEvents(room)
		send := func(b []abusewatch.Event) bool {
			select {
			case batches <- b:
				return true
			case <-stop:
				return false
			}
		}
		for hour, last := hourOf(from), hourOf(to); hour <= last; {
			var next uint32
			var err error
			if buf, next, err = s.appendHour(buf, hour, last, from, to); err != nil {
				readErr = fmt.Errorf("store: reading events: %w", err)
				return
			}
			if len(buf) >= batch {
				// The batch sent is the first of buf, which it owns whole (so that it can
				// be recycled): the rest, usually part of an hour, moves to the next
				// buffer. An hour of more than two batches is sent as slices of its own.
				off := 0
				for ; len(buf)-off >= 2*batch; off += batch {
					if !send(buf[off : off+batch : off+batch]) {
						return
					}
				}
				rest := append(reusedEvents(room), buf[off+batch:]...)
				clear(buf[off+batch:]) // past every batch sent: what no batch holds keeps no strings
				if !send(buf[off : off+batch]) {
					return
				}
				buf = rest
			}
			if next <= hour {
				break
			}
			hour = next
		}
		if len(buf) > 0 {
			send(buf)
		}
	}()
	defer func() {
		close(stop)
		for range batches { // let the reader finish
		}
	}()
	// Each batch is a slice of its own, filled once: fn may keep it, or Recycle it.
	for b := range batches {
		if err := fn(b); err != nil {
			return err
		}
	}
	return readErr
}

// Recycle takes back a batch EachEvent gave once nothing refers to its events any more
// (their strings stay valid): a later batch is decoded into its memory. A pass over 10
// million events allocated 2.5 GB of batches otherwise, and the collector ran for it.
func (s *Store) Recycle(batch []abusewatch.Event) {
	b := batch[:cap(batch)]
	clear(b)
	b = b[:0]
	freeEvents.Put(&b)
}

// freeEvents are batches handed back to Recycle.
var freeEvents sync.Pool

// reusedEvents is an empty slice with room for n events: a recycled batch's, or new.
func reusedEvents(n int) []abusewatch.Event {
	if b, ok := freeEvents.Get().(*[]abusewatch.Event); ok && cap(*b) >= n {
		return *b
	}
	return make([]abusewatch.Event, 0, n)
}

// appendHour appends to evs the events with from <= Time <= to of the first hour from
// hour to last that has blocks, in time order, and returns the hour after it.
func (s *Store) appendHour(evs []abusewatch.Event, hour, last uint32, from, to time.Time) ([]abusewatch.Event, uint32, error) {
	h, ok := uint32(0), false
	err := s.db.View(func(tx *bolt.Tx) error {
		k, _ := tx.Bucket(bucketBlocks).Cursor().Seek(blockKey(hour, 0))
		if k != nil && binary.BigEndian.Uint32(k) <= last {
			h, ok = binary.BigEndian.Uint32(k), true
		}
		return nil
	})
	if err != nil || !ok {
		return evs, last + 1, err
	}
	start := time.Unix(int64(h)*3600, 0)
	lo, hi := maxTime(from, start), minTime(to, start.Add(time.Hour-time.Nanosecond))
	first := len(evs)
	overlap, prevMax := false, int64(0)
	err = s.eachBlock(lo, hi, func(_ []byte, x *blockIndex) error {
		overlap = overlap || (len(evs) > first && x.min < prevMax)
		prevMax = max(prevMax, x.max)
		at := len(evs)
		var err error
		if evs, err = x.appendRows(evs, nil); err != nil {
			return err
		}
		if x.min < lo.UnixNano() || x.max > hi.UnixNano() { // else every event is within
			kept := slices.DeleteFunc(evs[at:], func(e abusewatch.Event) bool { return e.Time.Before(lo) || e.Time.After(hi) })
			evs = evs[:at+len(kept)]
		}
		return nil
	})
	if overlap {
		sortEvents(evs[first:])
	}
	return evs, h + 1, err
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
