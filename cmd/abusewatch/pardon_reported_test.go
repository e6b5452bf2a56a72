package main

import (
	"regexp"
	"strings"
	"testing"
)

// A pardon forgets the address's incidents, also those already reported: it says how
// many had been, and that the reports sent stay as they went; `ip` then says the
// address was pardoned, when and why. It said "Forgot 1 incidents", and `ip` showed
// "excluded on 2026-12-06 customer".
func TestAPardonSaysWhichForgottenIncidentsWereReported(t *testing.T) {
	dir, config := demoConfig(t, "review")
	var id string
	for _, e := range outboxJSON(t, dir, config) {
		if e.To[0] == "abuse@hostco.example" {
			id = e.ID
		}
	}
	if _, stderr, code := runBinary(t, dir, "report", "approve", "--config", config, id); code != 0 {
		t.Fatalf("approve: exit %d\n%s", code, stderr)
	}
	if _, stderr, code := runBinary(t, dir, "scan", "--config", config, repoPath(t, "configs/demo/auth.log")); code != 0 {
		t.Fatalf("scan: %s", stderr)
	}
	stdout, stderr, code := runBinary(t, dir, "pardon", "--config", config, "--reason", "a customer", "45.134.26.17")
	if code != 0 || !strings.Contains(stdout, "Forgot 1 incident and rejected 0 unsent reports.\n") ||
		!strings.Contains(stdout, "It had been reported: the report sent stays as it went ("+id[:12]) {
		t.Errorf("pardon: exit %d\n%s%s", code, stdout, stderr)
	}
	stdout, stderr, code = runBinary(t, dir, "ip", "--config", config, "--since", "3650d", "45.134.26.17")
	line := regexp.MustCompile(`Never reported: 45\.134\.26\.17/32 pardoned on \d{4}-\d\d-\d\d \d\d:\d\d [+-]\d{4}: a customer\n`)
	if code != 0 || !line.MatchString(stdout) || !strings.Contains(stdout, "reports sent before it stay as they went") {
		t.Errorf("ip after the pardon: exit %d\n%s%s", code, stdout, stderr)
	}
	// Nothing of it reported: the singular holds too.
	stdout, _, _ = runBinary(t, dir, "pardon", "--config", config, "185.220.101.44")
	if !strings.Contains(stdout, "Forgot 1 incident and rejected 1 unsent report.\n") || strings.Contains(stdout, "had been reported") {
		t.Errorf("pardon of an address not reported yet:\n%s", stdout)
	}
}
