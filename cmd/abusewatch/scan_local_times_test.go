package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// localTimesConfig is the demo's config with the hosts' times read in Europe/Berlin,
// written to dir.
func localTimesConfig(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(repoPath(t, "configs/demo.toml"))
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.Replace(string(b), "[detect]\ntimezone = \"UTC\"", "[detect]\ntimezone = \"Europe/Berlin\"", 1)
	if doc == string(b) {
		t.Fatal("configs/demo.toml has no [detect] timezone = \"UTC\" to change")
	}
	cfg := filepath.Join(dir, "demo.toml")
	if err := os.WriteFile(cfg, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// One attack of 21 minutes across the autumn change, logged in Europe/Berlin time
// without an offset: the file reads 02:50 … 02:59, then 02:00 … 02:10. The first ten
// lines are of the first pass of the repeated hour (+0200), the rest of the second
// (+0100): one incident from 00:50 to 01:10 UTC. Each line dated alone was +0100, the
// attack two incidents, and the report gave the desk the wrong hour.
func TestScanDatesAutumnsRepeatedHourByTheFileOrder(t *testing.T) {
	dir := t.TempDir()
	cfg := localTimesConfig(t, dir)
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	start := time.Date(2026, 10, 25, 0, 50, 0, 0, time.UTC)
	for i := range 21 {
		at := start.Add(time.Duration(i) * time.Minute).In(berlin)
		fmt.Fprintf(&log, "%s web1 sshd[%d]: Failed password for root from 45.134.26.50 port %d ssh2\n", at.Format(time.Stamp), 1000+i, 40000+i)
	}
	file := filepath.Join(dir, "auth.log")
	if err := os.WriteFile(file, []byte(log.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	written := time.Date(2026, 10, 25, 2, 0, 0, 0, time.UTC)
	if err := os.Chtimes(file, written, written); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runBinary(t, dir, "scan", "--config", cfg, file)
	if code != 0 || !strings.Contains(stdout, "21 events") || !strings.Contains(stdout, "1 incident, 1 report written") {
		t.Fatalf("exit %d: want 21 events in one incident\n%s%s", code, stdout, stderr)
	}
	mails, err := reportMails(filepath.Join(dir, "abusewatch-demo", "maildir"))
	if err != nil || len(mails) != 1 {
		t.Fatalf("reports: %v, %v", mails, err)
	}
	b, err := os.ReadFile(mails[0])
	if err != nil {
		t.Fatal(err)
	}
	mail := strings.ReplaceAll(string(b), "=\r\n", "") // quoted-printable soft breaks
	for _, want := range []string{
		"First seen:      2026-10-25 02:50:00 +0200", "Last seen:       2026-10-25 02:10:00 +0100",
		`"first_seen": "2026-10-25T02:50:00+02:00"`, `"last_seen": "2026-10-25T02:10:00+01:00"`,
	} {
		if !strings.Contains(mail, want) {
			t.Errorf("the report lacks %q:\n%s", want, mail)
		}
	}
	// The evidence: each line with the offset of its pass, 02:5x of the first.
	passes := map[string]int{}
	for _, m := range evidenceLine.FindAllStringSubmatch(mail, -1) {
		if first := m[1] == "5"; (m[2] == "+0200") != first {
			t.Errorf("evidence line of the wrong pass: %s", m[0])
		}
		passes[m[2]]++
	}
	if passes["+0200"] == 0 || passes["+0100"] == 0 {
		t.Errorf("the evidence shows no line of one of the passes: %v\n%s", passes, mail)
	}
}

// evidenceLine is a report's evidence line of the repeated hour: the minute's tens and
// the offset it is dated with.
var evidenceLine = regexp.MustCompile(`(?m)^ *2026-10-25 02:([0-5])\d:00 ([+]0[12]00)  Oct 25 02:`)

// A year-less log that spans more than a year: an attack on Nov 20, cron on Jan 15 and
// Jun 15, an attack on Dec 1; the file was last written on Dec 7, 2026. The Nov 20
// lines come before January's: they are of 2025, too old to report (policy.max_age),
// and only the Dec 1 attack is reported. Line by line, Nov 20 was dated 2026 and last
// year's attack reported as this year's. Its gzip copy reads the same.
func TestScanDatesAYearOldBacklogByTheFileOrder(t *testing.T) {
	var log strings.Builder
	for i := 1; i <= 6; i++ {
		fmt.Fprintf(&log, "Nov 20 10:0%d:00 web9 sshd[90%d]: Failed password for root from 45.134.26.120 port 5000%d ssh2\n", i, i, i)
	}
	log.WriteString("Jan 15 10:00:00 web9 CRON[5]: pam_unix(cron:session): session closed for user root\n")
	log.WriteString("Jun 15 10:00:00 web9 CRON[5]: pam_unix(cron:session): session closed for user root\n")
	for i := 1; i <= 6; i++ {
		fmt.Fprintf(&log, "Dec  1 10:0%d:00 web9 sshd[91%d]: Failed password for root from 45.134.26.121 port 5000%d ssh2\n", i, i, i)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(log.String()))
	zw.Close()
	for name, content := range map[string][]byte{"auth.log": []byte(log.String()), "auth.log.2.gz": gz.Bytes()} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := localTimesConfig(t, dir)
			// policy.max_age counts back from now: to June 1, 2026, whenever the test
			// runs, between last year's attack and this year's.
			doc, err := os.ReadFile(cfg)
			if err != nil {
				t.Fatal(err)
			}
			maxAge := fmt.Sprintf("max_age = \"%ds\"\n", int(time.Since(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)).Seconds()))
			if err := os.WriteFile(cfg, []byte(strings.Replace(string(doc), "max_age = \"0s\"\n", maxAge, 1)), 0o644); err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(dir, name)
			if err := os.WriteFile(file, content, 0o644); err != nil {
				t.Fatal(err)
			}
			written := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
			if err := os.Chtimes(file, written, written); err != nil {
				t.Fatal(err)
			}
			stdout, stderr, code := runBinary(t, dir, "scan", "--config", cfg, file)
			if code != 0 || !strings.Contains(stdout, "2 incidents, 1 report written") {
				t.Fatalf("exit %d: want 2 incidents and 1 report\n%s%s", code, stdout, stderr)
			}
			for _, line := range strings.Split(stdout, "\n") {
				if strings.HasPrefix(line, "45.134.26.120 ") && (!strings.Contains(line, " 2025-11-20 10:01 ") || !strings.Contains(line, "not reported: it ended more than policy.max_age")) {
					t.Errorf("last year's attack is not dated 2025 and left unreported: %s", line)
				}
				if strings.HasPrefix(line, "45.134.26.121 ") && (!strings.Contains(line, " 2026-12-01 10:01 ") || !strings.Contains(line, "sent to abuse@hostco.example")) {
					t.Errorf("this year's attack is not dated 2026 and reported: %s", line)
				}
			}
		})
	}
}
