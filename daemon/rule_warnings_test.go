package daemon

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The pipeline the daemon builds at start and at each reload (and scan's) logs the
// attack rules whose class nothing counts, with file, line and the class meant: a
// misspelt auth-failur made events that never made an incident, without a word. The
// shipped classes count as known without the shipped rules loaded; a class of no remote
// end (local-…) makes no such incident whatever its name, and is left alone.
func TestPipelineLogsAnAttackRuleClassNothingCounts(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "attack")
	if err := os.Mkdir(rules, 0o755); err != nil {
		t.Fatal(err)
	}
	local := "myapp auth-failur ^login failed for (?P<user>[^ ]+) from <HOST>$\n" +
		"myapp auth-failure ^password wrong for (?P<user>[^ ]+) from <HOST>$\n" +
		"myapp port-probe ^probe from <HOST>$\n" +
		"myapp auth-failur ^login refused for (?P<user>[^ ]+) from <HOST>$\n" +
		"su local-auth-failur ^FAILED SU \\(to (?P<user>[^ )]+)\\) [^ ]+ on [^ ]+$\n" +
		"myapp local-job-failed ^job failed$\n"
	if err := os.WriteFile(filepath.Join(rules, "myapp"), []byte(local), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, builtin := range []string{"true", "false"} {
		t.Run("builtin_rules="+builtin, func(t *testing.T) {
			doc := strings.Replace(demoConfigIn(t, t.TempDir()), "[detect]\n", "[detect]\nbuiltin_rules = "+builtin+"\nattack_dirs = [\""+rules+"\"]\n", 1)
			cfg := parseTestConfig(t, "demo.toml", doc)
			var logs bytes.Buffer
			if _, err := NewPipeline(cfg, openTestStore(t, cfg), slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
				t.Fatal(err)
			}
			var warned []string
			for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
				if strings.Contains(l, "level=WARN") {
					warned = append(warned, l)
				}
			}
			at := filepath.Join(rules, "myapp")
			want := []string{
				at + ":1: class auth-failur: no shipped rule makes it and [correlate] reportable does not list it, so its events never make an incident of one address; did you mean auth-failure?",
			}
			if len(warned) != len(want) {
				t.Fatalf("logged warnings:\n%s\nwant %d:\n%s", strings.Join(warned, "\n"), len(want), strings.Join(want, "\n"))
			}
			for i, w := range want {
				if !strings.Contains(warned[i], w) {
					t.Errorf("warning %d:\n%s\nwant\n%s", i, warned[i], w)
				}
			}
		})
	}
}
