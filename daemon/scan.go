package daemon

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/detect"
	"github.com/abusewatch/abusewatch/store"
)

// batchSize is how many records go into one store transaction.
const batchSize = 2000

// maxLine bounds the bytes kept of one line; the rest of an over-long line is skipped
// (detect counts such a line as unparsed).
const maxLine = 64 << 10

// ScanFiles reads existing log files, plain or gzip-compressed, oldest first, through the
// pipeline (see Scan).
func (p *Pipeline) ScanFiles(ctx context.Context, files []string, since time.Time) error {
	_, err := p.Scan(ctx, files, since)
	return err
}

// ScannedFile is what Scan found out about a file before reading it: whether its lines,
// up to an offset, were read before, by a scan or by the daemon, under its name or another.
type ScannedFile struct {
	Name string `json:"file"` // as given
	Path string `json:"path"` // absolute
	// ReadAs names the file read before whose lines this one holds up to Offset: this one
	// under its own name or another (renamed by logrotate, a hard link), or, when Copy, a
	// file with the same bytes before Offset (a copy, compressed or not). "": none.
	ReadAs string `json:"read_as,omitempty"`
	Copy   bool   `json:"copy,omitempty"`
	Lines  int64  `json:"lines_read_before"` // the lines up to Offset, skipped
	Offset int64  `json:"bytes_read_before"`
	// Truncated: it was read before up to Offset, but no longer holds the bytes read then
	// (truncated, or truncated and written again): it is read from its start.
	Truncated bool `json:"truncated,omitempty"`
	// UnmarkedRotationOf names the followed file whose rotated name this one carries
	// (auth.log of auth.log.1) when no file read before matches it and no rotated mark
	// can tell whether a daemon read it: that daemon kept none (a version older than
	// rotated marks), or this file was rotated before the daemon began to keep them. If
	// it read this file before it was rotated, reading it whole stores its lines twice.
	// "": not so.
	UnmarkedRotationOf string `json:"unmarked_rotation_of,omitempty"`
	// Reread: the file was read whole all the same (Reread), its records stored before
	// not stored again.
	Reread bool `json:"reread,omitempty"`
}

// Reread makes the scans that follow read each file whole, what was read of it before
// too, so that an attack rule written since applies to the lines read before (review
// 44 M5). Only the records not stored yet are stored (storedRecords), and a file's
// mark does not move back: the daemon goes on from where it was.
func (p *Pipeline) Reread() { p.reread = true }

// Scan reads existing log files, plain or compressed, oldest first, through the pipeline.
// A file read before, by a scan or by the daemon, under its name or another (renamed by
// rotation, copied, compressed), is known by its device and inode or by the fingerprint
// of the bytes before the committed offset, as the daemon knows a rotated file, and only
// what follows that offset is read (unless Reread): no line is counted twice. A record
// found stored before, read again or in a merged log, is not stored again
// (storedRecords). Events before since (when set) are skipped. The round of the outbox
// that follows a scan takes all the time its lookups need: there is no next round to
// leave them to.
func (p *Pipeline) Scan(ctx context.Context, files []string, since time.Time) ([]ScannedFile, error) {
	p.since, p.roundBudget = since, 0
	p.scanned = true // a login after the attack is in the files read, if it came at all (waitsForLogin)
	if p.touched == nil {
		p.touched = map[string]bool{} // what it makes or grows, which policy.settle does not hold
	}
	defer func() { p.since = time.Time{} }()
	if oneSource(files) {
		// One file and its rotated copies: no record comes twice (recordCopies).
		defer func(copies *recordCopies) { p.copies = copies }(p.copies)
		p.copies = nil
	}
	ordered, err := oldestFirst(files)
	if err != nil {
		return nil, err
	}
	if p.scanStored, err = newStoredRecords(p.store); err != nil {
		return nil, err
	}
	defer func() { p.scanStored = nil }()
	// A scan killed between a batch's commit and its incidents, or whose correlation
	// failed, left events that no scan reads again: correlated first. Failing (a full
	// disk), each batch tries again, and so does the end.
	if err := p.CatchUp(ctx); err != nil && ctx.Err() == nil {
		p.log.Warn("events committed before are not correlated yet: tried again with the next batch", "err", err)
	}
	var out []ScannedFile
	failed := &ProcessingFailed{}
	for _, f := range ordered {
		sf, err := p.scanFile(ctx, f, failed)
		if sf.ReadAs != "" || sf.Truncated || sf.UnmarkedRotationOf != "" {
			out = append(out, sf)
		}
		if err != nil {
			return out, err
		}
	}
	if err := p.CatchUp(ctx); err != nil {
		if failed.Batches == 0 {
			return out, fmt.Errorf("every file was read to its end, but %w", err)
		}
		p.log.Warn("the events committed are not all correlated: a scan again correlates them", "err", err)
	}
	if failed.Batches > 0 {
		return out, failed
	}
	return out, nil
}

