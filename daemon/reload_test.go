package daemon

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A reload that changes what is set up only at start ([syslog]: a sender taken off
// allow; [journal]) says that a restart applies it: it used to say nothing, and a
// revoked sender went on being heard.
func TestReloadSaysWhatOnlyARestartApplies(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "auth.log")
	if err := os.WriteFile(logFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "abusewatch.toml")
	write := func(extra string) {
		t.Helper()
		doc := fmt.Sprintf("[[source]]\nfiles = [%q]\n[reporter]\nname = \"Test Admin\"\n[mail]\ntransport = \"maildir\"\nmaildir = %q\n[policy]\nmode = \"observe\"\n[admin]\nsocket = \"\"\n[store]\npath = %q\n%s",
			logFile, filepath.Join(dir, "maildir"), filepath.Join(dir, "state.db"), extra)
		if err := os.WriteFile(file, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("[syslog]\nallow = [\"192.0.2.0/24\"]\n")
	cfg, err := LoadConfig(file)
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.store.Close() })
	for _, tc := range []struct{ extra, want string }{
		{"[syslog]\nallow = [\"192.0.2.0/24\"]\n", ""},
		{"[syslog]\nallow = [\"192.0.2.7/32\"]\n", "[syslog] changed"},
		{"[syslog]\nallow = [\"192.0.2.0/24\"]\n[journal]\nenabled = true\n", "[journal] changed"},
	} {
		write(tc.extra)
		res, err := d.reload()
		if err != nil {
			t.Fatal(err)
		}
		notes := strings.Join(res.Notes, "\n")
		if tc.want == "" && notes != "" || !strings.Contains(notes, tc.want) {
			t.Errorf("reload with %q: notes %q, want %q", tc.extra, notes, tc.want)
		}
	}
}
