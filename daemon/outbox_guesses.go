package daemon

// A guessed party (abuse@ and security@ of the domain of an address's reverse name, the
// registry naming no one) has one report waiting for the admin, which gathers what the
// rounds find for it meanwhile: its addresses' incidents, its shares of network
// incidents (written beside it, since a guess never holds the registry desks' shares),
// sources moving to it. Two reports side by side were approved together, and the second
// went a whole cooldown after the first (review 21d D3). Reports the admin approved to
// one guessed party that have not gone yet are likewise written again as one.

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/mailer"
)

// gatherable says whether r, a report to a guessed contact, is one that gatherGuesses
// may write again with others to the same contact: waiting for approval, or queued by
// the admin's approval, and never tried (a report that was may have arrived, or be in
// the middle of its retries: its mail stays as it is), nor had by some recipients
// already (sources moving to the guess from a report they took: written again as one
// mail to all, they got those sources twice; the party's new incidents wait for it).
func gatherable(r abusewatch.Report) bool {
	return r.Contact.Guess && r.Attempts == 0 && len(r.Delivered) == 0 &&
		(r.State == abusewatch.ReportPendingApproval || (r.State == abusewatch.ReportQueued && !r.Approved.IsZero()))
}

// guessGroups are the reports of rs (oldest first) that gatherGuesses writes again as
// one: gatherable reports in the same state to the same mailboxes, two or more of them,
// each group oldest first.
func guessGroups(rs []abusewatch.Report) [][]abusewatch.Report {
	var groups [][]abusewatch.Report
	for _, r := range rs {
		if !gatherable(r) {
			continue
		}
		i := slices.IndexFunc(groups, func(g []abusewatch.Report) bool {
			return g[0].State == r.State && sameRecipients(g[0].Contact, r.Contact)
		})
		if i < 0 {
			groups = append(groups, []abusewatch.Report{r})
			continue
		}
		groups[i] = append(groups[i], r)
	}
	return slices.DeleteFunc(groups, func(g []abusewatch.Report) bool { return len(g) < 2 })
}

// pendingGuess finds the report to guessed contact c waiting for approval that what the
// round finds for c joins (gatherGuesses).
func pendingGuess(c abusewatch.Contact, waiting []abusewatch.Report) (abusewatch.Report, bool) {
	if !c.Guess {
		return abusewatch.Report{}, false
	}
	i := slices.IndexFunc(waiting, func(r abusewatch.Report) bool {
		return r.State == abusewatch.ReportPendingApproval && gatherable(r) && sameRecipients(r.Contact, c)
	})
	if i < 0 {
		return abusewatch.Report{}, false
	}
	return waiting[i], true
}

// holdingReport finds the report not gone yet to c's party that holds c's new incidents
// back (they join the party's next report), as waitingFor does, but for a guess's report
// waiting for approval: a registry's desk whose mailbox a guess names too is not held
// for as long as the admin leaves the guess unread (whoever holds an address sets the
// reverse name the guess comes from), and what the round finds for the guessed party
// itself joins that report (pendingGuess).
func holdingReport(c abusewatch.Contact, waiting []abusewatch.Report) (abusewatch.Report, bool) {
	return waitingFor(c, slices.DeleteFunc(slices.Clone(waiting), func(r abusewatch.Report) bool {
		if !r.Contact.Guess || r.State != abusewatch.ReportPendingApproval {
			return false
		}
		return !c.Guess || (gatherable(r) && sameRecipients(r.Contact, c))
	}))
}

// gatherGuesses writes the reports of each guessGroups group again as one report to
// their contact, in their state: the round runs it after it writes reports and before
// it delivers them.
func (p *Pipeline) gatherGuesses(ctx context.Context, now time.Time) error {
	rs, err := p.store.Reports(abusewatch.ReportPendingApproval, abusewatch.ReportQueued)
	if err != nil {
		return err
	}
	for _, g := range guessGroups(rs) {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := p.joinGuesses(ctx, g, now); err != nil {
			return fmt.Errorf("joining the reports to %s: %w", strings.Join(g[0].Contact.Emails, ", "), err)
		}
	}
	return nil
}

