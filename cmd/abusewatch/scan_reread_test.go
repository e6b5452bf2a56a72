package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The tuning loop: a week of an unsupported service's failed logins is scanned and
// shows as unknown; the admin writes the attack rule for it. A plain scan says the file
// was read ("Nothing new"), a copy is known by its fingerprint, and the lines read stay
// unknown for good (review 44 M5). `scan --reread` reads the file whole again: the
// events are stored, once, an incident is made and reported; a second --reread stores
// nothing, the unknown line left is not tallied twice, and the file's mark has not
// moved back: a plain scan reads only the lines written since.
func TestScanRereadAppliesANewAttackRuleToTheLinesReadBefore(t *testing.T) {
	dir, config := demoConfigFile(t, "auto")
	attackDir := filepath.Join(dir, "attack.d")
	if err := os.Mkdir(attackDir, 0o755); err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	doc = []byte(strings.Replace(string(doc), "[detect]\n", "[detect]\nattack_dirs = [\""+attackDir+"\"]\n", 1))
	if err := os.WriteFile(config, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	const addr = "45.134.26.9"
	at := time.Now().UTC().Truncate(time.Hour).Add(-3 * time.Hour)
	var log strings.Builder
	for i := 1; i <= 8; i++ {
		fmt.Fprintf(&log, "%s web1 myapp[1]: login failed for bob%d from %s\n", at.Add(time.Duration(i)*time.Second).Format(time.Stamp), i, addr)
	}
	fmt.Fprintf(&log, "%s web1 myapp[1]: cache refreshed in 12 ms\n", at.Add(9*time.Second).Format(time.Stamp))
	appLog := filepath.Join(dir, "app.log")
	if err := os.WriteFile(appLog, []byte(log.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	scan := func(args ...string) string {
		t.Helper()
		stdout, stderr, code := runBinary(t, dir, append([]string{"scan", "--config", config}, args...)...)
		if code != 0 {
			t.Fatalf("scan %v: exit %d\n%s%s", args, code, stdout, stderr)
		}
		return stdout
	}
	if out := scan("app.log"); !strings.Contains(out, "Read 9 lines: 0 events, 0 normal, 9 unknown") {
		t.Fatalf("first scan, before the rule:\n%s", out)
	}
	if err := os.WriteFile(filepath.Join(attackDir, "local"), []byte("myapp auth-failure ^login failed for (?P<user>[^ ]+) from <HOST>$\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := scan("app.log"); !strings.Contains(out, "Nothing new") {
		t.Fatalf("a plain scan of the file read:\n%s", out)
	}

	out := scan("--reread", "app.log")
	for _, want := range []string{"app.log was read before (up to line 9 / byte ", "reading it whole again (--reread)",
		"Read 9 lines: 8 events, 0 normal, 1 unknown", "1 incident, 1 report written"} {
		if !strings.Contains(out, want) {
			t.Errorf("scan --reread does not say %q:\n%s", want, out)
		}
	}
	if lines := eventsOf(t, dir, addr); len(lines) != 8 {
		t.Errorf("%d events of %s stored after --reread, want 8", len(lines), addr)
	}
	if _, n := maildirText(t, dir); n != 1 {
		t.Errorf("%d mails after --reread, want the one report", n)
	}

	out = scan("--reread", "app.log")
	for _, want := range []string{"Read 9 lines: 0 events, 0 normal, 1 unknown", "8 records already stored, not stored again", "0 incidents, 0 reports written"} {
		if !strings.Contains(out, want) {
			t.Errorf("a second scan --reread does not say %q:\n%s", want, out)
		}
	}
	if lines := eventsOf(t, dir, addr); len(lines) != 8 {
		t.Errorf("%d events of %s stored after a second --reread, want 8", len(lines), addr)
	}
	if _, n := maildirText(t, dir); n != 1 {
		t.Errorf("%d mails after a second --reread, want the one report", n)
	}
	stdout, stderr, code := runBinary(t, dir, "unknown", "--config", config, "--since", "30d")
	if code != 0 || !strings.Contains(stdout, "myapp: cache refreshed in <N> ms") {
		t.Fatalf("unknown: exit %d\n%s%s", code, stdout, stderr)
	}
	for _, line := range strings.Split(stdout, "\n") {
		if strings.Contains(line, "cache refreshed") && !strings.HasPrefix(strings.TrimSpace(line), "1 ") {
			t.Errorf("the unknown line read three times is tallied more than once: %q\n%s", line, stdout)
		}
	}

	// The mark stayed at the file's end: the daemon, or a plain scan, goes on from there.
	appendFile(t, appLog, fmt.Sprintf("%s web1 myapp[1]: login failed for bob9 from %s\n", at.Add(10*time.Second).Format(time.Stamp), addr))
	if out := scan("app.log"); !strings.Contains(out, "Read 1 line: 1 event") {
		t.Errorf("a plain scan after --reread does not read only the line written since:\n%s", out)
	}
	if lines := eventsOf(t, dir, addr); len(lines) != 9 {
		t.Errorf("%d events of %s stored in the end, want 9", len(lines), addr)
	}
}

// `scan --since` skips the older events of a file for good: its mark passes them, and a
// later scan of the file goes on after them. The summary said only "256 events before
// --since skipped" (review 44 M5); it says that a later scan will not read them unless
// with --reread, which does.
func TestScanSinceSaysTheSkippedEventsAreReadOnlyWithReread(t *testing.T) {
	dir, config := demoConfigFile(t, "observe")
	const addr = "45.134.26.7"
	old := time.Now().UTC().Truncate(time.Hour).Add(-72 * time.Hour)
	recent := time.Now().UTC().Truncate(time.Hour).Add(-2 * time.Hour)
	var log strings.Builder
	for i := 1; i <= 3; i++ {
		log.WriteString(failedLogin(old.Add(time.Duration(i)*time.Second), 30+i, addr))
	}
	log.WriteString(failedLogin(recent, 40, addr))
	if err := os.WriteFile(filepath.Join(dir, "auth.log"), []byte(log.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runBinary(t, dir, "scan", "--config", config, "--since", "1d", "auth.log")
	if code != 0 || !strings.Contains(stdout, "3 events before --since skipped (a later scan of the same file will not read them either, unless with --reread)") {
		t.Fatalf("scan --since: exit %d\n%s%s", code, stdout, stderr)
	}
	stdout, stderr, code = runBinary(t, dir, "scan", "--config", config, "--reread", "auth.log")
	if code != 0 || !strings.Contains(stdout, "Read 4 lines: 3 events") || !strings.Contains(stdout, "1 record already stored, not stored again") {
		t.Fatalf("scan --reread after --since: exit %d\n%s%s", code, stdout, stderr)
	}
	if lines := eventsOf(t, dir, addr); len(lines) != 4 {
		t.Errorf("%d events of %s stored, want 4", len(lines), addr)
	}
}
