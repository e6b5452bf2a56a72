package store

import (
	"encoding/json"
	"fmt"

	"github.com/abusewatch/abusewatch"
	bolt "go.etcd.io/bbolt"
)

// LatestIncident returns the newest incident with key, if any.
func (s *Store) LatestIncident(key string) (abusewatch.Incident, bool, error) {
	var inc abusewatch.Incident
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		id := tx.Bucket(bucketOpen).Get([]byte(key))
		if id == nil {
			return nil
		}
		v := tx.Bucket(bucketIncidents).Get(id)
		if v == nil {
			return fmt.Errorf("incident %s for key %s is missing", id, key)
		}
		ok = true
		return json.Unmarshal(v, &inc)
	})
	return inc, ok, err
}

// PutIncidents creates or updates incidents and makes each the newest for its key.
func (s *Store) PutIncidents(incs []abusewatch.Incident) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		for _, inc := range incs {
			v, err := json.Marshal(inc)
			if err != nil {
				return err
			}
			if err := tx.Bucket(bucketIncidents).Put([]byte(inc.ID), v); err != nil {
				return err
			}
			if err := tx.Bucket(bucketOpen).Put([]byte(inc.Key), []byte(inc.ID)); err != nil {
				return err
			}
		}
		return nil
	})
}

// Incidents returns every incident, oldest first.
func (s *Store) Incidents() ([]abusewatch.Incident, error) {
	var out []abusewatch.Incident
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketIncidents).ForEach(func(k, v []byte) error {
			var inc abusewatch.Incident
			if err := json.Unmarshal(v, &inc); err != nil {
				return fmt.Errorf("incident %s: %w", k, err)
			}
			out = append(out, inc)
			return nil
		})
	})
	sortIncidents(out)
	return out, err
}

// UnreportedIncidents returns the incidents no report has been written for yet.
func (s *Store) UnreportedIncidents() ([]abusewatch.Incident, error) {
	all, err := s.Incidents()
	if err != nil {
		return nil, err
	}
	var out []abusewatch.Incident
	err = s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketReported)
		for _, inc := range all {
			if b.Get([]byte(inc.ID)) == nil {
				out = append(out, inc)
			}
		}
		return nil
	})
	return out, err
}

// ReportFor returns the ID of the report that covers incident id, if any.
func (s *Store) ReportFor(incidentID string) (string, bool, error) {
	var id string
	err := s.db.View(func(tx *bolt.Tx) error {
		id = string(tx.Bucket(bucketReported).Get([]byte(incidentID)))
		return nil
	})
	return id, id != "", err
}
