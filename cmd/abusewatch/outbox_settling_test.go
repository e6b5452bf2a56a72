package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// An attack policy.settle holds has no report yet: outbox counts such incidents, from
// the running daemon and without it, in its table and in --json ("settling"), so that
// an outbox empty minutes after an attack is not read as nothing to report. Before, it
// said "The outbox is empty." and no more.
func TestOutboxCountsTheIncidentsWaitingForSettle(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "auth.log")
	appendFile(t, logFile, "")
	cfg := writeSettleConfig(t, dir, logFile, "1h")
	d := startDaemon(t, dir, "run", "--debug", "--config", cfg)
	d.waitLog(t, "admin socket ready")
	appendFile(t, logFile, mistypedLines(time.Now()))
	d.waitLog(t, "waits for policy.settle")
	check := func(how string) {
		t.Helper()
		stdout, stderr, code := runBinary(t, dir, "outbox", "--config", cfg)
		want := "The outbox is empty.\n\n1 incident waits for policy.settle (1h0m0s) before a report is written"
		if code != 0 || !strings.HasPrefix(stdout, want) {
			t.Errorf("outbox %s: exit %d\n%s%s\nwant it to begin %q", how, code, stdout, stderr, want)
		}
		if list := outboxListJSON(t, dir, cfg); len(list.Reports) != 0 || list.Settling == nil || *list.Settling != 1 {
			t.Errorf("outbox --json %s: %+v, settling %v; want no report, 1 settling", how, list.Reports, list.Settling)
		}
		// The reports of one state alone are listed alone.
		if stdout, _, code := runBinary(t, dir, "outbox", "--config", cfg, "--state", "sent"); code != 0 || stdout != "No sent reports.\n" {
			t.Errorf("outbox --state sent %s: exit %d\n%s", how, code, stdout)
		}
	}
	check("from the daemon")
	d.stop(t)
	check("without the daemon")
}
