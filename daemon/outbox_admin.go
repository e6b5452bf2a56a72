package daemon

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/lookup"
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

// ReportsChanged is what approve or reject did: the reports it changed, and those that
// were in the state asked for already (approving a queued report, rejecting a rejected
// one), left as they are: a script or a cron job that approves an ID twice has what it
// asked for, and must not fail.
type ReportsChanged struct {
	Changed []string `json:"changed"`
	Already []string `json:"already"`
	// Guesses are the reports waiting for approval that approve --all left out: each
	// goes to a guessed contact, which whoever holds the address can choose by setting
	// its reverse name, so each is approved by its ID, once read.
	Guesses []string `json:"guesses,omitempty"`
	// Fates say, of each report approve queued, what the next round does with it, as
	// the outbox stands (ApprovedFate): approve tells the admin, and it must be what
	// happens.
	Fates []ApprovedFate `json:"fates,omitempty"`
	// Failed is, when approve took the reports waiting for approval but not the failed
	// ones, how many failed: approve --failed re-queues them.
	Failed int `json:"failed,omitempty"`
	// FailedLeft are the failed reports approve --failed left out, and why: those a
	// desk refused for good (Report.Refused), and those that failed longer than
	// policy.max_age ago. Each is approved by its ID, once read.
	FailedLeft []FailedLeft `json:"failed_left_out,omitempty"`
}

// FailedLeft is a failed report approve --failed left out, and why.
type FailedLeft struct {
	ID  string `json:"id"`
	Why string `json:"why"`
}

// failedLeftWhy says why approve --failed leaves failed report r out at now: a desk
// refused it for good (trying again would mail a refusing desk, and forget its mark),
// or it failed more than policy.max_age ago (its incidents are stale); "" when it
// takes it: a report that failed by our relay's refusal, its TLS or give_up_after.
func failedLeftWhy(cfg *Config, r abusewatch.Report, now time.Time) string {
	if len(r.Refused) > 0 {
		return fmt.Sprintf("refused for good by %s, not by our relay", strings.Join(r.Refused, ", "))
	}
	if age := cfg.Policy.MaxAge.Duration; age > 0 && now.Sub(r.Updated) > age {
		span := age.String()
		if age%(24*time.Hour) == 0 {
			span = fmt.Sprintf("%d days", age/(24*time.Hour))
		}
		return fmt.Sprintf("failed on %s, more than policy.max_age (%s) ago: its incidents are stale", r.Updated.In(Location(cfg.Reporter.Timezone)).Format("2006-01-02"), span)
	}
	return ""
}

// ApprovedFate is what the next round does with a report approve queued: it goes at
// that round, or waits until Until for Why, and, with Joined, it is first written again
// as one report with those (gatherGuesses), which goes or waits as it says.
type ApprovedFate struct {
	ID string `json:"id"`
	// Joined are the other reports to the same guessed contact, approved and not gone
	// yet, that the next round writes again as one report with this one.
	Joined []string `json:"joined,omitempty"`
	// Until is when it may go at the earliest (zero: at the next round) and Why what
	// holds it until then: the cooldown or a limit, counting the reports sent before,
	// or a retry's back-off.
	Until time.Time `json:"until,omitzero"`
	Why   string    `json:"why,omitempty"`
	// After is a report to the same party that goes first, at the next round: the
	// cooldown it begins then holds this one.
	After string `json:"after,omitempty"`
	// Earliest says that what holds it counts reports that go at the next round (After's
	// cooldown, a limit they fill), at approve's time: that round is then or later, and
	// so is Until.
	Earliest bool `json:"earliest,omitempty"`
}

// ApproveReports queues the reports ids (all pending ones with all, but those to a
// guessed contact, which it names in Guesses) for delivery at the daemon's next round,
// and says which it queued and which were queued already. The
// cooldown and the limits still apply when they are delivered.
func ApproveReports(cfg *Config, st *store.Store, ids []string, all bool, now time.Time) (ReportsChanged, error) {
	return Approve(cfg, st, Approval{IDs: ids, Pending: all}, now)
}

