package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/abusewatch/abusewatch/mailer/mailtest"
)

func mailTestConfig(t *testing.T, server string) (string, string) {
	t.Helper()
	dir := t.TempDir()
	config := filepath.Join(dir, "abusewatch.toml")
	doc := `
[reporter]
name = "Test Admin"
[mail]
transport = "smtp"
server = "` + server + `"
tls = "none"
timeout = "5s"
from = "abusewatch@example.org"
helo_name = "gw.example.org"

[store]
path = "` + filepath.Join(dir, "state.db") + `"
`
	if err := os.WriteFile(config, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, config
}

func TestMailTestSendsThroughTheConfiguredRelay(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	dir, config := mailTestConfig(t, srv.Addr)
	stdout, stderr, code := runBinary(t, dir, "mail-test", "--config", config, "admin@example.org")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "The server answered: 250") {
		t.Errorf("stdout:\n%s", stdout)
	}
	m := srv.Next(t)
	if len(m.To) != 1 || m.To[0] != "admin@example.org" || m.Helo != "gw.example.org" || !strings.Contains(string(m.Data), "test message from abusewatch") {
		t.Errorf("received %v via EHLO %q:\n%s", m.To, m.Helo, m.Data)
	}
}

func TestMailTestWithTheRelayDownSaysWhatToCheck(t *testing.T) {
	dir, config := mailTestConfig(t, mailtest.FreeAddr(t))
	_, stderr, code := runBinary(t, dir, "mail-test", "--config", config, "admin@example.org")
	if code != 1 || !strings.Contains(stderr, "not accepted") || !strings.Contains(stderr, "reachable") {
		t.Errorf("exit %d: %s", code, stderr)
	}
	if _, stderr, code := runBinary(t, dir, "mail-test", "--config", config, "not an address"); code != 2 {
		t.Errorf("bad address: exit %d: %s", code, stderr)
	}
}
