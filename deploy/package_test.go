package deploy

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// buildPackages runs package.sh into dir and returns the packages it made by name.
func buildPackages(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	if _, err := exec.LookPath("nfpm"); err != nil {
		t.Skip("nfpm is not installed (.ci/run installs it: go install github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.41.0)")
	}
	cmd := exec.Command("bash", "package.sh", "1.2.3")
	cmd.Env = append(os.Environ(), "BUILD_DIR="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("package.sh: %v\n%s", err, out)
	}
	pkgs := map[string][]byte{}
	files, _ := filepath.Glob(filepath.Join(dir, "abusewatch*.[dr][ep][bm]"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		pkgs[filepath.Base(f)] = b
	}
	if len(pkgs) != 2 {
		t.Fatalf("package.sh made %d packages; want a .deb and an .rpm", len(pkgs))
	}
	return pkgs
}

// maintainerScripts are the package's scripts by their deb names, with their sources.
var maintainerScripts = map[string]string{
	"preinst":  "preinstall.sh",
	"postinst": "postinstall.sh",
	"prerm":    "prerm.sh",
	"postrm":   "postrm.sh",
}

// package.sh builds a .deb and an .rpm; two builds are byte-identical, the config is a
// conffile so an upgrade keeps the admin's edits, the config and its directory belong to
// the service's group, and both packages carry the maintainer scripts.
func TestPackagesAreReproducibleWithTheConfigAsConffile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and two packages twice")
	}
	dir := t.TempDir()
	first := buildPackages(t, dir)
	second := buildPackages(t, dir)
	for name, b := range first {
		if sha256.Sum256(second[name]) != sha256.Sum256(b) {
			t.Errorf("%s differs between two builds", name)
		}
	}
	for name, b := range first {
		switch filepath.Ext(name) {
		case ".deb":
			checkDeb(t, filepath.Join(dir, name))
		case ".rpm":
			checkRPM(t, b)
		}
	}
}

// checkDeb reads the .deb with dpkg-deb: conffiles, scripts, the config's owner and mode.
func checkDeb(t *testing.T, deb string) {
	t.Helper()
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Log("dpkg-deb is not installed: the .deb is not checked")
		return
	}
	control := tarEntries(t, "dpkg-deb", "--ctrl-tarfile", deb)
	if c := string(control["./conffiles"].data); !strings.Contains(c, "/etc/abusewatch/abusewatch.toml") {
		t.Errorf("conffiles = %q; want /etc/abusewatch/abusewatch.toml", c)
	}
	for name, src := range maintainerScripts {
		want, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		e, ok := control["./"+name]
		if !ok || !bytes.Equal(e.data, want) || e.hdr.Mode&0o111 == 0 {
			t.Errorf("the .deb's %s is not deploy/%s, executable (present: %v)", name, src, ok)
		}
	}
	data := tarEntries(t, "dpkg-deb", "--fsys-tarfile", deb)
	for path, mode := range map[string]int64{"./etc/abusewatch/": 0o750, "./etc/abusewatch/abusewatch.toml": 0o640} {
		e, ok := data[path]
		if !ok || e.hdr.Mode&0o7777 != mode || e.hdr.Uname != "root" || e.hdr.Gname != "abusewatch" {
			t.Errorf("the .deb's %s: present %v, mode %04o, %s:%s; want %04o root:abusewatch", path, ok, e.hdr.Mode&0o7777, e.hdr.Uname, e.hdr.Gname, mode)
		}
	}
}

type tarEntry struct {
	hdr  *tar.Header
	data []byte
}

// tarEntries runs a command that writes a tar archive and returns its entries by name.
func tarEntries(t *testing.T, name string, args ...string) map[string]tarEntry {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	entries := map[string]tarEntry{}
	tr := tar.NewReader(bytes.NewReader(out))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return entries
		} else if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		entries[hdr.Name] = tarEntry{hdr, b}
	}
}

// RPM header tags (rpm's lib/rpmtag.h) that the checks read.
const (
	rpmTagPrein         = 1023
	rpmTagPostin        = 1024
	rpmTagPreun         = 1025
	rpmTagPostun        = 1026
	rpmTagFileModes     = 1030
	rpmTagFileFlags     = 1037
	rpmTagFileUserName  = 1039
	rpmTagFileGroupName = 1040
	rpmTagDirIndexes    = 1116
	rpmTagBaseNames     = 1117
	rpmTagDirNames      = 1118
	rpmFileConfig       = 1 << 0
	rpmFileNoReplace    = 1 << 4
)

