package store

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Forgotten is what ForgetUnreportedIncidents knew of the incidents it deleted, for
// KeepForgotten once the pass made them again: when each was first stored, and whether
// the outbox was done with it (off the work list without a report: a possible
// compromise the admin was mailed about, one older than policy.max_age, one of a
// network excluded since).
type Forgotten struct {
	heads map[string]forgottenHead // by incident ID
	// The possible compromises among them, by address.
	logins map[netip.Addr][]forgottenLogin
}

type forgottenHead struct {
	first, last, stored int64 // UnixNano; stored 0: not known (stored before schema 11)
	listed, success     bool  // on the work list; a login succeeded
}

// forgottenLogin is a forgotten possible compromise: its first and last event
// (UnixNano), and whether the admin was told (it was off the work list).
type forgottenLogin struct {
	first, last int64
	told        bool
}

// Len is how many incidents were forgotten.
func (f Forgotten) Len() int { return len(f.heads) }

// told says whether the logins of a possible compromise of addr from first to last
// (UnixNano) were told to the admin in the alert about a forgotten one: its alert showed
// the logins of its address from near before its first event to near after its last
// (correlate.success_lookback), and none of the address not told yet meets them.
func (f Forgotten) told(addr netip.Addr, first, last int64, near time.Duration) bool {
	told := false
	for _, l := range f.logins[addr.Unmap()] {
		from, to := l.first-int64(near), l.last+int64(near)
		switch {
		case !l.told && first <= to && last >= from:
			return false
		case l.told && first >= from && last <= to:
			told = true
		}
	}
	return told
}

// KeepForgotten gives the incidents the pass after ForgetUnreportedIncidents made again
// what the forgotten ones had, in one transaction; madeSince is when the pass began
// (the store is its alone: what was first stored since, it made), near the
// correlate.success_lookback of the alerts. An incident made again under its ID keeps
// when it was first stored: the summary lists as new only what was made in its period,
// and every incident made again would be. One the outbox was done with stays off the
// work list unless it grew past its last event then. A possible compromise stays off
// it, under its ID or another (a changed rule names a login's incident anew), when the
// alert about a forgotten one showed its logins (told): otherwise the next round mailed
// the admin again about a login mailed days before (the alert marks last a day). It
// returns how many it took off the list.
func (s *Store) KeepForgotten(f Forgotten, madeSince time.Time, near time.Duration) (unlisted int, err error) {
	if f.Len() == 0 {
		return 0, nil
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		lastIdx, unreported := tx.Bucket(bucketIncidentLast), tx.Bucket(bucketUnreported)
		type change struct {
			id, head []byte
			unlist   bool
		}
		var changes []change
		err := lastIdx.ForEach(func(id, v []byte) error {
			h, ok := readHead(v)
			listed := unreported.Get(id) != nil
			old, forgotten := f.heads[string(id)]
			if !ok || len(v) != 33 || !listed && !forgotten {
				return nil
			}
			c := change{id: slices.Clone(id)}
			if forgotten && h.stored != old.stored {
				c.head = binary.BigEndian.AppendUint64(v[:25:25], uint64(old.stored))
			}
			switch {
			case !listed:
			case forgotten && !old.listed && h.last <= old.last:
				// Made again as it was, and the outbox was done with it: a possible
				// compromise of a network or a recurrence, which names no one address,
				// too (it went back on the list after every rebuild).
				c.unlist = true
			case h.success && (forgotten || h.stored >= madeSince.UnixNano()):
				inc, ok, err := getIncident(tx, id)
				if err != nil {
					return err
				}
				c.unlist = ok && f.told(inc.Addr, h.first, h.last, near)
			}
			if c.unlist || c.head != nil {
				changes = append(changes, c)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, c := range changes {
			if c.head != nil {
				if err := lastIdx.Put(c.id, c.head); err != nil {
					return err
				}
			}
			if c.unlist {
				if err := unreported.Delete(c.id); err != nil {
					return err
				}
				unlisted++
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: keeping what the incidents made again had: %w", err)
	}
	return unlisted, nil
}
