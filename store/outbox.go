package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/abusewatch/abusewatch"
	bolt "go.etcd.io/bbolt"
)

// AddReport puts r into the outbox and marks its incidents as reported, unless a report
// with the same ID exists already: a report is created once. It says whether it added r.
// The message is kept apart from the rest (Reports lists them without).
func (s *Store) AddReport(r abusewatch.Report) (bool, error) {
	added := false
	err := s.db.Update(func(tx *bolt.Tx) (err error) {
		added, err = addReport(tx, r)
		return err
	})
	return added, err
}

// AddReportOf is AddReport for a report composed from the incidents as IncidentsAsStored
// read them: digests holds the IncidentDigest each of r's incidents had then. It adds r
// and marks them reported only if each is still stored as it was read, and reported by
// no other report, in the transaction that marks them: the daemon's main loop grows
// incidents (PutIncidents) while the outbox composes, and an incident marked reported
// with growth its mail does not hold would never be reported in full (a reported
// incident no longer grows: what follows makes a follow-up). Otherwise it adds nothing
// and returns the IDs of those that changed (or went, or were reported since): the
// report must be composed again from them as they are now.
func (s *Store) AddReportOf(r abusewatch.Report, digests map[string]uint64) (added bool, changed []string, err error) {
	err = s.db.Update(func(tx *bolt.Tx) error {
		if changed, err = changedSince(tx, r.Incidents, digests, ""); err != nil || len(changed) > 0 {
			return err
		}
		added, err = addReport(tx, r)
		return err
	})
	return added, changed, err
}

// AddReportsOf is AddReportOf for several reports made from the same incidents as read
// (the shares of a network incident whose addresses have different contacts), in one
// transaction: the incidents are marked reported with every share added, or with none
// (a crash between the shares' transactions told some parties and marked the incident
// reported). It returns how many reports were added.
func (s *Store) AddReportsOf(rs []abusewatch.Report, digests map[string]uint64) (added int, changed []string, err error) {
	err = s.db.Update(func(tx *bolt.Tx) error {
		var ids []string
		for _, r := range rs {
			for _, id := range r.Incidents {
				if !slices.Contains(ids, id) {
					ids = append(ids, id)
				}
			}
		}
		if changed, err = changedSince(tx, ids, digests, ""); err != nil || len(changed) > 0 {
			return err
		}
		for _, r := range rs {
			ok, err := addReport(tx, r)
			if err != nil {
				return err
			}
			if ok {
				added++
			}
		}
		return nil
	})
	if err != nil {
		added = 0
	}
	return added, changed, err
}

