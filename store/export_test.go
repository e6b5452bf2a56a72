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

// SetOpenHooks sets, for the test, what openBolt tells when it has opened a file or
// found it replaced, and what Compact runs before it renames its copy over the file.
func SetOpenHooks(t *testing.T, opened func(path, what string), beforeRename func(file string)) {
	openedHook, compactHook = opened, beforeRename
	t.Cleanup(func() { openedHook, compactHook = nil, nil })
}
