// Package store is abusewatch's memory: one bbolt file that holds the events (in hourly
// blocks that index their own addresses, block.go), the long-memory counters (daily.go,
// active.go), the incidents, the report outbox and the read position of every source.
// Every write is one transaction, so the events read from a source, their counts and
// the position after them are committed together or not at all. It is the only package
// that imports go.etcd.io/bbolt, and only the daemon (or an offline command when no
// daemon runs) opens the file: only what writes to it creates it (a query opens what
// exists), and what root creates gets the owner of its directory, the daemon's user. A
// Store is safe for concurrent use.
package store

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io/fs"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/ownership"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// SchemaVersion is the layout of the buckets this code reads and writes.
const SchemaVersion = 13

var (
	bucketMeta       = []byte("meta")
	bucketBlocks     = []byte("blocks")           // hour|seq → a block of raw events (block.go)
	bucketUnsealed   = []byte("unsealed")         // the keys of the blocks whose day is not sealed (daily.go)
	bucketIncidents  = []byte("incident_bodies")  // first event (u64 UnixNano) | ID → incident (incidents.go)
	bucketStarts     = []byte("incident_starts")  // incident key | 0 | first event (u64 UnixNano) | ID (incidents.go)
	bucketReported   = []byte("incident_reports") // incident ID → report ID
	bucketReports    = []byte("reports")          // ID → the report as JSON, without its message
	bucketMessages   = []byte("report_messages")  // report ID → its RFC 5322 message
	bucketPositions  = []byte("positions")
	bucketExclusions = []byte("exclusions") // networks the admin excluded or pardoned
	bucketDeliveries = []byte("deliveries") // sent time|seq → who a report went to (cooldown and caps)

	metaSeq    = []byte("seq")    // the last event sequence number given out
	metaEvents = []byte("events") // how many raw events the blocks hold
)

// ErrLocked means another process (normally the running daemon) holds the database.
var ErrLocked = errors.New("the state database is in use by another process (is the abusewatch daemon running?)")

// Store is an open state database.
type Store struct {
	db    *bolt.DB
	path  string
	cache *blockCache

	// mu serialises the writers of events and counters with the in-memory counters of
	// the days not yet sealed (daily.go); readers of the counters share it (the rules
	// of several addresses read them at once).
	mu           sync.RWMutex
	pending      pendingCounters
	activePruned uint32 // the day the activity index was last pruned before
	// pendingLimit is the most scope-class-days pending holds before days are sealed
	// early (defaultPendingLimit; tests set less); sealPeak is about the most bytes
	// the counters and a seal have held at once (daily.go).
	pendingLimit int
	sealPeak     int
	// behindFilters are the filters of the active scopes of the days behind in the
	// activity index (active_filter.go); a day behind without one is read from its
	// parts alone.
	behindFilters map[uint32]*scopeFilter
	filterSeed    maphash.Seed
	// indexEverySeal puts every seal in the activity index at once, as versions
	// before did: the reference the tests hold the days behind to.
	indexEverySeal bool

	migrated *Migration // what this open did to an older file; nil: nothing
	notes    []string   // what else this open did that the admin should know
	// correlated is the last Seq through which the events were correlated without an
	// incident to store (NoteCorrelated), written with the next transaction that
	// writes the correlation mark (correlated.go).
	correlated atomic.Uint64
}

// Notes is what this open of the store did besides (a copy left by a stopped compact
// removed): the daemon logs it and a command says it.
func (s *Store) Notes() []string { return s.notes }

// removeStaleCompact removes the copy a compact stopped midway (SIGKILL, power loss)
// left beside the file: it takes as much room as the store, and the next compact would
// only remove it then. The lock on the file at the path is held, and a compact writes
// its copy only while it holds that lock, so none is being written.
func (s *Store) removeStaleCompact() {
	real, err := filepath.EvalSymlinks(s.path)
	if err != nil {
		return
	}
	tmp := real + ".compact"
	fi, err := os.Lstat(tmp)
	if err != nil || !fi.Mode().IsRegular() {
		return
	}
	if err := os.Remove(tmp); err != nil {
		s.notes = append(s.notes, fmt.Sprintf("%s, %d MB, is left by an abusewatch compact that was stopped before it finished, and cannot be removed (%v): remove it", tmp, fi.Size()>>20, err))
		return
	}
	s.notes = append(s.notes, fmt.Sprintf("removed %s (%d MB), left by an abusewatch compact that was stopped before it finished", tmp, fi.Size()>>20))
}

// Migration is what Open did to a file of an older schema: an older abusewatch refuses
// the file from then on, so the daemon logs it and a command says it.
type Migration struct {
	Path     string
	From, To uint32
	Took     time.Duration
}