// Approval is what approve queues: the reports IDs and, with Pending, every report
// waiting for approval, with Failed, every failed one that failed by our relay (after
// the admin fixed what failed them all: a relay that refused us, a certificate) within
// policy.max_age (ReportsChanged.FailedLeft), those to a guessed contact aside
// (ReportsChanged.Guesses).
type Approval struct {
	IDs             []string
	Pending, Failed bool
}

// Approve queues the reports of a for delivery at the daemon's next round, and says
// which it queued and which were queued already. Approving means trying again, to
// the recipients that have not taken the report and to them alone: one that took it
// (a report held after some recipients took it, or one sent to some, approved by
// its ID to try the others again: sentLeftIn) is never sent it again. Those tried again
// include the mailboxes that refused it or another report for good: their marks are
// forgotten, as the admin who approves has seen why it waited (a desk that refuses
// again is marked again); the marks of recipients that took it are left alone.
// mail.give_up_after counts from its next attempt. The cooldown and the limits still
// apply when they are delivered.
func Approve(cfg *Config, st *store.Store, a Approval, now time.Time) (ReportsChanged, error) {
	if cfg.Policy.Mode == "observe" {
		return ReportsChanged{}, fmt.Errorf("policy.mode is \"observe\" in %s: nothing is sent in that mode; set it to \"review\" first", cfg.file)
	}
	ids := a.IDs
	var states []abusewatch.ReportState
	if a.Pending {
		states = append(states, abusewatch.ReportPendingApproval)
	}
	if a.Failed {
		states = append(states, abusewatch.ReportFailed)
	}
	var guesses []string
	var left []FailedLeft
	if len(states) > 0 {
		rs, err := st.Reports(states...)
		if err != nil {
			return ReportsChanged{}, err
		}
		for _, r := range rs {
			if r.Contact.Guess {
				guesses = append(guesses, r.ID)
				continue
			}
			if r.State == abusewatch.ReportFailed {
				if why := failedLeftWhy(cfg, r, now); why != "" {
					left = append(left, FailedLeft{ID: r.ID, Why: why})
					continue
				}
			}
			ids = append(ids, r.ID)
		}
	}
	res, err := changeReports(st, ids, append(approvable(), abusewatch.ReportSent), abusewatch.ReportQueued, "approved", sentLeftIn(st), approved(now))
	res.Guesses, res.FailedLeft = guesses, left
	for _, id := range res.Changed {
		if err != nil {
			break
		}
		var r abusewatch.Report
		var ok bool
		if r, ok, err = st.Report(id); err == nil && ok {
			err = st.ClearRefused(unsentTo(r))
		}
	}
	if err == nil {
		res.Fates, err = nextRoundFates(cfg, st, res.Changed, now)
	}
	if err == nil && a.Pending && !a.Failed {
		var failed []abusewatch.Report
		failed, err = st.Reports(abusewatch.ReportFailed)
		res.Failed = len(failed)
	}
	return res, err
}

