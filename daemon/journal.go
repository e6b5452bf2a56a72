package daemon

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"maps"
	"math"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/detect"
	"github.com/abusewatch/abusewatch/store"
)

// journalSource is the name the journal's records and position carry.
const journalSource = "journal"

// The systemd journal is read through journalctl's JSON output (no cgo, no libsystemd):
// each entry is one JSON object. Its cursor is checkpointed like a file offset, in the
// same transaction as the events, and the next start passes it back.
//
// A cursor is "s=<seqnum id>;i=<seqnum>;b=<boot id>;m=<monotonic>;t=<realtime>;x=<xor
// hash>" (hex), and it takes all of it to find an entry in a directory holding journals
// with different sequence-number IDs (systemd-journal-remote's, one file per host): with
// s and i alone journalctl reads every other file from its start. A store.Position holds
// three numbers, so the cursor is committed as two positions in one transaction: the
// sequence-number ID and number under "journal" (the position older versions wrote),
// the realtime and the xor hash under journalCursorKey. At the next start journalctl
// lists the entries of that microsecond and the one with that ID and number gives the
// boot ID and monotonic time back: the full cursor. (A Cursor string in store.Position
// would make that look-up unnecessary.)
//
// journalctl starts at the cursor's entry (--cursor) and runJournalctl leaves out what
// was read, because --after-cursor skips the first entry found whether or not it is the
// cursor's, and with several journals it is often another one's. Since systemd 250
// --follow implies --boot (the newest boot alone): each start first reads to the end
// without --follow, every boot, then follows from there.
//
// A directory (systemd-journal-remote's: one journal per host, each with its own
// sequence-number ID) is not followed as one: a merged journalctl --follow keeps one
// place in the merged (time) order and never shows an entry appended to another host's
// file that sorts before it, which is every entry a host delivers late (network, a
// clock behind, systemd-journal-upload catching up). Each sequence-number ID (a host's
// journal, with the files it was rotated into) has its own position instead,
// journalFileKey, committed with the events, and is read on its own: every
// journalPollInterval the files' headers say which grew, and journalctl --file reads
// those from their position to their end. Within one sequence-number ID the order is
// the sequence number, so nothing is passed over or read twice; only the files whose last
// sequence number is after the position are given, and a file journalctl cannot open is
// left out (see readJournalDirectory).

// journalCursorKey is where the realtime and xor hash of the last entry are committed,
// next to the "journal" position; no file path has a NUL byte.
const journalCursorKey = journalSource + "\x00cursor"

// journalFileKey is the position of the directory's journals of one sequence-number ID
// (32 hex digits): its sequence number in Offset. No file path has a NUL byte.
func journalFileKey(seqnumID string) string { return journalSource + "\x00" + seqnumID }

// journalPollInterval is how often a directory's journal files are looked at for new
// entries.
const journalPollInterval = time.Second

// journalOutputFields are the fields journalctl prints besides the cursor and times: the
// only ones journalRecord reads, and with --all an entry's other fields (a core dump)
// can be megabytes.
const journalOutputFields = "MESSAGE,_COMM,_EXE,SYSLOG_IDENTIFIER,_PID,_HOSTNAME,_UID,_SYSTEMD_UNIT,_TRANSPORT"

// maxJournalEntry bounds the JSON of one entry; a longer one (a message of several MiB)
// is skipped and counted as an error, and the next entry's cursor moves past it.
const maxJournalEntry = 16 << 20

// journalCursor is a cursor taken apart. A field the cursor lacks is "" or unset.
type journalCursor struct {
	seqnumID, bootID                                 string // 32 lowercase hex digits
	seqnum, monotonic, realtime, xorHash             uint64
	haveSeqnum, haveMonotonic, haveRealtime, haveXor bool
}

// parseJournalCursor takes a cursor apart; ok is false when it has no usable s= and i=
// (the position is made of them). Another field that is not hex is left unset.
func parseJournalCursor(cursor string) (c journalCursor, ok bool) {
	for field := range strings.SplitSeq(cursor, ";") {
		k, v, _ := strings.Cut(field, "=")
		switch k {
		case "s", "b":
			b, err := hex.DecodeString(v)
			switch {
			case err != nil || len(b) != 16:
				if k == "s" {
					return journalCursor{}, false
				}
			case k == "s":
				c.seqnumID = hex.EncodeToString(b)
			default:
				c.bootID = hex.EncodeToString(b)
			}
		case "i", "m", "t", "x":
			n, err := strconv.ParseUint(v, 16, 64)
			switch {
			case err != nil:
				if k == "i" {
					return journalCursor{}, false
				}
			case k == "i":
				c.seqnum, c.haveSeqnum = n, true
			case k == "m":
				c.monotonic, c.haveMonotonic = n, true
			case k == "t":
				c.realtime, c.haveRealtime = n, true
			default:
				c.xorHash, c.haveXor = n, true
			}
		}
	}
	return c, c.seqnumID != "" && c.haveSeqnum
}

// order is journalctl's order of entries (sd-journal's compare_entry_order) applied to
// two cursors: by sequence number in the same sequence-number ID, else by monotonic time
// in the same boot, else by realtime, else by xor hash. known is false when the cursors
// share no field to compare (an old cursor of s and i, an entry of another journal).
func (c journalCursor) order(o journalCursor) (ord int, known bool) {
	if c.haveSeqnum && o.haveSeqnum && c.seqnumID == o.seqnumID {
		if ord := cmp.Compare(c.seqnum, o.seqnum); ord != 0 {
			return ord, true
		}
		known = true
	}
	if c.haveMonotonic && o.haveMonotonic && c.bootID != "" && c.bootID == o.bootID {
		if ord := cmp.Compare(c.monotonic, o.monotonic); ord != 0 {
			return ord, true
		}
		known = true
	}
	if c.haveRealtime && o.haveRealtime {
		if ord := cmp.Compare(c.realtime, o.realtime); ord != 0 {
			return ord, true
		}
		known = true
	}
	if c.haveXor && o.haveXor {
		if ord := cmp.Compare(c.xorHash, o.xorHash); ord != 0 {
			return ord, true
		}
		known = true
	}
	return 0, known
}

