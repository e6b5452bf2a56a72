package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// The state database belongs to the daemon's user. An admin who runs `sudo abusewatch
// scan` before the first start made a root-owned file in /var/lib/abusewatch, which is
// the service's already, so systemd did not give it back and the daemon could not open
// it. What root creates here takes the owner of the directory it is created in.

// ownAsDirectory gives f, just created in dir, dir's owner and group when the process
// runs as root; otherwise the file stays the creator's (who may only give files away as
// root).
func ownAsDirectory(f *os.File, dir string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || (st.Uid == 0 && st.Gid == 0) {
		return nil
	}
	if err := f.Chown(int(st.Uid), int(st.Gid)); err != nil {
		return fmt.Errorf("giving %s the owner of %s, %s: %w", f.Name(), dir, ownerName(st), err)
	}
	return nil
}

// makeDir makes dir and its missing parents (mode 0750); as root, each gets the owner
// and group of the nearest directory that was there already.
func makeDir(dir string) error {
	var missing []string
	existing := dir
	for {
		if _, err := os.Stat(existing); err == nil || !errors.Is(err, fs.ErrNotExist) {
			break
		}
		missing = append(missing, existing)
		parent := filepath.Dir(existing)
		if parent == existing {
			break
		}
		existing = parent
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	if len(missing) == 0 || os.Geteuid() != 0 {
		return nil
	}
	fi, err := os.Stat(existing)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || (st.Uid == 0 && st.Gid == 0) {
		return nil
	}
	for _, d := range missing {
		if err := os.Lchown(d, int(st.Uid), int(st.Gid)); err != nil {
			return fmt.Errorf("giving %s the owner of %s, %s: %w", d, existing, ownerName(st), err)
		}
	}
	return nil
}

// notOurs says, of a database this process may not open, whose it is and what to do:
// the daemon's user is given the file; anyone else runs the command as its owner or
// root. "": nothing to say.
func notOurs(path string) string {
	me := userName(uint32(os.Geteuid()))
	runAs := func(st *syscall.Stat_t) string {
		if st.Uid == 0 {
			return "root"
		}
		return "root or " + userName(st.Uid)
	}
	if fi, err := os.Stat(path); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			return fmt.Sprintf(": it belongs to %s (mode %04o), and this runs as %s. If %s is the daemon's user (a scan or query "+
				"run as root before the first start may have made the file), give it the file: chown %s: %s; otherwise run this as %s",
				ownerName(st), fi.Mode().Perm(), me, me, me, path, runAs(st))
		}
		return ""
	}
	// Not there, or not to be seen: the directory is not ours.
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			return fmt.Sprintf(": its directory %s belongs to %s (mode %04o), and this runs as %s. If %s is the daemon's user, "+
				"give it the directory: chown %s: %s; otherwise run this as %s", dir, ownerName(st), fi.Mode().Perm(), me, me, me, dir, runAs(st))
		}
	}
	return ""
}

// ownerName is "user:group" of st, by name where the system knows them.
func ownerName(st *syscall.Stat_t) string {
	group := strconv.FormatUint(uint64(st.Gid), 10)
	if g, err := user.LookupGroupId(group); err == nil {
		group = g.Name
	}
	return userName(st.Uid) + ":" + group
}

// userName is uid's name, or the number when the system does not know it.
func userName(uid uint32) string {
	id := strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(id); err == nil {
		return u.Username
	}
	return id
}
