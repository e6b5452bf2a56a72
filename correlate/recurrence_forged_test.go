package correlate_test

import (
	"context"
	"net/netip"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/correlate"
	"github.com/abusewatch/abusewatch/store"
)

// recurrenceOpts is the default recurrence rule (10 days in 180, a gap of 30) with the
// network rule's default count, and short windows no day's events reach.
var recurrenceOpts = correlate.Options{Threshold: 5, Window: 10 * time.Minute,
	Reportable: correlate.DefaultReportable(),
	Network:    correlate.NetworkRule{SetRule: correlate.SetRule{Count: 10, Window: time.Hour}},
	Recurrence: correlate.RecurrenceRule{Days: 10, Period: 180 * 24 * time.Hour, Gap: 30 * 24 * time.Hour}}

// onDay is day n after t0's day, at clock.
func onDay(n int, clock time.Duration) time.Time {
	return time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC).AddDate(0, 0, n).Add(clock)
}

// forged are the packets of review 21b's recurrence cases, all forgeable.
func forgedSYN(a string, t time.Time) abusewatch.Event  { return probe(a, t, 55555, 23, "TCP", "SYN") }
func forgedICMP(a string, t time.Time) abusewatch.Event { return probe(a, t, 0, 0, "ICMP", "") }
func forgedUDP(a string, t time.Time) abusewatch.Event  { return probe(a, t, 55555, 161, "UDP", "") }

// feedDays feeds evs a batch per day, as a daemon reads them.
func (h *harness) feedDays(evs []abusewatch.Event) {
	h.t.Helper()
	for len(evs) > 0 {
		n := 1
		for n < len(evs) && evs[n].Time.Truncate(24*time.Hour).Equal(evs[0].Time.Truncate(24*time.Hour)) {
			n++
		}
		h.feed(evs[:n]...)
		evs = evs[n:]
	}
}

// An address's recurrence is reported outside only when its days with reportable,
// unforgeable evidence reach the rule's days (review 21b H3: one failed login among
// nine or ten days of forged packets made a report "on many different days"). The
// days of forged packets still make the recurrence, for the admin.
func TestRecurrenceNeedsItsDaysOfUnforgeableEvidence(t *testing.T) {
	const a = "6.6.6.6"
	days := func(from, to int, ev func(string, time.Time) abusewatch.Event) (out []abusewatch.Event) {
		for d := from; d <= to; d++ {
			out = append(out, ev(a, onDay(d, 9*time.Hour)))
		}
		return out
	}
	fail := func(d int) abusewatch.Event { return at(a, onDay(d, 10*time.Hour), 40000) }
	for _, tc := range []struct {
		name          string
		evs           []abusewatch.Event
		wantAdminOnly bool
	}{
		{"rec: 10 days of a SYN, a failed login on the 10th", append(days(0, 9, forgedSYN), fail(9)), true},
		{"rec1: 9 days of ICMP, a failed login on the 10th", append(days(0, 8, forgedICMP), fail(9)), true},
		{"rec2: a failed login, 9 days of UDP months later", append([]abusewatch.Event{fail(-80)}, days(0, 8, forgedUDP)...), true},
		{"9 days of failed logins and a day of a SYN: one short", append(days(0, 8, func(_ string, t time.Time) abusewatch.Event {
			return at(a, t, 40000)
		}), forgedSYN(a, onDay(9, 9*time.Hour))), true},
		{"10 days of failed logins, forged packets beside", append(days(0, 9, forgedUDP), days(0, 9, func(_ string, t time.Time) abusewatch.Event {
			return at(a, t.Add(time.Hour), 40000)
		})...), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, recurrenceOpts)
			evs := tc.evs
			slices.SortStableFunc(evs, func(x, y abusewatch.Event) int { return x.Time.Compare(y.Time) })
			h.feedDays(evs)
			inc, ok := h.stored("recur:" + a + "/32")
			if !ok {
				t.Fatal("no recurrence")
			}
			if inc.AdminOnly != tc.wantAdminOnly {
				t.Errorf("AdminOnly = %v, want %v (%+v)", inc.AdminOnly, tc.wantAdminOnly, inc)
			}
		})
	}
}