// journalPositions are the positions committed for an entry: its sequence-number ID in
// Dev and Inode and its sequence number in Offset under "journal", and its realtime in
// Dev, xor hash in Inode and the check of the first position in Offset under
// journalCursorKey (rest.Source is "" when the cursor has no t= or x=).
func journalPositions(c journalCursor) (pos, rest store.Position) {
	id, _ := hex.DecodeString(c.seqnumID)
	pos = store.Position{Source: journalSource, Dev: binary.BigEndian.Uint64(id[:8]), Inode: binary.BigEndian.Uint64(id[8:]), Offset: int64(c.seqnum)}
	if c.haveRealtime && c.haveXor {
		rest = store.Position{Source: journalCursorKey, Dev: c.realtime, Inode: c.xorHash, Offset: journalCheck(pos)}
	}
	return pos, rest
}

// journalCheck ties the second position to the first: an older version that ran in
// between moved "journal" and left journalCursorKey behind.
func journalCheck(pos store.Position) int64 {
	h := fnv.New64a()
	var b [24]byte
	binary.BigEndian.PutUint64(b[0:], pos.Dev)
	binary.BigEndian.PutUint64(b[8:], pos.Inode)
	binary.BigEndian.PutUint64(b[16:], uint64(pos.Offset))
	h.Write(b[:])
	return int64(h.Sum64())
}

// savedJournalCursor is the cursor the committed positions hold: "s=…;i=…;t=…;x=…", or
// "s=…;i=…" when rest is missing (committed by an older version) or belongs to another
// entry.
func savedJournalCursor(pos, rest store.Position, haveRest bool) string {
	cursor := fmt.Sprintf("s=%016x%016x;i=%x", pos.Dev, pos.Inode, uint64(pos.Offset))
	if haveRest && rest.Offset == journalCheck(pos) {
		cursor += fmt.Sprintf(";t=%x;x=%x", rest.Dev, rest.Inode)
	}
	return cursor
}

// journalArgs are journalctl's arguments: JSON with every field in full (--all: without
// it a field over 4096 bytes is null), from the cursor's entry on, and the unit and
// identifier filters (--no-tail: from the cursor or the start, not the last 10). Entries
// of the same field are alternatives; "+" joins the unit group and the identifier group
// as alternatives too. follow is --follow; files (a directory's journals of one
// sequence-number ID) are read instead of the system journal or the directory.
func journalArgs(cfg JournalConfig, cursor string, follow bool, files []string) []string {
	var args []string
	if follow {
		args = append(args, "--follow")
	}
	args = append(args, "--no-tail", "--output=json", "--all", "--output-fields="+journalOutputFields, "--no-pager", "--quiet")
	for _, f := range files {
		args = append(args, "--file="+f)
	}
	if cfg.Directory != "" && len(files) == 0 {
		args = append(args, "--directory="+cfg.Directory)
	}
	if cursor != "" {
		args = append(args, "--cursor="+cursor)
	}
	for _, u := range cfg.Units {
		args = append(args, "_SYSTEMD_UNIT="+u)
	}
	if len(cfg.Units) > 0 && len(cfg.Identifiers) > 0 {
		args = append(args, "+")
	}
	for _, id := range cfg.Identifiers {
		args = append(args, "SYSLOG_IDENTIFIER="+id)
	}
	return args
}

// journalEntry is the part of a journal entry abusewatch reads. Every value may be a
// string, an array of bytes (not UTF-8) or an array of values (a field set twice), so
// each is decoded by journalValue.
type journalEntry struct {
	Cursor     json.RawMessage `json:"__CURSOR"`
	Realtime   json.RawMessage `json:"__REALTIME_TIMESTAMP"`
	Message    json.RawMessage `json:"MESSAGE"`
	Comm       json.RawMessage `json:"_COMM"`
	Exe        json.RawMessage `json:"_EXE"`
	Identifier json.RawMessage `json:"SYSLOG_IDENTIFIER"`
	PID        json.RawMessage `json:"_PID"`
	Hostname   json.RawMessage `json:"_HOSTNAME"`
	UID        json.RawMessage `json:"_UID"`
	Unit       json.RawMessage `json:"_SYSTEMD_UNIT"`
	Transport  json.RawMessage `json:"_TRANSPORT"`
}

// journalTrust says whose entries name their program truthfully. journald sets the
// fields that start with "_" itself, but _COMM is the process's name (any process can
// set its own, and any user can copy logger to ~/sshd) and SYSLOG_IDENTIFIER is
// whatever the sender writes (logger -t sshd). What a process cannot choose is its UID,
// its unit's cgroup and its executable. An entry is vouched for when it is of one of
// the configured units, of UID 0 or of the kernel, and its process is the program it
// names (journalProcessIs: a unit runs others' code too, a user's ~/.forward pipe in
// postfix's); its SYSLOG_IDENTIFIER then names it as the syslog file would
// (postfix/smtpd, not smtpd; dovecot, not its log process).
//
// When units or identifiers are configured, an entry not vouched for is refused: no
// record, since a rule of PROGRAM * (pam_unix's, TCP wrappers') would read it under any
// name. Without either (everything is read) it keeps its process name (_COMM) as its
// program, which a local user can choose, as anyone can write a line of sshd to
// /dev/log.
type journalTrust struct {
	units  map[string]bool
	refuse bool // units or identifiers are configured: entries not vouched for are refused
}

