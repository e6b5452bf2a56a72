package daemon

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// waitClosed waits for the listener to close conn, or fails the test after 10s.
func waitClosed(t *testing.T, conn net.Conn) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, conn); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("the listener kept an idle connection open")
	}
}

// A connection that sends nothing for syslog.idle_timeout is closed: between two
// messages it is no error; inside one, the message is cut and counted.
func TestSyslogIdleConnectionsClosed(t *testing.T) {
	run := startSyslog(t, SyslogConfig{TCP: []string{"127.0.0.1:0"}, Allow: []string{"127.0.0.1"},
		IdleTimeout: Duration{200 * time.Millisecond}}, nil)
	quiet := dialFrom(t, "127.0.0.1", run.tcp)
	fmt.Fprintf(quiet, "%s\n", sshdMessage(1, "24.0.0.45"))
	run.record(t)
	waitClosed(t, quiet)
	run.log.wait(t, "syslog: closed an idle connection", "peer=127.0.0.1")
	if n := run.c.Errors.Load(); n != 0 {
		t.Errorf("errors %d after an idle connection between messages; want none", n)
	}

	stuck := dialFrom(t, "127.0.0.1", run.tcp)
	fmt.Fprint(stuck, strings.TrimSuffix(sshdMessage(2, "24.0.0.45"), "5 port 22 ssh2"))
	waitClosed(t, stuck)
	run.log.wait(t, "syslog: connection ended", "message cut off and dropped", "timeout")
	if n := run.c.Errors.Load(); n != 1 {
		t.Errorf("errors %d; want the cut message counted", n)
	}
	run.noRecord(t)
}

// A TLS client has 10 s to finish its handshake: one that connects and says nothing is
// closed, and a real client still gets in.
func TestSyslogTLSHandshakeDeadline(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	run := startSyslog(t, SyslogConfig{TLS: []string{"127.0.0.1:0"}, CertFile: certFile, KeyFile: keyFile, Allow: []string{"127.0.0.1"}},
		func(l *syslogListener) { l.handshake = 200 * time.Millisecond })
	silent := dialFrom(t, "127.0.0.1", run.tls)
	waitClosed(t, silent)
	run.log.wait(t, "syslog: connection ended", "proto=tls", "no TLS handshake within 200ms")

	conn, err := tls.Dial("tcp", run.tls, &tls.Config{RootCAs: pool, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	msg := sshdMessage(1, "24.0.0.45")
	fmt.Fprintf(conn, "%d %s", len(msg), msg)
	if l := run.record(t); !strings.HasSuffix(l.rec.Line, "from 24.0.0.45 port 22 ssh2") {
		t.Errorf("record %q", l.rec.Line)
	}
}
