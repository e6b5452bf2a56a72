package main

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/store"
)

// The source scenarios feed numbered sshd lines ("invalid user u17") from one address, so
// that after the daemon has stopped the test can open its store and check that every
// line written became exactly one event.

// sourceAddr is the address of every numbered line.
var sourceAddr = netip.MustParseAddr("3.3.3.3")

// numberedLine is line i: an sshd failure whose user name carries i.
func numberedLine(i int) string {
	// A second apart, so that correlation (window 1s) looks at one event at a time, and
	// recent, so that retention keeps them.
	ts := lineEpoch().Add(time.Duration(i) * time.Second)
	return fmt.Sprintf("%s web1 sshd[4242]: Failed password for invalid user u%d from 3.3.3.3 port 22 ssh2\n",
		ts.Format("2006-01-02T15:04:05.000000-07:00"), i)
}

// lineEpoch is the time of line 0: midnight UTC three days ago.
func lineEpoch() time.Time {
	return time.Now().UTC().Truncate(24 * time.Hour).Add(-72 * time.Hour)
}

// numberedLines is lines from..to-1.
func numberedLines(from, to int) string {
	var b strings.Builder
	for i := from; i < to; i++ {
		b.WriteString(numberedLine(i))
	}
	return b.String()
}

// writeSourceConfig writes a config that stores events and never reports (the threshold
// is out of reach, the other rules are off, lookups are off), with sections, the source
// sections, added.
func writeSourceConfig(t *testing.T, dir, sections string) string {
	t.Helper()
	return writeRulesConfig(t, dir, `# These tests are about reading: one address sends every line, so every rule that looks
# back over hours or days is switched off (each would reread the whole flood per line).
threshold = 1000000000
window = "1s"
recorrelate_interval = "0s"
`, sections)
}

