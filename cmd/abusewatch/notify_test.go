package main

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Under systemd (Type=notify) the daemon says READY=1 once loaded, pets the watchdog, and
// says STOPPING=1 on SIGTERM. The test plays systemd's part with a real notify socket.
func TestRunNotifiesSystemdReadyWatchdogAndStopping(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	msgs := make(chan string, 100)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(msgs)
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	logFile := filepath.Join(dir, "auth.log")
	appendFile(t, logFile, "")
	cfg := filepath.Join(dir, "abusewatch.toml")
	doc := "[[source]]\nfiles = [\"" + logFile + "\"]\n[reporter]\nname = \"Test Admin\"\n[mail]\ntransport = \"maildir\"\nmaildir = \"" + filepath.Join(dir, "mail") +
		"\"\nfrom = \"abusewatch@example.org\"\n[lookup]\nrdap = false\n[admin]\nsocket = \"\"\n[store]\npath = \"" + filepath.Join(dir, "state.db") + "\"\n"
	if err := os.WriteFile(cfg, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, "run", "--config", cfg)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock, "WATCHDOG_USEC=200000")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitFor := func(want string) {
		t.Helper()
		deadline := time.After(30 * time.Second)
		for {
			select {
			case m := <-msgs:
				if strings.Contains(m, want) {
					return
				}
			case <-deadline:
				t.Fatalf("systemd was never told %s", want)
			}
		}
	}
	waitFor("READY=1")
	waitFor("WATCHDOG=1")
	cmd.Process.Signal(syscall.SIGTERM)
	waitFor("STOPPING=1")
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit after SIGTERM: %v", err)
	}
}