// A follow-up of a reported recurrence has no count of days to reach to be made (the
// address recurs still), and the reported one's days within the period count toward
// its report: two days of a failed login after ten are enough for it, whether it is
// made or grown; a follow-up of forged packets alone stays for the admin.
func TestRecurrenceFollowUpNeedsOneDayOfUnforgeableEvidence(t *testing.T) {
	const a = "6.6.6.7"
	for _, tc := range []struct {
		name          string
		after         []abusewatch.Event
		wantAdminOnly bool
	}{
		{"a failed login a day, two days", []abusewatch.Event{at(a, onDay(10, 10*time.Hour), 40001), at(a, onDay(11, 10*time.Hour), 40002)}, false},
		{"forged packets, two days", []abusewatch.Event{forgedUDP(a, onDay(10, 9*time.Hour)), forgedUDP(a, onDay(11, 9*time.Hour))}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, recurrenceOpts)
			var first []abusewatch.Event
			for d := range 10 {
				first = append(first, at(a, onDay(d, 10*time.Hour), uint16(30000+d)))
			}
			h.feedDays(first)
			rec, ok := h.stored("recur:" + a + "/32")
			if !ok || rec.AdminOnly {
				t.Fatalf("10 days of failed logins: %+v, want a reportable recurrence", rec)
			}
			if _, err := h.st.AddReport(abusewatch.Report{ID: "r1", State: abusewatch.ReportSent, Incidents: []string{rec.ID}}); err != nil {
				t.Fatal(err)
			}
			h.feedDays(tc.after)
			next, ok := h.stored("recur:" + a + "/32")
			if !ok || next.ID == rec.ID {
				t.Fatalf("no follow-up: %+v", next)
			}
			if next.AdminOnly != tc.wantAdminOnly {
				t.Errorf("follow-up AdminOnly = %v, want %v", next.AdminOnly, tc.wantAdminOnly)
			}
		})
	}
}

// A /24's recurrence is reported only when as many of its addresses as the network rule
// counts sent reportable, unforgeable evidence, and it names those alone (review 21b
// H3, rec24: a forged UDP packet a day "from" ten neighbours and one failed login of
// another made a report naming all eleven). Its days must reach the rule's too.
func TestNetworkRecurrenceNamesItsReportableAddressesAlone(t *testing.T) {
	addr := func(n int) string { return "6.6.6." + strconv.Itoa(n) }
	fail := func(n, d int) abusewatch.Event { return at(addr(n), onDay(d, 10*time.Hour), uint16(40000+n)) }
	forged := func(n, d int) abusewatch.Event { return forgedUDP(addr(n), onDay(d, 9*time.Hour)) }
	for _, tc := range []struct {
		name          string
		evs           func() []abusewatch.Event
		wantAdminOnly bool
		wantSources   []int
	}{
		{"rec24: ten days of a forged packet from another neighbour, one failed login", func() (out []abusewatch.Event) {
			for d := range 10 {
				out = append(out, forged(10+d, d))
			}
			return append(out, fail(50, 9))
		}, true, []int{50}},
		{"ten addresses' failed logins, a day each, ten forged neighbours beside", func() (out []abusewatch.Event) {
			for d := range 10 {
				out = append(out, forged(100+d, d), fail(10+d, d))
			}
			return out
		}, false, []int{10, 11, 12, 13, 14, 15, 16, 17, 18, 19}},
		{"ten addresses' failed logins, a day each, then forged neighbours and failed logins on three more days", func() (out []abusewatch.Event) {
			for d := range 13 {
				if d >= 10 {
					out = append(out, forged(100+d, d), fail(10+d-10, d))
				} else {
					out = append(out, fail(10+d, d))
				}
			}
			return out
		}, false, []int{10, 11, 12, 13, 14, 15, 16, 17, 18, 19}},
		{"nine addresses' failed logins on ten days: one short", func() (out []abusewatch.Event) {
			for d := range 10 {
				out = append(out, forged(100+d, d), fail(10+min(d, 8), d))
			}
			return out
		}, true, []int{10, 11, 12, 13, 14, 15, 16, 17, 18}},
		{"ten addresses' failed logins on nine days, forged packets the tenth: one short", func() (out []abusewatch.Event) {
			for d := range 10 {
				out = append(out, forged(100+d, d))
				if d < 9 {
					out = append(out, fail(10+d, d))
				}
			}
			return append(out, fail(19, 8))
		}, true, []int{10, 11, 12, 13, 14, 15, 16, 17, 18, 19}},
	} {
		for _, pass := range []bool{false, true} {
			name := tc.name + map[bool]string{false: ", live", true: ", a pass over history"}[pass]
			t.Run(name, func(t *testing.T) {
				h := newHarness(t, recurrenceOpts)
				evs := tc.evs()
				slices.SortStableFunc(evs, func(x, y abusewatch.Event) int { return x.Time.Compare(y.Time) })
				if pass {
					h.passOver(evs)
				} else {
					h.feedDays(evs)
				}
				inc, ok := h.stored("recur:6.6.6.0/24")
				if !ok {
					t.Fatal("no recurrence of 6.6.6.0/24")
				}
				if inc.AdminOnly != tc.wantAdminOnly {
					t.Errorf("AdminOnly = %v, want %v", inc.AdminOnly, tc.wantAdminOnly)
				}
				var want []netip.Addr
				for _, n := range tc.wantSources {
					want = append(want, netip.MustParseAddr(addr(n)))
				}
				if !slices.Equal(inc.Sources, want) {
					t.Errorf("sources %v, want %v", inc.Sources, want)
				}
				if !inc.AdminOnly {
					for _, e := range inc.Evidence {
						if !slices.Contains(want, e.Addr) {
							t.Errorf("evidence of %s, which it does not name: %s", e.Addr, e.Line)
						}
					}
					if !slices.Contains(want, inc.Addr) {
						t.Errorf("looked up through %s, which it does not name", inc.Addr)
					}
				}
			})
		}
	}
}

