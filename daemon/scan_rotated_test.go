package daemon

import (
	"compress/gzip"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// caughtUp is a log handler that tells when the daemon has read a file to an offset (its
// debug line "read to the end").
type caughtUp struct {
	mu    sync.Mutex
	wants map[string]chan struct{} // "file@offset" → closed when logged
}

func (c *caughtUp) Enabled(context.Context, slog.Level) bool { return true }
func (c *caughtUp) WithAttrs([]slog.Attr) slog.Handler       { return c }
func (c *caughtUp) WithGroup(string) slog.Handler            { return c }
func (c *caughtUp) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "read to the end" {
		return nil
	}
	var file string
	var offset int64
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "file":
			file = a.Value.String()
		case "offset":
			offset = a.Value.Int64()
		}
		return true
	})
	c.signal(fmt.Sprintf("%s@%d", file, offset))
	return nil
}

func (c *caughtUp) signal(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ch, ok := c.wants[key]; ok {
		select {
		case <-ch:
		default:
			close(ch)
		}
		return
	}
	ch := make(chan struct{})
	close(ch)
	c.wants[key] = ch
}

func (c *caughtUp) wait(t *testing.T, file string, offset int64) {
	t.Helper()
	key := fmt.Sprintf("%s@%d", file, offset)
	c.mu.Lock()
	ch, ok := c.wants[key]
	if !ok {
		ch = make(chan struct{})
		c.wants[key] = ch
	}
	c.mu.Unlock()
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatalf("the daemon did not read %s to offset %d within 30s", file, offset)
	}
}

// runUntilRead runs the daemon of cfg until it has read logFile to its current end, and
// stops it (the lines read are committed when Run returns).
func runUntilRead(t *testing.T, cfg *Config, logFile string) {
	t.Helper()
	fi, err := os.Stat(logFile)
	if err != nil {
		t.Fatal(err)
	}
	h := &caughtUp{wants: map[string]chan struct{}{}}
	_, stop := runDaemon(t, cfg, h)
	h.wait(t, logFile, fi.Size())
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// followConfig is the config of a daemon in dir that follows logFile, stores and
// mails nothing of its own (observe mode, no incidents): what these tests count is lines.
func followConfig(t *testing.T, dir, logFile string) *Config {
	t.Helper()
	return observeConfig(t, dir, fmt.Sprintf("[[source]]\nfiles = [%q]", logFile), 1_000_000_000)
}

// observeConfig is the config of a daemon in dir that reads what sources (TOML) names,
// stores it and makes an incident of threshold failures, in observe mode: it mails
// nothing, and looks nothing up.
func observeConfig(t *testing.T, dir, sources string, threshold int) *Config {
	t.Helper()
	return parseTestConfig(t, filepath.Join(dir, "abusewatch.toml"), fmt.Sprintf(`%s
[correlate]
threshold = %d
[lookup]
rdap = false
resolvers = ["127.0.0.1:9"]
[reporter]
name = "Test Admin"
[mail]
transport = "maildir"
maildir = %q
from = "a@example.org"
[policy]
settle = "0s"
mode = "observe"
[admin]
socket = ""
[store]
path = %q
`, sources, threshold, filepath.Join(dir, "maildir"), filepath.Join(dir, "state.db")))
}

// userLines are sshd failures from 3.3.3.3 whose user names carry from..to-1.
func userLines(from, to int) string {
	var b strings.Builder
	epoch := time.Now().UTC().Truncate(time.Hour).Add(-48 * time.Hour)
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "%s web1 sshd[4242]: Failed password for invalid user u%d from 3.3.3.3 port 22 ssh2\n",
			epoch.Add(time.Duration(i)*time.Second).Format("2006-01-02T15:04:05.000000-07:00"), i)
	}
	return b.String()
}

