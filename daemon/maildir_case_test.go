package daemon

import (
	"bytes"
	"cmp"
	"fmt"
	"net/mail"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/lookup/lookuptest"
	"github.com/abusewatch/abusewatch/store"
)

// The scenarios of review session 21 run as the review ran them: sshd lines in a log
// file, scanned by the real pipeline, the contacts from an RDAP server on loopback, the
// reports written into a maildir (/tmp/rv21/mkcase.sh and mklog.py).

// rv21Day is the day of the scenarios' log lines.
var rv21Day = time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)

// rv21Case is one scenario's pipeline: its directory (the maildir is DIR/maildir), the
// pipeline, its store and its log.
type rv21Case struct {
	dir  string
	p    *Pipeline
	st   *store.Store
	logs *logBuffer
}

// newRV21Case writes the scenario's config (threshold 5 in 10 minutes, network incidents
// of 5 addresses within an hour, a maildir) around the RDAP server r, with mailExtra
// appended to [mail], policy as [policy] (mode = "auto" when empty) and extra at the end.
func newRV21Case(t *testing.T, r *lookuptest.RDAP, mailExtra, policy, extra string) *rv21Case {
	t.Helper()
	dnsServer, _ := lookuptest.ServeZone(t, "host.example.test. 60 IN A 192.0.2.1\n")
	boot := lookuptest.WriteBootstrap(t, r.URL, []string{"0.0.0.0/0"}, []string{"::/0"})
	dir := t.TempDir()
	p, st, logs := pipelineOf(t, dir, fmt.Sprintf(`
[reporter]
name = "Rev Iewer"
organisation = "Review Org"
role = "Security"
email = "sec@review.example"
timezone = "UTC"

[detect]
timezone = "UTC"

[correlate]
threshold = 5
window = "10m"
network_addresses = 5
network_window = "1h"

[lookup]
resolvers = [%q]
bootstrap_dir = %q
guess = false

[mail]
transport = "maildir"
maildir = %q
from = "abusewatch@review.example"
admin = "root@review.example"
%s

[policy]
settle = "0s"
%s

[store]
path = %q
%s`, dnsServer, boot, filepath.Join(dir, "maildir"), mailExtra, cmp.Or(policy, `mode = "auto"`), filepath.Join(dir, "state.db"), extra))
	return &rv21Case{dir: dir, p: p, st: st, logs: logs}
}

// scan writes the log of bursts ("HH:MM ADDR N": N failed root logins from ADDR on port
// 40000+i, 2 s apart, from HH:MM on rv21Day), scans it and runs a round of the outbox
// at the hour after the last line, as `abusewatch scan` does.
func (c *rv21Case) scan(t *testing.T, bursts ...string) {
	t.Helper()
	type line struct {
		at   time.Time
		text string
	}
	var lines []line
	pid := 1000
	for _, b := range bursts {
		var hh, mm, n int
		var addr string
		if _, err := fmt.Sscanf(b, "%d:%d %s %d", &hh, &mm, &addr, &n); err != nil {
			t.Fatalf("burst %q: %v", b, err)
		}
		for i := range n {
			at := rv21Day.Add(time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute + time.Duration(2*i)*time.Second)
			pid++
			lines = append(lines, line{at, fmt.Sprintf("%s web1 sshd[%d]: Failed password for root from %s port %d ssh2",
				at.Format("2006-01-02T15:04:05.000000-07:00"), pid, addr, 40000+i)})
		}
	}
	slices.SortStableFunc(lines, func(a, b line) int { return a.at.Compare(b.at) })
	var text strings.Builder
	for _, l := range lines {
		text.WriteString(l.text + "\n")
	}
	file := filepath.Join(c.dir, fmt.Sprintf("auth%d.log", time.Now().UnixNano()))
	if err := os.WriteFile(file, []byte(text.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	// Written when its last line was: a scan dates no line after the file's last write.
	last := lines[len(lines)-1].at
	if err := os.Chtimes(file, last, last); err != nil {
		t.Fatal(err)
	}
	if err := c.p.ScanFiles(t.Context(), []string{file}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := c.p.Tick(t.Context(), lines[len(lines)-1].at.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
}

// mails are the reports in the maildir (the admin's mail aside), each as mailText gives
// it: the subject, the memo and the X-ARF parts with their evidence decoded.
func (c *rv21Case) mails(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, m := range c.messages(t) {
		if to := m.header.Get("To"); to != "<root@review.example>" {
			out = append(out, "To: "+to+"\n"+mailText(t, m.raw))
		}
	}
	return out
}

// maildirMessage is one mail file of a case's maildir: its bytes and its header.
type maildirMessage struct {
	raw    []byte
	header mail.Header
}

// messages are the mails in c's maildir, in the order of their file names.
func (c *rv21Case) messages(t *testing.T) []maildirMessage {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(c.dir, "maildir", "new", "*"))
	if err != nil {
		t.Fatal(err)
	}
	var out []maildirMessage
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m, err := mail.ReadMessage(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, maildirMessage{b, m.Header})
	}
	return out
}

// answer serves an RDAP network answer for network with one abuse address.
func answer(r *lookuptest.RDAP, network, name, country, abuse string) {
	r.Answer(network, lookuptest.NetworkAnswer(netip.MustParsePrefix(network), name, country, abuse))
}
