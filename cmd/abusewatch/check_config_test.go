package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckConfigAcceptsTheDemo(t *testing.T) {
	stdout, stderr, code := runBinary(t, t.TempDir(), "check-config", "--config", repoPath(t, "configs/demo.toml"))
	if code != 0 || !strings.Contains(stdout, "OK") || !strings.Contains(stdout, "attack rules") {
		t.Errorf("exit %d\n%s%s", code, stdout, stderr)
	}
}

// A bad config gives file:line: key: problem (did you mean …?), and run refuses to start.
func TestBadConfigIsRefusedByCheckConfigAndRun(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules")
	if err := os.Mkdir(rules, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rules, "local"), []byte("^fine$\n^(unclosed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := "[mail]\nfrom = \"abusewatch@example.org\"\n[store]\npath = \"" + filepath.Join(dir, "state.db") + "\"\n" +
		"[[source]]\nfiles = [\"" + filepath.Join(dir, "auth.log") + "\"]\n"
	for _, tc := range []struct{ name, doc, want string }{
		{"unknown key", base + "[correlate]\nthresold = 3\n", `bad.toml:8: correlate.thresold: unknown key (did you mean "threshold"?)`},
		{"wrong type", base + "[correlate]\nwindow = 10\n", `bad.toml:8: correlate.window: wrong type`},
		{"bad rule", base + "[detect]\nnormal_dirs = [\"" + rules + "\"]\n[reporter]\nname = \"Test Admin\"\n", rules + "/local:2: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := filepath.Join(dir, "bad.toml")
			if err := os.WriteFile(cfg, []byte(tc.doc), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, cmd := range []string{"check-config", "run"} {
				_, stderr, code := runBinary(t, dir, cmd, "--config", "bad.toml")
				if code != 1 || !strings.Contains(stderr, tc.want) {
					t.Errorf("%s: exit %d, stderr %q; want exit 1 and %q", cmd, code, stderr, tc.want)
				}
			}
			if _, err := os.Stat(filepath.Join(dir, "state.db")); err == nil && tc.name != "bad rule" {
				t.Errorf("run created the store although the config is bad")
			}
		})
	}
}

func TestVersionAndUsage(t *testing.T) {
	stdout, _, code := runBinary(t, t.TempDir(), "version")
	if code != 0 || !strings.HasPrefix(stdout, "abusewatch ") {
		t.Errorf("version: exit %d, %q", code, stdout)
	}
	stdout, _, code = runBinary(t, t.TempDir(), "--help")
	for _, sub := range []string{"run", "scan", "check-config", "version"} {
		if code != 0 || !strings.Contains(stdout, "  "+sub+" ") {
			t.Errorf("--help does not list %s (exit %d):\n%s", sub, code, stdout)
		}
	}
	_, stderr, code := runBinary(t, t.TempDir(), "frobnicate")
	if code != 2 || !strings.Contains(stderr, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: exit %d, %q", code, stderr)
	}
}