func (m Migration) String() string {
	return fmt.Sprintf("the state database %s was migrated from schema %d to %d in %.1f s; abusewatch versions older than this one can no longer open it (keep a copy made before the upgrade to go back)",
		m.Path, m.From, m.To, m.Took.Seconds())
}

// Migrated is the migration this open of the store made, if it made one.
func (s *Store) Migrated() (Migration, bool) {
	if s.migrated == nil {
		return Migration{}, false
	}
	return *s.migrated, true
}

// ErrOldSchema means OpenExisting found a file of an older schema: it leaves it as it
// is, since the migration cannot be undone; the daemon (or scan) migrates it at start.
var ErrOldSchema = errors.New("start the daemon once (systemctl start abusewatch, or abusewatch run), or scan once, to upgrade it: " +
	"a query leaves the file as it is, so that the abusewatch it came from can still open it until then")

// ErrDamaged means the state database cannot be read: a file cut short or overwritten.
var ErrDamaged = errors.New("the state database is damaged: restore it from a backup, or move it away to start a new one " +
	"(every log is then read again from its start, and reports already sent may be written again)")

// ErrEmpty means the state database exists but holds nothing (0 bytes): a new database
// made in its place would read every log again and could send reports again, so a person
// decides.
var ErrEmpty = errors.New("the state database is an empty file: if abusewatch never ran with it, remove it; if it held " +
	"abusewatch's state, restore it from a backup (a new one would read every log again and may send reports again)")

// ErrNoDatabase means OpenExisting found no database at its path: the daemon has not
// run with it and nothing was scanned into it yet.
var ErrNoDatabase = errors.New("there is no state database yet: the daemon has not run and nothing was scanned")

// ErrNotOurs means the file at the store's path is a bbolt database of another program:
// it holds buckets, but not abusewatch's meta bucket with its schema. It is never written.
var ErrNotOurs = errors.New("it is not an abusewatch state database (it holds another program's buckets and no abusewatch schema): " +
	"check [store] path in the config; abusewatch leaves the file as it is")

// ErrNotBolt means the file is no bbolt database at all, or both its meta pages (the
// two copies of its header) are damaged.
var ErrNotBolt = errors.New("it is not a bbolt database, or both its meta pages are damaged: if it held abusewatch's state, " +
	"restore it from a backup, or move it away to start a new one (every log is then read again from its start, and reports " +
	"already sent may be written again); if [store] path names another program's file, correct the path")

// openMode is how open treats the file: made when missing (Open), written but never
// made or migrated (OpenExisting), or only read (OpenReadOnly).
type openMode int

const (
	openCreate openMode = iota
	openExisting
	openReadOnly
)