// MarkReportedBy marks each incident of held (ID → the ID of a report) reported by that
// report, whose incidents hold all its lines, if it is still stored as read (digests) and
// not reported: the report says what it would. It returns the IDs marked.
func (s *Store) MarkReportedBy(held map[string]string, digests map[string]uint64) (marked []string, err error) {
	err = s.db.Update(func(tx *bolt.Tx) error {
		ids := slices.Sorted(maps.Keys(held))
		changed, err := changedSince(tx, ids, digests, "")
		if err != nil {
			return err
		}
		reported, unreported, reports := tx.Bucket(bucketReported), tx.Bucket(bucketUnreported), tx.Bucket(bucketReports)
		for _, id := range ids {
			if slices.Contains(changed, id) || reports.Get([]byte(held[id])) == nil {
				continue
			}
			if err := reported.Put([]byte(id), []byte(held[id])); err != nil {
				return err
			}
			if err := unreported.Delete([]byte(id)); err != nil {
				return err
			}
			marked = append(marked, id)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: marking incidents reported by earlier reports: %w", err)
	}
	return marked, nil
}

// changedSince returns those of ids whose stored incident's digest is not digests[id]
// (a missing one counts as changed), or that a report other than replacing covers.
func changedSince(tx *bolt.Tx, ids []string, digests map[string]uint64, replacing string) ([]string, error) {
	var changed []string
	lastIdx, reported := tx.Bucket(bucketIncidentLast), tx.Bucket(bucketReported)
	for _, id := range ids {
		if rep := reported.Get([]byte(id)); rep != nil && string(rep) != replacing {
			changed = append(changed, id)
			continue
		}
		d, err := storedDigest(tx, lastIdx, []byte(id))
		if err != nil {
			return nil, err
		}
		if d == 0 || d != digests[id] {
			changed = append(changed, id)
		}
	}
	return changed, nil
}

// storedDigest is the IncidentDigest of the stored incident id, 0 when none is stored:
// from its incident_last head, or, for one written before schema 5, from its body.
func storedDigest(tx *bolt.Tx, lastIdx *bolt.Bucket, id []byte) (uint64, error) {
	h, ok := readHead(lastIdx.Get(id))
	if !ok {
		return 0, nil
	}
	if h.known {
		return h.digest, nil
	}
	inc, ok, err := getIncident(tx, id)
	if err != nil || !ok {
		return 0, err
	}
	return IncidentDigest(inc), nil
}

// addReport is AddReport inside tx.
func addReport(tx *bolt.Tx, r abusewatch.Report) (bool, error) {
	b := tx.Bucket(bucketReports)
	if b.Get([]byte(r.ID)) != nil {
		return false, nil
	}
	if err := tx.Bucket(bucketMessages).Put([]byte(r.ID), r.Message); err != nil {
		return false, err
	}
	r.Message = nil
	v, err := json.Marshal(r)
	if err != nil {
		return false, err
	}
	if err := b.Put([]byte(r.ID), v); err != nil {
		return false, err
	}
	for _, id := range r.Incidents {
		if err := tx.Bucket(bucketReported).Put([]byte(id), []byte(r.ID)); err != nil {
			return false, err
		}
		if err := tx.Bucket(bucketReportsOf).Put(reportsOfKey(id, r.ID), nil); err != nil {
			return false, err
		}
		if err := tx.Bucket(bucketUnreported).Delete([]byte(id)); err != nil {
			return false, err
		}
	}
	return true, nil
}

// ErrIncidentsChanged is ReplaceReport's when an incident of the new report is no longer
// stored as it was read: nothing is changed, and the old report stays as it was.
var ErrIncidentsChanged = errors.New("store: incidents changed since the report was composed")

// ReplaceReport rejects report old with reason and adds r in its place (AddReport), in
// one transaction: the outbox never holds both to send, nor neither. An old report that
// some recipients took (Delivered) is not rejected but ends sent, with reason as its
// note: it went, not to all. It says whether it
// added r (a report with its ID may exist already). digests, when not nil, are those of
// r's incidents as read to compose it (AddReportOf): when one changed since, or another
// report than old covers it, it changes nothing and returns ErrIncidentsChanged.
func (s *Store) ReplaceReport(old, reason string, now time.Time, r abusewatch.Report, digests map[string]uint64) (bool, error) {
	added := false
	err := s.db.Update(func(tx *bolt.Tx) error {
		if digests != nil {
			changed, err := changedSince(tx, r.Incidents, digests, old)
			if err != nil {
				return err
			}
			if len(changed) > 0 {
				return fmt.Errorf("%w: %s", ErrIncidentsChanged, strings.Join(changed, ", "))
			}
		}
		if err := changeReport(tx, old, func(o *abusewatch.Report) error {
			if len(o.Delivered) > 0 {
				o.State, o.Updated, o.Error, o.Waiting, o.NextAttempt = abusewatch.ReportSent, now, reason, "", time.Time{}
				return nil
			}
			o.Reject(now, reason)
			return nil
		}); err != nil {
			return err
		}
		var err error
		added, err = addReport(tx, r)
		return err
	})
	return added, err
}

// RewriteReportMessage gives report id the mail of nr, with its subject and what it
// masks (Redacted), written now: the same incidents to the same party, composed again
// (a network's incident without the addresses excluded since, or with another [mail]
// redact). A nil nr.Message keeps the mail (composed again, it reads as it did) and
// records the rest. Its state stays. A report that went or is going (sent, sending)
// or was rejected since is never written again: it says false and changes nothing.
func (s *Store) RewriteReportMessage(id string, nr abusewatch.Report, now time.Time) (rewritten bool, err error) {
	err = s.db.Update(func(tx *bolt.Tx) error {
		if err := changeReport(tx, id, func(r *abusewatch.Report) error {
			switch r.State {
			case abusewatch.ReportSent, abusewatch.ReportSending, abusewatch.ReportRejected:
				return errGone
			}
			r.Subject, r.Redacted, r.Updated = nr.Subject, nr.Redacted, now
			return nil
		}); err != nil {
			return err
		}
		rewritten = true
		if nr.Message == nil {
			return nil
		}
		return tx.Bucket(bucketMessages).Put([]byte(id), nr.Message)
	})
	if errors.Is(err, errGone) {
		return false, nil
	}
	return rewritten, err
}

// errGone is RewriteReportMessage's, inside its transaction: the report is no longer
// to be sent.
var errGone = errors.New("store: the report went or was rejected")

// ExpireUnreported takes ids off the work list of unreported incidents without a report:
// the outbox is done with them though it reported nothing (they ended too long ago,
// their network was excluded since, or they are a possible compromise the admin was
// warned of). They stay stored, and an incident that grows later is on the list again.
func (s *Store) ExpireUnreported(ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	keys := make([][]byte, len(ids))
	for i, id := range ids {
		keys[i] = []byte(id)
	}
	return s.db.Update(func(tx *bolt.Tx) error { return unlist(tx, keys) })
}

// unlist deletes ids from the work list of unreported incidents.
func unlist(tx *bolt.Tx, ids [][]byte) error {
	b := tx.Bucket(bucketUnreported)
	for _, id := range ids {
		if err := b.Delete(id); err != nil {
			return err
		}
	}
	return nil
}

// ExpireUnreportedBefore takes off the work list of unreported incidents those whose
// last event is before t (see ExpireUnreported), reading only the index of their times.
// It returns how many, and the oldest last event among them.
func (s *Store) ExpireUnreportedBefore(t time.Time) (n int, oldest time.Time, err error) {
	oldestNano := int64(math.MaxInt64)
	find := func(tx *bolt.Tx) (stale [][]byte, err error) {
		lastIdx := tx.Bucket(bucketIncidentLast)
		err = tx.Bucket(bucketUnreported).ForEach(func(id, _ []byte) error {
			if h, ok := readHead(lastIdx.Get(id)); ok && h.last < t.UnixNano() {
				stale = append(stale, bytes.Clone(id))
				oldestNano = min(oldestNano, h.last)
			}
			return nil
		})
		return stale, err
	}
	// Looked for first without writing: most rounds find none, and a write transaction
	// syncs the file even when it changes nothing.
	if err := s.db.View(func(tx *bolt.Tx) error {
		stale, err := find(tx)
		n = len(stale)
		return err
	}); err != nil || n == 0 {
		return 0, time.Time{}, err
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		stale, err := find(tx)
		if err != nil {
			return err
		}
		n = len(stale)
		return unlist(tx, stale)
	})
	return n, time.Unix(0, oldestNano).UTC(), err
}

// Report returns the report with id, with its message.
func (s *Store) Report(id string) (abusewatch.Report, bool, error) {
	var r abusewatch.Report
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketReports).Get([]byte(id))
		if v == nil {
			return nil
		}
		ok = true
		if err := json.Unmarshal(v, &r); err != nil {
			return err
		}
		r.Message = bytes.Clone(tx.Bucket(bucketMessages).Get([]byte(id)))
		return nil
	})
	return r, ok, err
}

