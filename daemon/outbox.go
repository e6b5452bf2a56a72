package daemon

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/correlate"
	"github.com/abusewatch/abusewatch/lookup"
	"github.com/abusewatch/abusewatch/mailer"
	"github.com/abusewatch/abusewatch/store"
)

// Tick does the scheduled work of the daemon in one go: it re-correlates recent events
// when correlate.recorrelate_interval has passed, then does a round of the outbox
// (OutboxRound). scan calls it once at the end; the daemon runs the two apart, the
// outbox beside the reading of the logs.
func (p *Pipeline) Tick(ctx context.Context, now time.Time) error {
	if err := p.Recorrelate(ctx, now); err != nil {
		return fmt.Errorf("re-correlating: %w", err)
	}
	return p.OutboxRound(ctx, now)
}

// OutboxRound settles reports a previous run left in `sending`, writes reports for new
// incidents, writes those to one guessed contact again as one (gatherGuesses), delivers
// the queued ones within the policy's limits and sends the admin's daily summary when it
// is due. Its lookups and deliveries wait on the network (a
// registry or mail server that does not answer, for as long as the timeouts allow), so
// the daemon runs it on a goroutine of its own, one round at a time, while the main loop
// goes on reading the logs and answering the admin: it reads the correlator only
// through Excluded.
func (p *Pipeline) OutboxRound(ctx context.Context, now time.Time) error {
	if err := p.RecoverInterrupted(now); err != nil {
		return fmt.Errorf("settling interrupted deliveries: %w", err)
	}
	if err := p.recheckUnsent(ctx, now); err != nil {
		return fmt.Errorf("checking the unsent reports against the config: %w", err)
	}
	if err := p.Report(ctx, now); err != nil {
		return fmt.Errorf("writing reports: %w", err)
	}
	if err := p.gatherGuesses(ctx, now); err != nil {
		return fmt.Errorf("gathering the reports to a guessed contact: %w", err)
	}
	// A report the abuse desk's server refuses (tried again later, or failed for good)
	// does not hold up the admin's summary: while one was refused at every round, no
	// summary went, the one mail that would have said so.
	var errs []error
	if err := p.DeliverAt(ctx, now); err != nil {
		errs = append(errs, fmt.Errorf("delivering reports: %w", err))
	}
	if err := p.Summarise(ctx, now); err != nil {
		errs = append(errs, fmt.Errorf("daily summary: %w", err))
	}
	return errors.Join(errs...)
}

// RecoverInterrupted handles reports left in `sending`: only Tick sends and it leaves
// no report in that state when it returns, so one found there was being sent when a
// previous process died. It may or may not have reached the server, so it is not sent
// again on its own: it goes back to the admin (pending-approval) with a log line that
// says so and how to send it. A maildir tells: the report is sent when its message is
// there, and queued again when it is not.
func (p *Pipeline) RecoverInterrupted(now time.Time) error {
	stuck, err := p.store.Reports(abusewatch.ReportSending)
	if err != nil {
		return err
	}
	local, _ := p.transport.(interface {
		Delivered(abusewatch.Report) (string, bool, error)
	})
	for _, r := range stuck {
		unknown := false // a maildir that cannot tell: the message may be there
		if local != nil {
			loc, found, err := local.Delivered(r)
			if err == nil {
				if err := p.settleLocal(r, loc, found, now); err != nil {
					return err
				}
				continue
			}
			unknown = true
			p.log.Warn("the maildir cannot tell whether a report found being sent is there", "id", r.ID, "err", err)
		}
		if r.BeforeData && !unknown {
			// Stopped before the message began to leave (no DATA): nothing arrived.
			if err := p.store.UpdateReport(r.ID, func(s *abusewatch.Report) error {
				s.State, s.Updated, s.NextAttempt, s.Waiting, s.BeforeData = abusewatch.ReportQueued, now, time.Time{}, "", false
				s.Error = "abusewatch stopped while sending it, before the message began to leave (no DATA sent): queued again"
				return nil
			}); err != nil {
				return err
			}
			p.log.Info("report was being sent when abusewatch stopped, before its message began to leave: queued again", "id", r.ID,
				"to", strings.Join(r.Contact.Emails, ", "))
			continue
		}
		msg := fmt.Sprintf("abusewatch stopped while sending this report (attempt %d, %s); it may or may not have arrived, "+
			"so it is not sent again on its own: check the mail server's log, then `%s` to send it "+
			"or `%s`", r.Attempts, r.Updated.In(p.zone()).Format("2006-01-02 15:04:05 -0700"),
			p.cfg.Command("report approve", r.ID), p.cfg.Command("report reject", r.ID))
		if err := p.store.UpdateReport(r.ID, func(s *abusewatch.Report) error {
			s.State, s.Updated, s.Error, s.Waiting = abusewatch.ReportPendingApproval, now, msg, ""
			return nil
		}); err != nil {
			return err
		}
		p.log.Warn("report was being sent when abusewatch stopped: not sending it again without your approval",
			"id", r.ID, "to", strings.Join(r.Contact.Emails, ", "), "approve", p.cfg.Command("report approve", r.ID))
	}
	return nil
}

// settleLocal settles report r, found `sending` after a stop, by what the maildir
// holds: its message at loc (found), it was delivered; none, it was not, and it is
// queued again as it was (approved, in its cooldown's place).
func (p *Pipeline) settleLocal(r abusewatch.Report, loc string, found bool, now time.Time) error {
	if found {
		delivery := &store.Delivery{Report: r.ID, Time: r.Updated, Emails: r.Contact.Emails, Network: r.Contact.Network}
		if err := p.store.FinishDelivery(r.ID, func(s *abusewatch.Report) error {
			s.State, s.Updated, s.Location, s.Error, s.NextAttempt = abusewatch.ReportSent, now, loc, "", time.Time{}
			return nil
		}, delivery); err != nil {
			return err
		}
		p.log.Info("report was being written into the maildir when abusewatch stopped: it is there, so it was delivered", "id", r.ID, "where", loc)
		return nil
	}
	if err := p.store.UpdateReport(r.ID, func(s *abusewatch.Report) error {
		s.State, s.Updated, s.NextAttempt, s.Waiting = abusewatch.ReportQueued, now, time.Time{}, ""
		s.Error = "abusewatch stopped while writing it into the maildir, before it was there: queued again"
		return nil
	}); err != nil {
		return err
	}
	p.log.Info("report was being written into the maildir when abusewatch stopped: it is not there, so it is queued again", "id", r.ID)
	return nil
}

// settledAt is when incident inc, first stored at stored (zero: not known), may be
// reported under policy.settle: settle after its first event, so that an attack that
// goes on is still reported settle after it began; or after it was first stored, when
// that was later: the lines of a backlog (a first start, a restart after a stop) or of
// a host whose clock is behind are dated long before they are read, and a login the
// log holds a moment after the failures is read after them (review 42 H2: the report
// with the password typed as the user name went a second before the login was read).
func settledAt(inc abusewatch.Incident, stored time.Time, settle time.Duration) time.Time {
	if settle <= 0 {
		return time.Time{}
	}
	if stored.After(inc.First) {
		return stored.Add(settle)
	}
	return inc.First.Add(settle)
}

// waitsForLogin says whether policy.settle still holds inc's report at now: not for an
// incident a scan made or grew (read whole, a login in its files was read with it).
func (p *Pipeline) waitsForLogin(inc abusewatch.Incident, stored time.Time, now time.Time) (until time.Time, waits bool) {
	if p.scanned && p.touched[inc.ID] {
		return time.Time{}, false
	}
	until = settledAt(inc, stored, p.settle)
	return until, now.Before(until)
}

// reportBatch is how many unreported incidents one round of Report takes on.
const reportBatch = 2000

// roundTaken is what a round of Report took up of the list of unreported incidents: an
// incident it left, when the list held more than reportBatch, was not looked at, and the
// log says nothing of it (review 46 L1: scan said "see the log").
type roundTaken struct {
	took map[string]bool
	left bool // the list held more: the next round goes on from where this one stopped
}

// waits says whether incident id waits for a later round, which this one left it to.
func (r *roundTaken) waits(id string) bool {
	return r != nil && r.left && !r.took[id]
}

