package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/store"
)

// ExpandSources turns the configured files and globs into the paths to follow, in a
// stable order without duplicates. A glob selects live files only: rotated copies such as
// secure.1, secure-20261122 or auth.log.2.gz are skipped (the follower reads them itself
// when they were rotated under it). A pattern that matches nothing yet is kept as a path
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
			if hasMeta(pattern) {
				matches = slices.DeleteFunc(matches, func(m string) bool { return notLive(filepath.Base(m)) })
			} else if len(matches) == 0 {
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

// pollEvery is how often a follower looks at a file that has no new bytes. Polling, not
// inotify: no instance limit or permission can stop it (nxadm/tail calls os.Exit then),
// no line waits for the next write to be seen, and a stat and a 128-byte read every
// 100ms cost nothing and bound the latency.
const pollEvery = 100 * time.Millisecond

// fingerprintLen is how many bytes before the offset are remembered to recognise the file
// that was read (after copytruncate, the copy holds them at the same offset).
const fingerprintLen = 128

// fileFollower makes one path one perpetual source of lines. It reads the file under the
// path by descriptor, so when the path is renamed away it drains the old file to its end
// before it opens the new one (and reads on in it while a writer that kept it open still
// adds lines, see lateFile); it continues a new file that is a copy of the old one from
// the offset; it finds rotated files by inode (or, after copytruncate and
// compression, by the bytes before the offset) and reads them from the saved offset, and
// it reads a file truncated in place from its start.
//
// It replaces nxadm/tail, whose measured weaknesses (v1.4.11) are exactly what this needs
// to get right: it reopens a renamed path before draining the old file, cuts or repeats
// lines after copytruncate with a lagging reader, does not say which file a line came
// from (so a position cannot name it), and calls os.Exit on inotify or stat failures.
type fileFollower struct {
	path  string
	log   *slog.Logger
	store interface {
		Position(string) (store.Position, bool, error)
		Positions() ([]store.Position, error)
	}
	c   *SourceCounters
	out chan<- sourceLine
	// cfg gives the zone and the [[source]] hosts a backlog's headers are read with
	// (backlogAhead); nil: a backlog is not read ahead.
	cfg *Config

	// readAtStart is called once what the file held when the follower started is read
	// (its lines handed to out): after the first read to its end, the rotated files and
	// truncations resume found included, or the first attempt to open it that failed.
	readAtStart func()

	denied bool        // a permission error was already logged
	late   []*lateFile // the files rotated away, read on while written to, oldest first
	letGo  []letGoFile // the files rotated away that were closed, watched for growth
	// lastCheck is when the files let go were last looked at (checkLetGo).
	lastCheck time.Time
	// quiet and check, when set, stand for lateQuiet and lateCheck (tests).
	quiet, check time.Duration
	// marks counts the rotated marks made for the path, across restarts (marksKey):
	// the next one is mark number marks. marksRead: it was read from the store.
	marks     int64
	marksRead bool
	// marksSince is when the path's rotations began to be marked (UnixNano; 0: since it
	// was first read), committed with the count (its Dev): see loadMarks.
	marksSince uint64
	seen       []store.Position // identities of the last files read, to never read one twice
	heads      [][]byte         // the first bytes of the last files read, to know their copies

	// listed, when set, is called after each listing of the rotated files: a test
	// renames files there to make logrotate's renames fall between a listing and what
	// follows it, every time.
	listed func()
}

// headLen is how many bytes from the start of a file identify it among its copies: log
// lines start with a time stamp, so two files start alike only when one is a copy.
const headLen = 128

// headOf returns the first bytes of the text of f (decompressed from format, "" for
// text), at most headLen, read through its descriptor: what a name shows may already
// be another file.
func headOf(f *os.File, format string) []byte {
	r, done, err := textOf(f, format)
	if err != nil {
		return nil
	}
	defer done()
	b := make([]byte, headLen)
	n, _ := io.ReadFull(r, b)
	return b[:n]
}

// textOf is a reader of the text of f from its start (decompressed from format, as
// logFormat told it; as it is when format is ""). It reads with ReadAt, so f's own
// offset, where a follower reads it, does not move. done releases the reader.
func textOf(f *os.File, format string) (r io.Reader, done func(), err error) {
	sr := io.NewSectionReader(f, 0, math.MaxInt64)
	if format == "" {
		return sr, func() {}, nil
	}
	return decompress(sr, format)
}

// readWhole remembers the first bytes of a file read to its end (o must still be open).
func (ff *fileFollower) readWhole(o *openFile) {
	b := o.head()
	if len(b) == 0 {
		return
	}
	ff.heads = append(ff.heads, b)
	if len(ff.heads) > 16 {
		ff.heads = ff.heads[1:]
	}
}

// readAlready says whether h, the first bytes of a file, are those of a file read to its
// end, or of a copy of it (compressed, or made by copytruncate).
func (ff *fileFollower) readAlready(h []byte) bool {
	return len(h) > 0 && slices.ContainsFunc(ff.heads, func(r []byte) bool { return startsLike(h, r) })
}

// startsLike says whether h, the first bytes of a file (at most headLen), could be those
// of a copy of the file that starts with r: the same, or fewer of them when the copy is
// shorter than headLen.
func startsLike(h, r []byte) bool {
	return bytes.Equal(r, h) || len(h) < len(r) && bytes.HasPrefix(r, h)
}

// rotatedBesides holds the rotated files open, oldest first, but o (nil: none), the
// file just opened under the path, which is read through its descriptor: neither o
// itself nor a copy of it. o is opened before the listing so that a rotation in between
// leaves it under a rotated name, not missed; logrotate's compress then makes a copy
// with a new inode and deletes o's name, and that copy was read as well as o (every
// line of o stored twice). The caller closes the files (closeHeld).
func (ff *fileFollower) rotatedBesides(o *openFile) []heldFile {
	held := ff.holdRotated()
	if o == nil {
		return held
	}
	start := o.head()
	// o renamed since it was opened (rotated again), and held under that name: a file
	// named after it (NAME.gz, NAME.xz …) is its copy, maybe one gzip has only begun,
	// whose head says nothing yet. Kept, it was read whole by the time it was read, and
	// o's lines twice.
	var oNames []string
	for _, h := range held {
		if h.dev == o.id.Dev && h.inode == o.id.Inode {
			oNames = append(oNames, h.path+".")
		}
	}
	return slices.DeleteFunc(held, func(h heldFile) bool {
		copyOfO := slices.ContainsFunc(oNames, func(name string) bool { return strings.HasPrefix(h.path, name) })
		if h.dev == o.id.Dev && h.inode == o.id.Inode || copyOfO || len(h.head) > 0 && startsLike(h.head, start) {
			h.f.Close()
			return true
		}
		return false
	})
}

// heldFile is a rotated file held open: what is checked and read of it is the file it
// was listed as, whatever logrotate renames after the listing.
type heldFile struct {
	rotatedFile        // with f
	head        []byte // its first bytes of text, at most headLen
}

// holdRotated lists the rotated files and opens each, oldest first. logrotate renames
// them while they are listed and opened (name.1.gz to name.2.gz, name to name.1, which
// it then compresses and deletes): a name opened may then be another file than the one
// listed under it, or a file may be renamed past the names already opened and missed.
// So they are listed again once opened, until both listings agree and each open found
// the file listed: the files held are those the directory held at one moment. Their
// format and head are read through the descriptor, not the name.
func (ff *fileFollower) holdRotated() []heldFile {
	const tries = 10 // one rotation's renames take microseconds: a try falls after them
	var held []heldFile
	for try := 1; ; try++ {
		list := ff.rotatedFiles()
		held = held[:0]
		same := true
		for _, c := range list {
			f, err := os.Open(c.path)
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					same = false // renamed or deleted since the listing
				} else {
					ff.fail("cannot open the rotated file", fmt.Errorf("%s: %w", c.path, err))
				}
				continue
			}
			fi, err := f.Stat()
			if err != nil || identity(c.path, fi).Dev != c.dev || identity(c.path, fi).Inode != c.inode {
				f.Close()
				same = false
				continue
			}
			c.f, c.format = f, fileFormat(f)
			held = append(held, heldFile{rotatedFile: c, head: headOf(f, c.format)})
		}
		if same && slices.EqualFunc(list, ff.rotatedFiles(), func(a, b rotatedFile) bool {
			return a.path == b.path && a.dev == b.dev && a.inode == b.inode
		}) {
			return held
		}
		if try == tries {
			ff.log.Warn("the rotated files kept being renamed while they were listed: reading those found", "file", ff.path)
			return held
		}
		closeHeld(held)
	}
}

