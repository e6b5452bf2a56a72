package daemon

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/mailer/mailtest"
	"github.com/abusewatch/abusewatch/store"
)

// Review 34 §10: mail.give_up_after was measured by the wall clock of one round. A
// report queued while the desk's server refused for now, one round with the clock
// days fast: failed for good, though the server took it an hour later; first tried
// while the clock was fast: retried for the step and give_up_after more.

// greylisting is a real SMTP server on loopback that refuses every recipient for now
// (451 at RCPT TO) until accept is set.
func greylisting(t *testing.T) (*mailtest.Server, *atomic.Bool) {
	t.Helper()
	accept := &atomic.Bool{}
	srv := mailtest.Start(t, mailtest.Options{RcptErr: func(string) error {
		if accept.Load() {
			return nil
		}
		return mailtest.Reply(451, "greylisted, try again later", 4, 7, 1)
	}})
	return srv, accept
}

// retryRounds runs an outbox round at every step from from to until, both included,
// and stops after the first that leaves no report queued: it returns that round's time
// (zero when reports are still queued at until).
func retryRounds(t *testing.T, p *Pipeline, st *store.Store, from, until time.Time, step time.Duration) time.Time {
	t.Helper()
	for now := from; !now.After(until); now = now.Add(step) {
		_ = p.Tick(t.Context(), now) // the refusals are errors of the round
		if len(reportsIn(t, st, abusewatch.ReportQueued)) == 0 {
			return now
		}
	}
	return time.Time{}
}

// One round with the clock three hours fast (give_up_after is two): the report is
// retried, the clock corrected, and the server takes it once it accepts; the control
// round without the step does the same. The step is logged.
func TestAClockSteppedForwardForOneRoundFailsNoReport(t *testing.T) {
	for _, step := range []time.Duration{0, 3 * time.Hour} {
		t.Run("fast by "+step.String(), func(t *testing.T) {
			srv, accept := greylisting(t)
			p, st, logs := refusalPipeline(t, srv.Addr, "auto", []string{"abuse@hostco.example"}, "", "2h")
			attack(t, st, "45.134.26.7", t0, 20)
			p.Tick(t.Context(), t0)
			p.Tick(t.Context(), t0.Add(10*time.Minute+step))
			if q := reportsIn(t, st, abusewatch.ReportQueued); len(q) != 1 || q[0].Attempts != 2 {
				t.Fatalf("after the round %s fast: %+v; want the report queued for a retry", step, reportsIn(t, st))
			}
			p.Tick(t.Context(), t0.Add(20*time.Minute)) // the clock corrected, the server still refusing
			accept.Store(true)
			p.Tick(t.Context(), t0.Add(30*time.Minute))
			sent := reportsIn(t, st, abusewatch.ReportSent)
			if len(sent) != 1 || sent[0].Attempts != 4 {
				t.Fatalf("reports: %+v; want the report sent at its fourth attempt", reportsIn(t, st))
			}
			if m := srv.Next(t); len(m.To) != 1 || m.To[0] != "abuse@hostco.example" {
				t.Errorf("mail to %v", m.To)
			}
			ahead := strings.Contains(logs.String(), `level=WARN msg="the clock lies far ahead of the report's last attempt`)
			behind := strings.Count(logs.String(), `level=WARN msg="the clock is behind the report's last attempt`) == 1
			if ahead != (step > 0) || behind != (step > 0) {
				t.Errorf("clock %s fast: warned of the step forward %v, back %v:\n%s", step, ahead, behind, logs)
			}
		})
	}
}

// The report's first attempt made while the clock was a day fast, the clock corrected
// at once: it is retried at once, not a day later, and gives up give_up_after (two
// hours) of retries after the correction, not a day and two hours.
func TestAReportFirstTriedWhileTheClockWasFastGivesUpInTime(t *testing.T) {
	srv, _ := greylisting(t)
	p, st, logs := refusalPipeline(t, srv.Addr, "auto", []string{"abuse@hostco.example"}, "", "2h")
	attack(t, st, "45.134.26.7", t0, 20)
	fast := t0.Add(24 * time.Hour)
	p.Tick(t.Context(), fast)
	q := reportsIn(t, st, abusewatch.ReportQueued)
	if len(q) != 1 || !q[0].FirstTried.Equal(fast) {
		t.Fatalf("after the round a day fast: %+v", reportsIn(t, st))
	}
	corrected := t0.Add(10 * time.Minute)
	p.Tick(t.Context(), corrected)
	r, _, _ := st.Report(q[0].ID)
	if r.Attempts != 2 || !r.FirstTried.Equal(corrected) {
		t.Fatalf("first round after the correction: %d attempts, first %s; want it tried again, give_up_after counting from %s",
			r.Attempts, r.FirstTried, corrected)
	}
	if !strings.Contains(logs.String(), `level=WARN msg="the report's first attempt is dated after this round's clock`) {
		t.Errorf("no warning of the clock stepped back:\n%s", logs)
	}
	end := retryRounds(t, p, st, corrected.Add(10*time.Minute), corrected.Add(6*time.Hour), 10*time.Minute)
	if end.IsZero() {
		t.Fatalf("still queued six hours after the correction: %+v", reportsIn(t, st))
	}
	if end.Before(corrected.Add(2*time.Hour)) || end.After(corrected.Add(2*time.Hour+20*time.Minute)) {
		t.Errorf("gave up at %s; want two hours of retries after %s", end, corrected)
	}
	failed := reportsIn(t, st, abusewatch.ReportFailed)
	if len(failed) != 1 || !strings.Contains(failed[0].Error, "since "+corrected.Format("2006-01-02 15:04")+" +0000 (retried for 2h0m0s)") {
		t.Fatalf("failed: %+v", reportsIn(t, st))
	}
	srv.Nothing(t)
}

// A report last tried by a version before LastTried and Retried counts the time since
// its first attempt, as that version did: no retries added by the upgrade.
func TestAReportTriedBeforeTheUpgradeGivesUpAsBefore(t *testing.T) {
	srv, _ := greylisting(t)
	p, st, _ := refusalPipeline(t, srv.Addr, "auto", []string{"abuse@hostco.example"}, "", "2h")
	attack(t, st, "45.134.26.7", t0, 20)
	p.Tick(t.Context(), t0)
	q := reportsIn(t, st, abusewatch.ReportQueued)
	if len(q) != 1 {
		t.Fatalf("reports: %+v", reportsIn(t, st))
	}
	if err := st.UpdateReport(q[0].ID, func(r *abusewatch.Report) error {
		r.LastTried, r.Retried = time.Time{}, 0 // as that version stored it
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	p.Tick(t.Context(), t0.Add(2*time.Hour))
	if f := reportsIn(t, st, abusewatch.ReportFailed); len(f) != 1 || !strings.Contains(f[0].Error, "gave up after 2 attempts") {
		t.Fatalf("reports: %+v; want it failed two hours after its first attempt", reportsIn(t, st))
	}
}