func newJournalTrust(cfg JournalConfig) journalTrust {
	t := journalTrust{units: map[string]bool{}, refuse: len(cfg.Identifiers) > 0 || len(cfg.Units) > 0}
	for _, u := range cfg.Units {
		t.units[u] = true
	}
	return t
}

// vouch says whether the entry's sender is the configured service, root or the kernel
// (sender), and whether its process is the program it names ("" or why not).
func (t journalTrust) vouch(e *journalEntry, program string) (sender bool, notIt string) {
	if journalValue(e.Transport) == "kernel" {
		return true, ""
	}
	if !t.units[journalValue(e.Unit)] && journalValue(e.UID) != "0" {
		return false, ""
	}
	return true, journalProcessIs(program, e)
}

// journalValue decodes one field: a string, bytes given as numbers, or the first of
// several values.
func journalValue(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var b []byte // from an array of numbers: the string case is taken above
	if json.Unmarshal(raw, &b) == nil {
		return string(b)
	}
	var many []json.RawMessage
	if json.Unmarshal(raw, &many) == nil && len(many) > 0 {
		return journalValue(many[0])
	}
	return ""
}

// journalRead is one entry as read: its record, its cursor and the positions to commit.
type journalRead struct {
	rec       abusewatch.Record
	cursor    string
	at        journalCursor
	pos, rest store.Position
	cut       bool // the line was longer than maxLine and is cut
	// refused: not vouched for (see journalTrust); rec is then empty, and uid, unit,
	// comm, exe and identifier say who it was. notIt says why its process is not the
	// program it names; "" when its sender is neither root nor of a configured unit.
	refused                          bool
	uid, unit, comm, exe, identifier string
	notIt                            string
}

// journalRecord makes a record of one entry. The journal's own fields (_PID, _HOSTNAME,
// the receive time, and the program: SYSLOG_IDENTIFIER for an entry trust trusts, else
// _COMM) are written as an rsyslog-style header in front of the message, which is what
// detect reads: nothing in the message can move into the header, and the evidence line
// reads like the file it replaces. Like a line of a file, the line is cut at maxLine. An
// entry trust refuses comes back with refused set and no record.
func journalRecord(line []byte, read time.Time, trust journalTrust) (journalRead, error) {
	var e journalEntry
	if err := json.Unmarshal(line, &e); err != nil {
		return journalRead{}, fmt.Errorf("journalctl wrote something that is not a JSON entry: %w", err)
	}
	cursor := journalValue(e.Cursor)
	at, ok := parseJournalCursor(cursor)
	if !ok {
		return journalRead{}, fmt.Errorf("journal entry without a usable cursor %q", cursor)
	}
	pos, rest := journalPositions(at)
	t := read
	if us, err := strconv.ParseInt(journalValue(e.Realtime), 10, 64); err == nil {
		t = time.UnixMicro(us)
	}
	comm, identifier := journalValue(e.Comm), journalValue(e.Identifier)
	program := cmp.Or(identifier, comm)
	sender, notIt := trust.vouch(&e, program)
	if !sender || notIt != "" {
		if trust.refuse {
			return journalRead{cursor: cursor, at: at, pos: pos, rest: rest, refused: true, notIt: notIt,
				uid: journalValue(e.UID), unit: journalValue(e.Unit), comm: comm, exe: journalValue(e.Exe), identifier: identifier}, nil
		}
		program = cmp.Or(comm, identifier)
	}
	tag := headerWord(program, "-")
	if pid, err := strconv.Atoi(journalValue(e.PID)); err == nil {
		tag += "[" + strconv.Itoa(pid) + "]"
	}
	msg := journalValue(e.Message)
	header := t.UTC().Format("2006-01-02T15:04:05.000000Z07:00") + " " + headerWord(journalValue(e.Hostname), "localhost") + " " + tag + detect.TagSeparator(msg)
	text := header + msg[:min(len(msg), maxLine)]
	cut := len(header)+len(msg) > maxLine
	if cut {
		text = text[:maxLine]
	}
	return journalRead{
		rec:    abusewatch.Record{Source: journalSource, Line: text, Offset: pos.Offset, Read: read},
		cursor: cursor, at: at, pos: pos, rest: rest, cut: cut,
	}, nil
}

// headerWord makes s safe as one word of a syslog header: no spaces, no control
// characters, no ':' or '[' that would end the tag early (but the colons of an IPv6
// address: it is a host); def when nothing is left.
func headerWord(s, def string) string {
	// A host named by its IPv6 address (RFC 5424 allows it) keeps its colons: detect
	// reads the host up to the space that ends it.
	_, err := netip.ParseAddr(s)
	ipv6 := err == nil && strings.Contains(s, ":")
	s = strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || unicode.IsControl(r) || (r == ':' && !ipv6) || r == '[' || r == ']' || r == unicode.ReplacementChar {
			return -1
		}
		return r
	}, s)
	if s == "" {
		return def
	}
	return s
}

// errJournalEnded is journalctl ending on its own: at the last entry without --follow.
var errJournalEnded = errors.New("journalctl ended")

// journalReading is where the journal's entries go and what decides on them.
type journalReading struct {
	c     *SourceCounters
	out   chan<- sourceLine
	trust journalTrust
	quiet logLimiter // refused entries: a local user can make them at will
}