// closeHeld closes the files held (closing one read already is harmless).
func closeHeld(held []heldFile) {
	for _, h := range held {
		h.f.Close()
	}
}

// beingCompressed says whether h is a compressed copy of another file held, plain: the
// source gzip is still writing it from (the copy may be incomplete), or has not deleted
// yet. The plain file is read instead.
func beingCompressed(h heldFile, held []heldFile) bool {
	return h.compressed() && slices.ContainsFunc(held, func(p heldFile) bool {
		return !p.compressed() && len(p.head) > 0 && startsLike(h.head, p.head)
	})
}

// readFrom remembers that the file id was read, keeping the last few.
func (ff *fileFollower) readFrom(id store.Position) {
	id.Offset, id.Source = 0, ""
	if !slices.Contains(ff.seen, id) {
		ff.seen = append(ff.seen, id)
		if len(ff.seen) > 16 {
			ff.seen = ff.seen[1:]
		}
	}
}

// follow runs a fileFollower for path until ctx ends.
func (d *Daemon) follow(ctx context.Context, path string, out chan<- sourceLine, readAtStart func()) error {
	ff := &fileFollower{path: path, log: d.log, store: d.store, c: d.sources.get(path), out: out, readAtStart: readAtStart, cfg: d.cfg}
	return ff.run(ctx)
}

// openFile is one file being read: its identity, the offset after the last complete line
// and the bytes of a line not yet ended by a newline.
type openFile struct {
	name    string // where it was opened (the path, or a rotated name)
	f       *os.File
	r       io.Reader // f, or a reader of its decompressed text
	format  string    // what r decompresses (logFormat); "": r is f
	release func()    // releases that reader; nil: none
	id      store.Position
	offset  int64
	pending []byte // the start of a line not complete yet, at most maxLine bytes
	lineLen int64  // the bytes of that line read so far
	fp      []byte // the last bytes before offset
	buf     []byte
	// liveFrom is where the file ended when it was first read to its end (-1: not yet):
	// a line that ends after it was added as the follower followed it, and read within
	// a poll of being written (abusewatch.Record.Live); those before are a backlog (a
	// first read, lines written while the daemon was stopped), maybe months old.
	liveFrom int64
	// ahead is, for the lines up to liveFrom, how far each host's last line among them
	// is dated after the file's last write (backlogAhead); backlogRead: it was read.
	ahead       map[string]time.Duration
	backlogRead bool
	// markAs is the name its positions are committed under: the path's ("") while it is
	// the file under the path, its rotated mark's once the path has a new file (lines
	// written to it late must not move the path's position back to it).
	markAs string
}

// head is the first bytes of o's text, at most headLen, through its descriptor, as
// they are now (its name may be gone, or another file's).
func (o *openFile) head() []byte {
	return headOf(o.f, o.format)
}

func (o *openFile) close() {
	if o != nil && o.release != nil {
		o.release()
	}
	if o != nil && o.f != nil {
		o.f.Close()
	}
}

