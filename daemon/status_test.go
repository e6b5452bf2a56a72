package daemon

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/store"
)

// status answers while the main loop is busy (here: not running at all, as during a
// long batch of a flood or a re-correlation), and a source's lag is what is not
// committed yet, however far the follower has read ahead.
func TestStatusAnswersWithoutTheMainLoopAndCountsTheUncommittedLag(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "auth.log")
	cfg, err := LoadConfig(writeQuietConfig(t, dir, ""))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(logFile, make([]byte, 10_000), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.store.Close() })
	fi, err := os.Stat(logFile)
	if err != nil {
		t.Fatal(err)
	}
	pos := identity(logFile, fi)
	pos.Offset = 4_000 // committed; the follower may have read all 10,000
	if _, err := d.store.Commit(nil, []store.Position{pos}); err != nil {
		t.Fatal(err)
	}
	d.sources.get(logFile).Lag.Store(0)

	srv := httptest.NewServer(d.adminHandler())
	defer srv.Close()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(srv.URL + "/v1/status") // the loop is not running: onLoop would wait
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("status: %d, %v", resp.StatusCode, err)
	}
	if len(st.Sources) != 1 || st.Sources[0].Lag != 6_000 || st.Sources[0].Offset != 4_000 {
		t.Errorf("sources = %+v; want %s 6,000 bytes behind its committed 4,000", st.Sources, logFile)
	}
}

// writeQuietConfig writes, as dir/abusewatch.toml, the config of a daemon that follows
// dir/auth.log (made empty if missing), sends nothing and serves no admin socket, with
// extra TOML after it, and returns its path.
func writeQuietConfig(t *testing.T, dir, extra string) string {
	t.Helper()
	logFile := filepath.Join(dir, "auth.log")
	if _, err := os.Stat(logFile); err != nil {
		if err := os.WriteFile(logFile, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	file := filepath.Join(dir, "abusewatch.toml")
	doc := fmt.Sprintf("[[source]]\nfiles = [%q]\n[reporter]\nname = \"Test Admin\"\n[mail]\ntransport = \"maildir\"\nmaildir = %q\n[policy]\nmode = \"observe\"\n[admin]\nsocket = \"\"\n[store]\npath = %q\n%s",
		logFile, filepath.Join(dir, "maildir"), filepath.Join(dir, "state.db"), extra)
	if err := os.WriteFile(file, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}
