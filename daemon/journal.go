package daemon

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/store"
)

// journalSource is the name the journal's records and position carry.
const journalSource = "journal"

// The systemd journal is read through `journalctl --follow --output=json` (no cgo, no
// libsystemd): each entry is one JSON object. Its cursor is checkpointed like a file
// offset, in the same transaction as the events, and the next start passes it back with
// --after-cursor.
//
// A cursor is a string ("s=<seqnum id>;i=<seqnum>;b=…;m=…;t=…;x=…") and a store.Position
// holds numbers, so the position keeps the part that locates an entry on its own: the
// 128-bit sequence-number ID of the journal in Dev and Inode and the sequence number in
// Offset. journalctl accepts that partial cursor ("s=…;i=…") and seeks to the same entry.

// journalPosition turns a journalctl cursor into a position; ok is false when the cursor
// has no s= or i= field.
func journalPosition(cursor string) (store.Position, bool) {
	var id []byte
	var seq uint64
	var haveSeq bool
	for field := range strings.SplitSeq(cursor, ";") {
		k, v, _ := strings.Cut(field, "=")
		switch k {
		case "s":
			b, err := hex.DecodeString(v)
			if err != nil || len(b) != 16 {
				return store.Position{}, false
			}
			id = b
		case "i":
			n, err := strconv.ParseUint(v, 16, 64)
			if err != nil {
				return store.Position{}, false
			}
			seq, haveSeq = n, true
		}
	}
	if id == nil || !haveSeq {
		return store.Position{}, false
	}
	var hi, lo uint64
	for i := range 8 {
		hi = hi<<8 | uint64(id[i])
		lo = lo<<8 | uint64(id[8+i])
	}
	return store.Position{Source: journalSource, Dev: hi, Inode: lo, Offset: int64(seq)}, true
}

// journalCursor is the partial cursor for a position made by journalPosition.
func journalCursor(p store.Position) string {
	return fmt.Sprintf("s=%016x%016x;i=%x", p.Dev, p.Inode, uint64(p.Offset))
}

// journalArgs are journalctl's arguments: follow, JSON, after the cursor, and the unit and
// identifier filters (--no-tail: from the cursor or the start, not the last 10). Entries of the same field are alternatives; "+" joins the unit
// group and the identifier group as alternatives too.
func journalArgs(cfg JournalConfig, cursor string) []string {
	args := []string{"--follow", "--no-tail", "--output=json", "--no-pager", "--quiet"}
	if cfg.Directory != "" {
		args = append(args, "--directory="+cfg.Directory)
	}
	if cursor != "" {
		args = append(args, "--after-cursor="+cursor)
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
	Identifier json.RawMessage `json:"SYSLOG_IDENTIFIER"`
	PID        json.RawMessage `json:"_PID"`
	Hostname   json.RawMessage `json:"_HOSTNAME"`
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
	var b []byte
	var nums []int
	if json.Unmarshal(raw, &nums) == nil {
		for _, n := range nums {
			b = append(b, byte(n))
		}
		return string(b)
	}
	var many []json.RawMessage
	if json.Unmarshal(raw, &many) == nil && len(many) > 0 {
		return journalValue(many[0])
	}
	return ""
}

// journalRecord makes a record of one entry. The journal's own trusted fields (_COMM,
// _PID, _HOSTNAME, the receive time) are written as an rsyslog-style header in front of
// the message, which is what detect reads: nothing the logging program wrote can move
// into the header, and the evidence line reads like the file it replaces.
func journalRecord(line []byte, read time.Time) (abusewatch.Record, store.Position, error) {
	var e journalEntry
	if err := json.Unmarshal(line, &e); err != nil {
		return abusewatch.Record{}, store.Position{}, fmt.Errorf("journalctl wrote something that is not a JSON entry: %w", err)
	}
	cursor := journalValue(e.Cursor)
	pos, ok := journalPosition(cursor)
	if !ok {
		return abusewatch.Record{}, store.Position{}, fmt.Errorf("journal entry without a usable cursor %q", cursor)
	}
	t := read
	if us, err := strconv.ParseInt(journalValue(e.Realtime), 10, 64); err == nil {
		t = time.UnixMicro(us)
	}
	program := journalValue(e.Comm)
	if program == "" {
		program = journalValue(e.Identifier)
	}
	tag := headerWord(program, "-")
	if pid, err := strconv.Atoi(journalValue(e.PID)); err == nil {
		tag += "[" + strconv.Itoa(pid) + "]"
	}
	msg := journalValue(e.Message)
	text := t.UTC().Format("2006-01-02T15:04:05.000000Z07:00") + " " + headerWord(journalValue(e.Hostname), "localhost") + " " + tag + ": " + msg
	return abusewatch.Record{Source: journalSource, Line: text, Offset: pos.Offset, Read: read}, pos, nil
}

// headerWord makes s safe as one word of a syslog header: no spaces, no control
// characters, no ':' or '[' that would end the tag early; def when nothing is left.
func headerWord(s, def string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == ':' || r == '[' || r == ']' || r == unicode.ReplacementChar {
			return -1
		}
		return r
	}, s)
	if s == "" {
		return def
	}
	return s
}

