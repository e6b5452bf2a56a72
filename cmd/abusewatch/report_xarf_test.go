package main

import (
	"os"
	"strings"
	"testing"
)

// report show and report preview print each X-ARF part's text: its JSON with the
// description, and its evidence decoded into the log lines it carries, as they leave.
// With [mail] redact the reviewer sees the masked lines there too. Before, a part was
// "[attached: xarf-1.json, application/json]" and nothing more (privacy review M4).
func TestReportShowAndPreviewPrintTheXARFPartsText(t *testing.T) {
	dir, config := demoConfig(t, "review")
	id := outboxJSON(t, dir, config)[0].ID
	show, stderr, code := runBinary(t, dir, "report", "show", "--config", config, id)
	if code != 0 {
		t.Fatalf("show: exit %d: %s", code, stderr)
	}
	preview, stderr, code := runBinary(t, dir, "report", "preview", "--config", config, "218.92.1.150")
	if code != 0 {
		t.Fatalf("preview: exit %d: %s", code, stderr)
	}
	for name, out := range map[string]string{"show": show, "preview": preview} {
		_, part, ok := strings.Cut(out, "[attached: xarf-1.json, application/json]\n")
		if !ok {
			t.Fatalf("report %s names no X-ARF part:\n%s", name, out)
		}
		for _, want := range []string{`"source_identifier": "218.92.1.150"`, `"description": "`, "with failed logins from 218.92.1.150 to our hosts web1",
			"evidence 1, decoded:\n  ", "web1 sshd[", "Failed password for root from 218.92.1.150 port "} {
			if !strings.Contains(part, want) {
				t.Errorf("report %s's X-ARF part lacks %q:\n%s", name, want, part)
			}
		}
	}

	doc, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(config, []byte(strings.Replace(string(doc), "[mail]\n", "[mail]\nredact = [\"users\", \"hosts\"]\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	preview, stderr, code = runBinary(t, dir, "report", "preview", "--config", config, "218.92.1.150")
	_, part, _ := strings.Cut(preview, "[attached: xarf-1.json, application/json]\n")
	if code != 0 || !strings.Contains(part, "host-1 sshd[") || strings.Contains(part, "web1") || strings.Contains(part, "user=root") || strings.Contains(part, "for root ") {
		t.Errorf("preview with redact: exit %d %s\n%s", code, stderr, part)
	}
}
