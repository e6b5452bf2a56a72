package daemon

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/mailer/mailtest"
)

// alertTexts returns the text of each possible-compromise alert in maildir.
func alertTexts(t *testing.T, maildir string) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(maildir, "new", "*"))
	var out []string
	for _, f := range files {
		msg, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(msg), "Message-Id: <compromise-") {
			continue
		}
		_, parts, err := mailtest.Parts(msg)
		if err != nil {
			t.Fatal(err)
		}
		var body strings.Builder
		for _, p := range parts {
			body.Write(bytes.ReplaceAll(p.Body, []byte("\r\n"), []byte("\n")))
		}
		out = append(out, body.String())
	}
	return out
}

// A login from an address whose attack was reported already (policy.settle had passed)
// makes two incidents Success: the success-after-failure one and the attack's own. The
// alert showed the login twice, under each, and only the second said that the abuse
// desk had the report; the summary shows it once (review summary46 M3). The alert
// does as the summary: one block per login, naming the attack's report.
func TestTheAlertShowsALoginOnceWithItsAttacksReport(t *testing.T) {
	p, cfg := periodPipeline(t, "auto", "")
	tick := ticker(t, p)
	feed := &periodFeed{p: p}
	feed.lines(t, failedLogins("45.134.26.17", utc(21, 5, 40), 8)...)
	tick(utc(21, 5, 50)) // the report goes
	if n := p.Counters.Delivered.Load(); n != 1 {
		t.Fatalf("%d reports delivered, want 1", n)
	}
	feed.lines(t, utc(21, 6, 20).Format(time.RFC3339)+" web1 sshd[4242]: Accepted password for alice from 45.134.26.17 port 51234 ssh2")
	tick(utc(21, 6, 25))

	alerts := alertTexts(t, cfg.Mail.Maildir)
	if len(alerts) != 1 {
		t.Fatalf("%d alerts, want 1", len(alerts))
	}
	alert := alerts[0]
	if n := strings.Count(alert, "Accepted password for alice from 45.134.26.17"); n != 1 {
		t.Errorf("the alert shows the login %d times, want once:\n%s", n, alert)
	}
	if n := strings.Count(alert, "   incident "); n != 1 {
		t.Errorf("the alert has %d blocks, want one:\n%s", n, alert)
	}
	if !strings.Contains(alert, "sent to abuse@hostco.example") {
		t.Errorf("the alert does not say the report went to the abuse desk:\n%s", alert)
	}
	// The summary says the same of it (the round of the login went after summary.time:
	// it sent the first).
	sums := sentSummaries(t, cfg.Mail.Maildir)
	if len(sums) != 1 {
		t.Fatalf("%d summaries, want 1", len(sums))
	}
	comp := section(sums[0], "POSSIBLE COMPROMISES")
	if strings.Count(comp, "Accepted password for alice") != 1 || !strings.Contains(comp, "sent to abuse@hostco.example") {
		t.Errorf("the summary does not show the login once, naming the attack's report:\n%s", sums[0])
	}
	// Mailed as one, neither incident is mailed again on its own.
	tick(utc(22, 6, 10))
	if n := len(alertTexts(t, cfg.Mail.Maildir)); n != 1 {
		t.Errorf("%d alerts after the next round, want still 1", n)
	}
}

// A login read while the attack's report waited for approval takes that report back
// (rejected): the alert said "Reported already …: report ID, rejected to abuse@…", as if
// the desk had it (review summary46 L2). It says the report was never sent.
func TestTheAlertSaysAReportThatNeverLeftWasNotSent(t *testing.T) {
	p, cfg := periodPipeline(t, "review", "")
	tick := ticker(t, p)
	feed := &periodFeed{p: p}
	feed.lines(t, failedLogins("45.134.26.17", utc(21, 5, 40), 8)...)
	tick(utc(21, 5, 50)) // the report waits for approval
	feed.lines(t, utc(21, 6, 20).Format(time.RFC3339)+" web1 sshd[4242]: Accepted password for alice from 45.134.26.17 port 51234 ssh2")
	tick(utc(21, 6, 25))

	alerts := alertTexts(t, cfg.Mail.Maildir)
	if len(alerts) != 1 {
		t.Fatalf("%d alerts, want 1", len(alerts))
	}
	if strings.Contains(alerts[0], "rejected to") || !strings.Contains(alerts[0], "rejected: it was never sent") {
		t.Errorf("the alert names a report that never left as if it had gone:\n%s", alerts[0])
	}
}
