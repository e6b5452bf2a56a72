package daemon

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/mailer"
)

// Tick does the scheduled work of the daemon: it writes reports for new incidents and
// delivers the queued ones. Run calls it every policy.report_interval; scan calls it once
// at the end.
func (p *Pipeline) Tick(ctx context.Context, now time.Time) error {
	if err := p.Report(ctx, now); err != nil {
		return fmt.Errorf("writing reports: %w", err)
	}
	if err := p.Deliver(ctx); err != nil {
		return fmt.Errorf("delivering reports: %w", err)
	}
	return nil
}

// Report writes one report per responsible party for the incidents not reported yet, in
// the state the policy mode asks for. Incidents whose contact cannot be found stay
// unreported and are tried again next time.
func (p *Pipeline) Report(ctx context.Context, now time.Time) error {
	incs, err := p.store.UnreportedIncidents()
	if err != nil {
		return err
	}
	type party struct {
		contact   abusewatch.Contact
		incidents []abusewatch.Incident
	}
	var parties []*party
	byKey := map[string]*party{}
	for _, inc := range incs {
		if inc.Success {
			// Never outside: a success may be our own user; the admin must look first.
			p.log.Warn("login succeeded from an attacking address: possible compromise, not reported outside",
				"incident", inc.ID, "addr", inc.Addr)
			continue
		}
		contact, err := p.finder.Contact(ctx, inc.Addr)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			p.log.Warn("no abuse contact found; will try again", "incident", inc.ID, "addr", inc.Addr, "err", err)
			continue
		}
		key := strings.Join(contact.Emails, ",")
		pt := byKey[key]
		if pt == nil {
			pt = &party{contact: contact}
			byKey[key] = pt
			parties = append(parties, pt)
		}
		pt.incidents = append(pt.incidents, inc)
	}
	state := map[string]abusewatch.ReportState{
		"observe": abusewatch.ReportHeld,
		"review":  abusewatch.ReportPendingApproval,
		"auto":    abusewatch.ReportQueued,
	}[p.cfg.Policy.Mode]
	for _, pt := range parties {
		r, err := p.composer.Compose(pt.contact, pt.incidents, now)
		if err != nil {
			return fmt.Errorf("compose report to %s: %w", strings.Join(pt.contact.Emails, ", "), err)
		}
		r.State, r.Updated = state, now
		added, err := p.store.AddReport(r)
		if err != nil {
			return err
		}
		if added {
			p.Counters.Reports.Add(1)
			p.log.Info("report written", "id", r.ID, "to", strings.Join(pt.contact.Emails, ", "),
				"incidents", len(pt.incidents), "state", r.State)
		}
	}
	return nil
}

// Deliver sends the queued reports. A temporary failure leaves the report queued for the
// next round; a permanent one marks it failed with the server's reply.
func (p *Pipeline) Deliver(ctx context.Context) error {
	queued, err := p.store.Reports(abusewatch.ReportQueued)
	if err != nil {
		return err
	}
	var errs []error
	for _, r := range queued {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := p.store.UpdateReport(r.ID, func(s *abusewatch.Report) error {
			s.State, s.Updated = abusewatch.ReportSending, time.Now()
			s.Attempts++
			return nil
		}); err != nil {
			return err
		}
		loc, derr := p.transport.Deliver(ctx, r)
		err := p.store.UpdateReport(r.ID, func(s *abusewatch.Report) error {
			s.Updated = time.Now()
			switch {
			case derr == nil:
				s.State, s.Location, s.Error = abusewatch.ReportSent, loc, ""
			case mailer.Temporary(derr):
				s.State, s.Error = abusewatch.ReportQueued, derr.Error()
			default:
				s.State, s.Error = abusewatch.ReportFailed, derr.Error()
			}
			return nil
		})
		if err != nil {
			return err
		}
		if derr != nil {
			p.log.Warn("report delivery failed", "id", r.ID, "temporary", mailer.Temporary(derr), "err", derr)
			errs = append(errs, fmt.Errorf("report %s: %w", r.ID, derr))
			continue
		}
		p.Counters.Delivered.Add(1)
		p.log.Info("report delivered", "id", r.ID, "to", strings.Join(r.Contact.Emails, ", "), "where", loc)
	}
	return errors.Join(errs...)
}