// ProcessingFailed is what Scan returns when it read every file to its end, but the
// processing of some batches failed after their events were committed (the unknown
// lines' tally, the correlation). Each was logged as a warning with its file and lines,
// and the scan read on, as the daemon does: the events are stored, and reading them
// again would store them twice.
type ProcessingFailed struct {
	Batches int
	First   error // the first batch's failure
}

func (e *ProcessingFailed) Error() string {
	batches := "1 batch's events were"
	if e.Batches > 1 {
		batches = fmt.Sprintf("%d batches' events were", e.Batches)
	}
	return fmt.Sprintf("%s stored, but processing them failed after (the first: %v); every file was read to its end "+
		"and a scan again reads nothing twice (see the warnings above)", batches, e.First)
}

// Unwrap is the first failure.
func (e *ProcessingFailed) Unwrap() error { return e.First }

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

// scanFile reads the file name through the pipeline from where it was read before. A
// batch whose processing failed after its commit is logged and added to failed, and
// reading goes on; any other failure stops it there, before the batch's mark.
func (p *Pipeline) scanFile(ctx context.Context, name string, failed *ProcessingFailed) (ScannedFile, error) {
	sf := ScannedFile{Name: name}
	abs, err := filepath.Abs(name)
	if err != nil {
		return sf, err
	}
	sf.Path = abs
	f, err := os.Open(abs)
	if err != nil {
		return sf, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return sf, err
	}
	pos := identity(abs, fi)
	br := bufio.NewReaderSize(f, 64<<10)
	var r io.Reader = br
	magic, _ := br.Peek(magicLen)
	format := logFormat(magic)
	if format != "" {
		zr, release, err := decompress(br, format)
		if err != nil {
			return sf, fmt.Errorf("%s: %w", abs, err)
		}
		defer release()
		r = zr
	}
	self := rotatedFile{path: abs, dev: pos.Dev, inode: pos.Inode, format: format, mod: fi.ModTime()}
	found, gone, err := p.readBefore(self, fi.Size())
	if err != nil {
		return sf, err
	}
	lr := newLineReader(r)
	var rereadUpTo int64 // of a file read before and read whole again (Reread): where it was read to
	if found.m != nil && p.reread {
		sf.ReadAs, sf.Copy, sf.Offset, sf.Reread = found.m.pos.Source, found.copy, found.m.pos.Offset, true
		rereadUpTo = sf.Offset
		p.log.Info("read before: reading it whole again (--reread), storing only the records not stored yet", "file", abs, "read_as", sf.ReadAs, "copy", sf.Copy, "offset", sf.Offset)
	} else if found.m != nil {
		sf.ReadAs, sf.Copy, sf.Offset = found.m.pos.Source, found.copy, found.m.pos.Offset
		skipped := &skipCount{}
		n, err := io.CopyN(skipped, r, sf.Offset)
		if err != nil && !errors.Is(err, io.EOF) {
			return sf, fmt.Errorf("%s: %w", abs, err)
		}
		pos.Offset, sf.Lines, lr.tail = n, skipped.lines, skipped.tail
		p.log.Info("read before: reading only what follows", "file", abs, "read_as", sf.ReadAs, "copy", sf.Copy, "lines", sf.Lines, "offset", n)
	} else if gone.m != nil {
		sf.Truncated, sf.Offset = true, gone.m.pos.Offset
		p.log.Warn("file no longer holds what was read of it (truncated, or truncated and written again): reading it from the start",
			"file", abs, "offset", sf.Offset, "size", fi.Size())
	} else if sf.UnmarkedRotationOf, err = p.unmarkedRotationOf(abs, fi.ModTime()); err != nil {
		return sf, err
	} else if sf.UnmarkedRotationOf != "" {
		p.log.Warn("no rotated mark tells whether a daemon read this file: it carries a rotated name of a file a daemon followed before it kept marks of rotated files "+
			"(a version older than them); if that daemon read it before it was rotated, reading it whole stores its lines twice",
			"file", abs, "rotated_from", sf.UnmarkedRotationOf)
	}
	committed, tail := pos.Offset, slices.Clone(lr.tail)
	if found.m != nil && found.m.pos.Source != abs {
		// The daemon (or a scan) continues that file from its own mark: move it past
		// what is read here, or it reads these lines again.
		defer func() { p.advance(*found.m, committed, tail) }()
	}
	read := time.Now()
	if fi.ModTime().Before(read) {
		// A line is read as of the file's last write: the file's last line without a
		// year gets the year that puts it no more than a day after it (the lines before
		// it, by their order: backlogYears), and a host whose lines are dated after it
		// has them all dated earlier by as much as its newest is (clock.go).
		read = fi.ModTime()
	}
	// The file is read whole and forward: the years its times without one lack are
	// those of its order, counted back from its last line; and how far each host's
	// newest line is after the last write.
	years, ahead, err := p.backlogYears(ctx, f, abs, format, pos.Offset, read)
	if err != nil {
		return sf, fmt.Errorf("%s: %w", abs, err)
	}
	p.scanStored.startFile(abs, sf.Reread, rereadUpTo)
	recs := make([]abusewatch.Record, 0, batchSize)
	lineNo := sf.Lines // the last line read, counted from the file's start
	for {
		line, n, err := lr.next()
		if n > 0 {
			pos.Offset += int64(n)
			lineNo++
			if pos.Offset == rereadUpTo {
				sf.Lines = lineNo
			}
			recs = append(recs, abusewatch.Record{Source: abs, Line: line, Offset: pos.Offset, Read: read, Year: years.Year(pos.Offset), HostsAhead: ahead})
		}
		if len(recs) == batchSize || (err != nil && len(recs) > 0) {
			positions := []store.Position{pos, fingerprintOf(abs, lr.tail, pos.Offset)}
			if pos.Offset <= rereadUpTo {
				// Read again: the file's mark stays where it was, past these lines, and
				// the daemon goes on from there.
				positions = nil
			}
			ierr := p.Ingest(ctx, recs, positions)
			if _, after := errors.AsType[*afterCommitError](ierr); ierr != nil && !after {
				return sf, ierr // not committed: the next scan reads the batch again
			}
			// The batch is in, even when what followed its commit failed: the
			// daemon's mark moves past it too, or the daemon reads its lines again.
			committed, tail = pos.Offset, slices.Clone(lr.tail)
			if ierr != nil {
				// As the daemon does: reading the batch again would store its events
				// twice, and stopping would leave the rest of the file unread.
				lines := fmt.Sprintf("%d-%d", lineNo-int64(len(recs))+1, lineNo)
				p.log.Warn("the batch's events are stored, but processing them failed after: reading goes on",
					"file", abs, "lines", lines, "err", ierr)
				if failed.Batches++; failed.First == nil {
					failed.First = fmt.Errorf("%s, lines %s: %w", abs, lines, ierr)
				}
			}
			recs = recs[:0]
		}
		if errors.Is(err, io.EOF) {
			return sf, nil
		}
		if err != nil {
			return sf, fmt.Errorf("%s: %w", abs, err)
		}
		if err := ctx.Err(); err != nil {
			return sf, err
		}
	}
}

