package daemon

import (
	"bytes"
	"fmt"
	"mime"
	"net/mail"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/mailer/mailtest"
	"github.com/abusewatch/abusewatch/store"
)

// A possible compromise (a login that succeeded from an address that was attacking) is
// mailed to the admin at the round that finds it, over the transport the summary uses,
// against a real SMTP server on loopback and a real store.

// alertPipeline builds a pipeline in mode that mails over SMTP to server, with admin as
// mail.admin ("" for none) and no daily summary.
func alertPipeline(t *testing.T, server, mode, admin string) (*Pipeline, *store.Store, *logBuffer) {
	t.Helper()
	dir := t.TempDir()
	doc := `
[reporter]
name = "Sam Example"
email = "security@example.org"
timezone = "UTC"

[lookup]
rdap = false
resolvers = ["127.0.0.1:1"]
timeout = "100ms"

[[contact]]
network = "91.240.118.0/24"
emails = ["abuse@scanner.example"]

[mail]
transport = "smtp"
server = "` + server + `"
tls = "none"
timeout = "10s"
from = "abusewatch@example.org"
admin = "` + admin + `"

[policy]
settle = "0s"
mode = "` + mode + `"

[summary]
time = ""

[store]
path = "` + filepath.Join(dir, "state.db") + `"
`
	return pipelineOf(t, dir, doc)
}

// compromised stores the incident the success-after-failure rule makes of fails failed
// logins from addr from first on, then a login as user on host a minute after the last.
func compromised(t *testing.T, st *store.Store, addr, user, host string, first time.Time, fails int) abusewatch.Incident {
	t.Helper()
	a := netip.MustParseAddr(addr)
	inc := abusewatch.Incident{
		ID: "succ-" + addr, Key: "success:" + addr, Rule: "success-after-failure", Addr: a, Network: netip.PrefixFrom(a, 32),
		Classes: []abusewatch.Class{abusewatch.ClassAuthFailure, abusewatch.ClassAuthSuccess}, First: first,
		Count: fails + 1, Attempts: fails, Hosts: []string{host}, Severity: 5, Success: true, AdminOnly: true,
	}
	for i := range fails {
		at := first.Add(time.Duration(i) * 5 * time.Second)
		inc.Evidence = append(inc.Evidence, abusewatch.Event{Time: at, Class: abusewatch.ClassAuthFailure, Addr: a, Port: uint16(40000 + i),
			User: "root", Host: host, Line: fmt.Sprintf("%s sshd[%d]: Failed password for root from %s port %d ssh2", host, 100+i, addr, 40000+i)})
		inc.Last = at
	}
	inc.Last = inc.Last.Add(time.Minute)
	inc.Evidence = append(inc.Evidence, abusewatch.Event{Time: inc.Last, Class: abusewatch.ClassAuthSuccess, Addr: a, Port: 31857,
		User: user, Host: host, Line: fmt.Sprintf("%s sshd[32972]: Accepted password for %s from %s port 31857 ssh2", host, user, addr)})
	if err := st.PutIncidents([]abusewatch.Incident{inc}); err != nil {
		t.Fatal(err)
	}
	return inc
}

// alertMail is a compromise alert as the admin reads it.
type alertMail struct {
	to, subject, body string
	header            mail.Header
}