// Open opens or creates the database at path, waiting at most timeout for another
// process to release it. A damaged file is ErrDamaged, an empty one ErrEmpty, another
// program's bbolt file ErrNotOurs. A database (or directory) it creates as root in a
// directory of another user gets that directory's owner and group (owner.go), so that
// the daemon's user can open what a root scan made before the first start.
func Open(path string, timeout time.Duration) (*Store, error) {
	if err := ownership.MakeDir(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return open(path, timeout, openCreate)
}

// OpenExisting is Open of a database that exists, for a command that writes to it
// (correlate, whois's cache, a change made without the daemon): it never creates one,
// and is ErrNoDatabase when there is none. A root command before the first start made a
// root-owned file the daemon could not open. Nor does it migrate a file of an older
// schema (ErrOldSchema): a command run with a new binary before the daemon was
// restarted upgraded the file for good, unseen.
func OpenExisting(path string, timeout time.Duration) (*Store, error) {
	return open(path, timeout, openExisting)
}

// OpenReadOnly opens the database at path for the queries: read-only (a shared lock,
// beside other readers), so that it never changes the file, and reads it on a file
// system mounted read-only (while a disk is repaired). It is ErrNoDatabase when there is
// none, or the file holds no bucket yet; ErrOldSchema for a file of an older schema, or
// one that lacks a bucket this version makes (the daemon or a scan upgrades it). A write
// to the store it returns fails.
func OpenReadOnly(path string, timeout time.Duration) (*Store, error) {
	return open(path, timeout, openReadOnly)
}

// Empty is a store that holds nothing, in place of the database at path, which does not
// exist: a query answers from it as from a database with nothing in it yet. It lives in a
// file removed at once, so it leaves nothing anywhere; Path is path.
func Empty(path string) (*Store, error) {
	dir, err := os.MkdirTemp("", "abusewatch-empty-")
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	defer os.RemoveAll(dir) // the open file stays readable and writable until Close
	s, err := open(filepath.Join(dir, "state.db"), 0, openCreate)
	if err != nil {
		return nil, err
	}
	s.path = path
	return s, nil
}

func open(path string, timeout time.Duration, mode openMode) (s *Store, err error) {
	if fi, err := os.Stat(path); err == nil && fi.Size() == 0 {
		return nil, fmt.Errorf("store %s: %w", path, ErrEmpty)
	}
	// bbolt panics on pages it cannot make sense of, and a read of the mapped file past
	// its end faults (SIGBUS: a file cut short inside the freelist, which bbolt.Open
	// reads); the admin gets the file and what to do, not a stack trace (and, under
	// systemd, a loop of them). The fault is a panic only while open runs.
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("store %s: %w (%v)", path, ErrDamaged, r)
		}
	}()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	db, err := openBolt(path, 0o640, timeout, mode)
	if err != nil {
		return nil, err
	}
	s = &Store{db: db, path: path, cache: newBlockCache(50_000), pendingLimit: defaultPendingLimit, filterSeed: maphash.MakeSeed()}
	// Whose file it is is read before anything is written to it: an abusewatch that
	// made its buckets in another program's file took it over.
	if err := db.View(func(tx *bolt.Tx) error { return checkOurs(tx, mode == openReadOnly) }); err != nil {
		db.Close()
		if errors.Is(err, ErrNoDatabase) {
			return nil, fmt.Errorf("store %s: %w (the file holds nothing yet)", path, err)
		}
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	if mode != openReadOnly {
		if err := s.init(mode == openCreate); err != nil {
			db.Close()
			return nil, fmt.Errorf("store %s: %w", path, err)
		}
		s.removeStaleCompact()
	}
	if err := s.loadBehindFilters(); err != nil {
		db.Close()
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	if err := s.loadPending(); err != nil {
		db.Close()
		if errors.Is(err, errCorruptBlock) { // what to do about it
			return nil, fmt.Errorf("store %s: %w: %w", path, err, ErrDamaged)
		}
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	return s, nil
}

// storeBuckets are the buckets of the current schema: init makes those a store lacks.
func storeBuckets() [][]byte {
	return [][]byte{bucketMeta, bucketBlocks, bucketIncidents, bucketReported, bucketReports,
		bucketPositions, bucketExclusions, bucketDeliveries, bucketContacts, bucketShapes, bucketDays, bucketDaysAll, bucketHourly, bucketActive,
		bucketIncidentAddrs, bucketIncidentLast, bucketUnreported, bucketUnsealed, bucketStarts, bucketMessages, bucketContactMisses, bucketAlertMarks,
		bucketReportsOf}
}

// checkOurs is ErrNotOurs for a file that holds buckets but no abusewatch schema (meta
// holds it from the first transaction abusewatch commits). A file without a bucket is
// new: bbolt made it and nothing was committed yet (ErrNoDatabase when only read).
// With readOnly, a file that cannot be read as it is (an older or newer schema, a
// bucket this version makes missing) is refused, since nothing may be made or migrated.
func checkOurs(tx *bolt.Tx, readOnly bool) error {
	any := false
	if err := tx.ForEach(func([]byte, *bolt.Bucket) error { any = true; return nil }); err != nil {
		return err
	}
	if !any {
		if readOnly {
			return ErrNoDatabase
		}
		return nil
	}
	meta := tx.Bucket(bucketMeta)
	var v []byte
	if meta != nil {
		v = meta.Get([]byte("schema"))
	}
	if len(v) != 4 {
		return ErrNotOurs
	}
	if !readOnly {
		return nil // init migrates, or refuses a newer schema
	}
	switch version := binary.BigEndian.Uint32(v); {
	case version > SchemaVersion:
		return fmt.Errorf("schema version %d is newer than this program understands (%d): use a newer abusewatch", version, SchemaVersion)
	case version < SchemaVersion:
		return fmt.Errorf("it is of schema %d, which this abusewatch upgrades to %d: %w", version, SchemaVersion, ErrOldSchema)
	}
	for _, name := range storeBuckets() {
		if tx.Bucket(name) == nil {
			return fmt.Errorf("it lacks the bucket %s, which this abusewatch adds: %w", name, ErrOldSchema)
		}
	}
	return nil
}

// openAttempts is how many times openBolt opens the path again when the file it locked
// is no longer the one at the path.
const openAttempts = 10

// ErrReplaced means the file at the store's path was replaced every time openBolt had
// locked the one it opened: something renames files over it without pause.
var ErrReplaced = errors.New("the file at this path was replaced each time this process got its lock: " +
	"something keeps renaming files over it (another abusewatch compact?); run the command again")

// openBolt opens the bbolt file at path (for writing, unless mode is openReadOnly),
// waiting at most timeout for another process's lock: ErrLocked then. With openCreate, a
// missing file is made with perm and, made by root, given its directory's owner
// (ownership.AsDirectory); otherwise it is ErrNoDatabase. A file it may not open is an
// error that names its owner and the chown that lets the process open it.
//
// The lock is on the file opened, not on the path: `abusewatch compact` renames its copy
// over the path while it holds the old file's lock, and a process that opened the path
// just before waits for that lock and then holds a deleted file; what it stored there
// was lost. So, once locked, the file must still be the one at the path (device and
// inode), or it is closed and the path opened again.
func openBolt(path string, perm os.FileMode, timeout time.Duration, mode openMode) (*bolt.DB, error) {
	deadline := time.Now().Add(timeout)
	for range openAttempts {
		wait := timeout // 0: for ever, as bbolt waits
		if timeout > 0 {
			// Not 0 once the time is up: one try, without waiting.
			wait = max(time.Until(deadline), time.Millisecond)
		}
		db, opened, err := openBoltOnce(path, perm, wait, mode)
		if err != nil {
			return nil, err
		}
		if same, err := stillAt(opened, path); err != nil {
			db.Close()
			return nil, fmt.Errorf("store %s: %w", path, err)
		} else if same {
			return db, nil
		}
		db.Close()
		if openedHook != nil {
			openedHook(path, "replaced")
		}
	}
	return nil, fmt.Errorf("store %s: %w", path, ErrReplaced)
}

// openedHook, when a test sets it, is told when openBolt has opened the file at path
// (what "opened"), before it waits for the lock, and when it found it replaced.
var openedHook func(path, what string)

// stillAt says whether f is the file at path: the same device and inode. A path that
// names no file any more (moved away meanwhile) is not f.
func stillAt(f *os.File, path string) (bool, error) {
	held, err := f.Stat()
	if err != nil {
		return false, err
	}
	now, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return os.SameFile(held, now), nil
}

// isSymlink says whether path is a symlink.
func isSymlink(path string) bool {
	fi, err := os.Lstat(path)
	return err == nil && fi.Mode()&fs.ModeSymlink != 0
}

// openBoltOnce is one bbolt.Open of openBolt, and the file it opened.
func openBoltOnce(path string, perm os.FileMode, timeout time.Duration, mode openMode) (*bolt.DB, *os.File, error) {
	create := mode == openCreate
	openOrCreate := func(name string, flag int, perm os.FileMode) (*os.File, error) {
		f, err := os.OpenFile(name, flag&^os.O_CREATE, perm)
		if !create || !errors.Is(err, fs.ErrNotExist) {
			return f, err
		}
		f, err = os.OpenFile(name, flag|os.O_CREATE|os.O_EXCL, perm)
		if errors.Is(err, fs.ErrExist) { // made meanwhile by another process
			return os.OpenFile(name, flag&^os.O_CREATE, perm)
		}
		if err != nil {
			return nil, err
		}
		if err := ownership.AsDirectory(f, filepath.Dir(name)); err != nil {
			f.Close()
			os.Remove(name)
			return nil, err
		}
		return f, nil
	}
	// bbolt reads the freelist as it opens, where a file cut short faults: checked first.
	var opened *os.File
	openFile := func(name string, flag int, perm os.FileMode) (*os.File, error) {
		f, err := openOrCreate(name, flag, perm)
		if err != nil {
			return nil, err
		}
		if err := checkPages(f); err != nil {
			f.Close()
			return nil, err
		}
		opened = f
		if openedHook != nil {
			openedHook(name, "opened")
		}
		return f, nil
	}
	db, err := bolt.Open(path, perm, &bolt.Options{Timeout: timeout, FreelistType: bolt.FreelistMapType, OpenFile: openFile,
		ReadOnly: mode == openReadOnly})
	switch {
	case errors.Is(err, bolterrors.ErrTimeout):
		return nil, nil, fmt.Errorf("store %s: %w", path, ErrLocked)
	case errors.Is(err, fs.ErrNotExist) && isSymlink(path):
		target, _ := os.Readlink(path)
		return nil, nil, fmt.Errorf("store %s: it is a symlink to %s, which does not exist: point the link at the database (restore it if it was moved), "+
			"or remove the link for a new one to be made there (every log is then read again)", path, target)
	case !create && errors.Is(err, fs.ErrNotExist):
		return nil, nil, fmt.Errorf("store %s: %w", path, ErrNoDatabase)
	case errors.Is(err, fs.ErrPermission):
		return nil, nil, fmt.Errorf("store %s: %w%s", path, err, notOurs(path))
	case errors.Is(err, bolterrors.ErrInvalid), errors.Is(err, bolterrors.ErrVersionMismatch), errors.Is(err, bolterrors.ErrChecksum):
		return nil, nil, fmt.Errorf("store %s: %w (%v)", path, ErrNotBolt, err)
	case err != nil:
		return nil, nil, fmt.Errorf("store %s: %w", path, err)
	}
	// A file cut short below the pages its meta page says it holds opens when the
	// freelist happens to lie before the cut, and faults (SIGBUS) at the first read of a
	// page past it; under the lock, the file is checked before anything reads or writes.
	var used int64
	if err := db.View(func(tx *bolt.Tx) error { used = tx.Size(); return nil }); err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("store %s: %w", path, err)
	}
	if fi, err := opened.Stat(); err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("store %s: %w", path, err)
	} else if fi.Size() < used {
		db.Close()
		return nil, nil, fmt.Errorf("store %s: %w (the file is %d bytes, cut short of the %d it holds)", path, ErrDamaged, fi.Size(), used)
	}
	return db, opened, nil
}

