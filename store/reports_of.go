package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/abusewatch/abusewatch"
	bolt "go.etcd.io/bbolt"
)

// bucketReportsOf lists every report under each incident it names (incident ID length
// (u16) | incident ID | report ID → nil; schema 13): incident_reports keeps one report
// per incident, and a network incident split among parties has a report per party.
var bucketReportsOf = []byte("incident_all_reports")

// reportsOfKey is the incident_all_reports key of report reportID naming incident
// incidentID: the incident's ID after its length, so that the keys of one incident sort
// together and no ID is the beginning of another's.
func reportsOfKey(incidentID, reportID string) []byte {
	k := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(incidentID)+len(reportID)), uint16(len(incidentID)))
	return append(append(k, incidentID...), reportID...)
}

// ReportsOf returns the reports of incident incidentID, in any state, oldest first,
// without their messages (Report reads one with its message): every report that names
// it, and the one ReportFor gives, which may not (MarkReportedBy: an earlier report
// holds all its lines). ReportFor keeps one: of a network incident split among parties,
// each party's share is a report of its own, and a follow-up to a party threads to that
// party's. It reads the reports of that incident alone (an index), not every report.
func (s *Store) ReportsOf(incidentID string) ([]abusewatch.Report, error) {
	var out []abusewatch.Report
	err := s.db.View(func(tx *bolt.Tx) error {
		reports := tx.Bucket(bucketReports)
		read := func(id []byte) error {
			v := reports.Get(id)
			if v == nil || slices.ContainsFunc(out, func(r abusewatch.Report) bool { return r.ID == string(id) }) {
				return nil
			}
			var r abusewatch.Report
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("report %s: %w", id, err)
			}
			out = append(out, r)
			return nil
		}
		prefix := reportsOfKey(incidentID, "")
		c := tx.Bucket(bucketReportsOf).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			if err := read(k[len(prefix):]); err != nil {
				return err
			}
		}
		if id := tx.Bucket(bucketReported).Get([]byte(incidentID)); id != nil {
			return read(id)
		}
		return nil
	})
	sortReports(out)
	return out, err
}
