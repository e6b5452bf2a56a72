package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Review 26 finding 1, end to end: one IPv6 host spreads 36 failed SSH logins in four
// minutes over nine addresses of its /64, four each, under the per-address threshold
// of each. A scan with the real binary reports the /64 as one source: one report, to
// the /64's party, naming the network and its nine addresses.
func TestScanReportsARotatingSlash64AsOneSource(t *testing.T) {
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
	at := time.Date(2026, 11, 20, 11, 0, 0, 0, time.UTC)
	for i := range 9 {
		for j := range 4 {
			at = at.Add(7 * time.Second)
			fmt.Fprintf(&log, "%s web1 sshd[%d]: Failed password for root from 2a01:4f8:1c1c:5678:%x:%x:%x:%x port %d ssh2\n",
				at.Format("2006-01-02T15:04:05.000000-07:00"), 100+i, i*7+1, i*13+5, i*3+9, i+1, 40000+i*10+j)
		}
	}
	logFile := filepath.Join(dir, "auth.log")
	if err := os.WriteFile(logFile, []byte(log.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runBinary(t, dir, "scan", "--config", config, logFile)
	if code != 0 || !strings.Contains(stdout, "1 incident, 1 report written") ||
		!strings.Contains(stdout, "2a01:4f8:1c1c:5678::/64 (9 addresses)") || !strings.Contains(stdout, "sent to abuse@hetzner.example") {
		t.Fatalf("scan: exit %d; want one report of the /64 sent to abuse@hetzner.example\n%s%s", code, stdout, stderr)
	}
	files, err := reportMails(filepath.Join(dir, "maildir"))
	if err != nil || len(files) != 1 {
		t.Fatalf("maildir/new holds %d reports (%v); want 1", len(files), err)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	// The memo's lines are quoted-printable: read it with its soft breaks joined.
	mail := strings.ReplaceAll(string(b), "=\r\n", "")
	for _, want := range []string{
		"\r\nTo: <abuse@hetzner.example>\r\n",
		"Source network:  2a01:4f8:1c1c:5678::/64",
		"Addresses seen:  9",
		"2a01:4f8:1c1c:5678:1:5:9:1",
		"2a01:4f8:1c1c:5678:39:6d:21:9",
		"Connections:     36 (36 log lines)",
	} {
		if !strings.Contains(mail, want) {
			t.Errorf("the report lacks %q:\n%s", want, mail)
		}
	}
}
