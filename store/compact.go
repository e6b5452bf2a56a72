package store

import (
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
	// File is the file compacted: the store's path with its symlinks resolved.
	File string
	// Stale is the size of the copy that a compact stopped midway had left beside the
	// file, and this one removed first; 0: there was none.
	Stale int64
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
// file system lacks room for the copy. A path that is a symlink (the database kept on a
// larger disk) is resolved: the copy is written beside the file it names, on that file
// system, and takes its place there; the link stays as it was.
func Compact(path string, timeout time.Duration) (CompactResult, error) {
	var res CompactResult
	file, err := filepath.EvalSymlinks(path)
	if err != nil {
		return res, fmt.Errorf("store: %w", err)
	}
	shown := path // the errors name the path configured, and the file when it differs
	if file != path {
		shown = fmt.Sprintf("%s (%s)", path, file)
	}
	res.File = file
	src, err := openBolt(file, 0, timeout, openExisting)
	if err != nil {
		return res, err
	}
	defer src.Close()
	// The file locked, not one that was at the path before (openBolt checked).
	fi, err := os.Stat(file)
	if err != nil {
		return res, fmt.Errorf("store: %w", err)
	}
	res.Before = fi.Size()
	// The copy holds the pages in use: the file less its free pages.
	var inUse int64
	if err := src.View(func(tx *bolt.Tx) error {
		inUse = tx.Size() - freeBytes(src)
		return checkOurs(tx, false) // another program's file is left as it is
	}); err != nil {
		return res, fmt.Errorf("store %s: %w", shown, err)
	}
	var fs syscall.Statfs_t
	// A copy left by a compact stopped midway (SIGKILL, power loss): no compact runs
	// now, since each writes its copy only while it holds the lock held here. Its space
	// counts as free.
	tmp := file + ".compact"
	if tfi, err := os.Lstat(tmp); err == nil {
		if err := os.Remove(tmp); err != nil {
			return res, fmt.Errorf("store: removing %s, left by a compact that was stopped: %w", tmp, err)
		}
		res.Stale = max(tfi.Size(), 1)
	}
	if err := syscall.Statfs(filepath.Dir(file), &fs); err == nil {
		if free := int64(fs.Bavail) * fs.Bsize; free < inUse+inUse/10 {
			return res, fmt.Errorf("store: compacting %s needs about %d MB free beside it for the copy, and only %d MB are",
				shown, (inUse+inUse/10)>>20, free>>20)
		}
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
		return res, fmt.Errorf("store: compacting %s: %w", shown, err)
	}
	if err := sameOwner(tmp, fi); err != nil {
		return res, err
	}
	if compactHook != nil {
		compactHook(file)
	}
	if err := os.Rename(tmp, file); err != nil {
		return res, fmt.Errorf("store: %w", err)
	}
	done = true
	if dir, err := os.Open(filepath.Dir(file)); err == nil {
		dir.Sync() // the rename itself
		dir.Close()
	}
	if fi, err := os.Stat(file); err == nil {
		res.After = fi.Size()
	}
	return res, nil
}

// compactHook, when a test sets it, runs just before Compact renames its copy over the
// file, while it still holds the file's lock.
var compactHook func(file string)

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
