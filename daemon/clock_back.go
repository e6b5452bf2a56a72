package daemon

import (
	"sync"
	"time"
)

// The daemon's own clock can be wrong too: fast at boot (a bad RTC) for a round or
// more, then set back by NTP. What it stored meanwhile (a report's delivery, the daily
// summary's mark, a possible compromise's mail) is dated in the future, and a time
// compared with now as if it were past held things up until the wrong date came round:
// a party's cooldown (mailer.Policy.LastTo), the summaries (resumeSummaries), the next
// alert of a growing compromise (alertMarks). Each now leaves such a time out or takes
// it as now, and the log says once what it found: the admin learns the clock stepped.

// clockBack remembers the newest time dated after now that the log told of, of each
// kind: one warning per step back, not one per round.
type clockBack struct {
	mu     sync.Mutex
	warned map[string]time.Time
}

// first says whether newest, the newest stored time of kind what found after now, was
// not warned of yet.
func (c *clockBack) first(what string, newest time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.warned == nil {
		c.warned = map[string]time.Time{}
	}
	if c.warned[what].Equal(newest) {
		return false
	}
	c.warned[what] = newest
	return true
}

// warnFutureDeliveries logs once that reports are recorded as delivered after now:
// they count for no cooldown or limit (mailer.Policy), so the party each went to may
// get one more report than the cooldown allows.
func (p *Pipeline) warnFutureDeliveries(now time.Time) error {
	ds, err := p.store.Deliveries(now.Add(time.Nanosecond))
	if err != nil || len(ds) == 0 {
		return err
	}
	newest := ds[len(ds)-1].Time
	if p.stepped.first("deliveries", newest) {
		p.log.Warn("the clock was set back: reports are recorded as sent after now, while the clock was fast; they count for no cooldown or limit",
			"reports", len(ds), "newest", newest, "now", now)
	}
	return nil
}
