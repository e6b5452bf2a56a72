package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

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