// Report writes one report per responsible party for the incidents not reported yet, in
// the state the policy mode asks for. Incidents whose contact cannot be found stay
// unreported and are tried again next time, and so do those of a party that had a report
// within the cooldown or has one waiting: they join its next memo, so the party gets one
// mail per cooldown that covers every incident from its networks since the last.
func (p *Pipeline) Report(ctx context.Context, now time.Time) (err error) {
	// What the round found no one to write to for is kept for the commands that run
	// without the daemon, and for the next process.
	defer func() {
		if serr := p.misses.save(); serr != nil {
			err = errors.Join(err, serr)
		}
	}()
	// A bounded share each round: after `abusewatch correlate` over months there may be
	// hundreds of thousands; the rest wait for the next rounds, each of which goes on
	// where the last stopped (those of a party that must wait are taken again only
	// after all the others).
	if err := p.expireStale(now); err != nil {
		return err
	}
	p.misses.forgetBefore(now.Add(-24 * time.Hour))
	after := p.reportAfter
	incs, next, err := p.store.UnreportedIncidents(after, reportBatch)
	if err != nil {
		return err
	}
	p.reportAfter = next
	if p.touched != nil {
		p.lastRound = &roundTaken{took: make(map[string]bool, len(incs)), left: next != ""}
		for _, inc := range incs {
			p.lastRound.took[inc.ID] = true
		}
	}
	// In the order the list was read (by ID from after on, then from the first), so
	// that a round cut short by its budget hands the next one where it stopped.
	slices.SortFunc(incs, func(a, b abusewatch.Incident) int {
		return cmp.Or(cmp.Compare(wrapped(a.ID, after), wrapped(b.ID, after)), strings.Compare(a.ID, b.ID))
	})
	if len(incs) == 0 {
		// Nothing new; another login from an address mailed about may be.
		return p.alertCompromises(ctx, nil, now)
	}
	// When each was first stored: policy.settle counts from then for a backlog.
	ids := make([]string, len(incs))
	for i := range incs {
		ids[i] = incs[i].ID
	}
	stored, err := p.store.FirstStored(ids)
	if err != nil {
		return err
	}
	type party struct {
		contact   abusewatch.Contact
		incidents []abusewatch.Incident
		ptr       map[string]string     // incident ID → its address's reverse name, as looked up
		shares    map[string]partyShare // incident ID → the part of it that is this party's
	}
	var parties []*party
	byKey := map[string]*party{}
	var split []splitIncident // network incidents of several parties: written after the others
	// The incidents the outbox is done with though nothing is reported: they leave the
	// work list (ExpireUnreported).
	var done []string
	// Incidents all of whose lines an earlier report holds (a pass after a rule change
	// makes them): marked reported by it, not mailed again. By incident ID: the report.
	held, heldDigests := map[string]string{}, map[string]uint64{}
	var excluded int
	// Lookups that failed, told in one warning: with the resolver or the registries
	// down, every incident of the round fails alike.
	var failed int
	var firstFailed abusewatch.Incident
	var firstAddrs []netip.Addr // of firstFailed, those whose lookups failed
	var firstErr error
	var compromises []abusewatch.Incident // mailed to the admin after the loop (alertCompromises)
	// The lookups wait on the network: past the budget, the round leaves the rest of
	// the list to the next, so that what is queued is still delivered every round.
	deadline := time.Now().Add(p.roundBudget)
	reported := newRoundReported(p.store, incs)
	for i, inc := range incs {
		if i > 0 && p.roundBudget > 0 && time.Now().After(deadline) {
			p.reportAfter = incs[i-1].ID
			p.log.Info("the lookups of this round took their time; the other incidents wait for the next round",
				"budget", p.roundBudget, "done", i, "left", len(incs)-i)
			break
		}
		inc, leftOut, ok := reportableThrough(p.correlator, inc)
		if !ok {
			// Excluded after it was made (`exclude`, never_report and a reload).
			done = append(done, inc.ID)
			excluded++
			continue
		}
		if len(leftOut) > 0 {
			p.log.Info("incident reported without the addresses of it excluded since it was made",
				"incident", inc.ID, "network", inc.Network, "left_out", addrList(leftOut))
			if inc, err = p.recounted(inc, leftOut); err != nil {
				return err
			}
		}
		if inc.AdminOnly && !inc.Success {
			// Weak or spoofable evidence alone, or a rate anomaly: the admin sees it
			// (incidents, net, the summary), the outside never does.
			p.log.Debug("incident is for the admin only: not reported outside", "incident", inc.ID, "rule", inc.Rule)
			continue
		}
		if inc.Success {
			// Never outside: a success may be our own user; the admin must look first.
			// Mailed to the admin at once, then off the work list (the summary lists it
			// first); it is on the list again, and mailed again, when it grows.
			compromises = append(compromises, inc)
			continue
		}
		if by, err := p.heldByReport(incs[i], reported); err != nil {
			return err
		} else if by != "" {
			held[inc.ID], heldDigests[inc.ID] = by, store.IncidentDigest(incs[i])
			continue
		}
		if until, waits := p.waitsForLogin(inc, stored[inc.ID], now); waits {
			// A login from the address read before then holds it (Success, above): the
			// admin who mistyped a password as the user name logs in a moment later.
			p.log.Debug("incident waits for policy.settle before its report: a login from its address read meanwhile holds it",
				"incident", inc.ID, "until", until)
			continue
		}
		var contact abusewatch.Contact
		var err error
		if !inc.AboutNetwork() {
			if contact, err = p.contact(ctx, inc.Addr); err == nil && len(contact.Emails) == 0 {
				err = errors.New("the contact has no e-mail address")
			}
		}
		// A network incident goes whole only when every one of its addresses is the
		// contact's (a narrower contact may speak for part of it whatever the first
		// address's says); otherwise each party is told its own addresses.
		share, addr := partyShare{}, inc.Addr
		var missed []netip.Addr // of a network incident, the addresses no contact was found for
		missAt, missNote := now, ""
		if inc.AboutNetwork() {
			var until time.Time // the round's first incident is looked up in full, so that each round gets on
			if i > 0 && p.roundBudget > 0 {
				until = deadline
			}
			// A lookup that failed for a reason that passes makes the incident wait, for
			// transientWait from the first such round; then it goes without those addresses.
			prev, _ := p.misses.get(inc.ID)
			patient := prev.code != UnreportedNoContact || now.Sub(prev.at) < transientWait
			var res partiesOf
			res, addr, err = p.byParty(ctx, inc, until, patient)
			if errors.Is(err, errRoundOver) {
				p.reportAfter = incs[i-1].ID
				p.log.Info("the lookups of this round took their time; the other incidents wait for the next round",
					"budget", p.roundBudget, "done", i, "left", len(incs)-i)
				break
			}
			if err != nil && transient(err) && prev.code == UnreportedNoContact {
				missAt = prev.at // waiting since then
			}
			share.owner = res.owner
			if left := leftOutOf(res.owner); err == nil && len(res.contacts) > 0 && len(left) > 0 {
				p.log.Info("addresses of a network incident on the do-not-contact list are left out of its report",
					"incident", inc.ID, "network", inc.Network, "left_out", addrList(left))
			}
			if err == nil && len(res.contacts) > 0 && len(res.missed) > 0 {
				p.log.Warn("addresses of a network incident without an abuse contact are left out of its report; the others' shares go (abusewatch whois ADDR shows the lookup step by step)",
					"incident", inc.ID, "network", inc.Network, "left_out", addrList(res.missed), "err", res.missErr)
				missNote = fmt.Sprintf("no abuse contact found at %s for %s: told to no one, the other addresses' parties are told theirs (abusewatch whois %s): %s",
					now.In(p.zone()).Format("2006-01-02 15:04"), addrList(res.missed), res.missed[0], sanitizeText(res.missErr.Error()))
			}
			switch {
			case err != nil:
			case len(res.contacts) == 0 && len(res.missed) > 0:
				err, addr, missed = res.missErr, res.missed[0], res.missed
			case len(res.contacts) == 0:
				err = fmt.Errorf("%w: every address of %s", lookup.ErrDoNotContact, inc.Network)
			case len(res.contacts) > 1:
				if missNote != "" {
					p.misses.set(inc.ID, UnreportedNoContact, missNote, now)
				} else {
					p.misses.clear(inc.ID)
				}
				var waiting time.Time
				if prev.code == UnreportedWaitsForWider {
					waiting = prev.at
				}
				split = append(split, splitIncident{inc, res.contacts, res.owner, waiting})
				continue
			default:
				contact = res.contacts[0]
				if missNote == "" && len(leftOutOf(res.owner)) == 0 && p.holds(contact, inc.Network) {
					share.owner = nil // all of it is the contact's: the whole incident, as it grows
				} else if inc, _, _, err = p.share(inc, share); err != nil {
					return err
				}
			}
		}
		if errors.Is(err, lookup.ErrDoNotContact) {
			p.log.Debug("network is on the do-not-contact list: not reported", "incident", inc.ID, "addr", inc.Addr)
			p.misses.set(inc.ID, UnreportedDoNotContact, "its network is on the do-not-contact list ([[do_not_contact]])", now)
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// Named by the addresses whose lookups failed: a network incident's first may
			// be one the do-not-contact list left out.
			if missed == nil {
				missed = []netip.Addr{addr}
			}
			p.log.Debug("no abuse contact found; will try again", "incident", inc.ID, "addr", addrList(missed), "err", err)
			of := ""
			if inc.AboutNetwork() {
				of = " for " + addrList(missed)
			}
			// The error may quote a registry's or a resolver's answer: one printable line.
			p.misses.set(inc.ID, UnreportedNoContact, fmt.Sprintf("no abuse contact found at %s%s, tried again every round (abusewatch whois %s): %s",
				now.In(p.zone()).Format("2006-01-02 15:04"), of, addr, sanitizeText(err.Error())), missAt)
			if failed++; failed == 1 {
				firstFailed, firstAddrs, firstErr = inc, missed, err
			}
			continue
		}
		if missNote != "" {
			p.misses.set(inc.ID, UnreportedNoContact, missNote, now)
		} else {
			p.misses.clear(inc.ID)
		}
		p.setPTR(ctx, &inc)
		key := strings.ToLower(strings.Join(contact.Emails, ","))
		pt := byKey[key]
		if pt == nil {
			pt = &party{contact: contact, ptr: map[string]string{}, shares: map[string]partyShare{}}
			byKey[key] = pt
			parties = append(parties, pt)
		}
		pt.contact = withNetworks(pt.contact, contact)
		pt.incidents = append(pt.incidents, inc)
		pt.ptr[inc.ID] = inc.PTR
		pt.shares[inc.ID] = share
	}
	if excluded > 0 {
		p.log.Info("incidents of networks excluded since they were made are never reported", "incidents", excluded)
	}
	if failed > 0 {
		p.log.Warn("no abuse contact found; these incidents are tried again next round (abusewatch whois ADDR shows the lookup step by step)",
			"incidents", failed, "first", firstFailed.ID, "addr", addrList(firstAddrs), "err", firstErr)
	}
	if err := p.alertCompromises(ctx, compromises, now); err != nil {
		return err
	}
	if err := p.store.ExpireUnreported(done); err != nil {
		return err
	}
	if len(held) > 0 {
		p.marking.Lock()
		marked, err := p.store.MarkReportedBy(held, heldDigests)
		p.marking.Unlock()
		if err != nil {
			return err
		}
		for _, id := range marked {
			p.log.Info("incident not reported again: an earlier report holds all its lines", "incident", id, "report", held[id])
		}
	}
	// A split network incident within a wider one of the round whose times meet it (a
	// /24 in its /16 or /8) waits (waitsForWider): each party is told the widest, and
	// then the narrower is held by its report (heldByReport), or its shares leave out
	// what that holds; otherwise each party got a report per size of the same lines.
	// The widest are written first.
	var wider []abusewatch.Incident
	for _, pt := range parties {
		wider = append(wider, pt.incidents...)
	}
	for _, sp := range split {
		wider = append(wider, sp.inc)
	}
	slices.SortStableFunc(split, func(a, b splitIncident) int {
		return cmp.Compare(abusewatch.UnmapPrefix(a.inc.Network).Bits(), abusewatch.UnmapPrefix(b.inc.Network).Bits())
	})
	if len(parties) == 0 && len(split) == 0 {
		return nil
	}
	state := map[string]abusewatch.ReportState{
		"observe": abusewatch.ReportHeld,
		"review":  abusewatch.ReportPendingApproval,
		"auto":    abusewatch.ReportQueued,
	}[p.cfg.Policy.Mode]
	composer, err := ReportComposer(p.cfg, p.composer)
	if err != nil {
		return err
	}
	waiting, err := p.store.Reports(abusewatch.ReportPendingApproval, abusewatch.ReportQueued, abusewatch.ReportSending)
	if err != nil {
		return err
	}
	policy := OutboxPolicy(p.cfg)
	sent, err := p.sentSince(now.Add(-policy.Cooldown))
	if err != nil {
		return err
	}
	for _, pt := range parties {
		if r, ok := pendingGuess(pt.contact, waiting); ok && state != abusewatch.ReportHeld {
			// Written beside the guessed party's report waiting for approval, and joined
			// to it before the round delivers (gatherGuesses): the admin reads, and the
			// party gets, one report, whatever the cooldown holds it for once approved.
			p.log.Debug("guessed party has a report waiting for approval; new incidents join it", "to", strings.Join(pt.contact.Emails, ", "),
				"waiting", r.ID, "incidents", len(pt.incidents))
		} else if state != abusewatch.ReportHeld {
			if hold := holdOfParty(pt.contact, waiting, policy, sent, now); hold.held() {
				to := strings.Join(pt.contact.Emails, ", ")
				p.log.Debug("party has a report waiting or is in its cooldown; new incidents join its next report", "to", to,
					"waiting", hold.behind.ID, "until", hold.until, "incidents", len(pt.incidents))
				// Said where the admin looks, as of a split network incident's shares.
				why := hold.words(to, p.zone(), false)
				for _, inc := range pt.incidents {
					p.misses.set(inc.ID, UnreportedWaitsForParty, why, now)
				}
				continue
			}
		}
		if err := p.writeReport(composer, pt.contact, pt.incidents, pt.ptr, pt.shares, state, now); err != nil {
			return err
		}
	}
	// The party loop wrote reports: a share must not go to a party the round just wrote
	// one to (two mails at once, the cooldown passed by), so what waits and what was sent
	// are read again.
	if len(split) > 0 && state != abusewatch.ReportHeld {
		if waiting, err = p.store.Reports(abusewatch.ReportPendingApproval, abusewatch.ReportQueued, abusewatch.ReportSending); err != nil {
			return err
		}
		if sent, err = p.sentSince(now.Add(-policy.Cooldown)); err != nil {
			return err
		}
	}
splits:
	for _, sp := range split {
		if w, ok := widerOf(sp.inc, wider); ok {
			if wait, err := p.waitsForWider(sp, w, now); err != nil || wait {
				if err != nil {
					return err
				}
				continue
			}
		}
		// Every party's share goes in the same round, or none: the incident is marked
		// reported only with all of them written. One that must wait holds up the others'.
		// A guessed party's does not: its share waits for the admin whatever happens
		// (holdGuessedShares), and whoever holds one address of the network sets the
		// reverse name that makes it a party, so a guess waiting for approval held every
		// registry desk's share for as long as the admin did nothing (review 21c R2). Its
		// share is written beside its waiting report, held like it, and joins it before
		// the round delivers (gatherGuesses). Nor does a guess's report waiting for
		// approval hold a desk whose mailbox the guess names too (holdingReport).
		for _, c := range sp.contacts {
			if state == abusewatch.ReportHeld {
				break
			}
			if c.Guess {
				continue
			}
			to := strings.Join(c.Emails, ", ")
			if hold := holdOfParty(c, waiting, policy, sent, now); hold.held() {
				p.log.Debug("a party of a network incident has a report waiting or is in its cooldown; every party's share waits",
					"incident", sp.inc.ID, "to", to)
				// Said where the admin looks (`scan`, `incidents`, `report preview`):
				// a Debug line alone left "not reported yet (see the log)" with
				// nothing in the log at -v.
				p.misses.set(sp.inc.ID, UnreportedWaitsForParty, hold.words(to, p.zone(), true), now)
				continue splits
			}
		}
		if err := p.writeShares(composer, sp, state, now); err != nil {
			return err
		}
		if slices.ContainsFunc(sp.contacts, func(c abusewatch.Contact) bool { return c.Guess }) {
			if err := p.holdGuessedShares(sp.inc.ID, now); err != nil {
				return err
			}
		}
	}
	return nil
}

