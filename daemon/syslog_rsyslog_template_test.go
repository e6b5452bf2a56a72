package daemon

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/configs"
	"github.com/abusewatch/abusewatch/detect"
)

// shippedDetector classifies with the attack rules abusewatch ships.
func shippedDetector(t *testing.T) *detect.Detector {
	t.Helper()
	attack, err := detect.LoadAttackRules(configs.FS, "rules/attack.d")
	if err != nil {
		t.Fatal(err)
	}
	return detect.New(nil, attack, time.UTC)
}

// rsyslog's stock RFC 5424 forwarding template (RSYSLOG_SyslogProtocol23Format) sends
// "... - -  Failed password ...": its msg keeps the space after the tag. One leading
// space of MSG is dropped, no more, and the forwarded SSH failure is an attack, over
// UDP and over octet-counted TCP alike.
func TestSyslogRsyslogProtocol23LeadingSpace(t *testing.T) {
	run := startSyslog(t, SyslogConfig{UDP: []string{"127.0.0.1:0"}, TCP: []string{"127.0.0.1:0"}, Allow: []string{"127.0.0.1"}}, nil)
	det := shippedDetector(t)
	udp, err := net.Dial("udp", run.udp)
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	tcp := dialFrom(t, "127.0.0.1", run.tcp)
	const failed = "Failed password for root from 45.134.26.76 port 35441 ssh2"
	for _, c := range []struct {
		name, sd, msg string
		wantTail      string // the record's text after "sshd[205]:"
		wantMsg       string // the message the rules see
		attack        bool
	}{
		{"no space", "-", failed, " " + failed, failed, true},
		{"rsyslog's one space", "-", " " + failed, " " + failed, failed, true},
		{"one space after structured data", `[origin ip="192.0.2.1"]`, " " + failed, " " + failed, failed, true},
		{"one space after a BOM", "-", "\ufeff " + failed, " " + failed, failed, true},
		// detect drops a second space after the tag as rsyslog's (in files): the record
		// carries one more, and the message keeps its own.
		{"two spaces: only one is the separator's", "-", "  " + failed, "   " + failed, " " + failed, false},
	} {
		raw := fmt.Sprintf("<38>1 2026-12-07T02:19:56.123456+00:00 web2 sshd 205 - %s %s", c.sd, c.msg)
		for _, send := range []struct {
			proto string
			write func()
		}{
			{"udp", func() { udp.Write([]byte(raw)) }},
			{"tcp", func() { fmt.Fprintf(tcp, "%d %s", len(raw), raw) }},
		} {
			send.write()
			l := run.record(t)
			want := "2026-12-07T02:19:56.123456+00:00 web2 sshd[205]:" + c.wantTail // the time as sent
			if l.rec.Line != want {
				t.Errorf("%s over %s: record %q\nwant %q", c.name, send.proto, l.rec.Line, want)
			}
			if h, err := detect.ParseHeader(l.rec.Line, time.Now(), time.UTC); err != nil || h.Message != c.wantMsg {
				t.Errorf("%s over %s: message %q, %v; want %q", c.name, send.proto, h.Message, err, c.wantMsg)
			}
			out, ev := det.Classify(l.rec)
			if got := out == detect.Recognised; got != c.attack {
				t.Errorf("%s over %s: %q classified %v (event %q); want an attack: %v", c.name, send.proto, l.rec.Line, out, ev.Class, c.attack)
			}
			if c.attack && (ev.Host != "web2" || ev.Addr.String() != "45.134.26.76") {
				t.Errorf("%s over %s: event host %q addr %s", c.name, send.proto, ev.Host, ev.Addr)
			}
		}
	}
	if n := run.c.Errors.Load(); n != 0 {
		t.Errorf("errors %d; want none", n)
	}
}

// The same in RFC 3164, as rsyslog relays what it writes to its files ("sshd[1]:
// Failed …" with the space its msg keeps): one leading space of the message is the
// sender's, as in a file, and the failure is an attack; a third is the message's own.
func TestSyslogRFC3164RsyslogSpace(t *testing.T) {
	run := startSyslog(t, SyslogConfig{UDP: []string{"127.0.0.1:0"}, Allow: []string{"127.0.0.1"}}, nil)
	det := shippedDetector(t)
	udp, err := net.Dial("udp", run.udp)
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	const failed = "Failed password for root from 45.134.26.61 port 35441 ssh2"
	for _, c := range []struct {
		name, msg string
		attack    bool
	}{
		{"one space", failed, true},
		{"rsyslog's two", " " + failed, true},
		{"three", "  " + failed, false},
	} {
		udp.Write([]byte("<38>Dec  7 02:19:56 web3 sshd[78]: " + c.msg))
		l := run.record(t)
		out, ev := det.Classify(l.rec)
		if got := out == detect.Recognised; got != c.attack {
			t.Errorf("%s: %q classified %v (event %q); want an attack: %v", c.name, l.rec.Line, out, ev.Class, c.attack)
		}
		if c.attack && (ev.Host != "web3" || ev.Addr.String() != "45.134.26.61") {
			t.Errorf("%s: event host %q addr %s", c.name, ev.Host, ev.Addr)
		}
	}
}
