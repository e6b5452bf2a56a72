package main

import (
	"io"
	"mime/quotedprintable"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/lookup/lookuptest"
	"github.com/abusewatch/abusewatch/mailer/mailtest"
)

// The zone the loopback DNS server holds: 3.3.3.3's reverse name resolves back to it.
const testZone = `
3.3.3.3.in-addr.arpa.   60 IN PTR scanner.attacker.test.
scanner.attacker.test.  60 IN A   3.3.3.3
`

// rdapServer serves ARIN's real answer for 3.3.3.3 (copied into lookup/testdata/rdap
// from the shared corpus, see its PROVENANCE) and counts the queries.
func rdapServer(t *testing.T) (*httptest.Server, chan string) {
	body, err := os.ReadFile(repoPath(t, "lookup/testdata/rdap/ip_network_arin_3_3_3_3.json"))
	if err != nil {
		t.Fatal(err)
	}
	queries := make(chan string, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		queries <- r.URL.Path
		if !strings.HasSuffix(r.URL.Path, "/ip/3.3.3.3") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/rdap+json")
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv, queries
}

// attackLines are n sshd failures from 3.3.3.3, each from its own source port counting
// up from port, and as many from a private address.
func attackLines(n int, start time.Time, port int) string {
	var b strings.Builder
	for i := range n {
		ts := start.Add(time.Duration(i) * time.Second).UTC().Format("2006-01-02T15:04:05.000000-07:00")
		b.WriteString(ts + " web1 sshd[4242]: Failed password for root from 3.3.3.3 port " + strconv.Itoa(port+i) + " ssh2\n")
		b.WriteString(ts + " web1 sshd[4243]: Failed password for root from 10.1.1.1 port 22 ssh2\n")
	}
	return b.String()
}

func writeRunConfig(t *testing.T, dir, logFile, smtpAddr, dnsAddr, bootstrap, mode string) string {
	cfg := `
[reporter]
name = "Test Admin"
organisation = "Example Hosting Ltd"
role = "Security team"
email = "security@example.org"
timezone = "UTC"

[[source]]
files = ["` + logFile + `"]

[correlate]
threshold = 5
window = "10m"

[lookup]
resolvers = ["` + dnsAddr + `"]
timeout = "5s"
bootstrap_dir = "` + bootstrap + `"

[mail]
transport = "smtp"
server = "` + smtpAddr + `"
tls = "none"
from = "abusewatch@example.org"

[policy]
settle = "0s"
mode = "` + mode + `"
report_interval = "100ms"
max_age = "0s" # the lines have fixed dates, and max_age counts back from now

[admin]
socket = "` + filepath.Join(dir, "admin.sock") + `"

[store]
path = "` + filepath.Join(dir, "state.db") + `"
`
	path := filepath.Join(dir, "abusewatch.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func appendFile(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

// End to end with real peers on loopback: the daemon follows a log, the incident's
// contact comes from RDAP (bootstrap → loopback server with ARIN's real answer), the
// reverse name from a real DNS server, and the report arrives at a real SMTP server.
func TestRunReportsOverSMTPToTheRDAPAbuseContact(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "auth.log")
	appendFile(t, logFile, "2026-11-20T01:00:00.000000+00:00 web1 sshd[1]: Server listening on 0.0.0.0 port 22.\n")
	smtpServer := mailtest.Start(t, mailtest.Options{})
	dnsAddr, zone := lookuptest.ServeZone(t, testZone)
	rdap, queries := rdapServer(t)
	bootstrap := lookuptest.WriteBootstrap(t, rdap.URL, []string{"3.0.0.0/8"}, []string{"2600::/12"})
	cfg := writeRunConfig(t, dir, logFile, smtpServer.Addr, dnsAddr, bootstrap, "auto")

	d := startDaemon(t, dir, "run", "--config", cfg)
	d.waitLog(t, "following", logFile)
	appendFile(t, logFile, attackLines(8, time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC), 40000))

	msg := smtpServer.Next(t)
	if len(msg.To) != 1 || msg.To[0] != "abuse@amazonaws.com" {
		t.Errorf("RCPT TO = %v; want ARIN's abuse contact for 3.3.3.3, abuse@amazonaws.com", msg.To)
	}
	if msg.From != "abusewatch@example.org" {
		t.Errorf("MAIL FROM = %q", msg.From)
	}
	m, err := mail.ReadMessage(strings.NewReader(string(msg.Data)))
	if err != nil {
		t.Fatalf("the report is not a valid message: %v", err)
	}
	if to := m.Header.Get("To"); !strings.Contains(to, "abuse@amazonaws.com") {
		t.Errorf("To: %q", to)
	}
	body := decodedBody(t, m)
	for _, want := range []string{"3.3.3.3 (scanner.attacker.test)", "Connections:     8 (8 log lines)", "Failed password for root from 3.3.3.3", "+0000", "Test Admin"} {
		if !strings.Contains(body, want) {
			t.Errorf("the report does not contain %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "10.1.1.1") {
		t.Error("the report mentions the private address 10.1.1.1")
	}
	select {
	case q := <-queries:
		if !strings.HasSuffix(q, "/ip/3.3.3.3") {
			t.Errorf("RDAP query for %s", q)
		}
	default:
		t.Error("the RDAP server was never asked")
	}
	if zone.Queries.Load() == 0 {
		t.Error("the DNS server was never asked for the reverse name")
	}
	d.waitLog(t, "report delivered")
	smtpServer.Nothing(t) // one report, not one per batch

	// SIGTERM: commit and exit 0.
	d.cmd.Process.Signal(syscall.SIGTERM)
	exited := make(chan error, 1)
	go func() { <-d.done; exited <- d.cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("after SIGTERM the daemon exited with %v; want status 0", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the daemon did not stop within 30s of SIGTERM")
	}
}

// A daemon killed with SIGKILL continues exactly where its last commit ended: every
// event is counted once across the restart.
func TestRunResumesAfterSIGKILLWithoutLosingOrRepeatingLines(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "auth.log")
	appendFile(t, logFile, "")
	smtpServer := mailtest.Start(t, mailtest.Options{})
	dnsAddr, _ := lookuptest.ServeZone(t, testZone)
	rdap, _ := rdapServer(t)
	bootstrap := lookuptest.WriteBootstrap(t, rdap.URL, []string{"3.0.0.0/8"}, []string{"2600::/12"})
	cfg := writeRunConfig(t, dir, logFile, smtpServer.Addr, dnsAddr, bootstrap, "auto")

	start := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
	d := startDaemon(t, dir, "run", "--debug", "--config", cfg)
	d.waitLog(t, "following", logFile)
	appendFile(t, logFile, attackLines(3, start, 40000)) // 3 failures: below the threshold of 5
	d.waitLog(t, "batch committed", "total=6")
	d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.done
	d.cmd.Wait()

	// Lines written while it was down, then the daemon comes back in auto mode.
	appendFile(t, logFile, attackLines(4, start.Add(time.Minute), 50000))
	d2 := startDaemon(t, dir, "run", "--debug", "--config", cfg)
	d2.waitLog(t, "following", logFile, "offset=")
	msg := smtpServer.Next(t)
	m, err := mail.ReadMessage(strings.NewReader(string(msg.Data)))
	if err != nil {
		t.Fatal(err)
	}
	if body := decodedBody(t, m); !strings.Contains(body, "Connections:     7 (7 log lines)") {
		t.Errorf("want exactly 7 events from 3.3.3.3 (3 before the kill, 4 after):\n%s", body)
	}
}

// decodedBody returns the text of a single-part message, undoing its transfer encoding.
func decodedBody(t *testing.T, m *mail.Message) string {
	t.Helper()
	var r io.Reader = m.Body
	if strings.EqualFold(m.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		r = quotedprintable.NewReader(r)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
