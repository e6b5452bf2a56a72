package store

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/abusewatch/abusewatch/ownership"
)

// The state database belongs to the daemon's user: what root creates here takes the
// owner of the directory it is created in (package ownership).

// notOurs says, of a database this process may not open, whose it is and what to do:
// the daemon's user is given the file; anyone else runs the command as its owner or
// root. "": nothing to say.
func notOurs(path string) string {
	me := ownership.UserName(uint32(os.Geteuid()))
	runAs := func(st *syscall.Stat_t) string {
		if st.Uid == 0 {
			return "root"
		}
		return "root or " + ownership.UserName(st.Uid)
	}
	if fi, err := os.Stat(path); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			return fmt.Sprintf(": it belongs to %s (mode %04o), and this runs as %s. If %s is the daemon's user (a scan or query "+
				"run as root before the first start may have made the file), give it the file: chown %s: %s; otherwise run this as %s",
				ownership.Owner(st), fi.Mode().Perm(), me, me, me, path, runAs(st))
		}
		return ""
	}
	// Not there, or not to be seen: the directory is not ours.
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			return fmt.Sprintf(": its directory %s belongs to %s (mode %04o), and this runs as %s. If %s is the daemon's user, "+
				"give it the directory: chown %s: %s; otherwise run this as %s", dir, ownership.Owner(st), fi.Mode().Perm(), me, me, me, dir, runAs(st))
		}
	}
	return ""
}
