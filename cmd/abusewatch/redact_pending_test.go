package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/mailer/mailtest"
)

// The admin reads a report waiting for approval, sees the user name and our host's
// name in its lines, stops the daemon and sets [mail] redact = ["users", "hosts"].
// outbox and report show say, before the daemon runs again, that the report is written
// again with that before it goes; he approves it, starts the daemon, and the mail the
// SMTP server receives is masked. Before, the report left as it was written.
func TestAReportApprovedAfterRedactWasTurnedOnLeavesMasked(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	dir, logFile, config := sendingSetup(t, srv)
	setConfig(t, config, `mode = "auto"`, `mode = "review"`)
	d := startDaemon(t, dir, "run", "--config", config)
	d.waitLog(t, "abusewatch running")
	appendFile(t, logFile, attackLines(6, time.Now().Add(-time.Minute), 50000))
	d.waitLog(t, "report written")
	d.stop(t)
	entries := outboxJSON(t, dir, config)
	if len(entries) != 1 || entries[0].State != "pending-approval" || entries[0].Redact != nil || entries[0].RedactAgain != nil {
		t.Fatalf("outbox: %+v; want one report waiting, written without redact", entries)
	}
	id := entries[0].ID
	show, _, _ := runBinary(t, dir, "report", "show", "--config", config, id)
	if !strings.Contains(show, "web1 sshd[4242]: Failed password for root from 3.3.3.3") || strings.Contains(show, "written again") {
		t.Fatalf("report show before the change:\n%s", show)
	}

	setConfig(t, config, "[mail]\n", "[mail]\nredact = [\"users\", \"hosts\"]\n")
	entries = outboxJSON(t, dir, config)
	if len(entries) != 1 || entries[0].RedactAgain == nil || !slices.Equal(*entries[0].RedactAgain, []string{"hosts", "users"}) {
		t.Errorf("outbox --json after the change: %+v; want redact_again [hosts users]", entries)
	}
	table, _, _ := runBinary(t, dir, "outbox", "--config", config)
	if !strings.Contains(table, "written with redact none, written again with hosts, users ([mail] redact now) before it goes") {
		t.Errorf("outbox does not say the report is written again:\n%s", table)
	}
	show, _, _ = runBinary(t, dir, "report", "show", "--config", config, id)
	if !strings.Contains(show, "This report was written with redact none, written again with hosts, users ([mail] redact now) before it goes: "+
		"what it quotes below is as it was written, not as it will go.") {
		t.Errorf("report show does not say the text shown is not what goes:\n%s", show)
	}
	if stdout, stderr, code := runBinary(t, dir, "report", "approve", "--config", config, id); code != 0 {
		t.Fatalf("report approve: exit %d\n%s%s", code, stdout, stderr)
	}

	d = startDaemon(t, dir, "run", "--config", config)
	m := srv.Next(t)
	d.waitLog(t, "report delivered")
	d.stop(t)
	text := leftText(t, m.Data)
	for _, s := range []string{"root", "web1"} {
		if strings.Contains(text, s) {
			t.Errorf("the mail that left says %q:\n%s", s, text)
		}
	}
	if !strings.Contains(text, "host-1 sshd[4242]: Failed password for <user> from 3.3.3.3") || !strings.Contains(text, "<"+id+"@") {
		t.Errorf("the mail that left is not report %s masked:\n%s", id, text)
	}
	entries = outboxJSON(t, dir, config)
	if len(entries) != 1 || entries[0].ID != id || entries[0].State != "sent" || !slices.Equal(entries[0].Redact, []string{"hosts", "users"}) || entries[0].RedactAgain != nil {
		t.Errorf("outbox after it went: %+v; want report %s sent, masked", entries, id)
	}
	show, _, _ = runBinary(t, dir, "report", "show", "--config", config, id)
	if !strings.Contains(show, "Redact:    hosts, users\n") || strings.Contains(show, "root") {
		t.Errorf("report show after it went:\n%s", show)
	}
	if n := srv.Transactions(); n != 1 {
		t.Errorf("the server saw %d mail transactions, want 1", n)
	}
}

// leftText is what a mail says: its header, each part decoded, and the log lines each
// X-ARF part carries as evidence, decoded.
func leftText(t *testing.T, data []byte) string {
	t.Helper()
	h, parts, err := mailtest.Parts(data)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	for k, v := range h {
		out.WriteString(k + ": " + strings.Join(v, ", ") + "\n")
	}
	for _, p := range parts {
		out.Write(p.Body)
		var x struct {
			Evidence []struct {
				Payload []byte `json:"payload"` // base64, as encoding/json reads a []byte
			} `json:"evidence"`
		}
		if json.Unmarshal(p.Body, &x) == nil {
			for _, e := range x.Evidence {
				out.Write(e.Payload)
			}
		}
	}
	return out.String()
}

// setConfig replaces old by new in the config file at path, once; the test fails when
// old is not there.
func setConfig(t *testing.T, path, old, new string) {
	t.Helper()
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), old) {
		t.Fatalf("%s has no %q", filepath.Base(path), old)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(doc), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}