// holdGuessedShares holds for the admin (heldIfGuessed) the shares of network incident
// id written at now to a guessed contact.
func (p *Pipeline) holdGuessedShares(id string, now time.Time) error {
	rs, err := p.store.Reports(abusewatch.ReportQueued, abusewatch.ReportPendingApproval)
	if err != nil {
		return err
	}
	for _, r := range rs {
		if !r.Contact.Guess || !r.Created.Equal(now) || r.Error != "" || !slices.Contains(r.Incidents, id) {
			continue
		}
		if err := p.store.UpdateReport(r.ID, func(s *abusewatch.Report) error {
			if s.State == abusewatch.ReportQueued || s.State == abusewatch.ReportPendingApproval {
				heldIfGuessed(s)
			}
			return nil
		}); err != nil {
			return err
		}
		p.log.Info("report to a guessed contact waits for your approval", "id", r.ID, "to", strings.Join(r.Contact.Emails, ", "))
	}
	return nil
}

// composeAttempts is how many times a round composes a party's report whose incidents
// keep changing while it is written, before it leaves them to the next round.
const composeAttempts = 3

// reportComposed, when not nil, is called between the composing of a report and its
// adding: tests grow its incidents there.
var reportComposed func(r abusewatch.Report)

// writeReport writes the report of the incidents of one party (as the round read them,
// with their PTR names looked up) to contact, in state. The daemon's main loop grows
// incidents while the round looks up contacts and names, which takes seconds when a
// resolver or registry is slow: the incidents are read again just before the report is
// composed, and AddReportOf marks them reported only if they are still stored as read,
// in the transaction that marks them. Otherwise, grown since, they are read and composed
// again at once (composeAttempts times, then left to the next round, still unreported):
// growth while a report is written is never marked reported without being in its mail.
func (p *Pipeline) writeReport(composer *mailer.Composer, contact abusewatch.Contact, read []abusewatch.Incident,
	ptr map[string]string, shares map[string]partyShare, state abusewatch.ReportState, now time.Time) error {
	ids := make([]string, len(read))
	for i, inc := range read {
		ids[i] = inc.ID
	}
	to := strings.Join(contact.Emails, ", ")
	for attempt := 1; ; attempt++ {
		stored, digests, err := p.store.IncidentsAsStored(ids)
		if err != nil {
			return err
		}
		var incs []abusewatch.Incident
		inexact := map[string]mailer.Inexact{}
		neverReported := len(ids) - len(stored) // pardoned since: forgotten with their network
		for _, inc := range stored {
			inc, ok, err := p.stillReportable(inc)
			if err != nil {
				return err
			}
			if _, _, through := reportableThrough(p.correlator, inc); !through {
				neverReported++
			}
			if ok {
				// Only contact's addresses of a network incident; one grown by others,
				// not looked up yet, waits for the next round.
				if inc, inexact[inc.ID], ok, err = p.share(inc, shares[inc.ID]); err != nil {
					return err
				}
				inc = toldAs(inc, contact, shares[inc.ID])
			}
			if ok {
				if name := ptr[inc.ID]; name != "" {
					inc.PTR = name
				}
				incs = append(incs, inc)
			}
		}
		if neverReported > 0 {
			// Excluded, pardoned or added to policy.never_report while the round
			// looked up their contacts: the next round takes them off its list.
			msg := "incidents left out of their report: their sources are now never reported (exclude, pardon or policy.never_report)"
			if len(incs) == 0 {
				msg = "report not sent: every source it names is now never reported (exclude, pardon or policy.never_report)"
			}
			p.log.Info(msg, "to", to, "incidents", neverReported)
		}
		if len(incs) == 0 {
			// Pardoned, excluded or changed into what is not reported outside since
			// the round read them: the next round sees them as they are.
			return nil
		}
		known, err := knownOf(p.store, incs, "", p.cfg.reportableClasses())
		if err != nil {
			return err
		}
		known = knowingInexact(known, inexact)
		// A share lists among the addresses seen only those with lines in its report,
		// as writeShares does.
		for i, inc := range incs {
			if s := shares[inc.ID]; !s.whole() {
				_, told, err := p.heldShare(inc, s, known.Reported)
				if err != nil {
					return err
				}
				incs[i] = withoutTold(inc, told)
			}
		}
		r, err := composer.ComposeKnowing(contact, incs, known, now)
		if err != nil {
			// One party's report that cannot be written (a registry's mailbox the mailer
			// refuses) must not hold up the others', the deliveries and the summary:
			// its incidents wait, and say why.
			why := fmt.Sprintf("its report to %s cannot be written, tried again every round: %s",
				sanitizeText(to), sanitizeText(err.Error()))
			p.log.Error("report not written", "to", to, "incidents", len(incs), "err", err)
			for _, inc := range incs {
				p.misses.set(inc.ID, UnreportedNotWritten, why, now)
			}
			return nil
		}
		r.State, r.Updated = state, now
		heldIfGuessed(&r)
		if reportComposed != nil {
			reportComposed(r)
		}
		// Not between Ingest's look at whether an incident is reported and its write of
		// what grew: that write would grow an incident just marked reported.
		p.marking.Lock()
		added, changed, err := p.store.AddReportOf(r, digests)
		p.marking.Unlock()
		if err != nil {
			return err
		}
		if len(changed) == 0 {
			if added {
				p.Counters.Reports.Add(1)
				p.log.Info("report written", "id", r.ID, "to", to, "incidents", len(incs), "state", r.State)
			}
			return nil
		}
		if attempt == composeAttempts {
			p.log.Info("incidents kept growing while their report was written; it is written at the next round",
				"to", to, "changed", strings.Join(changed, ", "), "attempts", attempt)
			return nil
		}
		p.log.Debug("incidents grew while their report was written; composing it again", "to", to,
			"changed", strings.Join(changed, ", "), "attempt", attempt)
	}
}

// heldByReport returns the ID of the report whose incidents hold every line of inc, or
// "" when none does (mailer.HeldByReported); the round's reads are in reported.
func (p *Pipeline) heldByReport(inc abusewatch.Incident, reported *roundReported) (string, error) {
	rs, err := reported.over(inc)
	if err != nil || len(rs) == 0 {
		return "", err
	}
	id := mailer.HeldByReported(inc, rs)
	if id == "" {
		return "", nil
	}
	rep, _, err := p.store.ReportFor(id)
	return rep, err
}

// scopeOf is what inc is about: its network, or its address as a /32 or /128.
func scopeOf(inc abusewatch.Incident) netip.Prefix {
	if inc.AboutNetwork() {
		return inc.Network
	}
	a := inc.Addr.Unmap()
	return netip.PrefixFrom(a, a.BitLen())
}

// knownOf is what the store knows of incs that they do not say themselves
// (mailer.Known): for each recurrence and network incident among them, the incidents
// with a report (to anyone, in any state) whose lines it may take in (a recurrence is
// counted from daily counters, which hold a burst reported on its own as well, a
// network incident counts every line of its window, those of an address's incident
// reported before it formed too; its report leaves those lines out), of a recurrence,
// what the store holds of the lines it reports (recurrenceLines), and, of a
// recurrence of a network, whether its Sources name every address of its lines that
// could be reported (reportable: correlate.reportable's classes). The incidents of
// report except ("" none), which is being written again or previewed, are its own, not
// another's. And the reports sent before about incidents incs follow, grow from or
// repeat (earlierReports), of which the composer names the one to the same party.
func knownOf(st *store.Store, incs []abusewatch.Incident, except string, reportable []abusewatch.Class) (mailer.Known, error) {
	var known mailer.Known
	seen := map[string]bool{}
	for _, inc := range incs {
		if inc.Rule != "recurrence" && inc.Rule != "network" {
			continue
		}
		all := false
		if inc.Rule == "recurrence" && inc.AboutNetwork() {
			// Of a party's share, the whole incident: when its Sources name every
			// address of its lines, the share's name every one of the party's (each
			// was looked up), whoever else's lines its network holds.
			whole, ok, err := st.Incident(inc.ID)
			if err != nil {
				return known, err
			}
			if !ok {
				whole = inc
			}
			if all, err = namesEveryAddress(st, whole, reportable); err != nil {
				return known, err
			}
			if all {
				if known.AllSources == nil {
					known.AllSources = map[string]bool{}
				}
				known.AllSources[inc.ID] = true
			}
		}
		rs, err := st.ReportedIncidentsOver(scopeOf(inc), inc.First, inc.Last, except)
		if err != nil {
			return known, err
		}
		if inc.Rule == "recurrence" {
			r, err := recurrenceLines(st, inc, rs)
			if err != nil {
				return known, err
			}
			if known.Recurrences == nil {
				known.Recurrences = map[string]mailer.Recurrence{}
			}
			known.Recurrences[inc.ID] = r
		}
		for _, r := range rs {
			if all && !r.AboutNetwork() && !slices.ContainsFunc(inc.Sources, func(a netip.Addr) bool { return a.Unmap() == r.Addr.Unmap() }) {
				// An address inc does not name has none of its lines (an address that
				// recurs on its own, another party's): its report takes none out.
				continue
			}
			if !seen[r.ID] {
				seen[r.ID] = true
				known.Reported = append(known.Reported, r)
			}
		}
	}
	// The reports to the same party these follow: a desk's ticket system files the
	// follow-up with them (review 28 F9).
	earlier, err := earlierReports(st, incs, known.Reported, except)
	if err != nil {
		return known, err
	}
	known.Earlier = earlier
	known.Seen, err = addressesSeen(st, incs, known.Reported, reportable) // the X-ARF parts (review 21 D7, desk48 M1)
	return known, err
}

// namesEveryAddress says whether the Sources of inc, a recurrence of a network, name
// every address of the lines it counts that could be reported: correlate names the
// addresses of the reportable lines it read (some of its first day's, a few thousand of
// the days up to its batch, and all since), which may leave some out. It does when the
// addresses it names, with the weak lines of the others (a class not in
// correlate.reportable: connections that gave up before logging in from a neighbour
// that never tried a password), have as many lines from inc's first day to its last
// event as inc counts (successful logins aside, and a reported one's forgeable lines,
// as the counters): their raw events, and of the days whose raw events retention may
// have deleted, their daily counters, which inc is counted from. A neighbour's weak
// lines are counted by inc but name no address a desk could act on: before, they made
// the memo say "N or more" with every reportable line accounted for. Lines of its
// network from addresses it does not count (one that recurs on its own) do not matter,
// nor does a do-not-contact address's lines in a party's share.
func namesEveryAddress(st *store.Store, inc abusewatch.Incident, reportable []abusewatch.Class) (bool, error) {
	if len(inc.Sources) >= abusewatch.MaxSources {
		return false, nil
	}
	named := make(map[netip.Addr]bool, len(inc.Sources))
	for _, a := range inc.Sources {
		named[a.Unmap()] = true
	}
	// What inc counts: a reported recurrence leaves its forgeable lines out (its
	// Classes then hold none), an admin's one keeps them.
	counted := func(c abusewatch.Class) bool {
		return c != abusewatch.ClassAuthSuccess && (!correlate.Forgeable(c) || slices.Contains(inc.Classes, c))
	}
	weak := func(c abusewatch.Class) bool { return correlate.Forgeable(c) || !slices.Contains(reportable, c) }
	_, complete, err := rawCompleteFrom(st)
	if err != nil {
		return false, err
	}
	from, lines := counterDay(inc.First), 0
	if from.Before(complete) {
		until := complete.Add(-time.Nanosecond)
		if inc.Last.Before(until) {
			until = inc.Last
		}
		// The network's weak lines, less those of the addresses it names: the others'.
		days, err := st.Days(inc.Network, from, until)
		if err != nil {
			return false, err
		}
		for _, d := range days {
			for class, n := range d.ByClass {
				if counted(class) && weak(class) {
					lines += n
				}
			}
		}
		for a := range named {
			days, err := st.Days(netip.PrefixFrom(a, a.BitLen()), from, until)
			if err != nil {
				return false, err
			}
			for _, d := range days {
				for class, n := range d.ByClass {
					if counted(class) && !weak(class) {
						lines += n
					}
				}
			}
		}
		from = complete
	}
	if !from.After(inc.Last) {
		err = st.Glances(inc.Network, from, inc.Last, func(g store.Glance) {
			if counted(g.Class) && (named[g.Addr.Unmap()] || weak(g.Class)) {
				lines += g.N
			}
		})
	}
	return err == nil && lines >= inc.Count, err
}

