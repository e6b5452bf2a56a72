package daemon

import (
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/detect"
	"github.com/abusewatch/abusewatch/store"
)

// A record a scan finds stored already is not stored again. A merged or concatenated
// log (what `zcat auth.log.*.gz; cat auth.log` gives: older lines, then lines read
// before, then new ones) does not start with the bytes read before, so it is read
// whole: its lines read before were stored twice, an incident said "5 connections, 8
// lines" and the report to the ISP quoted three lines twice (review 44 M3). And a file
// read again whole (scan --reread, so that an attack rule written since applies to it)
// would store everything it held twice (M5).
//
// Before storing an event, a scan looks for the record that made it among the events
// stored before the scan, in the hour of its time (and the next or the one before,
// within copyTolerance): the same record is the memo's (recordCopies.key: host,
// program, PID and message; the same address and class), dated the same, and each
// stored event stands for one line only, so n identical lines of a file stored once
// are each found once, and a real record repeated in the file counts as often as it is
// written. The hours are read from the store as the file's lines come to them, a few at
// a time (a scan reads in time order, mostly): a year of logs holds a few hours of
// events at once, not the year's.
//
// Times are the same when equal. Two files written by one syslog daemon date a record
// to the second alike; a time with a fraction of a second (the journal's, rsyslog's
// high-precision format) was dated by another clock than its copy's, which may be
// copyTolerance later (recordCopies): those are the same within it. Two lines of a
// record repeated within the same second (sshd's failed password, once per try) and
// split between two files scanned one after the other cannot be told from a copy:
// the second is taken for the first.
type storedRecords struct {
	st      *store.Store
	keys    *recordCopies // only its key: what makes two records one (duplicates.go)
	before  uint64        // the last Seq stored before the scan
	source  string        // the file being read, as the memo names it (copySource)
	hours   map[int64]*storedHour
	recent  []int64            // the hours in hours, the one used last at the end
	claimed map[int64][]uint64 // of hours let go, the Seqs of the events a line was found to be
	// rereadSource's lines up to rereadUpTo were read before (scan --reread): their
	// unknown records were tallied then (tallied).
	rereadSource string
	rereadUpTo   int64
	failed       bool // the store could not be read: the check is off, as before it was made
}

// storedHour is the index of the events of one hour stored before the scan.
type storedHour struct {
	byKey map[uint64][]*storedRecord
}

// storedRecord is one stored event as storedRecords compares it.
type storedRecord struct {
	seq     uint64
	host    string // in lower case
	at      int64  // Unix nanoseconds
	addr    netip.Addr
	class   abusewatch.Class
	claimed bool // a line of the scan was found to be it
}

// maxStoredHours is how many hours of stored events a scan keeps read at once: the
// hour of the line read, the one next to it within copyTolerance, and one of a line
// out of order (a host whose clock is off).
const maxStoredHours = 4

// newStoredRecords starts the check of a scan on st, before the scan stores anything.
func newStoredRecords(st *store.Store) (*storedRecords, error) {
	seq, err := st.LastSeq()
	if err != nil {
		return nil, err
	}
	return &storedRecords{st: st, keys: newRecordCopies(), before: seq, hours: map[int64]*storedHour{}, claimed: map[int64][]uint64{}}, nil
}

// startFile is called as the scan begins reading the file path: the events this scan
// stored from other files are stored before this one's (hours read before are read
// again, with them). Those of path's own source (the file, its rotated copies) are
// not: its lines all count, a record repeated in it as often as it is written (the
// memo's rule, recordCopies). Of a file read again whole (reread), the lines up to
// upTo were read before.
func (s *storedRecords) startFile(path string, reread bool, upTo int64) {
	if s == nil {
		return
	}
	for _, h := range slices.Clone(s.recent) {
		s.letGo(h)
	}
	s.source, s.rereadSource, s.rereadUpTo = copySource(path), "", 0
	if reread {
		s.rereadSource, s.rereadUpTo = path, upTo
	}
}

// tallied says whether rec's unknown record was tallied when it was read before: a
// file read again whole (scan --reread) would count its unknown lines twice in the
// shapes the admin tunes by.
func (s *storedRecords) tallied(rec abusewatch.Record) bool {
	return s != nil && rec.Source == s.rereadSource && rec.Offset <= s.rereadUpTo
}