// nextRoundFates are the ApprovedFates of the queued reports ids, as a round at now
// would deliver the outbox as it stands: it first joins the approved reports to one
// guessed contact (gatherGuesses: the joined report is written at the round, and comes
// after the others), then goes through the queued reports oldest first, each held by
// its back-off, or by the cooldown and the limits counting the deliveries so far and
// those before it in the round (DeliverAt). The last gate may still write one again
// (a config changed since), and a delivery may fail: neither is foreseen.
func nextRoundFates(cfg *Config, st *store.Store, ids []string, now time.Time) ([]ApprovedFate, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	queued, err := st.Reports(abusewatch.ReportQueued)
	if err != nil {
		return nil, err
	}
	policy := OutboxPolicy(cfg)
	ds, err := st.Deliveries(now.Add(-max(policy.Cooldown, 24*time.Hour)))
	if err != nil {
		return nil, err
	}
	sent := sentOf(ds)
	// What the round delivers: each report, or a group joined into one.
	type unit struct {
		r       abusewatch.Report
		members []string
	}
	var units []unit
	joined := map[string]bool{}
	for _, g := range guessGroups(queued) {
		u := unit{r: g[0]}
		u.r.Created, u.r.NextAttempt, u.r.Waiting = now, time.Time{}, ""
		for _, r := range g {
			u.members, joined[r.ID] = append(u.members, r.ID), true
			if r.NextAttempt.After(u.r.NextAttempt) {
				u.r.NextAttempt, u.r.Waiting = r.NextAttempt, r.Waiting
			}
		}
		units = append(units, u)
	}
	for _, r := range queued {
		if !joined[r.ID] {
			units = append(units, unit{r: r, members: []string{r.ID}})
		}
	}
	slices.SortStableFunc(units, func(a, b unit) int {
		return cmp.Or(a.r.Created.Compare(b.r.Created), strings.Compare(a.r.ID, b.r.ID))
	})
	round := slices.Clone(sent)
	fates := map[string]ApprovedFate{}
	for _, u := range units {
		var f ApprovedFate
		if u.r.NextAttempt.After(now) {
			f.Until, f.Why = u.r.NextAttempt, cmp.Or(u.r.Waiting, "tried again after a temporary failure: "+sanitizeText(u.r.Error))
		} else if until, why := policy.Hold(u.r, round, now); until.IsZero() {
			round = append(round, mailer.Sent{Report: u.r.ID, Time: now, Emails: u.r.Contact.Emails, Network: u.r.Contact.Network})
		} else {
			f.Until, f.Why = until, why
			if before, _ := policy.Hold(u.r, sent, now); !before.Equal(until) {
				// Held by what goes first at the round, not by what went before it.
				f.Earliest = true
				if last, ok := policy.LastTo(u.r.Contact, round[len(sent):], now); ok && last.Time.Add(policy.Cooldown).Equal(until) {
					f.After = last.Report
					f.Why = fmt.Sprintf("cooldown: report %s to the same party goes first, at the next round", last.Report)
				} else {
					f.Why += ", counting the reports that go before it at the next round"
				}
			}
		}
		for _, id := range u.members {
			g := f
			g.ID = id
			g.Joined = slices.DeleteFunc(slices.Clone(u.members), func(m string) bool { return m == id })
			if len(g.Joined) == 0 {
				g.Joined = nil
			}
			fates[id] = g
		}
	}
	out := make([]ApprovedFate, 0, len(ids))
	for _, id := range ids {
		if f, ok := fates[id]; ok {
			out = append(out, f)
		}
	}
	return out, nil
}

// sentLeftIn says why report r of st, which ended sent, cannot be approved, or nil
// when it can: some recipients of its contact did not take it (refused it for good,
// were left out for another report's refusal, or were given up on), and approving it
// by its ID sends it to them alone (the log's "recipient refused the report for good"
// names this approval). One whose recipients abusewatch did not record (sent by a
// version before it did, or found in the maildir after a stop), whose mail
// [retention] deleted, or whose incidents went into another report since (its
// contact changed while it was retried) is not sent again. A report in another state
// may always be tried.
func sentLeftIn(st *store.Store) func(abusewatch.Report) error {
	return func(r abusewatch.Report) error {
		if r.State != abusewatch.ReportSent {
			return nil
		}
		r.Refused = nil // approving tries them again
		left := unsentTo(r)
		switch {
		case len(r.Delivered) == 0:
			return fmt.Errorf("report %s was sent to %s; which of them took it is not recorded, so it is not sent again", r.ID, strings.Join(r.Contact.Emails, ", "))
		case len(left) == 0:
			return fmt.Errorf("report %s was sent to every recipient (%s): nothing is left to send", r.ID, strings.Join(r.Delivered, ", "))
		case len(r.Message) == 0:
			return fmt.Errorf("report %s: its mail is no longer kept ([retention] reports), so it cannot be sent to %s", r.ID, strings.Join(left, ", "))
		}
		for _, id := range r.Incidents {
			by, _, err := st.ReportFor(id)
			if err != nil {
				return err
			}
			if by == "" {
				return fmt.Errorf("report %s: its incident %s is no longer stored (pardoned), so it is not sent again", r.ID, id)
			}
			if by != r.ID {
				return fmt.Errorf("report %s: its incident %s went into report %s since (its contact changed): that one is the report to send", r.ID, id, by)
			}
		}
		return nil
	}
}

