package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/abusewatch/abusewatch/configs"
	"github.com/abusewatch/abusewatch/deploy"
)

// installCommand is `abusewatch install`: put the binary, unit, config, rules and
// sysusers/tmpfiles snippets in place, never overwriting an edited config.
type installCommand struct {
	stdout, stderr io.Writer
}

func (c *installCommand) Name() string { return "install" }
func (c *installCommand) Synopsis() string {
	return "install the binary, systemd unit, config and rules on this host"
}

// Where install puts what, relative to --root: the package's layout. The unit is the
// vendor's (/usr/lib, replaced on every install); /etc/systemd/system is the admin's.
const (
	unitPath      = "usr/lib/systemd/system/abusewatch.service"
	adminUnitPath = "etc/systemd/system/abusewatch.service"
	configDir     = "etc/abusewatch"
	configPath    = "etc/abusewatch/abusewatch.toml"
	// serviceUser is the user and group the unit runs as (deploy/abusewatch.sysusers):
	// the config and its directory are root's and this group's, unreadable to others.
	serviceUser = "abusewatch"
)

// installed is one file install writes: where, what, its mode, and whether an existing
// file that differs is the admin's (kept, the new one written beside it as .new).
type installed struct {
	path     string
	data     []byte
	mode     fs.FileMode
	adminOwn bool
}

func (c *installCommand) Run(ctx context.Context, args []string) error {
	fset := newFlagSet(c.Name(), "[--root DIR]", c.stdout, c.stderr)
	root := fset.String("root", "/", "install below `DIR` instead of / (for packaging and tests)")
	rest, err := parseArgs(fset, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return &usageError{"install takes no arguments"}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	bin, err := os.ReadFile(self)
	if err != nil {
		return fmt.Errorf("reading this binary: %w", err)
	}
	unit, err := fs.ReadFile(deploy.FS, "abusewatch.service")
	if err != nil {
		return err
	}
	files := []installed{{path: "usr/bin/abusewatch", data: bin, mode: 0o755}, {path: unitPath, data: unit, mode: 0o644}}
	for _, f := range []struct{ src, dst string }{
		{"abusewatch.sysusers", "usr/lib/sysusers.d/abusewatch.conf"},
		{"abusewatch.tmpfiles", "usr/lib/tmpfiles.d/abusewatch.conf"},
	} {
		b, err := fs.ReadFile(deploy.FS, f.src)
		if err != nil {
			return err
		}
		files = append(files, installed{path: f.dst, data: b, mode: 0o644})
	}
	conf, err := fs.ReadFile(configs.FS, "abusewatch.toml")
	if err != nil {
		return err
	}
	files = append(files, installed{path: configPath, data: conf, mode: 0o640, adminOwn: true})
	// The shipped rules and template, for reading and copying: the binary embeds them.
	err = fs.WalkDir(configs.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(p) == ".go" || p == "abusewatch.toml" {
			return err
		}
		b, err := fs.ReadFile(configs.FS, p)
		files = append(files, installed{path: filepath.Join("usr/share/abusewatch", p), data: b, mode: 0o644})
		return err
	})
	if err != nil {
		return err
	}
	// The config files the service must read: the shipped config (unless the admin's
	// edited one was kept) and the .new beside a kept one.
	var shared []string
	keptConfig := ""
	for _, f := range files {
		wrote, kept, err := installFile(*root, f)
		if err != nil {
			return err
		}
		dst := filepath.Join(*root, f.path)
		if kept {
			fmt.Fprintf(c.stdout, "kept your edited %s; the shipped version is in %s\n", dst, wrote)
		}
		if f.path == configPath {
			if kept {
				keptConfig = dst
				shared = append(shared, wrote)
			} else {
				shared = append(shared, dst)
			}
		}
	}
	c.checkAdminUnit(*root, unit)
	if *root == "/" {
		// sysusers first: it creates the group the config is given to below.
		for _, cmd := range [][]string{
			{"systemd-sysusers", "abusewatch.conf"},
			{"systemd-tmpfiles", "--create", "abusewatch.conf"},
		} {
			if out, err := exec.CommandContext(ctx, cmd[0], cmd[1:]...).CombinedOutput(); err != nil {
				fmt.Fprintf(c.stderr, "warning: %s: %v %s\n", cmd[0], err, bytes.TrimSpace(out))
			}
		}
	}
	if err := c.shareConfig(*root, shared, keptConfig); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, `Installed below %s.
Next: edit /etc/abusewatch/abusewatch.toml (set [reporter], mail.from, [[source]] and
policy.never_report), check it as the service reads it, and start the service:
  runuser -u abusewatch -- abusewatch check-config
  systemctl daemon-reload && systemctl enable --now abusewatch
After an upgrade: systemctl daemon-reload && systemctl restart abusewatch
Changes to the unit (ReadWritePaths=, AmbientCapabilities=, Environment=) go in a
drop-in, which installs and upgrades keep: systemctl edit abusewatch
`, *root)
	return nil
}

