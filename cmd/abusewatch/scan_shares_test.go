package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A network incident split between two parties is two reports: scan's table and
// `incidents` say where each went, not only the last written (reviews 21c, 21d: a
// guess's held share was shown where the registry desk's share had been sent).
func TestScanShowsEachPartysShareOfANetworkIncident(t *testing.T) {
	dir, config := demoConfigFile(t, "auto")
	doc, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(doc), "[correlate]\n", "[correlate]\nnetwork_addresses = 5\nnetwork_window = \"1h\"\n", 1) +
		"\n[[contact]]\nnetwork = \"45.134.26.128/25\"\nemails = [\"abuse@customer.example\"]\n"
	if err := os.WriteFile(config, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	t0 := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	port := 40000
	for i, host := range []int{10, 20, 30, 200, 210, 220} {
		for j := range 3 {
			port++
			fmt.Fprintf(&log, "%s web1 sshd[%d]: Failed password for root from 45.134.26.%d port %d ssh2\n",
				t0.Add(time.Duration(3*i+j)*time.Minute).Format(time.RFC3339), port, host, port)
		}
	}
	logFile := filepath.Join(dir, "auth.log")
	if err := os.WriteFile(logFile, []byte(log.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runBinary(t, dir, "scan", "--config", config, logFile)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	var row string
	for l := range strings.Lines(stdout) {
		if strings.HasPrefix(l, "45.134.26.0/24") {
			row = l
		}
	}
	for _, want := range []string{"sent to abuse@hostco.example: ", "sent to abuse@customer.example: "} {
		if !strings.Contains(row, want) {
			t.Errorf("the network's row lacks %q:\n%s", want, stdout)
		}
	}
	listed, stderr, code := runBinary(t, dir, "incidents", "--config", config, "--since", "2026-11-01")
	if code != 0 {
		t.Fatalf("incidents: exit %d\n%s", code, stderr)
	}
	row = ""
	for l := range strings.Lines(listed) {
		if strings.Contains(l, "45.134.26.0/24") {
			row = l
		}
	}
	for _, want := range []string{"sent to abuse@hostco.example", "sent to abuse@customer.example"} {
		if !strings.Contains(row, want) {
			t.Errorf("incidents' row of the network lacks %q:\n%s", want, listed)
		}
	}
}