// approved queues a report at now, approved by the admin: tried again from now, its
// mail.give_up_after counting from its next attempt, its retries (Retried) afresh.
func approved(now time.Time) func(r *abusewatch.Report) {
	return func(r *abusewatch.Report) {
		r.State, r.Updated, r.NextAttempt, r.Waiting, r.Approved = abusewatch.ReportQueued, now, time.Time{}, "", now
		r.FirstTried, r.LastTried, r.Retried, r.Refused = time.Time{}, time.Time{}, 0, nil // tried again, to those that refused it too
	}
}

// RejectReports marks reports ids as rejected: they are never sent; one that some
// recipients took already (the others being retried) ends sent, not to the others. The marks of the
// mailboxes that refused one for good are forgotten: the admin judged that report, and
// the mailbox's next report is not held for it.
func RejectReports(st *store.Store, ids []string, now time.Time) (ReportsChanged, error) {
	from := append(approvable(), abusewatch.ReportQueued)
	res, err := changeReports(st, ids, from, abusewatch.ReportRejected, "rejected", nil, func(r *abusewatch.Report) {
		r.State, r.Updated, r.NextAttempt, r.Waiting = abusewatch.ReportRejected, now, time.Time{}, ""
		if len(r.Delivered) > 0 {
			// Some recipients had it (the others were being retried): it went, not to all.
			r.State, r.Error = abusewatch.ReportSent, fmt.Sprintf("not sent to %s: rejected by you; %s had it",
				strings.Join(unsentTo(*r), ", "), strings.Join(r.Delivered, ", "))
		}
	})
	for _, id := range res.Changed {
		if err != nil {
			break
		}
		err = st.ForgetRefusalsOf(id)
	}
	return res, err
}

// changeReports changes to the state to the reports ids that are in a state of from, all
// or none: every ID is checked before any report changes, so a mistyped one among
// several leaves the others as they were (it approved those before it and stopped). A
// report in state to already is left as it is, and counted in Already. check, when not
// nil, says why a report in a state of from is not to be changed (nil: it is), as read
// with its message.
func changeReports(st *store.Store, ids []string, from []abusewatch.ReportState, to abusewatch.ReportState, verb string,
	check func(abusewatch.Report) error, change func(*abusewatch.Report)) (ReportsChanged, error) {
	res := ReportsChanged{Changed: []string{}, Already: []string{}}
	var found []string
	var errs []error
	for _, id := range ids {
		r, ok, err := FindReport(st, id)
		var refused error // check's answer
		if err == nil && ok && check != nil && slices.Contains(from, r.State) {
			refused = check(r)
		}
		switch {
		case err != nil:
			errs = append(errs, err)
		case !ok:
			errs = append(errs, fmt.Errorf("no report %q (abusewatch outbox lists them)", id))
		case r.State == to:
			if !slices.Contains(res.Already, r.ID) {
				res.Already = append(res.Already, r.ID)
			}
		case !slices.Contains(from, r.State):
			errs = append(errs, fmt.Errorf("report %s is %s: only a report that is %s can be %s", r.ID, r.State, joinStates(from), verb))
		case refused != nil:
			errs = append(errs, refused)
		case !slices.Contains(found, r.ID): // the same report named twice is changed once
			found = append(found, r.ID)
		}
	}
	if len(errs) > 0 {
		them := "it"
		if len(errs) > 1 {
			them = "them"
		}
		return ReportsChanged{}, fmt.Errorf("%w\nNo report was changed: give the IDs again without %s", errors.Join(errs...), them)
	}
	for _, id := range found {
		if err := st.UpdateReport(id, func(s *abusewatch.Report) error {
			if !slices.Contains(from, s.State) {
				return fmt.Errorf("report %s changed to %s meanwhile", s.ID, s.State)
			}
			change(s)
			return nil
		}); err != nil {
			return res, err
		}
		res.Changed = append(res.Changed, id)
	}
	return res, nil
}

