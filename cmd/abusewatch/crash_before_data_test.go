package main

import (
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/mailer/mailtest"
)

// Review 28 F10: the real binary is killed while the server holds its RCPT TO, before
// DATA: nothing of the message left. The restarted daemon queues the report again on
// its own and delivers it, once; killed after DATA began, it would wait for the admin
// (TestCrashWhileSendingIsNotResentWithoutALogLine).
func TestCrashBeforeDataIsSentAgainOnItsOwn(t *testing.T) {
	atRcpt, unblock := make(chan struct{}), make(chan struct{})
	var first sync.Once
	srv := mailtest.Start(t, mailtest.Options{RcptErr: func(string) error {
		held := false
		first.Do(func() { held = true })
		if held {
			close(atRcpt)
			<-unblock // the killed daemon's connection waits here until the test ends
		}
		return nil
	}})
	t.Cleanup(func() { close(unblock) })
	dir, logFile, config := sendingSetup(t, srv)
	d := startDaemon(t, dir, "run", "--config", config)
	d.waitLog(t, "abusewatch running")
	appendFile(t, logFile, attackLines(6, time.Now().Add(-time.Minute), 50000))
	select {
	case <-atRcpt:
	case <-time.After(30 * time.Second):
		t.Fatal("no RCPT TO within 30s")
	}
	if err := d.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-d.done

	again := startDaemon(t, dir, "run", "--config", config)
	again.waitLog(t, "before its message began to leave: queued again")
	srv.Next(t)
	again.waitLog(t, "report delivered")
	if err := again.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-again.done
	entries := outboxJSON(t, dir, config)
	if len(entries) != 1 || entries[0].State != "sent" {
		t.Fatalf("outbox after the restart: %+v; want the report sent", entries)
	}
	if n := srv.Transactions(); n != 1 {
		t.Errorf("the server saw %d messages, want 1", n)
	}
}