func (ff *fileFollower) run(ctx context.Context) error {
	if err := ff.loadMarks(ctx); err != nil {
		return err
	}
	cur, err := ff.resume(ctx)
	if err != nil {
		return err
	}
	defer func() { cur.close() }()
	defer func() { ff.closeLate() }()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	caughtUp := store.Position{Offset: -1} // the last position logged as the end of the file
	for {
		if cur == nil {
			cur = ff.openLive(ctx)
		}
		if cur != nil {
			if err := ff.drain(ctx, cur); err != nil {
				return err
			}
		}
		if err := ff.readLate(ctx, time.Now()); err != nil {
			return err
		}
		if ff.readAtStart != nil {
			ff.readAtStart()
			ff.readAtStart = nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		if cur == nil {
			continue
		}
		fi, err := os.Stat(ff.path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			// Renamed away or deleted, no new file yet: keep reading the old one.
			continue
		case err != nil:
			ff.fail("cannot look at the file", err)
			continue
		}
		if id := identity(ff.path, fi); id.Dev != cur.id.Dev || id.Inode != cur.id.Inode {
			if fi.Size() == 0 {
				// logrotate's create makes the new file before the syslog daemon is told to
				// reopen: until the new file has a line, it may still write to the old one.
				continue
			}
			next, err := ff.rotated(ctx, cur, tick.C)
			if err != nil || next == nil {
				return err // nil: stopping
			}
			err = ff.keepLate(ctx, cur, time.Now())
			cur = next
			if err != nil {
				return err
			}
			caughtUp.Offset = -1
			continue
		}
		if fi.Size() < cur.offset || !cur.sameBytes() {
			if err := ff.truncated(ctx, cur, fi.Size()); err != nil {
				return err
			}
			continue
		}
		ff.c.Lag.Store(fi.Size() - cur.offset)
		if fi.Size() == cur.offset && (cur.offset != caughtUp.Offset || cur.id.Inode != caughtUp.Inode) {
			caughtUp = cur.pos(ff.path)
			ff.log.Debug("read to the end", "file", ff.path, "inode", cur.id.Inode, "offset", cur.offset)
		}
	}
}

// rotated moves from cur, read until a new file appeared under the path, to that file:
// it reads cur to its end and the files rotated in between, oldest first, and returns
// the new file, opened; nil when stopping. wait ticks while no file is under the path.
func (ff *fileFollower) rotated(ctx context.Context, cur *openFile, wait <-chan time.Time) (*openFile, error) {
	// A new file under the path, written to: the old one gets no more lines. Those
	// written to it after our last read are still in it: read them first.
	if err := ff.drain(ctx, cur); err != nil {
		return nil, err
	}
	ff.readWhole(cur)
	if ff.markRotated(ctx, cur) != nil {
		return nil, nil // stopping
	}
	ff.log.Info("file was rotated: read the old file to its end, now reading the new one",
		append([]any{"file", ff.path, "old_inode", cur.id.Inode, "offset", cur.offset}, sourceAttrs(ff.c)...)...)
	// Open the new file before looking for rotated ones: a file rotated after this
	// is rotated under our descriptor and drained the next time round.
	next := ff.open(ctx, ff.path, 0)
	for next == nil {
		// Rotated away again between the look and the open: wait for the next one
		// (the one just missed is a rotated file by now, read below).
		select {
		case <-ctx.Done():
			return nil, nil
		case <-wait:
		}
		next = ff.open(ctx, ff.path, 0)
	}
	if ff.continues(next, cur.offset, cur.fp) {
		// rsync without --inplace, or cp to a temporary name and mv: the new file
		// holds what was read, at the same offset. Read from 0, every line of it
		// was stored again at each sync.
		ff.log.Info("the new file is a copy of the old one with the same bytes before the offset: continuing it from there",
			"file", ff.path, "inode", next.id.Inode, "offset", next.offset)
	}
	ff.readFrom(next.id)
	// When it was rotated more than once since the last look, the files in
	// between are rotated copies by now: read them before the new one.
	var oldMod time.Time
	if ofi, err := cur.f.Stat(); err == nil {
		oldMod = ofi.ModTime()
	}
	held := ff.rotatedBesides(next)
	defer closeHeld(held)
	cands := slices.DeleteFunc(slices.Clone(held[newerThan(held, cur.id, oldMod):]), func(h heldFile) bool {
		// Read already, or a copy of a file read already (compressed, or made by
		// copytruncate), or a copy being compressed from a file held.
		return slices.Contains(ff.seen, store.Position{Dev: h.dev, Inode: h.inode}) ||
			ff.readAlready(h.head) || beingCompressed(h, held)
	})
	if err := ff.readAll(ctx, cands); err != nil {
		next.close()
		return nil, err
	}
	if ff.started(ctx, next) != nil {
		next.close()
		return nil, nil
	}
	return next, nil
}

// markRotated counts a rotation and commits the position o, a file rotated away from the
// path, was read to under a name of its own: the new file's takes the path's, and `scan`
// of the rotated file (name.1) must know its lines were read, whether they were read
// while it was rotated, or at a start after a rotation while the daemon was stopped, or
// as a file rotated in between. Each rotation gets a mark of its own, however many
// there are; the old ones are forgotten (forgetOldMarks).
func (ff *fileFollower) markRotated(ctx context.Context, o *openFile) error {
	if !ff.marksRead {
		if err := ff.loadMarks(ctx); err != nil {
			return err
		}
	}
	slot := rotatedMark(ff.path, ff.marks)
	// The count before the mark: committed alone (a batch may end between them), a
	// number is skipped; the other way round, the next mark would overwrite this one.
	if err := ff.emit(ctx, sourceLine{pos: ff.marksCount(ff.marks + 1), posOnly: true}); err != nil {
		return err
	}
	if err := ff.emit(ctx, sourceLine{pos: o.pos(slot), fp: o.fingerprint(slot), posOnly: true}); err != nil {
		return err
	}
	ff.marks++
	o.markAs = slot
	ff.c.Rotations.Add(1)
	return ff.forgetOldMarks(ctx)
}

// marksNumbered, in the Inode of the count committed at marksKey, says that each rotated
// mark is named by its number. Before, mark n was named n%8, a ring that the ninth
// rotation overwrote (and scan then read that file's lines again): loadMarks renames
// the marks of such a store by their number once.
const marksNumbered = 1

// loadMarks reads how many rotated marks were made for the path (the count goes on
// across restarts: counted from 0, the first mark after a restart overwrote the mark
// of a file rotated before the stop), names the marks of a store written before
// marksNumbered by their number, and watches the files of the marks (checkLetGo): a
// writer that kept one open may have added lines to it while the daemon was stopped.
// A file has one mark: of two marks of one file (its device and inode, and it holds
// the bytes before each offset), the one read further is kept and the other
// forgotten; a mark whose inode is another file's now is not watched.
func (ff *fileFollower) loadMarks(ctx context.Context) error {
	ff.marksRead = true
	count, ok, err := ff.store.Position(marksKey(ff.path))
	if err != nil {
		ff.fail("cannot read how many rotated marks were made: counting from 0", err)
		return nil
	}
	if !ok {
		// Committed from the first start on: a store without it was written by a daemon
		// that kept no marks (older than them), and scan warns that such a daemon may
		// have read a rotated file it cannot know (unmarkedRotationOf). The path read
		// before (by such a daemon, or a scan): its rotations are marked from now.
		if _, read, err := ff.store.Position(ff.path); err == nil && read {
			ff.marksSince = uint64(time.Now().UnixNano())
		}
		return ff.emit(ctx, sourceLine{pos: ff.marksCount(0), posOnly: true})
	}
	ff.marks, ff.marksSince = max(count.Offset, 0), count.Dev
	all, err := ff.store.Positions()
	if err != nil {
		ff.fail("cannot read the rotated marks: the files rotated away are not watched", err)
		return nil
	}
	pos := map[string]store.Position{}
	for _, p := range all {
		pos[p.Source] = p
	}
	if count.Inode != marksNumbered {
		if ff.marks > rotatedMarks {
			// Mark n was named n%rotatedMarks: the mark named k is the newest n below
			// the count that k is the rest of.
			for k := range int64(rotatedMarks) {
				old := rotatedMark(ff.path, k)
				m, ok := pos[old]
				n := k + rotatedMarks*((ff.marks-1-k)/rotatedMarks)
				if !ok || n == k {
					continue
				}
				name := rotatedMark(ff.path, n)
				m.Source = name
				l := sourceLine{pos: m, posOnly: true}
				if fp, ok := pos[fingerprintKey(old)]; ok {
					fp.Source = fingerprintKey(name)
					l.fp, pos[fp.Source] = fp, fp
				}
				// The new name before the old one is forgotten: a stop in between
				// leaves two names of one mark, not none.
				if err := ff.emit(ctx, l); err != nil {
					return err
				}
				if err := ff.forget(ctx, old); err != nil {
					return err
				}
				pos[name] = m
				delete(pos, old)
				delete(pos, fingerprintKey(old))
			}
		}
		// Committed after the renames: a store that says its marks are numbered has them so.
		if err := ff.emit(ctx, sourceLine{pos: ff.marksCount(ff.marks), posOnly: true}); err != nil {
			return err
		}
	}
	type numbered struct {
		n int64
		g letGoFile
	}
	var marks []numbered
	for name, m := range pos {
		n, ok := markNumber(ff.path, name)
		if !ok || m.Offset <= 0 {
			continue
		}
		fp, have := pos[fingerprintKey(name)]
		marks = append(marks, numbered{n, letGoFile{mark: markOf(m, fp, have), as: name, size: m.Offset}})
	}
	slices.SortFunc(marks, func(a, b numbered) int { return int(a.n - b.n) })
	// One mark per file. A daemon killed after it marked a rotated file, before it
	// committed that it moved on, reads the file again at its next start from the path's
	// position and marked it again under a new number (before marks were continued, see
	// resume): two marks of one file, each watched, each read on from its own offset,
	// the lines between them stored twice at every start. And a mark of a file deleted
	// long ago may have the inode of another file by now, which does not hold the bytes
	// read before the mark's offset: it is not that file, and not watched (scan still
	// knows the deleted file's compressed copy by it).
	files := ff.listRotated()
	var keep []numbered
	done := map[[2]uint64]bool{}
	for _, first := range marks {
		key := first.g.mark.pos
		if done[[2]uint64{key.Dev, key.Inode}] {
			continue
		}
		done[[2]uint64{key.Dev, key.Inode}] = true
		var same []numbered
		for _, m := range marks {
			if m.g.mark.pos.Dev == key.Dev && m.g.mark.pos.Inode == key.Inode {
				same = append(same, m)
			}
		}
		i := slices.IndexFunc(files, func(c rotatedFile) bool { return c.dev == key.Dev && c.inode == key.Inode })
		if i < 0 {
			// Deleted, or out of sight: the newest mark of the inode is watched (and no
			// longer once the first look does not find it).
			keep = append(keep, same[len(same)-1])
			continue
		}
		var held []numbered
		for _, m := range same {
			if m.g.mark.sameFile(files[i]) {
				held = append(held, m)
			} else {
				ff.log.Debug("a rotated mark has the inode of another file now (its file was deleted): not watched",
					"file", ff.path, "mark", m.g.as, "rotated", files[i].path, "inode", key.Inode, "offset", m.g.mark.pos.Offset)
			}
		}
		if len(held) == 0 {
			continue
		}
		// The file read furthest, its bytes confirm it; the other marks of the file
		// read less far are forgotten.
		best := held[0]
		for _, m := range held[1:] {
			if m.g.mark.pos.Offset >= best.g.mark.pos.Offset {
				best = m
			}
		}
		for _, m := range held {
			if m.g.as == best.g.as {
				continue
			}
			ff.log.Info("a rotated file had two marks (the daemon was killed as it moved on from it): forgetting the one read less far",
				"file", ff.path, "rotated", files[i].path, "inode", key.Inode, "kept", best.g.as, "offset", best.g.mark.pos.Offset,
				"forgotten", m.g.as, "forgotten_offset", m.g.mark.pos.Offset)
			if err := ff.forget(ctx, m.g.as); err != nil {
				return err
			}
		}
		best.g.known = true
		keep = append(keep, best)
	}
	slices.SortFunc(keep, func(a, b numbered) int { return int(a.n - b.n) })
	for _, m := range keep[max(0, len(keep)-maxLetGo):] {
		ff.letGo = append(ff.letGo, m.g)
	}
	return nil
}

// forget deletes the committed mark name and its fingerprint.
func (ff *fileFollower) forget(ctx context.Context, name string) error {
	return ff.emit(ctx, sourceLine{pos: store.Position{Source: name, Forget: true}, fp: store.Position{Source: fingerprintKey(name), Forget: true}, posOnly: true})
}

// forgetOldMarks forgets the rotated marks of the path but the newest: rotatedMarks of
// them, or, when more rotated files lie beside the path (logrotate's rotate 24, hourly),
// one more than there are files, so that each of those keeps its mark (each is one of
// the newest rotations). Forgotten marks are of files deleted by now, or moved away
// longer ago than rotatedMarks rotations.
func (ff *fileFollower) forgetOldMarks(ctx context.Context) error {
	all, err := ff.store.Positions()
	if err != nil {
		ff.fail("cannot read the rotated marks to forget the old ones", err)
		return nil
	}
	keep := max(rotatedMarks, int64(len(ff.listRotated()))+1)
	for _, p := range all {
		if n, ok := markNumber(ff.path, p.Source); ok && n < ff.marks-keep {
			if err := ff.forget(ctx, p.Source); err != nil {
				return err
			}
		}
	}
	return nil
}

// lateQuiet is how long a file rotated away is read on once no line came to it; read on
// while lines come, however long. lateCheck is how often the files let go are looked
// at (checkLetGo). maxLate files rotated away are held open at once (the oldest is let
// go), and maxLetGo files let go are watched.
const (
	lateQuiet = 5 * time.Minute
	lateCheck = time.Minute
	maxLate   = 4
	maxLetGo  = 16
)

func (ff *fileFollower) lateQuiet() time.Duration {
	if ff.quiet > 0 {
		return ff.quiet
	}
	return lateQuiet
}

func (ff *fileFollower) lateCheck() time.Duration {
	if ff.check > 0 {
		return ff.check
	}
	return lateCheck
}

// lateFile is a file rotated away, still read through its descriptor: a process that
// opened it before the rename (a vsftpd session, any writer not told to reopen) may
// write to it after the new file got its first line.
type lateFile struct {
	o       *openFile
	lastNew time.Time // when it last grew (or was rotated away, or opened again)
	lines   int64     // the lines read from it since
}

// letGoFile is a file rotated away that was closed once quiet, or whose mark was
// committed by a daemon since stopped: checkLetGo finds it again by device and inode
// beside the path and reads on when it has grown.
type letGoFile struct {
	mark readMark // the file and how far it was read, with the bytes before
	as   string   // the name of its mark, which its positions are committed under
	size int64    // its size when let go: it grew when it is larger
	// known: the file was seen holding the bytes before the mark's offset (it was let go
	// by this process, or found so at the start). A file found by the mark's inode that
	// does not hold them is, when known, that file truncated and written again; when not,
	// another file that got the inode of a deleted one.
	known bool
}

// watch adds g to the files let go, in place of a mark of the same file (one file
// has one mark, read on from one offset). Of more than maxLetGo, the oldest is no
// longer watched.
func (ff *fileFollower) watch(g letGoFile) {
	ff.letGo = slices.DeleteFunc(ff.letGo, func(w letGoFile) bool {
		return w.mark.pos.Dev == g.mark.pos.Dev && w.mark.pos.Inode == g.mark.pos.Inode
	})
	ff.letGo = append(ff.letGo, g)
	if len(ff.letGo) > maxLetGo {
		ff.letGo = ff.letGo[1:]
	}
}

// markOfFile is the index in letGo of the mark of c: its device and inode, and c holds
// the bytes read last before its offset; -1 when it has none.
func (ff *fileFollower) markOfFile(c rotatedFile) int {
	return slices.IndexFunc(ff.letGo, func(g letGoFile) bool { return g.mark.sameFile(c) })
}

// keepLate reads o, just rotated away, on while it is written to (see readLate). Of more
// than maxLate files, the oldest is read to its end and let go.
func (ff *fileFollower) keepLate(ctx context.Context, o *openFile, now time.Time) error {
	// One descriptor per file: read on from two offsets, the lines after the further
	// one would be read twice. The one read further is kept.
	if i := slices.IndexFunc(ff.late, func(l *lateFile) bool { return l.o.id.Dev == o.id.Dev && l.o.id.Inode == o.id.Inode }); i >= 0 {
		if ff.late[i].o.offset >= o.offset {
			o.close()
			return nil
		}
		ff.late[i].o.close()
		ff.late[i].o = o
		return nil
	}
	ff.late = append(ff.late, &lateFile{o: o, lastNew: now})
	for len(ff.late) > maxLate {
		l := ff.late[0]
		if err := ff.drain(ctx, l.o); err != nil {
			return err
		}
		ff.late = ff.late[1:]
		ff.release(l, "more files rotated away are read on than it keeps open")
	}
	return nil
}

// readLate reads the lines written to the files rotated away since the last look,
// after those of the file under the path: their positions move their rotated marks, not
// the path's. A file quiet for lateQuiet is let go (watched, see checkLetGo).
func (ff *fileFollower) readLate(ctx context.Context, now time.Time) error {
	if err := ff.checkLetGo(ctx, now); err != nil {
		return err
	}
	for i := 0; i < len(ff.late); {
		l := ff.late[i]
		before := l.o.offset
		lines := ff.c.Lines.Load()
		if err := ff.drain(ctx, l.o); err != nil {
			return err
		}
		if l.o.offset > before {
			if l.lines == 0 {
				ff.log.Info("the file rotated away is still written to (a process keeps it open): reading its new lines too",
					"file", ff.path, "old_inode", l.o.id.Inode, "offset", l.o.offset)
			}
			l.lines += ff.c.Lines.Load() - lines
			l.lastNew = now
		}
		if now.Sub(l.lastNew) >= ff.lateQuiet() {
			ff.late = slices.Delete(ff.late, i, i+1)
			ff.release(l, "quiet")
			continue
		}
		i++
	}
	return nil
}

// release closes l, read to its end, and watches it (checkLetGo).
func (ff *fileFollower) release(l *lateFile, why string) {
	o := l.o
	size := o.offset
	if fi, err := o.f.Stat(); err == nil {
		size = fi.Size() // more than the offset by the start of a line not ended yet
	}
	ff.watch(letGoFile{
		mark: markOf(o.pos(o.markAs), fingerprintOf(o.markAs, o.fp, o.offset), true), as: o.markAs, size: size, known: true})
	ff.log.Info("stopped reading the file rotated away: it is looked at again and read on if it grows",
		"file", ff.path, "old_inode", o.id.Inode, "offset", o.offset, "late_lines", l.lines, "why", why)
	o.close()
}

// closeLate closes the files rotated away (stopping: their marks are committed, and the
// next start watches them, see loadMarks).
func (ff *fileFollower) closeLate() {
	for _, l := range ff.late {
		l.o.close()
	}
	ff.late = nil
}

// checkLetGo looks, every lateCheck, for the files let go beside the path, by device and
// inode. One that grew since is opened again and read on from where it was read to,
// when it still holds the bytes read last there; when it does not, or cannot be
// opened, the bytes written to it since are not read, and that is warned of and
// counted, but of a file not known to be the mark's (found by inode only): that is
// another file that got the inode of a deleted one, and it is no longer watched. A
// file no longer there (deleted, or compressed to a copy) is no longer watched: what was
// written to it after it was let go, if anything, cannot be told. A file held open
// already (read on) is not opened again.
func (ff *fileFollower) checkLetGo(ctx context.Context, now time.Time) error {
	if len(ff.letGo) == 0 || now.Sub(ff.lastCheck) < ff.lateCheck() {
		return nil
	}
	ff.lastCheck = now
	files := ff.listRotated()
	var watched []letGoFile
	var reopened []*openFile
	for _, g := range ff.letGo {
		i := slices.IndexFunc(files, func(c rotatedFile) bool { return c.dev == g.mark.pos.Dev && c.inode == g.mark.pos.Inode })
		if i < 0 {
			continue
		}
		sameID := func(o *openFile) bool { return o.id.Dev == g.mark.pos.Dev && o.id.Inode == g.mark.pos.Inode }
		if slices.ContainsFunc(ff.late, func(l *lateFile) bool { return sameID(l.o) }) || slices.ContainsFunc(reopened, sameID) {
			continue // held open already: read on through that descriptor, from its offset
		}
		name := files[i].path
		f, err := os.Open(name)
		if errors.Is(err, fs.ErrNotExist) {
			watched = append(watched, g) // renamed since the listing: the next look finds it
			continue
		}
		var fi os.FileInfo
		if err == nil {
			if fi, err = f.Stat(); err == nil && (identity(name, fi).Dev != g.mark.pos.Dev || identity(name, fi).Inode != g.mark.pos.Inode) {
				f.Close()
				watched = append(watched, g)
				continue
			}
		}
		if err == nil && fi.Size() <= g.size {
			f.Close()
			watched = append(watched, g)
			continue
		}
		var o *openFile
		why := ""
		switch {
		case err != nil:
			why = "it cannot be opened: " + err.Error()
		case !g.mark.heldIn(f, "") && !g.known:
			// Found by inode only: another file got the inode of the mark's, deleted.
			f.Close()
			ff.log.Debug("a file rotated away has the inode of a mark but not the bytes read before its offset: another file, not watched",
				"file", ff.path, "rotated", name, "mark", g.as, "offset", g.mark.pos.Offset)
			continue
		case !g.mark.heldIn(f, ""):
			f.Close()
			why = "it no longer holds the bytes read last before that offset (truncated and written again?)"
		default:
			if o = ff.openFrom(f, name, g.mark.pos.Offset); o == nil {
				why = "it cannot be read (see the error before)"
			}
		}
		if o == nil {
			var size int64
			if fi != nil {
				size = fi.Size()
			}
			ff.c.fail(1, fmt.Sprintf("%s, rotated away from %s, grew after it was let go, and %d bytes written to it were not read", name, ff.path, size-g.mark.pos.Offset))
			ff.log.Warn("a file rotated away grew after the daemon stopped reading it, and what was written to it since is not read: "+why,
				"file", ff.path, "rotated", name, "offset", g.mark.pos.Offset, "size", size, "bytes_not_read", size-g.mark.pos.Offset)
			if err != nil && !errors.Is(err, fs.ErrPermission) {
				watched = append(watched, g) // maybe it can be opened at the next look
			}
			continue
		}
		o.markAs = g.as
		ff.readFrom(o.id)
		ff.log.Info("a file rotated away was written to after the daemon stopped reading it: reading on",
			"file", ff.path, "rotated", name, "offset", o.offset, "size", fi.Size())
		reopened = append(reopened, o)
	}
	ff.letGo = watched
	for _, o := range reopened {
		if err := ff.keepLate(ctx, o, now); err != nil {
			return err
		}
	}
	return nil
}

// continues moves o, the file just opened under the path at 0, to offset when it holds fp
// just before it: it is a copy of the file read up to there (fp its last bytes), made by
// rsync without --inplace, or by cp to a temporary name and mv, and renamed over the
// path. An empty fp (nothing read, or an over-long line read last) proves nothing.
func (ff *fileFollower) continues(o *openFile, offset int64, fp []byte) bool {
	if o == nil || o.offset != 0 || o.format != "" || offset <= 0 || len(fp) == 0 || !bytesAt(o.f, "", offset, fp) {
		return false
	}
	if _, err := o.f.Seek(offset, io.SeekStart); err != nil {
		ff.fail("cannot seek", err) // a failed lseek leaves the offset at 0
		return false
	}
	o.offset, o.fp = offset, slices.Clone(fp)
	return true
}

// resume opens the live file at the committed position. When the file under the path is
// no longer the one read up to there (rotated while the daemon was stopped, truncated, or
// a new file that reuses the inode), it first reads the rest of the file that was being
// read, found by inode or by the fingerprint of the bytes before the offset, and every
// file rotated after it, oldest first.
func (ff *fileFollower) resume(ctx context.Context) (*openFile, error) {
	saved, ok, err := ff.store.Position(ff.path)
	if err != nil {
		return nil, err
	}
	fi, statErr := os.Stat(ff.path)
	if !ok {
		if statErr != nil {
			return nil, nil // appears later
		}
		return ff.openLive(ctx), nil
	}
	fp, haveFP, err := ff.store.Position(fingerprintKey(ff.path))
	if err != nil {
		return nil, err
	}
	mark := markOf(saved, fp, haveFP)
	sameID := statErr == nil && identity(ff.path, fi).Dev == saved.Dev && identity(ff.path, fi).Inode == saved.Inode
	if sameID && fi.Size() >= saved.Offset && mark.holds(ff.path, "") {
		o := ff.open(ctx, ff.path, saved.Offset)
		if o != nil && ff.started(ctx, o) != nil {
			o.close()
			return nil, ctx.Err()
		}
		return o, nil
	}
	// The new file is opened first: one rotated while the old ones are read is then
	// drained through its descriptor, not missed.
	live := ff.open(ctx, ff.path, 0)
	held := ff.rotatedBesides(live)
	defer closeHeld(held)
	cands := make([]rotatedFile, len(held))
	for i, h := range held {
		cands[i] = h.rotatedFile
	}
	start := mark.resumeIn(cands)
	switch {
	case start >= 0:
		first := held[start]
		// Marked already when the daemon was killed after it marked the file rotated
		// away, before it committed that it moved on: read on under that mark, from
		// where either was read to.
		from, as := saved.Offset, ""
		if i := ff.markOfFile(first.rotatedFile); i >= 0 {
			from, as = max(from, ff.letGo[i].mark.pos.Offset), ff.letGo[i].as
		}
		if o := ff.openFrom(first.f, first.path, from); o != nil {
			o.markAs = as
			ff.readFrom(o.id)
			err := ff.drain(ctx, o)
			ff.readWhole(o)
			if err == nil {
				err = ff.markRead(ctx, o)
			}
			o.close()
			if err != nil {
				live.close()
				return nil, err
			}
			ff.log.Info("read the rest of a file rotated while the daemon was stopped",
				append([]any{"file", ff.path, "rotated", first.path, "from", from, "to", o.offset, "mark", o.markAs}, sourceAttrs(ff.c)...)...)
		}
		if err := ff.readAll(ctx, held[start+1:]); err != nil {
			live.close()
			return nil, err
		}
	case live != nil && mark.haveFP && mark.fp.Inode > 0 && mark.heldIn(live.f, ""):
		// Replaced by a copy of itself while the daemon was stopped (rsync without
		// --inplace, cp and mv): it holds the bytes read last at the same offset.
		if _, err := live.f.Seek(saved.Offset, io.SeekStart); err != nil {
			ff.fail("cannot seek", err) // read from 0
			break
		}
		live.offset, live.fp = saved.Offset, readBefore(live.f, "", saved.Offset)
		ff.log.Info("the file was replaced by a copy with the same bytes before the saved offset: continuing it from there",
			"file", ff.path, "inode", live.id.Inode, "offset", saved.Offset)
	case sameID:
		ff.c.Truncations.Add(1)
		ff.log.Warn("file is shorter than where reading stopped, or its bytes changed: it was truncated, reading it from the start",
			append([]any{"file", ff.path, "offset", saved.Offset, "size", fi.Size()}, sourceAttrs(ff.c)...)...)
	default:
		ff.c.fail(1, "the file read last was replaced and no rotated copy of it was found: lines after the saved offset may be lost")
		attrs := []any{"file", ff.path, "inode", saved.Inode, "offset", saved.Offset}
		for _, c := range cands {
			if err := unreadable(c.format); err != nil {
				// It may be the one: say why it was not read.
				attrs = append(attrs, "unreadable", fmt.Sprintf("%s: %v", c.path, err))
			}
		}
		ff.log.Warn("the file read last was replaced and no rotated copy of it (name.1, name-DATE, compressed with gzip, bzip2, xz or zstd) was found: lines written to it after the saved offset, if there were any (it may have been read to its end before a stop), could not be read; reading the new file from its start",
			attrs...)
	}
	if live != nil && ff.started(ctx, live) != nil {
		live.close()
		return nil, ctx.Err()
	}
	return live, nil
}

// readMark is how far a file was read, as committed: its position and, when it is in
// step with it, the fingerprint of the bytes before the offset. The follower resumes from
// it, and `scan` uses it to know a file read before under another name.
type readMark struct {
	pos    store.Position
	fp     store.Position // see fingerprintKey
	haveFP bool
}

// markOf is the mark of the committed position pos and fingerprint fp (have: one was found).
func markOf(pos, fp store.Position, have bool) readMark {
	return readMark{pos: pos, fp: fp, haveFP: have && fp.Offset == pos.Offset}
}

// holds says whether the file name (decompressed from format) holds the bytes read last
// just before the offset.
func (m readMark) holds(name, format string) bool {
	f, err := os.Open(name)
	if err != nil {
		return false
	}
	defer f.Close()
	return m.heldIn(f, format)
}

// heldIn is holds of the file f, through its descriptor.
func (m readMark) heldIn(f *os.File, format string) bool {
	if !m.haveFP {
		return lineEndAt(f, m.pos.Offset) // a store written before fingerprints
	}
	return fingerprintAt(f, format, m.pos.Offset, m.fp)
}

// heldBy is holds of c: through its descriptor when it is held open (its name may be
// another file's by now).
func (m readMark) heldBy(c rotatedFile) bool {
	if c.f != nil {
		return m.heldIn(c.f, c.format)
	}
	return m.holds(c.path, c.format)
}

// sameFile says whether c is the file read (its device and inode) and still holds the
// bytes read last.
func (m readMark) sameFile(c rotatedFile) bool {
	return c.dev == m.pos.Dev && c.inode == m.pos.Inode && m.heldBy(c)
}

// copyOf says whether c, another file, holds the bytes read last at the same offset: a
// compressed copy or copytruncate's. Without a fingerprint only compressed copies are
// tried.
func (m readMark) copyOf(c rotatedFile) bool {
	return (m.haveFP || c.compressed()) && m.heldBy(c)
}

// resumeIn is the index in cands (rotated files, oldest first) of the file to continue
// reading from the mark: the file read, found by inode, else the newest copy of it; -1
// when there is none.
func (m readMark) resumeIn(cands []rotatedFile) int {
	if i := slices.IndexFunc(cands, m.sameFile); i >= 0 {
		return i
	}
	for i := len(cands) - 1; i >= 0; i-- {
		if m.copyOf(cands[i]) {
			return i
		}
	}
	return -1
}

// readAll reads rotated files from their start, oldest first, through the descriptors
// held (it closes them).
func (ff *fileFollower) readAll(ctx context.Context, files []heldFile) error {
	for _, c := range files {
		// One with a mark was read by a daemon killed before it committed that it moved
		// on: read on from its mark.
		var from int64
		as := ""
		if i := ff.markOfFile(c.rotatedFile); i >= 0 {
			from, as = ff.letGo[i].mark.pos.Offset, ff.letGo[i].as
		}
		o := ff.openFrom(c.f, c.path, from)
		if o == nil {
			continue
		}
		o.markAs = as
		ff.readFrom(o.id)
		err := ff.drain(ctx, o)
		ff.readWhole(o)
		if err == nil {
			err = ff.markRead(ctx, o)
		}
		o.close()
		if err != nil {
			return err
		}
		ff.log.Info("read a file rotated in between",
			append([]any{"file", ff.path, "rotated", c.path, "from", from, "to", o.offset, "mark", o.markAs}, sourceAttrs(ff.c)...)...)
	}
	return nil
}

// markRead commits how far o, a rotated file read to its end at a start or as one
// rotated in between, was read: under its mark when it has one (o.markAs), else under a
// new one (markRotated). A file has one mark: two, each watched, would each be read on
// from its own offset. It is then watched (checkLetGo), as a file let go: a writer that
// keeps it open may add lines to it.
func (ff *fileFollower) markRead(ctx context.Context, o *openFile) error {
	if o.markAs == "" {
		if err := ff.markRotated(ctx, o); err != nil {
			return err
		}
	} else if err := ff.emit(ctx, sourceLine{pos: o.pos(o.markAs), fp: o.fingerprint(o.markAs), posOnly: true}); err != nil {
		return err
	}
	if o.format != "" {
		return nil // a compressed copy is not written to
	}
	size := o.offset
	if fi, err := o.f.Stat(); err == nil {
		size = fi.Size()
	}
	ff.watch(letGoFile{mark: markOf(o.pos(o.markAs), fingerprintOf(o.markAs, o.fp, o.offset), true), as: o.markAs, size: size, known: true})
	return nil
}

// newerThan is the index in cands (oldest first) of the first file rotated after the file
// id, last written at mod: the one after it when it is still there, else the first
// written after mod.
func newerThan(cands []heldFile, id store.Position, mod time.Time) int {
	if i := slices.IndexFunc(cands, func(c heldFile) bool { return c.dev == id.Dev && c.inode == id.Inode }); i >= 0 {
		return i + 1
	}
	// Not After: files rotated within one clock tick have the same time. The caller skips
	// the files it has read already.
	for i, c := range cands {
		if !c.mod.Before(mod) {
			return i
		}
	}
	return len(cands)
}

// truncated handles a file that shrank in place or whose bytes before the offset changed
// (copytruncate, or truncate and rewrite). The lines after the offset that were not read
// yet are in the copy, if there is one: read them from there, then the file from 0.
func (ff *fileFollower) truncated(ctx context.Context, cur *openFile, size int64) error {
	ff.c.Truncations.Add(1)
	attrs := append([]any{"file", ff.path, "offset", cur.offset, "size", size}, sourceAttrs(ff.c)...)
	found, err := ff.readCopy(ctx, cur.offset, cur.fp)
	if err != nil {
		return err
	}
	if found {
		// copytruncate, handled: nothing for the admin to look at (status shows the
		// warnings).
		ff.log.Info("file was truncated in place: read the rest from its copy, now reading it from the start", attrs...)
	} else {
		ff.log.Warn("file was truncated in place and no copy of it holds the lines after the offset: any written after the last read are lost; reading it from the start", attrs...)
	}
	if _, err := cur.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	// What the file holds now is read as a backlog: who truncated it may have written
	// anything to it since.
	cur.offset, cur.pending, cur.lineLen, cur.fp, cur.liveFrom = 0, nil, 0, nil, -1
	cur.ahead, cur.backlogRead = nil, false
	return ff.emit(ctx, sourceLine{pos: cur.pos(ff.path), fp: cur.fingerprint(ff.path), posOnly: true})
}

// readCopy reads, from offset on, the rotated copy made by copytruncate: the newest one
// whose bytes before offset are fp, the bytes read last from the live file. found says
// whether there was one.
func (ff *fileFollower) readCopy(ctx context.Context, offset int64, fp []byte) (found bool, err error) {
	if len(fp) == 0 {
		return false, nil
	}
	held := ff.holdRotated()
	defer closeHeld(held)
	for i := len(held) - 1; i >= 0; i-- {
		c := held[i]
		if !bytesAt(c.f, c.format, offset, fp) {
			continue
		}
		o := ff.openFrom(c.f, c.path, offset)
		if o == nil {
			return false, nil
		}
		defer o.close()
		if err := ff.drain(ctx, o); err != nil {
			return true, err
		}
		ff.log.Info("read the rest of the truncated file from its copy",
			"file", ff.path, "copy", c.path, "from", offset, "to", o.offset)
		return true, nil
	}
	return false, nil
}

// openLive opens the file under the path from its start and records the switch; nil when
// there is none (yet) or it cannot be read.
func (ff *fileFollower) openLive(ctx context.Context) *openFile {
	o := ff.open(ctx, ff.path, 0)
	if o != nil && ff.started(ctx, o) != nil {
		o.close()
		return nil
	}
	return o
}

// started logs that o is now followed and moves the position to it, so that a crash from
// here on resumes in o.
func (ff *fileFollower) started(ctx context.Context, o *openFile) error {
	ff.readFrom(o.id)
	ff.log.Info("following", "file", ff.path, "inode", o.id.Inode, "offset", o.offset)
	return ff.emit(ctx, sourceLine{pos: o.pos(ff.path), fp: o.fingerprint(ff.path), posOnly: true})
}

// open opens name (the path or a rotated copy, maybe compressed) at offset; nil when
// it does not exist or cannot be read (the error is counted and logged).
func (ff *fileFollower) open(ctx context.Context, name string, offset int64) *openFile {
	f, err := os.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		ff.fail("cannot open the file", err)
		return nil
	}
	return ff.openFrom(f, name, offset)
}

