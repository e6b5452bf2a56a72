package mailer

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
)

// The subject and the memo name the protocol of the server that logged the failed
// logins, not SSH for every one (review 21b L2); logins of several servers, or of one
// abusewatch does not know, are "login attempts". X-ARF's protocol is the packets' as
// the firewall logged them, tcp for the servers' lines.
func TestTheReportNamesTheServersProtocol(t *testing.T) {
	for _, tc := range []struct {
		name     string
		services []string
		proto    string // of the events, as a firewall logs it
		subject  string
		reason   string
		xarf     string
	}{
		{"sshd", []string{"sshd", "sshd-session"}, "", "repeated SSH login attempts", "repeated failed SSH login attempts", "tcp"},
		{"dovecot", []string{"dovecot"}, "", "repeated IMAP/POP3 login attempts", "repeated failed IMAP/POP3 login attempts", "tcp"},
		{"postfix", []string{"postfix/smtpd"}, "", "repeated SMTP login attempts", "repeated failed SMTP login attempts", "tcp"},
		{"vsftpd", []string{"vsftpd"}, "", "repeated FTP login attempts", "repeated failed FTP login attempts", "tcp"},
		{"postgres", []string{"postgres"}, "", "repeated PostgreSQL login attempts", "repeated failed PostgreSQL login attempts", "tcp"},
		{"two servers", []string{"sshd", "dovecot"}, "", "repeated login attempts", "repeated failed login attempts", "tcp"},
		{"a program of a rule file of the admin's", []string{"myapp"}, "", "repeated login attempts", "repeated failed login attempts", "tcp"},
		{"udp packets", []string{"sshd"}, "UDP", "repeated SSH login attempts", "repeated failed SSH login attempts", "udp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inc := testIncident()
			inc.Classes = []abusewatch.Class{abusewatch.ClassAuthFailure}
			inc.Evidence = nil
			for i, svc := range tc.services {
				inc.Evidence = append(inc.Evidence, abusewatch.Event{Time: inc.First.Add(time.Duration(i) * time.Second), Addr: inc.Addr,
					Class: abusewatch.ClassAuthFailure, Port: uint16(4000 + i), Host: "web1", Service: svc, Proto: tc.proto,
					Line: svc + "[1]: authentication failure from " + inc.Addr.String()})
			}
			r, err := xarfComposer(t).Compose(testContact(), []abusewatch.Incident{inc}, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if want := "Abuse report: " + tc.subject + " from " + inc.Addr.String(); r.Subject != want {
				t.Errorf("Subject = %q, want %q", r.Subject, want)
			}
			_, ps, bodies := parts(t, r.Message)
			mustContain(t, strings.ReplaceAll(string(bodies[0]), "\r\n", "\n"), "Our logs show "+tc.reason+" coming from your network.")
			var doc map[string]any
			for i, p := range ps {
				if strings.HasPrefix(p.Header.Get("Content-Type"), "application/json") {
					if err := json.Unmarshal(bodies[i], &doc); err != nil {
						t.Fatal(err)
					}
				}
			}
			if doc["protocol"] != tc.xarf {
				t.Errorf("X-ARF protocol %v, want %s", doc["protocol"], tc.xarf)
			}
		})
	}
}
