package mailer

import (
	"slices"
	"time"

	"github.com/abusewatch/abusewatch"
)

// Recurrence is what the store holds of the lines a recurrence reports outside
// (Known.Recurrences): the unforgeable lines of the addresses it names within its
// times. A recurrence is counted from daily counters, which know classes by day, not
// packets or (of a /24) addresses: its First may be a forged packet's, before any line
// it reports, and a /24's count takes in the lines of addresses it does not name. Its
// report dates and counts what it reports; the admin's views show it as stored.
type Recurrence struct {
	// First is the first of those lines. Of a day whose raw lines retention deleted,
	// it is that day (midnight UTC, or the recurrence's own First within it), and
	// FirstDay is set: the counters keep no time of day.
	First    time.Time
	FirstDay bool
	// Lines is how many there are (0: none known), and Classes their classes, sorted.
	Lines   int
	Classes []abusewatch.Class
	// Days is, by class, on how many days (midnight to midnight GMT) there were any.
	Days map[abusewatch.Class]int
	// AfterReport: a report about an earlier recurrence of its address (or /24) went
	// out, or is queued to, and these lines come after that recurrence's.
	AfterReport bool
}

// asReported is recurrence inc as its report tells it (r): from the first line it
// reports, counting those alone, of their classes, and whether its First is known only
// as a day. It never begins after a line it shows, nor counts more than it did.
func asReported(inc abusewatch.Incident, r Recurrence) (abusewatch.Incident, bool) {
	firstDay := r.FirstDay && r.First.Equal(inc.First)
	if first := r.First; first.After(inc.First) && !first.After(inc.Last) {
		dayOnly := r.FirstDay
		for _, e := range inc.Evidence {
			if e.Time.Before(first) {
				first, dayOnly = e.Time, false
			}
		}
		inc.First, firstDay = first, dayOnly
	}
	if r.Lines > 0 && r.Lines < inc.Count {
		inc.Count = max(r.Lines, len(inc.Evidence))
		inc.Attempts = max(min(inc.Attempts, inc.Count), 1)
	}
	if r.Lines > 0 && slices.ContainsFunc(inc.Classes, func(c abusewatch.Class) bool { return !slices.Contains(r.Classes, c) }) {
		inc.Classes = slices.DeleteFunc(slices.Clone(inc.Classes), func(c abusewatch.Class) bool {
			return !slices.Contains(r.Classes, c) && !slices.ContainsFunc(inc.Evidence, func(e abusewatch.Event) bool { return e.Class == c })
		})
	}
	return inc, firstDay
}

// recurrenceDays says on which days recurrence inc's lines of class were seen, for the
// memo's reason (" on 12 different days"), from what the store holds of it (r, known:
// the outbox read its lines); not known, from the lines it keeps, a lower bound. Of
// one that comes after a recurrence we reported, it says so: its lines are those of
// the days after. It claims no more than its lines show: a follow-up of one day was
// "on many different days".
func recurrenceDays(inc *abusewatch.Incident, class abusewatch.Class, r Recurrence, known bool) string {
	n, bound := r.Days[class], false
	if !known {
		days := map[time.Time]bool{}
		for _, e := range inc.Evidence {
			if e.Class == class {
				days[e.Time.UTC().Truncate(24*time.Hour)] = true
			}
		}
		n, bound = len(days), true
	}
	if r.AfterReport {
		switch {
		case n == 1 && !bound:
			return " on one more day after those we reported before"
		case n >= 2:
			return " on " + atLeast(n, bound) + " more days after those we reported before"
		}
		return " again after the days we reported before"
	}
	if n < 2 {
		return "" // a day's lines: the class says what they are
	}
	return " on " + atLeast(n, bound) + " different days"
}