// readJournal runs journalctl and sends its entries until ctx ends: to the end of the
// journal, then following it. When journalctl is missing, fails or ends while following,
// the error is logged and counted and it is started again after a back-off (1s doubling
// to 1m), from the last cursor sent. A directory is read by readJournalDirectory.
func (d *Daemon) readJournal(ctx context.Context, out chan<- sourceLine) {
	r := &journalReading{c: d.sources.get(journalSource), out: out, trust: newJournalTrust(d.cfg.Journal), quiet: logLimiter{every: quietInterval}}
	cursor := d.savedJournalCursor()
	if d.cfg.Journal.Directory != "" {
		d.readJournalDirectory(ctx, r, cursor)
		return
	}
	follow := false
	wait := backoff{next: time.Second, max: time.Minute}
	for ctx.Err() == nil {
		if !follow {
			cursor = d.fullJournalCursor(ctx, cursor)
		}
		n, last, err := d.runJournalctl(ctx, r, cursor, follow, nil, nil)
		d.journalTried.Store(true) // the journal's backlog is read (or cannot be)
		if last != "" {
			cursor = last
		}
		if ctx.Err() != nil {
			return
		}
		if !follow && errors.Is(err, errJournalEnded) {
			follow = true // read to the end: follow from there
			continue
		}
		follow = false
		if n > 0 {
			wait.next = time.Second
		}
		d.journalctlFailed(r, err, n, wait.next)
		if wait.wait(ctx) != nil {
			return
		}
	}
}

// savedJournalCursor is the cursor committed under "journal" (and journalCursorKey).
func (d *Daemon) savedJournalCursor() string {
	p, ok, err := d.store.Position(journalSource)
	if err != nil {
		d.log.Error("journal: cannot read the saved cursor", "err", err)
	}
	if !ok || err != nil {
		return ""
	}
	rest, haveRest, err := d.store.Position(journalCursorKey)
	if err != nil {
		d.log.Error("journal: cannot read the saved cursor", "err", err)
	}
	return savedJournalCursor(p, rest, haveRest && err == nil)
}

// journalctlFailed counts and logs a journalctl that failed or ended while following.
func (d *Daemon) journalctlFailed(r *journalReading, err error, n int, retry time.Duration, args ...any) {
	if errors.Is(err, exec.ErrNotFound) {
		err = fmt.Errorf("%w: install systemd's journalctl, set journal.command, or set journal.enabled = false", err)
	}
	r.c.fail(1, "journalctl stopped: "+err.Error())
	d.log.Error("journal: journalctl stopped; starting it again", append([]any{"command", d.cfg.Journal.Command,
		"retry_in", retry, "entries", n, "errors", r.c.Errors.Load(), "err", err}, args...)...)
}

// journalGroup is a directory's journal files of one sequence-number ID: one host's
// journal and the files it was rotated into.
type journalGroup struct {
	seqnumID string
	files    []string
	tails    string // each file's last sequence number: what changes when one grows
	tail     uint64 // the highest of them: the journal's last entry
	// fileTails are files' last sequence numbers, in their order.
	fileTails []uint64
	// newest is the file of the last entry (tail), tailTime that entry's realtime (the
	// host's clock) and written the file's last write (ours): journalAhead.
	newest   string
	tailTime time.Time
	written  time.Time
}

// filesAfter is g's files that can hold entries after cursor's: those whose last entry
// comes after its sequence number (within a sequence-number ID the files a journal was
// rotated into hold consecutive ranges), all of them when cursor is "" or of another
// ID. An archived file read past is not opened again.
func (g journalGroup) filesAfter(cursor string) []string {
	at, ok := parseJournalCursor(cursor)
	if !ok || at.seqnumID != g.seqnumID {
		return g.files
	}
	var files []string
	for i, f := range g.files {
		if g.fileTails[i] > at.seqnum {
			files = append(files, f)
		}
	}
	return files
}

// without is g without the files in bad, and takes out of bad those of g's files whose
// header changed since: they are tried again.
func (g journalGroup) without(bad map[string]uint64) journalGroup {
	out := g
	out.files, out.fileTails, out.tail = nil, nil, 0
	for i, f := range g.files {
		if tail, ok := bad[f]; ok {
			if tail == g.fileTails[i] {
				continue
			}
			delete(bad, f)
		}
		out.files = append(out.files, f)
		out.fileTails = append(out.fileTails, g.fileTails[i])
		out.tail = max(out.tail, g.fileTails[i])
	}
	return out
}

// journalGroups reads the headers of the journal files in dir (and in its
// machine-ID subdirectories, as journalctl --directory does) and groups them by
// sequence-number ID. A file whose header cannot be read (being created, not a
// journal) is left out until it can.
func journalGroups(dir string) ([]journalGroup, error) {
	var paths []string
	for _, pattern := range []string{"*.journal", "*.journal~", "[0-9a-f]*/*.journal", "[0-9a-f]*/*.journal~"} {
		m, err := filepath.Glob(filepath.Join(dir, pattern))
		if err != nil {
			return nil, err
		}
		paths = append(paths, m...)
	}
	if _, err := os.Stat(dir); err != nil {
		return nil, err
	}
	slices.Sort(paths)
	byID := map[string]*journalGroup{}
	var ids []string
	for _, p := range paths {
		id, tail, tailTime, ok := journalHeader(p)
		if !ok {
			continue
		}
		g := byID[id]
		if g == nil {
			g = &journalGroup{seqnumID: id}
			byID[id] = g
			ids = append(ids, id)
		}
		g.files = append(g.files, p)
		g.tails += fmt.Sprintf("%s:%d;", p, tail)
		if g.newest == "" || tail > g.tail {
			g.newest, g.tailTime = p, tailTime
			if fi, err := os.Stat(p); err == nil {
				g.written = fi.ModTime()
			}
		}
		g.tail = max(g.tail, tail)
		g.fileTails = append(g.fileTails, tail)
	}
	slices.Sort(ids)
	groups := make([]journalGroup, 0, len(ids))
	for _, id := range ids {
		groups = append(groups, *byID[id])
	}
	return groups, nil
}

