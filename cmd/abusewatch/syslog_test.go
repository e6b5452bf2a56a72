package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// syslogConfig listens on loopback UDP and TCP ports the kernel picks.
func syslogConfig(t *testing.T, dir, allow string) string {
	return writeSourceConfig(t, dir, "\n[syslog]\nudp = [\"127.0.0.1:0\"]\ntcp = [\"127.0.0.1:0\"]\nallow = [\""+allow+"\"]\n")
}

// listenAddr is the address the daemon logged for proto.
func (d *daemonProcess) listenAddr(t *testing.T, proto string) string {
	t.Helper()
	line := d.waitMatch(t, regexp.MustCompile(`msg="syslog: listening" proto=`+proto+` addr=\S+`))
	return regexp.MustCompile(`addr=(\S+)`).FindStringSubmatch(line)[1]
}

// sendWithLogger sends numbered sshd messages 0..n-1 with util-linux logger, or, where it
// is not installed, with a Go client writing what logger writes.
func sendWithLogger(t *testing.T, addr string, n int, args ...string) {
	t.Helper()
	var msgs strings.Builder
	for i := range n {
		fmt.Fprintf(&msgs, "Failed password for invalid user u%d from 3.3.3.3 port 22 ssh2\n", i)
	}
	host, port, _ := net.SplitHostPort(addr)
	if _, err := exec.LookPath("logger"); err == nil {
		cmd := exec.Command("logger", append([]string{"--server", host, "--port", port, "-t", "sshd", "--id=4242", "-p", "auth.info"}, args...)...)
		cmd.Stdin = strings.NewReader(msgs.String())
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("logger: %v\n%s", err, out)
		}
		return
	}
	t.Log("logger is not installed (Debian: apt-get install bsdutils): sending with a Go client")
	proto := "tcp"
	if args[0] == "--udp" {
		proto = "udp"
	}
	c, err := net.Dial(proto, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	hostname, _ := os.Hostname()
	for line := range strings.Lines(msgs.String()) {
		msg := fmt.Sprintf("<38>1 %s %s sshd 4242 - - %s", time.Now().Format(time.RFC3339Nano), hostname, strings.TrimSuffix(line, "\n"))
		switch {
		case proto == "udp":
			c.Write([]byte(msg))
		case strings.Contains(strings.Join(args, " "), "--octet-count"):
			fmt.Fprintf(c, "%d %s", len(msg), msg)
		default:
			fmt.Fprintf(c, "%s\n", msg)
		}
	}
}

// checkSenderHost checks that every stored event names the sending host as the host hit.
func checkSenderHost(t *testing.T, dir string) {
	t.Helper()
	hostname, _ := os.Hostname()
	events := storedEvents(t, dir)
	for _, e := range events {
		if e.Host != hostname || e.Service != "sshd" || e.Source != "syslog" {
			t.Fatalf("event host %q service %q source %q; want the sender %q, sshd, syslog", e.Host, e.Service, e.Source, hostname)
		}
	}
}

func TestSyslogUDPFromLoggerRFC3164(t *testing.T) {
	dir := t.TempDir()
	d := startDaemon(t, dir, "run", "--debug", "--config", syslogConfig(t, dir, "127.0.0.0/8"))
	sendWithLogger(t, d.listenAddr(t, "udp"), 20, "--udp", "--rfc3164")
	d.waitEvents(t, 20)
	d.stop(t)
	checkExactlyOnce(t, dir, 20)
	checkSenderHost(t, dir)
}

func TestSyslogTCPNewlineFramingRFC5424(t *testing.T) {
	dir := t.TempDir()
	d := startDaemon(t, dir, "run", "--debug", "--config", syslogConfig(t, dir, "127.0.0.1"))
	sendWithLogger(t, d.listenAddr(t, "tcp"), 50, "--tcp", "--rfc5424")
	d.waitEvents(t, 50)
	d.stop(t)
	checkExactlyOnce(t, dir, 50)
	checkSenderHost(t, dir)
}

func TestSyslogTCPOctetCountingRFC5424(t *testing.T) {
	dir := t.TempDir()
	d := startDaemon(t, dir, "run", "--debug", "--config", syslogConfig(t, dir, "127.0.0.0/8"))
	sendWithLogger(t, d.listenAddr(t, "tcp"), 50, "--tcp", "--octet-count", "--rfc5424")
	d.waitEvents(t, 50)
	d.stop(t)
	checkExactlyOnce(t, dir, 50)
	checkSenderHost(t, dir)
}

// A sender outside syslog.allow is refused and counted; nothing it sent is stored.
func TestSyslogRefusesNetworksNotAllowed(t *testing.T) {
	dir := t.TempDir()
	d := startDaemon(t, dir, "run", "--debug", "--config", syslogConfig(t, dir, "192.0.2.0/24"))
	sendWithLogger(t, d.listenAddr(t, "udp"), 1, "--udp", "--rfc5424")
	d.waitLog(t, "level=WARN", "refused a message from a network not in syslog.allow", "peer=127.0.0.1")
	d.stop(t)
	checkExactlyOnce(t, dir, 0)
}

// syslogMessage is numbered sshd message i as RFC 5424, from this host, as logger writes it.
func syslogMessage(i int) string {
	hostname, _ := os.Hostname()
	return fmt.Sprintf("<38>1 %s %s sshd 4242 - - Failed password for invalid user u%d from 3.3.3.3 port 22 ssh2",
		time.Now().Format(time.RFC3339Nano), hostname, i)
}

