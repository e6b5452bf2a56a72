package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// pgConfig is a config that scans PostgreSQL's log file in dir, with prefix declared
// for it ("" declares none).
func pgConfig(t *testing.T, dir, prefix string) string {
	t.Helper()
	declared := ""
	if prefix != "" {
		declared = fmt.Sprintf("postgres_prefix = %q\n", prefix)
	}
	doc := fmt.Sprintf(`[reporter]
name = "Test Admin"
[detect]
timezone = "UTC"
[lookup]
rdap = false
resolvers = ["127.0.0.1:1"]
timeout = "100ms"
[mail]
transport = "maildir"
maildir = "maildir"
from = "abusewatch@example.org"
[policy]
settle = "0s"
mode = "observe"
[store]
path = "state.db"
[[source]]
files = [%q]
%s`, filepath.Join(dir, "postgresql-15-main.log"), declared)
	file := filepath.Join(dir, "abusewatch.toml")
	if err := os.WriteFile(file, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// rules test reads PostgreSQL's log file as the daemon does: with the prefix its
// [[source]] declares, the real server's failed logins are events, as many as scan
// stores, the address the one %r gave; without it, none of its lines is an event in
// either. A prefix that holds the client's user name is refused by both.
func TestRulesTestReadsPostgresAsTheDaemonDoes(t *testing.T) {
	capture, err := os.ReadFile(repoPath(t, "detect/testdata/postgres/postgres-15-stderr-recommended.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		prefix string
		events int
	}{{"%m %r [%p] ", 28}, {"", 0}} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "postgresql-15-main.log"), capture, 0o644); err != nil {
			t.Fatal(err)
		}
		cfg := pgConfig(t, dir, tt.prefix)
		// The file named as an admin would type it, relative to where rules test runs.
		stdout, stderr, code := runBinary(t, dir, "rules", "test", "--config", cfg, "--json", "postgresql-15-main.log")
		if code != 0 {
			t.Fatalf("rules test: exit %d\n%s%s", code, stdout, stderr)
		}
		events := 0
		for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
			var v struct {
				Line                       int
				Verdict, Class, Addr, Rule string
			}
			if err := json.Unmarshal([]byte(line), &v); err != nil {
				t.Fatalf("%v: %s", err, line)
			}
			if v.Verdict != "event" {
				continue
			}
			events++
			if v.Line == 2 && (v.Class != "auth-failure" || v.Addr != "127.0.0.1" || !strings.Contains(v.Rule, "attack.d/postgres:")) {
				t.Errorf("prefix %q, line 2: %s", tt.prefix, line)
			}
		}
		if events != tt.events {
			t.Errorf("prefix %q: rules test found %d events, want %d\n%s", tt.prefix, events, tt.events, stdout)
		}
		stdout, stderr, code = runBinary(t, dir, "scan", "--json", "--config", cfg, filepath.Join(dir, "postgresql-15-main.log"))
		if code != 0 {
			t.Fatalf("scan: exit %d\n%s%s", code, stdout, stderr)
		}
		if sum := scanCounts(t, stdout); int(sum["events"]) != tt.events {
			t.Errorf("prefix %q: scan stored %v events, rules test found %d", tt.prefix, sum["events"], events)
		}
	}
	dir := t.TempDir()
	cfg := pgConfig(t, dir, "%m [%p] %q%u@%d ")
	for _, args := range [][]string{{"rules", "test", "--config", cfg, "-"}, {"check-config", "--config", cfg}} {
		_, stderr, code := runBinary(t, dir, args...)
		if code == 0 || !strings.Contains(stderr, `source[0].postgres_prefix: log_line_prefix "%m [%p] %q%u@%d " (of the [[source]] of `+filepath.Join(dir, "postgresql-15-main.log")+`) has %u, the user name as the client sent it`) {
			t.Errorf("%s: exit %d, want the prefix refused:\n%s", args[0], code, stderr)
		}
	}
}

// A line that continues PostgreSQL's message before it (a tab after the newline inside
// it) is counted as a continuation: not unparsed in its log file, not an unknown shape
// through syslog, and every line of the file counted once. Real lines of PostgreSQL 15.
// (scan counted the log file's twelve as unparsed, and `unknown` listed syslog's as a
// shape.)
func TestPostgresContinuationLinesAreNeitherUnparsedNorUnknown(t *testing.T) {
	for _, tt := range []struct{ capture, prefix string }{
		{"postgres-15-stderr-recommended.log", "%m %r [%p] "},
		{"postgres-15-syslog.log", ""}, // syslog's lines are postgres's by their tag
	} {
		capture, err := os.ReadFile(repoPath(t, "detect/testdata/postgres/"+tt.capture))
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "postgresql-15-main.log"), capture, 0o644); err != nil {
			t.Fatal(err)
		}
		cfg := pgConfig(t, dir, tt.prefix)
		stdout, stderr, code := runBinary(t, dir, "scan", "--json", "--config", cfg, filepath.Join(dir, "postgresql-15-main.log"))
		if code != 0 {
			t.Fatalf("%s: scan: exit %d\n%s%s", tt.capture, code, stdout, stderr)
		}
		sum := scanCounts(t, stdout)
		if sum["continued"] != 12 || sum["unparsed"] != 0 || sum["events"]+sum["normal"]+sum["unknown"]+sum["continued"] != sum["lines"] {
			t.Errorf("%s: scan counted %v; want its 12 continuation lines as such, none unparsed", tt.capture, sum)
		}
		stdout, stderr, code = runBinary(t, dir, "unknown", "--json", "--limit", "0", "--since", "2026-01-01", "--config", cfg)
		if code != 0 {
			t.Fatalf("%s: unknown: exit %d\n%s%s", tt.capture, code, stdout, stderr)
		}
		var shapes []struct{ Shape, Sample string }
		if err := json.Unmarshal([]byte(stdout), &shapes); err != nil {
			t.Fatalf("%v: %s", err, stdout)
		}
		for _, s := range shapes {
			if strings.Contains(s.Sample, "\t") {
				t.Errorf("%s: unknown lists a continuation line's shape %q (%q)", tt.capture, s.Shape, s.Sample)
			}
		}
	}
	// rules test says what scan counts.
	dir := t.TempDir()
	capture, err := os.ReadFile(repoPath(t, "detect/testdata/postgres/postgres-15-stderr-recommended.log"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "postgresql-15-main.log"), capture, 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runBinary(t, dir, "rules", "test", "--config", pgConfig(t, dir, "%m %r [%p] "), "postgresql-15-main.log")
	if code != 0 || !strings.Contains(stdout, " 0 unparsed, 12 continuation lines of PostgreSQL's.") || !strings.Contains(stdout, "  continuation  the next line of PostgreSQL's message above") {
		t.Errorf("rules test: exit %d\n%s%s", code, stdout, stderr)
	}
}
