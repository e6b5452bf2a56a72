package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// An incident a scan makes of an address whose party is in its cooldown: the scan does
// not wait policy.settle for it (it read the file whole) and its table says the
// cooldown. Asked right after, from the store, `ip`, `net` and `incidents` said "waits
// until … (policy.settle …)": the same incident at the same moment, another reason, and
// a report "written at the first round after that" that the cooldown holds for days
// (review 44 L8); `report preview` said both. With policy.settle at its default, every
// one says the cooldown.
func TestAScannedIncidentInItsPartysCooldownSaysTheCooldownEverywhere(t *testing.T) {
	dir, config := demoConfig(t, "auto") // sends the demo's report to abuse@hostco.example: its cooldown begins
	var log strings.Builder
	for i := range 6 {
		fmt.Fprintf(&log, "2026-11-20T07:00:%02d.000000+00:00 web1 sshd[%d]: Failed password for root from 45.134.26.99 port %d ssh2\n",
			i+1, 881+i, 40001+i)
	}
	logFile := filepath.Join(dir, "more.log")
	if err := os.WriteFile(logFile, []byte(log.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	// The words after "not reported: " in the row of 45.134.26.99's incident.
	whyIn := func(out string) string {
		for l := range strings.Lines(out) {
			if _, why, ok := strings.Cut(strings.TrimSpace(l), "not reported: "); ok && strings.Contains(l, "45.134.26.99 ") {
				return why
			}
		}
		return ""
	}

	stdout, stderr, code := runBinary(t, dir, "scan", "--config", config, logFile)
	if code != 0 {
		t.Fatalf("scan: exit %d\n%s%s", code, stdout, stderr)
	}
	why := whyIn(stdout)
	if !strings.Contains(why, "(cooldown: abuse@hostco.example had a report on") || !strings.HasSuffix(why, "(policy.cooldown)") {
		t.Fatalf("scan's row of 45.134.26.99 does not say the party's cooldown:\n%s", stdout)
	}

	for _, args := range [][]string{
		{"ip", "--config", config, "45.134.26.99"},
		{"net", "--config", config, "45.134.26.0/24"},
		{"incidents", "--config", config, "--since", "2026-11-01"},
	} {
		out, stderr, code := runBinary(t, dir, args...)
		if code != 0 {
			t.Fatalf("%s: exit %d\n%s", args[0], code, stderr)
		}
		if got := whyIn(out); got != why {
			t.Errorf("%s says why 45.134.26.99's incident has no report\n%q\nwhere scan said\n%q\n%s", args[0], got, why, out)
		}
	}

	// report preview gives the same reason, in its words of the report it would write.
	stdout, stderr, code = runBinary(t, dir, "report", "preview", "--config", config, "45.134.26.99")
	if code != 0 || !strings.Contains(stdout, "It would not be written before ") || !strings.Contains(stdout, "(cooldown: abuse@hostco.example had a report on") ||
		strings.Contains(stdout, "policy.settle") {
		t.Errorf("report preview does not give the cooldown alone (exit %d):\n%s%s", code, stdout, stderr)
	}

	stdout, stderr, code = runBinary(t, dir, "incidents", "--config", config, "--since", "2026-11-01", "--json")
	if code != 0 {
		t.Fatalf("incidents --json: exit %d\n%s", code, stderr)
	}
	var list struct {
		Incidents []struct {
			Addr           string `json:"addr"`
			Unreported     string `json:"unreported"`
			UnreportedCode string `json:"unreported_code"`
		} `json:"incidents"`
	}
	if err := json.Unmarshal([]byte(stdout), &list); err != nil {
		t.Fatalf("incidents --json: %v\n%s", err, stdout)
	}
	found := false
	for _, i := range list.Incidents {
		if i.Addr == "45.134.26.99" {
			found = true
			if i.UnreportedCode != "waits-for-party" || i.Unreported != why {
				t.Errorf("incidents --json of 45.134.26.99: unreported_code %q, unreported %q; want waits-for-party, %q", i.UnreportedCode, i.Unreported, why)
			}
		}
	}
	if !found {
		t.Errorf("incidents --json lists no incident of 45.134.26.99:\n%s", stdout)
	}
}
