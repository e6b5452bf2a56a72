package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/abusewatch/abusewatch"
	bolt "go.etcd.io/bbolt"
)

// Exclusion is a network the admin said never to report (`abusewatch exclude`, `pardon`).
type Exclusion struct {
	Network netip.Prefix `json:"network"`
	Reason  string       `json:"reason,omitempty"`
	Added   time.Time    `json:"added"`
	Pardon  bool         `json:"pardon,omitempty"` // its incidents were forgotten too
	// Since when it is excluded (an exclusion pardoned later keeps it, where Added
	// moves) and the Seq of the first event stored since: AddExclusion sets them, and
	// keeps them when the network is excluded again. Both zero: recorded by a version
	// before them, excluded since ever (PastExclusion).
	From    time.Time `json:"from,omitzero"`
	FromSeq uint64    `json:"from_seq,omitempty"`
}

// PastExclusion is a time a network was excluded or pardoned, from its exclusion to its
// removal: the lines of it dated then, or stored then (read while it lasted, whatever
// their date), were declared ours or authorised, and never count toward an incident
// (correlate.HeldBack). RemoveExclusion records it, ForgetPastExclusions forgets it
// once what it held back is gone.
type PastExclusion struct {
	Network netip.Prefix `json:"network"`
	Pardon  bool         `json:"pardon,omitempty"`
	Reason  string       `json:"reason,omitempty"`
	// Dated from From (zero: since ever) to To, not included.
	From time.Time `json:"from,omitzero"`
	To   time.Time `json:"to"`
	// Stored with a Seq from FromSeq (0: since ever) to ToSeq, not included.
	FromSeq uint64 `json:"from_seq,omitempty"`
	ToSeq   uint64 `json:"to_seq"`
}

// bucketPastExclusions holds the PastExclusions by network | ToSeq | To. It is made
// when the first is recorded, not with the store: a store without it has none, and
// opening one read-only (the queries) or with an older version needs nothing new.
var bucketPastExclusions = []byte("past_exclusions")

// AddExclusion records e, replacing an earlier exclusion of the same network, which keeps
// its start (From, FromSeq); a new one starts now: at e.Added, and with the next event
// stored.
func (s *Store) AddExclusion(e Exclusion) error {
	e.Network = abusewatch.UnmapPrefix(e.Network)
	key := prefixKey(e.Network)
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketExclusions)
		if v := b.Get(key); v != nil {
			var old Exclusion
			if err := json.Unmarshal(v, &old); err != nil {
				return fmt.Errorf("exclusion of %s: %w", e.Network, err)
			}
			e.From, e.FromSeq = old.From, old.FromSeq
		} else {
			// Commit gives out its Seqs in its own transaction, which bbolt orders
			// before or after this one: the events it stores after this one are
			// numbered from here on.
			e.From, e.FromSeq = e.Added, metaUint(tx.Bucket(bucketMeta), metaSeq)+1
		}
		v, err := json.Marshal(e)
		if err != nil {
			return err
		}
		return b.Put(key, v)
	})
}

// RemoveExclusion deletes the exclusion of network p (that network, not one around it or
// within it) and returns it; ok is false when p was not excluded. The time it lasted,
// up to now and to the events stored so far, is kept as a PastExclusion.
func (s *Store) RemoveExclusion(p netip.Prefix, now time.Time) (e Exclusion, ok bool, err error) {
	key := prefixKey(abusewatch.UnmapPrefix(p))
	err = s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketExclusions)
		v := b.Get(key)
		if v == nil {
			return nil
		}
		if err := json.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("exclusion of %s: %w", p, err)
		}
		ok = true
		past := PastExclusion{Network: e.Network, Pardon: e.Pardon, Reason: e.Reason, From: e.From, FromSeq: e.FromSeq,
			To: now, ToSeq: metaUint(tx.Bucket(bucketMeta), metaSeq) + 1}
		pv, err := json.Marshal(past)
		if err != nil {
			return err
		}
		pb, err := tx.CreateBucketIfNotExists(bucketPastExclusions)
		if err != nil {
			return err
		}
		pk := binary.BigEndian.AppendUint64(slices.Clone(key), past.ToSeq)
		pk = binary.BigEndian.AppendUint64(pk, uint64(now.UnixNano()))
		if err := pb.Put(pk, pv); err != nil {
			return err
		}
		return b.Delete(key)
	})
	return e, ok, err
}

// PastExclusions returns the times networks were excluded and no longer are, oldest
// removal first within each network.
func (s *Store) PastExclusions() ([]PastExclusion, error) {
	var out []PastExclusion
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketPastExclusions)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var e PastExclusion
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("past exclusion %x: %w", k, err)
			}
			out = append(out, e)
			return nil
		})
	})
	return out, err
}

// ForgetPastExclusions deletes the PastExclusions that ended before before, which the
// retention pass sets past what they hold back: the raw events (read during one, an
// event is dated before its end, but for a host whose clock is ahead) and the daily
// counters (the recurrence rule leaves out the days a network was excluded all along).
func (s *Store) ForgetPastExclusions(before time.Time) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketPastExclusions)
		if b == nil {
			return nil
		}
		var gone [][]byte
		err := b.ForEach(func(k, v []byte) error {
			var e PastExclusion
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("past exclusion %x: %w", k, err)
			}
			if e.To.Before(before) {
				gone = append(gone, slices.Clone(k))
			}
			return nil
		})
		for _, k := range gone {
			if err == nil {
				err = b.Delete(k)
			}
		}
		return err
	})
}