// init makes the buckets a new store lacks and, with migrate, migrates an older one;
// without, an older one is ErrOldSchema and the file is left unchanged.
func (s *Store) init(migrate bool) error {
	start := time.Now()
	var m *Migration
	err := s.db.Update(func(tx *bolt.Tx) error {
		// A store kept by a version before the alert marks has no bucket of them; every
		// version since makes it here.
		unmarked := tx.Bucket(bucketMeta) != nil && tx.Bucket(bucketAlertMarks) == nil
		for _, name := range storeBuckets() {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		var err error
		if m, err = upgradeSchema(tx, migrate); err != nil {
			return err
		}
		if unmarked {
			return noteUnseededAlertMarks(tx)
		}
		return nil
	})
	if err == nil && m != nil { // the time includes the commit, which writes what moved
		m.Path, m.Took = s.path, time.Since(start)
		s.migrated = m
	}
	return err
}

// upgradeSchema records the schema version of a new store, and migrates an older one
// (with allowed; without, it is ErrOldSchema), returning what it did.
func upgradeSchema(tx *bolt.Tx, allowed bool) (*Migration, error) {
	meta := tx.Bucket(bucketMeta)
	v := meta.Get([]byte("schema"))
	switch {
	case v == nil:
		return nil, meta.Put([]byte("schema"), binary.BigEndian.AppendUint32(nil, SchemaVersion))
	case len(v) != 4:
		return nil, fmt.Errorf("corrupt schema version %x", v)
	case binary.BigEndian.Uint32(v) > SchemaVersion:
		return nil, fmt.Errorf("schema version %d is newer than this program understands (%d): use a newer abusewatch",
			binary.BigEndian.Uint32(v), SchemaVersion)
	case binary.BigEndian.Uint32(v) < SchemaVersion && !allowed:
		return nil, fmt.Errorf("it is of schema %d, which this abusewatch upgrades to %d: %w", binary.BigEndian.Uint32(v), SchemaVersion, ErrOldSchema)
	case binary.BigEndian.Uint32(v) < SchemaVersion:
		from := binary.BigEndian.Uint32(v)
		if err := migrate(tx, from); err != nil {
			return nil, err
		}
		return &Migration{From: from, To: SchemaVersion}, nil
	}
	return nil, nil
}

// Path is the file the store lives in.
func (s *Store) Path() string { return s.path }

// Close releases the database.
// Close seals the counters held in memory (so the next Open need not count the day's
// events again) and releases the database.
func (s *Store) Close() error {
	var serr, cerr error
	if !s.db.IsReadOnly() {
		serr = s.sealBefore(^uint32(0))
		// A clean stop leaves no batch to correlate again at the next start.
		cerr = s.writeNotedCorrelation()
	}
	if err := s.db.Close(); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("store: sealing the day's counters on close (they are counted again at the next start): %w", serr)
	}
	if cerr != nil {
		return fmt.Errorf("store: recording the last batches correlated on close (they are correlated again at the next start): %w", cerr)
	}
	return nil
}