// joinStates is "a", "a or b", "a, b or c".
func joinStates(states []abusewatch.ReportState) string {
	s := make([]string, len(states))
	for i, st := range states {
		s[i] = string(st)
	}
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// MinReportIDLength is how much of a report's ID names it: IDs are 32 hex digits, and
// nobody types all of them.
const MinReportIDLength = 6

// ShortReportID says, when id is too short to name a report, what to give instead.
func ShortReportID(id string) error {
	if len(id) >= MinReportIDLength {
		return nil
	}
	return fmt.Errorf("report %q: an ID needs at least %d characters (abusewatch outbox lists them)", id, MinReportIDLength)
}

// FindReport finds a report by its ID or an unambiguous prefix of at least
// MinReportIDLength characters; a shorter one is an error, not "no report".
func FindReport(st *store.Store, id string) (abusewatch.Report, bool, error) {
	if r, ok, err := st.Report(id); ok || err != nil {
		return r, ok, err
	}
	if err := ShortReportID(id); err != nil {
		return abusewatch.Report{}, false, err
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
	// Fate says in whole sentences what would become of it: waits for approval, is
	// sent, waits for the cooldown until …, is not written (and why). Times are in
	// reporter.timezone.
	Fate string `json:"fate"`
	// ReportedIn is, when every incident of the address has a report already, the
	// report of the newest: nothing new would be written, and Report shows how a report
	// of that incident reads now.
	ReportedIn string `json:"reported_in,omitempty"`
}

// incidentFrom says whether addr is a source of the network incident inc. Its Sources
// say so; where they cannot (stored without them, or full at MaxSources), the events
// of addr stored in its time do.
func incidentFrom(st *store.Store, inc abusewatch.Incident, addr netip.Addr) (bool, error) {
	if inc.Addr.Unmap() == addr || slices.ContainsFunc(inc.Sources, func(a netip.Addr) bool { return a.Unmap() == addr }) {
		return true, nil
	}
	if len(inc.Sources) > 0 && len(inc.Sources) < abusewatch.MaxSources {
		return false, nil
	}
	evs, err := st.EventsByAddr(addr, inc.First, inc.Last)
	return len(evs) > 0, err
}

// PreviewReport composes, without storing it, the report abusewatch would write now
// about addr: its incidents not reported yet (or, when all are, its newest one), to the
// contact lookup finds, with the policy's verdict. finder looks the contact up: the
// running daemon's, whose requests its metrics count and whose back-off from a registry
// that asked it to slow down holds; nil, one of the config's own.
func PreviewReport(ctx context.Context, cfg *Config, st *store.Store, finder *lookup.Finder, addr netip.Addr, now time.Time) (Preview, error) {
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
	var newestReport string        // the report of the last of reported
	var holds *abusewatch.Incident // a network incident that holds addr but not from it
	for _, inc := range incs {
		switch {
		case inc.AboutNetwork() || !inc.Addr.IsValid():
			if !inc.Network.Contains(addr) {
				continue
			}
			// A network incident is from addr when addr is one of its sources, not
			// when its network holds addr: a /48 holds 2^80 addresses that sent
			// nothing (review 46 finding 5).
			from, err := incidentFrom(st, inc, addr)
			if err != nil {
				return Preview{}, err
			}
			if !from {
				if holds == nil {
					holds = &inc
				}
				continue
			}
		case inc.Addr != addr:
			continue
		}
		if id, ok, err := st.ReportFor(inc.ID); err != nil {
			return Preview{}, err
		} else if ok {
			reported, newestReport = append(reported, inc), id
			continue
		}
		mine = append(mine, inc)
	}
	already := len(mine) == 0
	if already {
		if len(reported) == 0 {
			if why := cfg.NeverReported(addr); why != "" {
				// As ip says it: the reason is the config's, not the store's.
				return Preview{}, fmt.Errorf("%s is never reported: %s", addr, why)
			}
			if holds != nil {
				return Preview{}, fmt.Errorf("no incident from %s in %s: nothing would be reported about it. The incident %s of %s holds the address, but %s is not among its sources (%s previews its report)",
					addr, cfg.Store.Path, holds.ID, abusewatch.UnmapPrefix(holds.Network), addr, cfg.Command("report preview", holds.Addr.Unmap().String()))
			}
			return Preview{}, fmt.Errorf("no incident from %s in %s: nothing would be reported", addr, cfg.Store.Path)
		}
		mine = reported[len(reported)-1:]
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
	cutoff, limited := reportCutoff(cfg, now)
	stale := false
	if limited && !already {
		fresh := slices.DeleteFunc(slices.Clone(mine), func(inc abusewatch.Incident) bool { return inc.Last.Before(cutoff) })
		if stale = len(fresh) == 0; stale {
			mine = mine[len(mine)-1:]
		} else {
			mine = fresh
		}
	}
	if finder == nil {
		if finder, err = NewFinder(cfg, st); err != nil {
			return Preview{}, err
		}
	}
	contact, err := finder.Contact(ctx, addr)
	if err != nil {
		return Preview{}, fmt.Errorf("no abuse contact for %s: %w", addr, err)
	}
	if len(contact.Emails) == 0 {
		return Preview{}, fmt.Errorf("no abuse contact for %s: the lookup found no address", addr)
	}
	except := ""
	if already {
		except = newestReport // as it was reported: beside the others of its report
	}
	// A network incident of several parties is shown as addr's party's share: its own
	// addresses, their lines and counts, as the round would write it to that party.
	pp := &Pipeline{cfg: cfg, store: st, finder: finder, Counters: &Counters{}, log: slog.New(slog.DiscardHandler)}
	shares := mine[:0:0]
	inexact := map[string]mailer.Inexact{}
	for _, inc := range mine {
		part, in, ok, err := pp.theirs(ctx, inc, contact, except)
		if err != nil {
			return Preview{}, err
		}
		if ok {
			shares, inexact[part.ID] = append(shares, part), in
		}
	}
	if len(shares) == 0 {
		return Preview{}, fmt.Errorf("nothing from %s would be reported to %s: none of its incidents' addresses is that contact's",
			addr, strings.Join(contact.Emails, ", "))
	}
	mine = shares
	base, err := NewComposer(cfg)
	if err != nil {
		return Preview{}, err
	}
	composer, err := ReportComposer(cfg, base)
	if err != nil {
		return Preview{}, err
	}
	known, err := knownOf(st, mine, except, cfg.reportableClasses())
	if err != nil {
		return Preview{}, err
	}
	known = knowingInexact(known, inexact)
	r, err := composer.ComposeKnowing(contact, mine, known, now)
	if err != nil {
		return Preview{}, err
	}
	loc := Location(cfg.Reporter.Timezone)
	stamp := func(t time.Time) string { return t.In(loc).Format("2006-01-02 15:04 -0700") }
	switch {
	case already:
		state := "gone"
		if old, ok, err := st.Report(newestReport); err != nil {
			return Preview{}, err
		} else if ok {
			state = string(old.State)
		}
		return Preview{Report: r, ReportedIn: newestReport, Fate: fmt.Sprintf(
			"Nothing new would be written: every incident from %s has a report already (the newest is in report %s, %s: abusewatch report show %s prints it). Below, how a report of the newest incident reads now.",
			addr, shortID(newestReport), state, shortID(newestReport))}, nil
	case stale:
		return Preview{Report: r, Fate: fmt.Sprintf(
			"It would not be written: every incident from %s not reported yet ended before %s, more than policy.max_age (%s) ago. Below, how the newest one would read.",
			addr, stamp(cutoff), cfg.Policy.MaxAge)}, nil
	}
	policy := OutboxPolicy(cfg)
	ds, err := st.Deliveries(now.Add(-max(policy.Cooldown, 24*time.Hour)))
	if err != nil {
		return Preview{}, err
	}
	sent := sentOf(ds)
	until, hold := policy.Hold(r, sent, now)
	held := !until.IsZero()
	var fate string
	switch cfg.Policy.Mode {
	case "observe":
		fate = "It would be held (observe mode): never sent."
	case "review":
		fate = "It would wait for your approval (review mode)."
		if held {
			fate = fmt.Sprintf("It would wait for your approval (review mode) and, once approved, until %s (%s).", stamp(until), hold)
		}
	default:
		fate = "It would be sent at the next round (auto mode)."
		if held {
			fate = fmt.Sprintf("It would wait until %s (%s), then be sent (auto mode).", stamp(until), hold)
		}
	}
	if contact.Guess && cfg.Policy.Mode != "observe" {
		// heldIfGuessed: a guess never goes on its own.
		fate = fmt.Sprintf("Its recipients are a guess (the registry names no one; the reverse name %s is in their domain): "+
			"it would wait for your approval in every mode.", sanitizeText(contact.PTR))
		if held {
			fate += fmt.Sprintf(" Once approved, it would wait until %s (%s).", stamp(until), hold)
		}
	}
	// What holds it back says so, as the round decides it (holdOfParty, whose words
	// `incidents`, `scan` and the summary give): a report to the same party not gone
	// yet, or the party's cooldown, before which the round writes no report to it (its
	// incidents join the next), and a split network incident waiting for a wider one's
	// reports (waitsForWider) or for another party (Report): "would be sent at the next
	// round" was false for these.
	// A guessed party's report waiting for approval is the one these join (gatherGuesses),
	// and holds back no registry desk (holdingReport).
	var party partyHold
	if cfg.Policy.Mode != "observe" {
		waiting, err := st.Reports(abusewatch.ReportPendingApproval, abusewatch.ReportQueued, abusewatch.ReportSending)
		if err != nil {
			return Preview{}, err
		}
		if w, ok := pendingGuess(contact, waiting); ok {
			fate = fmt.Sprintf("Its recipients are a guess (the registry names no one; the reverse name %s is in their domain), and report %s to them waits for your approval: "+
				"these incidents join it, written again as one report, which waits for your approval.",
				sanitizeText(contact.PTR), shortID(w.ID))
			if held {
				fate += fmt.Sprintf(" Once approved, it would wait until %s (%s).", stamp(until), hold)
			}
			fate += " Below, how this part of it would read."
		} else if party = holdOfParty(contact, waiting, policy, sent, now); party.behind.ID != "" {
			fate = fmt.Sprintf("It would not be written yet: report %s to the same party waits (%s); these incidents join the party's next report after it goes. Below, how it would read now.",
				shortID(party.behind.ID), party.behind.State)
		} else if party.held() {
			then := "which is sent (auto mode)"
			switch {
			case contact.Guess:
				then = fmt.Sprintf("which waits for your approval in every mode: its recipients are a guess (the registry names no one; the reverse name %s is in their domain)",
					sanitizeText(contact.PTR))
			case cfg.Policy.Mode == "review":
				then = "which waits for your approval (review mode)"
			}
			fate = fmt.Sprintf("It would not be written before %s (%s): these incidents join the party's next report then, %s. Below, how it would read now.",
				stamp(party.until), party.why, then)
		}
	}
	misses := &contactMisses{st: st}
	ids := make([]string, len(mine))
	for i := range mine {
		ids[i] = mine[i].ID
	}
	stored, err := st.FirstStored(ids)
	if err != nil {
		return Preview{}, err
	}
	for _, inc := range mine {
		m, err := misses.get(inc.ID)
		if err != nil {
			return Preview{}, err
		}
		// A miss stored while the settle runs is a scan's round's, which went past it:
		// what that round found is the reason, as Unreported.Reason says everywhere else.
		if until := settledAt(inc, stored[inc.ID], cfg.Policy.Settle.Duration); now.Before(until) && !already && m.why == "" {
			// The round writes none before then (Report): a login from the address read
			// meanwhile holds it.
			fate = fmt.Sprintf("Its incident %s waits until %s (policy.settle, %s after its first event, or after it was stored when that was later) for a login from %s, which would hold it; if none comes: %s",
				inc.ID, stamp(until), cfg.Policy.Settle, addr, fate)
		}
		if m.code == UnreportedWaitsForWider {
			fate = fmt.Sprintf("Its incident %s (%s) %s. %s", inc.ID, inc.Network, m.why, fate)
		} else if m.code == UnreportedWaitsForParty && !party.held() {
			// Another party of a split network incident (addr's own party's hold is
			// told above, as it is now).
			fate = fmt.Sprintf("Its incident %s (%s) %s (at the last round). After that: %s", inc.ID, inc.Network, m.why, fate)
		}
	}
	if cfg.Policy.Mode != "observe" {
		// A recipient that refused a report for good has every report wait for the
		// admin (DeliverAt).
		w, err := refusedPreview(st, contact.Emails, loc, now)
		if err != nil {
			return Preview{}, err
		}
		if w != "" {
			fate = strings.TrimSpace(w) + " Otherwise: " + fate
		}
	}
	return Preview{Report: r, Fate: fate}, nil
}

// shortID is the first 12 characters of a report's ID: enough to name it.
func shortID(id string) string {
	return id[:min(len(id), 12)]
}
