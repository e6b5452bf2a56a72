package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A state file cut short (a full disk during a copy, a restore that stopped, truncate)
// at a size bbolt does not check crashed every command with SIGBUS in its freelist load,
// or opened and faulted later in a query (review 23, finding 10). Every cut below the
// pages the file says it holds is ErrDamaged naming the file; a cut of only the room
// kept for growth beyond them opens, with every event.
func TestOpenCutShortDatabase(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	st, err := Open(good, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i := range 10 {
		if _, err := st.Commit(benchEvents(3000, start.Add(time.Duration(i)*24*time.Hour), time.Second, uint64(i), true), nil); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	used := highWater(t, data) // the pages the file holds; the rest is room to grow
	if used < 400_000 || int64(len(data)) < used {
		t.Fatalf("the store uses %d bytes of a %d-byte file; want a larger store to cut", used, len(data))
	}
	for _, size := range []int64{100_000, 131_072, 262_144 + 777, used / 2, used - 4096, used - 1} {
		path := filepath.Join(dir, fmt.Sprintf("cut-%d.db", size))
		if err := os.WriteFile(path, data[:size], 0o600); err != nil {
			t.Fatal(err)
		}
		st, err := Open(path, time.Second)
		if err == nil {
			n, qerr := st.EventCount()
			st.Close()
			t.Errorf("cut to %d bytes of %d: opened (%d events, %v); want ErrDamaged", size, used, n, qerr)
			continue
		}
		if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), path) {
			t.Errorf("cut to %d bytes: %v; want ErrDamaged naming the file", size, err)
		}
		if fi, err := os.Stat(path); err != nil || fi.Size() != size {
			t.Errorf("cut to %d bytes: the file was written to: %v, %v", size, fi, err)
		}
	}
	if int64(len(data)) > used { // the file's room for growth is no part of the store
		path := filepath.Join(dir, "trimmed.db")
		if err := os.WriteFile(path, data[:used], 0o600); err != nil {
			t.Fatal(err)
		}
		st, err := Open(path, time.Second)
		if err != nil {
			t.Fatalf("cut to its %d used bytes: %v; want it opened", used, err)
		}
		defer st.Close()
		if n, err := st.EventCount(); err != nil || n != 30000 {
			t.Errorf("cut to its used bytes: %d events, %v; want 30000", n, err)
		}
	}
}

// highWater is the size of the pages the bbolt file data holds, from its meta page with
// the higher transaction id (the layout checkPages reads, spelt out again).
func highWater(t *testing.T, data []byte) int64 {
	t.Helper()
	var best, bestTx uint64
	ps := int(binary.NativeEndian.Uint32(data[16+8:]))
	for _, off := range []int{0, ps} {
		m := data[off+16 : off+16+64]
		h := fnv.New64a()
		h.Write(m[:56])
		if h.Sum64() != binary.NativeEndian.Uint64(m[56:]) {
			continue
		}
		if tx := binary.NativeEndian.Uint64(m[48:]); best == 0 || tx > bestTx {
			best, bestTx = binary.NativeEndian.Uint64(m[40:])*uint64(ps), tx
		}
	}
	if best == 0 {
		t.Fatal("no valid meta page")
	}
	return int64(best)
}
