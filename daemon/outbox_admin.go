package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/mailer"
	"github.com/abusewatch/abusewatch/store"
)

// The admin's decisions on the outbox. The commands that call these open the store
// themselves, so they work only while no daemon holds it (until the admin socket carries
// them).

// approvable are the states a report can be approved (queued for delivery) from: waiting
// for approval, failed (to try again) and held (observe mode, once the mode allows sending).
func approvable() []abusewatch.ReportState {
	return []abusewatch.ReportState{abusewatch.ReportPendingApproval, abusewatch.ReportFailed, abusewatch.ReportHeld}
}

// ApproveReports queues the reports ids (all pending ones with all) for delivery at the
// daemon's next round, and returns the IDs it queued. The cooldown and the limits still
// apply when they are delivered.
func ApproveReports(cfg *Config, st *store.Store, ids []string, all bool, now time.Time) ([]string, error) {
	if cfg.Policy.Mode == "observe" {
		return nil, fmt.Errorf("policy.mode is \"observe\" in %s: nothing is sent in that mode; set it to \"review\" first", cfg.file)
	}
	if all {
		pending, err := st.Reports(abusewatch.ReportPendingApproval)
		if err != nil {
			return nil, err
		}
		ids = nil
		for _, r := range pending {
			ids = append(ids, r.ID)
		}
	}
	return changeReports(st, ids, approvable(), func(r *abusewatch.Report) {
		r.State, r.Updated, r.NextAttempt, r.Waiting = abusewatch.ReportQueued, now, time.Time{}, ""
	})
}

// RejectReports marks reports ids as rejected: they are never sent.
func RejectReports(st *store.Store, ids []string, now time.Time) ([]string, error) {
	from := append(approvable(), abusewatch.ReportQueued)
	return changeReports(st, ids, from, func(r *abusewatch.Report) {
		r.State, r.Updated, r.NextAttempt, r.Waiting = abusewatch.ReportRejected, now, time.Time{}, ""
	})
}

func changeReports(st *store.Store, ids []string, from []abusewatch.ReportState, change func(*abusewatch.Report)) ([]string, error) {
	var done []string
	var errs []error
	for _, id := range ids {
		r, ok, err := FindReport(st, id)
		if err != nil {
			return done, err
		}
		if !ok {
			errs = append(errs, fmt.Errorf("no report %q (abusewatch outbox lists them)", id))
			continue
		}
		if !slices.Contains(from, r.State) {
			errs = append(errs, fmt.Errorf("report %s is %s: only a report that is %s can be changed so", r.ID, r.State, joinStates(from)))
			continue
		}
		if err := st.UpdateReport(r.ID, func(s *abusewatch.Report) error {
			if !slices.Contains(from, s.State) {
				return fmt.Errorf("report %s changed to %s meanwhile", s.ID, s.State)
			}
			change(s)
			return nil
		}); err != nil {
			return done, err
		}
		done = append(done, r.ID)
	}
	return done, errors.Join(errs...)
}

func joinStates(states []abusewatch.ReportState) string {
	s := make([]string, len(states))
	for i, st := range states {
		s[i] = string(st)
	}
	return strings.Join(s, ", ")
}

// FindReport finds a report by its ID or an unambiguous prefix of at least 6 characters
// (IDs are 32 hex digits; nobody types all of them).
func FindReport(st *store.Store, id string) (abusewatch.Report, bool, error) {
	if r, ok, err := st.Report(id); ok || err != nil {
		return r, ok, err
	}
	if len(id) < 6 {
		return abusewatch.Report{}, false, nil
	}
	all, err := st.Reports()
	if err != nil {
		return abusewatch.Report{}, false, err
	}
	var found []abusewatch.Report
	for _, r := range all {
		if strings.HasPrefix(r.ID, id) {
			found = append(found, r)
		}
	}
	if len(found) > 1 {
		return abusewatch.Report{}, false, fmt.Errorf("%q names %d reports: give more of the ID", id, len(found))
	}
	if len(found) == 0 {
		return abusewatch.Report{}, false, nil
	}
	return st.Report(found[0].ID) // with its message, which the list has not
}

// Preview is the report that would be written about an address now, and what would
// happen to it.
type Preview struct {
	Report abusewatch.Report `json:"report"`
	Fate   string            `json:"fate"` // in words: waits for approval, is sent, waits for the cooldown until …
}