// Position is how far a source has been read: the identity of the file under its path and
// the byte offset just after the last committed line.
type Position struct {
	Source string `json:"source"`
	Dev    uint64 `json:"dev"`
	Inode  uint64 `json:"inode"`
	Offset int64  `json:"offset"`
	// Forget, in a commit, deletes the position of Source instead of setting it: the
	// daemon forgets the marks of rotated files that are long gone.
	Forget bool `json:"-"`
}

// Commit stores events and the positions reached after reading them in one transaction.
// It assigns each event its Seq and returns the events as stored, in the order given. A
// position with Forget is deleted.
func (s *Store) Commit(events []abusewatch.Event, positions []Position) ([]abusewatch.Event, error) {
	out := make([]abusewatch.Event, len(events))
	copy(out, events)
	s.mu.Lock()
	defer s.mu.Unlock()
	var seq, countedFrom uint64
	if err := s.db.View(func(tx *bolt.Tx) error {
		seq, countedFrom = metaUint(tx.Bucket(bucketMeta), metaSeq), metaUint(tx.Bucket(bucketMeta), metaCountedFrom)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("store: commit %d events: %w", len(events), err)
	}
	for i := range out {
		out[i].Seq = seq + uint64(i) + 1
	}
	// Compressing the events is half of a commit's work, counting the scopes and
	// indexing the blocks the other half: on two cores at once.
	groups := groupByHour(out)
	rows := make([][]byte, len(groups))
	compressed := make(chan struct{})
	go func() {
		for i, g := range groups {
			rows[i] = compressRows(g.evs)
		}
		close(compressed)
	}()
	for _, e := range out {
		if e.Addr.IsValid() {
			s.pending.add(dayNumber(e.Time), e.Addr, e.Class, 1, countedFrom)
		}
	}
	blocks := make([]storedBlock, len(groups))
	for i, g := range groups {
		blocks[i] = storedBlock{g.key, encodeIndex(g.hour, g.evs)}
	}
	<-compressed
	for i := range blocks {
		blocks[i].value = append(blocks[i].value, rows[i]...)
	}
	var sealed []uint32
	err := s.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		// Before the last Seq given out moves: a store without a mark starts it there.
		if err := s.markCommitted(tx, out); err != nil {
			return err
		}
		if err := putStoredBlocks(tx, blocks); err != nil {
			return err
		}
		if err := metaPut(meta, metaSeq, seq+uint64(len(out))); err != nil {
			return err
		}
		if err := metaPut(meta, metaEvents, metaUint(meta, metaEvents)+uint64(len(out))); err != nil {
			return err
		}
		// The long-memory counters, in the same transaction as the events they count.
		if err := addTotals(tx, out); err != nil {
			return err
		}
		var err error
		if sealed, err = s.sealDue(tx, &s.pending); err != nil {
			return err
		}
		pb := tx.Bucket(bucketPositions)
		for _, p := range positions {
			if p.Forget {
				if err := pb.Delete([]byte(p.Source)); err != nil {
					return err
				}
				continue
			}
			v, err := json.Marshal(p)
			if err != nil {
				return err
			}
			if err := pb.Put([]byte(p.Source), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		// The pending counters may hold this batch: count them again from what was
		// stored.
		if perr := s.loadPending(); perr != nil {
			err = fmt.Errorf("%w (and recounting the unsealed days: %v)", err, perr)
		}
		return nil, fmt.Errorf("store: commit %d events: %w", len(events), err)
	}
	s.pending.drop(sealed)
	return out, nil
}

type storedBlock struct{ key, value []byte }

// putBlocks writes evs (their Seq assigned) as one block per UTC hour they fall in.
func putBlocks(tx *bolt.Tx, evs []abusewatch.Event) error {
	return putStoredBlocks(tx, encodeBlocks(evs))
}

// putStoredBlocks writes blocks, each also listed as not sealed yet.
func putStoredBlocks(tx *bolt.Tx, blocks []storedBlock) error {
	b, u := tx.Bucket(bucketBlocks), tx.Bucket(bucketUnsealed)
	for _, blk := range blocks {
		if err := putBlock(b, blk.key, blk.value); err != nil {
			return err
		}
		if err := u.Put(blk.key, nil); err != nil {
			return err
		}
	}
	return nil
}

// encodeBlocks makes one block of evs (their Seq assigned) per UTC hour they fall in.
func encodeBlocks(evs []abusewatch.Event) []storedBlock {
	var out []storedBlock
	for _, g := range groupByHour(evs) {
		out = append(out, storedBlock{g.key, encodeBlock(g.hour, g.evs)})
	}
	return out
}

// hourGroup is the events of one UTC hour of a commit, in time order, and the key of
// their block.
type hourGroup struct {
	hour uint32
	key  []byte
	evs  []abusewatch.Event
}

// groupByHour splits evs (their Seq assigned) by UTC hour, oldest hour first. When evs
// are in time order, the groups are runs of evs itself, which must not change meanwhile.
func groupByHour(evs []abusewatch.Event) []hourGroup {
	byTime := func(a, b abusewatch.Event) int { return a.Time.Compare(b.Time) }
	var hours [][]abusewatch.Event // each in time order
	if slices.IsSortedFunc(evs, byTime) {
		// The usual batch, in time order: its hours are runs of it, not copies.
		for len(evs) > 0 {
			n, h := 1, hourOf(evs[0].Time)
			for n < len(evs) && hourOf(evs[n].Time) == h {
				n++
			}
			hours, evs = append(hours, evs[:n:n]), evs[n:]
		}
	} else {
		byHour := map[uint32][]abusewatch.Event{}
		for _, e := range evs {
			byHour[hourOf(e.Time)] = append(byHour[hourOf(e.Time)], e)
		}
		for _, h := range slices.Sorted(maps.Keys(byHour)) {
			slices.SortStableFunc(byHour[h], byTime)
			hours = append(hours, byHour[h])
		}
	}
	out := make([]hourGroup, 0, len(hours))
	for _, group := range hours {
		h, first := hourOf(group[0].Time), group[0].Seq
		for _, e := range group {
			first = min(first, e.Seq)
		}
		out = append(out, hourGroup{h, blockKey(h, first), group})
	}
	return out
}

func metaUint(meta *bolt.Bucket, key []byte) uint64 {
	if v := meta.Get(key); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func metaPut(meta *bolt.Bucket, key []byte, v uint64) error {
	return meta.Put(key, binary.BigEndian.AppendUint64(nil, v))
}

// Position returns the committed position of source, if any.
func (s *Store) Position(source string) (Position, bool, error) {
	var p Position
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketPositions).Get([]byte(source))
		if v == nil {
			return nil
		}
		ok = true
		return json.Unmarshal(v, &p)
	})
	return p, ok, err
}

