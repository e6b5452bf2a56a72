package store_test

import (
	"io"
	"log/slog"
	"mime"
	"net/mail"
	"os"
	"path/filepath"
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
	runUpgrade(t, []upgradeStep{
		{"the login after failures", false, loginAfterFailures, []string{"POSSIBLE COMPROMISE: login from 81.2.69.160 as sam on web1"}},
		{"upgraded: another login", true, anotherLogin, []string{"POSSIBLE COMPROMISE: login from 81.2.69.160 as backup on web1"}},
		{"nothing new", false, "", nil},
	})
}

// The attack going on after the login that version mailed about is not mailed again
// within the hour after the upgrade, and another login is.
func TestAttackGoingOnAfterAnUpgradeFromMarksInMemoryIsNotMailedAgain(t *testing.T) {
	runUpgrade(t, []upgradeStep{
		{"the login after failures", false, loginAfterFailures, []string{"POSSIBLE COMPROMISE: login from 81.2.69.160 as sam on web1"}},
		{"upgraded: the attack goes on", true, "" +
			"2026-11-20T05:05:40.100000+00:00 web1 sshd[39300]: Failed password for sam from 81.2.69.160 port 33001 ssh2\n" +
			"2026-11-20T05:05:45.100000+00:00 web1 sshd[39301]: Failed password for root from 81.2.69.160 port 33002 ssh2\n",
			nil},
		{"another login", false, anotherLogin, []string{"POSSIBLE COMPROMISE: login from 81.2.69.160 as backup on web1"}},
	})
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

// upgradeStep is lines logged, then read and a round of the outbox ten minutes after
// the last step's, which mails the admin the alerts of want (their subjects, sorted).
// upgrade: the process before it was the version without the marks.
type upgradeStep struct {
	name    string
	upgrade bool
	lines   string
	want    []string
}

// runUpgrade runs steps, the first in a process of that version.
func runUpgrade(t *testing.T, steps []upgradeStep) {
	t.Helper()
	dir := t.TempDir()
	log, path, maildir := filepath.Join(dir, "auth.log"), filepath.Join(dir, "state.db"), filepath.Join(dir, "maildir")
	cfg, err := daemon.ParseConfig(filepath.Join(dir, "abusewatch.toml"), []byte(`
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
maildir = "`+maildir+`"
from = "abusewatch@example.org"
admin = "root@example.org"

[policy]
mode = "observe"

[summary]
time = ""

[store]
path = "`+path+`"
`))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 20, 5, 5, 0, 0, time.UTC)
	var st *store.Store
	var p *daemon.Pipeline
	t.Cleanup(func() {
		if st != nil {
			st.Close()
		}
	})
	mailed := map[string]bool{} // the maildir's files read so far
	for i, step := range steps {
		if st == nil || step.upgrade {
			if st != nil {
				if err := st.Close(); err != nil {
					t.Fatal(err)
				}
				store.LeaveAsBeforeAlertMarks(t, path)
			}
			if st, err = store.Open(path, time.Second); err != nil {
				t.Fatal(err)
			}
			if p, err = daemon.NewPipeline(cfg, st, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
				t.Fatal(err)
			}
		}
		appendTo(t, log, step.lines)
		if err := p.ScanFiles(t.Context(), []string{log}, time.Time{}); err != nil {
			t.Fatal(err)
		}
		if err := p.Tick(t.Context(), t0.Add(time.Duration(i+1)*10*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if got := newAlerts(t, maildir, mailed); !slices.Equal(got, step.want) {
			t.Errorf("%s: the round mailed the admin %q, want %q", step.name, got, step.want)
		}
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

// newAlerts are the subjects of the mails to the admin in maildir not in read, sorted;
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
		subjects = append(subjects, subject)
	}
	slices.Sort(subjects)
	return subjects
}
