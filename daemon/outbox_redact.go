package daemon

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/mailer"
)

// redactionOf is what the reports written under cfg mask ([mail] redact).
func redactionOf(cfg *Config) mailer.Redaction {
	return mailer.Redaction{Users: slices.Contains(cfg.Mail.Redact, "users"), Hosts: slices.Contains(cfg.Mail.Redact, "hosts")}
}

// RedactChange says of report r, not sent yet, what cfg's [mail] redact masks
// (mailer.Redaction.Names) when r was written with another setting: the outbox writes
// it again with cfg's before it goes (lastGate), and `outbox` and `report show` say so
// meanwhile. changed is false for a report that went, is going or never will (sent,
// sending, rejected): those are never written again. A report written before reports
// recorded it counts as written without redact (Report.Redacted).
func RedactChange(cfg *Config, r abusewatch.Report) (now []string, changed bool) {
	switch r.State {
	case abusewatch.ReportSent, abusewatch.ReportSending, abusewatch.ReportRejected:
		return nil, false
	}
	now = redactionOf(cfg).Names()
	return now, !slices.Equal(r.Redacted, now)
}

// RedactWords is names (Redaction.Names) for the admin: "users, hosts" or "none".
func RedactWords(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// rewriteRedacted writes report r's mail again from keep, its incidents as lastGate read
// them (a network incident's share looked up again), with what the config masks now:
// the same report to the same party, its ID and Message-ID kept, its state and its
// approval too (the admin approved what it reports; what it quotes follows [mail]
// redact, which he set). One that reads as it did (written before reports recorded
// their setting, already masked) keeps its mail and records the setting. It returns r
// as it is to be sent, and false when it went or was rejected meanwhile.
func (p *Pipeline) rewriteRedacted(ctx context.Context, composer *mailer.Composer, r abusewatch.Report, keep []abusewatch.Incident,
	inexact map[string]mailer.Inexact, now time.Time) (abusewatch.Report, bool, error) {
	for i := range keep {
		p.setPTR(ctx, &keep[i])
	}
	known, err := knownOf(p.store, keep, r.ID, p.cfg.reportableClasses())
	if err != nil {
		return r, false, err
	}
	known = knowingInexact(known, inexact)
	known.ID = r.ID
	nr, err := composer.ComposeKnowing(r.Contact, keep, known, now)
	if err != nil {
		// As when it is written at first (writeReport): it waits, saying why, and the
		// others go. Never the mail as it was.
		p.log.Error("report not sent: its mail cannot be written again with [mail] redact as set now; tried again every round",
			"id", r.ID, "to", strings.Join(r.Contact.Emails, ", "), "err", err)
		return r, false, nil
	}
	same, err := p.sameMemo(r, nr)
	if err != nil {
		return r, false, err
	}
	if same {
		nr.Message = nil
	}
	rewritten, err := p.store.RewriteReportMessage(r.ID, nr, now)
	if err != nil || !rewritten {
		return r, false, err
	}
	was := r.Redacted
	r.Subject, r.Redacted = nr.Subject, nr.Redacted
	if !same {
		r.Message = nr.Message
	}
	p.log.Info("report's mail written again with [mail] redact as set now: it was written with another setting", "id", r.ID,
		"to", strings.Join(r.Contact.Emails, ", "), "redact_was", RedactWords(was), "redact", RedactWords(nr.Redacted),
		"state", r.State, "changed", !same)
	return r, true, nil
}
