package daemon

import (
	"net"
	"strings"
	"testing"
)

// syslog.allow written as an IPv4-mapped network is the IPv4 network: peers are
// unmapped, and ::ffff:127.0.0.0/104 used to refuse 127.0.0.1 in silence.
func TestSyslogAllowMappedNetworkIsTheIPv4Network(t *testing.T) {
	for _, c := range []struct {
		allow   string
		allowed bool
	}{
		{"::ffff:127.0.0.0/104", true},
		{"::ffff:127.0.0.0/127", true},  // .0 and .1
		{"::ffff:127.0.0.1/128", true},  // the peer
		{"::ffff:127.0.0.1", true},      // the peer, without a length
		{"::ffff:127.0.0.2/127", false}, // .2 and .3
		{"127.0.0.0/8", true},
	} {
		t.Run(c.allow, func(t *testing.T) {
			run := startSyslog(t, SyslogConfig{UDP: []string{"127.0.0.1:0"}, TCP: []string{"127.0.0.1:0"}, Allow: []string{c.allow}}, nil)
			udp, err := net.Dial("udp", run.udp)
			if err != nil {
				t.Fatal(err)
			}
			defer udp.Close()
			udp.Write([]byte(sshdMessage(1, "24.0.0.45")))
			tcp := dialFrom(t, "127.0.0.1", run.tcp)
			tcp.Write([]byte(sshdMessage(2, "24.0.0.46") + "\n"))
			if !c.allowed {
				waitCounter(t, "refused", &run.c.Refused, 2)
				run.noRecord(t)
				return
			}
			for range 2 {
				if l := run.record(t); !strings.Contains(l.rec.Line, "web1 sshd[100") {
					t.Errorf("record %q", l.rec.Line)
				}
			}
			if n := run.c.Refused.Load(); n != 0 {
				t.Errorf("%d refused; want none", n)
			}
		})
	}
}
