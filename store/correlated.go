package store

import (
	"encoding/binary"
	"time"

	"github.com/abusewatch/abusewatch"
	bolt "go.etcd.io/bbolt"
)

// The events of a batch are committed (with the positions read up to) in one
// transaction, and the incidents they make are written in a second one: a SIGKILL, an
// OOM kill or a power cut between the two, or a second transaction the disk refuses,
// left events stored, their lines never read again, and no incident ever made of them.
// The correlation mark says how far the events were correlated, so that what lies past
// it is correlated again at the next start (or once the store takes the incidents).

// metaCorrelated holds the correlation mark (correlationMark, 32 bytes).
var metaCorrelated = []byte("correlated")

// correlationMark: the events with a Seq up to through were correlated and their
// incidents stored. Those after it, up to known, lie between from and to (UnixNano);
// those after known were committed by a version that kept no mark, and are taken as
// correlated, as everything stored before the mark existed is.
type correlationMark struct {
	through, known uint64
	from, to       int64
}

// readCorrelationMark reads the mark in meta. A store without one (new, or kept by a
// version before the mark) starts with the mark at its newest event (seq, the last Seq
// given out): on an upgrade, what an older version stored is not judged again in a pass
// nobody asked for. The same holds for what an older version committed after the mark
// (downgraded, then upgraded again).
func readCorrelationMark(meta *bolt.Bucket) correlationMark {
	seq := metaUint(meta, metaSeq)
	v := meta.Get(metaCorrelated)
	if len(v) != 32 {
		return correlationMark{through: seq, known: seq}
	}
	m := correlationMark{
		through: binary.BigEndian.Uint64(v),
		known:   binary.BigEndian.Uint64(v[8:]),
		from:    int64(binary.BigEndian.Uint64(v[16:])),
		to:      int64(binary.BigEndian.Uint64(v[24:])),
	}
	if m.known < seq {
		if m.through >= m.known {
			m.through = seq
		}
		m.known = seq
	}
	return m
}

func (m correlationMark) put(meta *bolt.Bucket) error {
	v := make([]byte, 0, 32)
	v = binary.BigEndian.AppendUint64(v, m.through)
	v = binary.BigEndian.AppendUint64(v, m.known)
	v = binary.BigEndian.AppendUint64(v, uint64(m.from))
	v = binary.BigEndian.AppendUint64(v, uint64(m.to))
	return meta.Put(metaCorrelated, v)
}

// advance records that the events up to through were correlated.
func (m *correlationMark) advance(through uint64) {
	if through <= m.through {
		return
	}
	m.through = min(through, m.known)
	if m.through == m.known {
		m.from, m.to = 0, 0
	}
}

// add records events with Seq first to last, between from and to, committed and not
// correlated yet.
func (m *correlationMark) add(first, last uint64, from, to int64) {
	if m.through >= m.known { // nothing else waits: the span is this batch's
		m.through, m.from, m.to = first-1, from, to
	} else {
		m.from, m.to = min(m.from, from), max(m.to, to)
	}
	m.known = last
}

// markCommitted records in tx, in Commit before the last Seq given out moves, the events
// of a batch, out (their Seq assigned, in Seq order), as not correlated yet, and the
// correlation noted since the mark was last written: one small value in the transaction
// that commits the batch.
func (s *Store) markCommitted(tx *bolt.Tx, out []abusewatch.Event) error {
	meta := tx.Bucket(bucketMeta)
	m := readCorrelationMark(meta)
	m.advance(s.correlated.Load())
	if len(out) > 0 {
		from, to := out[0].Time.UnixNano(), out[0].Time.UnixNano()
		for _, e := range out[1:] {
			from, to = min(from, e.Time.UnixNano()), max(to, e.Time.UnixNano())
		}
		m.add(out[0].Seq, out[len(out)-1].Seq, from, to)
	}
	return m.put(meta)
}

// NoteCorrelated records that the events up to Seq through were correlated and made no
// incident to store: the mark moves with the next transaction that writes it (the next
// Commit, PutBatchIncidents, MarkCorrelated or Close), not in one of its own. Killed
// before, the next start correlates them again, which changes nothing.
func (s *Store) NoteCorrelated(through uint64) {
	for {
		old := s.correlated.Load()
		if through <= old || s.correlated.CompareAndSwap(old, through) {
			return
		}
	}
}

// PutBatchIncidents stores the incidents a batch made or grew (PutIncidents) and, in
// the same transaction, that the events up to Seq through were correlated.
func (s *Store) PutBatchIncidents(incs []abusewatch.Incident, through uint64) error {
	ws := make([]IncidentWrite, len(incs))
	for i := range incs {
		ws[i] = NewIncidentWrite(incs[i])
	}
	ws = lastOfEach(ws)
	now := time.Now()
	return s.db.Update(func(tx *bolt.Tx) error {
		if err := putIncidentWrites(tx, ws, now); err != nil {
			return err
		}
		meta := tx.Bucket(bucketMeta)
		m := readCorrelationMark(meta)
		m.advance(max(through, s.correlated.Load()))
		return m.put(meta)
	})
}

// MarkCorrelated records at once that the events up to Seq through were correlated:
// after a catch-up (Uncorrelated).
func (s *Store) MarkCorrelated(through uint64) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		m := readCorrelationMark(meta)
		m.advance(max(through, s.correlated.Load()))
		return m.put(meta)
	})
}

// writeNotedCorrelation writes the correlation noted (NoteCorrelated) when the mark is
// behind it: at Close, so that a clean stop leaves nothing to catch up.
func (s *Store) writeNotedCorrelation() error {
	noted := s.correlated.Load()
	if noted == 0 {
		return nil
	}
	var behind bool
	if err := s.db.View(func(tx *bolt.Tx) error {
		m := readCorrelationMark(tx.Bucket(bucketMeta))
		behind = m.through < min(noted, m.known)
		return nil
	}); err != nil || !behind {
		return err
	}
	return s.MarkCorrelated(noted)
}

// Uncorrelated are the events committed and not correlated: a stop (SIGKILL, a power
// cut) between a batch's commit and the storing of its incidents, or a correlation that
// failed (a full disk).
type Uncorrelated struct {
	Events   int       // how many were committed (retention may have deleted some since)
	From, To time.Time // they lie between From and To
	Through  uint64    // the last Seq among them: MarkCorrelated(Through) once they are
}

// Uncorrelated returns the events committed after the correlation mark; Events is 0
// when there are none.
func (s *Store) Uncorrelated() (Uncorrelated, error) {
	var u Uncorrelated
	err := s.db.View(func(tx *bolt.Tx) error {
		m := readCorrelationMark(tx.Bucket(bucketMeta))
		m.advance(s.correlated.Load())
		if m.through >= m.known {
			return nil
		}
		u = Uncorrelated{Events: int(m.known - m.through), From: time.Unix(0, m.from).UTC(), To: time.Unix(0, m.to).UTC(), Through: m.known}
		return nil
	})
	return u, err
}
