package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/abusewatch/abusewatch"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	bolt "go.etcd.io/bbolt"
)

func TestBlockIndexRefusesEveryTruncation(t *testing.T) {
	t0 := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
	evs := []abusewatch.Event{ev("45.134.26.17", t0), ev("2001:67c:2e8::1", t0.Add(time.Second)), {Time: t0.Add(2 * time.Second), Class: "unknown"}}
	for i := range evs {
		evs[i].Seq = uint64(i + 1)
	}
	key := blockKey(hourOf(t0), 1)
	v := encodeBlock(hourOf(t0), evs)
	x, err := readBlockIndex(key, v)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := x.decodeRows(); err != nil || len(got) != 3 || got[1].Addr != evs[1].Addr {
		t.Fatalf("decodeRows = %v, %v", got, err)
	}
	for n := range len(v) {
		x, err := readBlockIndex(key, v[:n])
		if err == nil {
			_, err = x.decodeRows()
		}
		if err == nil {
			t.Errorf("a block cut to %d of %d bytes was read without an error", n, len(v))
		}
	}
}

// openCrashed opens a copy of the database at path as a crash would leave it: as its
// last commit wrote it (each commit is synced), without what Close does.
func openCrashed(t *testing.T, path string) *Store {
	t.Helper()
	crashed := filepath.Join(filepath.Dir(path), "crashed.db")
	if data, err := os.ReadFile(path); err != nil || os.WriteFile(crashed, data, 0o600) != nil {
		t.Fatal("copying the database", err)
	}
	s, err := Open(crashed, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The per-scope counters of days not sealed yet live in memory; reopening counts them
// again from the blocks, and what was sealed is not counted twice.
func TestCountersSurviveReopenSealedOrNot(t *testing.T) {
	s, path := openNew(t)
	var err error
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for d := range 5 { // one commit a day: days 0-2 are sealed once day 4 comes
		if _, err := s.Commit([]abusewatch.Event{ev("45.134.26.17", t0.AddDate(0, 0, d)), ev("45.134.26.99", t0.AddDate(0, 0, d))}, nil); err != nil {
			t.Fatal(err)
		}
	}
	// A late event for a sealed day, and one that is never stored.
	if _, err := s.Commit([]abusewatch.Event{ev("45.134.26.17", t0.Add(time.Hour))}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit([]abusewatch.Event{ev("45.134.26.17", t0)}, []Position{{Source: ""}}); err == nil {
		t.Fatal("a commit with an empty source name succeeded")
	}
	want := []int{2, 1, 1, 1, 1}
	check := func(when string) {
		t.Helper()
		days, err := s.Days(netip.MustParsePrefix("45.134.26.17/32"), t0.AddDate(0, 0, -1), t0.AddDate(0, 0, 10))
		if err != nil || len(days) != len(want) {
			t.Fatalf("%s: Daily = %+v, %v", when, days, err)
		}
		for i, d := range days {
			if d.ByClass["auth-failure"] != want[i] {
				t.Errorf("%s: day %d counts %d, want %d", when, i, d.ByClass["auth-failure"], want[i])
			}
		}
		net, _ := s.Days(netip.MustParsePrefix("45.134.26.0/24"), t0, t0)
		if len(net) != 1 || net[0].ByClass["auth-failure"] != 3 {
			t.Errorf("%s: the /24 on day 0 = %+v, want 3", when, net)
		}
		active, err := s.ActiveDays(netip.MustParsePrefix("45.134.26.0/24"), t0.AddDate(0, 0, -1), t0.AddDate(0, 0, 10))
		if err != nil || len(active) != 5 || !active[0].Equal(t0.Truncate(24*time.Hour)) {
			t.Errorf("%s: ActiveDays = %v, %v", when, active, err)
		}
	}
	check("open")
	s.db.View(func(tx *bolt.Tx) error {
		if n := tx.Bucket(bucketDays).Stats().KeyN; n != 3 {
			t.Errorf("%d days sealed, want 3 (two days older than the newest)", n)
		}
		return nil
	})
	// A crash: the file as the last commit left it, days 3 and 4 not sealed.
	orig := s
	s = openCrashed(t, path)
	check("after a crash")
	s.Close()
	s = orig
	s.Close()
	if s, err = Open(path, time.Second); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check("reopened")
	// Pruning raw events seals their days first: the counters keep them.
	if _, err := s.PruneEvents(context.Background(), t0.AddDate(0, 0, 10), 0); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = Open(path, time.Second); err != nil {
		t.Fatal(err)
	}
	check("pruned and reopened")
}

func TestActiveDaysLeaveOutSuccessfulLogins(t *testing.T) {
	s := openTemp(t)
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	ok := ev("45.134.26.17", t0.AddDate(0, 0, 1))
	ok.Class = abusewatch.ClassAuthSuccess
	if _, err := s.Commit([]abusewatch.Event{ev("45.134.26.17", t0), ok, ev("45.134.26.17", t0.AddDate(0, 0, 700))}, nil); err != nil {
		t.Fatal(err)
	}
	days, err := s.ActiveDays(netip.MustParsePrefix("45.134.26.17/32"), t0.AddDate(-3, 0, 0), t0.AddDate(3, 0, 0))
	if err != nil || len(days) != 2 {
		t.Fatalf("ActiveDays = %v, %v; want day 0 and day 700", days, err)
	}
	// Once sealed, the index keeps 512 days: day 0 falls out when day 700 is sealed.
	if _, err := s.Commit([]abusewatch.Event{ev("45.134.26.1", t0.AddDate(0, 0, 705))}, nil); err != nil {
		t.Fatal(err)
	}
	days, _ = s.ActiveDays(netip.MustParsePrefix("45.134.26.17/32"), t0.AddDate(-3, 0, 0), t0.AddDate(3, 0, 0))
	if len(days) != 1 || !days[0].Equal(t0.AddDate(0, 0, 700).Truncate(24*time.Hour)) {
		t.Errorf("ActiveDays after sealing = %v; want day 700 only", days)
	}
	if _, err := s.ActiveDays(netip.MustParsePrefix("45.134.0.0/16"), t0, t0); err == nil {
		t.Error("ActiveDays answered for a /16, which it does not index")
	}
}

// Recurring must name every scope ActiveDays finds on enough days, whether its days
// are sealed or still pending, and none that is not.
func TestRecurringAgreesWithActiveDays(t *testing.T) {
	s := openTemp(t)
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	var evs []abusewatch.Event
	for d := range 6 { // 45.134.26.17 on days 0-5; the last two stay pending
		evs = append(evs, ev("45.134.26.17", t0.AddDate(0, 0, d)))
	}
	for _, d := range []int{0, 2} { // .18 on two days
		evs = append(evs, ev("45.134.26.18", t0.AddDate(0, 0, d)))
	}
	for d := range 6 { // logins are not activity
		ok := ev("45.134.27.1", t0.AddDate(0, 0, d))
		ok.Class = abusewatch.ClassAuthSuccess
		evs = append(evs, ok)
	}
	evs = append(evs, ev("45.134.28.1", t0.AddDate(0, 0, 4)), ev("45.134.28.2", t0.AddDate(0, 0, 5))) // pending only
	slices.SortStableFunc(evs, func(a, b abusewatch.Event) int { return a.Time.Compare(b.Time) })
	if _, err := s.Commit(evs, nil); err != nil {
		t.Fatal(err)
	}
	from, to := t0.AddDate(0, 0, -1), t0.AddDate(0, 0, 10)
	for _, n := range []int{1, 2, 3, 6, 7} {
		got, err := s.Recurring(from, to, n)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"45.134.26.17/32", "45.134.26.18/32", "45.134.26.0/24", "45.134.27.1/32", "45.134.27.0/24",
			"45.134.28.1/32", "45.134.28.2/32", "45.134.28.0/24"} {
			days, err := s.ActiveDays(netip.MustParsePrefix(p), from, to)
			if err != nil {
				t.Fatal(err)
			}
			list, ok := got[netip.MustParsePrefix(p)]
			if want := len(days) >= n; ok != want || (ok && !slices.EqualFunc(list, days, time.Time.Equal)) {
				t.Errorf("Recurring(%d) holds %s: %v %v; ActiveDays finds %v", n, p, ok, list, days)
			}
		}
	}
	// A range that ends before the pending days leaves them out.
	if got, _ := s.Recurring(from, t0.AddDate(0, 0, 3), 4); len(got) != 2 {
		t.Errorf("Recurring up to day 3 = %v; want .17 and its /24 (4 days each)", got)
	}
}

func TestGlancesTellClassHostAndAddress(t *testing.T) {
	s := openTemp(t)
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 123456789, time.UTC)
	a, b := ev("45.134.26.17", t0), ev("45.134.26.99", t0.Add(time.Hour))
	b.Class, b.Host = abusewatch.ClassInvalidUser, "mail1"
	again := ev("45.134.26.17", t0.Add(time.Minute)) // grouped with a
	other := ev("45.134.26.17", t0.Add(2*time.Minute))
	other.Class = abusewatch.ClassInvalidUser            // the same address, a group of its own
	before := ev("45.134.26.17", t0.Truncate(time.Hour)) // in a's hour, before the range
	if _, err := s.Commit([]abusewatch.Event{before, a, b, again, other, ev("45.134.27.1", t0)}, nil); err != nil {
		t.Fatal(err)
	}
	glances := func(from, to time.Time) []Glance {
		var got []Glance
		if err := s.Glances(netip.MustParsePrefix("45.134.26.0/24"), from, to, func(g Glance) { got = append(got, g) }); err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(got, func(a, b Glance) int { return a.Time.Compare(b.Time) })
		return got
	}
	got := glances(t0, t0.Add(2*time.Hour))
	if len(got) != 3 || got[0].Addr != a.Addr || !got[0].Time.Equal(again.Time.Truncate(time.Microsecond)) || got[0].N != 2 ||
		got[1].Addr != a.Addr || got[1].Class != abusewatch.ClassInvalidUser || got[1].N != 1 ||
		got[2].Class != abusewatch.ClassInvalidUser || got[2].Host != "mail1" {
		t.Errorf("Glances = %+v", got)
	}
	// Over whole hours, the event before t0 counts too.
	if got := glances(t0.Truncate(time.Hour), t0.Add(2*time.Hour)); len(got) != 3 || got[0].N != 3 {
		t.Errorf("Glances over whole hours = %+v", got)
	}
}

// zstdEncoder writes what versions before wrote: zstd frames (blocks of versions 1 and
// 2, incidents of schema 2 to 7).
var zstdEncoder, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1),
	zstd.WithLowerEncoderMem(true))

