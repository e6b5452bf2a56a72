package daemon

// The daemon's clock fast for one outbox round (a bad RTC at boot), then set back by
// NTP: what that round stored is dated in the future, and holds nothing up. The real
// pipeline (detect, store, correlate, outbox, maildir) with a clock the test sets.

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/mailer/mailtest"
)

// clockBackPipeline is periodPipeline whose warnings are kept.
func clockBackPipeline(t *testing.T) (*Pipeline, *Config, *logBuffer) {
	t.Helper()
	p, cfg := periodPipeline(t, "auto", "")
	logged := &logBuffer{}
	p.log = slog.New(slog.NewTextHandler(logged, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return p, cfg, logged
}

// A report to abuse@hostco.example goes while the clock is 20 days fast; nine days after
// the clock was set back, another attack from its network is reported: the cooldown
// (7 days) of a report dated after now held the party for the step and the cooldown
// (a step of more than policy.max_age would keep the fast round from reporting at all:
// the incidents are too old by that clock). The log says once what it found.
func TestCooldownAfterTheClockWasSetBack(t *testing.T) {
	for _, jump := range []int{0, 1} {
		t.Run(map[int]string{0: "no step", 1: "20 days fast"}[jump], func(t *testing.T) {
			p, cfg, logged := clockBackPipeline(t)
			cfg.Policy.Cooldown.Duration = 7 * 24 * time.Hour
			feed := &periodFeed{p: p}
			tick := ticker(t, p)
			tick(utc(20, 6, 30))
			feed.lines(t, failedLogins("45.134.26.7", utc(20, 7, 0), 8)...)
			tick(utc(20, 7, 30).AddDate(0, 0, 20*jump))
			tick(utc(20, 7, 35)) // NTP sets the clock back
			feed.lines(t, failedLogins("45.134.26.8", utc(29, 7, 0), 8)...)
			tick(utc(29, 7, 30))
			tick(utc(29, 8, 30))

			var reported []string
			for _, msg := range maildirMessages(t, cfg.Mail.Maildir) {
				if m := regexp.MustCompile(`(?m)^Subject: Abuse report.* from (\S+)`).FindStringSubmatch(msg); m != nil {
					reported = append(reported, m[1])
				}
			}
			slices.Sort(reported)
			if want := []string{"45.134.26.7", "45.134.26.8"}; !slices.Equal(reported, want) {
				t.Errorf("reports about %v, want %v", reported, want)
			}
			warned := strings.Count(logged.String(), "reports are recorded as sent after now")
			if want := jump; warned != want {
				t.Errorf("the reports dated after now are warned of %d times, want %d:\n%s", warned, want, logged)
			}
		})
	}
}

// One round a year fast sends a summary of a week of that year; after the clock was
// set back, the summaries go on every day from where the last one of the right time
// ended: every event is in one of them, and none of their periods ends in the future.
func TestSummaryAfterTheClockWasAYearFast(t *testing.T) {
	p, cfg, logged := clockBackPipeline(t)
	feed := &periodFeed{p: p}
	tick, sent := summaryTicker(t, p, cfg.Mail.Maildir)
	tick(utc(20, 6, 30)) // the schedule starts
	tick(utc(21, 6, 5))
	fast := utc(21, 6, 5).AddDate(1, 0, 0)
	tick(fast)
	tick(utc(21, 6, 10)) // NTP sets the clock back
	feed.lines(t, failedLogins("45.134.26.7", utc(21, 12, 0), 8)...)
	for d := 22; d <= 28; d++ {
		tick(utc(d, 6, 5))
	}
	sums := *sent
	checkSummariesAfterAClockStep(t, sums, fast, utc(28, 6, 5), 8)
	if n := len(sums); n != 2+7 {
		t.Fatalf("%d summaries, want the first, the one of the fast round and 7 after it", n)
	}
	if after := sums[2]; !after.From.Equal(utc(21, 6, 5)) || after.Events != 8 {
		t.Errorf("the first summary after the step starts at %v with %d events, want the end of the last before the step and 8",
			after.From, after.Events)
	}
	if n := strings.Count(logged.String(), "the last daily summary is dated after now"); n != 1 {
		t.Errorf("the summary dated after now is warned of %d times, want once:\n%s", n, logged)
	}
}

// One round a day fast (the summary of the next day goes at once, with the events of
// the morning), then set back: the summary of the real next day goes, and has the
// events of the rest of the day, which were in none.
func TestSummaryAfterTheClockWasADayFast(t *testing.T) {
	p, cfg, _ := clockBackPipeline(t)
	feed := &periodFeed{p: p}
	tick, sent := summaryTicker(t, p, cfg.Mail.Maildir)
	tick(utc(20, 6, 30))
	tick(utc(21, 6, 5))
	feed.lines(t, failedLogins("45.134.26.7", utc(21, 9, 0), 8)...)
	fast := utc(22, 9, 30) // at 09:30 on the 21st
	tick(fast)
	tick(utc(21, 9, 35)) // NTP sets the clock back
	feed.lines(t, failedLogins("81.2.69.5", utc(21, 12, 0), 8)...)
	for d := 22; d <= 24; d++ {
		tick(utc(d, 6, 5))
	}
	sums := *sent
	checkSummariesAfterAClockStep(t, sums, fast, utc(24, 6, 5), 16)
	if n := len(sums); n != 2+3 {
		t.Errorf("%d summaries, want the first, the one of the fast round and 3 after it", n)
	}
	for _, s := range sums {
		switch addr := strings.Contains(s.Text, "81.2.69.5"); {
		case s.Sent.Equal(fast) && (s.Events != 8 || addr):
			t.Errorf("the fast round's summary has %d events (want those of the morning, 8), 81.2.69.5: %v", s.Events, addr)
		case s.Sent.Equal(utc(22, 6, 5)) && (s.Events != 8 || !addr || strings.Contains(s.Text, "45.134.26.7")):
			t.Errorf("the summary of the real next day has %d events, want those of the afternoon (8):\n%s", s.Events, s.Text)
		}
	}
}

// datedSummary is a summary as mailed: at the round of Sent, its period and its events.
type datedSummary struct {
	Sent, From, To time.Time
	Events         int
	Text           string
}

// summaryTicker is ticker, and the summaries each round sent, in the order of the rounds.
func summaryTicker(t *testing.T, p *Pipeline, maildir string) (func(now time.Time), *[]datedSummary) {
	var out []datedSummary
	seen := map[string]bool{}
	period := regexp.MustCompile(`(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}) to (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4})`)
	const layout = "2006-01-02 15:04:05 -0700"
	tick := ticker(t, p)
	return func(now time.Time) {
		t.Helper()
		tick(now)
		files, _ := filepath.Glob(filepath.Join(maildir, "new", "*"))
		for _, f := range files {
			if seen[f] {
				continue
			}
			seen[f] = true
			msg, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(msg), "Message-Id: <summary-") {
				continue
			}
			text, _, _ := summaryParts(t, msg)
			m := period.FindStringSubmatch(strings.SplitN(text, "\n", 3)[1])
			if m == nil {
				t.Fatalf("no period in the summary:\n%s", text)
			}
			from, _ := time.Parse(layout, m[1])
			to, _ := time.Parse(layout, m[2])
			events, _ := strconv.Atoi(regexp.MustCompile(`EVENTS: (\d+)`).FindStringSubmatch(text)[1])
			out = append(out, datedSummary{Sent: now, From: from.UTC(), To: to.UTC(), Events: events, Text: text})
		}
	}, &out
}

// checkSummariesAfterAClockStep checks the summaries of a run whose round at fast had the
// clock fast, the rounds after it set back, up to last: every event fed (events) is
// in one summary; the others' periods, each up to its round, follow each other, and
// none ends after last.
func checkSummariesAfterAClockStep(t *testing.T, sums []datedSummary, fast, last time.Time, events int) {
	t.Helper()
	total := 0
	var prev time.Time
	for _, s := range sums {
		total += s.Events
		if s.Sent.Equal(fast) {
			continue
		}
		if s.From.After(s.To) || !s.To.Equal(s.Sent) || s.To.After(last) {
			t.Errorf("a summary sent at %v has the period %v to %v", s.Sent, s.From, s.To)
		}
		if !prev.IsZero() && s.From.Before(prev) {
			t.Errorf("a summary sent at %v starts at %v, before the one before ended (%v)", s.Sent, s.From, prev)
		}
		prev = s.To
	}
	if total != events {
		t.Errorf("the summaries count %d events, want each of the %d once", total, events)
	}
}

// maildirMessages are the messages delivered to maildir.
func maildirMessages(t *testing.T, maildir string) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(maildir, "new", "*"))
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

