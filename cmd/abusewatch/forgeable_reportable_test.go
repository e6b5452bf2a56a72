package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Review 21b M1 (nmd): with refused-query and port-probe in correlate.reportable, named's
// denied queries and dropped TCP ACK packets "from" any address were mailed to its
// abuse desk. check-config (and every command that reads the config) now refuses such
// a list, naming the class and why.
func TestCheckConfigRefusesForgeableReportableClasses(t *testing.T) {
	dir := t.TempDir()
	doc := "[reporter]\nname = \"Test Admin\"\n[mail]\nfrom = \"abusewatch@example.org\"\n[journal]\nenabled = true\n[correlate]\n" +
		"reportable = [\"auth-failure\", \"invalid-user\", \"refused-query\", \"port-probe\"]\n"
	if err := os.WriteFile(filepath.Join(dir, "bad.toml"), []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	want := `abusewatch check-config: bad.toml:8: correlate.reportable: names "refused-query", whose events are always forgeable ` +
		`(DNS queries come over UDP, whose source address is not checked): anyone can make them name another's address, so they never make an outside report; remove it`
	_, stderr, code := runBinary(t, dir, "check-config", "bad.toml")
	if code != 1 || !strings.HasPrefix(stderr, want) {
		t.Errorf("exit %d, stderr %q; want exit 1 and %q", code, stderr, want)
	}
}
