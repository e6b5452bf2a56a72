package daemon

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/detect"
)

// A sender named by its IPv6 address (a host without a name, a relay that fills in the
// sender's address) keeps that address as the host that was hit, colons and all, and
// its SSH failures are attacks: in RFC 3164, where go-syslog takes "2001" for the
// program, and in RFC 5424, where the colons used to be dropped ("2001db8110").
func TestSyslogIPv6Hostname(t *testing.T) {
	run := startSyslog(t, SyslogConfig{UDP: []string{"127.0.0.1:0"}, TCP: []string{"127.0.0.1:0"}, Allow: []string{"127.0.0.1"}}, nil)
	det := shippedDetector(t)
	udp, err := net.Dial("udp", run.udp)
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	tcp := dialFrom(t, "127.0.0.1", run.tcp)
	const failed = "Failed password for root from 45.134.26.42 port 61875 ssh2"
	// The record keeps the time as the host wrote it (detect reads it again).
	const sent = "Dec  6 22:17:05"
	stamp := time.Now().UTC().Add(-time.Hour).Format("2006-01-02T15:04:05.000000Z07:00")
	for _, c := range []struct{ name, raw, host, line string }{
		{"3164 IPv6", "<38>Dec  6 22:17:05 2001:db8:1::11 sshd[32207]: " + failed, "2001:db8:1::11",
			sent + " 2001:db8:1::11 sshd[32207]: " + failed},
		{"3164 IPv6 loopback", "<38>Dec  6 22:17:05 ::1 sshd[7]: " + failed, "::1",
			sent + " ::1 sshd[7]: " + failed},
		{"3164 IPv4-mapped", "<38>Dec  6 22:17:05 ::ffff:192.0.2.11 sshd[7]: " + failed, "::ffff:192.0.2.11",
			sent + " ::ffff:192.0.2.11 sshd[7]: " + failed},
		{"3164 IPv6 without PID", "<38>Dec  6 22:17:05 2001:db8:1::11 sshd: " + failed, "2001:db8:1::11",
			sent + " 2001:db8:1::11 sshd: " + failed},
		{"3164 RFC 3339 time, IPv6", "<38>" + stamp + " 2001:db8:1::11 sshd[9]: " + failed, "2001:db8:1::11",
			stamp + " 2001:db8:1::11 sshd[9]: " + failed},
		{"3164 IPv4", "<38>Dec  6 22:17:05 192.0.2.11 sshd[7]: " + failed, "192.0.2.11",
			sent + " 192.0.2.11 sshd[7]: " + failed},
		{"3164 name", "<38>Dec  6 22:17:05 web1 sshd[7]: " + failed, "web1",
			sent + " web1 sshd[7]: " + failed},
		{"5424 IPv6", "<38>1 " + stamp + " 2001:db8:1::10 sshd 7 - - " + failed, "2001:db8:1::10",
			stamp + " 2001:db8:1::10 sshd[7]: " + failed},
		{"5424 IPv6 upper case", "<38>1 " + stamp + " 2001:DB8:1::10 sshd 7 - - " + failed, "2001:DB8:1::10",
			stamp + " 2001:DB8:1::10 sshd[7]: " + failed},
		{"5424 name with a colon is no address", "<38>1 " + stamp + " web:1 sshd 7 - - " + failed, "web1",
			stamp + " web1 sshd[7]: " + failed},
	} {
		for _, send := range []struct {
			proto string
			write func()
		}{
			{"udp", func() { udp.Write([]byte(c.raw)) }},
			{"tcp", func() { fmt.Fprintf(tcp, "%s\n", c.raw) }},
		} {
			send.write()
			l := run.record(t)
			if l.rec.Line != c.line {
				t.Errorf("%s over %s: record %q\nwant %q", c.name, send.proto, l.rec.Line, c.line)
			}
			out, ev := det.Classify(l.rec)
			if out != detect.Recognised || ev.Host != c.host || ev.Addr.String() != "45.134.26.42" || ev.Service != "sshd" {
				t.Errorf("%s over %s: %q is %v, host %q, addr %s, service %q; want an sshd attack on %q",
					c.name, send.proto, l.rec.Line, out, ev.Host, ev.Addr, ev.Service, c.host)
			}
		}
	}
	if n := run.c.Errors.Load(); n != 0 {
		t.Errorf("errors %d; want none", n)
	}
}