// openFrom reads f, opened as name, from offset; nil when it cannot (the error is counted
// and logged, f closed).
func (ff *fileFollower) openFrom(f *os.File, name string, offset int64) *openFile {
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		ff.fail("cannot look at the file", err)
		return nil
	}
	if fi.IsDir() {
		f.Close()
		ff.fail("cannot follow", fmt.Errorf("%s is a directory: name the log files in it", name))
		return nil
	}
	ff.denied = false
	o := &openFile{name: name, f: f, r: f, id: identity(name, fi), buf: make([]byte, 64<<10), liveFrom: -1}
	if format := fileFormat(f); format != "" && name != ff.path {
		zr, release, err := decompress(f, format)
		if err != nil {
			f.Close()
			ff.fail("cannot read the compressed file", fmt.Errorf("%s: %w", name, err))
			return nil
		}
		o.r, o.format, o.release = zr, format, release
		if _, err := io.CopyN(io.Discard, zr, offset); err != nil {
			o.close()
			ff.fail("compressed file is shorter than the saved offset", err)
			return nil
		}
	} else if _, err := f.Seek(offset, io.SeekStart); err != nil {
		f.Close()
		ff.fail("cannot seek", err)
		return nil
	}
	o.offset = offset
	if offset > 0 {
		o.fp = readBefore(o.f, o.format, offset)
	}
	return o
}