// readJournal runs journalctl and sends its entries until ctx ends. When journalctl is
// missing, fails or ends, the error is logged and counted and it is started again after a
// back-off (1s doubling to 1m), from the last cursor sent.
func (d *Daemon) readJournal(ctx context.Context, out chan<- sourceLine) {
	c := d.sources.get(journalSource)
	cursor := ""
	if p, ok, err := d.store.Position(journalSource); err != nil {
		d.log.Error("journal: cannot read the saved cursor", "err", err)
	} else if ok {
		cursor = journalCursor(p)
	}
	wait := backoff{next: time.Second, max: time.Minute}
	for ctx.Err() == nil {
		n, last, err := d.runJournalctl(ctx, cursor, c, out)
		if last != "" {
			cursor = last
		}
		if ctx.Err() != nil {
			return
		}
		if n > 0 {
			wait.next = time.Second
		}
		c.Errors.Add(1)
		if errors.Is(err, exec.ErrNotFound) {
			err = fmt.Errorf("%w: install systemd's journalctl, set journal.command, or set journal.enabled = false", err)
		}
		d.log.Error("journal: journalctl stopped; starting it again", "command", d.cfg.Journal.Command,
			"retry_in", wait.next, "entries", n, "errors", c.Errors.Load(), "err", err)
		if wait.wait(ctx) != nil {
			return
		}
	}
}

// runJournalctl runs journalctl once; it returns how many entries it sent and the cursor
// of the last one.
func (d *Daemon) runJournalctl(ctx context.Context, cursor string, c *SourceCounters, out chan<- sourceLine) (int, string, error) {
	cmd := exec.CommandContext(ctx, d.cfg.Journal.Command, journalArgs(d.cfg.Journal, cursor)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return 0, "", err
	}
	if err := cmd.Start(); err != nil {
		return 0, "", err
	}
	d.log.Info("journal: reading", "command", cmd.String())
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	n, last := 0, ""
	for sc.Scan() {
		c.Bytes.Add(int64(len(sc.Bytes()) + 1))
		rec, pos, err := journalRecord(sc.Bytes(), time.Now())
		if err != nil {
			c.Errors.Add(1)
			d.log.Warn("journal: skipping an entry", "err", err)
			continue
		}
		if len(rec.Line) > maxLine {
			rec.Line = rec.Line[:maxLine]
			c.Long.Add(1)
		}
		c.Lines.Add(1)
		select {
		case out <- sourceLine{rec: rec, pos: pos}:
		case <-ctx.Done():
			cmd.Wait()
			return n, last, ctx.Err()
		}
		n++
		last = journalCursor(pos)
	}
	if err := sc.Err(); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return n, last, fmt.Errorf("reading journalctl's output: %w", err)
	}
	err = cmd.Wait()
	if err == nil {
		err = errors.New("journalctl ended")
	}
	if msg := strings.TrimSpace(stderr.String()); msg != "" {
		err = fmt.Errorf("%w: %s", err, firstLine(msg))
	}
	return n, last, err
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
