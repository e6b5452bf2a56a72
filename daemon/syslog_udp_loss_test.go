package daemon

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
)

// udpSocket is what /proc/net/udp says of the IPv4 UDP socket bound to addr: the bytes
// waiting in its receive queue and the datagrams it dropped.
func udpSocket(t *testing.T, addr string) (queued, drops int64) {
	t.Helper()
	ap := netip.MustParseAddrPort(addr)
	a := ap.Addr().As4()
	local := fmt.Sprintf("%02X%02X%02X%02X:%04X", a[3], a[2], a[1], a[0], ap.Port())
	f, err := os.Open("/proc/net/udp")
	if err != nil {
		t.Skip("no /proc/net/udp:", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 13 || fields[1] != local {
			continue
		}
		_, rx, _ := strings.Cut(fields[4], ":")
		queued, _ = strconv.ParseInt(rx, 16, 64)
		drops, _ = strconv.ParseInt(fields[12], 10, 64)
		return queued, drops
	}
	t.Fatalf("no socket %s in /proc/net/udp", local)
	return 0, 0
}

// Datagrams the kernel drops because the daemon is too slow (its receive buffer full)
// are counted from SO_RXQ_OVFL: every datagram sent is either a record or counted, and
// the count is the kernel's own.
func TestSyslogUDPDropsCounted(t *testing.T) {
	run := startSyslog(t, SyslogConfig{UDP: []string{"127.0.0.1:0"}, Allow: []string{"127.0.0.1"}}, nil)
	run.log.wait(t, "syslog: UDP receive buffer")
	udp, err := net.Dial("udp", run.udp)
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	send := func(i int) {
		msg := sshdMessage(i, "24.0.0.45") + " " + strings.Repeat("x", 60000)
		if _, err := udp.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	// The first datagram holds the listener: nobody reads its records yet.
	send(0)
	waitCounter(t, "lines", &run.c.Lines, 1)
	const burst = 400 // 24 MB: more than the 4 MiB buffer holds
	for i := 1; i <= burst; i++ {
		send(i)
	}
	_, drops := udpSocket(t, run.udp)
	if drops == 0 {
		t.Fatalf("the kernel dropped none of %d datagrams: the test needs a smaller burst buffer", burst)
	}
	// Read until the queue is empty; the last datagram, sent then, carries the kernel's
	// count.
	received := 0
	for {
		run.record(t)
		received++
		if queued, _ := udpSocket(t, run.udp); queued == 0 {
			break
		}
	}
	send(burst + 1)
	for last := fmt.Sprintf("sshd[%d]", 1000+burst+1); !strings.Contains(run.record(t).rec.Line, last); {
		received++
	}
	received++
	sent := burst + 2
	if got := run.c.Errors.Load(); got != drops || got != int64(sent-received) {
		t.Errorf("%d datagrams sent, %d received, the kernel dropped %d, counted %d", sent, received, drops, got)
	}
	run.log.wait(t, "syslog: the kernel dropped datagrams", fmt.Sprintf("dropped_total=%d", drops))
}
