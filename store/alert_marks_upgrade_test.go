package store_test

import (
	"io"
	"log/slog"
	"mime"
	"net/mail"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/daemon"
	"github.com/abusewatch/abusewatch/store"
)

// An upgrade from a version that kept the marks of the compromise alerts in memory
// (5cd677f and before) leaves a store that says nothing of what it mailed. These tests
// live here, beside the migration tests, as they need the store as that version left
// it; the daemon's pipeline reads the logs (scan's path) and mails the admin into a
// maildir, as it does for a version before the marks and after the upgrade.

// Another login from an address that version mailed about, which leaves the incident
// it mailed as it was, is mailed after the upgrade.
func TestAnotherLoginAfterAnUpgradeFromMarksInMemoryIsMailed(t *testing.T) {
	r := startBeforeMarks(t)
	r.round("the login after failures", loginAfterFailures, 10*time.Minute, "POSSIBLE COMPROMISE: login from 81.2.69.160 as \"sam\" on web1")
	r.restart(true)
	r.round("upgraded: another login", anotherLogin, 20*time.Minute, "POSSIBLE COMPROMISE: login from 81.2.69.160 as \"backup\" on web1")
	r.round("nothing new", "", 30*time.Minute)
}

// The attack going on after the login that version mailed about is not mailed again
// within the hour after the upgrade, and another login is.
func TestAttackGoingOnAfterAnUpgradeFromMarksInMemoryIsNotMailedAgain(t *testing.T) {
	r := startBeforeMarks(t)
	r.round("the login after failures", loginAfterFailures, 10*time.Minute, "POSSIBLE COMPROMISE: login from 81.2.69.160 as \"sam\" on web1")
	r.restart(true)
	r.round("upgraded: the attack goes on", ""+
		"2026-11-20T05:05:40.100000+00:00 web1 sshd[39300]: Failed password for sam from 81.2.69.160 port 33001 ssh2\n"+
		"2026-11-20T05:05:45.100000+00:00 web1 sshd[39301]: Failed password for root from 81.2.69.160 port 33002 ssh2\n",
		20*time.Minute)
	r.round("another login", anotherLogin, 30*time.Minute, "POSSIBLE COMPROMISE: login from 81.2.69.160 as \"backup\" on web1")
}

// A possible compromise whose address the admin excluded before that version's round
// left the work list unmailed: after the upgrade, another login from it is not mailed
// either.
func TestAnAddressExcludedBeforeItsAlertIsNotWatchedAfterAnUpgrade(t *testing.T) {
	r := startBeforeMarks(t)
	r.read(loginAfterFailures)
	if err := r.st.AddExclusion(store.Exclusion{Network: netip.MustParsePrefix("81.2.69.160/32"), Added: t0}); err != nil {
		t.Fatal(err)
	}
	r.restart(false)
	r.round("excluded before its round", "", 10*time.Minute)
	r.restart(true)
	r.round("upgraded: another login", anotherLogin, 20*time.Minute)
}

const (
	loginAfterFailures = "" +
		"2026-11-20T05:05:00.100000+00:00 web1 sshd[28507]: Failed password for sam from 81.2.69.160 port 30934 ssh2\n" +
		"2026-11-20T05:05:05.100000+00:00 web1 sshd[36750]: Failed password for sam from 81.2.69.160 port 58229 ssh2\n" +
		"2026-11-20T05:05:10.100000+00:00 web1 sshd[23630]: Failed password for sam from 81.2.69.160 port 35536 ssh2\n" +
		"2026-11-20T05:05:15.100000+00:00 web1 sshd[44961]: Failed password for sam from 81.2.69.160 port 63157 ssh2\n" +
		"2026-11-20T05:05:20.100000+00:00 web1 sshd[38476]: Failed password for sam from 81.2.69.160 port 45873 ssh2\n" +
		"2026-11-20T05:05:25.100000+00:00 web1 sshd[39205]: Failed password for sam from 81.2.69.160 port 32964 ssh2\n" +
		"2026-11-20T05:05:30.100000+00:00 web1 sshd[39206]: Accepted password for sam from 81.2.69.160 port 32965 ssh2\n"
	anotherLogin = "2026-11-20T05:06:30.100000+00:00 web1 sshd[39400]: Accepted password for backup from 81.2.69.160 port 33100 ssh2\n"
)

// t0 is when the tests' logs begin.
var t0 = time.Date(2026, 11, 20, 5, 5, 0, 0, time.UTC)

