package daemon

import (
	"net"
	"strings"
	"testing"
)

// A message without a hostname (RFC 5424's NIL "-", RFC 3164 without HOSTNAME) is from
// the host its sender names in its other messages, over any protocol (a name is one
// host whatever its case and domain); a sender that named none yet, or several hosts (a
// relay), is written as its address in brackets, which
// is no host name: never "one of our hosts" for the desk, never another host for a
// sweep of a named one.
func TestSyslogMessageWithoutHostname(t *testing.T) {
	run := startSyslog(t, SyslogConfig{UDP: []string{"127.0.0.1:0"}, TCP: []string{"127.0.0.1:0"}, Allow: []string{"127.0.0.0/8"}}, nil)
	det := shippedDetector(t)
	conns := map[string]net.Conn{}
	send := func(proto, from, raw string) {
		key := proto + " " + from
		if conns[key] == nil {
			if proto == "tcp" {
				conns[key] = dialFrom(t, from, run.tcp)
			} else {
				d := net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP(from)}}
				c, err := d.Dial("udp", run.udp)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close() })
				conns[key] = c
			}
		}
		if proto == "tcp" {
			raw += "\n"
		}
		if _, err := conns[key].Write([]byte(raw)); err != nil {
			t.Fatal(err)
		}
	}
	const failed = "Failed password for root from 2a01:4f8:75::1 port 5 ssh2"
	in5424 := func(host string) string { return "<38>1 2026-12-06T22:17:05Z " + host + " sshd 7 - - " + failed }
	in3164 := func(host string) string {
		return strings.TrimSpace("<38>Dec  6 22:17:05 "+host) + " sshd[7]: " + failed
	}
	for _, c := range []struct {
		name, proto, from, raw, host string
	}{
		{"a sender that named none yet", "tcp", "127.0.0.2", in5424("-"), "[127.0.0.2]"},
		{"3164 from it", "udp", "127.0.0.2", in3164(""), "[127.0.0.2]"},
		{"it names itself", "tcp", "127.0.0.2", in5424("web1"), "web1"},
		{"then its NIL hostname is that name", "tcp", "127.0.0.2", in5424("-"), "web1"},
		{"and its 3164 one over UDP", "udp", "127.0.0.2", in3164(""), "web1"},
		{"another spelling of the name is the same host", "udp", "127.0.0.2", in3164("WEB1"), "WEB1"},
		{"NIL stays the first name", "tcp", "127.0.0.2", in5424("-"), "web1"},
		{"so does the name with its domain", "tcp", "127.0.0.2", in5424("web1.example.org"), "web1.example.org"},
		{"NIL is still web1", "tcp", "127.0.0.2", in5424("-"), "web1"},
		{"but web10 is another host", "tcp", "127.0.0.2", in5424("web10"), "web10"},
		{"so NIL could be either", "tcp", "127.0.0.2", in5424("-"), "[127.0.0.2]"},
		{"another sender's NIL hostname is its own", "tcp", "127.0.0.3", in5424("-"), "[127.0.0.3]"},
		{"a relay names web2", "tcp", "127.0.0.4", in5424("web2"), "web2"},
		{"its NIL hostname is web2", "tcp", "127.0.0.4", in5424("-"), "web2"},
		{"and web3", "tcp", "127.0.0.4", in5424("web3"), "web3"},
		{"then a NIL hostname could be either", "tcp", "127.0.0.4", in5424("-"), "[127.0.0.4]"},
		{"and stays so", "udp", "127.0.0.4", in5424("web2"), "web2"},
		{"for good", "udp", "127.0.0.4", in3164(""), "[127.0.0.4]"},
		{"an IPv6 sender name is a name", "tcp", "127.0.0.5", in5424("2001:db8::5"), "2001:db8::5"},
		{"for its NIL hostname too", "udp", "127.0.0.5", in3164(""), "2001:db8::5"},
		{"another address is another host", "tcp", "127.0.0.5", in5424("2001:db8::6"), "2001:db8::6"},
		{"so NIL is the sender's address", "udp", "127.0.0.5", in3164(""), "[127.0.0.5]"},
		{"a name that is an address's first label", "tcp", "127.0.0.6", in5424("192"), "192"},
		{"192.0.2.7 is not the same host", "tcp", "127.0.0.6", in5424("192.0.2.7"), "192.0.2.7"},
		{"so NIL could be either of them", "tcp", "127.0.0.6", in5424("-"), "[127.0.0.6]"},
	} {
		send(c.proto, c.from, c.raw)
		l := run.record(t)
		out, ev := det.Classify(l.rec)
		if ev.Host != c.host || !strings.Contains(l.rec.Line, " "+c.host+" sshd") {
			t.Errorf("%s: %q from %s over %s: record %q (%v on host %q); want host %q", c.name, c.raw, c.from, c.proto, l.rec.Line, out, ev.Host, c.host)
		}
	}
	if n := run.c.Errors.Load(); n != 0 {
		t.Errorf("errors %d; want none", n)
	}
}
