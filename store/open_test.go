package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// fileSum is the sha256 of the file at path: whether an open changed it.
func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// storeWithEvents makes a closed store at a new path holding n events.
func storeWithEvents(t *testing.T, n int) string {
	t.Helper()
	s, path := openNew(t)
	if _, err := s.Commit(benchEvents(n, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), time.Second, 1, true), nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// A process that opened the store just before compact renamed its copy over it waited
// for the old file's lock, then stored into a deleted file: its events, reports and
// exclusions were lost. It must open the path again and store into the copy.
func TestOpenDuringCompactStoresIntoTheCopy(t *testing.T) {
	for _, mode := range []openMode{openCreate, openExisting, openReadOnly} {
		path := storeWithEvents(t, 500)
		opened := make(chan string, 8)
		type result struct {
			s   *Store
			err error
		}
		got := make(chan result, 1)
		var started atomic.Bool // Compact's own open is not the one watched
		SetOpenHooks(t, func(p, what string) {
			if p == path && started.Load() {
				opened <- what
			}
		}, func(string) {
			started.Store(true)
			// Compact holds the file's lock and its copy is ready: an opener starts
			// now and opens the old file before the rename.
			go func() {
				s, err := open(path, 10*time.Second, mode)
				got <- result{s, err}
			}()
			if what := <-opened; what != "opened" {
				t.Errorf("mode %d: the opener %s first", mode, what)
			}
		})
		if _, err := Compact(path, time.Second); err != nil {
			t.Fatal(err)
		}
		r := <-got
		if r.err != nil {
			t.Fatalf("mode %d: the open waiting on compact: %v", mode, r.err)
		}
		SetOpenHooks(t, nil, nil)
		// The open returned: what it told is in the channel.
		what := "told nothing"
		select {
		case what = <-opened:
		default:
		}
		if what != "replaced" {
			t.Errorf("mode %d: after the lock, the opener %s; want it to find the file replaced", mode, what)
		}
		if mode == openReadOnly {
			r.s.Close()
			continue
		}
		// The copy it waited behind was compact's, being renamed: not a stale one.
		if n := r.s.Notes(); len(n) != 0 {
			t.Errorf("mode %d: the opener waiting on compact says %q", mode, n)
		}
		ex := Exclusion{Network: netip.MustParsePrefix("45.134.7.0/24"), Reason: "our partner", Added: time.Now()}
		if err := r.s.AddExclusion(ex); err != nil {
			t.Fatal(err)
		}
		if _, err := r.s.Commit([]abusewatch.Event{ev("45.134.26.17", time.Now())}, nil); err != nil {
			t.Fatal(err)
		}
		if err := r.s.Close(); err != nil {
			t.Fatal(err)
		}
		s, err := OpenReadOnly(path, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		all, err := s.Exclusions()
		n, _ := s.EventCount()
		s.Close()
		if err != nil || len(all) != 1 || n != 501 {
			t.Errorf("mode %d: after compact, the store at the path holds %d exclusions (%v) and %d events; want the 1 and 501 stored",
				mode, len(all), err, n)
		}
	}
}

// A query opens the store read-only: the file is the same byte for byte afterwards, and
// a write through it is refused.
func TestQueryLeavesTheFileAsItIs(t *testing.T) {
	path := storeWithEvents(t, 2000)
	before := fileSum(t, path)
	s, err := OpenReadOnly(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s.EventCount(); err != nil || n != 2000 {
		t.Errorf("EventCount = %d, %v", n, err)
	}
	if err := s.AddExclusion(Exclusion{Network: netip.MustParsePrefix("45.134.7.0/24")}); !errors.Is(err, bolterrors.ErrDatabaseReadOnly) {
		t.Errorf("a write through a read-only open: %v", err)
	}
	// Two queries at once: readers share the file.
	s2, err := OpenReadOnly(path, 100*time.Millisecond)
	if err != nil {
		t.Errorf("a second query beside the first: %v", err)
	} else {
		s2.Close()
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if fileSum(t, path) != before {
		t.Error("a read-only open changed the file")
	}
}

// otherProgramsFile is a bbolt file of another program, with a bucket "users".
func otherProgramsFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "other.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("users"))
		if err != nil {
			return err
		}
		return b.Put([]byte("alice"), []byte("admin"))
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	return path
}

// abusewatch made its 22 buckets in another program's bbolt file (a wrong [store] path)
// and then stored events into it. Every opener refuses it, names it and leaves it.
func TestAnotherProgramsFileIsRefusedAndLeft(t *testing.T) {
	path := otherProgramsFile(t)
	before := fileSum(t, path)
	for name, open := range map[string]func(string, time.Duration) (*Store, error){
		"Open": Open, "OpenExisting": OpenExisting, "OpenReadOnly": OpenReadOnly,
	} {
		s, err := open(path, time.Second)
		if err == nil {
			s.Close()
			t.Errorf("%s opened another program's file", name)
			continue
		}
		if !errors.Is(err, ErrNotOurs) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "[store] path") {
			t.Errorf("%s: %v; want ErrNotOurs naming the file and [store] path", name, err)
		}
	}
	if _, err := Compact(path, time.Second); !errors.Is(err, ErrNotOurs) {
		t.Errorf("Compact: %v; want ErrNotOurs", err)
	}
	if fileSum(t, path) != before {
		t.Error("another program's file was changed")
	}
}

// A file of an older schema, or one without a bucket this version makes, is not
// migrated by a query: it says how to upgrade it, and leaves it.
func TestReadOnlyOpenOfAnOlderStore(t *testing.T) {
	path := storeWithEvents(t, 10)
	LeaveAsBeforeAlertMarks(t, path)
	older := storeWithEvents(t, 10)
	db, err := bolt.Open(older, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put([]byte("schema"), binary.BigEndian.AppendUint32(nil, SchemaVersion-1))
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	for _, p := range []string{path, older} {
		before := fileSum(t, p)
		if _, err := OpenReadOnly(p, time.Second); !errors.Is(err, ErrOldSchema) {
			t.Errorf("%s: %v; want ErrOldSchema", p, err)
		}
		if fileSum(t, p) != before {
			t.Errorf("%s was changed", p)
		}
	}
	// The daemon's open upgrades it, and then a query reads it.
	s, err := Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = OpenReadOnly(path, time.Second); err != nil {
		t.Fatalf("after the upgrade: %v", err)
	}
	s.Close()
}

// A bbolt file without a bucket (made, then killed before the first commit) is a new
// store to the daemon, and nothing stored yet to a query.
func TestFileWithoutBucketsIsNew(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := OpenReadOnly(path, time.Second); !errors.Is(err, ErrNoDatabase) {
		t.Errorf("query: %v; want ErrNoDatabase", err)
	}
	s, err := Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}

// A file that is no bbolt database, or whose two meta pages are both damaged, says what
// it is and what to do, names the file and is left as it is.
func TestNotABoltFileSaysWhatToDo(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "text.db")
	if err := os.WriteFile(text, bytes.Repeat([]byte("not a database\n"), 2000), 0o600); err != nil {
		t.Fatal(err)
	}
	metas := storeWithEvents(t, 100)
	b, err := os.ReadFile(metas)
	if err != nil {
		t.Fatal(err)
	}
	ps := os.Getpagesize()
	clear(b[:2*ps]) // both meta pages
	if err := os.WriteFile(metas, b, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{text, metas} {
		before := fileSum(t, path)
		for _, open := range []func(string, time.Duration) (*Store, error){Open, OpenReadOnly} {
			_, err := open(path, time.Second)
			if !errors.Is(err, ErrNotBolt) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "backup") {
				t.Errorf("%s: %v; want ErrNotBolt naming the file and the fix", path, err)
			}
		}
		if _, err := Compact(path, time.Second); !errors.Is(err, ErrNotBolt) {
			t.Errorf("Compact %s: %v; want ErrNotBolt", path, err)
		}
		if fileSum(t, path) != before {
			t.Errorf("%s was changed", path)
		}
	}
}

// compact of a symlinked store (the database on a larger disk) compacts the file the
// link names, in its own directory, and leaves the link; it replaced the link with a
// regular file beside it, and the real file kept the old state.
func TestCompactThroughASymlink(t *testing.T) {
	dir := t.TempDir()
	real := storeWithEvents(t, 3000)
	if err := os.Chmod(real, 0o604); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "state.db")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	old, err := os.Stat(real)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Compact(link, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link is no longer a symlink: %v, %v", fi, err)
	}
	fi, err := os.Stat(real)
	if err != nil {
		t.Fatal(err)
	}
	if os.SameFile(fi, old) || res.File != real {
		t.Errorf("the real file was not replaced by the copy (result %+v)", res)
	}
	if fi.Mode().Perm() != 0o604 {
		t.Errorf("mode %v, want 0604", fi.Mode().Perm())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("the link's directory holds %d entries, want the link only", len(entries))
	}
	s, err := OpenReadOnly(link, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n, _ := s.EventCount(); n != 3000 {
		t.Errorf("%d events through the link after compact, want 3000", n)
	}
}

// A compact killed midway left state.db.compact, as large as the store, until the next
// compact: an open for writing removes it and says so; a query leaves it.
func TestStaleCompactCopyIsRemoved(t *testing.T) {
	path := storeWithEvents(t, 10)
	tmp := path + ".compact"
	if err := os.WriteFile(tmp, make([]byte, 3<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := OpenReadOnly(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := os.Stat(tmp); err != nil {
		t.Errorf("a query removed the copy: %v", err)
	}
	s, err = Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the copy is still there: %v", err)
	}
	if n := s.Notes(); len(n) != 1 || !strings.Contains(n[0], "removed "+tmp) {
		t.Errorf("Notes = %q", n)
	}
	if err := os.WriteFile(tmp, make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	if res, err := Compact(path, time.Second); err != nil || res.Stale != 1<<20 {
		t.Errorf("Compact = %+v, %v; want the stale copy's size", res, err)
	}
}

// A damaged page of events is found only when it is read: the error names the file and
// what to do, not the block alone (review35 F11).
func TestCorruptBlockNamesTheFileAndTheFix(t *testing.T) {
	path := storeWithEvents(t, 300)
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketBlocks)
		k, v := b.Cursor().First()
		v = bytes.Clone(blockValue(b, k, v))
		for i := len(v) - 200; i < len(v); i++ { // the events' frames, past the index
			v[i] ^= 0x5a
		}
		if own := b.Bucket(k); own != nil { // a large block, in a bucket of its own
			return own.Put(blockRowsKey, v)
		}
		return b.Put(bytes.Clone(k), v)
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err := OpenReadOnly(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, _, err = s.EventsBetween(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC), 1_000_000)
	if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "restore it from a backup") {
		t.Errorf("reading a damaged block: %v; want the file and the fix", err)
	}
}

// A path that names another file every time the opener has its lock is given up after
// a few tries, with what happened, not opened for ever.
func TestOpenGivesUpOnAFileReplacedEveryTime(t *testing.T) {
	path := storeWithEvents(t, 10)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tries := 0
	SetOpenHooks(t, func(p, what string) {
		if what != "opened" {
			return
		}
		tries++ // a copy renamed over the path after each open
		if err := os.WriteFile(path+".new", b, 0o600); err != nil {
			t.Error(err)
		}
		if err := os.Rename(path+".new", path); err != nil {
			t.Error(err)
		}
	}, nil)
	if _, err := Open(path, time.Second); !errors.Is(err, ErrReplaced) || !strings.Contains(err.Error(), path) {
		t.Errorf("Open of a path replaced at each try: %v; want ErrReplaced", err)
	}
	if tries != openAttempts {
		t.Errorf("%d tries, want %d", tries, openAttempts)
	}
}