// journalHeader reads a journal file's sequence-number ID, its last entry's sequence
// number and that entry's realtime from its header (systemd's JOURNAL_FILE_FORMAT:
// signature "LPKSHHRH", seqnum_id at byte 72, tail_entry_seqnum at 160,
// tail_entry_realtime at 192, little-endian).
func journalHeader(path string) (seqnumID string, tail uint64, tailTime time.Time, ok bool) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, time.Time{}, false
	}
	defer f.Close()
	var h [200]byte
	if _, err := io.ReadFull(f, h[:]); err != nil || string(h[:8]) != "LPKSHHRH" {
		return "", 0, time.Time{}, false
	}
	if us := binary.LittleEndian.Uint64(h[192:200]); us > 0 && us < math.MaxInt64 {
		tailTime = time.UnixMicro(int64(us))
	}
	return hex.EncodeToString(h[72:88]), binary.LittleEndian.Uint64(h[160:168]), tailTime, true
}

// journalAhead says how far after it was written the last entry of g's files (among
// files) is dated, by the host that wrote it, when that is more than maxSkew and at
// most maxBacklogAhead: nil otherwise. A journal's entries are read at once (a
// directory read at start, a host's journal-upload catching up), and dated each when
// read, a host's hours of entries ahead would be one burst (clock.go). As a scan's file,
// the read is dated by its host's last entry: it was written at or before the file's
// last write, and the host's other entries were dated by the same clock, so all of
// them are dated that much earlier, which keeps their spacing (abusewatch.Record.HostsAhead).
// The header's tail tells cheaply whether to look; the last entry itself (journalctl
// --lines=1) names its host, whose entries alone are moved: the file of a
// journal-remote that writes several hosts into one file holds other clocks.
func (d *Daemon) journalAhead(ctx context.Context, g journalGroup, files []string) map[string]time.Duration {
	read := time.Now()
	if !g.written.IsZero() && g.written.Before(read) {
		read = g.written
	}
	if g.tailTime.IsZero() || !g.tailTime.After(read.Add(maxSkew)) || g.tailTime.After(read.Add(maxBacklogAhead)) {
		return nil
	}
	args := slices.DeleteFunc(journalArgs(d.cfg.Journal, "", false, files), func(a string) bool { return a == "--no-tail" })
	out, err := exec.CommandContext(ctx, d.cfg.Journal.Command, append(args, "--lines=1")...).Output()
	if err != nil {
		return nil
	}
	line, _, _ := bytes.Cut(out, []byte("\n"))
	jr, err := journalRecord(line, read, journalTrust{})
	if err != nil || jr.refused {
		return nil
	}
	h, err := detect.ParseHeader(jr.rec.Line, read, time.UTC)
	if err != nil || !h.Time.After(read.Add(maxSkew)) || h.Time.After(read.Add(maxBacklogAhead)) {
		return nil
	}
	return map[string]time.Duration{h.Host: h.Time.Sub(read)}
}

// readJournalDirectory reads a directory's journals, each sequence-number ID from its
// own committed position, until ctx ends: every journalPollInterval the ones whose files
// changed are read to their end. legacy is the merged cursor an older abusewatch
// committed for the whole directory: at the first start after the upgrade every journal
// present is given its own position from it before anything is read.
//
// A file journalctl cannot open (a *.journal~ that journald or journal-remote left
// truncated) makes journalctl fail for every file given with it: when a journal's
// journalctl fails, each of its files is tried alone and those that fail are left out,
// with a warning naming them, until their header changes. A journal that fails all the
// same is tried again after a back-off of its own (1s doubling to 1m); the others are
// read on at every poll.
func (d *Daemon) readJournalDirectory(ctx context.Context, r *journalReading, legacy string) {
	if legacy != "" && d.journalFilePositions() {
		legacy = "" // this version's: each journal has its own position
	}
	legacy = d.fullJournalCursor(ctx, legacy)
	// By sequence-number ID: the last entry sent; its files' tails when last read to the
	// end; and whether to read it once more although they did not change since: a
	// header's tail is written before its entry is linked, so a journalctl started just
	// then may not show the entry yet, and it is read the next time.
	cursors, seen, again := map[string]string{}, map[string]string{}, map[string]bool{}
	waits := map[string]*journalWait{} // the journals whose journalctl failed
	bad := map[string]uint64{}         // files left out, with their tail then
	wait := backoff{next: time.Second, max: time.Minute}
	tick := time.NewTicker(journalPollInterval)
	defer tick.Stop()
	for ctx.Err() == nil {
		groups, err := journalGroups(d.cfg.Journal.Directory)
		if err != nil {
			r.c.fail(1, "cannot read the journal directory: "+err.Error())
			d.log.Error("journal: cannot read the journal directory; trying again", "directory", d.cfg.Journal.Directory, "retry_in", wait.next, "err", err)
			if wait.wait(ctx) != nil {
				return
			}
			continue
		}
		listed := map[string]bool{}
		for i := range groups {
			for _, f := range groups[i].files {
				listed[f] = true
			}
			groups[i] = groups[i].without(bad)
		}
		maps.DeleteFunc(bad, func(f string, _ uint64) bool { return !listed[f] }) // removed
		// The older version's merged cursor is given up only once every journal present
		// has a position of its own derived from it, all committed at once: a journal left
		// without one (a quiet host) would be read from its beginning at the next start.
		if legacy != "" {
			if err := d.adoptLegacyCursor(ctx, r, groups, legacy, bad); err != nil {
				if ctx.Err() != nil {
					return
				}
				r.c.fail(1, "cannot give the journals positions from the older version's cursor: "+err.Error())
				d.log.Error("journal: cannot give the journals positions from the older version's cursor; trying again", "cursor", legacy, "retry_in", wait.next, "err", err)
				if wait.wait(ctx) != nil {
					return
				}
				continue
			}
			legacy = ""
		}
		now, missing := time.Now(), false
		for _, g := range groups {
			id := g.seqnumID
			w := waits[id]
			if w != nil && now.Before(w.until) {
				continue
			}
			tails, known := seen[id]
			if known && tails == g.tails && !again[id] {
				continue
			}
			cursor, ok := cursors[id]
			if !ok {
				cursor = d.journalFileCursor(id, legacy)
				cursors[id] = cursor
				d.log.Info("journal: reading a journal of the directory", "seqnum_id", id, "files", g.files, "from", cmp.Or(cursor, "its beginning"))
			}
			files := g.filesAfter(cursor)
			if len(files) == 0 { // nothing after the position (or every file left out)
				seen[id], again[id] = g.tails, false
				continue
			}
			n, last, err := d.runJournalctl(ctx, r, cursor, false, files, d.journalAhead(ctx, g, files))
			if last != "" {
				cursors[id] = last
			}
			if ctx.Err() != nil {
				return
			}
			if errors.Is(err, errJournalEnded) {
				// Read once more only when the last entry the headers gave may not have
				// been shown yet: it was not the last one sent.
				at, ok := parseJournalCursor(cursors[id])
				again[id] = tails != g.tails && !(ok && at.seqnumID == id && at.seqnum >= g.tail)
				seen[id] = g.tails
				delete(waits, id)
				continue
			}
			if errors.Is(err, exec.ErrNotFound) { // no journalctl: no journal's fault
				d.journalctlFailed(r, err, n, wait.next)
				missing = true
				break
			}
			if d.leaveOutBadJournalFiles(ctx, r, files, err, bad) {
				continue // read without them at the next poll
			}
			if w == nil {
				w = &journalWait{next: time.Second}
				waits[id] = w
			}
			w.until = time.Now().Add(w.next)
			d.journalctlFailed(r, err, n, w.next, "seqnum_id", id, "files", files)
			w.next = min(2*w.next, time.Minute)
		}
		d.journalPolls.Add(1)
		select {
		case d.journalPolled <- struct{}{}:
		default:
		}
		if !d.journalTried.Swap(true) && !missing { // the journals' backlog is read (or cannot be)
			d.log.Info("journal: read the directory's journals to their end; looking for new entries", "journals", len(groups), "failing", len(waits), "every", journalPollInterval)
		}
		if missing {
			if wait.wait(ctx) != nil {
				return
			}
			continue
		}
		wait.next = time.Second
		select {
		case <-tick.C:
		case <-ctx.Done():
		}
	}
}