// EventCount is the number of raw events stored.
func (s *Store) EventCount() (int, error) {
	var n int
	err := s.db.View(func(tx *bolt.Tx) error {
		n = int(metaUint(tx.Bucket(bucketMeta), metaEvents))
		return nil
	})
	return n, err
}

// EventsByAddr returns the events from addr with from <= Time <= to, oldest first.
func (s *Store) EventsByAddr(addr netip.Addr, from, to time.Time) ([]abusewatch.Event, error) {
	return s.EventsByNetwork(netip.PrefixFrom(addr.Unmap(), addr.Unmap().BitLen()), from, to)
}

// EventsByNetwork returns the events from the network p (any prefix length) with
// from <= Time <= to, oldest first.
func (s *Store) EventsByNetwork(p netip.Prefix, from, to time.Time) ([]abusewatch.Event, error) {
	return s.networkEvents(p, from, to, 0)
}

// FirstEvents is EventsByNetwork up to the oldest n events: it decodes the blocks of
// the first hours that hold them, not of the whole range (the first active day of a
// network that recurs for months is an incident's first evidence).
func (s *Store) FirstEvents(p netip.Prefix, from, to time.Time, n int) ([]abusewatch.Event, error) {
	return s.networkEvents(p, from, to, max(n, 1))
}