// stillReportable is inc, read again for its report, as it is reported outside (without
// the addresses excluded since it was made), or ok false when it is not reported outside
// now: Report decided the same of it when it read it, and says why.
func (p *Pipeline) stillReportable(inc abusewatch.Incident) (_ abusewatch.Incident, ok bool, err error) {
	inc, leftOut, ok := reportableThrough(p.correlator, inc)
	if !ok || (inc.AdminOnly && !inc.Success) || inc.Success {
		return inc, false, nil
	}
	if len(leftOut) > 0 {
		if inc, err = p.recounted(inc, leftOut); err != nil {
			return inc, false, err
		}
	}
	return inc, true, nil
}

// wrapped says whether id comes in the second part of a read of the work list from
// after on: the one from the first ID again.
func wrapped(id, after string) int {
	if after != "" && id <= after {
		return 1
	}
	return 0
}

// reportCutoff is when an incident must have had its last event to be reported outside:
// policy.max_age before now. The abuse desk's own logs of an attack older than that are
// likely gone, its address may be someone else's by now, and `correlate --since 180d`
// makes incidents of months ago: the admin sees them (incidents, ip, net, the summary),
// the outside is not told. It counts from the clock, not from the newest event stored
// (as retention does, logsClock): a log of 2024 scanned into a new store was reported to
// whoever holds its addresses today (review 34 F6). ok is false when max_age is 0 (no
// limit).
func reportCutoff(cfg *Config, now time.Time) (cutoff time.Time, ok bool) {
	maxAge := cfg.Policy.MaxAge.Duration
	if maxAge <= 0 {
		return time.Time{}, false
	}
	return now.Add(-maxAge), true
}

// expireStale takes the incidents that ended before reportCutoff off the work list,
// before a round reads it: they will not be reported unless they grow. After
// `correlate --since 180d` they are hundreds of thousands, and read 2,000 a round they
// held up the fresh ones for half a day.
func (p *Pipeline) expireStale(now time.Time) error {
	cutoff, ok := reportCutoff(p.cfg, now)
	if !ok {
		return nil
	}
	n, oldest, err := p.store.ExpireUnreportedBefore(cutoff)
	if err != nil || n == 0 {
		return err
	}
	p.log.Info("incidents that ended before policy.max_age are not reported outside",
		"incidents", n, "max_age", p.cfg.Policy.MaxAge.String(), "ended_before", cutoff, "oldest", oldest)
	return nil
}

