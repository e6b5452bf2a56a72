package main

import (
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/daemon/disktest"
)

// The disk holding the store fills up while lines arrive: the daemon stops reading,
// keeps the batch and its position, retries, and once space is free again every line is
// stored exactly once. Needs root to mount a small tmpfs for the store.
func TestDiskFullWhileCommitting(t *testing.T) {
	dir := t.TempDir()
	storeDir := disktest.Small(t, dir, "64m")

	logFile := filepath.Join(dir, "auth.log")
	appendFile(t, logFile, numberedLines(0, 100))
	cfg := writeSourceConfig(t, storeDir, fileSource(logFile))
	d := startDaemon(t, dir, "run", "--debug", "--config", cfg)
	d.waitCaughtUp(t, logFile)

	// Fill the disk, then write more than fits.
	filler := disktest.Fill(t, storeDir)
	appendFile(t, logFile, numberedLines(100, 20000))
	d.waitLog(t, "level=ERROR", "cannot commit what was read", "disk full")

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	d.waitCaughtUp(t, logFile)
	d.stop(t)
	checkExactlyOnce(t, storeDir, 20000)
}

// While the store's disk is full the main loop keeps going: systemd's watchdog is petted
// (it was not: the loop sat in the commit's retry, and systemd killed and restarted the
// daemon every minute), reload and exclude answer, status and the metrics say the store
// refuses commits; once space is free every line is stored exactly once. Needs root to
// mount a small tmpfs for the store.
func TestDiskFullKeepsWatchdogAndAdminGoing(t *testing.T) {
	dir := t.TempDir()
	storeDir := disktest.Small(t, dir, "8m")

	// systemd's part: a notify socket, and a watchdog to pet every 100 ms.
	sock := filepath.Join(dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	notes := make(chan string, 10000)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			notes <- string(buf[:n])
		}
	}()
	t.Setenv("NOTIFY_SOCKET", sock)
	t.Setenv("WATCHDOG_USEC", "200000")
	waitNote := func(want string) {
		t.Helper()
		deadline := time.After(30 * time.Second)
		for {
			select {
			case m := <-notes:
				if strings.Contains(m, want) {
					return
				}
			case <-deadline:
				t.Fatalf("systemd was not told %s within 30 s", want)
			}
		}
	}

	logFile := filepath.Join(dir, "auth.log")
	appendFile(t, logFile, numberedLines(0, 100))
	cfg := writeSourceConfig(t, storeDir, fileSource(logFile)+"\n[metrics]\nlisten = \"127.0.0.1:0\"\n")
	withAdminSocket(t, cfg, dir)
	d := startDaemon(t, dir, "run", "--debug", "--config", cfg)
	addr := regexp.MustCompile(`listen=(\S+)`).FindStringSubmatch(d.waitLog(t, "metrics endpoint ready"))[1]
	waitNote("READY=1")
	d.waitCaughtUp(t, logFile)
	metric := func(name string) string {
		t.Helper()
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindStringSubmatch(string(body))
		if m == nil {
			t.Fatalf("no %s in the metrics:\n%s", name, body)
		}
		return m[1]
	}
	if v := metric("abusewatch_store_commit_refused"); v != "0" {
		t.Errorf("abusewatch_store_commit_refused is %s before the disk is full; want 0", v)
	}

	filler := disktest.Fill(t, storeDir)
	appendFile(t, logFile, numberedLines(100, 5000))
	d.waitLog(t, "level=ERROR", "cannot commit what was read")

	// The loop goes on: the watchdog is petted, again and again (the pets before the
	// refusal do not count)...
	for len(notes) > 0 {
		<-notes
	}
	for range 5 {
		waitNote("WATCHDOG=1")
	}
	// ... a reload is made and answered (it runs on the main loop), exclude answers
	// (its record is refused too: the disk is full), status and the metrics say why
	// reading waits.
	admin := func(args ...string) (string, string, int) {
		return runBinary(t, dir, append([]string{args[0], "--config", cfg, "--timeout", "20s"}, args[1:]...)...)
	}
	if out, errOut, code := admin("reload"); code != 0 {
		t.Errorf("reload while the disk is full: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code := admin("exclude", "45.9.0.0/24"); code != 0 && !strings.Contains(errOut, "space") {
		t.Errorf("exclude while the disk is full: exit %d, not the store's refusal\n%s%s", code, out, errOut)
	}
	if out, errOut, code := admin("status"); code != 0 || !strings.Contains(out, "The store refuses commits since ") || !strings.Contains(out, "no space left on device") {
		t.Errorf("status while the disk is full: exit %d, no line of the refused commits:\n%s%s", code, out, errOut)
	}
	if v := metric("abusewatch_store_commit_refused"); v != "1" {
		t.Errorf("abusewatch_store_commit_refused is %s while the disk is full; want 1", v)
	}
	if v := metric("abusewatch_store_commits_refused_total"); v == "0" {
		t.Errorf("abusewatch_store_commits_refused_total is 0 while the disk is full")
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	d.waitLog(t, "the store takes commits again")
	d.waitCaughtUp(t, logFile)
	if out, _, _ := admin("status"); strings.Contains(out, "refuses commits") {
		t.Errorf("status still says the store refuses commits once it took them:\n%s", out)
	}
	if v := metric("abusewatch_store_commit_refused"); v != "0" {
		t.Errorf("abusewatch_store_commit_refused is %s once the store took the batch; want 0", v)
	}
	d.stop(t)
	checkExactlyOnce(t, storeDir, 5000)
}