// zstdBlock is the block of evs as version 1 (one zstd frame) or 2 (zstd frames of
// frameEvents) wrote it.
func zstdBlock(hour uint32, evs []abusewatch.Event, version byte) []byte {
	b := encodeIndex(hour, evs)
	b[0] = version
	var frames [][]byte
	for part := range slices.Chunk(evs, frameEvents) {
		var rows []byte
		for i := range part {
			rows = encodeEvent(rows, &part[i])
		}
		frames = append(frames, zstdEncoder.EncodeAll(rows, nil))
	}
	if version == blockV1 {
		return append(b, bytes.Join(frames, nil)...)
	}
	b = binary.AppendUvarint(b, uint64(len(frames)))
	for _, f := range frames {
		b = binary.AppendUvarint(b, uint64(len(f)))
	}
	return append(b, bytes.Join(frames, nil)...)
}

// A block of frames decompresses only the frames a read needs, and decodes the same
// events as a whole read; blocks of versions 1 (one zstd frame) and 2 (zstd frames)
// still read the same.
func TestBlockFramesDecodeTheSameEvents(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	var evs []abusewatch.Event
	for i := range 2*frameEvents + 10 {
		e := ev(fmt.Sprintf("45.134.26.%d", 1+i%200), t0.Add(time.Duration(i)*time.Second))
		e.Seq, e.Line = uint64(i+1), fmt.Sprintf("line %d", i)
		evs = append(evs, e)
	}
	hour := hourOf(t0)
	v3 := encodeBlock(hour, evs)
	if v3[0] != blockV3 {
		t.Fatalf("a block is written as version %d, want %d", v3[0], blockV3)
	}
	others := slices.Clone(evs)
	for i := range others {
		others[i].Line, others[i].Class = strings.Repeat("x", len(others[i].Line)), "port-probe"
	}
	other, err := readBlockIndex(blockKey(hour, 2), encodeBlock(hour, others))
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string][]byte{"version 1": zstdBlock(hour, evs, blockV1), "version 2": zstdBlock(hour, evs, blockV2), "version 3": v3} {
		x, err := readBlockIndex(blockKey(hour, 1), v)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if (x.frames != nil) != (name != "version 1") || (x.frames != nil && len(x.frames) != 3) {
			t.Errorf("%s: %d frames", name, len(x.frames))
		}
		all, err := x.decodeRows()
		if err != nil || len(all) != len(evs) {
			t.Fatalf("%s: decodeRows = %d events, %v", name, len(all), err)
		}
		for i := range all {
			if all[i].Seq != evs[i].Seq || all[i].Line != evs[i].Line || all[i].Addr != evs[i].Addr {
				t.Fatalf("%s: event %d = %+v, want %+v", name, i, all[i], evs[i])
			}
		}
		at := []int{0, 3, frameEvents - 1, 2 * frameEvents, 2*frameEvents + 9}
		some, err := x.decodeRowsAt(at)
		if err != nil || len(some) != len(at) {
			t.Fatalf("%s: decodeRowsAt = %d events, %v", name, len(some), err)
		}
		// Reads of a few events reuse their buffer: what one gave stays as it was
		// when another block is read.
		for range 3 {
			if _, err := other.decodeRowsAt([]int{1, frameEvents + 1, 2*frameEvents + 1}); err != nil {
				t.Fatal(err)
			}
		}
		for i, p := range at {
			if some[i].Seq != evs[p].Seq || some[i].Line != evs[p].Line || some[i].Class != evs[p].Class {
				t.Errorf("%s: position %d = %+v, want %+v", name, p, some[i], evs[p])
			}
		}
		if _, err := x.decodeRowsAt([]int{len(evs)}); err == nil {
			t.Errorf("%s: a position beyond the block decoded", name)
		}
	}
}

