package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// pure-ftpd's failures with an address in its <PTR> slot make no event until
// numeric_hosts names it; rules suggest proposed a normal rule for them, which hid the
// attacks and the reason for good (review 37 F4). It proposes none, and says why; the
// other unknown lines still get theirs.
func TestRulesSuggestProposesNoNormalRuleForPureFTPdsPTRSlot(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "ftp.log")
	var b strings.Builder
	for range 3 {
		b.WriteString("2026-12-07T17:15:14.000000+00:00 ftp1 pure-ftpd[100]: (?@45.134.26.17) [WARNING] Authentication failed for user [admin]\n")
		b.WriteString("2026-12-07T17:15:15.000000+00:00 ftp1 myapp[7]: cache warmed in 12 ms\n")
	}
	if err := os.WriteFile(log, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	writeConfig(t, dir, "[reporter]\nname = \"Test Admin\"\n[mail]\nfrom = \"abusewatch@example.org\"\n[detect]\ntimezone = \"UTC\"\n"+
		"[store]\npath = \""+filepath.Join(dir, "state.db")+"\"\n[[source]]\nfiles = [\""+log+"\"]\n")

	stdout, stderr, code := runBinary(t, dir, "rules", "suggest", "--config", "x.toml", "--json", log)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	var got []suggestion
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, stdout)
	}
	if len(got) != 1 || got[0].Shape != "myapp: cache warmed in <N> ms" {
		t.Errorf("suggestions = %+v; want myapp's alone", got)
	}

	why := "pure-ftpd: [detect] numeric_hosts does not name it"
	stdout, stderr, code = runBinary(t, dir, "rules", "suggest", "--config", "x.toml", log)
	if code != 0 || strings.Contains(stdout, `pure-ftpd\[`) || !strings.Contains(stdout, "#   3× pure-ftpd: (?@<ADDR>) [WARNING] Authentication failed") ||
		!strings.Contains(stdout, why) || !strings.Contains(stdout, "myapp\\[") {
		t.Errorf("rules suggest: exit %d\n%s%s", code, stdout, stderr)
	}
	stdout, stderr, code = runBinary(t, dir, "rules", "test", "--config", "x.toml", log)
	if _, apart, _ := strings.Cut(stdout, refusedTitle); code != 0 || !strings.Contains(apart, why) {
		t.Errorf("rules test does not list pure-ftpd's shape apart with the reason: exit %d\n%s%s", code, stdout, stderr)
	}

	// From the store, after a scan: the same, in unknown and rules suggest.
	if stdout, stderr, code := runBinary(t, dir, "scan", "--config", "x.toml", log); code != 0 {
		t.Fatalf("scan: exit %d\n%s%s", code, stdout, stderr)
	}
	stdout, stderr, code = runBinary(t, dir, "rules", "suggest", "--config", "x.toml")
	if code != 0 || strings.Contains(stdout, `pure-ftpd\[`) || !strings.Contains(stdout, why) || !strings.Contains(stdout, "myapp\\[") {
		t.Errorf("rules suggest from the store: exit %d\n%s%s", code, stdout, stderr)
	}
	stdout, stderr, code = runBinary(t, dir, "unknown", "--config", "x.toml")
	listed, apart, _ := strings.Cut(stdout, refusedTitle)
	if code != 0 || strings.Contains(listed, "pure-ftpd") || !strings.Contains(apart, why) {
		t.Errorf("unknown: exit %d\n%s%s", code, stdout, stderr)
	}
}