// checkAdminUnit warns about a unit in /etc/systemd/system, where installs before the
// unit moved to /usr/lib put it: it overrides the installed unit as a whole. It may hold
// the admin's edits, so it stays; the warning says how to move them to a drop-in.
func (c *installCommand) checkAdminUnit(root string, unit []byte) {
	path := filepath.Join(root, adminUnitPath)
	old, err := os.ReadFile(path)
	if err != nil {
		return
	}
	what := "It differs from the shipped unit (your changes, or an earlier version's unit): " +
		"put your changes in a drop-in (systemctl edit abusewatch), then remove it"
	if bytes.Equal(old, unit) {
		what = "It is the shipped unit, copied there by an earlier install: remove it"
	}
	fmt.Fprintf(c.stdout, `warning: %s overrides the unit installed in %s,
so a new version of the unit never takes effect; install left it as it is.
%s:
  rm %s && systemctl daemon-reload && systemctl reenable abusewatch
`, path, filepath.Join(root, unitPath), what, path)
}

// shareConfig gives the config directory and the config files install wrote to the
// service's group: directory 0750, files 0640, owner unchanged (root when root installs),
// so the service reads them and others cannot. An edited config install kept is the
// admin's: it is only checked, and a warning says how to let the service read it.
func (c *installCommand) shareConfig(root string, shared []string, kept string) error {
	dir := filepath.Join(root, configDir)
	if err := os.Chmod(dir, 0o750); err != nil {
		return err
	}
	for _, p := range shared {
		if err := os.Chmod(p, 0o640); err != nil {
			return err
		}
	}
	paths := append([]string{dir}, shared...)
	gid, err := lookupID(filepath.Join(root, "etc/group"), serviceUser)
	if err != nil {
		return err
	}
	if gid < 0 {
		if kept != "" {
			paths = append(paths, kept)
		}
		sysusers := "systemd-sysusers abusewatch.conf"
		if root != "/" {
			sysusers = "systemd-sysusers --root=" + root + " abusewatch.conf"
		}
		fmt.Fprintf(c.stdout, `The group %s is not in %s yet, so the service cannot read its config.
Create the user and group as %s says, and give them the config:
  %s
  chgrp %s %s
`, serviceUser, filepath.Join(root, "etc/group"), filepath.Join(root, "usr/lib/sysusers.d/abusewatch.conf"),
			sysusers, serviceUser, strings.Join(paths, " "))
		return nil
	}
	group := serviceUser // the name resolves on this host only when installing into /
	if root != "/" {
		group = strconv.Itoa(gid)
	}
	var failed []string
	for _, p := range paths {
		if err := os.Chown(p, -1, gid); err != nil {
			failed = append(failed, p)
		}
	}
	if len(failed) > 0 {
		fmt.Fprintf(c.stdout, "The service cannot read its config until its group owns it; as root, run:\n  chgrp %s %s\n",
			group, strings.Join(failed, " "))
	}
	if kept == "" {
		return nil
	}
	fi, err := os.Stat(kept)
	if err != nil {
		return err
	}
	uid, err := lookupID(filepath.Join(root, "etc/passwd"), serviceUser)
	if err != nil {
		return err
	}
	if !readableBy(fi, uid, gid) {
		fmt.Fprintf(c.stdout, "warning: the service (user %s) cannot read your %s; give it to its group:\n  chgrp %s %s && chmod 0640 %s\n",
			serviceUser, kept, group, kept, kept)
	}
	return nil
}

// readableBy says whether a process with this uid and primary gid (no other groups) may
// read the file, by its mode bits.
func readableBy(fi fs.FileInfo, uid, gid int) bool {
	perm := fi.Mode().Perm()
	st, ok := fi.Sys().(*syscall.Stat_t)
	switch {
	case !ok:
		return true // no owner to judge by: say nothing rather than something wrong
	case int(st.Uid) == uid:
		return perm&0o400 != 0
	case int(st.Gid) == gid:
		return perm&0o040 != 0
	}
	return perm&0o004 != 0
}

// lookupID returns the id of name in a passwd(5) or group(5) file (the third field in
// both), or -1 when the file or the name is not there. Files, not NSS: systemd-sysusers
// writes system users there, and below --root they are the only source.
func lookupID(file, name string) (int, error) {
	f, err := os.Open(file)
	if os.IsNotExist(err) {
		return -1, nil
	} else if err != nil {
		return -1, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) >= 3 && fields[0] == name {
			id, err := strconv.Atoi(fields[2])
			if err != nil {
				return -1, fmt.Errorf("%s: %s has the id %q", file, name, fields[2])
			}
			return id, nil
		}
	}
	return -1, sc.Err()
}

// installFile writes f below root and returns the path it wrote ("" when the file was
// already there as shipped). An admin-owned file that exists with other content is
// kept (kept is true); the new version goes beside it as .new.
func installFile(root string, f installed) (wrote string, kept bool, err error) {
	dst := filepath.Join(root, f.path)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", false, err
	}
	if f.adminOwn {
		old, err := os.ReadFile(dst)
		switch {
		case err == nil && bytes.Equal(old, f.data):
			return "", false, nil
		case err == nil:
			return dst + ".new", true, writeAtomic(dst+".new", f.data, f.mode)
		case !os.IsNotExist(err):
			return "", false, err
		}
	}
	return dst, false, writeAtomic(dst, f.data, f.mode)
}

// writeAtomic writes through a temporary file and a rename, so a running binary or a
// half-written unit is never seen.
func writeAtomic(dst string, data []byte, mode fs.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".abusewatch-install-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}