// The frames a block is written in tell their decompressed size, so a read makes its
// buffer the right size instead of guessing.
func TestFramesTellTheirDecodedSize(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	var rows []byte
	for i := range 300 {
		e := ev("45.134.26.17", t0.Add(time.Duration(i)*time.Second))
		rows = encodeEvent(rows, &e)
	}
	for c, frame := range map[frameCodec][]byte{codecZstd: zstdEncoder.EncodeAll(rows, nil), codecS2: s2.EncodeBetter(nil, rows)} {
		if got := c.decodedSize(frame); got != len(rows) {
			t.Errorf("codec %d: decodedSize = %d, want %d", c, got, len(rows))
		}
		if got := c.decodedSize(frame, frame); got != 2*len(rows) {
			t.Errorf("codec %d: decodedSize of two frames = %d, want %d", c, got, 2*len(rows))
		}
		if got := c.decodedSize([]byte("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff not a frame")); got != 0 {
			t.Errorf("codec %d: decodedSize of garbage = %d, want 0", c, got)
		}
	}
}

// A commit in time order (its hours are runs of it) and the same events shuffled
// (grouped through a map) store the same events in the same hours: each read back in
// time order, with the Seq it was given, and the caller's slice left as it was.
func TestCommitGroupsHoursInAnyOrder(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 11, 50, 0, 0, time.UTC)
	var sorted []abusewatch.Event
	for i := range 40 {
		sorted = append(sorted, ev(fmt.Sprintf("45.134.26.%d", i%7), t0.Add(time.Duration(i)*time.Minute))) // three hours
	}
	shuffled := slices.Clone(sorted)
	rand.New(rand.NewPCG(5, 6)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	given := slices.Clone(shuffled)
	for _, in := range [][]abusewatch.Event{sorted, shuffled} {
		s := openTemp(t)
		stored, err := s.Commit(in, nil)
		if err != nil {
			t.Fatal(err)
		}
		bySeq := map[uint64]time.Time{}
		for _, e := range stored {
			bySeq[e.Seq] = e.Time
		}
		got, err := s.EventsByNetwork(netip.MustParsePrefix("45.134.26.0/24"), t0, t0.Add(3*time.Hour))
		if err != nil || len(got) != len(in) {
			t.Fatalf("read back %d events, %v; want %d", len(got), err, len(in))
		}
		for i, e := range got {
			if !e.Time.Equal(sorted[i].Time) || !bySeq[e.Seq].Equal(e.Time) {
				t.Fatalf("event %d: %v seq %d; want %v under the seq Commit gave it", i, e.Time, e.Seq, sorted[i].Time)
			}
		}
		// FirstEvents relies on each block being in time order.
		first, err := s.FirstEvents(netip.MustParsePrefix("45.134.26.0/24"), t0, t0.Add(3*time.Hour), 5)
		if err != nil || !slices.EqualFunc(first, got[:5], func(a, b abusewatch.Event) bool { return a.Seq == b.Seq }) {
			t.Fatalf("FirstEvents = %v, %v; want the first five read back", first, err)
		}
	}
	if !slices.EqualFunc(shuffled, given, func(a, b abusewatch.Event) bool { return a.Time.Equal(b.Time) && a.Addr == b.Addr }) {
		t.Error("Commit changed the caller's slice")
	}
}

