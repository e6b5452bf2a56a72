package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/mailer"
	"github.com/abusewatch/abusewatch/store"
)

// A report found `sending` after a stop is settled by the maildir, which can tell: its
// message there, it was delivered (sent, where, and its cooldown begun); not there, it
// was not, and it is queued again and delivered once. Over SMTP it went to the admin
// (it may have arrived); a maildir asked the same question it can answer.
func TestAReportCutShortByAStopIsSettledByTheMaildir(t *testing.T) {
	for _, arrived := range []bool{true, false} {
		t.Run(fmt.Sprintf("arrived=%v", arrived), func(t *testing.T) {
			dir := t.TempDir()
			maildir := filepath.Join(dir, "maildir")
			p, st, _, r := cutShortToMaildir(t, dir, maildir, false)
			// What the killed process left: the message in new/, or a file in tmp/.
			if arrived {
				full, _, _ := st.Report(r.ID)
				if _, err := (mailer.Maildir{Dir: maildir}).Deliver(t.Context(), full); err != nil {
					t.Fatal(err)
				}
			}
			if err := p.Tick(t.Context(), t0.Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			got, _, _ := st.Report(r.ID)
			files, _ := filepath.Glob(filepath.Join(maildir, "new", "*"))
			if got.State != abusewatch.ReportSent || len(files) != 1 || got.Location != files[0] {
				t.Errorf("report %s (%q, at %q); %d mails in new/; want it sent, once, where the mail is", got.State, got.Error, got.Location, len(files))
			}
			if len(files) == 1 {
				if b, err := os.ReadFile(files[0]); err != nil || !strings.Contains(string(b), r.MessageID) {
					t.Errorf("the mail in new/ is not the report's: %v", err)
				}
			}
			// Its cooldown began: another attack of the party waits.
			attack(t, st, "45.134.26.8", t0.Add(time.Hour), 20)
			if err := p.Tick(t.Context(), t0.Add(2*time.Hour)); err != nil {
				t.Fatal(err)
			}
			if files, _ := filepath.Glob(filepath.Join(maildir, "new", "*")); len(files) != 1 {
				t.Errorf("%d mails in new/ after a second attack within the cooldown, want 1", len(files))
			}
		})
	}
}

// cutShortToMaildir is a pipeline delivering to maildir whose report of an attack from
// 45.134.26.7 was cut short by a stop: found `sending` after one attempt (with
// beforeData, as a transport that reports the start of DATA leaves it before).
func cutShortToMaildir(t *testing.T, dir, maildir string, beforeData bool) (*Pipeline, *store.Store, *logBuffer, abusewatch.Report) {
	t.Helper()
	p, st, logs := pipelineOf(t, dir, `
[reporter]
name = "Sam Example"
timezone = "UTC"
[lookup]
rdap = false
resolvers = ["127.0.0.1:1"]
[[contact]]
network = "45.134.26.0/24"
emails = ["abuse@hostco.example"]
[mail]
transport = "maildir"
maildir = "`+maildir+`"
from = "abusewatch@example.org"
[policy]
settle = "0s"
mode = "auto"
[store]
path = "`+filepath.Join(dir, "state.db")+`"
`)
	attack(t, st, "45.134.26.7", t0, 20)
	if err := p.Report(t.Context(), t0); err != nil {
		t.Fatal(err)
	}
	r := reportsIn(t, st, abusewatch.ReportQueued)[0]
	if err := st.UpdateReport(r.ID, func(s *abusewatch.Report) error {
		s.State, s.Attempts, s.BeforeData = abusewatch.ReportSending, 1, beforeData
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return p, st, logs, r
}