// journalWait is the back-off of a journal whose journalctl failed: it is not read again
// before until.
type journalWait struct {
	next  time.Duration
	until time.Time
}

// leaveOutBadJournalFiles tries each of files alone when journalctl failed (exited with an
// error) on them together, and adds those it cannot open to bad, warning once for each;
// it says whether it found any.
func (d *Daemon) leaveOutBadJournalFiles(ctx context.Context, r *journalReading, files []string, failed error, bad map[string]uint64) bool {
	if _, ok := errors.AsType[*exec.ExitError](failed); !ok || len(files) == 0 {
		return false // journalctl missing, or its output unreadable: not a file's fault
	}
	found := false
	for _, f := range files {
		cmd := exec.CommandContext(ctx, d.cfg.Journal.Command, "--file="+f, "--lines=0", "--no-pager", "--quiet")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		if ctx.Err() != nil {
			return found
		}
		if _, ok := errors.AsType[*exec.ExitError](err); !ok {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			found = true // removed since (vacuumed): the next poll lists the files again
			continue
		}
		_, tail, _, _ := journalHeader(f)
		bad[f] = tail
		found = true
		r.c.fail(1, "left out a journal file journalctl cannot open: "+f)
		d.log.Warn("journal: leaving out a journal file journalctl cannot open (truncated or damaged); the other files of its journal are read without it",
			"file", f, "err", cmp.Or(firstLine(strings.TrimSpace(stderr.String())), err.Error()))
	}
	return found
}

// adoptLegacyCursor gives each of groups without a position of its own one derived from
// legacy, the merged cursor an older abusewatch committed for the whole directory, and
// commits them in one transaction: the sequence number before the group's first entry
// that sorts after legacy in journalctl's merged order (what the older version would
// have read next), or the group's last when none does.
func (d *Daemon) adoptLegacyCursor(ctx context.Context, r *journalReading, groups []journalGroup, legacy string, bad map[string]uint64) error {
	from, _ := parseJournalCursor(legacy)
	var positions []store.Position
	for _, g := range groups {
		_, ok, err := d.store.Position(journalFileKey(g.seqnumID))
		if err != nil {
			return err
		}
		if ok || len(g.files) == 0 {
			continue
		}
		next, err := d.firstJournalEntryAfter(ctx, g.files, legacy, from)
		for err != nil && d.leaveOutBadJournalFiles(ctx, r, g.files, err, bad) {
			if g = g.without(bad); len(g.files) == 0 {
				break
			}
			next, err = d.firstJournalEntryAfter(ctx, g.files, legacy, from)
		}
		if len(g.files) == 0 {
			continue // no file left: read from its beginning if one comes back
		}
		if err != nil {
			return fmt.Errorf("journal %s (%s): %w", g.seqnumID, strings.Join(g.files, ", "), err)
		}
		seqnum := g.tail
		if next.seqnumID == g.seqnumID {
			seqnum = next.seqnum - 1
		}
		positions = append(positions, store.Position{Source: journalFileKey(g.seqnumID), Offset: int64(seqnum)})
		d.log.Info("journal: a journal of the directory goes on from the older version's cursor", "seqnum_id", g.seqnumID, "seqnum", seqnum, "cursor", legacy)
	}
	if len(positions) == 0 {
		return nil
	}
	_, err := d.store.Commit(nil, positions)
	return err
}

