package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Review 46 finding 1, end to end: ten failed SSH logins from 2a01:4f8:1:2:1:2::, an
// address an attacker picks in its own /64 because inet_ntop prints it with a trailing
// "::", make an incident and a report like those of any other address.
func TestScanReportsAnAddressEndingInDoubleColon(t *testing.T) {
	dir, config := demoConfigFile(t, "auto")
	f, err := os.OpenFile(config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("\n[[contact]]\nnetwork = \"2a01:4f8::/32\"\nemails = [\"abuse@hetzner.example\"]\n"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	for i := range 10 {
		fmt.Fprintf(&log, "2026-11-20T11:01:%02d.000000+00:00 h sshd[1]: Failed password for root from 2a01:4f8:1:2:1:2:: port %d ssh2\n", i, 1000+i)
	}
	logFile := filepath.Join(dir, "auth.log")
	if err := os.WriteFile(logFile, []byte(log.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runBinary(t, dir, "scan", "--config", config, logFile)
	if code != 0 || !strings.Contains(stdout, "10 events") || !strings.Contains(stdout, "1 incident, 1 report written") ||
		!strings.Contains(stdout, "2a01:4f8:1:2:1:2::") || !strings.Contains(stdout, "sent to abuse@hetzner.example") {
		t.Fatalf("scan: exit %d; want 10 events and one report of 2a01:4f8:1:2:1:2:: sent to abuse@hetzner.example\n%s%s", code, stdout, stderr)
	}
}