// backlogYears reads the lines of f, plain or compressed as format, from the offset of
// its text where the scan starts, as the scan will read them, for the years of their
// times without one (detect.BacklogYears): the last line's as of read. A first pass over
// the headers alone: the scan needs the years from the first line on, and they are
// counted back from the last.
//
// The same pass tells ahead: for each host (as its lines name it) whose last line, in
// the file's order, is dated after read, by how much (abusewatch.Record.HostsAhead). A host's clock is off
// by the same for all its lines, and its last line was written at or before read: its
// lines are all dated that much earlier, which keeps their spacing. Dated each at
// read, as a line read as it is written is, a backlog's lines of hours would be one
// burst, and an incident of lines 40 minutes apart. A line more than
// maxBacklogAhead after read tells nothing of its host's offset (a clock stepped
// for a moment, a line forged): it is dated at read alone (clock.go), and its host's
// attacks are not moved back by it.
func (p *Pipeline) backlogYears(ctx context.Context, f *os.File, source, format string, start int64, read time.Time) (*detect.BacklogYears, map[string]time.Duration, error) {
	return readBacklog(ctx, f, source, format, start, read, p.cfg)
}

// readBacklog is backlogYears for any reader of a backlog: the scan, and a followed
// file's first read (fileFollower.drain), whose lines are read at once as a scan's are.
func readBacklog(ctx context.Context, f *os.File, source, format string, start int64, read time.Time, cfg *Config) (*detect.BacklogYears, map[string]time.Duration, error) {
	// A line whose format names no host is its [[source]]'s host's, as detect names it
	// (WithSourceHosts): the pipeline asks HostsAhead by that name (review 39 F2).
	hostOf := cfg.sourceHosts()
	// A plain file is read from start on; a compressed one's text up to start is
	// read and let go (a followed file resumed deep in a large log reads its backlog
	// alone).
	var r io.Reader = bufio.NewReaderSize(io.NewSectionReader(f, start, math.MaxInt64), 64<<10)
	if format != "" {
		zr, release, err := decompress(bufio.NewReaderSize(io.NewSectionReader(f, 0, math.MaxInt64), 64<<10), format)
		if err != nil {
			return nil, nil, err
		}
		defer release()
		r = zr
		if _, err := io.CopyN(io.Discard, r, start); err != nil && !errors.Is(err, io.EOF) {
			return nil, nil, err
		}
	}
	years := &detect.BacklogYears{}
	loc := Location(cfg.Detect.Timezone)
	last := map[string]time.Time{} // each host's last line's time, in the file's order
	lr, offset := newLineReader(r), start
	for n := 0; ; n++ {
		line, size, err := lr.next()
		if size > 0 {
			offset += int64(size)
			years.Add(line, offset)
			// A time without a year is this year's up to a day after read, as the
			// file's last line is (BacklogYears.End).
			if h, err := detect.ParseHeader(line, read, loc); err == nil {
				host := h.Host
				if hostOf != nil && !h.NamesHost() {
					if named := hostOf(source); named != "" {
						host = named
					}
				}
				last[host] = h.Time
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		if n%batchSize == 0 {
			if err := ctx.Err(); err != nil {
				return nil, nil, err
			}
		}
	}
	years.End(read, loc)
	// A host is ahead by its last line's excess: the line written last, at or before
	// read. Not by the largest of any of its lines: one stray line hours ahead (a cron
	// job's, a sender naming the host in a relay's file) moved all its attacks back by
	// that much (review 39 F1).
	var ahead map[string]time.Duration
	for host, t := range last {
		if t.After(read) && !t.After(read.Add(maxBacklogAhead)) {
			if ahead == nil {
				ahead = map[string]time.Duration{}
			}
			ahead[host] = t.Sub(read)
		}
	}
	return years, ahead, nil
}

// maxBacklogAhead is how far after a scanned file's last write a line may be dated and
// tell its host's clock offset (backlogYears): a host in any zone that writes its local
// time without an offset (Kiribati's +14 h), a clock hours fast. It is the allowance of
// a backlog's time without a year (detect.ParseHeader): a line of such a time is never
// dated further ahead.
const maxBacklogAhead = 24 * time.Hour

// markFound is a committed mark that a scanned file matches; copy: by the fingerprint
// only, the file is another one with the same bytes.
type markFound struct {
	m    *readMark
	copy bool
}

// readBefore looks among the committed marks of files for the one f (its text size
// bytes, when plain) was read up to, the furthest when several match; and for its own
// mark that it no longer holds (truncated), reported only when none matches.
func (p *Pipeline) readBefore(f rotatedFile, size int64) (found, truncated markFound, err error) {
	all, err := p.store.Positions()
	if err != nil {
		return found, truncated, err
	}
	fps := map[string]store.Position{}
	for _, pos := range all {
		if path, ok := strings.CutSuffix(pos.Source, fingerprintKey("")); ok {
			fps[path] = pos
		}
	}
	for _, pos := range all {
		if !filepath.IsAbs(pos.Source) || strings.Contains(pos.Source, "\x00") || pos.Offset <= 0 {
			continue // not a file's, or nothing read
		}
		fp, have := fps[pos.Source]
		m := markOf(pos, fp, have)
		own, sameID := pos.Source == f.path, pos.Dev == f.dev && pos.Inode == f.inode
		var copy bool
		switch {
		case m.sameFile(f):
		case own && sameID && !m.haveFP && (f.compressed() || size >= pos.Offset):
			// Committed by a scan from before fingerprints, maybe after a last line
			// without a newline: the file is unchanged, as that scan assumed.
		case m.copyOf(f) && (m.fp.Inode > 0 || rotatedNameOf(f.path, pos.Source)):
			// By the bytes before the offset; an empty fingerprint (an over-long line read
			// last) tells only that the file is long enough, which is no sign of a copy
			// unless the file carries a rotated name of the path, as the daemon tries.
			copy = true
		default:
			if own && sameID {
				truncated.m = &m
			}
			continue
		}
		if found.m == nil || pos.Offset > found.m.pos.Offset || pos.Offset == found.m.pos.Offset && own {
			found = markFound{m: &m, copy: copy}
		}
	}
	return found, truncated, nil
}

// unmarkedRotationOf is the path of a file followed (its position committed) of which
// f carries a rotated name, when no rotated mark can tell whether a daemon read f: the
// store holds no count of the path's marks (its daemon kept none, being older than
// them), or f was last written before the daemon began to mark the path's rotations
// (the count's Dev, set when a daemon that marks them first met a store of one that did
// not). "": none. Called for a file that no committed mark matches.
func (p *Pipeline) unmarkedRotationOf(f string, mod time.Time) (string, error) {
	all, err := p.store.Positions()
	if err != nil {
		return "", err
	}
	counts := map[string]store.Position{}
	for _, pos := range all {
		if path, ok := strings.CutSuffix(pos.Source, marksKey("")); ok {
			counts[path] = pos
		}
	}
	for _, pos := range all {
		if !filepath.IsAbs(pos.Source) || strings.Contains(pos.Source, "\x00") || pos.Source == f || !rotatedNameOf(f, pos.Source) {
			continue
		}
		if c, ok := counts[pos.Source]; !ok || c.Dev != 0 && mod.Before(time.Unix(0, int64(c.Dev))) {
			return pos.Source, nil
		}
	}
	return "", nil
}

// rotatedNameOf says whether name is a rotated name of path, where the daemon looks for
// a file rotated away from it.
func rotatedNameOf(name, path string) bool {
	return filepath.Dir(name) == filepath.Dir(path) && isRotatedOf(filepath.Base(name), filepath.Base(path))
}

// advance moves m, the mark of another name, to offset when the file the daemon would
// continue reading it in (see resume) holds the bytes before it, tail: those lines were
// read by this scan. Then it is the file scanned, or the original of a copy that holds
// its lines; else (the scanned file only starts like it) the mark stays.
func (p *Pipeline) advance(m readMark, offset int64, tail []byte) {
	if offset <= m.pos.Offset {
		return
	}
	next := markOf(store.Position{Source: m.pos.Source, Dev: m.pos.Dev, Inode: m.pos.Inode, Offset: offset}, fingerprintOf(m.pos.Source, tail, offset), true)
	c, ok := m.continuedIn(m.pos.Source)
	if !ok || !next.holds(c.path, c.format) {
		return
	}
	if _, err := p.store.Commit(nil, []store.Position{next.pos, next.fp}); err != nil {
		p.log.Warn("cannot move the mark of the file read before: reading it again will count the lines after it twice", "file", m.pos.Source, "err", err)
		return
	}
	p.log.Info("moved the mark of the file read before past what was read", "file", m.pos.Source, "in", c.path, "offset", offset)
}

// continuedIn is the file that resume would continue reading path in from m: the file
// under the path when it is the one read and holds the bytes before the mark, else the
// file found among its rotated files by inode or fingerprint.
func (m readMark) continuedIn(path string) (rotatedFile, bool) {
	if fi, err := os.Stat(path); err == nil {
		id := identity(path, fi)
		if c := (rotatedFile{path: path, dev: id.Dev, inode: id.Inode}); fi.Size() >= m.pos.Offset && m.sameFile(c) {
			return c, true
		}
	}
	ff := &fileFollower{path: path, log: slog.New(slog.DiscardHandler), c: &SourceCounters{}}
	cands := ff.rotatedFiles()
	if i := m.resumeIn(cands); i >= 0 {
		return cands[i], true
	}
	return rotatedFile{}, false
}

// skipCount counts the lines of the bytes skipped and keeps the last of them, the
// fingerprint of the offset where reading goes on.
type skipCount struct {
	lines int64
	tail  []byte
}

func (s *skipCount) Write(b []byte) (int, error) {
	s.lines += int64(bytes.Count(b, []byte{'\n'}))
	s.tail = lastBytes(s.tail, b)
	return len(b), nil
}

// lastBytes appends b to tail and keeps the last fingerprintLen bytes.
func lastBytes(tail, b []byte) []byte {
	tail = append(tail, b[max(0, len(b)-fingerprintLen):]...)
	return tail[max(0, len(tail)-fingerprintLen):]
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
	br   *bufio.Reader
	tail []byte // the last bytes read, at most fingerprintLen, as the stream holds them
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
	l.tail = lastBytes(l.tail, b)
	for errors.Is(err, bufio.ErrBufferFull) {
		b, err = l.br.ReadSlice('\n')
		n += len(b)
		l.tail = lastBytes(l.tail, b)
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