var errEnough = errors.New("enough events")

// HostsOf counts the distinct hosts of ours that the events of addr between from and
// to name, up to atLeast, from the block indexes alone: nothing is decompressed. A
// sweep needs several hosts, and under a flood, reading each address's events of the
// last minutes to find out was most of the daemon's work.
func (s *Store) HostsOf(addr netip.Addr, from, to time.Time, atLeast int) (int, error) {
	addr = addr.Unmap()
	p := netip.PrefixFrom(addr, addr.BitLen())
	var hosts [][]byte
	var at []int
	err := s.eachBlock(from, to, func(key []byte, x *blockIndex) error {
		lo, hi := x.addrRange(p)
		at = at[:0]
		for i := lo; i < hi; i++ {
			var err error
			if at, err = x.positions(i, at); err != nil {
				return err
			}
		}
		for _, i := range x.within(at, from, to) {
			if h := x.host(i); len(h) > 0 && !slices.ContainsFunc(hosts, func(o []byte) bool { return bytes.Equal(o, h) }) {
				if hosts = append(hosts, h); len(hosts) >= atLeast {
					return errEnough
				}
			}
		}
		return nil
	})
	if errors.Is(err, errEnough) {
		err = nil
	}
	return len(hosts), err
}

// networkEvents returns the events of p with from <= Time <= to, oldest first; with
// limit > 0, the oldest limit of them.
func (s *Store) networkEvents(p netip.Prefix, from, to time.Time, limit int) ([]abusewatch.Event, error) {
	p = abusewatch.UnmapPrefix(p)
	var out []abusewatch.Event
	var at []int
	lastHour := uint32(0)
	err := s.eachBlock(from, to, func(key []byte, x *blockIndex) error {
		// A block holds one hour: once an hour has made the count, later hours
		// cannot hold older events.
		if limit > 0 && len(out) >= limit && x.hour > lastHour {
			return errEnough
		}
		lo, hi := x.addrRange(p)
		if lo == hi {
			return nil
		}
		at = at[:0]
		for i := lo; i < hi; i++ {
			var err error
			if at, err = x.positions(i, at); err != nil {
				return err
			}
		}
		if limit > 0 {
			// Only the oldest limit of the block within the range can be among the
			// oldest limit of all: the index's times pick them, so a hot network's
			// first day decodes a frame or so, not every frame it has events in.
			at = x.oldestWithin(at, from, to, limit)
		} else {
			// The correlator asks an address with an open incident for what came after
			// its last event: under a flood of one /24, a few events of every address
			// in each batch, from an hour whose block holds 100,000. Decoding the block
			// whole for each address (it is too big to stay cached) took the daemon from
			// thousands of lines a second to a few hundred.
			at = x.within(at, from, to)
		}
		if len(at) == 0 {
			return nil
		}
		keep := func(e *abusewatch.Event) {
			if !e.Time.Before(from) && !e.Time.After(to) {
				out = append(out, *e)
				lastHour = x.hour
			}
		}
		if evs, ok := s.cache.cached(key); ok || (limit == 0 && !x.fewOf(len(at))) {
			// Reads of everything go through the cache: the correlator reads the
			// recent hours again and again.
			if !ok {
				var err error
				if evs, err = s.cache.events(key, x); err != nil {
					return err
				}
			}
			for _, i := range at {
				keep(&evs[i])
			}
			return nil
		}
		// A few events of an old hour: decode only those.
		slices.Sort(at)
		evs, err := x.decodeRowsAt(at)
		if err != nil {
			return err
		}
		for i := range evs {
			keep(&evs[i])
		}
		return nil
	})
	if errors.Is(err, errEnough) {
		err = nil
	}
	sortEvents(out)
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, err
}