// fail counts and logs an error. A permission error names the group that may read the
// file, and is logged once until the file can be read again.
func (ff *fileFollower) fail(what string, err error) {
	ff.c.fail(1, what+": "+err.Error())
	if errors.Is(err, fs.ErrPermission) {
		if ff.denied {
			return
		}
		ff.denied = true
		ff.log.Error(what+": permission denied; "+permissionAdvice(ff.path), "file", ff.path, "group", fileGroup(ff.path), "err", err)
		return
	}
	ff.log.Error(what, "file", ff.path, "err", err)
}

// permissionAdvice says how to let the daemon's user (the one it runs as, named) read
// path: check-config's advice (readAdvice), the file's group or an ACL.
func permissionAdvice(path string) string {
	return readAdvice(path, userName(uint32(os.Geteuid())))
}

// fileGroup names the group owning path (or its directory when the file cannot be seen).
func fileGroup(path string) string {
	for _, p := range []string{path, filepath.Dir(path)} {
		fi, err := os.Stat(p)
		if err != nil {
			continue
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			break
		}
		gid := strconv.FormatUint(uint64(st.Gid), 10)
		if g, err := user.LookupGroupId(gid); err == nil {
			return g.Name
		}
		return gid
	}
	return "?"
}

// drain reads o to its current end and sends every complete line.
func (ff *fileFollower) drain(ctx context.Context, o *openFile) error {
	if o.liveFrom < 0 && !o.backlogRead {
		ff.backlogAhead(ctx, o)
	}
	for {
		n, err := o.r.Read(o.buf)
		if n > 0 {
			if err := ff.split(ctx, o, o.buf[:n]); err != nil {
				return err
			}
		}
		if n == 0 || err != nil {
			if err != nil && !errors.Is(err, io.EOF) {
				ff.fail("cannot read", err)
			} else if o.liveFrom < 0 {
				o.liveFrom = o.offset + o.lineLen
			}
			return nil
		}
	}
}

