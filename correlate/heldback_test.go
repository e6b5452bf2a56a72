package correlate_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/correlate"
)

// The events of a time an address was excluded count toward no rule once it is
// included again: those stored then whatever their date, and those dated then whenever
// they are stored; its events before and after count as any. The network rule counts
// its address only by what it did outside that time.
func TestEventsOfATimeExcludedCountTowardNoRule(t *testing.T) {
	h := newHarness(t, correlate.Options{Threshold: 3, Window: 2 * time.Hour,
		Network: correlate.NetworkRule{SetRule: correlate.SetRule{Count: 3, Window: time.Hour}, Sizes: []int{24}}})
	pen := netip.MustParsePrefix("45.134.26.50/32")
	h.c.Exclude(pen)
	// Stored while it was excluded (Seq 1, 2), dated an hour before it began.
	h.feed(attempts("45.134.26.50", abusewatch.ClassAuthFailure, t0, 2, time.Minute)...)
	h.c.Include(pen)
	h.c.HoldBack([]correlate.HeldBack{{Network: pen, From: t0.Add(time.Hour), To: t0.Add(2 * time.Hour), FromSeq: 1, ToSeq: 3}})
	// Dated while it was excluded, stored after: held back too.
	if incs := h.feed(attempts("45.134.26.50", abusewatch.ClassAuthFailure, t0.Add(70*time.Minute), 1, time.Minute)...); len(incs) != 0 {
		t.Fatalf("a line dated while excluded, with two stored then, made %+v", incs)
	}
	// Two addresses of its /24 beside it: the network rule counts two, not three.
	h.feed(attempts("45.134.26.51", abusewatch.ClassAuthFailure, t0.Add(71*time.Minute), 1, time.Minute)...)
	if incs := h.feed(attempts("45.134.26.52", abusewatch.ClassAuthFailure, t0.Add(72*time.Minute), 1, time.Minute)...); len(incs) != 0 {
		t.Fatalf("a /24 of two addresses and a held-back one made %+v", incs)
	}
	// After it: its own three lines make its incident, of them alone.
	incs := h.feed(attempts("45.134.26.50", abusewatch.ClassAuthFailure, t0.Add(2*time.Hour), 3, time.Minute)...)
	var own *abusewatch.Incident
	for i := range incs {
		if incs[i].Rule == "per-address" {
			own = &incs[i]
		}
	}
	if own == nil || own.Count != 3 || !own.First.Equal(t0.Add(2*time.Hour)) {
		t.Fatalf("incidents after the time held back = %+v; want its own of 3 lines from %s", incs, t0.Add(2*time.Hour))
	}
}

// The days an address was excluded all along are no days of its recurrence after the
// removal: the daily counters count them, the rule does not.
func TestDaysExcludedAllAlongAreNoDaysOfARecurrence(t *testing.T) {
	h := newHarness(t, correlate.Options{Threshold: 100, Window: time.Minute,
		Recurrence: correlate.RecurrenceRule{Days: 3, Period: 30 * 24 * time.Hour, Gap: 7 * 24 * time.Hour}})
	pen := netip.MustParsePrefix("45.134.26.50/32")
	day := t0.Truncate(24 * time.Hour)
	h.c.Exclude(pen)
	for d := range 3 {
		h.feed(attempts("45.134.26.50", abusewatch.ClassAuthFailure, day.Add(time.Duration(d)*24*time.Hour+10*time.Hour), 1, time.Minute)...)
	}
	h.c.Include(pen)
	h.c.HoldBack([]correlate.HeldBack{{Network: pen, From: day, To: day.Add(3 * 24 * time.Hour), FromSeq: 1, ToSeq: 4}})
	for d := 3; d < 5; d++ {
		if incs := h.feed(attempts("45.134.26.50", abusewatch.ClassAuthFailure, day.Add(time.Duration(d)*24*time.Hour+10*time.Hour), 1, time.Minute)...); len(incs) != 0 {
			t.Fatalf("day %d after three days excluded made %+v", d+1, incs)
		}
	}
	// A third day of its own makes it.
	incs := h.feed(attempts("45.134.26.50", abusewatch.ClassAuthFailure, day.Add(5*24*time.Hour+10*time.Hour), 1, time.Minute)...)
	if len(incs) != 1 || incs[0].Rule != "recurrence" || !incs[0].First.Equal(day.Add(3*24*time.Hour+10*time.Hour)) {
		t.Fatalf("incidents of its third day after the removal = %+v; want a recurrence from %s", incs, day.Add(3*24*time.Hour+10*time.Hour))
	}
}
