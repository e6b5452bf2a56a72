package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/abusewatch/abusewatch"
	bolt "go.etcd.io/bbolt"
)

// bucketAlertMarks holds the possible compromises mailed to the admin: incident ID →
// u64 UnixNano of the mail | u64 UnixNano of the newest login it showed (0: none). The
// daemon decides from them whether a growing incident is mailed again; kept in memory
// only, a restarted daemon (an upgrade, a crash, systemd's Restart=) mailed the same
// alert once more every time, and missed another login from an address it had mailed
// about. A mark is of use for a day after its mail, so the bucket holds about a day's
// alerts.
var bucketAlertMarks = []byte("alert_marks")

// AlertMark says that a possible compromise was mailed to the admin at Mailed, showing
// logins up to Login (zero: none).
type AlertMark struct {
	Login, Mailed time.Time
}

// SaveAlertMarks stores marks (by incident ID) and deletes, in the same transaction,
// those mailed before forgetBefore (zero: none) and those that cannot be read.
func (s *Store) SaveAlertMarks(marks map[string]AlertMark, forgetBefore time.Time) error {
	set := make(map[string][]byte, len(marks))
	for id, m := range marks {
		set[id] = encodeAlertMark(m)
	}
	valid := func(v []byte) bool { _, ok := decodeAlertMark(v); return ok }
	if err := s.saveDated(bucketAlertMarks, set, nil, forgetBefore, valid); err != nil {
		return fmt.Errorf("store: saving the marks of the alerts mailed: %w", err)
	}
	return nil
}

// AlertMarks returns the marks of the alerts mailed at or after since, by incident ID.
// A mark that cannot be read is left out and named in the error (errCorruptAlertMark),
// beside the others: one damaged entry must not make the daemon forget every alert.
func (s *Store) AlertMarks(since time.Time) (map[string]AlertMark, error) {
	marks := map[string]AlertMark{}
	var damaged []error
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAlertMarks)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			m, ok := decodeAlertMark(v)
			switch {
			case !ok:
				damaged = append(damaged, fmt.Errorf("incident %q: %w (%d bytes)", k, errCorruptAlertMark, len(v)))
			case !m.Mailed.Before(since):
				marks[string(k)] = m
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: reading the marks of the alerts mailed: %w", err)
	}
	if len(damaged) > 0 {
		return marks, fmt.Errorf("store: alert marks: %w", errors.Join(damaged...))
	}
	return marks, nil
}

var errCorruptAlertMark = errors.New("corrupt alert mark")

// metaAlertMarksUnseeded is in meta from the first open of a store kept by a version
// before the marks (it kept them in memory) until SeedAlertMarks: what that version
// had told the admin, as far as the store says, for the first round of this one to
// mark. Its value: u64 the sequence number of the last event that version stored, then
// for each incident of a login off the work list without a report, uvarint the length
// of its ID, its ID and u64 UnixNano of its last event then.
var metaAlertMarksUnseeded = []byte("alert_marks_unseeded")

