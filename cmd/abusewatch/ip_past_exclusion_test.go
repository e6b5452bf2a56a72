package main

import (
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/daemon"
)

// After `exclude --remove`, the lines read or dated while an address was excluded are
// never reported (correlate.HeldBack), but `ip` and `net` counted them with no word of
// it: the admin saw an attack in the counts and no incident. They list the times it was
// excluded, in the table and in --json, beside the exclusion in force.
func TestIPAndNetListThePastExclusionsThatCoverIt(t *testing.T) {
	dir, config, log := penTestConfig(t)
	t0 := time.Date(2026, 11, 21, 3, 11, 0, 0, time.UTC)
	before := time.Now()
	awRun(t, dir, config, "exclude", "45.134.26.50", "--reason", "our pen-test")
	appendFile(t, log, penTestLines(6, t0, 41000))
	awRun(t, dir, config, "scan", log)
	awRun(t, dir, config, "exclude", "--remove", "45.134.26.50")
	after := time.Now()

	var ip daemon.NetworkInfo
	if err := jsonOf(awRun(t, dir, config, "ip", "45.134.26.50", "--since", "3650d", "--json"), &ip); err != nil {
		t.Fatal(err)
	}
	if len(ip.PastExclusions) != 1 {
		t.Fatalf("ip --json: past_exclusions = %+v, want the one removed", ip.PastExclusions)
	}
	e := ip.PastExclusions[0]
	if e.Network.String() != "45.134.26.50/32" || e.By != "exclude" || e.Reason != "our pen-test" ||
		e.From.Before(before) || e.To.Before(e.From) || e.To.After(after) {
		t.Errorf("ip --json: past exclusion %+v; want 45.134.26.50/32 by exclude (our pen-test), from and to between %s and %s", e, before, after)
	}
	loc := time.FixedZone("", 3600) // the demo's reporter.timezone, Europe/Berlin, in November
	if ip.Excluded != nil {
		t.Errorf("ip --json: excluded = %+v after the removal", ip.Excluded)
	}
	want := "Was excluded: 45.134.26.50/32 from " + e.From.In(loc).Format("2006-01-02 15:04 -0700") + " to " + e.To.In(loc).Format("2006-01-02 15:04 -0700") +
		" (our pen-test): its lines of that time (dated or read then) are never reported."
	if out := awRun(t, dir, config, "ip", "45.134.26.50", "--since", "3650d"); !strings.Contains(out, want+"\n") {
		t.Errorf("ip does not say when it was excluded (%q):\n%s", want, out)
	}
	// Its network's lines of that time hold its lines: `net` says so too.
	var net daemon.NetworkInfo
	if err := jsonOf(awRun(t, dir, config, "net", "45.134.26.0/24", "--since", "3650d", "--json"), &net); err != nil {
		t.Fatal(err)
	}
	if len(net.PastExclusions) != 1 || net.PastExclusions[0].Network != e.Network {
		t.Errorf("net --json of 45.134.26.0/24: past_exclusions = %+v, want 45.134.26.50/32's", net.PastExclusions)
	}
	// Another address of the network was never excluded.
	var other daemon.NetworkInfo
	if err := jsonOf(awRun(t, dir, config, "ip", "45.134.26.51", "--json"), &other); err != nil {
		t.Fatal(err)
	}
	if other.PastExclusions == nil || len(other.PastExclusions) != 0 {
		t.Errorf("ip --json of 45.134.26.51: past_exclusions = %#v, want []", other.PastExclusions)
	}

	// Excluded again, now the /24: the exclusion in force, and the past one beside it.
	awRun(t, dir, config, "exclude", "45.134.26.0/24", "--reason", "the pen-test's network")
	out := awRun(t, dir, config, "ip", "45.134.26.50", "--since", "3650d")
	if !strings.Contains(out, "Never reported: 45.134.26.0/24 excluded on") || !strings.Contains(out, want+"\n") {
		t.Errorf("ip of an address excluded again does not say both exclusions:\n%s", out)
	}
}
