package daemon

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Review 21d D0 (fln30) through the real pipeline, a scan a day as the daemon reads
// them: ten real addresses of 6.6.6.0/24, one failed login each on a different day,
// each day after 30 dropped packets "from" 6.6.6.200. The /24's recurrence was for the
// admin only, naming nine: the first day's address was read from its 20 oldest lines,
// all packets. It is mailed to the /24's desk naming the ten, and not 6.6.6.200.
func TestNetworkRecurrenceBehindPacketsIsReported(t *testing.T) {
	p, cfg := forgedPipeline(t, "")
	day := func(d int, clock time.Duration) time.Time {
		return time.Date(2026, 11, 20+d, 0, 0, 0, 0, time.UTC).Add(clock)
	}
	lines := func(d int) (out []string) {
		for i := range 30 {
			out = append(out, ufwUDP(day(d, 8*time.Hour+time.Duration(i)*time.Second), "6.6.6.200"))
		}
		return append(out, sshdFail(day(d, 9*time.Hour), fmt.Sprintf("6.6.6.%d", 50+d), 40000+d))
	}
	for d := range 9 {
		if err := p.Ingest(t.Context(), records(lines(d)), nil); err != nil {
			t.Fatal(err)
		}
	}
	var network []forgedMail
	for _, m := range forgedRun(t, p, cfg, lines(9), day(9, 12*time.Hour)) {
		if strings.Contains(m.text, "6.6.6.0/24") {
			network = append(network, m)
		}
	}
	if len(network) != 1 || network[0].to != "<abuse@six.example>" {
		t.Fatalf("reports of 6.6.6.0/24: %+v; want one to abuse@six.example", network)
	}
	text := network[0].text
	for d := range 10 {
		if a := fmt.Sprintf("6.6.6.%d", 50+d); !regexp.MustCompile(`\b` + regexp.QuoteMeta(a) + `\b`).MatchString(text) {
			t.Errorf("the report does not name %s:\n%s", a, text)
		}
	}
	if strings.Contains(text, "6.6.6.200") {
		t.Errorf("the report names 6.6.6.200, which sent packets alone:\n%s", text)
	}
}
