package daemon

import (
	"context"
	"fmt"
	"time"
)

// CatchUp correlates the events committed after the store's correlation mark, if any:
// a batch whose events and positions were committed, but whose incidents were not
// stored, because the process was killed between the two transactions (SIGKILL, the
// OOM killer, a power cut) or the store refused the second (a full disk). Those lines
// are never read again, and nothing else judges their events: the periodic
// re-correlation covers what came after the daemon's start, a scan reads on after the
// committed position. run and scan call it before reading; Ingest before its commit
// and Recorrelate once a correlation failed. The events are judged again as a
// re-correlation judges them (RecorrelateRange, over their time span): those of the
// span already correlated rebuild the incidents they made, which changes nothing (so
// does the last batch before a kill when it made no incident: its mark moves with the
// next commit, not in a sync of its own; incidents_changed in the warning tells).
func (p *Pipeline) CatchUp(ctx context.Context) error {
	if !p.behind {
		return nil
	}
	u, err := p.store.Uncorrelated()
	if err != nil {
		return fmt.Errorf("reading the store's correlation mark: %w", err)
	}
	if u.Events == 0 {
		p.behind = false
		return nil
	}
	// The periodic re-correlation goes on from where it was: the span can lie far
	// back (a backlog), and its next pass would run from there to now.
	changed, err := p.RecorrelateRange(ctx, u.From, u.To)
	if err == nil {
		err = p.store.MarkCorrelated(u.Through)
	}
	if err != nil {
		return fmt.Errorf("correlating the %d events committed but not correlated (logged from %s to %s; a failed correlation, or a stop between a batch's commit and its incidents): %w",
			u.Events, u.From.Format(time.RFC3339), u.To.Format(time.RFC3339), err)
	}
	p.behind = false
	p.Counters.CaughtUp.Add(int64(u.Events))
	p.log.Warn(fmt.Sprintf("%d events committed before a stop (or a failed correlation) had not been correlated; correlated now", u.Events),
		"events", u.Events, "from", u.From, "to", u.To, "incidents_changed", changed)
	return nil
}
