package daemon

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/store"
)

// batchSize is how many records go into one store transaction.
const batchSize = 2000

// maxLine bounds the bytes kept of one line; the rest of an over-long line is skipped
// (detect counts such a line as unparsed).
const maxLine = 64 << 10

// ScanFiles reads existing log files, plain or gzip-compressed, oldest first, through the
// pipeline. Each file continues from its committed position when its identity (device and
// inode) is unchanged, so scanning a file twice never counts a line twice. Events before
// since (when set) are skipped. The round of the outbox that follows a scan takes all
// the time its lookups need: there is no next round to leave them to.
func (p *Pipeline) ScanFiles(ctx context.Context, files []string, since time.Time) error {
	p.since, p.roundBudget = since, 0
	defer func() { p.since = time.Time{} }()
	ordered, err := oldestFirst(files)
	if err != nil {
		return err
	}
	for _, f := range ordered {
		if err := p.scanFile(ctx, f); err != nil {
			return err
		}
	}
	return nil
}

// oldestFirst sorts files by modification time, so rotated files come before the live one.
func oldestFirst(files []string) ([]string, error) {
	type entry struct {
		path string
		mod  time.Time
	}
	entries := make([]entry, 0, len(files))
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			return nil, err
		}
		if fi.IsDir() {
			return nil, fmt.Errorf("%s is a directory: name the log files in it", f)
		}
		entries = append(entries, entry{f, fi.ModTime()})
	}
	slices.SortStableFunc(entries, func(a, b entry) int { return a.mod.Compare(b.mod) })
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.path
	}
	return out, nil
}

func (p *Pipeline) scanFile(ctx context.Context, path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	f, err := os.Open(abs)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	pos := identity(abs, fi)
	br := bufio.NewReaderSize(f, 64<<10)
	var r io.Reader = br
	compressed := false
	magic, _ := br.Peek(magicLen)
	if format := logFormat(magic); format != "" {
		zr, release, err := decompress(br, format)
		if err != nil {
			return fmt.Errorf("%s: %w", abs, err)
		}
		defer release()
		r, compressed = zr, true
	}
	var skip int64
	if prev, ok, err := p.store.Position(abs); err != nil {
		return err
	} else if ok && prev.Dev == pos.Dev && prev.Inode == pos.Inode {
		skip = prev.Offset
		if !compressed && skip > fi.Size() {
			p.log.Warn("file is shorter than where reading stopped: it was truncated, reading it from the start",
				"file", abs, "offset", skip, "size", fi.Size())
			skip = 0
		}
	}
	if skip > 0 {
		n, err := io.CopyN(io.Discard, r, skip)
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("%s: %w", abs, err)
		}
		pos.Offset = n
		p.log.Info("continuing where the last read stopped", "file", abs, "offset", n)
	}
	lr := newLineReader(r)
	read := time.Now()
	if fi.ModTime().Before(read) {
		// A line without a year belongs to the year that puts it before the file's last write.
		read = fi.ModTime()
	}
	recs := make([]abusewatch.Record, 0, batchSize)
	for {
		line, n, err := lr.next()
		if n > 0 {
			pos.Offset += int64(n)
			recs = append(recs, abusewatch.Record{Source: abs, Line: line, Offset: pos.Offset, Read: read})
		}
		if len(recs) == batchSize || (err != nil && len(recs) > 0) {
			if ierr := p.Ingest(ctx, recs, []store.Position{pos}); ierr != nil {
				return ierr
			}
			recs = recs[:0]
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", abs, err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// identity is the position at the start of the file fi found at path.
func identity(path string, fi os.FileInfo) store.Position {
	pos := store.Position{Source: path}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		pos.Dev, pos.Inode = uint64(st.Dev), st.Ino
	}
	return pos
}

// lineReader splits a stream into lines, keeping at most maxLine bytes of each.
type lineReader struct {
	br *bufio.Reader
}

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{br: bufio.NewReaderSize(r, maxLine)}
}

// next returns the next line without its newline (nor a carriage return before it, as
// bufio.ScanLines, which `rules test` reads with), and how many bytes it took in the
// stream (0 at the end). A last line without a newline is returned with io.EOF.
func (l *lineReader) next() (string, int, error) {
	b, err := l.br.ReadSlice('\n')
	n := len(b)
	line := withoutLineEnd(string(b))
	for errors.Is(err, bufio.ErrBufferFull) {
		b, err = l.br.ReadSlice('\n')
		n += len(b)
	}
	if errors.Is(err, io.EOF) && n > 0 {
		return line, n, io.EOF
	}
	return line, n, err
}

// withoutLineEnd is line without its newline and a carriage return before it: a log
// written with CRLF (a Windows host's, some devices' over syslog) reads like any other,
// where its lines were unparsed records in the daemon and events in `rules test`.
func withoutLineEnd(line string) string {
	return strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
}