// backlogAhead reads the headers of o's backlog (what its first read will read, from
// its offset to its end) as a scan does (readBacklog), for how far each host's last line
// in it is dated after the file's last write: a backlog's lines are read at once, and
// dated each when read, a host's hours of lines would be one burst (clock.go). The
// lines of the first read are all dated that much earlier (abusewatch.Record.HostsAhead),
// which keeps their spacing. A backlog that cannot be read ahead is dated line by line.
func (ff *fileFollower) backlogAhead(ctx context.Context, o *openFile) {
	o.backlogRead = true
	if ff.cfg == nil {
		return
	}
	fi, err := o.f.Stat()
	if err != nil {
		return
	}
	read := time.Now()
	if fi.ModTime().Before(read) {
		read = fi.ModTime()
	}
	// The text up to o.offset is read; a line o has begun (pending) is not complete.
	start := o.offset + o.lineLen
	if _, o.ahead, err = readBacklog(ctx, o.f, ff.path, o.format, start, read, ff.cfg); err != nil {
		o.ahead = nil
		ff.log.Debug("cannot read the backlog's headers ahead: its lines are dated one by one", "file", o.name, "err", err)
	}
}

// split sends the complete lines in chunk; a line without its newline yet waits in
// pending and the offset stays at its start. Of an over-long line the first maxLine bytes
// are kept (detect counts it as unparsed) and all its bytes counted.
func (ff *fileFollower) split(ctx context.Context, o *openFile, chunk []byte) error {
	for len(chunk) > 0 {
		i := bytes.IndexByte(chunk, '\n')
		part := chunk
		if i >= 0 {
			part = chunk[:i]
		}
		o.lineLen += int64(len(part))
		if room := maxLine - len(o.pending); room > 0 {
			o.pending = append(o.pending, part[:min(room, len(part))]...)
		}
		if i < 0 {
			return nil
		}
		chunk = chunk[i+1:]
		n := o.lineLen + 1
		cut := o.lineLen > int64(len(o.pending))
		line := string(o.pending)
		o.pending, o.lineLen = o.pending[:0], 0
		if cut {
			ff.c.Long.Add(1)
		}
		o.offset += n
		o.remember(line, cut)
		ff.c.Lines.Add(1)
		ff.c.Bytes.Add(n)
		mark := ff.path
		if o.markAs != "" {
			mark = o.markAs
		}
		// The record is the line without a carriage return before its newline; the
		// fingerprint (remember) keeps the bytes as the file holds them.
		live := o.liveFrom >= 0 && o.offset > o.liveFrom
		var ahead map[string]time.Duration
		if o.liveFrom < 0 {
			ahead = o.ahead // the first read's: a backlog (backlogAhead)
		}
		if err := ff.emit(ctx, sourceLine{rec: abusewatch.Record{Source: ff.path, Line: withoutLineEnd(line), Offset: o.offset, Read: time.Now(), Live: live, HostsAhead: ahead},
			pos: o.pos(mark), fp: o.fingerprint(mark)}); err != nil {
			return err
		}
	}
	return nil
}

