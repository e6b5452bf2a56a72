package daemon

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/mailer"
	"github.com/abusewatch/abusewatch/mailer/mailtest"
)

// mail.ca_file's certificates (and only they) are trusted for the relay, for the name
// mail.tls_server_name gives; mail.reply_timeout bounds the reply to a message
// (review 28 F4, F5).
func TestMailTLSSettingsReachTheTransport(t *testing.T) {
	_, cert := mailtest.SelfSigned(t) // names 127.0.0.1 and localhost
	caFile := filepath.Join(t.TempDir(), "relay.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := parseTestConfig(t, "a.toml", "[reporter]\nname = \"Test Admin\"\n[mail]\nfrom = \"a@example.org\"\n"+
		"server = \"127.0.0.1:25\"\nca_file = \""+caFile+"\"\ntls_server_name = \"localhost\"\nreply_timeout = \"15m\"\n")
	tr, err := NewTransport(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := tr.(*mailer.SMTP)
	if s.TLSConfig == nil || s.TLSConfig.ServerName != "localhost" || s.TLSConfig.RootCAs == nil {
		t.Fatalf("TLS config %+v: want the CA file's roots and the name", s.TLSConfig)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: s.TLSConfig.RootCAs, DNSName: "localhost", CurrentTime: time.Now()}); err != nil {
		t.Errorf("the relay's certificate is not trusted: %v", err)
	}
	if s.ReplyTimeout != 15*time.Minute || s.Timeout != 30*time.Second {
		t.Errorf("timeout %s, reply timeout %s; want 30s and 15m", s.Timeout, s.ReplyTimeout)
	}
}

// A CA file or server name with mail.tls = "none" would trust nothing: the admin meant
// TLS, and reports would go in clear.
func TestMailCAFileWithoutTLSIsRefused(t *testing.T) {
	for _, key := range []string{"ca_file = \"/etc/ssl/certs/ssl-cert-snakeoil.pem\"", "tls_server_name = \"mx.example.org\""} {
		_, err := ParseConfig("a.toml", []byte("[reporter]\nname = \"Test Admin\"\n[mail]\nfrom = \"a@example.org\"\ntls = \"none\"\n"+key+"\n"))
		name, _, _ := strings.Cut(key, " ")
		if err == nil || !strings.Contains(err.Error(), "a.toml:6: mail."+name+": ") || !strings.Contains(err.Error(), `tls = "none"`) {
			t.Errorf("%s with tls = \"none\": %v", key, err)
		}
	}
}