// A possible compromise mailed while the clock is a day fast: after the clock was set
// back, the attack that goes on is mailed again an hour after the round that found the
// mail dated in the future, as if it had gone then, not a day and an hour after.
func TestPossibleCompromiseMailedWhileTheClockWasFastIsMailedAgain(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	p, st, logged := alertPipeline(t, srv.Addr, "auto", "root@example.org")
	inc := compromised(t, st, "91.240.118.5", "alice", "web1", t0, 6)
	report := func(now time.Time) {
		t.Helper()
		if err := p.Report(t.Context(), now); err != nil {
			t.Fatal(err)
		}
	}
	report(t0.Add(5*time.Minute).AddDate(0, 0, 1))
	readAlert(t, srv.Next(t))
	report(t0.Add(10 * time.Minute)) // NTP sets the clock back
	srv.Nothing(t)
	for i, at := range []time.Duration{20 * time.Minute, 75 * time.Minute} {
		fail := inc.Evidence[0]
		fail.Time, fail.Port = inc.Last.Add(time.Minute), uint16(41000+i)
		fail.Line = fmt.Sprintf("web1 sshd[%d]: Failed password for root from 91.240.118.5 port %d ssh2", 34000+i, fail.Port)
		inc.Evidence = append(inc.Evidence, fail)
		inc.Last, inc.Count = fail.Time, inc.Count+1
		if err := st.PutIncidents([]abusewatch.Incident{inc}); err != nil {
			t.Fatal(err)
		}
		report(t0.Add(at))
		if at < time.Hour {
			srv.Nothing(t) // within the hour of the round that found it
		} else if m := readAlert(t, srv.Next(t)); !strings.Contains(m.body, "9 events") {
			t.Errorf("an hour on, the alert says\n%s\nwant 9 events", m.body)
		}
	}
	if n := strings.Count(logged.String(), "possible compromises are recorded as mailed after now"); n != 1 {
		t.Errorf("the mails dated after now are warned of %d times, want once:\n%s", n, logged)
	}
}
