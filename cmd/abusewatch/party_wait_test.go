package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// An incident whose party has a report not gone yet is not written into a report of
// its own: it joins the party's next. In review mode that is the lot of every second
// incident from a provider. scan's table, `incidents` and its --json say which report
// holds it, as `report preview` does: they said "not reported yet (see the log)", "none
// yet" and `pending` (nothing holds it back), and the log said nothing (review 22 #4).
func TestAnIncidentBehindItsPartysWaitingReportSaysWhichEverywhere(t *testing.T) {
	dir, config := demoConfig(t, "review")
	// Asked after the scan, a scanned incident that its round held for no stored reason
	// waits policy.settle from when it was stored, as the daemon would hold it: not what
	// this test is about.
	doc, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(config, []byte(strings.Replace(string(doc), "[policy]\n", "[policy]\nsettle = \"0s\"\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	var hostco string // the demo's report to 45.134.26.0/24's desk, waiting for approval
	for _, e := range outboxJSON(t, dir, config) {
		if slices.Contains(e.To, "abuse@hostco.example") {
			hostco = e.ID
		}
	}
	if hostco == "" {
		t.Fatal("the demo wrote no report to abuse@hostco.example")
	}
	var log strings.Builder
	for i := range 6 {
		fmt.Fprintf(&log, "2026-11-20T07:00:%02d.000000+00:00 web1 sshd[%d]: Failed password for root from 45.134.26.99 port %d ssh2\n",
			i+1, 881+i, 40001+i)
	}
	logFile := filepath.Join(dir, "more.log")
	if err := os.WriteFile(logFile, []byte(log.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	why := "waits for report " + hostco[:12] + " to abuse@hostco.example, not gone yet (pending-approval): it joins the party's next report once it goes"
	rowOf := func(out, source string) string {
		for l := range strings.Lines(out) {
			if strings.Contains(l, source) {
				return l
			}
		}
		return ""
	}

	stdout, stderr, code := runBinary(t, dir, "scan", "--config", config, logFile)
	if code != 0 {
		t.Fatalf("scan: exit %d\n%s%s", code, stdout, stderr)
	}
	if row := rowOf(stdout, "45.134.26.99"); !strings.Contains(row, "not reported: "+why) {
		t.Errorf("scan's row of 45.134.26.99 does not say the report it waits behind (%q):\n%s", why, stdout)
	}

	listed, stderr, code := runBinary(t, dir, "incidents", "--config", config, "--since", "2026-11-01")
	if code != 0 {
		t.Fatalf("incidents: exit %d\n%s", code, stderr)
	}
	if row := rowOf(listed, "45.134.26.99"); !strings.Contains(row, "not reported: "+why) {
		t.Errorf("incidents' row of 45.134.26.99 does not say the report it waits behind (%q):\n%s", why, listed)
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
		if i.Addr != "45.134.26.99" {
			continue
		}
		found = true
		if i.UnreportedCode != "waits-for-party" || !strings.HasPrefix(i.Unreported, why) {
			t.Errorf("incidents --json of 45.134.26.99: unreported_code %q, unreported %q; want waits-for-party, %q", i.UnreportedCode, i.Unreported, why)
		}
	}
	if !found {
		t.Errorf("incidents --json lists no incident of 45.134.26.99:\n%s", stdout)
	}

	stdout, stderr, code = runBinary(t, dir, "report", "preview", "--config", config, "45.134.26.99")
	if code != 0 || !strings.Contains(stdout, "It would not be written yet: report "+hostco[:12]+" to the same party waits (pending-approval)") {
		t.Errorf("report preview (exit %d):\n%s%s", code, stdout, stderr)
	}
}