// firstJournalEntryAfter is the first entry of files, of any unit, that sorts after from
// (journalctl starts at cursor, from taken apart, and shows the entries of the same time
// or monotonic time before it too), or none (the zero journalCursor).
func (d *Daemon) firstJournalEntryAfter(ctx context.Context, files []string, cursor string, from journalCursor) (journalCursor, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	args := []string{"--output=json", "--output-fields=__CURSOR", "--no-pager", "--quiet", "--cursor=" + cursor}
	for _, f := range files {
		args = append(args, "--file="+f)
	}
	cmd := exec.CommandContext(ctx, d.cfg.Journal.Command, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return journalCursor{}, err
	}
	if err := cmd.Start(); err != nil {
		return journalCursor{}, err
	}
	br := bufio.NewReader(stdout)
	for {
		line, err := br.ReadBytes('\n')
		if err != nil {
			break
		}
		var e struct {
			Cursor string `json:"__CURSOR"`
		}
		if err := json.Unmarshal(line, &e); err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			return journalCursor{}, fmt.Errorf("journalctl wrote something that is not a JSON entry: %w", err)
		}
		at, ok := parseJournalCursor(e.Cursor)
		if ord, known := at.order(from); !ok || known && ord <= 0 {
			continue // read by the older version
		}
		cmd.Process.Kill() // the rest is not needed
		cmd.Wait()
		return at, nil
	}
	if err := cmd.Wait(); err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			err = fmt.Errorf("%w: %s", err, firstLine(msg))
		}
		return journalCursor{}, err
	}
	return journalCursor{}, nil
}

// journalFilePositions says whether a position of a directory's journal (journalFileKey)
// was committed: when none was, a "journal" position is an older abusewatch's.
func (d *Daemon) journalFilePositions() bool {
	all, err := d.store.Positions()
	if err != nil {
		d.log.Error("journal: cannot read the saved positions", "err", err)
		return true // no guessing: each journal from its beginning
	}
	return slices.ContainsFunc(all, func(p store.Position) bool {
		id, ok := strings.CutPrefix(p.Source, journalFileKey(""))
		return ok && len(id) == 32
	})
}

// journalFileCursor is where the directory's journal of one sequence-number ID is read
// from: after its committed position, else from legacy ("" is its beginning).
func (d *Daemon) journalFileCursor(seqnumID, legacy string) string {
	p, ok, err := d.store.Position(journalFileKey(seqnumID))
	if err != nil {
		d.log.Error("journal: cannot read the saved position; reading the journal from its beginning", "seqnum_id", seqnumID, "err", err)
	}
	if ok && err == nil {
		return fmt.Sprintf("s=%s;i=%x", seqnumID, uint64(p.Offset))
	}
	return legacy
}

// fullJournalCursor completes a cursor read from the store (a cursor from journalctl is
// returned as it is); when it cannot, the saved cursor is returned and the reason logged.
func (d *Daemon) fullJournalCursor(ctx context.Context, cursor string) string {
	at, ok := parseJournalCursor(cursor)
	if !ok || at.bootID != "" {
		return cursor
	}
	if !at.haveRealtime {
		d.log.Warn("journal: resuming from a cursor saved by an older abusewatch, which holds the sequence number alone: "+
			"entries of journals with another sequence-number ID (other hosts' files in a journal-remote directory) are read again this once", "cursor", cursor)
		return cursor
	}
	full, err := d.findJournalCursor(ctx, at)
	switch {
	case err != nil:
		d.log.Warn("journal: cannot complete the saved cursor; resuming from its sequence number and time", "cursor", cursor, "err", err)
		return cursor
	case full == "":
		d.log.Warn("journal: the entry of the saved cursor is no longer in the journal (vacuumed?); resuming from its sequence number and time", "cursor", cursor)
		return cursor
	}
	d.log.Info("journal: resuming after the saved entry", "cursor", full)
	return full
}

// findJournalCursor finds the full cursor of the entry that at names: journalctl lists
// the entries of at's microsecond, and the one with at's sequence-number ID and number
// is it. It returns "" when there is none.
func (d *Daemon) findJournalCursor(ctx context.Context, at journalCursor) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	when := fmt.Sprintf("@%d.%06d", at.realtime/1e6, at.realtime%1e6)
	args := []string{"--output=json", "--output-fields=__CURSOR", "--no-pager", "--quiet", "--since=" + when, "--until=" + when}
	if d.cfg.Journal.Directory != "" {
		args = append(args, "--directory="+d.cfg.Journal.Directory)
	}
	cmd := exec.CommandContext(ctx, d.cfg.Journal.Command, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			err = fmt.Errorf("%w: %s", err, firstLine(msg))
		}
		return "", err
	}
	for line := range bytes.Lines(out) {
		var e struct {
			Cursor string `json:"__CURSOR"`
		}
		if json.Unmarshal(line, &e) != nil {
			continue
		}
		c, ok := parseJournalCursor(e.Cursor)
		if ok && c.seqnumID == at.seqnumID && c.seqnum == at.seqnum && c.realtime == at.realtime && (!at.haveXor || c.xorHash == at.xorHash) {
			return e.Cursor, nil
		}
	}
	return "", nil
}