// Events decoded one after the other share the strings they have in common (the rules
// compare them without reading their bytes) and keep those they do not.
func TestDecodedEventsShareTheirCommonStrings(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	var evs []abusewatch.Event
	for i := range 300 {
		e := ev("45.134.26.17", t0.Add(time.Duration(i)*time.Second))
		e.Seq, e.Service, e.Host, e.User, e.Line = uint64(i+1), "sshd", []string{"web1", "web2"}[i/100%2], fmt.Sprint("u", i%3), fmt.Sprint("line ", i)
		evs = append(evs, e)
	}
	x, err := readBlockIndex(blockKey(hourOf(t0), 1), encodeBlock(hourOf(t0), evs))
	if err != nil {
		t.Fatal(err)
	}
	all, err := x.decodeRows()
	if err != nil {
		t.Fatal(err)
	}
	for i := range all {
		if all[i].Service != evs[i].Service || all[i].Host != evs[i].Host || all[i].User != evs[i].User || all[i].Line != evs[i].Line || all[i].Class != evs[i].Class {
			t.Fatalf("event %d = %+v, want %+v", i, all[i], evs[i])
		}
		if i == 0 {
			continue
		}
		same := func(a, b string) bool { return unsafe.StringData(a) == unsafe.StringData(b) }
		if !same(all[i].Service, all[i-1].Service) || !same(string(all[i].Class), string(all[i-1].Class)) ||
			same(all[i].Host, all[i-1].Host) != (evs[i].Host == evs[i-1].Host) {
			t.Fatalf("event %d does not share the strings it has in common with the one before", i)
		}
	}
}