func (ff *fileFollower) emit(ctx context.Context, l sourceLine) error {
	select {
	case ff.out <- l:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// pos is the position after the last complete line of o, named after the followed path.
func (o *openFile) pos(path string) store.Position {
	return store.Position{Source: path, Dev: o.id.Dev, Inode: o.id.Inode, Offset: o.offset}
}

// rotatedMarks is how many marks of files rotated away from a followed path are kept
// at least, the newest (see forgetOldMarks): the position the daemon read each to, so
// that `scan` knows it read them, also once moved out of the directory.
const rotatedMarks = 8

// rotatedMark is the name the mark of the file rotated away from path the n-th time is
// committed under: no file the daemon follows, but one `scan` finds the file by (its
// device, inode and fingerprint), as it finds a followed file's.
func rotatedMark(path string, n int64) string {
	return fmt.Sprintf("%s (rotated away, mark %d)", path, n)
}

// markNumber is n of rotatedMark(path, n); ok is false for any other name.
func markNumber(path, name string) (n int64, ok bool) {
	rest, ok := strings.CutPrefix(name, path+" (rotated away, mark ")
	if !ok {
		return 0, false
	}
	num, ok := strings.CutSuffix(rest, ")")
	n, err := strconv.ParseInt(num, 10, 64)
	return n, ok && err == nil && n >= 0 && strconv.FormatInt(n, 10) == num
}

// marksCount is the position that commits n rotated marks made for the path.
func (ff *fileFollower) marksCount(n int64) store.Position {
	return store.Position{Source: marksKey(ff.path), Dev: ff.marksSince, Inode: marksNumbered, Offset: n}
}

// marksKey is where the number of rotated marks made for path is committed (its Offset;
// its Inode is marksNumbered; its Dev since when they are made, see loadMarks), under a
// key no path can have.
func marksKey(path string) string { return path + "\x00rotated marks" }

// fingerprintKey is where the fingerprint of a followed path is committed. It is a
// position of its own (store.Position has no room for it) under a key no path can have,
// committed in the same transaction as the path's position.
func fingerprintKey(path string) string { return path + "\x00fingerprint" }

// fingerprint is the position that records the bytes before o's offset: their FNV-1a
// hash in Dev, their length in Inode, the offset they end at in Offset.
func (o *openFile) fingerprint(path string) store.Position {
	return fingerprintOf(path, o.fp, o.offset)
}

// fingerprintOf is the position that records fp, the bytes of path's file just before
// offset (see fingerprint).
func fingerprintOf(path string, fp []byte, offset int64) store.Position {
	h := fnv.New64a()
	h.Write(fp)
	return store.Position{Source: fingerprintKey(path), Dev: h.Sum64(), Inode: uint64(len(fp)), Offset: offset}
}

// fingerprintAt says whether f's text (decompressed) holds the bytes recorded by fp
// just before offset.
func fingerprintAt(f *os.File, format string, offset int64, fp store.Position) bool {
	n := int64(fp.Inode)
	if n > offset || n > fingerprintLen {
		return false
	}
	b, err := readRangeOf(f, format, offset-n, int(n))
	if err != nil {
		return false
	}
	if n == 0 {
		// Nothing recorded (a cut line): at least the file must be long enough.
		return lineEndAt(f, offset)
	}
	h := fnv.New64a()
	h.Write(b)
	return h.Sum64() == fp.Dev
}

// remember keeps the last bytes before the offset (the line just read and its newline).
func (o *openFile) remember(line string, cut bool) {
	if cut {
		o.fp = nil
		return
	}
	b := append([]byte(line), '\n')
	if len(b) >= fingerprintLen {
		o.fp = b[len(b)-fingerprintLen:]
		return
	}
	o.fp = append(o.fp, b...)
	if len(o.fp) > fingerprintLen {
		o.fp = o.fp[len(o.fp)-fingerprintLen:]
	}
}

// sameBytes says whether the live file still holds the remembered bytes before the offset:
// when it does not, it was truncated and rewritten past our offset between two looks.
func (o *openFile) sameBytes() bool {
	if len(o.fp) == 0 || o.format != "" {
		return true
	}
	got := make([]byte, len(o.fp))
	n, _ := o.f.ReadAt(got, o.offset-int64(len(o.fp)))
	return n == len(got) && bytes.Equal(got, o.fp)
}

// rotatedFile is a rotated copy of the followed file found next to it.
type rotatedFile struct {
	path       string
	dev, inode uint64
	format     string // logFormat; "" for text
	mod        time.Time
	f          *os.File // held open (holdRotated): checked through it; nil: by its name
}

// rotatedFiles lists the rotated copies of the path (name.1, name-20261122, name.2.gz, …),
// oldest first. When the path is a symlink, logrotate rotates its target, beside the
// target: the rotated copies of the target are listed after those beside the path.
func (ff *fileFollower) rotatedFiles() []rotatedFile {
	out := ff.listRotated()
	if ff.listed != nil {
		ff.listed()
	}
	return out
}

// listRotated is rotatedFiles without the test's hook: a listing that only counts the
// files, or looks for one by inode.
func (ff *fileFollower) listRotated() []rotatedFile {
	var out []rotatedFile
	for i, place := range rotationPlaces(ff.path) {
		dir, base := filepath.Split(place)
		entries, err := os.ReadDir(dir)
		if err != nil {
			if i == 0 {
				ff.fail("cannot list the directory to find rotated files", err)
			}
			continue
		}
		var here []rotatedFile
		for _, e := range entries {
			if !isRotatedOf(e.Name(), base) || !e.Type().IsRegular() {
				continue
			}
			p := filepath.Join(dir, e.Name())
			fi, err := os.Stat(p)
			if err != nil {
				continue
			}
			id := identity(p, fi)
			if slices.ContainsFunc(out, func(c rotatedFile) bool { return c.dev == id.Dev && c.inode == id.Inode }) {
				continue // the same directory by another name
			}
			here = append(here, rotatedFile{path: p, dev: id.Dev, inode: id.Inode, mod: fi.ModTime(), format: pathFormat(p)})
		}
		slices.SortStableFunc(here, func(a, b rotatedFile) int { return rotationOrder(a, b, base) })
		out = append(out, here...)
	}
	return out
}

// rotationPlaces is path and, when path is a symlink, the file it points to (followed
// link by link, so that a target renamed away and not created again yet still counts).
func rotationPlaces(path string) []string {
	places := []string{path}
	p := path
	for range 40 { // the kernel's limit on links followed
		fi, err := os.Lstat(p)
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			break
		}
		t, err := os.Readlink(p)
		if err != nil {
			break
		}
		if !filepath.IsAbs(t) {
			t = filepath.Join(filepath.Dir(p), t)
		}
		p = filepath.Clean(t)
	}
	if p != path {
		places = append(places, p)
	}
	return places
}

// rotationOrder sorts rotated files oldest first: by number for name.N (a higher number
// is older), by date for name-DATE, else by modification time, which can tie when files
// are rotated within the same clock tick.
func rotationOrder(a, b rotatedFile, base string) int {
	na, da := rotationKey(filepath.Base(a.path), base)
	nb, db := rotationKey(filepath.Base(b.path), base)
	switch {
	case na >= 0 && nb >= 0 && na != nb:
		return nb - na
	case da != "" && db != "" && da != db:
		return strings.Compare(da, db)
	}
	return a.mod.Compare(b.mod)
}

// rotationKey is the number of name.N[.gz] (-1 when there is none) or the date of
// name-DATE[.gz].
func rotationKey(name, base string) (int, string) {
	suffix := strings.TrimPrefix(name, base)
	suffix = withoutCompressionSuffix(suffix)
	// A number of eight digits or more is a date (".20261122"): rotate keeps fewer.
	if n, err := strconv.Atoi(strings.TrimPrefix(suffix, ".")); err == nil && strings.HasPrefix(suffix, ".") && len(suffix) < 9 {
		return n, ""
	}
	if strings.HasPrefix(suffix, "-") || strings.HasPrefix(suffix, ".") || strings.HasPrefix(suffix, "_") {
		return -1, suffix[1:]
	}
	return -1, ""
}

// compressed says whether c is compressed (readable or not).
func (c rotatedFile) compressed() bool { return c.format != "" }

// pathFormat is logFormat of the file path ("" when it cannot be read).
func pathFormat(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	return fileFormat(f)
}

// readBefore returns up to fingerprintLen bytes before offset in f's text.
func readBefore(f *os.File, format string, offset int64) []byte {
	start := max(0, offset-fingerprintLen)
	b, err := readRangeOf(f, format, start, int(offset-start))
	if err != nil {
		return nil
	}
	return b
}

// readRangeOf reads n bytes at off of f's text, through ReadAt (f's offset unmoved).
func readRangeOf(f *os.File, format string, off int64, n int) ([]byte, error) {
	r, done, err := textOf(f, format)
	if err != nil {
		return nil, err
	}
	defer done()
	if sr, ok := r.(*io.SectionReader); ok {
		_, err = sr.Seek(off, io.SeekStart) // plain text: no need to read up to off
	} else {
		_, err = io.CopyN(io.Discard, r, off)
	}
	if err != nil {
		return nil, err
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	return b, nil
}

// bytesAt says whether f's text holds fp just before offset.
func bytesAt(f *os.File, format string, offset int64, fp []byte) bool {
	b, err := readRangeOf(f, format, offset-int64(len(fp)), len(fp))
	return err == nil && bytes.Equal(b, fp)
}

// lineEndAt says whether f's text is at least offset bytes long with a newline just
// before it.
func lineEndAt(f *os.File, offset int64) bool {
	if offset == 0 {
		return true
	}
	b, err := readRangeOf(f, fileFormat(f), offset-1, 1)
	return err == nil && b[0] == '\n'
}

// logAttrs is shared by the daemon's start and stop lines.
func logAttrs(cfg *Config) []any {
	return []any{slog.String("config", cfg.file), slog.String("mode", cfg.Policy.Mode), slog.String("store", cfg.Store.Path)}
}