// runJournalctl runs journalctl once from cursor, on the system journal or on files (a
// directory's journals of one sequence-number ID); it returns how many entries it sent
// and the cursor of the last one. journalctl starts at the cursor's entry, and with
// several journals at entries of the others that come just before it: those, up to the
// first entry after the cursor, and the cursor's entry itself are left out. An entry of
// files carries its sequence-number ID's position (journalFileKey) and, for the summary
// and status, the "journal" position.
func (d *Daemon) runJournalctl(ctx context.Context, r *journalReading, cursor string, follow bool, files []string, ahead map[string]time.Duration) (int, string, error) {
	c, out := r.c, r.out
	from, resuming := parseJournalCursor(cursor)
	cmd := exec.CommandContext(ctx, d.cfg.Journal.Command, journalArgs(d.cfg.Journal, cursor, follow, files)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return 0, "", err
	}
	if err := cmd.Start(); err != nil {
		return 0, "", err
	}
	level := slog.LevelInfo
	if len(files) > 0 {
		level = slog.LevelDebug // every journalPollInterval a host writes: readJournalDirectory says it once
	}
	d.log.Log(ctx, level, "journal: reading", "command", cmd.String())
	br := bufio.NewReaderSize(stdout, 64<<10)
	n, last, again := 0, "", 0
	var line []byte
	for {
		var size int
		line, size, err = readJournalLine(br, line[:0])
		if err != nil {
			break // a line journalctl did not end is incomplete
		}
		c.Bytes.Add(int64(size))
		if size > len(line) {
			c.fail(1, fmt.Sprintf("skipped an entry of %d bytes, over the limit of %d", size, maxJournalEntry))
			d.log.Warn("journal: skipping an entry over the size limit", "bytes", size, "limit", maxJournalEntry)
			line = nil // not kept at that size
			continue
		}
		jr, err := journalRecord(line, time.Now(), r.trust)
		if cap(line) > 1<<20 {
			line = nil // not kept at that size
		}
		if err != nil {
			c.fail(1, "skipped an entry: "+err.Error())
			d.log.Warn("journal: skipping an entry", "err", err)
			continue
		}
		if resuming {
			if ord, known := jr.at.order(from); known && (ord < 0 && n == 0 || ord == 0) {
				again++
				continue
			}
			if n == 0 && again > 0 {
				d.log.Debug("journal: left out entries read before the cursor", "entries", again)
			}
		}
		jr.rec.HostsAhead = ahead // journalAhead: by the host the line names
		l := sourceLine{rec: jr.rec, pos: jr.pos, fp: jr.rest}
		if len(files) > 0 {
			l.pos, l.fp = store.Position{Source: journalFileKey(jr.at.seqnumID), Offset: int64(jr.at.seqnum)}, jr.pos
		}
		if jr.refused {
			d.refuseJournalEntry(r, jr)
			l.posOnly = true // read: the next start goes on after it
		} else {
			if jr.cut {
				c.Long.Add(1)
			}
			c.Lines.Add(1)
		}
		select {
		case out <- l:
		case <-ctx.Done():
			cmd.Wait()
			return n, last, ctx.Err()
		}
		n++
		last = jr.cursor
	}
	if !errors.Is(err, io.EOF) {
		cmd.Process.Kill()
		cmd.Wait()
		return n, last, fmt.Errorf("reading journalctl's output: %w", err)
	}
	err = cmd.Wait()
	if err == nil {
		err = errJournalEnded
	}
	if msg := strings.TrimSpace(stderr.String()); msg != "" {
		err = fmt.Errorf("%w: %s", err, firstLine(msg))
	}
	return n, last, err
}

// refuseJournalEntry counts an entry that was not vouched for (see journalTrust) and logs
// it: a local process posing as sshd deserves the admin's attention, but may repeat at
// will. One whose sender is neither root nor of a configured unit is logged at most
// once per quietInterval; one of a configured unit (or root's) whose process is not the
// program it names, once per quietInterval for each unit, process and identifier, so
// that a ~/.forward pipe posing as sshd is not hidden by postfix's own postlog. It is
// not counted as an error: a service's own process that runs as a user (sshd's process
// of a logged-in user, which may log the disconnection) is refused as well, and the
// journal reads on.
func (d *Daemon) refuseJournalEntry(r *journalReading, jr journalRead) {
	r.c.Refused.Add(1)
	key := "refused"
	if jr.notIt != "" {
		key = "not its process\x00" + jr.unit + "\x00" + jr.comm + "\x00" + jr.identifier
	}
	ok, held := r.quiet.allow(key, time.Now())
	if !ok {
		return
	}
	if jr.notIt == "" {
		args := []any{"identifier", jr.identifier, "uid", cmp.Or(jr.uid, "(none)"), "unit", cmp.Or(jr.unit, "(none)"), "refused", r.c.Refused.Load()}
		if held > 0 {
			args = append(args, "not_logged_since", held)
		}
		d.log.Warn("journal: refused an entry written under a configured identifier by a process neither root nor of a configured unit "+
			"(a service's process running as a user, or a local user posing as the service): no event", args...)
		return
	}
	program := cmp.Or(jr.identifier, jr.comm)
	args := []any{"unit", cmp.Or(jr.unit, "(none)"), "comm", cmp.Or(jr.comm, "(none)"), "identifier", cmp.Or(jr.identifier, "(none)"),
		"exe", cmp.Or(jr.exe, "(none)"), "uid", cmp.Or(jr.uid, "(none)"), "reason", jr.notIt,
		"entry", fmt.Sprintf("an entry of %s by %s (%s, UID %s) claimed to be %s: not read as %s", cmp.Or(jr.unit, "root"), cmp.Or(jr.comm, "an unknown process"),
			cmp.Or(jr.exe, "executable unknown"), cmp.Or(jr.uid, "unknown"), program, program),
		"refused", r.c.Refused.Load()}
	if held > 0 {
		args = append(args, "not_logged_since", held)
	}
	d.log.Warn("journal: refused an entry whose process is not the program it names "+
		"(code a service runs for others, such as a user's ~/.forward pipe, posing as a program the rules read): no event", args...)
}

// readJournalLine reads one line into buf, keeping it only when it is at most
// maxJournalEntry bytes long; size is the line's whole length, newline included, so a
// line that was not kept is one with size > len(line).
func readJournalLine(br *bufio.Reader, buf []byte) (line []byte, size int, err error) {
	kept := true
	for {
		part, err := br.ReadSlice('\n')
		size += len(part)
		if kept = kept && len(buf)+len(part) <= maxJournalEntry; kept {
			buf = append(buf, part...)
		} else {
			buf = buf[:0]
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return buf, size, err
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