// A commit's large block goes in a bucket of its own and a small one stays a value;
// every reader finds both, a start after a crash counts both, and pruning deletes both.
func TestLargeBlocksLiveInBucketsOfTheirOwn(t *testing.T) {
	s, path := openNew(t)
	t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	var big []abusewatch.Event
	for i := range 500 {
		e := ev(fmt.Sprintf("45.134.%d.%d", i/250, 1+i%250), t0.Add(time.Duration(i)*time.Second))
		e.Line = fmt.Sprintf("sshd[%d]: Failed password for invalid user u%d from %s port %d ssh2", 1000+i, i*7919, e.Addr, 40000+i)
		big = append(big, e)
	}
	small := []abusewatch.Event{ev("80.94.95.1", t0.Add(time.Hour))}
	for _, batch := range [][]abusewatch.Event{big, small} {
		if _, err := s.Commit(batch, nil); err != nil {
			t.Fatal(err)
		}
	}
	own := 0
	s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketBlocks).ForEach(func(k, v []byte) error {
			if v == nil {
				own++
			}
			return nil
		})
	})
	if own != 1 {
		t.Fatalf("%d blocks in buckets of their own, want 1 (the large one)", own)
	}
	check := func(s *Store, when string) {
		t.Helper()
		n := 0
		if err := s.EachEvent(t0, t0.Add(2*time.Hour), 100, func(evs []abusewatch.Event) error { n += len(evs); return nil }); err != nil || n != 501 {
			t.Errorf("%s: EachEvent gave %d events, %v; want 501", when, n, err)
		}
		if evs, err := s.EventsByAddr(netip.MustParseAddr("45.134.1.7"), t0, t0.Add(2*time.Hour)); err != nil || len(evs) != 1 || evs[0].Line != big[256].Line {
			t.Errorf("%s: EventsByAddr = %v, %v", when, evs, err)
		}
		if oldest, ok, err := s.OldestEvent(); err != nil || !ok || !oldest.Equal(t0) {
			t.Errorf("%s: OldestEvent = %s, %v, %v", when, oldest, ok, err)
		}
		if days, err := s.Days(netip.MustParsePrefix("45.134.0.0/16"), t0, t0); err != nil || len(days) != 1 || days[0].ByClass["auth-failure"] != 500 {
			t.Errorf("%s: Days = %+v, %v; want 500 events", when, days, err)
		}
	}
	check(s, "open")
	c := openCrashed(t, path)
	defer c.Close()
	check(c, "after a crash")
	defer s.Close()
	if n, err := s.PruneEvents(context.Background(), t0.Add(3*time.Hour), 0); err != nil || n != 501 {
		t.Fatalf("PruneEvents deleted %d, %v; want 501", n, err)
	}
	s.db.View(func(tx *bolt.Tx) error {
		if n := tx.Bucket(bucketBlocks).Stats().KeyN; n != 0 {
			t.Errorf("%d keys left in the blocks after pruning", n)
		}
		return nil
	})
}

