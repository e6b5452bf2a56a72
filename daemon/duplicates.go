package daemon

import (
	"cmp"
	"fmt"
	"hash/maphash"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/detect"
)

// One record, two sources. On a stock Debian, Ubuntu or RHEL host with rsyslog, sshd's
// lines reach the journal and, copied from it, auth.log or secure; a fleet host may
// forward to the listener and have its file read too. Configured to read both, the
// daemon made two events of each line: an incident of 20 lines for 10, the report saying
// so to a third party, and a record without a port (pam_unix's) crossing the threshold at
// half the attempts. recordCopies remembers the events of the last minutes by the record
// that made them, and a record that another source already carried makes no second
// event.
//
// A record is the same when its host (as sameHost compares names), program, PID and
// message are equal and its times are at most copyTolerance apart: the journal dates to
// the microsecond, a traditional syslog file to the second, and rsyslog dates a line when
// it takes it. Only a copy from another source is dropped: sshd may write the same text
// twice in a second from one PID, and each line of one source counts. Each copy pairs
// with one earlier record of another source, so n identical lines through two sources
// count n times, not 2n, nor 1.
//
// Log text is the attacker's: a forged copy through a source anyone can write to (a
// local user's logger, a datagram to the listener) may come first. The copy kept is the
// first, and a later one is dropped only when it would make the same event (address
// and class) at nearly the same time: a forged copy is then itself that event, and
// cannot make the real one disappear, only stand in its place. A record that makes no
// event (refused, too old, before --since) is not remembered. When the memo is full
// (a flood) or a copy comes later than copySpan, the copy is counted twice, as before:
// the memo never drops what it cannot match.
type recordCopies struct {
	mu    sync.Mutex
	seed  maphash.Seed
	byKey map[uint64][]*recordCopy
	// order is the copies remembered, oldest first, from head on: they are forgotten
	// in that order.
	order []*recordCopy
	head  int
	// dropped counts each source's copies dropped; warned holds the pairs of sources
	// the log has named (once each, for the daemon's lifetime: a reload keeps the memo).
	dropped map[string]int64
	warned  map[[2]string]bool
	max     int // copies remembered at most (maxRecordCopies; tests set fewer)
}

// copyTolerance is how far apart two copies of one record may be dated: rsyslog dates a
// line when it takes it from the journal, a second or two later under load, and a
// traditional file's time has no fraction.
const copyTolerance = 5 * time.Second

// copySpan is how long a counted record waits for its copy from another source. Read as
// written, copies come within seconds; a backlog (the lines of a stop) is read by both
// sources at once, each at its own pace.
const copySpan = 10 * time.Minute

// maxRecordCopies bounds the memo under a flood: about 200 bytes a record, 13 MB.
const maxRecordCopies = 65536

// maxCopiesOfKey bounds the records remembered of one host, program, PID and message:
// the records a copy is compared with. Lines without a PID repeat exactly (a kernel
// firewall's, exim's), and each line of a flood of them was compared with the 65,536
// before it (review 41: a scan of 200,000 identical firewall lines took 53 s, not 2.5;
// the listener fell from 35,000 lines/s to 2,000). The oldest of a key is forgotten
// first: a copy comes within seconds, and one that finds no record is counted, never
// dropped.
const maxCopiesOfKey = 32

// recordCopy is one counted record as the memo knows it.
type recordCopy struct {
	key   uint64 // the hash of host, program, PID and message (recordCopies.key)
	host  string // the host as the line names it, in lower case (hostsMatch)
	at    int64  // the event's time, Unix nanoseconds
	addr  netip.Addr
	class abusewatch.Class
	// sources: the one whose copy was counted, then those whose copy was dropped.
	sources []string
	noted   int64 // when remembered, Unix nanoseconds
}

func newRecordCopies() *recordCopies {
	return &recordCopies{seed: maphash.MakeSeed(), max: maxRecordCopies}
}