// Reports returns the reports in any of states (all when none is given), oldest first,
// without their messages (Report reads one with its message).
func (s *Store) Reports(states ...abusewatch.ReportState) ([]abusewatch.Report, error) {
	var out []abusewatch.Report
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketReports).ForEach(func(k, v []byte) error {
			var r abusewatch.Report
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("report %s: %w", k, err)
			}
			if len(states) == 0 || slices.Contains(states, r.State) {
				out = append(out, r)
			}
			return nil
		})
	})
	sortReports(out)
	return out, err
}

// UpdateReport changes the stored report id with change, in one transaction.
func (s *Store) UpdateReport(id string, change func(*abusewatch.Report) error) error {
	return s.db.Update(func(tx *bolt.Tx) error { return changeReport(tx, id, change) })
}

// changeReport applies change to report id inside tx.
func changeReport(tx *bolt.Tx, id string, change func(*abusewatch.Report) error) error {
	b := tx.Bucket(bucketReports)
	v := b.Get([]byte(id))
	if v == nil {
		return fmt.Errorf("store: no report %s", id)
	}
	var r abusewatch.Report
	if err := json.Unmarshal(v, &r); err != nil {
		return fmt.Errorf("report %s: %w", id, err)
	}
	if err := change(&r); err != nil {
		return err
	}
	r.Message = nil // kept apart, as it was written
	nv, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return b.Put([]byte(id), nv)
}

