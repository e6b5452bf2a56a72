package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"

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

// installed is one file install writes: where, what, its mode, and whether an existing
// file that differs is the admin's (kept, the new one written beside it as .new).
type installed struct {
	path     string
	data     []byte
	mode     fs.FileMode
	adminOwn bool
}

func (c *installCommand) Run(ctx context.Context, args []string) error {
	fset := newFlagSet(c.Name(), "[--root DIR]", c.stderr)
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
	files := []installed{{path: "usr/bin/abusewatch", data: bin, mode: 0o755}}
	for _, f := range []struct{ src, dst string }{
		{"abusewatch.service", "etc/systemd/system/abusewatch.service"},
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
	files = append(files, installed{path: "etc/abusewatch/abusewatch.toml", data: conf, mode: 0o640, adminOwn: true})
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
	for _, f := range files {
		msg, err := installFile(*root, f)
		if err != nil {
			return err
		}
		if msg != "" {
			fmt.Fprintln(c.stdout, msg)
		}
	}
	if *root == "/" {
		for _, cmd := range [][]string{
			{"systemd-sysusers", "/usr/lib/sysusers.d/abusewatch.conf"},
			{"systemd-tmpfiles", "--create", "/usr/lib/tmpfiles.d/abusewatch.conf"},
		} {
			if out, err := exec.CommandContext(ctx, cmd[0], cmd[1:]...).CombinedOutput(); err != nil {
				fmt.Fprintf(c.stderr, "warning: %s: %v %s\n", cmd[0], err, bytes.TrimSpace(out))
			}
		}
	}
	fmt.Fprintf(c.stdout, `Installed below %s.
Next: edit /etc/abusewatch/abusewatch.toml (set [reporter], mail.from, [[source]] and
policy.never_report), check it, and start the service:
  abusewatch check-config
  systemctl daemon-reload && systemctl enable --now abusewatch
`, *root)
	return nil
}

// installFile writes f below root. An admin-owned file that exists with other content
// is kept; the new version goes beside it as .new, and the returned message says so.
func installFile(root string, f installed) (string, error) {
	dst := filepath.Join(root, f.path)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", err
	}
	if f.adminOwn {
		old, err := os.ReadFile(dst)
		switch {
		case err == nil && bytes.Equal(old, f.data):
			return "", nil
		case err == nil:
			dst += ".new"
			if err := writeAtomic(dst, f.data, f.mode); err != nil {
				return "", err
			}
			return fmt.Sprintf("kept your edited %s; the shipped version is in %s", filepath.Join(root, f.path), dst), nil
		case !os.IsNotExist(err):
			return "", err
		}
	}
	return "", writeAtomic(dst, f.data, f.mode)
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