// recordCopies is the memo of a pipeline reading what c configures, or nil when it reads
// one source alone (one file, its rotated copies with it, and neither the journal nor
// the listener): no record can come twice, and the memo cost a quarter more CPU for
// every line (review 41).
func (c *Config) recordCopies() *recordCopies {
	if !c.Journal.Enabled && !c.Syslog.listening() && len(c.Sources) == 1 &&
		len(c.Sources[0].Files) == 1 && !strings.ContainsAny(c.Sources[0].Files[0], `*?[\`) {
		return nil
	}
	return newRecordCopies()
}

// oneSource says whether files are one source's: a file and its rotated copies.
func oneSource(files []string) bool {
	for _, f := range files {
		if copySource(f) != copySource(files[0]) {
			return false
		}
	}
	return true
}

// key is the hash of what makes two records one (but the time): a random seed, so no
// one can choose messages that collide, and the event's address and class are
// compared besides.
func (m *recordCopies) key(h detect.Header) uint64 {
	var d maphash.Hash
	d.SetSeed(m.seed)
	d.WriteString(hostKey(h.Host))
	d.WriteByte(0)
	d.WriteString(h.Program)
	d.WriteByte(0)
	d.WriteString(strconv.Itoa(h.PID))
	d.WriteByte(0)
	d.WriteString(detect.Unrepeated(h.Message)) // rsyslog's "message repeated" line is a copy of the record it repeats
	return d.Sum64()
}

// hostKey is what of host the key hashes: an address whole, a name by its first label
// in lower case (journald's _HOSTNAME may be the FQDN where rsyslog writes the short
// name); hostsMatch then compares the names.
func hostKey(host string) string {
	if _, err := netip.ParseAddr(host); err == nil {
		return strings.ToLower(host) // an IPv6 address written in capitals
	}
	label, _, _ := strings.Cut(host, ".")
	return strings.ToLower(label)
}

// hostsMatch says whether two copies' hosts (in lower case) are one: the same name, or
// a bare short name and a full name it begins (rsyslog's "web1", journald's
// "web1.example.org"); never two full names (mx1.dc1 and mx1.dc2 are two hosts: review
// 41 merged their attacks). Through the listener, the name is the sender's to choose:
// there it must be the same, or a forger's "web1.evil" arriving first would stand in
// for web1's own line, and the incident would name the forger's host (review 41).
func hostsMatch(a, b string, exact bool) bool {
	if a == b {
		return true
	}
	if exact {
		return false
	}
	if _, err := netip.ParseAddr(a); err == nil {
		return false
	}
	short, full := a, b
	if strings.Contains(short, ".") {
		short, full = b, a
	}
	return !strings.Contains(short, ".") && strings.HasPrefix(full, short+".")
}

// copySource is the name the memo knows source by: a rotated file's copies (auth.log.1,
// secure-20261122.gz) are the live file's, whose lines they are. A scan of auth.log.1
// and auth.log met the two halves of a connection across a copytruncate and dropped
// the second as a copy (review 41).
func copySource(source string) string {
	if source == journalSource || source == syslogSource {
		return source
	}
	return looksRotated.ReplaceAllString(source, "")
}

// batchCopies is what a batch adds to the memo; it becomes the memo's (keep) once the
// batch is committed: a batch the store refused is read again, and must meet the memo
// as it was.
type batchCopies struct {
	from    *recordCopies
	added   map[uint64][]*recordCopy // the batch's counted records
	claimed map[*recordCopy][]string // the memo's records whose copy a source of the batch carried
	dropped map[string]int64         // by source
	pairs   map[[2]string]bool       // (the counted copy's source, the dropped copy's)
	newest  []*recordCopy            // added, in order
}

// begin starts a batch's look at the memo; a nil memo (a pipeline built by a test)
// drops nothing.
func (m *recordCopies) begin() *batchCopies { return &batchCopies{from: m} }

// duplicate says whether ev, made by the record of source with header h, is a copy of a
// record another source carried first (then it makes no event), and otherwise
// remembers it. recognised says that an attack rule recognised the record: only then is
// a dropped copy counted as the source's duplicate, as the pipeline counts the line (an
// unknown record's line is counted unknown, whatever becomes of its event); the two
// counts disagreed (review 41).
func (b *batchCopies) duplicate(source string, h detect.Header, ev abusewatch.Event, recognised bool) bool {
	// A line of a format that names no host (exim's, vsftpd's, PostgreSQL's) is given
	// this host's name, or its [[source]]'s: two such files of two hosts would look like
	// copies of each other (review 41). Nor is a copy of it ever in two sources.
	if b.from == nil || !h.NamesHost() {
		return false
	}
	source = copySource(source)
	host := strings.ToLower(h.Host)
	k, at := b.from.key(h), ev.Time.UnixNano()
	var best *recordCopy
	bestGap, inBatch := int64(copyTolerance)+1, false
	consider := func(c *recordCopy, batch bool) {
		gap := c.at - at
		if gap < 0 {
			gap = -gap
		}
		if gap >= bestGap || c.addr != ev.Addr || c.class != ev.Class ||
			slices.Contains(c.sources, source) || slices.Contains(b.claimed[c], source) ||
			!hostsMatch(c.host, host, source == syslogSource || c.sources[0] == syslogSource) {
			return
		}
		best, bestGap, inBatch = c, gap, batch
	}
	b.from.mu.Lock()
	for _, c := range b.from.byKey[k] {
		consider(c, false)
	}
	b.from.mu.Unlock()
	for _, c := range b.added[k] {
		consider(c, true)
	}
	if best != nil {
		if b.claimed == nil {
			b.claimed, b.dropped, b.pairs = map[*recordCopy][]string{}, map[string]int64{}, map[[2]string]bool{}
		}
		if inBatch {
			best.sources = append(best.sources, source) // the batch's own: not the memo's yet
		} else {
			b.claimed[best] = append(b.claimed[best], source)
		}
		if recognised {
			b.dropped[source]++
		}
		b.pairs[[2]string{best.sources[0], source}] = true
		return true
	}
	b.remember(source, k, host, at, ev.Addr, ev.Class)
	return false
}

// remember adds a record counted as source's to the batch's: hashed as k, of host (in
// lower case), dated at, its event of addr and class.
func (b *batchCopies) remember(source string, k uint64, host string, at int64, addr netip.Addr, class abusewatch.Class) {
	if len(b.added[k]) >= maxCopiesOfKey {
		return // counted, not remembered: its copy, if any, is counted too
	}
	c := &recordCopy{key: k, host: host, at: at, addr: addr, class: class, sources: []string{source}}
	if b.added == nil {
		b.added = map[uint64][]*recordCopy{}
	}
	b.added[k] = append(b.added[k], c)
	b.newest = append(b.newest, c)
}

// rememberStored gives the memo, at start, the records of the events stored in the
// copySpan before the newest (or before now, if that is earlier: a clock set ahead), as
// the sources that read them counted them. The memo is in memory, and each source goes
// on from its own committed position: a record the journal had brought to the store
// before a stop (SIGKILL, an upgrade, a reboot) came again through auth.log after it,
// and made a second event (review 41). The newest event, not now, is the end of the
// window: a source's backlog after a long stop holds copies of the last records before
// it. A record whose copy was dropped before the stop is remembered as not copied yet:
// only a line identical to it (host, program, PID, message) within copyTolerance could
// pair with it once more. A memo of one source (nil) has nothing to remember.
func (p *Pipeline) rememberStored() (int, error) {
	m := p.copies
	if m == nil {
		return 0, nil
	}
	newest, ok, err := p.store.NewestEvent()
	if err != nil || !ok {
		return 0, err
	}
	end := newest
	if now := time.Now(); end.After(now) {
		end = now
	}
	from := end.Add(-copySpan - copyTolerance)
	n := 0
	err = p.store.EachEvent(from, newest, 4096, func(evs []abusewatch.Event) error {
		b := m.begin()
		for i := range evs {
			ev := &evs[i]
			// The header as the pipeline read it: the stored line is the record's.
			h, err := detect.ParseHeader(ev.Line, ev.Time, time.UTC)
			if err != nil || !h.NamesHost() {
				continue // never remembered (duplicate)
			}
			// Strings of their own: a stored event's share its block's memory, which the
			// memo would keep alive (abusewatch.OwnStrings).
			b.remember(copySource(strings.Clone(ev.Source)), m.key(h), strings.Clone(strings.ToLower(h.Host)), ev.Time.UnixNano(),
				ev.Addr, abusewatch.Class(strings.Clone(string(ev.Class))))
			n++
		}
		b.keep(p.log)
		p.store.Recycle(evs)
		return nil
	})
	return n, err
}

// keep makes the batch's records the memo's, forgets those past copySpan or beyond its
// bound, and warns of each pair of sources seen to carry the same records, once.
func (b *batchCopies) keep(log *slog.Logger) {
	m := b.from
	if m == nil || (len(b.newest) == 0 && len(b.claimed) == 0) {
		return
	}
	now := time.Now().UnixNano()
	m.mu.Lock()
	for c, sources := range b.claimed {
		c.sources = append(c.sources, sources...) // a record forgotten meanwhile: harmless
	}
	if m.byKey == nil {
		m.byKey, m.dropped, m.warned = map[uint64][]*recordCopy{}, map[string]int64{}, map[[2]string]bool{}
	}
	for _, c := range b.newest {
		c.noted = now
		if list := m.byKey[c.key]; len(list) >= maxCopiesOfKey {
			m.byKey[c.key] = append(list[:0], list[1:]...) // the oldest of the key; order forgets it again, harmlessly
		}
		m.byKey[c.key] = append(m.byKey[c.key], c)
		m.order = append(m.order, c)
	}
	for m.head < len(m.order) && (len(m.order)-m.head > m.max || now-m.order[m.head].noted > int64(copySpan)) {
		m.forget(m.order[m.head])
		m.order[m.head] = nil
		m.head++
	}
	if m.head > 1024 && m.head > len(m.order)/2 {
		m.order = append(m.order[:0], m.order[m.head:]...)
		m.head = 0
	}
	var warn [][2]string
	for source, n := range b.dropped {
		m.dropped[source] += n
	}
	for p := range b.pairs {
		if !m.warned[p] {
			m.warned[p] = true
			warn = append(warn, p)
		}
	}
	m.mu.Unlock()
	slices.SortFunc(warn, func(a, b [2]string) int { return cmp.Or(strings.Compare(a[0], b[0]), strings.Compare(a[1], b[1])) })
	for _, p := range warn {
		log.Warn("the same records come through two sources: each is counted once, as the source it came through first read it, and its copy from the other makes no event; "+overlapHint(p[0], p[1]),
			"source", p[0], "also_from", p[1])
	}
}

// forget takes c out of the memo's index.
func (m *recordCopies) forget(c *recordCopy) {
	list := m.byKey[c.key]
	if i := slices.Index(list, c); i >= 0 {
		list = slices.Delete(list, i, i+1)
	}
	if len(list) == 0 {
		delete(m.byKey, c.key)
	} else {
		m.byKey[c.key] = list
	}
}

// droppedFrom is how many copies of source were dropped as another source's records.
func (m *recordCopies) droppedFrom(source string) int64 {
	if m == nil {
		return 0
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.dropped[source]
}

// overlapHint says how to read such records through one source only.
func overlapHint(a, b string) string {
	journal, listener := a == journalSource || b == journalSource, a == syslogSource || b == syslogSource
	switch {
	case journal && !listener:
		return "read them once: leave the file out of [[source]] files (the journal tells sshd's lines from a local user's forgeries, the file cannot), or leave its programs out of [journal] units and identifiers"
	case listener && !journal:
		return "read them once: stop forwarding that host's logs to the listener, or leave the file its messages are written to out of [[source]] files"
	case journal && listener:
		return "read them once: a host of the listener is this one (its journal is read too), or forwards this host's logs; stop forwarding them"
	}
	return "read them once: both files hold the same lines (rsyslog writing a message to two files); leave one out of [[source]] files"
}

// sshdFiles are the files of logDir (/var/log) that hold this host's sshd lines as
// rsyslog or syslogd writes them, those that exist: Debian's and Ubuntu's auth.log,
// RHEL's secure; and messages where neither exists (SUSE's rsyslog and Alpine's syslogd
// write every line there, RHEL's and the older Debians' leave sshd's out of it).
func sshdFiles(logDir string) []string {
	var files []string
	for _, name := range []string{"auth.log", "secure"} {
		if f := filepath.Join(logDir, name); fileExists(f) {
			files = append(files, f)
		}
	}
	if f := filepath.Join(logDir, "messages"); len(files) == 0 && fileExists(f) {
		files = append(files, f)
	}
	return files
}

// fileExists says whether path is a file (following links).
func fileExists(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}

// ownJournal says whether the journal directory dir is this host's own: journald's
// persistent one in logDir (the daemon reads its machine's subdirectory in it), the
// volatile one in /run, or this machine's subdirectory of either. Other hosts'
// journals (journal-remote's, a copy) are elsewhere.
func ownJournal(dir, logDir string) bool {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return false
	}
	id, _ := os.ReadFile("/etc/machine-id")
	machine := strings.TrimSpace(string(id))
	for _, own := range []string{filepath.Join(logDir, "journal"), "/run/log/journal"} {
		if dir == own || (machine != "" && dir == filepath.Join(own, machine)) {
			return true
		}
	}
	return false
}

// readsSSHDTwice is the warning that the config reads this host's sshd twice, or nil:
// [journal] reads this host's journal with sshd's entries, and a [[source]] of this host
// reads a file rsyslog copies them to, in /var/log. Each record then comes through both:
// the daemon counts it once (recordCopies), and the admin should read one.
func (c *Config) readsSSHDTwice() *ConfigError { return c.readsSSHDTwiceIn("/var/log") }

// readsSSHDTwiceIn is readsSSHDTwice with the host's logs in logDir (tests name their
// own). Only a file that exists is warned of: on a host without rsyslog (Debian 12 and
// later as installed) nothing writes auth.log, and "each record comes through both"
// would be false; Preflight says the file does not exist, and should rsyslog write it
// one day, the daemon's log names the two sources at the first copy, and run's check at
// the next start warns.
func (c *Config) readsSSHDTwiceIn(logDir string) *ConfigError {
	j := c.Journal
	if !j.Enabled || (j.Directory != "" && !ownJournal(j.Directory, logDir)) { // other hosts' journals, or a copy
		return nil
	}
	var sshUnits, sshIDs []string
	for _, u := range j.Units {
		if u == "ssh.service" || u == "sshd.service" || strings.HasPrefix(u, "ssh@") || strings.HasPrefix(u, "sshd@") {
			sshUnits = append(sshUnits, u)
		}
	}
	for _, id := range j.Identifiers {
		if id == "sshd" || id == "sshd-session" || id == "sshd-auth" {
			sshIDs = append(sshIDs, id)
		}
	}
	every := len(j.Units) == 0 && len(j.Identifiers) == 0
	if !every && len(sshUnits) == 0 && len(sshIDs) == 0 {
		return nil
	}
	files := sshdFiles(logDir)
	for i, s := range c.Sources {
		if s.Host != "" { // another host's copy
			continue
		}
		for _, f := range s.Files {
			abs, err := filepath.Abs(f) // and clean: /var/log/../log/auth.log is auth.log
			if err != nil {
				continue
			}
			for _, sf := range files {
				if hasMeta(f) {
					if ok, _ := filepath.Match(abs, sf); !ok {
						continue
					}
				} else if abs != sf && !sameFile(abs, sf) { // a link to it
					continue
				}
				key, what := fmt.Sprintf("source[%d].files", i), sf
				switch {
				case hasMeta(f):
					what = fmt.Sprintf("%q matches %s, which", f, sf)
				case f != sf:
					what = fmt.Sprintf("%s is %s, which", f, sf)
				}
				return &ConfigError{File: c.file, Line: keyOrTableLine(c.doc, key), Key: key,
					Problem: what + " is where rsyslog writes the sshd lines it takes from the journal, and [journal] reads sshd's entries too: " +
						"each record comes through both; the daemon counts it once (the copy from the second source makes no event)",
					Hint: "read sshd once: through the journal alone, which tells sshd's lines from a local user's forgeries where a file cannot, by leaving " + sf +
						" out of [[source]] files; or through the file alone, " + journalWithoutSSH(j, sshUnits, sshIDs)}
			}
		}
	}
	return nil
}

// journalWithoutSSH says how to make [journal] read no sshd entry. Taking ssh's
// entries out of units and identifiers is no way when nothing else is left in them:
// both empty read every entry, sshd's too.
func journalWithoutSSH(j JournalConfig, sshUnits, sshIDs []string) string {
	if len(j.Units) == 0 && len(j.Identifiers) == 0 {
		return "by naming in [journal] units the units it is to read, ssh's left out (units = [] and identifiers = [] read every entry, sshd's too), or by setting [journal] enabled = false"
	}
	if len(j.Units) == len(sshUnits) && len(j.Identifiers) == len(sshIDs) {
		return "by setting [journal] enabled = false (it reads sshd's entries alone; units and identifiers both empty would read every entry)"
	}
	var out []string
	for _, k := range []struct {
		key   string
		names []string
	}{{"units", sshUnits}, {"identifiers", sshIDs}} {
		if len(k.names) > 0 {
			out = append(out, strings.Join(k.names, ", ")+" out of [journal] "+k.key)
		}
	}
	return "by leaving " + strings.Join(out, ", and ")
}

// sameFile says whether the paths a and b name one file.
func sameFile(a, b string) bool {
	fa, errA := os.Stat(a)
	fb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(fa, fb)
}
