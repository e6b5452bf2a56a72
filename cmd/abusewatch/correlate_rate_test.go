package main

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
)

// A rate anomaly in `correlate`'s table names its source as scan's does ("all sources":
// it printed "invalid Prefix"), and a plain pass after --rebuild changes nothing (its
// evidence sample was drawn again).
func TestCorrelateRateAnomalyAfterRebuild(t *testing.T) {
	dir := t.TempDir()
	st := demoStateIn(t, dir)
	// A week of 20 failed logins an hour, then 300 in the last hour before now.
	burst := time.Now().UTC().Truncate(time.Hour).Add(-time.Hour)
	var evs []abusewatch.Event
	add := func(hour time.Time, n int) {
		for i := range n {
			k := len(evs)
			evs = append(evs, abusewatch.Event{Time: hour.Add(time.Duration(i) * time.Hour / time.Duration(n)), Class: abusewatch.ClassAuthFailure,
				Addr: netip.MustParseAddr(fmt.Sprintf("5.%d.%d.1", k/250, k%250)), Host: "web1", Service: "sshd", Line: fmt.Sprintf("Failed password %d", k)})
		}
	}
	for h := 168; h > 0; h-- {
		add(burst.Add(-time.Duration(h)*time.Hour), 20)
	}
	add(burst, 300)
	if _, err := st.Commit(evs, nil); err != nil {
		t.Fatal(err)
	}
	st.Close()
	cfg := repoPath(t, "configs/demo.toml")
	for _, tc := range []struct {
		args    []string
		changed string
	}{
		{[]string{"--rebuild"}, "1 incident new or changed"},
		{nil, "0 incidents new or changed"},
		{nil, "0 incidents new or changed"},
	} {
		stdout, stderr, code := runBinary(t, dir, append([]string{"correlate", "--config", cfg, "--since", "3d"}, tc.args...)...)
		if code != 0 || !strings.Contains(stdout, tc.changed) {
			t.Fatalf("correlate %v: exit %d, want %q\n%s%s", tc.args, code, tc.changed, stdout, stderr)
		}
		if strings.Contains(stdout, "invalid Prefix") || (tc.args != nil && !strings.Contains(stdout, "rate-anomaly  all sources")) {
			t.Errorf("correlate %v: the rate anomaly's source is not \"all sources\":\n%s", tc.args, stdout)
		}
	}
}
