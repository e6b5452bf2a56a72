package daemon

import (
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/mailer"
)

// mail.give_up_after is meant as time spent retrying, and the wall clock alone is a
// poor measure of it: one round with the clock days fast (a VM resumed, an RTC reset
// before NTP corrects it) failed a report for good that the relay would have taken an
// hour later, and a report first tried while the clock was fast was retried for the
// step and give_up_after more. So a report gives up only when both give_up_after has
// passed since its first attempt and its attempts span that long, each gap between two
// of them counting at most retryGapMax: the longest wait the outbox itself plans
// between two attempts (a back-off, a round), twice over.

// retryGapMax is the most one gap between two attempts of a report counts toward
// mail.give_up_after: twice the longest back-off (mail.retry_max) or round
// (policy.report_interval). A longer gap is a clock stepped forward, a daemon stopped,
// or a report held by the cooldown or a limit: none of it was retrying.
func retryGapMax(cfg *Config) time.Duration {
	return 2 * max(cfg.Mail.RetryMax.Duration, cfg.Policy.ReportInterval.Duration)
}

// countAttempt counts an attempt of r at now: Attempts, FirstTried (a first attempt,
// or one the clock dated after now, which counts from now), LastTried and Retried. It
// returns the gap since r's last attempt as the clock tells it (0 when none was
// recorded): negative when the clock went back since, longer than gapMax when it
// went forward or the daemon was stopped (of which gapMax counts).
func countAttempt(r *abusewatch.Report, now time.Time, gapMax time.Duration) time.Duration {
	var gap time.Duration
	switch {
	case !r.LastTried.IsZero():
		gap = now.Sub(r.LastTried)
		r.Retried += min(max(gap, 0), gapMax)
	case !r.FirstTried.IsZero():
		// Last tried by a version that kept no LastTried: as it counted, since the first.
		r.Retried = max(now.Sub(r.FirstTried), 0)
	}
	if r.FirstTried.IsZero() || r.FirstTried.After(now) {
		r.FirstTried = now
	}
	r.Attempts++
	r.LastTried = now
	return gap
}

// givesUp says whether r, failing temporarily at its attempt at now (counted by
// countAttempt), has been retried for mail.give_up_after: since its first attempt
// and over its attempts.
func givesUp(policy mailer.Policy, r abusewatch.Report, now time.Time) bool {
	return policy.GiveUp(r.FirstTried, now) && r.Retried >= policy.GiveUpAfter
}

// steppedBack says whether the clock at now lies behind r's last attempt by more than
// a first back-off (mail.retry_min): it was stepped back since, and r's NextAttempt,
// set by the clock that was ahead, would hold r for the step on top of its back-off.
func steppedBack(r abusewatch.Report, now time.Time, policy mailer.Policy) bool {
	return r.LastTried.Sub(now) > policy.RetryMin
}