// Exclusions returns every recorded exclusion.
func (s *Store) Exclusions() ([]Exclusion, error) {
	var out []Exclusion
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketExclusions).ForEach(func(k, v []byte) error {
			var e Exclusion
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("exclusion %x: %w", k, err)
			}
			out = append(out, e)
			return nil
		})
	})
	return out, err
}

// ForgetIncidents deletes the incidents that lie in p (about an address of p, or a
// network within p: one about a larger network that p only overlaps stays, and the
// outbox reports it without p's addresses) and rejects the reports not sent yet whose
// incidents all lie in p, in one transaction. It returns how many of
// each it changed. It holds only the incidents' IDs, and reads each incident when it
// deletes it: a busy network's pardon is hundreds of thousands (212,418 for one /16 of
// the 10M bench store), which held decoded took a heap of 1.5 GB; now 245 MB, and 6.3 s
// against 11.1.
func (s *Store) ForgetIncidents(p netip.Prefix, now time.Time) (incidents, reports int, err error) {
	p = abusewatch.UnmapPrefix(p)
	err = s.db.Update(func(tx *bolt.Tx) error {
		var ids [][]byte
		c := tx.Bucket(bucketIncidentAddrs).Cursor()
		lo := p.Addr().Unmap().As16()
		for k, _ := c.Seek(lo[:]); len(k) > 16 && p.Contains(netip.AddrFrom16([16]byte(k)).Unmap()); k, _ = c.Next() {
			ids = append(ids, bytes.Clone(k[16:]))
		}
		// By ID: the deletes walk the trees kept by ID in their order.
		slices.SortFunc(ids, bytes.Compare)
		gone := map[string]bool{}
		for _, id := range ids {
			inc, ok, err := getIncident(tx, id)
			if err != nil {
				return err
			}
			if !ok || gone[inc.ID] || !within(inc, p) {
				continue
			}
			if err := deleteIncident(tx, inc); err != nil {
				return err
			}
			gone[inc.ID] = true
		}
		incidents = len(gone)
		var err error
		reports, err = rejectUnsent(tx, now, "pardoned by the admin", func(id string) (bool, error) { return gone[id], nil })
		return err
	})
	return incidents, reports, err
}

// RejectUnsentReportsIn rejects the reports not sent yet whose incidents all come from
// addresses (or networks) in p, which the admin excluded: nothing about it leaves. A
// report that also names sources elsewhere stays as it is. It returns how many.
func (s *Store) RejectUnsentReportsIn(p netip.Prefix, now time.Time) (reports int, err error) {
	p = abusewatch.UnmapPrefix(p)
	err = s.db.Update(func(tx *bolt.Tx) error {
		reports, err = rejectUnsent(tx, now, "its network was excluded by the admin", func(id string) (bool, error) {
			inc, ok, err := getIncident(tx, []byte(id))
			if err != nil || !ok {
				return false, err
			}
			return within(inc, p), nil
		})
		return err
	})
	return reports, err
}

// within says whether inc lies in p (masked, unmapped): a network's incident (network
// scale, a /24 that recurs) when its network does, another when its address does. A
// network's incident names an address of it too (the first, for the lookup), which
// says nothing of the others.
func within(inc abusewatch.Incident, p netip.Prefix) bool {
	if n := abusewatch.UnmapPrefix(inc.Network); !inc.Addr.IsValid() || inc.AboutNetwork() {
		return n.IsValid() && n.Bits() >= p.Bits() && p.Contains(n.Addr())
	}
	return p.Contains(inc.Addr.Unmap())
}

// rejectUnsent rejects, with reason, the reports not sent yet (pending approval, queued,
// held) whose every incident is covered, and returns how many.
func rejectUnsent(tx *bolt.Tx, now time.Time, reason string, covered func(id string) (bool, error)) (int, error) {
	rb := tx.Bucket(bucketReports)
	rc := rb.Cursor()
	type update struct{ k, v []byte }
	var updates []update // written after the walk: a cursor does not survive a change under it
	for k, v := rc.First(); k != nil; k, v = rc.Next() {
		var r abusewatch.Report
		if err := json.Unmarshal(v, &r); err != nil {
			return 0, fmt.Errorf("report %s: %w", k, err)
		}
		switch r.State {
		case abusewatch.ReportPendingApproval, abusewatch.ReportQueued, abusewatch.ReportHeld:
		default:
			continue
		}
		all := len(r.Incidents) > 0
		for _, id := range r.Incidents {
			ok, err := covered(id)
			if err != nil {
				return 0, err
			}
			if all = ok; !all {
				break
			}
		}
		if !all {
			continue
		}
		r.Reject(now, reason)
		nv, err := json.Marshal(r)
		if err != nil {
			return 0, err
		}
		updates = append(updates, update{bytes.Clone(k), nv})
	}
	for _, u := range updates {
		if err := rb.Put(u.k, u.v); err != nil {
			return 0, err
		}
	}
	return len(updates), nil
}
