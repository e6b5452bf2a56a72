package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The kernel counts the datagrams it drops for each UDP socket (sk_drops, the last column
// of /proc/net/udp). The listener learns that count two ways: from the SO_RXQ_OVFL
// control message of each datagram it reads (as it was when the datagram was queued), and
// by asking the socket every udpDropsEvery (SO_MEMINFO). The second is what counts while
// the daemon is behind: then the listener reads nothing, the buffer stays full and every
// datagram is dropped, and a sender that goes quiet afterwards would leave them uncounted
// for good. Both looks are at the one counter; each drop is counted once, when the first
// look sees it, and a look that is behind another (a datagram queued before the last
// SO_MEMINFO) counts nothing: the syslog source's Dropped follows the kernel's count, a
// look behind at most, and never goes back.

// udpDropsEvery is how often the listener asks each UDP socket how many datagrams the
// kernel dropped: a getsockopt, nothing to a daemon that is behind.
const udpDropsEvery = time.Second

// From linux/sock_diag.h (golang.org/x/sys has SO_MEMINFO but not these): SO_MEMINFO
// fills skMeminfoVars counters, the drops (Linux 4.7 and later) at skMeminfoDrops.
const (
	skMeminfoDrops = 8 // SK_MEMINFO_DROPS
	skMeminfoVars  = 9 // SK_MEMINFO_VARS
)

// udpDrops is how far one UDP socket's drops are counted, in the kernel's count.
type udpDrops struct {
	mu      sync.Mutex
	counted uint32 // the kernel's count the listener has counted up to
}

// advance takes a look at the kernel's count, total, and says how many drops it adds to
// those counted: none when it is not ahead of them.
func (u *udpDrops) advance(total uint32) uint32 {
	u.mu.Lock()
	defer u.mu.Unlock()
	lost := total - u.counted // in uint32, as the kernel counts: right across a wrap
	if lost == 0 || lost > math.MaxInt32 {
		return 0 // the same look, or one behind another
	}
	u.counted = total
	return lost
}

// countDrops counts the drops a look at the kernel's count (total) adds for the socket
// on addr, in the syslog source's Dropped and errors, with a warning once a minute.
func (l *syslogListener) countDrops(addr string, drops *udpDrops, total uint32) {
	lost := drops.advance(total)
	if lost == 0 {
		return
	}
	l.c.Dropped.Add(int64(lost))
	l.c.fail(int64(lost), fmt.Sprintf("the kernel dropped %d datagrams: its receive buffer was full", lost))
	l.logQuietly(slog.LevelWarn, "drops "+addr, "syslog: the kernel dropped datagrams: its receive buffer was full",
		"addr", addr, "dropped_total", l.c.Dropped.Load())
}

// watchDrops asks the socket for its drop count every l.dropsEvery until ctx ends or the
// socket is closed, whether datagrams are read or not.
func (l *syslogListener) watchDrops(ctx context.Context, uc *net.UDPConn, drops *udpDrops) {
	rc, err := uc.SyscallConn()
	if err != nil {
		return
	}
	addr := uc.LocalAddr().String()
	tick := time.NewTicker(l.dropsEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		total, err := socketDrops(rc)
		switch {
		case errors.Is(err, net.ErrClosed):
			return
		case err != nil:
			l.d.log.Warn("syslog: the kernel's count of dropped datagrams is read only from the datagrams read (SO_MEMINFO)",
				"addr", addr, "err", err)
			return
		}
		l.countDrops(addr, drops, total)
	}
}

// socketDrops is the kernel's count of the datagrams a socket dropped (SO_MEMINFO's
// SK_MEMINFO_DROPS).
func socketDrops(rc syscall.RawConn) (uint32, error) {
	var mem [skMeminfoVars]uint32
	size := uint32(unsafe.Sizeof(mem)) // socklen_t
	var errno unix.Errno
	err := rc.Control(func(fd uintptr) {
		_, _, errno = unix.Syscall6(unix.SYS_GETSOCKOPT, fd, unix.SOL_SOCKET, unix.SO_MEMINFO,
			uintptr(unsafe.Pointer(&mem[0])), uintptr(unsafe.Pointer(&size)), 0)
	})
	switch {
	case err != nil:
		return 0, err
	case errno != 0:
		return 0, fmt.Errorf("SO_MEMINFO: %w", errno)
	case size < 4*(skMeminfoDrops+1):
		return 0, fmt.Errorf("SO_MEMINFO: %d bytes, without the drops (Linux 4.7 and later)", size)
	}
	return mem[skMeminfoDrops], nil
}
