package store

import (
	"testing"

	bolt "go.etcd.io/bbolt"
)

// LeaveAsBeforeAlertMarks makes the closed store at path what a version before the
// alert marks (5cd677f and earlier, schema 9 too) left: the same buckets but
// alert_marks, which it did not know, and nothing of them in meta. The daemon's
// upgrade test (alert_marks_upgrade_test.go) runs the pipeline of this version over it.
func LeaveAsBeforeAlertMarks(t *testing.T, path string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(bucketAlertMarks); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Delete(metaAlertMarksUnseeded)
	})
	if err != nil {
		t.Fatal(err)
	}
}
