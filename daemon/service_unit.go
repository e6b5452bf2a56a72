package daemon

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/coreos/go-systemd/v22/unit"
	"golang.org/x/sys/unix"
)

// ServiceUnit is the systemd unit that runs the daemon: abusewatch.service, its drop-ins
// and what they give the daemon beyond what its user has: systemd starts it with the
// groups of User= from the group database, as runuser does, and adds Group= and
// SupplementaryGroups=, which runuser knows nothing of. check-config run as the unit's
// user (the README's install step) counts those groups as the daemon's, and says which
// file gave each one it needed. The daemon itself (run) has the groups it has.
type ServiceUnit struct {
	Files []string // the unit file and its drop-ins, in the order systemd applies them
	User  string   // User=, "" when not set (root)
	given []givenGroup
	used  []string // what a given group was needed for, for check-config to say
	// Warnings: a file that could not be read, a group this host does not have.
	Warnings []string
}

// givenGroup is a group the unit gives and the file and key that give it.
type givenGroup struct {
	name, file, key string
	gid             int
}

// UnitName is the unit the packages and `abusewatch install` install.
const UnitName = "abusewatch.service"

// unitDirs are systemd's system unit directories, highest priority first
// (systemd.unit(5)): the first that holds the unit has the file systemd loads, and a
// drop-in's name in one hides the same name in those after it.
func unitDirs() []string {
	return []string{
		"etc/systemd/system.control", "run/systemd/system.control", "run/systemd/transient",
		"etc/systemd/system", "run/systemd/system",
		"usr/local/lib/systemd/system", "usr/lib/systemd/system", "lib/systemd/system",
	}
}

// ReadServiceUnit reads the unit name below root ("/" on a host): the unit file systemd
// would load, then the drop-ins (NAME.d/*.conf and, for every service, service.d/*.conf)
// in the order of their file names, a name in a higher directory hiding the same name
// in a lower one. It returns nil when there is no unit file. It reads User=, Group= and
// SupplementaryGroups= of [Service], as systemd does: the last User= and Group= count,
// SupplementaryGroups= adds up, and an empty one clears the list.
func ReadServiceUnit(root, name string) *ServiceUnit {
	u := &ServiceUnit{}
	for _, dir := range unitDirs() {
		path := filepath.Join(root, dir, name)
		if fi, err := os.Stat(path); err == nil && !fi.IsDir() {
			u.Files = append(u.Files, path)
			break
		} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
			u.Warnings = append(u.Warnings, fmt.Sprintf("%s cannot be read (%v): the groups the service's unit gives are not known", path, err))
		}
	}
	if len(u.Files) == 0 {
		return nil
	}
	dropins := map[string]string{} // by file name, the highest directory's
	for _, dir := range unitDirs() {
		for _, sub := range []string{"service.d", name + ".d"} {
			matches, _ := filepath.Glob(filepath.Join(root, dir, sub, "*.conf"))
			for _, m := range matches {
				if _, seen := dropins[filepath.Base(m)]; !seen {
					dropins[filepath.Base(m)] = m
				}
			}
		}
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range dropins {
			if !yield(n) {
				return
			}
		}
	})
	for _, n := range names {
		u.Files = append(u.Files, dropins[n])
	}
	var group *givenGroup
	var supplementary []givenGroup
	for _, file := range u.Files {
		err := readUnitFile(file, func(key, value string) {
			switch key {
			case "User":
				u.User = value
			case "Group":
				group = nil
				if value != "" {
					group = &givenGroup{name: value, file: file, key: "Group="}
				}
			case "SupplementaryGroups":
				if value == "" {
					supplementary = nil
				}
				for _, g := range strings.Fields(value) {
					supplementary = append(supplementary, givenGroup{name: g, file: file, key: "SupplementaryGroups="})
				}
			}
		})
		if err != nil {
			u.Warnings = append(u.Warnings, fmt.Sprintf("%s cannot be read (%v): the groups it may give the service are not counted", file, err))
		}
	}
	if group != nil {
		supplementary = append([]givenGroup{*group}, supplementary...)
	}
	for _, g := range supplementary {
		gr, err := user.LookupGroup(g.name)
		if err != nil {
			if id, numErr := strconv.Atoi(g.name); numErr == nil && id >= 0 {
				g.gid = id
				u.given = append(u.given, g)
				continue
			}
			u.Warnings = append(u.Warnings, fmt.Sprintf("%s in %s names the group %s, which this host does not have: systemd will not start the service", g.key, g.file, g.name))
			continue
		}
		g.gid, _ = strconv.Atoi(gr.Gid)
		u.given = append(u.given, g)
	}
	return u
}

// readUnitFile calls set with each key and value of the [Service] section of a unit
// file, as go-systemd's unit parser reads it (comments left out), in file order. The
// parser keeps a continued line's backslash and newline in the value: systemd reads
// them as a space.
func readUnitFile(path string, set func(key, value string)) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	opts, err := unit.DeserializeOptions(f)
	if err != nil {
		return err
	}
	for _, o := range opts {
		if o.Section == "Service" {
			set(o.Name, strings.TrimSpace(strings.ReplaceAll(o.Value, "\\\n", " ")))
		}
	}
	return nil
}

// runsAsUnitUser says whether this process runs as the unit's User= (root when unset):
// only then are the unit's groups the ones it would have as the service.
func (u *ServiceUnit) runsAsUnitUser() bool {
	if u == nil {
		return false
	}
	uid := uint32(os.Geteuid())
	want := cmp.Or(u.User, "root")
	return want == userName(uid) || want == strconv.FormatUint(uint64(uid), 10)
}