// checkRPM reads the .rpm's header: scripts, and the config's owner, mode and flags.
func checkRPM(t *testing.T, rpm []byte) {
	t.Helper()
	h, err := readRPMHeader(rpm)
	if err != nil {
		t.Fatalf("the .rpm: %v", err)
	}
	for _, s := range []struct {
		tag       uint32
		name, src string
	}{
		{rpmTagPrein, "%pre", "preinstall.sh"}, {rpmTagPostin, "%post", "postinstall.sh"},
		{rpmTagPreun, "%preun", "prerm.sh"}, {rpmTagPostun, "%postun", "postrm.sh"},
	} {
		want, err := os.ReadFile(s.src)
		if err != nil {
			t.Fatal(err)
		}
		if got := h.strings(s.tag); len(got) != 1 || strings.TrimSpace(got[0]) != strings.TrimSpace(string(want)) {
			t.Errorf("the .rpm's %s is not deploy/%s: %q", s.name, s.src, got)
		}
	}
	dirs, bases, dirIndex := h.strings(rpmTagDirNames), h.strings(rpmTagBaseNames), h.ints(rpmTagDirIndexes)
	modes, flags := h.ints(rpmTagFileModes), h.ints(rpmTagFileFlags)
	users, groups := h.strings(rpmTagFileUserName), h.strings(rpmTagFileGroupName)
	if len(bases) == 0 || len(dirIndex) != len(bases) || len(modes) != len(bases) || len(flags) != len(bases) || len(users) != len(bases) || len(groups) != len(bases) {
		t.Fatalf("the .rpm's file list is inconsistent: %d names, %d dir indexes, %d modes, %d flags, %d users, %d groups",
			len(bases), len(dirIndex), len(modes), len(flags), len(users), len(groups))
	}
	want := map[string]struct {
		mode  fs.FileMode
		flags int
	}{
		"/etc/abusewatch":                 {fs.ModeDir | 0o750, 0},
		"/etc/abusewatch/abusewatch.toml": {0o640, rpmFileConfig | rpmFileNoReplace},
	}
	for i, base := range bases {
		path := dirs[dirIndex[i]] + base
		w, ok := want[path]
		if !ok {
			continue
		}
		delete(want, path)
		mode := fs.FileMode(modes[i] & 0o7777)
		if modes[i]&0o170000 == 0o040000 {
			mode |= fs.ModeDir
		}
		if mode != w.mode || flags[i]&w.flags != w.flags || users[i] != "root" || groups[i] != "abusewatch" {
			t.Errorf("the .rpm's %s: mode %v, flags %#x, %s:%s; want %v, flags %#x, root:abusewatch", path, mode, flags[i], users[i], groups[i], w.mode, w.flags)
		}
	}
	for path := range want {
		t.Errorf("the .rpm has no %s", path)
	}
}

// rpmHeader is the main header of an .rpm: tag → entry.
type rpmHeader map[uint32]rpmEntry

type rpmEntry struct {
	typ, count uint32
	data       []byte // from the entry's offset to the end of the store
}

// readRPMHeader skips the 96-byte lead and the signature header (padded to 8 bytes) and
// reads the header after it (rpm's file format: magic, index entries, data store).
func readRPMHeader(b []byte) (rpmHeader, error) {
	off := 96
	read := func() (rpmHeader, error) {
		if len(b) < off+16 || !bytes.Equal(b[off:off+4], []byte{0x8e, 0xad, 0xe8, 0x01}) {
			return nil, fmt.Errorf("no header at offset %d", off)
		}
		n, size := int(binary.BigEndian.Uint32(b[off+8:])), int(binary.BigEndian.Uint32(b[off+12:]))
		index := off + 16
		store := index + 16*n
		if len(b) < store+size {
			return nil, fmt.Errorf("the header at offset %d is cut short", off)
		}
		h := rpmHeader{}
		for i := range n {
			e := b[index+16*i:]
			tag, typ := binary.BigEndian.Uint32(e), binary.BigEndian.Uint32(e[4:])
			at, count := int(binary.BigEndian.Uint32(e[8:])), binary.BigEndian.Uint32(e[12:])
			if at > size {
				return nil, fmt.Errorf("tag %d points beyond the header", tag)
			}
			h[tag] = rpmEntry{typ, count, b[store+at : store+size]}
		}
		off = store + size
		return h, nil
	}
	if _, err := read(); err != nil {
		return nil, fmt.Errorf("signature: %w", err)
	}
	off = (off + 7) &^ 7
	return read()
}

// strings returns a STRING, STRING_ARRAY or I18NSTRING entry's strings.
func (h rpmHeader) strings(tag uint32) []string {
	e, ok := h[tag]
	if !ok {
		return nil
	}
	parts := strings.SplitN(string(e.data), "\x00", int(e.count)+1)
	if len(parts) < int(e.count) {
		return nil
	}
	return parts[:e.count]
}

// ints returns an INT16 or INT32 entry's numbers.
func (h rpmHeader) ints(tag uint32) []int {
	e, ok := h[tag]
	size := map[uint32]int{3: 2, 4: 4}[e.typ]
	if !ok || size == 0 || len(e.data) < size*int(e.count) {
		return nil
	}
	out := make([]int, e.count)
	for i := range out {
		if size == 2 {
			out[i] = int(binary.BigEndian.Uint16(e.data[2*i:]))
		} else {
			out[i] = int(binary.BigEndian.Uint32(e.data[4*i:]))
		}
	}
	return out
}
