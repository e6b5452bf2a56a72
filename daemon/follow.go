package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/store"
	"github.com/nxadm/tail"
)

// sourceLine is a record with the identity of the file it was read from, so the
// position committed with it names the right file after a rotation.
type sourceLine struct {
	rec abusewatch.Record
	pos store.Position
}

// ExpandSources turns the configured files and globs into the paths to follow, in a
// stable order without duplicates. A pattern that matches nothing yet is kept as a path
// when it has no glob characters (the file may appear later).
func ExpandSources(cfg *Config) ([]string, error) {
	var out []string
	for i, s := range cfg.Sources {
		for _, pattern := range s.Files {
			matches, err := filepath.Glob(pattern)
			if err != nil {
				return nil, &ConfigError{File: cfg.file, Line: keyLine(cfg.doc, fmt.Sprintf("source[%d].files", i)),
					Key: fmt.Sprintf("source[%d].files", i), Problem: fmt.Sprintf("bad pattern %q: %v", pattern, err)}
			}
			if len(matches) == 0 && !hasMeta(pattern) {
				matches = []string{pattern}
			}
			for _, m := range matches {
				abs, err := filepath.Abs(m)
				if err != nil {
					return nil, err
				}
				if !slices.Contains(out, abs) {
					out = append(out, abs)
				}
			}
		}
	}
	return out, nil
}

func hasMeta(p string) bool {
	for _, c := range p {
		if c == '*' || c == '?' || c == '[' || c == '\\' {
			return true
		}
	}
	return false
}

// follow reads path from its committed position (or its start) on, through renames
// and truncation, and sends each complete line to out until ctx ends.
//
// nxadm/tail is used in polling mode on purpose. With inotify it reads to the end and only
// then starts watching, so a line written in between sits unread until the next write
// (seen in TestRunReportsOverSMTPToTheRDAPAbuseContact); and it calls os.Exit when no
// inotify instance can be had. Polling checks the size every 250ms, which costs one stat.
func (d *Daemon) follow(ctx context.Context, path string, out chan<- sourceLine) error {
	start := store.Position{Source: path}
	var offset int64
	fi, statErr := os.Stat(path)
	if statErr == nil {
		start = identity(path, fi)
		prev, ok, err := d.store.Position(path)
		if err != nil {
			return err
		}
		switch {
		case !ok:
		case prev.Dev != start.Dev || prev.Inode != start.Inode:
			d.log.Warn("file was replaced while the daemon was stopped: reading the new file from its start",
				"file", path)
		case prev.Offset > fi.Size():
			d.log.Warn("file is shorter than where reading stopped: it was truncated, reading it from the start",
				"file", path, "offset", prev.Offset, "size", fi.Size())
		default:
			offset = prev.Offset
		}
	}
	start.Offset = offset
	t, err := tail.TailFile(path, tail.Config{
		Location:      &tail.SeekInfo{Offset: offset, Whence: io.SeekStart},
		ReOpen:        true,
		Follow:        true,
		MustExist:     false,
		Poll:          true,
		CompleteLines: true,
		Logger:        tail.DiscardingLogger,
	})
	if err != nil {
		return fmt.Errorf("follow %s: %w", path, err)
	}
	defer t.Cleanup()
	defer t.Stop()
	d.log.Info("following", "file", path, "offset", offset)
	pos := start
	for {
		var line *tail.Line
		select {
		case <-ctx.Done():
			return nil
		case l, ok := <-t.Lines:
			if !ok {
				return t.Err()
			}
			line = l
		}
		if line.Err != nil {
			d.log.Warn("reading", "file", path, "err", line.Err)
			continue
		}
		if line.SeekInfo.Offset < pos.Offset || pos.Inode == 0 {
			// The file was reopened (rotated or truncated): the offsets now count in the
			// file that is under the path at present.
			if fi, err := os.Stat(path); err == nil {
				id := identity(path, fi)
				pos.Dev, pos.Inode = id.Dev, id.Inode
			}
		}
		pos.Offset = line.SeekInfo.Offset
		select {
		case out <- sourceLine{rec: abusewatch.Record{Source: path, Line: line.Text, Offset: pos.Offset, Read: line.Time}, pos: pos}:
		case <-ctx.Done():
			return nil
		}
	}
}

// logAttrs is shared by the daemon's start and stop lines.
func logAttrs(cfg *Config) []any {
	return []any{slog.String("config", cfg.file), slog.String("mode", cfg.Policy.Mode), slog.String("store", cfg.Store.Path)}
}