// extraGroups are the groups the unit gives that this process does not have, or nil
// when it does not run as the unit's user.
func (u *ServiceUnit) extraGroups() []givenGroup {
	if !u.runsAsUnitUser() {
		return nil
	}
	own, _ := os.Getgroups()
	own = append(own, os.Getegid())
	var extra []givenGroup
	for _, g := range u.given {
		if !slices.Contains(own, g.gid) && !slices.ContainsFunc(extra, func(e givenGroup) bool { return e.gid == g.gid }) {
			extra = append(extra, g)
		}
	}
	return extra
}

// gives says whether the unit gives the group gid, which this process lacks, and
// records what for ("KEY: may …"); false when it does not, or this is not its user.
func (u *ServiceUnit) gives(gid int, what string) bool {
	for _, g := range u.extraGroups() {
		if g.gid == gid {
			u.note(g, what)
			return true
		}
	}
	return false
}

// note records that g let the service do what: "KEY: may …".
func (u *ServiceUnit) note(g givenGroup, what string) {
	key, action, _ := strings.Cut(what, ": ")
	u.used = append(u.used, fmt.Sprintf("%s: %s %s through the group %s (gid %d), which %s in %s gives the service (runuser does not)",
		key, describeUser(uint32(os.Geteuid())), action, g.name, g.gid, g.key, g.file))
}

// Notes says, for each check the unit's groups passed, which group and which file.
func (u *ServiceUnit) Notes() []string {
	if u == nil {
		return nil
	}
	return u.used
}

// grants says whether one of the groups the unit gives (and this process lacks) lets
// its user do want (unix.R_OK, W_OK, X_OK) to path, where the kernel refused this
// process: by the modes and ACLs of path and the directories above it. It records what
// for ("KEY: may …") and the group (the first that does it alone, else all) for Notes. A refusal the groups cannot
// explain (an SELinux or AppArmor policy: the modes would let this process in) is
// left as it is.
func (u *ServiceUnit) grants(path string, want uint32, what string) bool {
	extra := u.extraGroups()
	if len(extra) == 0 {
		return false
	}
	path, err := filepath.Abs(path)
	if err != nil {
		return false
	}
	uid := uint32(os.Geteuid())
	own, _ := os.Getgroups()
	own = append(own, os.Getegid())
	if permits(path, want, uid, own) {
		return false // the modes say yes, and the kernel said no: not a matter of groups
	}
	for _, g := range extra {
		if permits(path, want, uid, append(slices.Clone(own), g.gid)) {
			u.note(g, what)
			return true
		}
	}
	all := slices.Clone(own)
	for _, g := range extra {
		all = append(all, g.gid)
	}
	if !permits(path, want, uid, all) {
		return false
	}
	for _, g := range extra {
		u.note(g, what)
	}
	return true
}

// permits says whether uid with groups may do want to path and search every directory
// above it, by the modes and POSIX ACLs (acl(5)'s access check algorithm).
func permits(path string, want, uid uint32, groups []int) bool {
	for dir := filepath.Dir(path); ; dir = filepath.Dir(dir) {
		if !permitsOne(dir, unix.X_OK, uid, groups) {
			return false
		}
		if dir == "/" || dir == "." {
			break
		}
	}
	return permitsOne(path, want, uid, groups)
}

// The tags of a POSIX ACL entry (linux/posix_acl.h).
const (
	aclUserObj  = 0x01
	aclUser     = 0x02
	aclGroupObj = 0x04
	aclGroup    = 0x08
	aclMask     = 0x10
	aclOther    = 0x20
)

func permitsOne(path string, want, uid uint32, groups []int) bool {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return false
	}
	if uid == 0 {
		return true
	}
	mode := st.Mode & 0o777
	type entry struct {
		tag, perm uint16
		id        uint32
	}
	var acl []entry
	size, _ := unix.Getxattr(path, "system.posix_acl_access", nil)
	buf := make([]byte, max(size, 0))
	if n, err := unix.Getxattr(path, "system.posix_acl_access", buf); err == nil && n >= 4 && n <= len(buf) && (n-4)%8 == 0 {
		for b := buf[4:n]; len(b) >= 8; b = b[8:] {
			acl = append(acl, entry{binary.LittleEndian.Uint16(b), binary.LittleEndian.Uint16(b[2:]), binary.LittleEndian.Uint32(b[4:])})
		}
	}
	inGroup := func(gid uint32) bool { return slices.Contains(groups, int(gid)) }
	if len(acl) == 0 {
		switch {
		case uid == st.Uid:
			return (mode>>6)&want == want
		case inGroup(st.Gid):
			return (mode>>3)&want == want
		}
		return mode&want == want
	}
	mask := uint16(0o7)
	for _, e := range acl {
		if e.tag == aclMask {
			mask = e.perm
		}
	}
	w := uint16(want)
	if uid == st.Uid {
		for _, e := range acl {
			if e.tag == aclUserObj {
				return e.perm&w == w
			}
		}
	}
	for _, e := range acl {
		if e.tag == aclUser && e.id == uid {
			return e.perm&mask&w == w
		}
	}
	matched := false
	for _, e := range acl {
		if e.tag == aclGroupObj && inGroup(st.Gid) || e.tag == aclGroup && inGroup(e.id) {
			matched = true
			if e.perm&mask&w == w {
				return true
			}
		}
	}
	if matched {
		return false
	}
	for _, e := range acl {
		if e.tag == aclOther {
			return e.perm&w == w
		}
	}
	return false
}