// writeRulesConfig writes a config in dir whose store is dir/state.db, with the
// per-address rule as correlate says (the lines of [correlate]), every other rule off,
// nothing looked up, nothing mailed (observe), and sections added.
func writeRulesConfig(t *testing.T, dir, correlate, sections string) string {
	t.Helper()
	cfg := `
[correlate]
` + correlate + `network_addresses = 0
port_scan_ports = 0
sweep_hosts = 0
recurrence_days = 0
rate_factor = 0.0
success_lookback = "0s"

[lookup]
rdap = false
resolvers = ["127.0.0.1:9"]

[reporter]
name = "Test Admin"
[mail]
transport = "maildir"
maildir = "` + filepath.Join(dir, "maildir") + `"
from = "abusewatch@example.org"

[policy]
settle = "0s"
mode = "observe"

[admin]
socket = ""

[store]
path = "` + filepath.Join(dir, "state.db") + `"
` + sections
	path := filepath.Join(dir, "abusewatch.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// fileSource is a [[source]] section for files.
func fileSource(files ...string) string {
	return "\n[[source]]\nfiles = [\"" + strings.Join(files, `", "`) + "\"]\n"
}

// storedEvents opens the store of a stopped daemon in dir and returns the events of
// sourceAddr, of any time.
func storedEvents(t *testing.T, dir string) []abusewatch.Event {
	t.Helper()
	st, err := store.Open(filepath.Join(dir, "state.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	events, err := st.EventsByAddr(sourceAddr, time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	return events
}

// storedUsers opens the store of a stopped daemon and counts the events per user name.
func storedUsers(t *testing.T, dir string) map[string]int {
	t.Helper()
	events := storedEvents(t, dir)
	users := map[string]int{}
	for _, e := range events {
		users[e.User]++
	}
	return users
}

// checkExactlyOnce fails the test unless lines 0..n-1 are each stored once and nothing else.
func checkExactlyOnce(t *testing.T, dir string, n int) {
	t.Helper()
	users := storedUsers(t, dir)
	var missing, twice []string
	for i := range n {
		u := "u" + strconv.Itoa(i)
		switch c := users[u]; {
		case c == 0:
			missing = append(missing, u)
		case c > 1:
			twice = append(twice, fmt.Sprintf("%s×%d", u, c))
		}
		delete(users, u)
	}
	if len(missing) > 0 {
		t.Errorf("%d of %d lines were never stored, e.g. %v", len(missing), n, missing[:min(10, len(missing))])
	}
	if len(twice) > 0 {
		t.Errorf("%d lines were stored more than once, e.g. %v", len(twice), twice[:min(10, len(twice))])
	}
	if len(users) > 0 {
		t.Errorf("events for lines never written: %v", users)
	}
}

// stop sends SIGTERM and waits for the daemon to commit and exit.
func (d *daemonProcess) stop(t *testing.T) {
	t.Helper()
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the daemon did not stop within 30s of SIGTERM")
	}
	if err := d.cmd.Wait(); err != nil {
		t.Fatalf("the daemon exited with %v after SIGTERM", err)
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (d *daemonProcess) kill() {
	d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.done
	d.cmd.Wait()
}

// waitCaughtUp waits until the daemon has read path to its current size (a debug log
// line), so a SIGTERM after it commits every line written.
func (d *daemonProcess) waitCaughtUp(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	d.waitMatch(t, regexp.MustCompile(`msg="read to the end" file=`+regexp.QuoteMeta(path)+` .*offset=`+strconv.FormatInt(fi.Size(), 10)+`( |$)`))
}

// waitMatch waits until a log line matches re, or fails the test at the deadline.
func (d *daemonProcess) waitMatch(t *testing.T, re *regexp.Regexp) string {
	t.Helper()
	return d.waitFor(t, "a match for "+re.String(), 60*time.Second, re.MatchString)
}

// waitEvents waits until the daemon has read at least n records in this run (the
// pipeline's own counter, logged with each batch at debug level).
func (d *daemonProcess) waitEvents(t *testing.T, n int) {
	t.Helper()
	re := regexp.MustCompile(`msg="batch committed".* total=(\d+)`)
	deadline := time.After(60 * time.Second)
	seen := 0
	for {
		d.mu.Lock()
		lines, more := d.log[seen:], d.more
		seen = len(d.log)
		d.mu.Unlock()
		for _, l := range lines {
			if m := re.FindStringSubmatch(l); m != nil {
				if got, _ := strconv.Atoi(m[1]); got >= n {
					return
				}
			}
		}
		select {
		case <-more:
		case <-d.done:
			t.Fatalf("the daemon exited before reading %d records", n)
		case <-deadline:
			t.Fatalf("the daemon did not read %d records within 60s", n)
		}
	}
}

// rotateByRename moves path to path.1 (shifting older ones) like logrotate's default.
func rotateByRename(t *testing.T, path string, keep int) {
	t.Helper()
	for i := keep - 1; i >= 1; i-- {
		if err := os.Rename(fmt.Sprintf("%s.%d", path, i), fmt.Sprintf("%s.%d", path, i+1)); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
}

// readThenStop writes lines 0–999 to logFile, runs the daemon until it has read them all
// and stops it: the start of every "while the daemon was stopped" scenario.
func readThenStop(t *testing.T, dir, logFile string) (cfg string) {
	t.Helper()
	appendFile(t, logFile, numberedLines(0, 1000))
	cfg = writeSourceConfig(t, dir, fileSource(logFile))
	d := startDaemon(t, dir, "run", "--debug", "--config", cfg)
	d.waitCaughtUp(t, logFile)
	d.stop(t)
	return cfg
}

// withAdminSocket gives cfg, a config writeSourceConfig wrote, an admin socket in dir, for
// the tests that ask the daemon (status, reload) while it runs.
func withAdminSocket(t *testing.T, cfg, dir string) {
	t.Helper()
	doc, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	doc = []byte(strings.Replace(string(doc), `socket = ""`, `socket = "`+filepath.Join(dir, "admin.sock")+`"`, 1))
	if err := os.WriteFile(cfg, doc, 0o644); err != nil {
		t.Fatal(err)
	}
}
