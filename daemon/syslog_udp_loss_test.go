package daemon

import (
	"bufio"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
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
// the count is the kernel's own. (The socket is not asked for its count here, see
// TestSyslogUDPDropsCountedWhileHeld: its warning would come first, with part of them.)
func TestSyslogUDPDropsCounted(t *testing.T) {
	run := startSyslog(t, SyslogConfig{UDP: []string{"127.0.0.1:0"}, Allow: []string{"127.0.0.1"}},
		func(l *syslogListener) { l.dropsEvery = time.Hour })
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

// While the pipeline holds the listener back, no datagram is read and none brings the
// kernel's count of drops: the listener asks the socket for it (SO_MEMINFO), so status
// and the metrics show every drop while the daemon is behind, and after a sender that
// went quiet (review 29 F3). The datagrams read later bring the count again: no drop is
// counted twice.
func TestSyslogUDPDropsCountedWhileHeld(t *testing.T) {
	run := startSyslog(t, SyslogConfig{UDP: []string{"127.0.0.1:0"}, Allow: []string{"127.0.0.1"}},
		func(l *syslogListener) {
			l.readBuffer = 1 // the kernel's least: a few datagrams
			l.dropsEvery = 5 * time.Millisecond
		})
	run.log.wait(t, "syslog: UDP receive buffer")
	udp, err := net.Dial("udp", run.udp)
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	send := func(i int) {
		if _, err := udp.Write([]byte(sshdMessage(i, "24.0.0.45"))); err != nil {
			t.Fatal(err)
		}
	}
	// The first datagram holds the listener: nobody reads its records yet.
	send(0)
	waitCounter(t, "lines", &run.c.Lines, 1)
	const burst = 200
	for i := 1; i <= burst; i++ {
		send(i)
	}
	_, drops := udpSocket(t, run.udp)
	if drops == 0 {
		t.Fatalf("the kernel dropped none of %d datagrams: the test needs a smaller receive buffer", burst)
	}
	waitCounter(t, "datagrams the kernel dropped", &run.c.Dropped, drops)
	if read := run.c.Lines.Load(); read != 1 {
		t.Fatalf("%d datagrams read, want the one that holds the listener alone", read)
	}
	run.log.wait(t, "syslog: the kernel dropped datagrams")

	// Read what the kernel kept; the last datagram, sent then, carries its count again.
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
	if _, now := udpSocket(t, run.udp); now != drops {
		t.Fatalf("the kernel dropped %d datagrams, then %d more", drops, now-drops)
	}
	if got, errs := run.c.Dropped.Load(), run.c.Errors.Load(); got != drops || errs != drops || got != int64(sent-received) {
		t.Errorf("%d datagrams sent, %d received, the kernel dropped %d, counted %d (errors %d)", sent, received, drops, got, errs)
	}
}

// The listener's count of a socket's drops takes each look at the kernel's count that is
// ahead of the last, across the kernel's wrap, and no look that is behind.
func TestUDPDropsAdvance(t *testing.T) {
	var u udpDrops
	for _, step := range []struct {
		total, lost uint32
	}{
		{0, 0}, {5, 5}, {3, 0}, {5, 0}, {7, 2},
		{math.MaxUint32 - 1, 0},                                       // behind by more than half the count's range
		{1 << 31, 1<<31 - 7}, {math.MaxUint32 - 1, 1<<31 - 2}, {2, 4}, // across the wrap
		{math.MaxUint32, 0}, // behind, across the wrap
	} {
		before := u.counted
		if lost := u.advance(step.total); lost != step.lost {
			t.Errorf("at %d, counted up to %d: %d more, want %d", step.total, before, lost, step.lost)
		}
	}
}
