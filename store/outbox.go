package store

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/abusewatch/abusewatch"
	bolt "go.etcd.io/bbolt"
)

// AddReport puts r into the outbox and marks its incidents as reported, unless a report
// with the same ID exists already: a report is created once. It says whether it added r.
func (s *Store) AddReport(r abusewatch.Report) (bool, error) {
	added := false
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketReports)
		if b.Get([]byte(r.ID)) != nil {
			return nil
		}
		v, err := json.Marshal(r)
		if err != nil {
			return err
		}
		if err := b.Put([]byte(r.ID), v); err != nil {
			return err
		}
		for _, id := range r.Incidents {
			if err := tx.Bucket(bucketReported).Put([]byte(id), []byte(r.ID)); err != nil {
				return err
			}
		}
		added = true
		return nil
	})
	return added, err
}

// Report returns the report with id.
func (s *Store) Report(id string) (abusewatch.Report, bool, error) {
	var r abusewatch.Report
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketReports).Get([]byte(id))
		if v == nil {
			return nil
		}
		ok = true
		return json.Unmarshal(v, &r)
	})
	return r, ok, err
}

// Reports returns the reports in any of states (all when none is given), oldest first.
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
	return s.db.Update(func(tx *bolt.Tx) error {
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
		nv, err := json.Marshal(r)
		if err != nil {
			return err
		}
		return b.Put([]byte(id), nv)
	})
}
