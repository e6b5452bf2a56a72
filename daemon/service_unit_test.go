package daemon

import (
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// check-config counts a group the unit gives by the modes and ACLs of a file and the
// directories above it (permits): what it says must be what the kernel says to a
// process that has the group. Each case is asked of both: the kernel through test(1)
// run with the credentials, check-config's model directly.
func TestPermitsAgreesWithTheKernel(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to ask the kernel as other users")
	}
	const nobody, group = 65534, 4242 // a group nobody is not in
	dir := t.TempDir()
	for _, p := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// acl encodes a POSIX ACL as the kernel keeps it in system.posix_acl_access.
	acl := func(entries ...[3]uint32) []byte {
		b := binary.LittleEndian.AppendUint32(nil, 2)
		for _, e := range entries {
			b = binary.LittleEndian.AppendUint16(b, uint16(e[0]))
			b = binary.LittleEndian.AppendUint16(b, uint16(e[1]))
			b = binary.LittleEndian.AppendUint32(b, e[2])
		}
		return b
	}
	const undefined = 0xffffffff
	for _, tc := range []struct {
		name      string
		mode      os.FileMode
		gid       int
		acl       []byte
		parent    os.FileMode // the mode of the directory the file is in
		want      bool        // with the group
		withoutIt bool
	}{
		{name: "group may read", mode: 0o640, gid: group, parent: 0o755, want: true},
		{name: "group may not read", mode: 0o600, gid: group, parent: 0o755},
		{name: "another group's", mode: 0o640, gid: 0, parent: 0o755},
		{name: "directory closed to the group", mode: 0o644, gid: group, parent: 0o700},
		{name: "directory open to the group only", mode: 0o644, gid: 0, parent: 0o750, want: true}, // the directory is root:group
		{name: "everyone may read", mode: 0o644, gid: 0, parent: 0o755, want: true, withoutIt: true},
		// RHEL's /var/log/secure with an ACL for the group: root:root, mode 0640 (the mask).
		{name: "an ACL names the group", mode: 0o600, gid: 0, parent: 0o755, want: true,
			acl: acl([3]uint32{aclUserObj, 6, undefined}, [3]uint32{aclGroupObj, 0, undefined}, [3]uint32{aclGroup, 4, group}, [3]uint32{aclMask, 4, undefined}, [3]uint32{aclOther, 0, undefined})},
		{name: "the mask takes it away", mode: 0o600, gid: 0, parent: 0o755,
			acl: acl([3]uint32{aclUserObj, 6, undefined}, [3]uint32{aclGroupObj, 0, undefined}, [3]uint32{aclGroup, 4, group}, [3]uint32{aclMask, 0, undefined}, [3]uint32{aclOther, 0, undefined})},
		{name: "an ACL gives the owning group nothing", mode: 0o644, gid: group, parent: 0o755, withoutIt: true,
			acl: acl([3]uint32{aclUserObj, 6, undefined}, [3]uint32{aclGroupObj, 0, undefined}, [3]uint32{aclMask, 4, undefined}, [3]uint32{aclOther, 4, undefined})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sub, err := os.MkdirTemp(dir, "d")
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(sub, 0, group); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(sub, tc.parent); err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(sub, "secure")
			if err := os.WriteFile(file, nil, tc.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(file, 0, tc.gid); err != nil {
				t.Fatal(err)
			}
			if tc.acl != nil {
				if err := unix.Setxattr(file, "system.posix_acl_access", tc.acl, 0); errors.Is(err, unix.EOPNOTSUPP) {
					t.Skip("the file system here keeps no ACLs")
				} else if err != nil {
					t.Fatal(err)
				}
			}
			for _, groups := range [][]int{{nobody, group}, {nobody}} {
				cmd := exec.Command("test", "-r", file)
				cred := &syscall.Credential{Uid: nobody, Gid: nobody}
				for _, g := range groups {
					cred.Groups = append(cred.Groups, uint32(g))
				}
				cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
				kernel := cmd.Run() == nil
				model := permits(file, unix.R_OK, nobody, groups)
				want := tc.want
				if len(groups) == 1 {
					want = tc.withoutIt
				}
				if kernel != want || model != want {
					t.Errorf("groups %v: the kernel says %v, permits %v; want %v", groups, kernel, model, want)
				}
			}
		})
	}
}