// Glance is what a block's index says of events without decompressing them: N events
// of one class from one address to one host within one hour, the newest at Time.
type Glance struct {
	Time  time.Time // of the newest of them, to the microsecond
	Addr  netip.Addr
	Class abusewatch.Class
	Host  string
	N     int
}

// Glances calls fn for the events from the network p (any prefix length) with
// from <= Time <= to, grouped as Glance says, in no particular order. It reads only the
// blocks' indexes, so `abusewatch net` over months of events stays fast.
func (s *Store) Glances(p netip.Prefix, from, to time.Time, fn func(Glance)) error {
	p = abusewatch.UnmapPrefix(p)
	lo, hi := microRange(from, to)
	// An address's events in one hour are a visit: one or two classes against one or
	// two hosts. Its groups are found by a look through a few, not a map (which was a
	// quarter of a `net` over a busy /24).
	type group struct {
		class, host uint16
		n           int
		newest      int64
	}
	var at []int
	var groups []group
	var names []string
	return s.eachBlock(from, to, func(_ []byte, x *blockIndex) error {
		first, last := x.addrRange(p)
		if first == last {
			return nil
		}
		names = names[:0]
		for _, n := range x.names {
			names = append(names, string(n))
		}
		hourStart := int64(x.hour) * 3600 * 1e6
		whole := lo <= hourStart && hourStart+3600*1e6-1 <= hi // no event of the block is outside
		for i := first; i < last; i++ {
			var err error
			if at, err = x.positions(i, at[:0]); err != nil {
				return err
			}
			groups = groups[:0]
			for _, j := range at {
				us := x.micros(j)
				if !whole && (us < lo || us > hi) {
					continue
				}
				g := x.glances[8*j:]
				class, host := binary.BigEndian.Uint16(g[4:]), binary.BigEndian.Uint16(g[6:])
				k := 0
				for k < len(groups) && (groups[k].class != class || groups[k].host != host) {
					k++
				}
				if k == len(groups) {
					groups = append(groups, group{class: class, host: host, newest: us})
				}
				groups[k].n++
				groups[k].newest = max(groups[k].newest, us)
			}
			addr := x.addr(i)
			for _, g := range groups {
				gl := Glance{Time: time.UnixMicro(g.newest).UTC(), Addr: addr, N: g.n}
				if int(g.class) < len(names) {
					gl.Class = abusewatch.Class(names[g.class])
				}
				if int(g.host) < len(names) {
					gl.Host = names[g.host]
				}
				fn(gl)
			}
		}
		return nil
	})
}

// eachBlock calls fn with the index of every block of the hours from from to to, in
// key order, in one read transaction.
func (s *Store) eachBlock(from, to time.Time, fn func(key []byte, x *blockIndex) error) error {
	if to.Before(from) {
		return nil
	}
	return s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketBlocks)
		c := b.Cursor()
		last := hourOf(to)
		for k, v := c.Seek(blockKey(hourOf(from), 0)); k != nil && binary.BigEndian.Uint32(k) <= last; k, v = c.Next() {
			x, err := readBlockIndex(k, blockValue(b, k, v))
			if err != nil {
				return s.blockError(k, err)
			}
			if x.max < from.UnixNano() || x.min > to.UnixNano() {
				continue
			}
			if err := fn(k, &x); err != nil {
				return s.blockError(k, err)
			}
		}
		return nil
	})
}

// sortEvents puts evs in time order, ties in the order they were stored.
func sortEvents(evs []abusewatch.Event) {
	slices.SortStableFunc(evs, func(a, b abusewatch.Event) int {
		return cmp.Or(a.Time.Compare(b.Time), cmp.Compare(a.Seq, b.Seq))
	})
}
