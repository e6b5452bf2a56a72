package mailer

import (
	"bytes"
	"mime"
	"net/mail"
	"testing"
	"time"
)

// The alert's subject names the newest login of its first possible compromise; the
// user and host names come from the log, so they are sanitised and cut.
func TestCompromiseAlertSubject(t *testing.T) {
	at := time.Date(2026, 11, 20, 9, 1, 25, 0, time.UTC)
	login := func(user, host string) Line {
		return Line{Time: at, Addr: "91.240.118.5", User: user, Host: host, Text: "sshd: Accepted password for " + user}
	}
	for _, tc := range []struct {
		name string
		c    []SummaryIncident
		want string
	}{
		{"no login kept", []SummaryIncident{{ID: "a", Source: "91.240.118.5"}},
			"POSSIBLE COMPROMISE: login from 91.240.118.5"},
		{"the newest login", []SummaryIncident{{ID: "a", Source: "91.240.118.0/24", Logins: []Line{login("alice", "web1"), login("bob", "web2")}}},
			"POSSIBLE COMPROMISE: login from 91.240.118.5"},
		{"two sources", []SummaryIncident{{ID: "a", Source: "91.240.118.5", Logins: []Line{login("alice", "web1")}}, {ID: "b", Source: "45.134.26.0/24"}},
			"POSSIBLE COMPROMISE: login from 91.240.118.5 (and 1 other source)"},
		// Log text never reaches a header: the user and host names are the log's (the
		// attacker's, in a forged line), and a mail client decodes an encoded word in
		// a subject into other words.
		{"log text", []SummaryIncident{{ID: "a", Source: "91.240.118.5", Logins: []Line{login("=?utf-8?b?c2VlIGh0dHBzOi8vZXZpbC5leGFtcGxlLw==?=\r\nBcc: x@example.net\u202e", "web1\x1b[2J")}}},
			"POSSIBLE COMPROMISE: login from 91.240.118.5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg, err := ComposeCompromiseAlert(CompromiseAlert{Host: "gw", Compromises: tc.c}, "abusewatch@example.org", "root@example.org", at)
			if err != nil {
				t.Fatal(err)
			}
			m, err := mail.ReadMessage(bytes.NewReader(msg))
			if err != nil {
				t.Fatal(err)
			}
			subject, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
			if err != nil || subject != tc.want {
				t.Errorf("subject %q (%v), want %q", subject, err, tc.want)
			}
			if m.Header.Get("Bcc") != "" || len(m.Header["To"]) != 1 {
				t.Errorf("headers %v", m.Header)
			}
		})
	}
}