// addrList is addrs for a log line or a report's error: "45.134.26.7, 45.134.26.9".
func addrList(addrs []netip.Addr) string {
	s := make([]string, len(addrs))
	for i, a := range addrs {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

// recounted takes the lines of leftOut, addresses of network incident inc excluded since
// it was made, out of its counts and times, from the events of its span the store still
// holds: a report must not claim their connections, nor begin at their first line. A
// connection is counted by address, so theirs come off exactly; a recurring /24's counts
// span months of daily counters, and what the store no longer holds stays counted. (A
// party's share of a network incident is counted from the party's own lines instead:
// shareCounted.)
func (p *Pipeline) recounted(inc abusewatch.Incident, leftOut []netip.Addr) (abusewatch.Incident, error) {
	evs, err := p.store.EventsByNetwork(inc.Network, inc.First, inc.Last)
	if err != nil {
		return inc, err
	}
	var left, kept []*abusewatch.Event
	for i := range evs {
		switch e := &evs[i]; {
		case e.Class == abusewatch.ClassAuthSuccess, e.Proto != "", correlate.Forgeable(e.Class):
			// Reported, it counts no forgeable packet (review 21d D1), nor begins at one.
		case !slices.Contains(inc.Classes, e.Class):
			// Nor a line of a class it does not count: a reportable network incident
			// counts its named addresses' reportable lines alone (correlate's named),
			// and their other lines must not come off its count (review privacy40 H3).
		case slices.Contains(leftOut, e.Addr.Unmap()):
			left = append(left, e)
		default:
			kept = append(kept, e) // in time order
		}
	}
	if len(left) == 0 {
		return inc, nil
	}
	inc.Count = max(inc.Count-len(left), len(inc.Evidence), 1)
	inc.Attempts = max(inc.Attempts-correlate.Connections(left), 1)
	if len(kept) > 0 {
		inc.First, inc.Last = kept[0].Time, kept[len(kept)-1].Time
	}
	return inc, nil
}

// shareCounted is inc, a network incident, as the party whose addresses gone does not
// leave out is told it: the party's own lines, counted, shown and dated. They are the
// unforgeable lines of its addresses the store holds within inc's span and those inc
// kept as evidence. Of a recurrence, the days whose raw events retention may have
// deleted are counted from the party's addresses' daily counters (their classes that
// cannot be forged), as the recurrence itself is, and
// it begins (ends) on such a day, at midnight UTC (or inc's own first event), when the
// counters know more of it than its lines: no line shown predates its First. Its
// evidence is its lines sampled as the correlator samples (the first, a sample, the
// last), which names each of its addresses. Before, the share was inc's count less the
// other addresses' stored lines, which went below zero when the network held lines inc
// never counted (an address that recurs on its own), and inc's sample cut down to the
// party: one day of lines for a recurrence of weeks.
//
// inexact says what of it the report cannot state exactly: a First (Last) taken from
// the counters is a day, not a time of day (it said "First seen 01:00:00", midnight UTC
// in Berlin), and, of an incident other than a recurrence that began before the oldest
// line kept, the lines left are a lower bound.
func (p *Pipeline) shareCounted(inc abusewatch.Incident, gone func(netip.Addr) bool) (_ abusewatch.Incident, inexact mailer.Inexact, err error) {
	evs, err := p.store.EventsByNetwork(inc.Network, inc.First, inc.Last)
	if err != nil {
		return inc, inexact, err
	}
	var lines []*abusewatch.Event
	reportable := p.cfg.reportableClasses()
	type lineKey struct { // the store's Seq, or of a line without one its time, address and text
		seq  uint64
		t    int64
		addr netip.Addr
		line string
	}
	seen := map[lineKey]bool{}
	take := func(e *abusewatch.Event) {
		// Reported outside, it is about the party's reportable, unforgeable lines: a
		// packet its firewall logged is anyone's to send (review 21d D1, of shares too:
		// the share quoted its addresses' dropped SYNs and began at the first of them),
		// and the store holds every other line of its addresses too: our customer's
		// successful mail submission, greylisting naming her, "unknown" lines and
		// refused connections naming our internal addresses, which the share quoted,
		// counted and described (review privacy40 H3, M3).
		if !e.Addr.IsValid() || gone(e.Addr.Unmap()) || e.Proto != "" || !toldOutside(e.Class, reportable) {
			return
		}
		k := lineKey{seq: e.Seq}
		if e.Seq == 0 {
			k = lineKey{t: e.Time.UnixNano(), addr: e.Addr.Unmap(), line: e.Line}
		}
		if !seen[k] {
			seen[k] = true
			lines = append(lines, e)
		}
	}
	for i := range evs {
		take(&evs[i])
	}
	oldest, complete, err := rawCompleteFrom(p.store)
	if err != nil {
		return inc, inexact, err
	}
	for i := range inc.Evidence {
		// What the store holds it has; of what retention deleted, the sample inc kept.
		if e := &inc.Evidence[i]; e.Time.Before(oldest) {
			take(e)
		}
	}
	if len(lines) == 0 {
		return inc, inexact, nil // nothing of it is the party's (share() does not ask)
	}
	slices.SortStableFunc(lines, func(a, b *abusewatch.Event) int { return a.Time.Compare(b.Time) })
	count, attempts := 0, correlate.Connections(lines)
	first, last := lines[0].Time, lines[len(lines)-1].Time
	var classes []abusewatch.Class
	var hosts []string
	for _, e := range lines {
		if !e.Time.Before(complete) {
			count++
		}
		if !slices.Contains(classes, e.Class) {
			classes = append(classes, e.Class)
		}
		if e.Host != "" && !slices.Contains(hosts, e.Host) {
			hosts = append(hosts, e.Host)
		}
	}
	switch {
	case !inc.First.Before(complete):
	case inc.Rule != "recurrence":
		// Counted from its events when it was made: what retention deleted of them
		// is not known by address. Its lines left are what the party is surely told:
		// at least that many, when it began before the oldest line kept.
		count = len(lines)
		inexact.Lines = inc.First.Before(oldest)
		inexact.Conns = inexact.Lines
	default:
		perDay, err := p.partyDays(inc, lines, complete, reportable, &classes)
		if err != nil {
			return inc, inexact, err
		}
		known := map[time.Time]int{}
		for _, e := range lines {
			known[counterDay(e.Time)]++
		}
		for day, n := range perDay {
			count += n
			if known[day] == 0 {
				attempts++ // at least one connection a day, as the recurrence claims
			}
			if known[day] < n {
				// Lines of that day are gone: when, the counters do not say.
				if !day.After(counterDay(first)) {
					first = day
					if inc.First.After(day) {
						first = inc.First // no line of it is before inc's first
					}
				}
				if end := day.Add(24*time.Hour - time.Nanosecond); !day.Before(counterDay(last)) {
					last = end
					if inc.Last.Before(end) {
						last = inc.Last
					}
				}
			}
		}
		if len(hosts) == 0 {
			// Of the days the counters know, the hosts are not known by address; the
			// incident's are said only when no line of the party's names one: they may
			// be those of lines the share does not quote (review privacy40 L1).
			hosts = slices.Clone(inc.Hosts)
		}
		// A first (last) the counters gave is their day's bound, or inc's own first
		// (last) line, which may be another party's: no line of the party's is at it.
		inexact.FirstDay = !first.Equal(lines[0].Time)
		inexact.LastDay = !last.Equal(lines[len(lines)-1].Time)
	}
	slices.Sort(classes)
	slices.Sort(hosts)
	if inc.Count > 0 {
		count = min(count, inc.Count) // never more than the whole incident counts
	}
	inc.Count = max(count, 1)
	inc.Attempts = max(min(attempts, inc.Count), 1)
	inc.First, inc.Last = first, last
	inc.Evidence = correlate.Sample(lines, p.cfg.Correlate.Evidence)
	inc.Sources = abusewatch.AddSources(inc.Sources, lines)
	inc.Classes, inc.Hosts = classes, hosts
	if !inc.Addr.IsValid() || gone(inc.Addr.Unmap()) {
		inc.Addr = lines[len(lines)-1].Addr.Unmap()
	}
	return inc, inexact, nil
}

// partyDays are the lines of each day of recurrence inc before complete (the first day
// whose raw events the store holds all of), by day (midnight UTC), of the addresses of
// the party of lines (inc's Sources, those of its share), from their daily counters, of
// the classes told outside alone (toldOutside); the classes counted are added to classes.
func (p *Pipeline) partyDays(inc abusewatch.Incident, lines []*abusewatch.Event, complete time.Time, reportable []abusewatch.Class, classes *[]abusewatch.Class) (map[time.Time]int, error) {
	addrs := abusewatch.AddSources(inc.Sources, lines)
	until := complete.Add(-time.Nanosecond)
	if inc.Last.Before(until) {
		until = inc.Last
	}
	perDay := map[time.Time]int{}
	for _, a := range addrs {
		days, err := p.store.Days(netip.PrefixFrom(a, a.BitLen()), inc.First, until)
		if err != nil {
			return nil, err
		}
		for _, d := range days {
			for class, n := range d.ByClass {
				if n <= 0 || !toldOutside(class, reportable) {
					continue
				}
				perDay[d.Start.UTC()] += n
				if !slices.Contains(*classes, class) {
					*classes = append(*classes, class)
				}
			}
		}
	}
	return perDay, nil
}

// toldOutside says whether a line of class may be counted, quoted or described in a
// party's share of a network incident: of a class listed in reportable (correlate's
// reportable) that cannot be forged, and not a successful login. The lines of other
// classes stay in the store and the admin's views (ip, net, the summary).
func toldOutside(class abusewatch.Class, reportable []abusewatch.Class) bool {
	return class != abusewatch.ClassAuthSuccess && !correlate.Forgeable(class) && slices.Contains(reportable, class)
}

// rawCompleteFrom is the time of the oldest raw event the store keeps, and the first day
// (midnight UTC) from which it holds every one: retention deletes whole hours' blocks
// from the oldest on, so the day after that of the oldest kept has them all. Both far
// ahead when none is kept.
func rawCompleteFrom(st *store.Store) (oldest, complete time.Time, err error) {
	oldest, ok, err := st.OldestEvent()
	if err != nil || !ok {
		never := time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
		return never, never, err
	}
	return oldest, counterDay(oldest).Add(24 * time.Hour), nil
}

// counterDay is the day of t as the daily counters count days: from midnight UTC.
func counterDay(t time.Time) time.Time { return t.UTC().Truncate(24 * time.Hour) }

// setPTR sets the reverse name of inc's address, which helps the abuse desk find the
// machine; only a forward-confirmed one, since the attacker controls the reverse zone.
// An incident about a whole network gets none: its address is only one of several.
func (p *Pipeline) setPTR(ctx context.Context, inc *abusewatch.Incident) {
	if inc.AboutNetwork() {
		return
	}
	if name, confirmed, err := p.finder.PTR(ctx, inc.Addr); err == nil && confirmed {
		inc.PTR = name
	}
}

// lastGate is the outbox's last gate: DeliverAt runs it on a report about to go, and
// every round first runs it on each report not sent yet (recheckUnsent), so what the
// admin changed since a report was written holds in every mode and state, the retry and
// cooldown queues included. It returns r as it is, or, when since r was written
//   - some of its sources are never reported (excluded, pardoned, or added to
//     policy.never_report),
//   - some are on the [[do_not_contact]] list (an address of a network incident: its
//     share, looked up again, leaves them out),
//   - the [[contact]] table names another recipient for an address it reports about
//     (or no longer names r's, for a report written to a [[contact]]),
//   - the registry names someone for an address of a report written to a guess
//     (listedNow: asked again once its answer naming no one is older than
//     lookup.negative_ttl),
//
// the report that replaces it without them, in r's state, and each moved address's
// incidents in a report to its recipient now, in r's state too (waiting for approval
// in review mode: the admin approved r's recipient, not that one). ok is false when
// nothing is left to send to r's recipient now (r is then rejected, saying why), or
// when r must wait for a lookup. `exclude` and `pardon` reject the reports about the
// network alone; the rest is caught here. conf answers from the config alone
// (configContacts).
func (p *Pipeline) lastGate(ctx context.Context, conf *lookup.Finder, r abusewatch.Report, now time.Time) (send abusewatch.Report, ok bool, err error) {
	var keep []abusewatch.Incident
	var never []string   // the sources left out: never reported now
	var notHers []string // the sources r's recipient is not told now, and why
	var moved []movedSources
	recompose := false // a network incident's share is to be looked up again
	// In review mode nothing goes that the admin did not approve: a report queued in
	// auto mode (waiting for its party's cooldown, a limit or a retry) when the admin
	// set policy.mode to "review" waits for the approval now. A version before
	// Report.Approved stored none for the reports it was told to send: those wait
	// again too, the safe side of a change of mode.
	if p.cfg.Policy.Mode == "review" && r.State == abusewatch.ReportQueued && r.Approved.IsZero() && !r.Contact.Guess {
		why := "queued without your approval (policy.mode was \"auto\" when it was written, or it was approved with an older version); " +
			"policy.mode is \"review\" now: it waits for your approval"
		held := false
		if err := p.store.UpdateReport(r.ID, func(s *abusewatch.Report) error {
			if held = s.State == abusewatch.ReportQueued && s.Approved.IsZero(); held {
				s.State, s.Updated, s.NextAttempt, s.Waiting, s.Error = abusewatch.ReportPendingApproval, now, time.Time{}, "", why
			}
			return nil
		}); err != nil || held {
			if held {
				p.log.Info("report queued without approval waits for it: policy.mode is review", "id", r.ID, "to", strings.Join(r.Contact.Emails, ", "))
			}
			return r, false, err
		}
	}
	// A guess queued without the admin's approval was queued by a version that sent
	// guesses on its own in auto mode (before review 21c), in the retry queue or the
	// cooldown's: it waits for the admin now, as one written today does (heldIfGuessed),
	// and its mail is written again, since the memo it was composed with called the
	// guessed domain "the listed contact for the network" and the lines "from your
	// network". Every version stored Contact.Guess; none before stored Approved.
	heldGuess := r.Contact.Guess && r.State == abusewatch.ReportQueued && r.Approved.IsZero()
	if heldGuess {
		if err := p.store.UpdateReport(r.ID, func(s *abusewatch.Report) error {
			if s.State == abusewatch.ReportQueued {
				s.NextAttempt, s.Waiting = time.Time{}, ""
				heldIfGuessed(s)
			}
			r.State, r.Error, r.NextAttempt, r.Waiting = s.State, s.Error, s.NextAttempt, s.Waiting
			return nil
		}); err != nil {
			return r, false, err
		}
		if r.State != abusewatch.ReportPendingApproval {
			return r, false, nil
		}
		p.log.Info("report to a guessed contact queued by an older version waits for your approval; its mail is written again",
			"id", r.ID, "to", strings.Join(r.Contact.Emails, ", "))
		recompose = true
	}
	// Read with their digests: the report that replaces r marks them reported only if
	// they are still stored so (ReplaceReport).
	stored, digests, err := p.store.IncidentsAsStored(r.Incidents)
	if err != nil {
		return r, false, err
	}
	byID := make(map[string]abusewatch.Incident, len(stored))
	for _, inc := range stored {
		byID[inc.ID] = inc
	}
	var logins []string // the sources from which a login succeeded since r was written
	for _, id := range r.Incidents {
		inc, found := byID[id]
		if !found { // pardoned: forgotten with its network
			never = append(never, "incident "+id)
			continue
		}
		if inc.Success {
			// A login read after r was written (queued for a retry, a cooldown or a
			// limit, or waiting for approval): the failures may be the admin's own
			// typing, a password typed as the user name among them, and the login a
			// possible compromise, which is never reported outside. policy.settle
			// held only the writing (review 42 H1: a relay's 451, then the login, then
			// the report went with the password in it).
			source := inc.Addr.String()
			if inc.AboutNetwork() || !inc.Addr.IsValid() {
				source = inc.Network.String()
			}
			never = append(never, source)
			logins = append(logins, source)
			continue
		}
		trimmed, leftOut, ok := reportableThrough(p.correlator, inc)
		switch {
		case !ok:
			source := inc.Addr.String()
			if inc.Network.IsValid() {
				source = inc.Network.String()
			}
			never = append(never, source)
			continue
		case len(leftOut) > 0:
			never = append(never, addrList(leftOut)+" of "+inc.Network.String())
			if trimmed, err = p.recounted(trimmed, leftOut); err != nil {
				return r, false, err
			}
		}
		if trimmed.AboutNetwork() {
			// Its share is looked up again below when the config may have changed it.
			if networkChanged(ctx, conf, trimmed, r.Contact) != "" {
				recompose = true
			}
			keep = append(keep, trimmed)
			continue
		}
		to, why, err := p.recipientNow(ctx, conf, trimmed.Addr.Unmap(), r.Contact)
		switch {
		case err != nil:
			p.log.Info("report waits: the contact of an address it names cannot be looked up again", "id", r.ID, "err", err)
			return r, false, nil
		case why == "":
			keep = append(keep, trimmed)
		case to == nil:
			notHers = append(notHers, why)
		default:
			notHers = append(notHers, why)
			moved = addMoved(moved, *to, trimmed)
		}
	}
	// Written with another [mail] redact than the config's now: never sent as written
	// (the admin who turns it on after reading his customers' names in a report waiting
	// for approval expects none of them to leave).
	redactNow := redactionOf(p.cfg).Names()
	redactChanged := !slices.Equal(r.Redacted, redactNow)
	if len(never) == 0 && len(notHers) == 0 && !recompose && !redactChanged {
		return r, true, nil
	}
	// Composed again, a network incident tells r's party no more than r did: its share,
	// looked up again, so without what the do-not-contact list or another [[contact]]
	// holds now.
	shared := keep[:0]
	inexact := map[string]mailer.Inexact{}
	for _, inc := range keep {
		part, in, ok, err := p.theirs(ctx, inc, r.Contact, r.ID)
		if err != nil {
			p.log.Info("report waits: its network incident's share cannot be looked up again", "id", r.ID, "err", err)
			return r, false, nil
		}
		if ok {
			shared, inexact[part.ID] = append(shared, part), in
		} else {
			notHers = append(notHers, fmt.Sprintf("%s: none of its addresses is %s's now (the do-not-contact list or another [[contact]])",
				inc.Network, strings.Join(r.Contact.Emails, ", ")))
		}
	}
	keep = shared
	composer, err := ReportComposer(p.cfg, p.composer)
	if err != nil {
		return r, false, err
	}
	if len(never) == 0 && len(notHers) == 0 && !recompose {
		// Only what it masks changed: the same report, its mail written again.
		return p.rewriteRedacted(ctx, composer, r, keep, inexact, now)
	}
	why := strings.Join(slices.Concat(prefixed("now never reported: ", never), notHers), "; ")
	// The moved sources' reports go first: each marks its incidents reported by it, and
	// r's replacement then marks the others. One that exists already (written by an
	// earlier round that stopped before replacing r) is left as it is.
	var written []abusewatch.Report
	var joined []joinedReport
	var joinedIDs []string // the reports the moved sources joined
	for _, m := range moved {
		// Sources moving to a party with a report waiting join it (as Report's new
		// incidents join a party's next one): a report of their own beside it went a
		// cooldown after it, one desk getting two reports of what was one (a
		// [[contact]] added, then removed: review 21c R4).
		had := hadOf(r, m.contact.Emails)
		if len(had) > 0 && len(had) == len(m.contact.Emails) {
			// Every recipient named now had r, and so these incidents: nothing to write.
			continue
		}
		// Some had them and the others not: joined to a waiting report, one mail to all,
		// those that had r got these incidents again. A report of their own leaves out
		// those that had them; the waiting report goes as it is.
		var w abusewatch.Report
		var incs []abusewatch.Incident
		if len(had) == 0 {
			if w, incs, err = p.joinable(r.ID, m.contact); err != nil {
				return r, false, err
			}
		}
		if w.ID != "" && !slices.ContainsFunc(m.incidents, func(inc abusewatch.Incident) bool { return !slices.Contains(w.Incidents, inc.ID) }) {
			// Joined already, by an earlier round that stopped before settling r.
			joinedIDs = append(joinedIDs, w.ID)
			continue
		}
		state := r.State
		if r.Contact.Guess {
			// A guess waits for the admin because it is a guess: the desk the registry
			// names now is written to as a report to it is (in review mode, for the
			// admin's approval: a guess approved is not that desk's report approved).
			state = abusewatch.ReportQueued
		}
		if w.ID != "" {
			incs = append(incs, m.incidents...)
			if w.State == abusewatch.ReportPendingApproval {
				state = w.State
			}
		} else {
			incs = m.incidents
		}
		mr, err := p.composeAgain(ctx, composer, m.contact, incs, nil, r.ID, w.ID, now)
		if err != nil {
			return r, false, err
		}
		if w.ID == "" {
			// Recipients that had r have these incidents: they are not sent them again.
			// (Joined to a waiting report, which none had, they go to all: none had r.)
			mr.Delivered = had
		}
		mr.State, mr.Updated = state, now
		if mr.State == abusewatch.ReportQueued && p.cfg.Policy.Mode == "review" {
			mr.State = abusewatch.ReportPendingApproval
		}
		if mr.State == abusewatch.ReportPendingApproval {
			// What the admin reads beside it in `outbox`: why a report appeared.
			whose := "whose recipient the config no longer names for its sources"
			if r.Contact.Guess {
				whose = "a guess: the registry names this contact for its sources now"
			}
			mr.Error = fmt.Sprintf("written instead of report %s to %s, %s", shortID(r.ID), strings.Join(r.Contact.Emails, ", "), whose)
			if w.ID != "" {
				mr.Error = fmt.Sprintf("written instead of report %s, joined by sources of report %s to %s, %s",
					shortID(w.ID), shortID(r.ID), strings.Join(r.Contact.Emails, ", "), strings.Replace(whose, "its sources", "them", 1))
			}
		}
		heldIfGuessed(&mr)
		if w.ID != "" {
			joined = append(joined, joinedReport{into: w.ID, r: mr})
			continue
		}
		written = append(written, mr)
	}
	// The joined reports replace the party's waiting ones, each in one transaction.
	for _, j := range joined {
		joinedIDs = append(joinedIDs, j.r.ID)
		added, err := p.store.ReplaceReport(j.into, fmt.Sprintf("joined by sources of report %s: written again with them as %s", j.r.ID, j.r.ID),
			now, j.r, nil)
		if err != nil {
			return r, false, err
		}
		if added {
			p.Counters.Reports.Add(1)
			p.log.Info("report written again with sources its recipient is named for now", "id", j.into, "new", j.r.ID,
				"to", strings.Join(j.r.Contact.Emails, ", "), "from", r.ID, "state", j.r.State)
		}
	}
	var replacement *abusewatch.Report
	if len(keep) > 0 {
		nr, err := p.composeAgain(ctx, composer, r.Contact, keep, inexact, r.ID, "", now)
		if err != nil {
			return r, false, err
		}
		if nr.ID == r.ID {
			// The same incidents to the same party: only addresses of a network's
			// incident were left out. The same report goes, its mail written again
			// without them (unless it reads as it did).
			if len(written) > 0 {
				return r, false, fmt.Errorf("report %s: written again with the same incidents, yet some moved to another recipient", r.ID)
			}
			same, err := p.sameMemo(r, nr)
			if err != nil {
				return r, false, err
			}
			if same && slices.Equal(r.Redacted, nr.Redacted) {
				return r, !heldGuess, nil
			}
			if same {
				nr.Message = nil // it reads as it did: what it masks now is recorded
			}
			if rewritten, err := p.store.RewriteReportMessage(r.ID, nr, now); err != nil || !rewritten {
				return r, false, err
			}
			redactWas := r.Redacted
			r.Redacted = nr.Redacted
			if same {
				return r, !heldGuess, nil
			}
			msg := "report's mail written again without the addresses excluded since or no longer its recipient's"
			if why == "" && redactChanged {
				// A party's share, composed again at each gate, that left nothing out.
				msg = "report's mail written again with [mail] redact as set now: it was written with another setting"
			}
			p.log.Info(msg, "id", r.ID, "to", strings.Join(r.Contact.Emails, ", "), "left_out", why,
				"redact_was", RedactWords(redactWas), "redact", RedactWords(redactNow))
			r.Subject, r.Message = nr.Subject, nr.Message
			return r, !heldGuess, nil
		}
		nr.State, nr.Updated, nr.Approved = r.State, now, r.Approved
		// To the same recipients: those that had r (a retry to the others) are not
		// sent its replacement, which tells them less, nor is its retry clock reset.
		nr.Delivered, nr.Refused, nr.FirstTried, nr.LastTried, nr.Retried = r.Delivered, r.Refused, r.FirstTried, r.LastTried, r.Retried
		if nr.State == abusewatch.ReportPendingApproval {
			heldIfGuessed(&nr) // its note names the report the admin is to read
		}
		replacement = &nr
	} else if len(written) > 0 {
		replacement, written = &written[0], written[1:]
	}
	for _, mr := range written {
		added, err := p.store.AddReport(mr)
		if err != nil {
			return r, false, err
		}
		if added {
			p.Counters.Reports.Add(1)
			p.log.Info("report written to the recipient the config names now", "id", mr.ID, "to", strings.Join(mr.Contact.Emails, ", "),
				"instead_of", strings.Join(r.Contact.Emails, ", "), "state", mr.State)
		}
	}
	if len(notHers) > 0 {
		// The contact's mailboxes changed: those r went to that the contact no longer
		// lists are not held for a refusal of theirs (one re-listed later is tried).
		var dropped []string
		for _, e := range r.Contact.Emails {
			listed := len(keep) > 0
			for _, m := range moved {
				listed = listed || containsFold(m.contact.Emails, e)
			}
			if !listed {
				dropped = append(dropped, e)
			}
		}
		if err := p.store.ClearRefused(dropped); err != nil {
			return r, false, err
		}
	}
	if replacement == nil {
		reason := "not sent: " + why
		if len(notHers) == 0 {
			reason = "every source it names is now never reported (exclude, pardon or policy.never_report)"
		}
		if len(logins) > 0 && len(logins) == len(never) && len(notHers) == 0 {
			reason = "a login from " + strings.Join(logins, ", ") + " succeeded after it was written: a possible compromise (mailed to you), never reported outside"
		}
		if len(joinedIDs) > 0 {
			reason += "; its sources joined report " + strings.Join(joinedIDs, ", ")
		}
		if len(r.Delivered) > 0 {
			// Some recipients had it: it went, not to the others.
			reason = fmt.Sprintf("not sent to %s: %s", strings.Join(unsentTo(r), ", "), strings.TrimPrefix(reason, "not sent: "))
		}
		err := p.store.UpdateReport(r.ID, func(s *abusewatch.Report) error {
			if len(s.Delivered) > 0 {
				s.State, s.Updated, s.Error, s.Waiting, s.NextAttempt = abusewatch.ReportSent, now, reason, "", time.Time{}
				return nil
			}
			s.Reject(now, reason)
			return nil
		})
		p.log.Info("report not sent: "+reason, "id", r.ID, "to", strings.Join(r.Contact.Emails, ", "))
		return r, false, err
	}
	nr := *replacement
	reason := fmt.Sprintf("not sent to %s: %s; written again as %s", strings.Join(unsentTo(r), ", "), why, nr.ID)
	if len(notHers) == 0 {
		reason = fmt.Sprintf("named sources now never reported (%s): written again without them as %s", strings.Join(never, ", "), nr.ID)
	}
	if len(logins) > 0 {
		reason += fmt.Sprintf(" (a login from %s succeeded after it was written: a possible compromise, never reported outside)", strings.Join(logins, ", "))
	}
	added, err := p.store.ReplaceReport(r.ID, reason, now, nr, digests)
	if errors.Is(err, store.ErrIncidentsChanged) {
		// Changed since they were read a moment ago: r stays as it is, and the next
		// round writes it again from them as they are then.
		p.log.Info("report's incidents changed while it was written again; written again at the next round", "id", r.ID, "err", err)
		return r, false, nil
	}
	if err != nil || !added {
		return r, false, err
	}
	p.Counters.Reports.Add(1)
	p.log.Info("report written again without the sources now never reported or no longer its recipient's", "id", r.ID, "new", nr.ID, "to", strings.Join(nr.Contact.Emails, ", "),
		"why", why, "incidents", len(nr.Incidents), "state", nr.State)
	// Only to r's recipient, whose cooldown and limits DeliverAt checked, may it go now.
	return nr, nr.State == abusewatch.ReportQueued && len(keep) > 0, nil
}

// hadOf are those of emails that took r (its Delivered).
func hadOf(r abusewatch.Report, emails []string) []string {
	var out []string
	for _, e := range emails {
		if containsFold(r.Delivered, e) {
			out = append(out, e)
		}
	}
	return out
}

// joinedReport is a report to a party with a report waiting, which it replaces (into):
// that report's incidents and the sources that moved to the party.
type joinedReport struct {
	into string
	r    abusewatch.Report
}

// joinable finds the report other than except waiting for approval, or queued, to
// contact's party that sources moving to it can join, with its incidents as stored; the
// zero Report when there is none. One of a network incident's share (composed from
// its share, not the incident) or of an incident gone since is not joined, nor a guess's:
// sources moving to a guessed contact get a report of their own, which gatherGuesses
// joins to the one waiting for approval at the same round. Nor is one that some
// recipients took (the others retried, or held for the admin): written again with the
// sources, its incidents went to those a second time; it goes on to the others as it is.
func (p *Pipeline) joinable(except string, contact abusewatch.Contact) (abusewatch.Report, []abusewatch.Incident, error) {
	waiting, err := p.store.Reports(abusewatch.ReportPendingApproval, abusewatch.ReportQueued)
	if err != nil {
		return abusewatch.Report{}, nil, err
	}
	waiting = slices.DeleteFunc(waiting, func(w abusewatch.Report) bool { return w.ID == except || len(w.Delivered) > 0 })
	w, ok := waitingFor(contact, waiting)
	if !ok || w.Contact.Guess || contact.Guess {
		return abusewatch.Report{}, nil, nil
	}
	incs, _, err := p.store.IncidentsAsStored(w.Incidents)
	if err != nil || len(incs) != len(w.Incidents) {
		return abusewatch.Report{}, nil, err
	}
	for _, inc := range incs {
		if inc.AboutNetwork() {
			return abusewatch.Report{}, nil, nil
		}
	}
	return w, incs, nil
}

// prefixed is each of s with prefix, none when s is empty.
func prefixed(prefix string, s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return []string{prefix + strings.Join(s, ", ")}
}

// composeAgain writes the report of incs to contact anew for lastGate, with their
// reverse names looked up and what the store knows of them (except report except,
// being replaced).
func (p *Pipeline) composeAgain(ctx context.Context, composer *mailer.Composer, contact abusewatch.Contact, incs []abusewatch.Incident,
	inexact map[string]mailer.Inexact, except, replaces string, now time.Time) (abusewatch.Report, error) {
	for i := range incs {
		p.setPTR(ctx, &incs[i])
	}
	known, err := knownOf(p.store, incs, except, p.cfg.reportableClasses())
	if err != nil {
		return abusewatch.Report{}, err
	}
	known = knowingInexact(known, inexact)
	known.Replaces = replaces
	r, err := composer.ComposeKnowing(contact, incs, known, now)
	if err != nil {
		return r, fmt.Errorf("compose report to %s: %w", strings.Join(contact.Emails, ", "), err)
	}
	return r, nil
}

// sameMemo says whether report nr, composed again with r's ID, says what r's mail says:
// then r's mail need not be written again (its Date would be all that changed).
func (p *Pipeline) sameMemo(r, nr abusewatch.Report) (bool, error) {
	if r.Message == nil {
		full, ok, err := p.store.Report(r.ID)
		if err != nil || !ok {
			return false, err
		}
		r.Message = full.Message
	}
	bodyOf := func(m []byte) []byte {
		if i := bytes.Index(m, []byte("\r\n\r\n")); i >= 0 {
			return m[i:]
		}
		return nil
	}
	old := bodyOf(r.Message)
	return old != nil && r.Subject == nr.Subject && bytes.Equal(old, bodyOf(nr.Message)), nil
}

// movedSources are the incidents of a report that go to another recipient now.
type movedSources struct {
	contact   abusewatch.Contact
	incidents []abusewatch.Incident
}

// addMoved adds inc to the sources that go to contact.
func addMoved(moved []movedSources, contact abusewatch.Contact, inc abusewatch.Incident) []movedSources {
	for i := range moved {
		if sameRecipients(moved[i].contact, contact) {
			moved[i].incidents = append(moved[i].incidents, inc)
			return moved
		}
	}
	return append(moved, movedSources{contact, []abusewatch.Incident{inc}})
}

// withNetworks is c, the contact of a party, with the network of o, another lookup's
// contact for the same mailboxes, kept in c.Networks (c's own first) when it is another
// and c is a guess or a national CERT alone: their memo speaks of the networks that no
// registry names anyone for, and named the first alone of a report that holds the
// addresses of several (mailer). A network whose registry names those very mailboxes
// (o a desk's) is left out: the memo would say that no registry names anyone for it.
func withNetworks(c, o abusewatch.Contact) abusewatch.Contact {
	noDesk := func(c abusewatch.Contact) bool {
		return c.Guess || !slices.ContainsFunc(c.Mailboxes, func(m abusewatch.Mailbox) bool { return m.Role != "cert" })
	}
	if !noDesk(c) || !noDesk(o) {
		return c
	}
	nets := slices.Clone(c.Networks)
	if len(nets) == 0 {
		nets = []abusewatch.NamedNetwork{{Network: c.Network, Name: c.Name}}
	}
	others := o.Networks
	if len(others) == 0 {
		others = []abusewatch.NamedNetwork{{Network: o.Network, Name: o.Name}}
	}
	for _, n := range others {
		if n.Network.IsValid() && !slices.ContainsFunc(nets, func(m abusewatch.NamedNetwork) bool { return m.Network == n.Network }) {
			nets = append(nets, n)
		}
	}
	if len(nets) > 1 {
		c.Networks = nets
	}
	return c
}

// sameRecipients says whether a and b are the same mailboxes, whatever their order and case.
func sameRecipients(a, b abusewatch.Contact) bool {
	norm := func(c abusewatch.Contact) []string {
		out := make([]string, len(c.Emails))
		for i, e := range c.Emails {
			out[i] = strings.ToLower(e)
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	return slices.Equal(norm(a), norm(b))
}

// configContacts is a Finder that answers from the config alone: the do-not-contact
// list and the [[contact]] table, as the lookup applies them (the do-not-contact list
// first, the most specific [[contact]] next), without a registry, a guess or DNS. The
// gate asks it about every address of every report not sent yet, at every round.
func (p *Pipeline) configContacts() (*lookup.Finder, error) {
	o := lookupOptions(p.cfg)
	o.RDAP, o.Guess, o.AbuseZone, o.CERTs, o.BootstrapDir = false, false, "", nil, ""
	o.Resolvers = []string{"127.0.0.1:1"} // asked for nothing; not read from resolv.conf
	o.Cache = lookup.NewMemoryCache()
	return lookup.New(o)
}

// recipientNow says whether the report of address a, written to c, is still c's to be
// told: why is "" when it is; otherwise to is the recipient the config names for a now
// (a [[contact]] other than c, or, for a report to a [[contact]] no longer in the
// config or to a guess, the registry's, looked up again), or nil when a is told to no one (the
// do-not-contact list, or no contact at all now). err is a lookup that failed for a
// reason that passes: the report waits.
func (p *Pipeline) recipientNow(ctx context.Context, conf *lookup.Finder, a netip.Addr, c abusewatch.Contact) (to *abusewatch.Contact, why string, err error) {
	s, cerr := conf.Contact(ctx, a)
	switch {
	case errors.Is(cerr, lookup.ErrDoNotContact):
		return nil, fmt.Sprintf("%s: %s", a, s.Problem), nil
	case cerr == nil && len(s.Emails) > 0:
		if sameRecipients(s, c) {
			return nil, "", nil
		}
		return &s, fmt.Sprintf("%s: the [[contact]] table names %s for %s now", a, strings.Join(s.Emails, ", "), s.Network), nil
	case c.Guess:
		return p.listedNow(ctx, a, c)
	case c.Role != "static":
		return nil, "", nil // the registry's contact, as it was written
	}
	// Written to a [[contact]] the config no longer has: whose it is now is looked up.
	now, err := p.contact(ctx, a)
	switch {
	case err != nil && transient(err):
		return nil, "", err
	case err != nil || len(now.Emails) == 0:
		return nil, fmt.Sprintf("%s: the [[contact]] entry it was written to is gone, and no contact is found now", a), nil
	case sameRecipients(now, c):
		return nil, "", nil
	}
	return &now, fmt.Sprintf("%s: the [[contact]] entry it was written to is gone; its contact is now %s", a, strings.Join(now.Emails, ", ")), nil
}

// listedNow is recipientNow of address a of a report written to guess c: the contact
// the registry (or the abuse-contact zone) names for a now, when it names one. A guess
// is made when the registry names no one, and that answer is kept for
// lookup.negative_ttl only: asked again once it is older (every round finds the cached
// answer until then), a registry that was down or had no abuse contact for the network
// may name one since, and a report still waiting goes to that desk, not to the guess.
// A registry that does not answer now leaves the guess as it was written: the admin
// reads it, and approves it or not, as before.
func (p *Pipeline) listedNow(ctx context.Context, a netip.Addr, c abusewatch.Contact) (to *abusewatch.Contact, why string, err error) {
	start := time.Now()
	now, err := p.finder.Listed(ctx, a)
	p.countLookup(start, err)
	desk := slices.ContainsFunc(now.Mailboxes, func(m abusewatch.Mailbox) bool { return m.Role != "cert" })
	if err != nil || now.Guess || !desk || sameRecipients(now, c) {
		return nil, "", nil
	}
	return &now, fmt.Sprintf("%s: the registry names %s for %s now, and %s were a guess", a, strings.Join(now.Emails, ", "), now.Network,
		strings.Join(c.Emails, ", ")), nil
}

// networkChanged says why network incident inc, written to c, may no longer be c's as it
// was written: an address of it is on the do-not-contact list now, or the [[contact]]
// table names another recipient for one, or c came from that table and no longer holds
// one of them; "" when none. It answers from the config alone: which addresses were c's
// only looking them up again says (theirs), and one named here may have been another's
// all along.
func networkChanged(ctx context.Context, conf *lookup.Finder, inc abusewatch.Incident, c abusewatch.Contact) string {
	for _, a := range incidentAddrs(inc) {
		s, err := conf.Contact(ctx, a)
		switch {
		case errors.Is(err, lookup.ErrDoNotContact):
			return fmt.Sprintf("%s: %s", a, s.Problem)
		case err == nil && len(s.Emails) > 0 && !sameRecipients(s, c):
			return fmt.Sprintf("%s: the [[contact]] table names %s for %s", a, strings.Join(s.Emails, ", "), s.Network)
		case err != nil && c.Role == "static":
			return fmt.Sprintf("%s: no [[contact]] entry holds it", a)
		}
	}
	return ""
}

// recheckUnsent runs the last gate over every report that waits to be sent (for
// approval, or queued), before a round writes or delivers anything: a config reload (or
// a `scan` with the config changed) that put a network on the do-not-contact list or
// gave it a [[contact]] shows in `outbox` at once, and no report waiting in the cooldown
// or for a retry goes to the old recipient when its time comes. Held reports (observe
// mode) are never sent, and pile up for as long as the mode lasts: they meet the gate
// when approved, at delivery.
func (p *Pipeline) recheckUnsent(ctx context.Context, now time.Time) error {
	unsent, err := p.store.Reports(abusewatch.ReportPendingApproval, abusewatch.ReportQueued)
	if err != nil || len(unsent) == 0 {
		return err
	}
	conf, err := p.configContacts()
	if err != nil {
		return err
	}
	for _, r := range unsent {
		if err := ctx.Err(); err != nil {
			return err
		}
		// The gate of one may have replaced another read above (sources joining a
		// party's waiting report): that one is gated as it is now, or not at all.
		cur, ok, err := p.store.Report(r.ID)
		if err != nil {
			return err
		}
		if !ok || (cur.State != abusewatch.ReportPendingApproval && cur.State != abusewatch.ReportQueued) {
			continue
		}
		r = cur
		if _, _, err := p.lastGate(ctx, conf, r, now); err != nil {
			return fmt.Errorf("report %s: %w", r.ID, err)
		}
	}
	return nil
}

// heldIfGuessed keeps a report to a guessed contact (abuse@ and security@ of the domain
// of an address's reverse name, the registry naming no one) for the admin in auto mode
// too, and says so: whoever holds the address sets that name, so an attacker can have
// the report, and the claim that the address is theirs, sent to any domain's owner, and
// what is easy to spoof is never reported on its own. In observe mode it stays held.
func heldIfGuessed(r *abusewatch.Report) {
	if !r.Contact.Guess || r.State == abusewatch.ReportHeld {
		return
	}
	r.State = abusewatch.ReportPendingApproval
	r.Error = fmt.Sprintf("its recipients %s are a guess: the registry names no one for %s, and the reverse name %s is in their domain, "+
		"which whoever holds the address can set; a guess is never sent on its own: read it (abusewatch report show %s), then approve or reject it",
		strings.Join(r.Contact.Emails, ", "), r.Contact.Network, sanitizeText(r.Contact.PTR), shortID(r.ID))
}

// waitingFor finds a report to contact that has not gone yet.
func waitingFor(contact abusewatch.Contact, waiting []abusewatch.Report) (abusewatch.Report, bool) {
	for _, r := range waiting {
		for _, a := range mailer.PartyEmails(r.Contact) { // a CERT's copy is no party's
			for _, b := range mailer.PartyEmails(contact) {
				if strings.EqualFold(a, b) {
					return r, true
				}
			}
		}
	}
	return abusewatch.Report{}, false
}

// sentSince is the deliveries since t, for the policy.
func (p *Pipeline) sentSince(t time.Time) ([]mailer.Sent, error) {
	ds, err := p.store.Deliveries(t)
	if err != nil {
		return nil, err
	}
	return sentOf(ds), nil
}

// Deliver sends the queued reports that are due now (see DeliverAt).
func (p *Pipeline) Deliver(ctx context.Context) error { return p.DeliverAt(ctx, time.Now()) }

// DeliverAt sends the queued reports that are due at now. A report waits while its
// recipient is in the cooldown or a limit is reached (NextAttempt and Waiting say until
// when and why); a temporary failure queues it again after an exponential back-off, and
// fails it for good after mail.give_up_after of retries (givesUp: a step of the clock
// counts as one gap); a permanent one fails it with the server's
// reply. In observe mode nothing is sent.
func (p *Pipeline) DeliverAt(ctx context.Context, now time.Time) error {
	if n, err := p.store.ExpireRefused(now.Add(-RefusalKept)); err != nil {
		return err
	} else if n > 0 {
		p.log.Info("refusals for good older than the time they are kept forgotten: reports go to those mailboxes again", "count", n, "kept", RefusalKept)
	}
	if p.cfg.Policy.Mode == "observe" {
		return nil
	}
	refused, err := refusedMarks(p.store, now)
	if err != nil {
		return err
	}
	if err := p.noteRefusals(refused); err != nil {
		return err
	}
	queued, err := p.store.Reports(abusewatch.ReportQueued)
	if err != nil || len(queued) == 0 {
		return err
	}
	policy := OutboxPolicy(p.cfg)
	sent, err := p.sentSince(now.Add(-max(policy.Cooldown, 24*time.Hour)))
	if err != nil {
		return err
	}
	transport := ReportTransport(p.cfg, p.transport)
	gapMax := retryGapMax(p.cfg)
	conf, err := p.configContacts()
	if err != nil {
		return err
	}
	var errs []error
	for _, r := range queued {
		if err := ctx.Err(); err != nil {
			return err
		}
		// Whatever waits it is in: refusals may leave it no one to go to.
		if _, settled, err := p.settledByRefusals(r, refused, now); err != nil {
			return err
		} else if settled {
			continue
		}
		if r.NextAttempt.After(now) {
			if !steppedBack(r, now, policy) {
				continue
			}
			// Its wait was set by a clock that was ahead: the cooldown and the limits
			// (Hold) are asked again as of now, and a back-off counts from now. The
			// back-off's retry time goes, so that the step is told once, however long
			// the clock takes to reach the last attempt.
			if r.Waiting == "" {
				retryWas := r.NextAttempt
				if err := p.store.UpdateReport(r.ID, func(s *abusewatch.Report) error {
					if s.State == abusewatch.ReportQueued && s.NextAttempt.Equal(retryWas) {
						s.NextAttempt = time.Time{}
					}
					return nil
				}); err != nil {
					return err
				}
				r.NextAttempt = time.Time{}
				p.log.Warn("the clock is behind the report's last attempt: it was stepped back; the report is tried again now, "+
					"not at the retry time set while the clock was ahead", "id", r.ID, "last_attempt", r.LastTried, "retry_was", retryWas)
			}
		}
		if until, why := policy.Hold(r, sent, now); !until.IsZero() {
			if err := p.store.UpdateReport(r.ID, func(s *abusewatch.Report) error {
				s.NextAttempt, s.Waiting = until, why
				return nil
			}); err != nil {
				return err
			}
			if why != r.Waiting {
				p.log.Info("report waits", "id", r.ID, "to", strings.Join(r.Contact.Emails, ", "), "until", until, "why", why)
			}
			continue
		}
		send, ok, err := p.lastGate(ctx, conf, r, now)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		r = send
		if r.Message == nil {
			// The list holds no messages: the one to send is read now.
			full, ok, rerr := p.store.Report(r.ID)
			if rerr != nil || !ok {
				return cmp.Or(rerr, fmt.Errorf("report %s vanished", r.ID))
			}
			r.Message = full.Message
		}
		if len(r.Message) == 0 {
			// A failed report approved again after [retention] reports deleted its mail.
			if err := p.store.UpdateReport(r.ID, func(s *abusewatch.Report) error {
				s.State, s.Updated, s.Error = abusewatch.ReportFailed, now, "its mail is no longer kept ([retention] reports): nothing was sent"
				return nil
			}); err != nil {
				return err
			}
			p.log.Warn("report not sent: its mail is no longer kept ([retention] reports)", "id", r.ID)
			continue
		}
		// Again for the report as lastGate left it (its contact may have changed). A
		// mailbox that refused a report for good since the admin last approved this
		// one is left out (a CERT's full mailbox, a dead noc@ holds no report of the
		// others).
		leftOut, settled, err := p.settledByRefusals(r, refused, now)
		if err != nil {
			return err
		} else if settled {
			continue
		}
		_, progressing := transport.(*mailer.SMTP)
		// The admin may have rejected it since the list was read (the round runs beside
		// the admin socket): only a report still queued is sent. Until its message
		// begins to leave (Progress.BeforeData), a stop leaves it provably unsent.
		err = p.store.UpdateReport(r.ID, func(s *abusewatch.Report) error {
			if s.State != abusewatch.ReportQueued {
				return errNoLongerQueued
			}
			// BeforeData is cleared by a transport that reports when DATA begins
			// (mailer.Progress: SMTP); a maildir's message may be in place from the
			// start, and only the maildir can tell (RecoverInterrupted).
			s.State, s.Updated, s.Waiting, s.BeforeData = abusewatch.ReportSending, now, "", progressing
			countAttempt(s, now, gapMax)
			return nil
		})
		if errors.Is(err, errNoLongerQueued) {
			continue
		}
		if err != nil {
			return err
		}
		firstTried, held := r.FirstTried, r.Waiting != ""
		if gap := countAttempt(&r, now, gapMax); gap > gapMax && !held {
			// A clock stepped forward (or a daemon stopped) would have failed the
			// report in this one round: the admin hears why it did not. A report the
			// cooldown or a limit held has its wait logged already.
			p.log.Warn("the clock lies far ahead of the report's last attempt: it was stepped forward, or no round ran for that long (the daemon was stopped); "+
				"mail.give_up_after counts only part of the gap", "id", r.ID, "last_attempt", now.Add(-gap), "gap", gap, "counted", gapMax,
				"retried", r.Retried, "give_up_after", Duration{policy.GiveUpAfter})
		} else if firstTried.After(now) {
			p.log.Warn("the report's first attempt is dated after this round's clock: the clock was stepped back since; "+
				"mail.give_up_after counts from now", "id", r.ID, "first_attempt_was", firstTried, "retried", r.Retried)
		}
		// Only to the recipients that have not had it: a retry after some refused it
		// for now goes to them alone.
		var targets []string
		for _, e := range unsentTo(r) {
			if !slices.ContainsFunc(leftOut, func(m store.RefusedMailbox) bool { return bareAddress(m.Email) == bareAddress(e) }) {
				targets = append(targets, e)
			}
		}
		to := r
		to.Contact.Emails = targets
		id := r.ID
		pr := &mailer.Progress{BeforeData: func() error {
			return p.store.UpdateReport(id, func(s *abusewatch.Report) error {
				s.BeforeData = false
				return nil
			})
		}}
		// A stop gives a delivery begun a grace to finish (mailer.SMTP's StopGrace): cut
		// off after the message went, it waits for approval (ErrMayHaveArrived).
		loc, derr := transport.Deliver(mailer.WithProgress(ctx, pr), to)
		mayHave := errors.Is(derr, mailer.ErrMayHaveArrived)
		var a attempt
		if !mayHave {
			a = attemptOf(targets, pr, derr)
		}
		var delivery *store.Delivery
		if reached := a.reached(); len(reached) > 0 {
			delivery = &store.Delivery{Report: r.ID, Time: now, Emails: reached, Network: r.Contact.Network, Refused: a.refused}
			if len(r.Delivered) > 0 {
				// A retry to recipients that refused it for now (a greylisting CERT's
				// copy): the party's cooldown began with its first mail.
				delivery.Network = netip.Prefix{}
			}
		}
		var marks []store.RefusedMailbox
		for _, e := range a.refused {
			marks = append(marks, store.RefusedMailbox{Email: e, Time: now, Report: r.ID, Reply: a.replies[e]})
			refused[bareAddress(e)] = marks[len(marks)-1]
		}
		for _, e := range a.took {
			delete(refused, bareAddress(e))
		}
		retry := derr == nil || mailer.Temporary(derr)
		giveUp := len(a.later) > 0 && retry && givesUp(policy, r, now)
		// A server's reply may quote the recipient's (a relay passes on what the abuse
		// desk's server said): the stored error, which outbox prints, is one printable line.
		why := ""
		if derr != nil {
			why = sanitizeText(derr.Error())
		}
		note := attemptNote(a)
		leftNote := p.leftOutWords(leftOut)
		err = p.store.FinishAttempt(r.ID, func(s *abusewatch.Report) error {
			s.Updated, s.BeforeData = now, false
			s.Delivered = append(s.Delivered, a.took...)
			s.Refused = append(s.Refused, a.refused...)
			had := len(s.Delivered) > 0
			if derr == nil {
				s.Location = loc
			}
			switch {
			case mayHave:
				// As after a stop while sending (RecoverInterrupted): a person decides.
				s.State, s.Error = abusewatch.ReportPendingApproval, fmt.Sprintf("%s; it is not sent again on its own: check the mail "+
					"server's log, then `%s` to send it or `%s`", why, p.cfg.Command("report approve", s.ID), p.cfg.Command("report reject", s.ID))
			case len(a.later) == 0 && had:
				s.State, s.Error, s.NextAttempt = abusewatch.ReportSent, note, time.Time{}
				if note == "" && len(s.Refused) > 0 {
					// An earlier attempt's refusal for good (its reply is in the log).
					s.Error = fmt.Sprintf("sent to %s; refused for good by %s", strings.Join(s.Delivered, ", "), strings.Join(s.Refused, ", "))
				}
			case len(a.later) == 0:
				s.State, s.Error = abusewatch.ReportFailed, cmp.Or(note, why)
			case retry && !giveUp:
				s.State, s.NextAttempt = abusewatch.ReportQueued, now.Add(policy.Backoff(s.Attempts))
				s.Error = cmp.Or(why, note)
				if had || len(a.refused) > 0 || len(a.relay) > 0 {
					s.Error = fmt.Sprintf("%s; tried again to %s only", note, strings.Join(a.later, ", "))
				}
			default:
				gave := cmp.Or(why, note)
				if giveUp {
					gave = fmt.Sprintf("gave up after %d attempts since %s (retried for %s): %s", s.Attempts,
						s.FirstTried.In(p.zone()).Format("2006-01-02 15:04 -0700"), Duration{s.Retried.Round(time.Minute)}, cmp.Or(why, note))
				}
				s.State, s.Error, s.NextAttempt = abusewatch.ReportFailed, gave, time.Time{}
				if had {
					// Those that took it have it: it went, not to all.
					s.State = abusewatch.ReportSent
					s.Error = fmt.Sprintf("not sent to %s: %s", strings.Join(a.later, ", "), gave)
				}
			}
			if leftNote != "" && s.State != abusewatch.ReportPendingApproval {
				s.Error = strings.Join(slices.DeleteFunc([]string{s.Error, leftNote}, func(x string) bool { return x == "" }), "; ")
			}
			return nil
		}, delivery, marks, a.took)
		if err != nil {
			return err
		}
		if delivery != nil {
			sent = append(sent, sentOf([]store.Delivery{*delivery})...)
		}
		for _, m := range marks {
			p.log.Warn("recipient refused the report for good: no further report goes to it without your approval",
				"id", r.ID, "refused", m.Email, "reply", m.Reply, "approve", p.cfg.Command("report approve", r.ID))
		}
		if mayHave {
			p.log.Warn("report may have arrived though the mail server did not answer: not sending it again without your approval",
				"id", r.ID, "to", strings.Join(r.Contact.Emails, ", "), "err", derr, "approve", p.cfg.Command("report approve", r.ID))
			errs = append(errs, fmt.Errorf("report %s: %w", r.ID, derr))
			continue
		}
		if len(leftOut) > 0 {
			p.log.Info("report not sent to mailboxes that refused one for good", "id", r.ID, "left_out", leftNote)
		}
		if len(a.took) > 0 {
			p.Counters.Delivered.Add(1)
			p.log.Info("report delivered", "id", r.ID, "to", strings.Join(a.took, ", "), "where", loc)
		}
		if len(a.relay) > 0 && derr == nil {
			p.log.Warn("our mail server refused the report for some recipients: no desk is marked; check its log", "id", r.ID,
				"not_sent_to", strings.Join(a.relay, ", "), "why", note)
		}
		if len(a.later) > 0 && derr == nil {
			p.log.Warn("recipients refused the report for now: it is tried again to them only", "id", r.ID,
				"later", strings.Join(a.later, ", "), "why", note, "retry", !giveUp)
		}
		if derr != nil && len(a.refused) == 0 {
			p.log.Warn("report delivery failed", "id", r.ID, "attempt", r.Attempts, "temporary", retry && !giveUp,
				"retry", retry && !giveUp, "err", derr)
		}
		if derr != nil {
			errs = append(errs, fmt.Errorf("report %s: %w", r.ID, derr))
		}
	}
	return errors.Join(errs...)
}

// errNoLongerQueued is DeliverAt's: the report changed state since it was listed.
var errNoLongerQueued = errors.New("the report is no longer queued")

// zone is the reporter's time zone, for times in messages to the admin.
func (p *Pipeline) zone() *time.Location { return Location(p.cfg.Reporter.Timezone) }

// ReportComposer is composer (as NewComposer built it) with the outbox's options from
// cfg: the X-ARF part, the signing key and our hosts' addresses.
func ReportComposer(cfg *Config, composer *mailer.Composer) (*mailer.Composer, error) {
	o := mailer.Options{XARF: *cfg.Mail.XARF, Hosts: cfg.Mail.hostAddresses(), Redact: redactionOf(cfg)}
	if cfg.Signing.KeyFile != "" {
		s, err := mailer.LoadSigner(cfg.Signing.KeyFile, cfg.Signing.KeyURL)
		if err != nil {
			return nil, &ConfigError{File: cfg.file, Line: keyLine(cfg.doc, "signing.key_file"), Key: "signing.key_file", Problem: err.Error()}
		}
		o.Signer = s
	}
	return composer.With(o), nil
}

// ReportTransport is t (as NewTransport built it) with the EHLO name from cfg.
func ReportTransport(cfg *Config, t mailer.Transport) mailer.Transport {
	if s, ok := t.(*mailer.SMTP); ok && cfg.Mail.HeloName != "" {
		c := *s
		c.HeloName = cfg.Mail.HeloName
		return &c
	}
	return t
}
