package store

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func ownerOf(t *testing.T, path string) (uint32, uint32) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return st.Uid, st.Gid
}

// Root's Open in the service's directory (a scan before the first start) makes the
// file, and any directory it makes on the way, the directory's owner's; a file there
// already keeps its owner.
func TestOpenAsRootGivesWhatItCreatesTheDirectorysOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	const uid, gid = 4242, 4343
	dir := t.TempDir()
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "a", "b", "state.db")
	s, err := Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(dir, "a"), filepath.Join(dir, "a", "b"), path} {
		if u, g := ownerOf(t, p); u != uid || g != gid {
			t.Errorf("%s is %d:%d, want the directory's %d:%d", p, u, g, uid, gid)
		}
	}

	// Only on creation: a file of root's there stays root's.
	if err := os.Chown(path, 0, 0); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(path, time.Second); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if u, g := ownerOf(t, path); u != 0 || g != 0 {
		t.Errorf("opening root's %s made it %d:%d", path, u, g)
	}
}

// OpenExisting and Empty never create the file they are asked about.
func TestOpenExistingAndEmptyCreateNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.db")
	if _, err := OpenExisting(path, time.Second); !errors.Is(err, ErrNoDatabase) {
		t.Fatalf("OpenExisting of nothing: %v, want ErrNoDatabase", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("OpenExisting made %s: %v", path, err)
	}
	e, err := Empty(path)
	if err != nil {
		t.Fatal(err)
	}
	if e.Path() != path {
		t.Errorf("Empty(%s).Path() = %s", path, e.Path())
	}
	if reports, err := e.Reports(); err != nil || len(reports) != 0 {
		t.Errorf("Empty holds reports: %v, %v", reports, err)
	}
	if n, err := e.EventCount(); err != nil || n != 0 {
		t.Errorf("Empty holds %d events: %v", n, err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Empty made %s: %v", path, err)
	}

	// What exists opens as with Open.
	s, err := Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = OpenExisting(path, time.Second); err != nil {
		t.Fatal(err)
	}
	s.Close()
}
