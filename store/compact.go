package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
)

// CompactResult is what Compact did: the file's size before and after.
type CompactResult struct {
	Before, After int64
}

// compactTxSize is how many bytes of keys and values Compact copies per transaction.
const compactTxSize = 64 << 20

// Compact rewrites the database file at path without its free pages, which bbolt keeps
// for reuse but never gives back: after retention deleted months of events or
// `correlate --rebuild` dropped incidents, the file stays as large as it ever was, and
// every commit writes the longer list of free pages. The copy is written beside the
// file, synced and renamed over it with the same mode and owner, so an interruption
// (a full disk, a signal) leaves the original as it was. It needs the file to itself:
// ErrLocked while the daemon holds it. It refuses before writing anything when the
// file system lacks room for the copy.
func Compact(path string, timeout time.Duration) (CompactResult, error) {
	var res CompactResult
	fi, err := os.Stat(path)
	if err != nil {
		return res, fmt.Errorf("store: %w", err)
	}
	res.Before = fi.Size()
	src, err := openBolt(path, 0, timeout, false)
	if err != nil {
		return res, err
	}
	defer src.Close()
	// The copy holds the pages in use: the file less its free pages.
	var inUse int64
	if err := src.View(func(tx *bolt.Tx) error {
		inUse = tx.Size() - freeBytes(src)
		return nil
	}); err != nil {
		return res, err
	}
	var fs syscall.Statfs_t
	if err := syscall.Statfs(filepath.Dir(path), &fs); err == nil {
		if free := int64(fs.Bavail) * fs.Bsize; free < inUse+inUse/10 {
			return res, fmt.Errorf("store: compacting %s needs about %d MB free beside it for the copy, and only %d MB are",
				path, (inUse+inUse/10)>>20, free>>20)
		}
	}
	tmp := path + ".compact"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return res, fmt.Errorf("store: %w", err)
	}
	done := false
	defer func() {
		if !done {
			os.Remove(tmp)
		}
	}()
	dst, err := bolt.Open(tmp, fi.Mode().Perm(), &bolt.Options{FreelistType: bolt.FreelistMapType, NoSync: true})
	if err != nil {
		return res, fmt.Errorf("store: %w", err)
	}
	err = bolt.Compact(dst, src, compactTxSize)
	if err == nil {
		err = dst.Sync() // NoSync spared a sync per transaction, not this one
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return res, fmt.Errorf("store: compacting %s: %w", path, err)
	}
	if err := sameOwner(tmp, fi); err != nil {
		return res, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return res, fmt.Errorf("store: %w", err)
	}
	done = true
	if dir, err := os.Open(filepath.Dir(path)); err == nil {
		dir.Sync() // the rename itself
		dir.Close()
	}
	if fi, err := os.Stat(path); err == nil {
		res.After = fi.Size()
	}
	return res, nil
}

// freeBytes is the size of db's pages free for reuse: what Compact gives back.
func freeBytes(db *bolt.DB) int64 {
	st := db.Stats()
	return int64(st.FreePageN+st.PendingPageN) * int64(db.Info().PageSize)
}

// sameOwner gives the file at path the mode and owner of like, so the daemon's user
// can still open it after root compacted it.
func sameOwner(path string, like os.FileInfo) error {
	if err := os.Chmod(path, like.Mode().Perm()); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if st, ok := like.Sys().(*syscall.Stat_t); ok {
		if err := os.Chown(path, int(st.Uid), int(st.Gid)); err != nil {
			return fmt.Errorf("store: the copy cannot have the owner of the original (run as root or as its owner): %w", err)
		}
	}
	return nil
}
