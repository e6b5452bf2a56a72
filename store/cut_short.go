package store

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"os"
	"syscall"
)

// bbolt's file layout (go.etcd.io/bbolt/internal/common): every page starts with a
// 16-byte header (id, flags, count, overflow), and pages 0 and 1 hold the two meta pages,
// of which the valid one with the higher transaction id is the database.
const (
	boltPageHeader = 16
	boltMagic      = 0xED0CDAED
	boltVersion    = 2
	boltNoFreelist = ^uint64(0)
)

// boltMeta is what checkPages reads of a meta page.
type boltMeta struct {
	pageSize           uint32
	root, freelist, hw uint64 // hw: the high-water mark, the first page id not in the file
	txid               uint64
}

// readBoltMeta reads the meta page at off, and whether it is one (magic, version and
// checksum as bbolt checks them).
func readBoltMeta(f *os.File, off int64) (boltMeta, bool) {
	var b [boltPageHeader + 64]byte
	if _, err := f.ReadAt(b[:], off); err != nil {
		return boltMeta{}, false
	}
	m := b[boltPageHeader:]
	le := binary.NativeEndian // bbolt writes its structs as they are in memory
	h := fnv.New64a()
	h.Write(m[:56])
	if le.Uint32(m[0:]) != boltMagic || le.Uint32(m[4:]) != boltVersion || h.Sum64() != le.Uint64(m[56:]) {
		return boltMeta{}, false
	}
	return boltMeta{pageSize: le.Uint32(m[8:]), root: le.Uint64(m[16:]), freelist: le.Uint64(m[32:]),
		hw: le.Uint64(m[40:]), txid: le.Uint64(m[48:])}, true
}

// checkPages is ErrDamaged when the file f is cut short of the pages its meta page
// says it holds, or its freelist lies past its end: bbolt maps the file and reads the
// freelist in Open, and a read past the end of the file is a fault (SIGBUS), not an
// error. It checks only when no process writes the file (a shared lock on f, which
// bbolt's own lock then takes over), so a meta page being written is never taken for a
// damaged one; a file with no valid meta page is left to bbolt, which says so.
func checkPages(f *os.File) error {
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		return nil // being written: bbolt waits for the lock, and open recovers a fault
	}
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	m0, ok0 := readBoltMeta(f, 0)
	var m boltMeta
	var ok bool
	for _, size := range []int64{int64(m0.pageSize), int64(os.Getpagesize()), 4096, 8192, 16384, 32768, 65536} {
		if size <= 0 || (ok0 && size != int64(m0.pageSize)) {
			continue
		}
		if m1, ok1 := readBoltMeta(f, size); ok1 && int64(m1.pageSize) == size {
			m, ok = m1, true
			break
		}
	}
	switch {
	case ok0 && (!ok || m0.txid >= m.txid):
		m = m0
	case !ok:
		return nil
	}
	ps := uint64(m.pageSize)
	pages := uint64(fi.Size()) / ps
	switch {
	case m.hw > pages:
		return fmt.Errorf("%w (the file is %d bytes, cut short of the %d it holds)", ErrDamaged, fi.Size(), m.hw*ps)
	case m.root >= m.hw:
		return fmt.Errorf("%w (its root page %d is past its last, %d)", ErrDamaged, m.root, m.hw-1)
	case m.freelist == boltNoFreelist:
		return nil
	case m.freelist >= m.hw:
		return fmt.Errorf("%w (its freelist page %d is past its last, %d)", ErrDamaged, m.freelist, m.hw-1)
	}
	var head [boltPageHeader]byte
	if _, err := f.ReadAt(head[:], int64(m.freelist*ps)); err != nil {
		return fmt.Errorf("%w (its freelist page cannot be read: %v)", ErrDamaged, err)
	}
	if over := uint64(binary.NativeEndian.Uint32(head[12:])); m.freelist+over >= m.hw {
		return fmt.Errorf("%w (its freelist runs past its last page)", ErrDamaged)
	}
	return nil
}
