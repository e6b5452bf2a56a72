package main

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/mailer/mailtest"
)

// A reload while an outbox round delivers stops that round after the delivery under
// way: the admin who sets policy.mode to "observe" (or "review") and reloads has
// stopped the mail from that moment, not after a round that may go on for minutes of
// lookups and deliveries with the config it began with. Two parties' reports are
// queued in auto mode; the first is held at the server when the config changes. In
// review mode the other, queued without the admin's approval, waits for it.
func TestReloadStopsTheOutboxRoundUnderWay(t *testing.T) {
	for _, mode := range []string{"observe", "review"} {
		t.Run(mode, func(t *testing.T) {
			srv := mailtest.Start(t, mailtest.Options{Hold: true})
			dir, logFile, config := sendingSetup(t, srv)
			doc, err := os.ReadFile(config)
			if err != nil {
				t.Fatal(err)
			}
			second := "\n[[contact]]\nnetwork = \"4.4.4.0/24\"\nemails = [\"abuse@four.example\"]\n"
			if err := os.WriteFile(config, append(doc, second...), 0o644); err != nil {
				t.Fatal(err)
			}
			// Logged before the start: the first round waits until the daemon read them
			// all, so both reports are written before the first delivery.
			start := time.Now().Add(-time.Minute)
			appendFile(t, logFile, attackLines(6, start, 50000)+strings.ReplaceAll(attackLines(6, start, 51000), "3.3.3.3", "4.4.4.4"))
			d := startDaemon(t, dir, "run", "--config", config)
			d.waitLog(t, "abusewatch running")
			srv.Holding(t)

			edited := strings.Replace(string(doc), `mode = "auto"`, `mode = "`+mode+`"`, 1) + second
			if err := os.WriteFile(config, []byte(edited), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
				t.Fatal(err)
			}
			d.waitLog(t, "reloaded")
			srv.Release()
			srv.Next(t) // the delivery under way finishes
			// Then either the round stops, or (as it did) it goes on to deliver the other.
			delivered := 0
			if l := d.waitFor(t, "the end of the round", 30*time.Second, func(l string) bool {
				if strings.Contains(l, "report delivered") {
					delivered++
				}
				return delivered == 2 || strings.Contains(l, "a round under the new config begins")
			}); delivered == 2 {
				t.Errorf("the round under way at the reload went on to deliver another report: %s", l)
			}
			if mode == "review" {
				// The other, queued in auto mode, is the admin's to approve now.
				d.waitLog(t, "report queued without approval waits for it")
			}
			d.stop(t)
			if n := srv.Transactions(); n != 1 {
				t.Errorf("the server saw %d mail transactions, want the one under way at the reload", n)
			}
			var sent, waiting int
			for _, e := range outboxJSON(t, dir, config) {
				switch {
				case e.State == "sent":
					sent++
				case e.State == "pending-approval" || mode == "observe" && e.State == "queued":
					waiting++
				}
			}
			if sent != 1 || waiting != 1 {
				t.Errorf("%d sent, %d waiting; want the one under way sent and the other waiting", sent, waiting)
			}
		})
	}
}
