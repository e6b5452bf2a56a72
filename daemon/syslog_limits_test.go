package daemon

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// dialFrom connects to addr from the loopback address from (127.0.0.x: Linux answers
// on the whole of 127/8).
func dialFrom(t *testing.T, from, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// admitted sends a message on conn and says whether the listener took it (a record
// arrives) or closed the connection at once.
func (r *syslogRun) admitted(t *testing.T, conn net.Conn, i int) bool {
	t.Helper()
	closed := make(chan error, 1)
	go func() {
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err := conn.Read(make([]byte, 1))
		closed <- err
	}()
	fmt.Fprintf(conn, "%s\n", sshdMessage(i, "24.0.0.45"))
	select {
	case l := <-r.out:
		if !strings.Contains(l.rec.Line, fmt.Sprintf("sshd[%d]", 1000+i)) {
			t.Fatalf("record %q; want message %d", l.rec.Line, i)
		}
		return true
	case err := <-closed:
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatal("connection neither served nor closed within 10s")
		}
		return false
	}
}

// closedAtOnce checks that the listener closed conn without reading from it.
func closedAtOnce(t *testing.T, conn net.Conn) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := conn.Read(make([]byte, 1))
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("a connection over the limit was kept open")
	}
	if err == nil {
		t.Fatal("a connection over the limit got an answer")
	}
}

// One address holds at most syslog.max_connections_per_peer connections at once: the
// next is closed at once and counted, another address still gets in, and a connection
// closed makes room again.
func TestSyslogConnectionsCappedPerPeer(t *testing.T) {
	const perPeer = 6
	run := startSyslog(t, SyslogConfig{TCP: []string{"127.0.0.1:0"}, Allow: []string{"127.0.0.0/8"}, MaxConnectionsPerPeer: perPeer}, nil)
	var held []net.Conn
	for i := range perPeer {
		conn := dialFrom(t, "127.0.0.1", run.tcp)
		if !run.admitted(t, conn, i) {
			t.Fatalf("connection %d of %d from one address was refused", i+1, perPeer)
		}
		held = append(held, conn)
	}
	closedAtOnce(t, dialFrom(t, "127.0.0.1", run.tcp))
	run.log.wait(t, "syslog: closed a connection over the limit", "peer=127.0.0.1", "limit=6 connections from one address")
	if n := run.c.Errors.Load(); n != 1 {
		t.Errorf("errors %d; want the connection over the limit counted", n)
	}
	if !run.admitted(t, dialFrom(t, "127.0.0.2", run.tcp), 100) {
		t.Error("another address was refused")
	}
	held[0].Close()
	// The place comes back when the listener has seen the close: until then, a new
	// connection may still be refused.
	for i := 200; ; i++ {
		if run.admitted(t, dialFrom(t, "127.0.0.1", run.tcp), i) {
			break
		}
		if i > 10000 {
			t.Fatal("a connection closed made no room")
		}
	}
}

// The listener holds at most 256 connections at once by default, over every address.
func TestSyslogConnectionsCappedInTotal(t *testing.T) {
	run := startSyslog(t, SyslogConfig{TCP: []string{"127.0.0.1:0"}, Allow: []string{"127.0.0.0/8"}}, nil)
	peers := defaultSyslogConns / defaultSyslogConnsPerPeer
	for p := range peers {
		for i := range defaultSyslogConnsPerPeer {
			if !run.admitted(t, dialFrom(t, fmt.Sprintf("127.0.0.%d", 1+p), run.tcp), p*defaultSyslogConnsPerPeer+i) {
				t.Fatalf("connection %d from 127.0.0.%d refused", i+1, 1+p)
			}
		}
	}
	closedAtOnce(t, dialFrom(t, fmt.Sprintf("127.0.0.%d", 1+peers), run.tcp))
	run.log.wait(t, "syslog: closed a connection over the limit", "limit=256 connections at once")
}

// syslog.max_connections sets the cap over every address.
func TestSyslogConnectionsCapFromConfig(t *testing.T) {
	run := startSyslog(t, SyslogConfig{TCP: []string{"127.0.0.1:0"}, Allow: []string{"127.0.0.0/8"},
		MaxConnections: 3, MaxConnectionsPerPeer: 2}, nil)
	for i, from := range []string{"127.0.0.1", "127.0.0.1", "127.0.0.2"} {
		if !run.admitted(t, dialFrom(t, from, run.tcp), i) {
			t.Fatalf("connection %d from %s refused", i+1, from)
		}
	}
	closedAtOnce(t, dialFrom(t, "127.0.0.3", run.tcp))
	run.log.wait(t, "syslog: closed a connection over the limit", "limit=3 connections at once")
}

// A count of more than 7 digits ends the connection at once: a peer sending "1" and then
// an endless run of "7" neither fills the daemon's memory nor writes its bytes into the
// log, and status's last warnings stay short.
func TestSyslogLongOctetCountEndsTheConnection(t *testing.T) {
	run := startSyslog(t, SyslogConfig{TCP: []string{"127.0.0.1:0"}, Allow: []string{"127.0.0.1"}}, nil)
	conn := dialFrom(t, "127.0.0.1", run.tcp)
	go func() {
		conn.Write([]byte("1"))
		sevens := []byte(strings.Repeat("7", 1<<20))
		for range 256 {
			if _, err := conn.Write(sevens); err != nil {
				return
			}
		}
	}()
	line := run.log.wait(t, "syslog: connection ended", "longer than 7 digits")
	if len(line) > 300 {
		t.Errorf("a log line of %d bytes: %.300s…", len(line), line)
	}
	for _, e := range run.d.errors.entries() {
		if len(e.Message) > 300 {
			t.Errorf("a warning of %d bytes in status", len(e.Message))
		}
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, conn); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Error("the connection was kept open")
	}
}