// heldOpenLog writes lines 0 to 99 to dir/auth.log through w, which the test keeps open
// as a process that logs does (closed when the test ends).
func heldOpenLog(t *testing.T, dir string) (logFile string, w *os.File) {
	t.Helper()
	logFile = filepath.Join(dir, "auth.log")
	w, err := os.OpenFile(logFile, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	if _, err := w.WriteString(userLines(0, 100)); err != nil {
		t.Fatal(err)
	}
	return logFile, w
}

// followAcrossRotation starts a daemon following logFile in dir, which holds lines 0 to
// n-1 (a writer may keep it open), waits until it read them, renames logFile to
// logFile.1, writes lines n to m-1 to a new logFile and waits until they are read.
func followAcrossRotation(t *testing.T, dir, logFile string, n, m int) (cfg *Config, h *caughtUp, d *Daemon, stop func() error) {
	t.Helper()
	cfg = followConfig(t, dir, logFile)
	h = &caughtUp{wants: map[string]chan struct{}{}}
	d, stop = runDaemon(t, cfg, h)
	h.wait(t, logFile, int64(len(userLines(0, n))))
	if err := os.Rename(logFile, logFile+".1"); err != nil {
		t.Fatal(err)
	}
	appendTo(t, logFile, userLines(n, m))
	h.wait(t, logFile, int64(len(userLines(n, m))))
	return cfg, h, d, stop
}

func appendTo(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// The daemon read auth.log (lines 0–99) and was stopped; lines 100–149 were written to
// it; then it was rotated (or copied) and a new auth.log got lines 150–179. Scan reads
// the rotated file or the copy: it knows it as the file the daemon read (by inode or
// fingerprint) and reads lines 100–149 only; the daemon, started again, reads neither
// those nor 0–99 again, and reads 150–179. Every line once.
func TestScanOfAFileTheDaemonReadThenTheDaemonAgain(t *testing.T) {
	for _, tc := range []struct {
		name string
		// change rotates or copies path and returns the file to scan.
		change func(t *testing.T, path string) string
		copy   bool
		as     string // the name ReadAs must have, in the directory
	}{
		{name: "renamed", as: "auth.log", change: func(t *testing.T, path string) string {
			if err := os.Rename(path, path+".1"); err != nil {
				t.Fatal(err)
			}
			appendTo(t, path, userLines(150, 180))
			return path + ".1"
		}},
		{name: "hard link, then renamed away", as: "auth.log", change: func(t *testing.T, path string) string {
			saved := filepath.Join(filepath.Dir(path), "saved.log")
			if err := os.Link(path, saved); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(path, path+".1"); err != nil {
				t.Fatal(err)
			}
			appendTo(t, path, userLines(150, 180))
			return saved
		}},
		{name: "renamed and compressed", as: "auth.log", copy: true, change: func(t *testing.T, path string) string {
			if err := os.Rename(path, path+".1"); err != nil {
				t.Fatal(err)
			}
			gzipTo(t, path+".1")
			appendTo(t, path, userLines(150, 180))
			return path + ".1.gz"
		}},
		{name: "copied, the original written to on", as: "auth.log", copy: true, change: func(t *testing.T, path string) string {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			cp := filepath.Join(filepath.Dir(path), "copy.log")
			if err := os.WriteFile(cp, b, 0o644); err != nil {
				t.Fatal(err)
			}
			appendTo(t, path, userLines(150, 180))
			return cp
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			logFile := filepath.Join(dir, "auth.log")
			appendTo(t, logFile, userLines(0, 100))
			cfg := followConfig(t, dir, logFile)
			runUntilRead(t, cfg, logFile)
			size := int64(len(userLines(0, 100)))
			appendTo(t, logFile, userLines(100, 150))
			scanned := tc.change(t, logFile)

			st := openTestStore(t, cfg)
			p, err := NewPipeline(cfg, st, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.Scan(t.Context(), []string{scanned}, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			want := ScannedFile{Name: scanned, Path: scanned, ReadAs: filepath.Join(dir, tc.as), Copy: tc.copy, Lines: 100, Offset: size}
			if len(got) != 1 || got[0] != want {
				t.Errorf("Scan found %+v; want %+v", got, want)
			}
			if n := p.Counters.Lines.Load(); n != 50 {
				t.Errorf("scan read %d lines; want the 50 after the offset", n)
			}
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}

			runUntilRead(t, cfg, logFile)
			st = openTestStore(t, cfg)
			events, err := st.EventsByAddr(netip.MustParseAddr("3.3.3.3"), time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC))
			if err != nil {
				t.Fatal(err)
			}
			count := map[string]int{}
			for _, e := range events {
				count[e.User]++
			}
			var wrong []string
			for i := range 180 {
				u := "u" + strconv.Itoa(i)
				if count[u] != 1 {
					wrong = append(wrong, fmt.Sprintf("%s×%d", u, count[u]))
				}
			}
			if len(wrong) > 0 || len(events) != 180 {
				t.Errorf("%d events for 180 lines; not stored once: %v", len(events), wrong[:min(10, len(wrong))])
			}
		})
	}
}

// gzipTo compresses name to name.gz and removes name, as logrotate's compress does.
func gzipTo(t *testing.T, name string) {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(name + ".gz")
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(name); err != nil {
		t.Fatal(err)
	}
}

// The daemon reads auth.log (lines 0–99), which is rotated while it runs: it drains
// the old file, then reads the new one (100–129). Stopped, scan of auth.log.1 reads
// nothing again: the daemon kept the rotated file's mark beside the new file's. It
// took the path's mark with it, and the lines were stored twice.
func TestScanOfAFileRotatedWhileTheDaemonRan(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "auth.log")
	appendTo(t, logFile, userLines(0, 100))
	cfg, _, _, stop := followAcrossRotation(t, dir, logFile, 100, 130)
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	checkScanKnows(t, cfg, logFile+".1", int64(len(userLines(0, 100))))
	st := openTestStore(t, cfg)
	defer st.Close()
	events, err := st.EventsByAddr(netip.MustParseAddr("3.3.3.3"), time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil || len(events) != 130 {
		t.Errorf("%d events for 130 lines, %v", len(events), err)
	}
}
