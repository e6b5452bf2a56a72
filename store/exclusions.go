package store

import (
	"encoding/json"
	"fmt"
	"net/netip"
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
}

// AddExclusion records e, replacing an earlier exclusion of the same network.
func (s *Store) AddExclusion(e Exclusion) error {
	e.Network = e.Network.Masked()
	v, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketExclusions).Put(prefixKey(e.Network), v)
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

// ForgetIncidents deletes the incidents of addresses in p and rejects the reports not
// sent yet whose incidents all lie in p. It returns how many of each it changed.
func (s *Store) ForgetIncidents(p netip.Prefix, now time.Time) (incidents, reports int, err error) {
	p = p.Masked()
	err = s.db.Update(func(tx *bolt.Tx) error {
		gone := map[string]bool{}
		c := tx.Bucket(bucketIncidentAddrs).Cursor()
		lo := p.Addr().Unmap().As16()
		var doomed []abusewatch.Incident
		for k, _ := c.Seek(lo[:]); len(k) > 16 && p.Contains(netip.AddrFrom16([16]byte(k)).Unmap()); k, _ = c.Next() {
			inc, ok, err := getIncident(tx, k[16:])
			if err != nil {
				return err
			}
			if ok {
				doomed = append(doomed, inc)
			}
		}
		for _, inc := range doomed {
			gone[inc.ID] = true
			if err := deleteIncident(tx, inc); err != nil {
				return err
			}
		}
		incidents = len(gone)
		rb := tx.Bucket(bucketReports)
		rc := rb.Cursor()
		for k, v := rc.First(); k != nil; k, v = rc.Next() {
			var r abusewatch.Report
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("report %s: %w", k, err)
			}
			switch r.State {
			case abusewatch.ReportPendingApproval, abusewatch.ReportQueued, abusewatch.ReportHeld:
			default:
				continue
			}
			all := len(r.Incidents) > 0
			for _, id := range r.Incidents {
				all = all && gone[id]
			}
			if !all {
				continue
			}
			r.State, r.Updated, r.Error = abusewatch.ReportRejected, now, "pardoned by the admin"
			nv, err := json.Marshal(r)
			if err != nil {
				return err
			}
			if err := rb.Put(k, nv); err != nil {
				return err
			}
			reports++
		}
		return nil
	})
	return incidents, reports, err
}
