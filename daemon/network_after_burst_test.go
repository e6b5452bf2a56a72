package daemon

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// An address's burst is reported on its own; minutes later ten more addresses of its
// /24 make a network incident, whose window takes in the burst's lines. The network's
// report leaves them out: the desk is told each of the 26 lines once, not 32.
func TestANetworkIncidentAfterAReportedBurstTellsEachLineOnce(t *testing.T) {
	p, dir := recurrencePipeline(t)
	t0 := hoursAgo(2)
	port := 30000
	fail := func(addr string, at time.Time) string {
		port++
		return fmt.Sprintf("%s web1 sshd[%d]: Failed password for root from %s port %d ssh2\n", at.Format(time.RFC3339), port, addr, port)
	}
	var a, b strings.Builder
	var burst []string
	for i := range 6 {
		a.WriteString(fail("45.134.26.1", t0.Add(time.Duration(i)*time.Minute)))
		burst = append(burst, fmt.Sprintf("port %d ssh2", port))
	}
	for k := 2; k < 12; k++ {
		for i := range 2 {
			b.WriteString(fail(fmt.Sprintf("45.134.26.%d", k), t0.Add(time.Duration(10+k+3*i)*time.Minute)))
		}
	}
	now := time.Now()
	scanAndReport(t, p, dir, "a.log", a.String(), now)
	scanAndReport(t, p, dir, "b.log", b.String(), now.Add(time.Minute))
	var network string
	for _, text := range memos(t, dir) {
		if strings.Contains(text, "Source network:  45.134.26.0/24") {
			network = text
		}
	}
	if network == "" {
		t.Fatal("no mail about the network")
	}
	if !strings.Contains(network, "Connections:     20 (20 log lines)\n") {
		t.Errorf("the network's mail does not claim the 20 lines that were not reported before:\n%s", network)
	}
	for _, l := range burst {
		if strings.Contains(network, l) {
			t.Errorf("the network's mail shows the burst's line with %q, reported before", l)
		}
	}
}