// stored says whether ev's record is stored already, and then counts it as found, so
// that no other line is found to be it. A store that cannot be read is warned of
// (by the caller, once) and stores the event, as before this check.
func (s *storedRecords) stored(ev *abusewatch.Event) (bool, error) {
	if s == nil || s.failed {
		return false, nil
	}
	at := ev.Time.UnixNano()
	first, last := hourOfNanos(at-int64(copyTolerance)), hourOfNanos(at+int64(copyTolerance))
	some := false
	for h := first; h <= last; h += int64(time.Hour) {
		sh, err := s.hour(h)
		if err != nil {
			s.failed = true
			return false, err
		}
		some = some || len(sh.byKey) > 0
	}
	if !some {
		return false, nil // nothing stored then: no need to read the line's header
	}
	k, host := s.key(ev), strings.ToLower(ev.Host)
	var best *storedRecord
	bestGap := int64(copyTolerance) + 1
	for h := first; h <= last; h += int64(time.Hour) {
		for _, c := range s.hours[h].byKey[k] {
			gap := max(c.at-at, at-c.at)
			if c.claimed || gap >= bestGap || !sameTime(c.at, at) || c.addr != ev.Addr || c.class != ev.Class || !hostsMatch(c.host, host, false) {
				continue
			}
			best, bestGap = c, gap
		}
	}
	if best == nil {
		return false, nil
	}
	best.claimed = true
	return true, nil
}

// sameTime says whether two copies of a record may be dated at and b: equal, or, when
// either has a fraction of a second (dated by another clock than the other, see
// storedRecords), at most copyTolerance apart.
func sameTime(a, b int64) bool {
	if a == b {
		return true
	}
	const second = int64(time.Second)
	if a%second == 0 && b%second == 0 {
		return false
	}
	return max(a-b, b-a) <= int64(copyTolerance)
}

// key is the memo's key of ev's record (recordCopies.key), read from its line as it is
// stored, for the stored events and the scan's alike, with the host the event names
// (the [[source]]'s for a format that names none). A line without a header is keyed
// whole.
func (s *storedRecords) key(ev *abusewatch.Event) uint64 {
	h, err := detect.ParseHeader(ev.Line, ev.Time, time.UTC)
	if err != nil {
		h = detect.Header{Message: ev.Line}
	}
	h.Host = ev.Host
	return s.keys.key(h)
}

// hourOfNanos is the start of the hour of the Unix time at, in nanoseconds.
func hourOfNanos(at int64) int64 {
	const hour = int64(time.Hour)
	if at < 0 && at%hour != 0 {
		return at - at%hour - hour
	}
	return at - at%hour
}

// hour is the index of the events of the hour that starts at h (Unix nanoseconds),
// read from the store when it is not at hand; the hour read longest ago is let go
// when more than maxStoredHours are.
func (s *storedRecords) hour(h int64) (*storedHour, error) {
	if sh, ok := s.hours[h]; ok {
		if i := slices.Index(s.recent, h); i >= 0 && i < len(s.recent)-1 {
			s.recent = append(slices.Delete(s.recent, i, i+1), h)
		}
		return sh, nil
	}
	sh := &storedHour{byKey: map[uint64][]*storedRecord{}}
	var claimed map[uint64]bool
	for _, seq := range s.claimed[h] {
		if claimed == nil {
			claimed = map[uint64]bool{}
		}
		claimed[seq] = true
	}
	from := time.Unix(0, h).UTC()
	err := s.st.EachEvent(from, from.Add(time.Hour-1), 4096, func(evs []abusewatch.Event) error {
		for i := range evs {
			ev := &evs[i]
			if ev.Seq > s.before && copySource(ev.Source) == s.source {
				continue // the scan's own from this file: each of its lines counts
			}
			// Strings of their own: a stored event's share its block's memory
			// (abusewatch.OwnStrings).
			c := &storedRecord{seq: ev.Seq, host: strings.Clone(strings.ToLower(ev.Host)), at: ev.Time.UnixNano(), addr: ev.Addr,
				class: abusewatch.Class(strings.Clone(string(ev.Class))), claimed: claimed[ev.Seq]}
			k := s.key(ev)
			sh.byKey[k] = append(sh.byKey[k], c)
		}
		s.st.Recycle(evs)
		return nil
	})
	if err != nil {
		return nil, err
	}
	delete(s.claimed, h)
	s.hours[h] = sh
	s.recent = append(s.recent, h)
	if len(s.recent) > maxStoredHours {
		s.letGo(s.recent[0])
	}
	return sh, nil
}

// letGo forgets the index of hour h, keeping which of its events a line was found to be.
func (s *storedRecords) letGo(h int64) {
	sh, ok := s.hours[h]
	if !ok {
		return
	}
	for _, list := range sh.byKey {
		for _, c := range list {
			if c.claimed {
				s.claimed[h] = append(s.claimed[h], c.seq)
			}
		}
	}
	delete(s.hours, h)
	s.recent = slices.DeleteFunc(s.recent, func(x int64) bool { return x == h })
}

// storedBefore says whether a scan found ev's record stored before (storedRecords), and
// warns once when the store cannot be read for it: the scan then stores it, as before
// the check was made.
func (p *Pipeline) storedBefore(ev *abusewatch.Event) bool {
	found, err := p.scanStored.stored(ev)
	if err != nil {
		p.log.Warn("cannot read the events stored before to compare the scanned records with: the records read are stored even if stored already", "err", err)
	}
	return found
}
