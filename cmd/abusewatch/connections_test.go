package main

import (
	"fmt"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The review's D5 through the real binary: one failed login a day for 20 days, sshd a
// new process each time, the client's ephemeral port coming back every 4 days. The
// report tells the abuse desk 20 connections, not the 4 ports.
func TestAReportCountsAPortOnAnotherDayAsAnotherConnection(t *testing.T) {
	dir := t.TempDir()
	doc, err := os.ReadFile(repoPath(t, "configs/demo.toml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "demo.toml")
	if err := os.WriteFile(cfg, []byte(strings.Replace(string(doc), "[correlate]\n", "[correlate]\nrecurrence_days = 10\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	d0 := time.Date(2026, 11, 1, 22, 0, 0, 0, time.UTC)
	for d := range 20 {
		fmt.Fprintf(&log, "%s web1 sshd[%d]: Failed password for root from 45.134.26.7 port %d ssh2\n",
			d0.AddDate(0, 0, d).Format("2006-01-02T15:04:05.000000-07:00"), 2000+97*d, 40000+d%4)
	}
	logFile := filepath.Join(dir, "auth.log")
	if err := os.WriteFile(logFile, []byte(log.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runBinary(t, dir, "scan", "--config", cfg, logFile)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	files, err := reportMails(filepath.Join(dir, "abusewatch-demo", "maildir"))
	if err != nil || len(files) != 1 {
		t.Fatalf("maildir/new holds %d reports (%v); want 1, of the recurrence:\n%s", len(files), err, stdout)
	}
	raw, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	m, err := mail.ReadMessage(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	if body := decodedBody(t, m); !strings.Contains(body, "Connections:     20 (20 log lines)") {
		t.Errorf("the report does not tell 20 connections of 20 lines:\n%s", body)
	}
}
