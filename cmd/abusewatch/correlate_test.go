package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// After the demo scan, a changed rule applied with `correlate` finds what the old rules
// did not, in the stored history; running it again changes nothing.
func TestCorrelateAppliesAChangedRuleToStoredHistory(t *testing.T) {
	dir := t.TempDir()
	if out, errOut, code := runBinary(t, dir, "scan", "--config", repoPath(t, "configs/demo.toml"), repoPath(t, "configs/demo/auth.log")); code != 0 {
		t.Fatalf("scan: exit %d\n%s%s", code, out, errOut)
	}
	doc, err := os.ReadFile(repoPath(t, "configs/demo.toml"))
	if err != nil {
		t.Fatal(err)
	}
	// 218.92.0.31 and 218.92.1.150 share a /16: two addresses of it make a network incident.
	changed := strings.Replace(string(doc), "[correlate]\n", "[correlate]\nnetwork_addresses = 2\nnetwork_sizes = [16]\n", 1)
	cfg := filepath.Join(dir, "changed.toml")
	if err := os.WriteFile(cfg, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runBinary(t, dir, "correlate", "--config", cfg, "--since", "3650d", "--json")
	if code != 0 {
		t.Fatalf("correlate: exit %d\n%s%s", code, stdout, stderr)
	}
	var sum correlateSummary
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if sum.Changed != 1 || sum.ByRule["network"] != 1 || len(sum.Newest) != 1 || sum.Newest[0].Network.String() != "218.92.0.0/16" {
		t.Fatalf("summary = %+v; want the one network incident of 218.92.0.0/16", sum)
	}
	stdout, _, code = runBinary(t, dir, "correlate", "--config", cfg, "--since", "3650d")
	if code != 0 || !strings.Contains(stdout, "0 incidents new or changed") {
		t.Errorf("a second run: exit %d\n%s", code, stdout)
	}
}

// With the daemon holding the database, correlate says what to do instead of waiting.
func TestCorrelateWhileTheDaemonRunsSaysToStopIt(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "auth.log")
	if err := os.WriteFile(logFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(repoPath(t, "configs/demo.toml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "abusewatch.toml")
	text := string(doc) + "\n[admin]\nsocket = \"\"\n[[source]]\nfiles = [\"" + logFile + "\"]\n"
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, dir, "run", "--config", cfg)
	d.waitLog(t, "abusewatch running")
	stdout, stderr, code := runBinary(t, dir, "correlate", "--config", cfg)
	if code == 0 || !strings.Contains(stderr, "correlate needs the database to itself: stop the daemon") {
		t.Errorf("exit %d\n%s%s", code, stdout, stderr)
	}
}

// While a pass runs, correlate says at every tick how far it got.
func TestCorrelateReportsItsProgressAtEveryTick(t *testing.T) {
	var out bytes.Buffer
	ticks := make(chan time.Time)
	start := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	through := time.Date(2026, 6, 14, 13, 5, 0, 0, time.UTC)
	stop := reportProgress(&out, ticks, func() (int, time.Time) { return 3100000, through }, time.FixedZone("", 3600), start)
	ticks <- start.Add(10 * time.Second)
	stop()
	if want := "correlate: 3100000 events judged, up to 2026-06-14 14:05 (10s)\n"; out.String() != want {
		t.Errorf("progress = %q, want %q", out.String(), want)
	}
}