func readAlert(t *testing.T, m mailtest.Message) alertMail {
	t.Helper()
	h, parts, err := mailtest.Parts(m.Data)
	if err != nil {
		t.Fatal(err)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	var body strings.Builder
	for _, p := range parts {
		body.Write(bytes.ReplaceAll(p.Body, []byte("\r\n"), []byte("\n")))
	}
	return alertMail{to: strings.Join(m.To, ","), subject: subject, body: body.String(), header: h}
}

func TestPossibleCompromiseIsMailedToTheAdminAtOnceInEveryMode(t *testing.T) {
	for _, mode := range []string{"observe", "review", "auto"} {
		t.Run(mode, func(t *testing.T) {
			srv := mailtest.Start(t, mailtest.Options{})
			p, st, _ := alertPipeline(t, srv.Addr, mode, "root@example.org")
			inc := compromised(t, st, "91.240.118.5", "alice", "web1", t0, 6)
			if err := p.Tick(t.Context(), t0.Add(5*time.Minute)); err != nil {
				t.Fatal(err)
			}
			m := readAlert(t, srv.Next(t))
			if m.to != "root@example.org" {
				t.Errorf("mailed to %s, want the admin alone", m.to)
			}
			if want := "POSSIBLE COMPROMISE: login from 91.240.118.5"; m.subject != want {
				t.Errorf("subject %q, want %q", m.subject, want)
			}
			saysAll(t, "the alert", m.body,
				"Accepted password for alice from 91.240.118.5 port 31857",          // the login line
				`2026-11-20 09:01:25 +0000  as "alice"  on web1  from 91.240.118.5`, // its time, account (quoted), host
				"Failed password for root from 91.240.118.5 port 40000",             // the failures before it
				"The incident: 7 events (auth-failure, auth-success)",
				"incident "+inc.ID,
				"abusewatch ip --config "+p.cfg.file+" 91.240.118.5", // what to do
				"What to do:",
			)
			// Told once: the next rounds send nothing, and nothing goes outside.
			for i := range 2 {
				if err := p.Tick(t.Context(), t0.Add(time.Duration(i+2)*5*time.Minute)); err != nil {
					t.Fatal(err)
				}
			}
			srv.Nothing(t)
			if rs := reportsIn(t, st); len(rs) != 0 {
				t.Errorf("%d reports about a possible compromise", len(rs))
			}
		})
	}
}

// The work list remembers what the admin was told: after a restart (the store opened
// again by a new pipeline) the same incident is not mailed again, its growth is, and
// what a round finds goes in one mail.
func TestPossibleCompromiseIsMailedOncePerGrowthAcrossRestarts(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	p, st, _ := alertPipeline(t, srv.Addr, "review", "root@example.org")
	ctx := t.Context()
	inc := compromised(t, st, "91.240.118.5", "alice", "web1", t0, 6)
	if err := p.Report(ctx, t0.Add(5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	srv.Next(t)

	path := p.cfg.Store.Path
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	p, err = NewPipeline(p.cfg, st, discardLog())
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name  string
		grow  func()
		mails int
		want  []string // in the subject or the body
	}{
		{"restarted", func() {}, 0, nil},
		{"grown: another login", func() {
			login := inc.Evidence[len(inc.Evidence)-1]
			login.Time, login.User = login.Time.Add(time.Hour), "bob"
			login.Line = strings.Replace(login.Line, "alice", "bob", 1)
			inc.Evidence, inc.Last, inc.Count = append(inc.Evidence, login), login.Time, inc.Count+1
			if err := st.PutIncidents([]abusewatch.Incident{inc}); err != nil {
				t.Fatal(err)
			}
		}, 1, []string{"login from 91.240.118.5", `  as "bob"  on web1  from 91.240.118.5`}},
		{"two in one round", func() {
			inc.Last, inc.Count = inc.Last.Add(time.Minute), inc.Count+1
			if err := st.PutIncidents([]abusewatch.Incident{inc}); err != nil {
				t.Fatal(err)
			}
			compromised(t, st, "91.240.118.9", "carol", "web2", t0.Add(2*time.Hour), 5)
		}, 1, []string{"POSSIBLE COMPROMISE: login from 91.240.118.", "(and 1 other source)"}},
		{"nothing new", func() {}, 0, nil},
	}
	for i, step := range steps {
		step.grow()
		if err := p.Report(ctx, t0.Add(time.Duration(i+2)*time.Hour)); err != nil {
			t.Fatal(err)
		}
		for range step.mails {
			m := readAlert(t, srv.Next(t))
			for _, want := range step.want {
				if !strings.Contains(m.subject, want) && !strings.Contains(m.body, want) {
					t.Errorf("%s: the alert %q does not say %q:\n%s", step.name, m.subject, want, m.body)
				}
			}
		}
		srv.Nothing(t)
	}
}

// A mail server that refuses for now leaves the incident on the work list: the next
// round mails it.
func TestPossibleCompromiseNotDeliveredIsMailedAtTheNextRound(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{Replies: []error{mailtest.Reply(451, "try again later")}})
	p, st, logs := alertPipeline(t, srv.Addr, "auto", "root@example.org")
	compromised(t, st, "91.240.118.5", "alice", "web1", t0, 6)
	if err := p.Report(t.Context(), t0.Add(5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	srv.Nothing(t)
	if !strings.Contains(logs.String(), "not mailed to the admin; tried again next round") {
		t.Errorf("no log line says the alert waits:\n%s", logs)
	}
	if err := p.Report(t.Context(), t0.Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if m := readAlert(t, srv.Next(t)); !strings.HasPrefix(m.subject, "POSSIBLE COMPROMISE") {
		t.Errorf("subject %q", m.subject)
	}
	if n := srv.Transactions(); n != 2 {
		t.Errorf("%d mail transactions, want the refused one and the one accepted", n)
	}
}

// The user name is the attacker's choice, and so may be a host name: the alert's body
// shows them sanitised, never as a header of their own, and its subject not at all.
func TestPossibleCompromiseAlertShowsLogTextAsText(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	p, st, _ := alertPipeline(t, srv.Addr, "auto", "root@example.org")
	user := "alice\r\nBcc: thief@example.net\r\n\u202etxt.exe" + strings.Repeat("x", 200)
	compromised(t, st, "91.240.118.5", user, "web1\x1b[31m", t0, 6)
	if err := p.Report(t.Context(), t0.Add(5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	raw := srv.Next(t)
	m := readAlert(t, raw)
	if len(raw.To) != 1 || m.header.Get("Bcc") != "" {
		t.Errorf("recipients %v, Bcc %q: the user name made a header", raw.To, m.header.Get("Bcc"))
	}
	for name, s := range map[string]string{"subject": m.subject, "body": m.body} {
		if strings.ContainsAny(s, "\u202e\x1b\r") {
			t.Errorf("the %s holds a control or bidi character: %q", name, s)
		}
	}
	if want := "POSSIBLE COMPROMISE: login from 91.240.118.5"; m.subject != want {
		t.Errorf("subject %q, want %q: no log text in a header", m.subject, want)
	}
	// Quoted, each control and bidi character escaped: the name the client chose, as it is.
	if !strings.Contains(m.body, `as "alice\r\nBcc: thief@example.net\r\n\u202etxt.exe`) {
		t.Errorf("the body does not name the account, quoted and escaped:\n%s", m.body)
	}
}

// An address's own incident marked Success holds only its failures (the login came
// after them): the alert finds the login among the stored events near it.
func TestPossibleCompromiseOfAnAddressIncidentShowsTheStoredLogin(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	p, st, _ := alertPipeline(t, srv.Addr, "auto", "root@example.org")
	inc := attack(t, st, "91.240.118.5", t0, 6)
	inc.Success = true
	if err := st.PutIncidents([]abusewatch.Incident{inc}); err != nil {
		t.Fatal(err)
	}
	login := abusewatch.Event{Time: inc.Last.Add(35 * time.Second), Class: abusewatch.ClassAuthSuccess, Addr: inc.Addr, Port: 31857,
		User: "alice", Host: "web1", Service: "sshd", Line: "web1 sshd[32972]: Accepted password for alice from 91.240.118.5 port 31857 ssh2"}
	other := login // from another address: not this incident's
	other.Addr, other.User, other.Line = netip.MustParseAddr("91.240.118.77"), "dave", "web1 sshd[1]: Accepted password for dave from 91.240.118.77"
	if _, err := st.Commit([]abusewatch.Event{login, other}, nil); err != nil {
		t.Fatal(err)
	}
	if err := p.Report(t.Context(), t0.Add(5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	m := readAlert(t, srv.Next(t))
	if want := "POSSIBLE COMPROMISE: login from 91.240.118.5"; m.subject != want {
		t.Errorf("subject %q, want %q", m.subject, want)
	}
	if !strings.Contains(m.body, login.Line) || strings.Contains(m.body, "dave") {
		t.Errorf("the alert does not show the address's login alone:\n%s", m.body)
	}
}

// The main loop goes on reading the logs while the round mails the alert: an incident
// that grew meanwhile by another login stays on the work list, and the next round mails
// its growth. An attack that only goes on after the login is mailed again an hour after
// the last mail, not at every round.
func TestPossibleCompromiseThatGrowsWhileMailedIsMailedAgain(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{Hold: true})
	p, st, _ := alertPipeline(t, srv.Addr, "auto", "root@example.org")
	inc := compromised(t, st, "91.240.118.5", "alice", "web1", t0, 6)
	done := make(chan error, 1)
	go func() { done <- p.Report(t.Context(), t0.Add(5*time.Minute)) }()
	srv.Holding(t)
	login := inc.Evidence[len(inc.Evidence)-1]
	login.Time, login.Port = inc.Last.Add(time.Minute), 31999
	login.Line = "web1 sshd[33001]: Accepted password for alice from 91.240.118.5 port 31999 ssh2"
	inc.Evidence = append(inc.Evidence, login)
	inc.Last, inc.Count = login.Time, inc.Count+1
	if err := st.PutIncidents([]abusewatch.Incident{inc}); err != nil {
		t.Fatal(err)
	}
	srv.Release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	first := readAlert(t, srv.Next(t))
	if err := p.Report(t.Context(), t0.Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	second := readAlert(t, srv.Next(t))
	if !strings.Contains(first.body, "7 events") || !strings.Contains(second.body, "8 events") || !strings.Contains(second.body, "port 31999") {
		t.Errorf("the alerts say\n%s\nthen\n%s\nwant 7 events, then 8 with the new login", first.body, second.body)
	}
	if err := p.Report(t.Context(), t0.Add(15*time.Minute)); err != nil {
		t.Fatal(err)
	}
	srv.Nothing(t)

	// The attack goes on, no new login: not mailed at the next rounds, but an hour after
	// the last mail.
	for i, at := range []time.Duration{20 * time.Minute, 25 * time.Minute, 70 * time.Minute} {
		fail := inc.Evidence[0]
		fail.Time, fail.Port = inc.Last.Add(time.Minute), uint16(41000+i)
		fail.Line = fmt.Sprintf("web1 sshd[%d]: Failed password for root from 91.240.118.5 port %d ssh2", 34000+i, fail.Port)
		inc.Evidence = append(inc.Evidence, fail)
		inc.Last, inc.Count = fail.Time, inc.Count+1
		if err := st.PutIncidents([]abusewatch.Incident{inc}); err != nil {
			t.Fatal(err)
		}
		if err := p.Report(t.Context(), t0.Add(at)); err != nil {
			t.Fatal(err)
		}
		if at < 70*time.Minute {
			srv.Nothing(t)
		} else if m := readAlert(t, srv.Next(t)); !strings.Contains(m.body, "11 events") {
			t.Errorf("an hour on, the alert says\n%s\nwant 11 events", m.body)
		}
	}
}

// Another login from an address already mailed about (a second account) is mailed too,
// though it leaves the incident, marked already, as it was: the incidents mailed within
// the day are looked at again at every round.
func TestAnotherLoginFromACompromisedAddressIsMailed(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	p, st, _ := alertPipeline(t, srv.Addr, "auto", "root@example.org")
	inc := compromised(t, st, "91.240.118.5", "alice", "web1", t0, 6)
	if err := p.Report(t.Context(), t0.Add(5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if m := readAlert(t, srv.Next(t)); !strings.Contains(m.body, `  as "alice"  on `) {
		t.Fatalf("first alert: %q", m.subject)
	}
	bob := abusewatch.Event{Time: inc.Last.Add(2 * time.Minute), Class: abusewatch.ClassAuthSuccess, Addr: inc.Addr, Port: 32001,
		User: "bob", Host: "web1", Service: "sshd", Line: "web1 sshd[33100]: Accepted password for bob from 91.240.118.5 port 32001 ssh2"}
	if _, err := st.Commit([]abusewatch.Event{bob}, nil); err != nil {
		t.Fatal(err)
	}
	if err := p.Report(t.Context(), t0.Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if m := readAlert(t, srv.Next(t)); !strings.Contains(m.body, `  as "bob"  on `) || !strings.Contains(m.body, "Accepted password for bob") {
		t.Errorf("the second login's alert says %q\n%s", m.subject, m.body)
	}
	if err := p.Report(t.Context(), t0.Add(15*time.Minute)); err != nil {
		t.Fatal(err)
	}
	srv.Nothing(t)
}

// What the admin was mailed survives a restart (systemd, an upgrade, a crash): the
// pipeline of a new process on the same database does not mail a possible compromise
// again because its attack goes on within the hour, and does mail another login from
// its address, in the incident or only among the stored events.
func TestPossibleCompromiseIsNotMailedAgainByARestartedDaemon(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	p, st, _ := alertPipeline(t, srv.Addr, "auto", "root@example.org")
	ctx := t.Context()
	inc := compromised(t, st, "91.240.118.5", "alice", "web1", t0, 6)
	if err := p.Report(ctx, t0.Add(5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if m := readAlert(t, srv.Next(t)); !strings.Contains(m.body, `  as "alice"  on `) {
		t.Fatalf("first alert: %q", m.subject)
	}
	restart := func() {
		t.Helper()
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		var err error
		if st, err = store.Open(p.cfg.Store.Path, time.Second); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		if p, err = NewPipeline(p.cfg, st, discardLog()); err != nil {
			t.Fatal(err)
		}
	}
	restart()
	// The attack goes on after the login: the incident grows, with no new login.
	fail := inc.Evidence[0]
	fail.Time, fail.Port = inc.Last.Add(time.Minute), 41000
	fail.Line = "web1 sshd[34000]: Failed password for root from 91.240.118.5 port 41000 ssh2"
	inc.Evidence, inc.Last, inc.Count = append(inc.Evidence, fail), fail.Time, inc.Count+1
	if err := st.PutIncidents([]abusewatch.Incident{inc}); err != nil {
		t.Fatal(err)
	}
	if err := p.Report(ctx, t0.Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	srv.Nothing(t)

	// Another account: a login stored near the incident, which it leaves as it was.
	restart()
	bob := abusewatch.Event{Time: inc.Last.Add(2 * time.Minute), Class: abusewatch.ClassAuthSuccess, Addr: inc.Addr, Port: 32001,
		User: "bob", Host: "web1", Service: "sshd", Line: "web1 sshd[33100]: Accepted password for bob from 91.240.118.5 port 32001 ssh2"}
	if _, err := st.Commit([]abusewatch.Event{bob}, nil); err != nil {
		t.Fatal(err)
	}
	if err := p.Report(ctx, t0.Add(15*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if m := readAlert(t, srv.Next(t)); !strings.Contains(m.body, `  as "bob"  on `) {
		t.Errorf("another login after a restart: %q", m.subject)
	}

	// A login in the incident's own evidence, after another restart.
	restart()
	carol := bob
	carol.Time, carol.User, carol.Port = bob.Time.Add(time.Minute), "carol", 32002
	carol.Line = "web1 sshd[33200]: Accepted password for carol from 91.240.118.5 port 32002 ssh2"
	inc.Evidence, inc.Last, inc.Count = append(inc.Evidence, carol), carol.Time, inc.Count+1
	if err := st.PutIncidents([]abusewatch.Incident{inc}); err != nil {
		t.Fatal(err)
	}
	if err := p.Report(ctx, t0.Add(20*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if m := readAlert(t, srv.Next(t)); !strings.Contains(m.body, `  as "carol"  on `) {
		t.Errorf("a login in the incident after a restart: %q", m.subject)
	}
	restart()
	if err := p.Report(ctx, t0.Add(25*time.Minute)); err != nil {
		t.Fatal(err)
	}
	srv.Nothing(t)
}