// PreviewReport composes, without storing it, the report abusewatch would write now
// about addr: its incidents not reported yet (or, when all are, its newest one), to the
// contact lookup finds, with the policy's verdict.
func PreviewReport(ctx context.Context, cfg *Config, st *store.Store, addr netip.Addr, now time.Time) (Preview, error) {
	addr = addr.Unmap()
	host := netip.PrefixFrom(addr, addr.BitLen())
	incs, _, err := st.IncidentsIn(host, time.Time{}, 0)
	if err == nil {
		incs, _, err = withIncidentsAround(st, host, time.Time{}, incs)
	}
	if err != nil {
		return Preview{}, err
	}
	var mine, reported []abusewatch.Incident
	for _, inc := range incs {
		switch {
		case inc.AboutNetwork() || !inc.Addr.IsValid():
			if !inc.Network.Contains(addr) {
				continue
			}
		case inc.Addr != addr:
			continue
		}
		if _, ok, err := st.ReportFor(inc.ID); err != nil {
			return Preview{}, err
		} else if ok {
			reported = append(reported, inc)
			continue
		}
		mine = append(mine, inc)
	}
	note := ""
	if len(mine) == 0 {
		if len(reported) == 0 {
			return Preview{}, fmt.Errorf("no incident from %s in %s: nothing would be reported", addr, cfg.Store.Path)
		}
		mine = reported[len(reported)-1:]
		note = "every incident from this address is reported already; this is how the newest one read. "
	}
	if mine[0].Success {
		return Preview{}, fmt.Errorf("a login from %s succeeded (possible compromise): abusewatch never reports that outside; check it yourself", addr)
	}
	// What is never reported (for the admin only, excluded since) is not previewed as if
	// it were; policy.max_age is told below, with the report as it would read.
	corr, err := newCorrelator(cfg, st)
	if err != nil {
		return Preview{}, err
	}
	never := &Unreported{gate: corr}
	var why string
	mine = slices.DeleteFunc(mine, func(inc abusewatch.Incident) bool {
		w := never.Incident(inc)
		if w != "" {
			why = w
		}
		return w != ""
	})
	if len(mine) == 0 {
		return Preview{}, fmt.Errorf("nothing from %s would be reported: %s", addr, why)
	}
	cutoff, limited, err := reportCutoff(cfg, st, now)
	if err != nil {
		return Preview{}, err
	}
	stale := false
	if limited && note == "" {
		fresh := slices.DeleteFunc(slices.Clone(mine), func(inc abusewatch.Incident) bool { return inc.Last.Before(cutoff) })
		if stale = len(fresh) == 0; stale {
			mine = mine[len(mine)-1:]
		} else {
			mine = fresh
		}
	}
	finder, err := NewFinder(cfg, st)
	if err != nil {
		return Preview{}, err
	}
	contact, err := finder.Contact(ctx, addr)
	if err != nil {
		return Preview{}, fmt.Errorf("no abuse contact for %s: %w", addr, err)
	}
	if len(contact.Emails) == 0 {
		return Preview{}, fmt.Errorf("no abuse contact for %s: the lookup found no address", addr)
	}
	base, err := NewComposer(cfg)
	if err != nil {
		return Preview{}, err
	}
	composer, err := ReportComposer(cfg, base)
	if err != nil {
		return Preview{}, err
	}
	r, err := composer.Compose(contact, mine, now)
	if err != nil {
		return Preview{}, err
	}
	policy := OutboxPolicy(cfg)
	ds, err := st.Deliveries(now.Add(-max(policy.Cooldown, 24*time.Hour)))
	if err != nil {
		return Preview{}, err
	}
	sent := make([]mailer.Sent, len(ds))
	for i, d := range ds {
		sent[i] = mailer.Sent{Report: d.Report, Time: d.Time, Emails: d.Emails, Network: d.Network}
	}
	if stale {
		return Preview{Report: r, Fate: fmt.Sprintf("would not be written: every incident from %s not reported yet ended before %s, more than policy.max_age (%s) before the newest event; this is how the newest one would read",
			addr, cutoff.In(Location(cfg.Reporter.Timezone)).Format("2006-01-02 15:04 -0700"), cfg.Policy.MaxAge)}, nil
	}
	fate := map[string]string{
		"observe": "would be held (observe mode): never sent",
		"review":  "would wait for your approval (review mode)",
		"auto":    "would be sent at the next round (auto mode)",
	}[cfg.Policy.Mode]
	if until, why := policy.Hold(r, sent, now); !until.IsZero() && cfg.Policy.Mode != "observe" {
		fate += fmt.Sprintf(", then wait until %s: %s", until.In(Location(cfg.Reporter.Timezone)).Format("2006-01-02 15:04 -0700"), why)
	}
	return Preview{Report: r, Fate: note + fate}, nil
}