// noteUnseededAlertMarks notes in meta (metaAlertMarksUnseeded) what a version before
// the marks had told the admin: init calls it at the first open of its store, which is
// as that version left it. An incident of a login leaves the work list once its alert
// went (or one within the hour had told it) and comes back to it when it grows; one
// still on it at the upgrade was not told yet, and one the new version grows before it
// seeds was told. Only the first round knows which were told lately (its now), and what
// the logs said while the daemon was stopped is read before it: so the incidents, and
// the last event of that version, are noted here.
func noteUnseededAlertMarks(tx *bolt.Tx) error {
	v := binary.BigEndian.AppendUint64(nil, metaUint(tx.Bucket(bucketMeta), metaSeq))
	unreported, reported := tx.Bucket(bucketUnreported), tx.Bucket(bucketReported)
	err := tx.Bucket(bucketIncidentLast).ForEach(func(id, head []byte) error {
		// A head written before schema 5 does not say whether a login succeeded: its
		// incident ended before the versions of the alerts.
		if h, ok := readHead(head); ok && h.known && h.success && unreported.Get(id) == nil && reported.Get(id) == nil {
			v = binary.AppendUvarint(v, uint64(len(id)))
			v = binary.BigEndian.AppendUint64(append(v, id...), uint64(h.last))
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tx.Bucket(bucketMeta).Put(metaAlertMarksUnseeded, v)
}

// AlertSeed is what a version before the alert marks had told the admin, for the marks
// of this one (SeedAlertMarks).
type AlertSeed struct {
	// Incidents are the possible compromises it mailed about lately: those of a login
	// whose last event was at or after the since of UnmarkedAlerts and that were off the
	// work list without a report, as stored now.
	Incidents []abusewatch.Incident
	// ReadUpTo is the sequence number of the last event it stored: it mailed the
	// logins up to it, at the round after it read them.
	ReadUpTo uint64
}

// UnmarkedAlerts returns, while the store of a version before the marks is not seeded
// (ok), what that version had told the admin of the incidents whose last event was at
// or after since when it stopped. An incident that cannot be read is left out and named
// in the error, beside the others, as is the rest of a note that cannot be read: the
// seed goes on with what is known.
func (s *Store) UnmarkedAlerts(since time.Time) (seed AlertSeed, ok bool, err error) {
	var damaged []error
	err = s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketMeta).Get(metaAlertMarksUnseeded)
		if v == nil {
			return nil
		}
		ok = true
		if len(v) < 8 {
			damaged = append(damaged, fmt.Errorf("%w: %d bytes", errCorruptAlertSeed, len(v)))
			return nil
		}
		seed.ReadUpTo, v = binary.BigEndian.Uint64(v), v[8:]
		for len(v) > 0 {
			n, w := binary.Uvarint(v)
			if w <= 0 || uint64(len(v)-w) < n+8 {
				damaged = append(damaged, fmt.Errorf("%w: its last %d bytes", errCorruptAlertSeed, len(v)))
				return nil
			}
			id, last := v[w:w+int(n)], int64(binary.BigEndian.Uint64(v[w+int(n):]))
			v = v[w+int(n)+8:]
			if last < since.UnixNano() {
				continue
			}
			inc, stored, err := getIncident(tx, id)
			switch {
			case err != nil:
				damaged = append(damaged, err)
			case stored && inc.Success && tx.Bucket(bucketReported).Get(id) == nil: // not forgotten or re-made since
				seed.Incidents = append(seed.Incidents, inc)
			}
		}
		return nil
	})
	if err != nil {
		return AlertSeed{}, false, fmt.Errorf("store: reading what the version before the alert marks had mailed: %w", err)
	}
	sortIncidents(seed.Incidents)
	if len(damaged) > 0 {
		return seed, ok, fmt.Errorf("store: what the version before the alert marks had mailed: %w", errors.Join(damaged...))
	}
	return seed, ok, nil
}

var errCorruptAlertSeed = errors.New("corrupt note of the alerts to mark (" + string(metaAlertMarksUnseeded) + ")")

// SeedAlertMarks stores marks, those of incidents not marked already, and notes the
// store seeded (UnmarkedAlerts has nothing more to say), in one transaction.
func (s *Store) SeedAlertMarks(marks map[string]AlertMark) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAlertMarks)
		for id, m := range marks {
			if b.Get([]byte(id)) != nil {
				continue // mailed by this version since: that mark is the truer
			}
			if err := b.Put([]byte(id), encodeAlertMark(m)); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Delete(metaAlertMarksUnseeded)
	})
	if err != nil {
		return fmt.Errorf("store: seeding the marks of the alerts mailed by the version before them: %w", err)
	}
	return nil
}

func encodeAlertMark(m AlertMark) []byte {
	v := binary.BigEndian.AppendUint64(make([]byte, 0, 16), uint64(m.Mailed.UnixNano()))
	var login int64
	if !m.Login.IsZero() {
		login = m.Login.UnixNano()
	}
	return binary.BigEndian.AppendUint64(v, uint64(login))
}

func decodeAlertMark(v []byte) (AlertMark, bool) {
	if len(v) != 16 {
		return AlertMark{}, false
	}
	m := AlertMark{Mailed: time.Unix(0, int64(binary.BigEndian.Uint64(v))).UTC()}
	if login := int64(binary.BigEndian.Uint64(v[8:])); login != 0 {
		m.Login = time.Unix(0, login).UTC()
	}
	return m, true
}