// dialFrom connects to addr over proto from the loopback address from.
func dialFrom(t *testing.T, proto, from, addr string) net.Conn {
	t.Helper()
	var local net.Addr = &net.TCPAddr{IP: net.ParseIP(from)}
	if proto == "udp" {
		local = &net.UDPAddr{IP: net.ParseIP(from)}
	}
	d := net.Dialer{LocalAddr: local}
	c, err := d.Dial(proto, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// A peer that closes its connection inside a newline-framed line: the line is dropped and
// counted, not stored as if whole ("… port 22" cut to "… port 2" names another port,
// "from 24.0.0.45" cut to "from 24.0.0.4" another address).
func TestSyslogTCPLineCutByThePeerClosingIsDropped(t *testing.T) {
	dir := t.TempDir()
	d := startDaemon(t, dir, "run", "--debug", "--config", syslogConfig(t, dir, "127.0.0.1"))
	c := dialFrom(t, "tcp", "127.0.0.1", d.listenAddr(t, "tcp"))
	fmt.Fprintf(c, "%s\n%s", syslogMessage(0), strings.TrimSuffix(syslogMessage(1), "2 ssh2"))
	c.Close()
	cut := []string{"level=WARN", "syslog: connection ended", "peer=127.0.0.1", "message cut off and dropped"}
	two := regexp.MustCompile(`msg="batch committed".* total=[2-9]`)
	d.waitFor(t, "the cut line dropped or stored", 30*time.Second, func(l string) bool { return containsAll(l, cut) || two.MatchString(l) })
	d.stop(t)
	checkExactlyOnce(t, dir, 1)
	if !slices.ContainsFunc(d.lines(), func(l string) bool { return containsAll(l, cut) }) {
		t.Errorf("no log line with %q", cut)
	}
}

// A datagram without <PRI> ("Dec  6 22:23:15 spoofhost2 sshd[300]: …") cannot say which
// host was hit: it is counted as unparsed, not stored as an attack on spoofhost2.
func TestSyslogUDPWithoutPRIIsUnparsed(t *testing.T) {
	dir := t.TempDir()
	d := startDaemon(t, dir, "run", "--debug", "--config", syslogConfig(t, dir, "127.0.0.1"))
	addr := d.listenAddr(t, "udp")
	c := dialFrom(t, "udp", "127.0.0.1", addr)
	fmt.Fprintf(c, "%s spoofhost2 sshd[300]: Failed password for invalid user u1 from 3.3.3.3 port 22 ssh2", time.Now().Format(time.Stamp))
	sendWithLogger(t, addr, 1, "--udp", "--rfc3164")
	d.waitEvents(t, 2)
	d.stop(t)
	checkExactlyOnce(t, dir, 1)
	checkSenderHost(t, dir)
	warned := []string{"level=WARN", "without a <PRI>", "peer=127.0.0.1"}
	if !slices.ContainsFunc(d.lines(), func(l string) bool { return containsAll(l, warned) }) {
		t.Errorf("no log line with %q", warned)
	}
}

// A newline-framed stream whose lines start with a digit (a sender writing rsyslog's file
// format) is read line by line: such a line is no octet count that ends the connection.
func TestSyslogTCPNewlineFramedLineStartingWithADigit(t *testing.T) {
	dir := t.TempDir()
	d := startDaemon(t, dir, "run", "--debug", "--config", syslogConfig(t, dir, "127.0.0.1"))
	c := dialFrom(t, "tcp", "127.0.0.1", d.listenAddr(t, "tcp"))
	fmt.Fprintf(c, "%s spoofhost2 sshd[300]: Failed password for invalid user u1 from 3.3.3.3 port 22 ssh2\n%s\n",
		time.Now().UTC().Format("2006-01-02T15:04:05.000000-07:00"), syslogMessage(0))
	d.waitEvents(t, 2)
	d.stop(t)
	checkExactlyOnce(t, dir, 1)
	checkSenderHost(t, dir)
	for _, l := range d.lines() {
		if strings.Contains(l, "syslog: connection ended") {
			t.Errorf("the connection ended: %s", l)
		}
	}
}

// A sender outside syslog.allow that floods the listener is refused every time and logged
// once a minute: the log and status's last warnings stay readable.
func TestSyslogRefusedFloodLoggedOnce(t *testing.T) {
	dir := t.TempDir()
	d := startDaemon(t, dir, "run", "--debug", "--config", syslogConfig(t, dir, "127.0.0.2"))
	addr := d.listenAddr(t, "udp")
	sendWithLogger(t, addr, 200, "--udp", "--rfc5424")
	// Datagrams on one socket are read in order: once the allowed one is stored, the
	// listener has seen the 200 before it.
	fmt.Fprint(dialFrom(t, "udp", "127.0.0.2", addr), syslogMessage(0))
	d.waitEvents(t, 1)
	d.stop(t)
	checkExactlyOnce(t, dir, 1)
	refused := 0
	for _, l := range d.lines() {
		if strings.Contains(l, "refused a message from a network not in syslog.allow") {
			refused++
		}
	}
	if refused != 1 {
		t.Errorf("%d log lines for 200 refused datagrams; want 1", refused)
	}
}
