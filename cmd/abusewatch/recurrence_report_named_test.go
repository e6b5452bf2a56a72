package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Review42 M5 (n1): 45.70.1.5 fails to log in twice a day on web1 for 12 days, and
// on its first day dovecot logs one connection of it that never tried to log in
// (protocol-probe, not in reportable), naming our internal lip=10.9.8.7 on mx1. Its
// recurrence's report quoted that line, counted it (25 lines), listed mx1 among our
// hosts hit and said it "did not speak the expected protocol", as named41 had stopped
// for network incidents. It tells the 24 failed logins alone now; the admin still
// sees the line (ip).
func TestScanRecurrenceReportLeavesOutLinesOfClassesNotReportable(t *testing.T) {
	var log strings.Builder
	log.WriteString("2026-11-10T08:30:00.000000+00:00 mx1 dovecot[9]: imap-login: Disconnected (no auth attempts in 0 secs): user=<>, rip=45.70.1.99, lip=10.9.8.7, session=<a>\n")
	log.WriteString("2026-11-10T08:32:00.000000+00:00 mx1 dovecot[9]: imap-login: Disconnected (no auth attempts in 0 secs): user=<>, rip=45.70.1.5, lip=10.9.8.7, session=<b>\n")
	for d := range 12 {
		for i, user := range []string{"root", "admin"} {
			fmt.Fprintf(&log, "2026-11-%02dT09:0%d:00.000000+00:00 web1 sshd[%d]: Failed password for %s from 45.70.1.5 port %d ssh2\n",
				10+d, i, 100*(i+1)+d, user, 5000+1000*i+d)
		}
	}
	dir := t.TempDir()
	writeConfig(t, dir, strings.ReplaceAll(namedReportConfig(dir), "45.134.26.0/25", "45.70.1.0/24"))
	logFile := filepath.Join(dir, "log")
	if err := os.WriteFile(logFile, []byte(log.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runBinary(t, dir, "scan", "--config", filepath.Join(dir, "x.toml"), logFile)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	report := mailTo(t, filepath.Join(dir, "maildir"), "abuse@party-a.example")
	if !strings.Contains(report, "Failed password for root from 45.70.1.5 port 5000 ssh2") || !strings.Contains(report, "on 12 different days") {
		t.Errorf("the report does not tell the recurrence:\n%s", report)
	}
	for _, leak := range []string{"lip=10.9.8.7", "no auth attempts", "mx1", "expected protocol", "45.70.1.99"} {
		if strings.Contains(report, leak) {
			t.Errorf("the report holds %q:\n%s", leak, report)
		}
	}
	if !strings.Contains(report, "Connections:     24 (24 log lines)") || !strings.Contains(report, "Our hosts hit:   web1") ||
		!strings.Contains(report, "24 connections (24 log lines)") {
		t.Errorf("the report does not count its 24 reportable lines alone, on web1:\n%s", report)
	}
	// The line stays for the admin.
	stdout, stderr, code = runBinary(t, dir, "ip", "--config", filepath.Join(dir, "x.toml"), "--since", "3650d", "45.70.1.5")
	if code != 0 || !strings.Contains(stdout, "protocol-probe 1") {
		t.Errorf("ip (exit %d) does not show the admin the dovecot line:\n%s%s", code, stdout, stderr)
	}
}