// upgradeRig is a daemon's pipeline over a store in a temporary directory, reading
// auth.log there and mailing the admin into a maildir there.
type upgradeRig struct {
	t                  *testing.T
	cfg                *daemon.Config
	log, path, maildir string
	st                 *store.Store
	p                  *daemon.Pipeline
	mailed             map[string]bool // the maildir's files read so far
}

// startBeforeMarks starts the process of the version before the marks: this version's
// pipeline, whose marks restart(true) takes away.
func startBeforeMarks(t *testing.T) *upgradeRig {
	t.Helper()
	dir := t.TempDir()
	r := &upgradeRig{t: t, log: filepath.Join(dir, "auth.log"), path: filepath.Join(dir, "state.db"),
		maildir: filepath.Join(dir, "maildir"), mailed: map[string]bool{}}
	var err error
	r.cfg, err = daemon.ParseConfig(filepath.Join(dir, "abusewatch.toml"), []byte(`
[reporter]
name = "Sam Example"
email = "security@example.org"
timezone = "UTC"

[detect]
timezone = "UTC"

[lookup]
rdap = false
resolvers = ["127.0.0.1:1"]
timeout = "100ms"

[[contact]]
network = "81.2.69.0/24"
emails = ["abuse@broadband.example"]

[mail]
transport = "maildir"
maildir = "`+r.maildir+`"
from = "abusewatch@example.org"
admin = "root@example.org"

[policy]
mode = "observe"

[summary]
time = ""

[store]
path = "`+r.path+`"
`))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if r.st != nil {
			r.st.Close()
		}
	})
	r.start()
	return r
}

func (r *upgradeRig) start() {
	r.t.Helper()
	var err error
	if r.st, err = store.Open(r.path, time.Second); err != nil {
		r.t.Fatal(err)
	}
	if r.p, err = daemon.NewPipeline(r.cfg, r.st, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		r.t.Fatal(err)
	}
}

// restart stops the process and starts another; upgraded, of this version over the
// store as the version before the marks left it.
func (r *upgradeRig) restart(upgraded bool) {
	r.t.Helper()
	err := r.st.Close()
	r.st = nil
	if err != nil {
		r.t.Fatal(err)
	}
	if upgraded {
		store.LeaveAsBeforeAlertMarks(r.t, r.path)
	}
	r.start()
}

// read appends lines to the log and reads them.
func (r *upgradeRig) read(lines string) {
	r.t.Helper()
	appendTo(r.t, r.log, lines)
	if err := r.p.ScanFiles(r.t.Context(), []string{r.log}, time.Time{}); err != nil {
		r.t.Fatal(err)
	}
}

// round reads lines, then runs a round of the outbox at t0+at, which is to mail the
// admin the alerts whose subjects are want (sorted).
func (r *upgradeRig) round(step, lines string, at time.Duration, want ...string) {
	r.t.Helper()
	r.read(lines)
	if err := r.p.Tick(r.t.Context(), t0.Add(at)); err != nil {
		r.t.Fatal(err)
	}
	if got := newAlerts(r.t, r.maildir, r.mailed); !slices.Equal(got, want) {
		r.t.Errorf("%s: the round mailed the admin %q, want %q", step, got, want)
	}
}

// appendTo appends lines to the log file at path.
func appendTo(t *testing.T, path, lines string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(lines); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// alertLogin is a login line of an alert's body: "TIME  as USER  on HOST  from ADDR".
var alertLogin = regexp.MustCompile(`(?m)  as (\S+)  on (\S+)  from `)

// newAlerts are the subjects of the mails to the admin in maildir not in read, with
// the account and host of the newest login they show, sorted;
// it adds their files to read.
func newAlerts(t *testing.T, maildir string, read map[string]bool) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(maildir, "new", "*"))
	if err != nil {
		t.Fatal(err)
	}
	var subjects []string
	for _, f := range files {
		if read[f] {
			continue
		}
		read[f] = true
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m, err := mail.ReadMessage(strings.NewReader(string(b)))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if m.Header.Get("To") != "<root@example.org>" {
			continue // a report to an abuse desk
		}
		subject, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
		if err != nil {
			t.Fatal(err)
		}
		// The subject names the address alone (no log text in a header): the
		// newest login's account and host are the body's last login line.
		body, err := io.ReadAll(m.Body)
		if err != nil {
			t.Fatal(err)
		}
		if logins := alertLogin.FindAllStringSubmatch(string(body), -1); len(logins) > 0 {
			last := logins[len(logins)-1]
			subject += " as " + last[1] + " on " + last[2]
		}
		subjects = append(subjects, subject)
	}
	slices.Sort(subjects)
	return subjects
}
