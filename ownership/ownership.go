// Package ownership gives what abusewatch creates as root for its service the owner of
// the directory it is created in: the state database, a maildir and its messages. An
// admin who runs `sudo abusewatch scan` before the first start made root-owned files
// in /var/lib/abusewatch, which is the service's already (systemd gives a state
// directory back only when the directory itself is someone else's), and the daemon
// could then neither open its database nor deliver into its maildir. A process that
// is not root keeps what it creates: only root may give files away.
package ownership

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

// AsDirectory gives f, just created in dir, dir's owner and group when the process
// runs as root (and dir is not root's).
func AsDirectory(f *os.File, dir string) error {
	st, ok, err := foreignOwner(dir)
	if err != nil || !ok {
		return err
	}
	if err := f.Chown(int(st.Uid), int(st.Gid)); err != nil {
		return fmt.Errorf("giving %s the owner of %s, %s: %w", f.Name(), dir, Owner(st), err)
	}
	return nil
}

// MakeDir makes dir and its missing parents with perm; as root, each gets the owner and
// group of the nearest directory that was there already.
func MakeDir(dir string, perm fs.FileMode) error {
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
	if err := os.MkdirAll(dir, perm); err != nil {
		return err
	}
	if len(missing) == 0 {
		return nil
	}
	st, ok, err := foreignOwner(existing)
	if err != nil || !ok {
		return err
	}
	for _, d := range missing {
		if err := os.Lchown(d, int(st.Uid), int(st.Gid)); err != nil {
			return fmt.Errorf("giving %s the owner of %s, %s: %w", d, existing, Owner(st), err)
		}
	}
	return nil
}

// foreignOwner is dir's owner when the process runs as root and dir is not root's
// (ok), the owner what root creates in it is given.
func foreignOwner(dir string) (st *syscall.Stat_t, ok bool, err error) {
	if os.Geteuid() != 0 {
		return nil, false, nil
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, false, err
	}
	st, ok = fi.Sys().(*syscall.Stat_t)
	if !ok || (st.Uid == 0 && st.Gid == 0) {
		return nil, false, nil
	}
	return st, true, nil
}

// Owner is "user:group" of st, by name where the system knows them.
func Owner(st *syscall.Stat_t) string {
	group := strconv.FormatUint(uint64(st.Gid), 10)
	if g, err := user.LookupGroupId(group); err == nil {
		group = g.Name
	}
	return UserName(st.Uid) + ":" + group
}

// UserName is uid's name, or the number when the system does not know it.
func UserName(uid uint32) string {
	id := strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(id); err == nil {
		return u.Username
	}
	return id
}
