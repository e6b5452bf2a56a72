package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/store"
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
	st, err := store.Open(filepath.Join(dir, "state.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	events, err := st.EventsByAddr(sourceAddr, time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
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
