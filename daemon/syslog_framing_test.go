package daemon

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/detect"
)

// A newline-framed TCP stream that the peer closes inside a line: the complete lines are
// records, the cut one is dropped and counted ("from 24.0.0.45" cut to "from 24.0.0.4"
// would blame another address). A UDP datagram is a whole message, newline or not.
func TestSyslogStreamEndingInsideALineDropsIt(t *testing.T) {
	run := startSyslog(t, SyslogConfig{UDP: []string{"127.0.0.1:0"}, TCP: []string{"127.0.0.1:0"}, Allow: []string{"127.0.0.1"}}, nil)
	conn := dialFrom(t, "127.0.0.1", run.tcp)
	whole := sshdMessage(1, "24.0.0.45")
	cut := strings.TrimSuffix(sshdMessage(2, "24.0.0.45"), "5 port 22 ssh2")
	fmt.Fprintf(conn, "%s\n%s", whole, cut)
	if l := run.record(t); !strings.HasSuffix(l.rec.Line, "from 24.0.0.45 port 22 ssh2") {
		t.Errorf("record %q", l.rec.Line)
	}
	conn.Close()
	run.log.wait(t, "syslog: connection ended", "message cut off and dropped", "unexpected EOF")
	run.noRecord(t) // the connection's reader has returned: nothing more can come
	if n := run.c.Errors.Load(); n != 1 {
		t.Errorf("errors %d; want the cut line counted", n)
	}

	udp, err := net.Dial("udp", run.udp)
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	udp.Write([]byte(cut))
	if l := run.record(t); !strings.HasSuffix(l.rec.Line, "from 24.0.0.4") {
		t.Errorf("datagram record %q", l.rec.Line)
	}
}

// A peer that disconnects inside the octet count, or inside the octets, is counted and
// logged like any cut message, not taken for a clean end.
func TestSyslogDisconnectInsideAnOctetCountedFrame(t *testing.T) {
	run := startSyslog(t, SyslogConfig{TCP: []string{"127.0.0.1:0"}, Allow: []string{"127.0.0.1"}}, nil)
	for i, partial := range []string{"12", "120 ", "120 <38>1 2026-12-06T22:23:15Z web1"} {
		conn := dialFrom(t, "127.0.0.1", run.tcp)
		conn.Write([]byte(partial))
		conn.Close()
		waitCounter(t, fmt.Sprintf("errors after %q", partial), &run.c.Errors, int64(i+1))
	}
	if n := run.log.count("syslog: connection ended", "message cut off and dropped"); n != 1 {
		t.Errorf("%d log lines for 3 cut frames from one peer within a minute; want 1", n)
	}
	run.noRecord(t)
}

// A newline-framed message that starts with a digit (a sender writing rsyslog's file
// format) is a message, not a broken octet count that ends the connection. Having no
// <PRI>, it is counted as unparsed: its hostname is free text.
func TestSyslogNewlineFramedMessageStartingWithADigit(t *testing.T) {
	run := startSyslog(t, SyslogConfig{TCP: []string{"127.0.0.1:0"}, Allow: []string{"127.0.0.1"}}, nil)
	conn := dialFrom(t, "127.0.0.1", run.tcp)
	fmt.Fprintf(conn, "2026-12-06T22:23:15.000000+00:00 spoofhost2 sshd[300]: Failed password for root from 24.0.0.45 port 22 ssh2\n%s\n", sshdMessage(1, "24.0.0.46"))
	if l := run.record(t); !strings.HasPrefix(l.rec.Line, unparsedMark) {
		t.Errorf("record %q; want it marked unparsed", l.rec.Line)
	}
	if l := run.record(t); !strings.HasSuffix(l.rec.Line, "web1 sshd[1001]: Failed password for root from 24.0.0.46 port 22 ssh2") {
		t.Errorf("record %q", l.rec.Line)
	}
	if n := run.c.Errors.Load(); n != 0 {
		t.Errorf("errors %d; want none", n)
	}
	run.log.wait(t, "without a <PRI>", "peer=127.0.0.1", `start="2026-12-06T22:23:15`)
}

// A datagram without <PRI> cannot name the host that was hit: "Dec  6 22:23:15 spoofhost2
// sshd[300]: …" from an allowed sender is counted as unparsed, and said once a minute.
func TestSyslogDatagramWithoutPRIIsUnparsed(t *testing.T) {
	run := startSyslog(t, SyslogConfig{UDP: []string{"127.0.0.1:0"}, Allow: []string{"127.0.0.1"}}, nil)
	udp, err := net.Dial("udp", run.udp)
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	for range 3 {
		udp.Write([]byte("Dec  6 22:23:15 spoofhost2 sshd[300]: Failed password for root from 24.0.0.45 port 22 ssh2"))
		l := run.record(t)
		if h, err := detect.ParseHeader(l.rec.Line, time.Now(), time.UTC); err == nil {
			t.Fatalf("detect reads host %q from %q; want it unparsed", h.Host, l.rec.Line)
		}
	}
	if n := run.log.count("without a <PRI>", "peer=127.0.0.1"); n != 1 {
		t.Errorf("%d log lines for 3 messages without a header; want 1", n)
	}
}
