package mailer

import (
	"net"

	"golang.org/x/sys/unix"
)

// unacked is how many bytes written to conn (a TCP connection) its peer has not
// acknowledged yet, sent or not (Linux's SIOCOUTQ), or -1 when that cannot be told.
func unacked(conn net.Conn) int {
	tc, ok := conn.(*net.TCPConn)
	if !ok {
		return -1
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return -1
	}
	n := -1
	rc.Control(func(fd uintptr) {
		if v, err := unix.IoctlGetInt(int(fd), unix.SIOCOUTQ); err == nil {
			n = v
		}
	})
	return n
}
