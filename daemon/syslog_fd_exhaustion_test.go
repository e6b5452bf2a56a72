package daemon

import (
	"errors"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Out of file descriptors, Accept fails at once for as long as a connection waits in the
// backlog. The listener backs off (5 ms doubling) instead of spinning, logs the first
// failure and not every one, and serves the waiting connection once descriptors are free.
func TestSyslogAcceptBacksOffOutOfFileDescriptors(t *testing.T) {
	run := startSyslog(t, SyslogConfig{TCP: []string{"127.0.0.1:0"}, Allow: []string{"127.0.0.1"}}, nil)

	var orig syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &orig); err != nil {
		t.Fatal(err)
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd:", err)
	}
	low := orig
	low.Cur = uint64(len(fds) + 16)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	var fillers []*os.File
	release := func() {
		for _, f := range fillers {
			f.Close()
		}
		fillers = nil
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &orig)
	}
	defer release()
	fill := func() {
		for len(fillers) < 1000 {
			f, err := os.Open(os.DevNull)
			if err != nil {
				if !errors.Is(err, syscall.EMFILE) {
					t.Fatal(err)
				}
				return
			}
			fillers = append(fillers, f)
		}
	}
	// The client's socket comes first; connecting takes no descriptor. The kernel
	// completes the connection, which waits in the listener's backlog for an Accept that
	// cannot get one.
	client, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(client)
	fill()
	port := netip.MustParseAddrPort(run.tcp).Port()
	if err := syscall.Connect(client, &syscall.SockaddrInet4{Port: int(port), Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}

	waitCounter(t, "accept failures", &run.c.Errors, 1)
	first := time.Now()
	waitCounter(t, "accept failures", &run.c.Errors, 6)
	// 5+10+20+40+80 ms of back-off lie between the first failure and the sixth.
	if gap := time.Since(first); gap < 100*time.Millisecond {
		t.Errorf("6 accept failures within %s: no back-off", gap)
	}
	if n := run.log.count("syslog: accepting a connection"); n != 1 {
		t.Errorf("%d log lines for %d accept failures; want the first only", n, run.c.Errors.Load())
	}

	release()
	if _, err := syscall.Write(client, []byte(sshdMessage(1, "24.0.0.45")+"\n")); err != nil {
		t.Fatal(err)
	}
	if l := run.record(t); !strings.Contains(l.rec.Line, "from 24.0.0.45 port 22") {
		t.Errorf("record %q", l.rec.Line)
	}
	run.log.wait(t, "syslog: accepting connections again")
}