// twoAtATime hands a pass its events two at a time: a recurrence made early in the pass
// is held and grows batch after batch (growHeld), as over months of history.
type twoAtATime struct{ st *store.Store }

func (h twoAtATime) EachEvent(from, to time.Time, _ int, fn func([]abusewatch.Event) error) error {
	return h.st.EachEvent(from, to, 2, fn)
}

// passOver stores evs and runs a pass over history over them, as `correlate --since`.
func (h *harness) passOver(evs []abusewatch.Event) {
	h.t.Helper()
	if _, err := h.st.Commit(evs, nil); err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.c.Recorrelate(context.Background(), twoAtATime{h.st}, evs[0].Time.Add(-time.Hour), evs[len(evs)-1].Time.Add(time.Hour),
		func(incs []abusewatch.Incident) error { return h.st.PutIncidents(incs) }); err != nil {
		h.t.Fatal(err)
	}
}

// A follow-up is reported only when the days of reportable, unforgeable evidence
// within the rule's period reach the rule's days, those of the reported recurrence
// before it counting: the rule's own test, not one day of it (review 22 D4). The case:
// an address reported for ten days of failed logins, then forged packets every 25
// days (within the gap: one follow-up, for the admin, growing), and after seven months
// one failed login. Its day was enough: the follow-up was mailed as "on many different
// days" on one line. Ten days of failed logins in the period make it reportable again.
func TestAFollowUpNeedsTheRulesDaysOfUnforgeableEvidence(t *testing.T) {
	const a = "6.6.6.8"
	packets := func() (out []abusewatch.Event) {
		for d := 25; d <= 200; d += 25 {
			out = append(out, forgedUDP(a, onDay(d, 9*time.Hour)))
		}
		return out
	}
	fails := func(from, to int) (out []abusewatch.Event) {
		for d := from; d <= to; d++ {
			out = append(out, at(a, onDay(d, 10*time.Hour), uint16(41000+d)))
		}
		return out
	}
	for _, tc := range []struct {
		name          string
		after         []abusewatch.Event
		wantAdminOnly bool
	}{
		{"forged packets for months, then one failed login", append(packets(), fails(205, 205)...), true},
		{"forged packets for months, then failed logins on ten days", append(packets(), fails(205, 214)...), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, recurrenceOpts)
			h.feedDays(fails(0, 9))
			rec, ok := h.stored("recur:" + a + "/32")
			if !ok || rec.AdminOnly {
				t.Fatalf("10 days of failed logins: %+v, want a reportable recurrence", rec)
			}
			if _, err := h.st.AddReport(abusewatch.Report{ID: "r1", State: abusewatch.ReportSent, Incidents: []string{rec.ID}}); err != nil {
				t.Fatal(err)
			}
			h.feedDays(tc.after)
			incs, err := h.st.IncidentsOfKeys([]string{"recur:" + a + "/32"}, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			if len(incs) != 2 || incs[1].ID == rec.ID || !incs[1].First.Equal(onDay(25, 9*time.Hour)) {
				t.Fatalf("incidents %+v; want the reported one and its follow-up from day 25", incs)
			}
			if next := incs[1]; next.AdminOnly != tc.wantAdminOnly {
				t.Errorf("follow-up AdminOnly = %v, want %v (%d lines from %s to %s)", next.AdminOnly, tc.wantAdminOnly, next.Count, next.First, next.Last)
			}
		})
	}
}
