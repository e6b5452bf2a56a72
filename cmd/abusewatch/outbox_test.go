package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/mailer/mailtest"
	"github.com/abusewatch/abusewatch/store"
)

// demoConfig writes the demo config with mode and its state in a temp dir, scans the
// demo log with it and returns the dir and the config path.
func demoConfig(t *testing.T, mode string) (string, string) {
	t.Helper()
	dir, config := demoConfigFile(t, mode)
	if _, stderr, code := runBinary(t, dir, "scan", "--config", config, repoPath(t, "configs/demo/auth.log")); code != 0 {
		t.Fatalf("scan: exit %d\n%s", code, stderr)
	}
	return dir, config
}

// demoConfigFile writes the demo config in mode, its state kept in a directory of its
// own, and returns that directory and the config's path.
func demoConfigFile(t *testing.T, mode string) (string, string) {
	t.Helper()
	doc, err := os.ReadFile(repoPath(t, "configs/demo.toml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	text := strings.NewReplacer(`mode = "auto"`, `mode = "`+mode+`"`, "abusewatch-demo/", dir+"/").Replace(string(doc))
	config := filepath.Join(dir, "abusewatch.toml")
	if err := os.WriteFile(config, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, config
}

// outboxJSON is the reports `outbox --json` lists.
func outboxJSON(t *testing.T, dir, config string, args ...string) []outboxEntry {
	t.Helper()
	return outboxListJSON(t, dir, config, args...).Reports
}

// outboxListJSON is what `outbox --json` prints.
func outboxListJSON(t *testing.T, dir, config string, args ...string) outboxList {
	t.Helper()
	stdout, stderr, code := runBinary(t, dir, append([]string{"outbox", "--config", config, "--json"}, args...)...)
	if code != 0 {
		t.Fatalf("outbox: exit %d\n%s", code, stderr)
	}
	var list outboxList
	if err := json.Unmarshal([]byte(stdout), &list); err != nil || list.Reports == nil {
		t.Fatalf("outbox --json: %v\n%s", err, stdout)
	}
	return list
}

func TestOutboxListsPendingReportsAsTableAndJSON(t *testing.T) {
	dir, config := demoConfig(t, "review")
	entries := outboxJSON(t, dir, config)
	if len(entries) != 4 {
		t.Fatalf("%d reports, want the demo's 4", len(entries))
	}
	for _, e := range entries {
		if e.State != "pending-approval" || len(e.To) == 0 || len(e.ID) != 32 || e.MessageID == "" {
			t.Errorf("entry %+v", e)
		}
	}
	stdout, _, code := runBinary(t, dir, "outbox", "--config", config)
	// The hint acts on this config's store when pasted, not on /etc/abusewatch's.
	if code != 0 || !strings.Contains(stdout, "ID") || !strings.Contains(stdout, "4 reports wait for your approval: abusewatch report show --config "+config+" ID, then abusewatch report approve --config "+config+" ID") ||
		!strings.Contains(stdout, entries[0].ID) {
		t.Errorf("table (exit %d):\n%s", code, stdout)
	}
	if got := outboxJSON(t, dir, config, "--state", "sent"); len(got) != 0 {
		t.Errorf("--state sent lists %d reports", len(got))
	}
	// None in the state asked for is not an empty outbox.
	if stdout, _, code := runBinary(t, dir, "outbox", "--config", config, "--state", "sent"); code != 0 || stdout != "No sent reports.\n" {
		t.Errorf("--state sent (exit %d):\n%s", code, stdout)
	}
}

// Something holds the database but nothing answers on the admin socket (a wedged or
// foreign process): the command says both and what to check.
func TestOutboxWhenTheDatabaseIsHeldButNoDaemonAnswers(t *testing.T) {
	dir, config := demoConfig(t, "review")
	st, err := store.Open(filepath.Join(dir, "state.db"), time.Second) // stands for the running daemon
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	_, stderr, code := runBinary(t, dir, "outbox", "--config", config)
	if code != 1 || !strings.Contains(stderr, "in use by another process") || !strings.Contains(stderr, "does not answer on its admin socket") {
		t.Errorf("exit %d, stderr:\n%s", code, stderr)
	}
}

// sendingSetup writes the config of a daemon in auto mode that reports 3.3.3.0/24 over
// SMTP to srv, with an empty log file, and returns the directory, the log and the config.
func sendingSetup(t *testing.T, srv *mailtest.Server) (dir, logFile, config string) {
	t.Helper()
	dir = t.TempDir()
	logFile = filepath.Join(dir, "auth.log")
	appendFile(t, logFile, "")
	config = filepath.Join(dir, "abusewatch.toml")
	doc := `
[reporter]
name = "Test Admin"
timezone = "UTC"

[[source]]
files = ["` + logFile + `"]

[lookup]
rdap = false
resolvers = ["127.0.0.1:1"]
timeout = "100ms"

[[contact]]
network = "3.3.3.0/24"
emails = ["abuse@three.example"]

[mail]
transport = "smtp"
server = "` + srv.Addr + `"
tls = "none"
from = "abusewatch@example.org"

[policy]
settle = "0s"
mode = "auto"
report_interval = "100ms"
max_age = "0s" # the lines have fixed dates, and max_age counts back from now

[store]
path = "` + filepath.Join(dir, "state.db") + `"

[admin]
socket = ""
`
	if err := os.WriteFile(config, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, logFile, config
}

// startHeldDelivery starts a daemon in auto mode (sendingSetup) and an SMTP server that
// holds each message at the end of DATA, feeds it an attack and returns once its report
// is at the server, whole and unanswered.
func startHeldDelivery(t *testing.T) (srv *mailtest.Server, d *daemonProcess, dir, config string) {
	t.Helper()
	srv = mailtest.Start(t, mailtest.Options{Hold: true})
	dir, logFile, config := sendingSetup(t, srv)
	d = startDaemon(t, dir, "run", "--config", config)
	d.waitLog(t, "abusewatch running")
	appendFile(t, logFile, attackLines(6, time.Now().Add(-time.Minute), 50000))
	srv.Holding(t)
	return srv, d, dir, config
}

// SIGTERM while the server holds the end of DATA: the daemon lets the delivery finish
// (mail.timeout bounds it) before it exits, and the report is sent, once. Cut off, it
// was queued again though the server had the whole message.
func TestSIGTERMWhileSendingLetsTheDeliveryFinish(t *testing.T) {
	srv, d, dir, config := startHeldDelivery(t)
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	d.waitLog(t, "abusewatch stopped") // the logs are committed; the delivery still waits
	srv.Release()
	srv.Next(t)
	<-d.done
	if err := d.cmd.Wait(); err != nil {
		t.Fatalf("the daemon exited with %v after SIGTERM", err)
	}
	entries := outboxJSON(t, dir, config)
	if len(entries) != 1 || entries[0].State != "sent" {
		t.Fatalf("outbox after the stop: %+v; want the report sent", entries)
	}
	if n := srv.Transactions(); n != 1 {
		t.Errorf("the server saw %d mail transactions, want 1", n)
	}
}

// The real binary is killed while the server holds the end of DATA unanswered: the
// report may or may not have arrived. The restarted daemon does not send it again on
// its own, says so in its log, and leaves it for the admin.
func TestCrashWhileSendingIsNotResentWithoutALogLine(t *testing.T) {
	srv, d, dir, config := startHeldDelivery(t)
	if err := d.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-d.done

	again := startDaemon(t, dir, "run", "--config", config)
	line := again.waitLog(t, "not sending it again")
	if !strings.Contains(line, "abusewatch report approve") {
		t.Errorf("the log line does not say how to send it: %s", line)
	}
	if err := again.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-again.done
	srv.Release()
	entries := outboxJSON(t, dir, config)
	if len(entries) != 1 || entries[0].State != "pending-approval" || !strings.Contains(entries[0].Error, "may or may not have arrived") {
		t.Fatalf("outbox after the restart: %+v", entries)
	}
	if n := srv.Transactions(); n != 1 {
		t.Errorf("the server saw %d mail transactions, want 1 (no resend)", n)
	}
}
