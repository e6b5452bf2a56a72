package main

import (
	"encoding/pem"
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

// A relay whose certificate no system CA signed (Debian's postfix offers STARTTLS with
// its self-signed snakeoil certificate) is trusted through mail.ca_file; until then
// mail-test says which certificate the relay presented and that mail.ca_file is the fix,
// and for a name the certificate does not carry, mail.tls_server_name (review 28 F5).
func TestMailTestTrustsTheRelaysCertificateFromCAFile(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{StartTLS: true})
	dir, config := mailTestConfig(t, srv.Addr)
	doc, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	starttls := strings.Replace(string(doc), `tls = "none"`, `tls = "starttls"`, 1)
	if err := os.WriteFile(config, []byte(starttls), 0o644); err != nil {
		t.Fatal(err)
	}

	_, stderr, code := runBinary(t, dir, "mail-test", "--config", config, "admin@example.org")
	if code != 1 {
		t.Fatalf("an unknown issuer: exit %d: %s", code, stderr)
	}
	for _, want := range []string{"CN=mx.test", "itself (self-signed)", "SHA-256 fingerprint", "set mail.ca_file in " + config, "-starttls smtp"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr does not say %q:\n%s", want, stderr)
		}
	}
	srv.Nothing(t)

	pemFile := filepath.Join(dir, "relay.pem")
	if err := os.WriteFile(pemFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Cert.Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	trusted := strings.Replace(starttls, "[mail]\n", "[mail]\nca_file = \""+pemFile+"\"\n", 1)
	if err := os.WriteFile(config, []byte(trusted), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runBinary(t, dir, "mail-test", "--config", config, "admin@example.org")
	if code != 0 {
		t.Fatalf("with mail.ca_file: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "The server answered: 250") {
		t.Errorf("stdout:\n%s", stdout)
	}
	if m := srv.Next(t); !m.TLS {
		t.Error("the test message went without TLS")
	}

	// The certificate names 127.0.0.1 and localhost: another name is checked, and refused.
	named := strings.Replace(trusted, "[mail]\n", "[mail]\ntls_server_name = \"relay.example.org\"\n", 1)
	if err := os.WriteFile(config, []byte(named), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, code = runBinary(t, dir, "mail-test", "--config", config, "admin@example.org")
	if code != 1 || !strings.Contains(stderr, `"relay.example.org"`) || !strings.Contains(stderr, "mail.tls_server_name") {
		t.Errorf("a name the certificate does not carry: exit %d: %s", code, stderr)
	}
	named = strings.Replace(named, "relay.example.org", "localhost", 1)
	if err := os.WriteFile(config, []byte(named), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code = runBinary(t, dir, "mail-test", "--config", config, "admin@example.org"); code != 0 {
		t.Errorf("tls_server_name = \"localhost\", a name it carries: exit %d: %s", code, stderr)
	}
	srv.Next(t)
}

// A mail.ca_file that cannot be read or holds no certificate stops check-config (and
// the daemon's start) with the config's line, the file and what is wrong with it.
func TestCheckConfigNamesABadCAFile(t *testing.T) {
	dir, config := mailTestConfig(t, "127.0.0.1:25")
	doc, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	authLog := filepath.Join(dir, "auth.log")
	if err := os.WriteFile(authLog, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	doc = append(doc, "[[source]]\nfiles = [\""+authLog+"\"]\n"...)
	notPEM := filepath.Join(dir, "key-only.pem")
	if err := os.WriteFile(notPEM, []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ file, want string }{
		{filepath.Join(dir, "missing.pem"), "cannot read the relay's CA certificates: open " + filepath.Join(dir, "missing.pem") + ": no such file or directory"},
		{notPEM, notPEM + " holds no PEM certificate"},
	} {
		bad := strings.Replace(string(doc), "[mail]\n", "[mail]\nca_file = \""+tc.file+"\"\n", 1)
		bad = strings.Replace(bad, `tls = "none"`, `tls = "starttls"`, 1)
		if err := os.WriteFile(config, []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		_, stderr, code := runBinary(t, dir, "check-config", "--config", config)
		if code == 0 || !strings.Contains(stderr, config+":5: mail.ca_file: ") || !strings.Contains(stderr, tc.want) {
			t.Errorf("ca_file %s: exit %d: %s", tc.file, code, stderr)
		}
	}
}