// joinGuesses writes the reports of g (a guessGroups group) again as one, which replaces
// the oldest, the others rejected as joined. A report whose incidents another of g
// holds (a round that stopped between the two) is rejected alone. What cannot be
// looked up again now (a network incident's share) leaves them as they are for the
// next round.
func (p *Pipeline) joinGuesses(ctx context.Context, g []abusewatch.Report, now time.Time) error {
	var ids []string
	for _, r := range g {
		for _, id := range r.Incidents {
			if !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	into := g[0]
	for _, r := range g[1:] {
		// The memo names each network the guess is written for, not the first's alone.
		into.Contact = withNetworks(into.Contact, r.Contact)
	}
	if i := slices.IndexFunc(g, func(r abusewatch.Report) bool { return len(r.Incidents) == len(ids) }); i >= 0 {
		for _, r := range g {
			if r.ID != g[i].ID {
				if err := p.rejectJoined(r, g[i].ID, g[i].ID, now); err != nil {
					return err
				}
			}
		}
		return nil
	}
	stored, _, err := p.store.IncidentsAsStored(ids)
	if err != nil {
		return err
	}
	if len(stored) != len(ids) {
		return nil // pardoned since: the next round's gate writes the reports again without them
	}
	byID := make(map[string]abusewatch.Incident, len(stored))
	for _, inc := range stored {
		byID[inc.ID] = inc
	}
	var incs []abusewatch.Incident
	inexact := map[string]mailer.Inexact{}
	for _, id := range ids {
		part, in, ok, err := p.theirs(ctx, byID[id], into.Contact, "")
		if err != nil || !ok {
			p.log.Debug("reports to a guessed contact not joined yet: a network incident's share cannot be looked up again now",
				"to", strings.Join(into.Contact.Emails, ", "), "incident", id, "err", err)
			return nil
		}
		incs, inexact[part.ID] = append(incs, part), in
	}
	composer, err := ReportComposer(p.cfg, p.composer)
	if err != nil {
		return err
	}
	nr, err := p.composeAgain(ctx, composer, into.Contact, incs, inexact, into.ID, into.ID, now)
	if err != nil {
		return err
	}
	var others []string
	for _, r := range g[1:] {
		others = append(others, shortID(r.ID))
	}
	nr.State, nr.Updated = into.State, now
	if nr.State == abusewatch.ReportQueued {
		// Every one of them approved: the latest approval, and the longest wait.
		for _, r := range g {
			if r.Approved.After(nr.Approved) {
				nr.Approved = r.Approved
			}
			if r.NextAttempt.After(nr.NextAttempt) {
				nr.NextAttempt, nr.Waiting = r.NextAttempt, r.Waiting
			}
		}
	} else {
		heldIfGuessed(&nr)
		nr.Error += fmt.Sprintf(". It holds the sources of report %s and of %s, written to the same contact while it waited for you: "+
			"one report to the party, not one a cooldown after another", shortID(into.ID), strings.Join(others, ", "))
	}
	// Only reports still as read: one the admin approved or rejected meanwhile stays so.
	for _, r := range g {
		cur, ok, err := p.store.Report(r.ID)
		if err != nil || !ok || cur.State != r.State || cur.Attempts != r.Attempts {
			return err
		}
	}
	// Not counted as a report written (scan's "N reports written"): it replaces those
	// written before, one of them maybe at this round, which was.
	if _, err := p.store.ReplaceReport(into.ID, fmt.Sprintf("joined by report %s to the same guessed contact: written again with it as %s",
		strings.Join(others, ", "), nr.ID), now, nr, nil); err != nil {
		return err
	}
	for _, r := range g[1:] {
		if err := p.rejectJoined(r, into.ID, nr.ID, now); err != nil {
			return err
		}
	}
	p.log.Info("reports to a guessed contact written again as one", "id", nr.ID, "to", strings.Join(nr.Contact.Emails, ", "),
		"joined", strings.Join(append([]string{shortID(into.ID)}, others...), ", "), "incidents", len(nr.Incidents), "state", nr.State)
	return nil
}

// rejectJoined rejects r, joined into report into (written again as report as), unless
// it changed state meanwhile.
func (p *Pipeline) rejectJoined(r abusewatch.Report, into, as string, now time.Time) error {
	why := fmt.Sprintf("joined report %s to the same guessed contact: written again with it as %s", shortID(into), as)
	if into == as {
		why = fmt.Sprintf("joined report %s to the same guessed contact, which holds its incidents", as)
	}
	return p.store.UpdateReport(r.ID, func(s *abusewatch.Report) error {
		if s.State == r.State {
			s.Reject(now, why)
		}
		return nil
	})
}