// Delivery is one report handed to the transport: when, to whom and about which
// network. The outbox keeps these (apart from the reports, which the admin may reject
// or a retention may drop) so the per-recipient cooldown, the per-domain hourly limit
// and the daily cap count every mail that really left.
type Delivery struct {
	Report  string       `json:"report"`
	Time    time.Time    `json:"time"`
	Emails  []string     `json:"emails"`
	Network netip.Prefix `json:"network"`
	// Refused are those of Emails whose server refused the report: it reached them,
	// and counts as a delivery does.
	Refused []string `json:"refused,omitempty"`
}

// FinishDelivery changes report id with change and, when d is not nil, records the
// delivery, in one transaction: a report is never marked sent without being counted.
func (s *Store) FinishDelivery(id string, change func(*abusewatch.Report) error, d *Delivery) error {
	return s.FinishAttempt(id, change, d, nil, nil)
}

// FinishAttempt is FinishDelivery that also marks the mailboxes of refused as refusing
// (RefusedMailboxes) and forgets the marks of the mailboxes took, which took the
// message, in the same transaction. d, when not nil, is every mail that reached a
// recipient's server, taken or refused there: the cooldown and the limits count it.
func (s *Store) FinishAttempt(id string, change func(*abusewatch.Report) error, d *Delivery, refused []RefusedMailbox, took []string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		if err := changeReport(tx, id, change); err != nil {
			return err
		}
		if err := clearRefused(tx, took); err != nil {
			return err
		}
		if err := markRefused(tx, refused); err != nil || d == nil {
			return err
		}
		db := tx.Bucket(bucketDeliveries)
		seq, err := db.NextSequence()
		if err != nil {
			return err
		}
		dv, err := json.Marshal(d)
		if err != nil {
			return err
		}
		return db.Put(timeKey(d.Time, seq), dv)
	})
}

// Deliveries returns the deliveries at or after since, oldest first.
func (s *Store) Deliveries(since time.Time) ([]Delivery, error) {
	var out []Delivery
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketDeliveries).Cursor()
		for k, v := c.Seek(timeKey(since, 0)); k != nil; k, v = c.Next() {
			var d Delivery
			if err := json.Unmarshal(v, &d); err != nil {
				return fmt.Errorf("delivery %x: %w", k, err)
			}
			out = append(out, d)
		}
		return nil
	})
	return out, err
}

// EventsBetween returns the events with from <= Time < to, oldest first, at most limit
// of them (0: all), and how many there were in all: the daily summary's input.
func (s *Store) EventsBetween(from, to time.Time, limit int) ([]abusewatch.Event, int, error) {
	var out []abusewatch.Event
	n := 0
	to = to.Add(-time.Nanosecond)
	err := s.eachBlock(from, to, func(_ []byte, x *blockIndex) error {
		if limit > 0 && len(out) >= limit && x.min >= from.UnixNano() && x.max <= to.UnixNano() {
			n += x.n // wholly in the range: the index has the count
			return nil
		}
		rows, err := x.decodeRows()
		if err != nil {
			return err
		}
		for _, e := range rows {
			if e.Time.Before(from) || e.Time.After(to) {
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

var metaSummary = []byte("summary_sent") // when the last daily summary went to the admin

// SummarySent returns when the last daily summary was sent (or the schedule started).
func (s *Store) SummarySent() (time.Time, bool, error) {
	var t time.Time
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketMeta).Get(metaSummary)
		if v == nil {
			return nil
		}
		ok = true
		return t.UnmarshalText(v)
	})
	return t, ok, err
}

// SetSummarySent records when the daily summary was sent.
func (s *Store) SetSummarySent(t time.Time) error {
	v, err := t.MarshalText()
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(metaSummary, v) })
}