// Frames decompressed one after the other make what their parts make in a row: in the
// buffer given when it holds them all (no copy), in another when it does not.
func TestDecompressFramesInARow(t *testing.T) {
	for _, c := range []frameCodec{codecZstd, codecS2} {
		var frames [][]byte
		var want []byte
		for i := range 4 {
			part := []byte(strings.Repeat(fmt.Sprintf("Failed password for root from 45.134.26.%d port 22\n", i), 3000+i*1000))
			f := s2.EncodeBetter(nil, part)
			if c == codecZstd {
				f = zstdEncoder.EncodeAll(part, nil)
			}
			frames, want = append(frames, f), append(want, part...)
		}
		for _, room := range []int{len(want), len(want) / 3, 0} {
			buf := make([]byte, 0, room)
			got, err := c.decompress(frames, buf)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Errorf("codec %d, room for %d bytes: %d bytes decompressed, not the %d the frames hold", c, room, len(got), len(want))
			}
			if inPlace := room > 0 && unsafe.SliceData(got) == unsafe.SliceData(buf[:1]); inPlace != (room == len(want)) {
				t.Errorf("codec %d, room for %d of %d bytes: decompressed in the buffer given = %v", c, room, len(want), inPlace)
			}
		}
	}
}

// The block cache holds at most its bytes, whatever the length of the lines (review 29
// F2: 50,000 events of 8 KiB lines took 750 MB), and as many events as before when the
// lines are typical.
func TestBlockCacheHoldsAtMostItsBytes(t *testing.T) {
	const limit = 2_000
	t0 := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		line    int  // bytes
		counted bool // the count of events, not their bytes, is what the cache runs up to
	}{
		{"typical lines", 300, true},
		{"lines of 8 KiB", 8 << 10, false},
	} {
		s := openTemp(t)
		s.cache = newBlockCache(limit)
		n := 0
		var nets []netip.Prefix
		for hour := range 6 {
			var evs []abusewatch.Event
			for i := range 500 {
				a := netip.AddrFrom4([4]byte{45, 134, byte(hour), byte(1 + i%200)})
				line := fmt.Sprintf("Failed password for invalid user %s from %s port 22 ssh2", strings.Repeat("x", tc.line), a)[:tc.line]
				evs = append(evs, abusewatch.Event{Time: t0.Add(time.Duration(hour)*time.Hour + time.Duration(i)*time.Second), Addr: a,
					Class: abusewatch.ClassAuthFailure, Host: "web1", Service: "sshd", Line: line + fmt.Sprint(n)})
				n++
			}
			if _, err := s.Commit(evs, nil); err != nil {
				t.Fatal(err)
			}
			nets = append(nets, netip.PrefixFrom(netip.AddrFrom4([4]byte{45, 134, byte(hour), 0}), 24))
		}
		most := 0
		for range 2 {
			for _, p := range nets {
				if _, err := s.EventsByNetwork(p, t0, t0.Add(24*time.Hour)); err != nil {
					t.Fatal(err)
				}
				c := s.cache
				held, bytes := 0, 0
				for _, b := range c.blocks {
					held += len(b.evs)
					bytes += eventBytes(b.evs)
				}
				if held != c.held || bytes != c.bytes {
					t.Fatalf("%s: the cache counts %d events and %d bytes, holds %d and %d", tc.name, c.held, c.bytes, held, bytes)
				}
				alone := len(c.order) == 1 && c.bytes <= c.held*cachedEventBytes // a block of typical lines, as before
				if (c.bytes > c.maxBytes && !alone) || (len(c.order) > 1 && c.held > c.limit) {
					t.Fatalf("%s: %d events, %d bytes in %d blocks; at most %d and %d", tc.name, c.held, c.bytes, len(c.order), c.limit, c.maxBytes)
				}
				most = max(most, c.held)
			}
		}
		if tc.counted && most < limit-500 {
			t.Errorf("%s: the cache held %d events at most, want its %d but a block's", tc.name, most, limit)
		}
		if !tc.counted && most > 500 {
			t.Errorf("%s: the cache held %d events, more than the block read last", tc.name, most)
		}
	}
}

// A busy hour's block of typical lines, more than the cache's count and bytes, is kept
// alone as before: the correlator reads it again and again.
func TestBlockCacheKeepsABigBlockOfTypicalLinesAlone(t *testing.T) {
	s := openTemp(t)
	s.cache = newBlockCache(200)
	t0 := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	var evs []abusewatch.Event
	for i := range 500 {
		a := netip.AddrFrom4([4]byte{45, 134, 26, byte(1 + i%200)})
		evs = append(evs, abusewatch.Event{Time: t0.Add(time.Duration(i) * time.Second), Addr: a, Class: abusewatch.ClassAuthFailure,
			Host: "web1", Service: "sshd", Line: fmt.Sprintf("Failed password for invalid user admin from %s port %d ssh2", a, 1000+i)})
	}
	if _, err := s.Commit(evs, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.EventsByNetwork(netip.MustParsePrefix("45.134.26.0/24"), t0, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if c := s.cache; len(c.order) != 1 || c.held != 500 || c.bytes <= c.maxBytes {
		t.Errorf("the cache holds %d blocks, %d events, %d bytes (at most %d); want the block of 500 alone", len(c.order), c.held, c.bytes, c.maxBytes)
	}
}
