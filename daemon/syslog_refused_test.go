package daemon

import (
	"net"
	"slices"
	"strings"
	"testing"
)

// Senders outside syslog.allow are counted, each one, and logged once a minute per peer:
// a flood of them neither fills the log nor pushes other warnings out of status.
func TestSyslogRefusalsLoggedOncePerPeer(t *testing.T) {
	run := startSyslog(t, SyslogConfig{UDP: []string{"127.0.0.1:0"}, TCP: []string{"127.0.0.1:0"}, Allow: []string{"192.0.2.0/24"}}, nil)
	run.d.log.Warn("a warning before the flood")
	udp, err := net.Dial("udp", run.udp)
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	const datagrams, connections = 300, 5
	for i := range datagrams {
		if _, err := udp.Write([]byte(sshdMessage(i, "24.0.0.45"))); err != nil {
			t.Fatal(err)
		}
	}
	for range connections {
		conn := dialFrom(t, "127.0.0.1", run.tcp)
		closedAtOnce(t, conn)
	}
	waitCounter(t, "refusals", &run.c.Errors, datagrams+connections)
	if n := run.c.Refused.Load(); n != datagrams+connections {
		t.Errorf("%d refusals counted as such, want %d", n, datagrams+connections)
	}
	if n := run.log.count("refused a message from a network not in syslog.allow", "peer=127.0.0.1"); n != 1 {
		t.Errorf("%d log lines for %d refusals; want 1", n, datagrams+connections)
	}
	if !slices.ContainsFunc(run.d.errors.entries(), func(e LogEntry) bool { return strings.Contains(e.Message, "a warning before the flood") }) {
		t.Error("the refusals pushed the warning before them out of status's last warnings")
	}
	// status shows what the errors it counts were: a count beside nothing said nothing.
	if last := run.c.last.Load(); last == nil || !strings.Contains(last.Message, "from 127.0.0.1, not in syslog.allow") || last.Time.IsZero() {
		t.Errorf("the listener's newest error: %+v", last)
	}
	run.noRecord(t)
}
