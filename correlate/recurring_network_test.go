package correlate

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
)

// A network recurs by its addresses that do not recur on their own: an address that
// recurs is its own recurrence, and its lines are not the network's too. The review's
// case (IPv6 fleet H7): one stable address of a /64 (and of a /24) once a day, and a
// new one of it once a day. All in one batch the new addresses' lines were in no
// incident; the stable address's lines first and the others' after, the /64's
// recurrence reported the stable address's lines a second time. Whatever the batching,
// both recurrences are made, and each line is in one of them.
func TestARecurringAddressIsNotItsNetworksRecurrenceToo(t *testing.T) {
	d0 := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	port := uint16(20000)
	fail := func(a netip.Addr, at time.Time) abusewatch.Event {
		port++
		return abusewatch.Event{Time: at, Class: abusewatch.ClassAuthFailure, Addr: a, Port: port,
			Service: "sshd", Host: "web1", Line: fmt.Sprintf("Failed password for root from %s port %d", a, port)}
	}
	const days = 12
	opts := Options{Threshold: 5, Window: 10 * time.Minute, Recurrence: RecurrenceRule{Days: 10}}
	type want struct {
		key         string
		first, last time.Time
		count       int
		sources     []netip.Addr // of a network's
	}
	for _, tc := range []struct {
		name           string
		stable, others func(d int) netip.Addr
		stableDays     int // the stable address's days (0..stableDays-1)
		want           []want
	}{{
		name:       "IPv6: one stable address and a new one of its /64 each day",
		stable:     func(int) netip.Addr { return netip.MustParseAddr("2a01:4f8:80:1::1") },
		others:     func(d int) netip.Addr { return netip.MustParseAddr(fmt.Sprintf("2a01:4f8:80:1::%x", d+2)) },
		stableDays: days,
	}, {
		name:       "IPv4: one stable address and a new one of its /24 each day",
		stable:     func(int) netip.Addr { return netip.MustParseAddr("5.9.8.1") },
		others:     func(d int) netip.Addr { return netip.AddrFrom4([4]byte{5, 9, 8, byte(d + 2)}) },
		stableDays: days,
	}, {
		// Below the count of days the address does not recur: its lines are the
		// network's, with the others'.
		name:       "an address on fewer days is the network's",
		stable:     func(int) netip.Addr { return netip.MustParseAddr("5.9.8.1") },
		others:     func(d int) netip.Addr { return netip.AddrFrom4([4]byte{5, 9, 8, byte(d + 2)}) },
		stableDays: 9,
	}} {
		var stable, others []abusewatch.Event
		var otherAddrs []netip.Addr
		for d := range days {
			if d < tc.stableDays {
				stable = append(stable, fail(tc.stable(d), d0.AddDate(0, 0, d)))
			}
			others = append(others, fail(tc.others(d), d0.AddDate(0, 0, d).Add(time.Minute)))
			otherAddrs = append(otherAddrs, tc.others(d))
		}
		slices.SortFunc(otherAddrs, netip.Addr.Compare)
		net := net24(tc.stable(0))
		var wants []want
		if tc.stableDays >= opts.Recurrence.Days {
			wants = []want{
				{"recur:" + net.String(), d0.Add(time.Minute), d0.AddDate(0, 0, days-1).Add(time.Minute), days, otherAddrs},
				{"recur:" + netip.PrefixFrom(tc.stable(0), tc.stable(0).BitLen()).String(), d0, d0.AddDate(0, 0, days-1), days, nil},
			}
		} else {
			all := append(slices.Clone(otherAddrs), tc.stable(0))
			slices.SortFunc(all, netip.Addr.Compare)
			wants = []want{{"recur:" + net.String(), d0, d0.AddDate(0, 0, days-1).Add(time.Minute), days + tc.stableDays, all}}
		}
		evs := slices.Concat(stable, others)
		slices.SortStableFunc(evs, func(a, b abusewatch.Event) int { return a.Time.Compare(b.Time) })
		// The others' lines judged first make the network's recurrence over all the
		// days: when the address does not recur on its own, its lines judged late come
		// within that incident's span, which takes in no late line of any rule.
		reversed := "live, the others' lines, then the address's by a new correlator"
		if tc.stableDays < opts.Recurrence.Days {
			reversed = ""
		}
		t.Run(tc.name, func(t *testing.T) {
			for _, way := range []struct {
				name string
				run  func() map[string]abusewatch.Incident
			}{
				{"live, one at a time", func() map[string]abusewatch.Incident { return appliedLive(t, opts, evs, 1) }},
				{"live, three at a time", func() map[string]abusewatch.Incident { return appliedLive(t, opts, evs, 3) }},
				{"live, all at once", func() map[string]abusewatch.Incident { return appliedLive(t, opts, evs, len(evs)) }},
				{"live, the address's lines, then the others' by a new correlator", func() map[string]abusewatch.Incident {
					return appliedInParts(t, opts, stable, others)
				}},
				{reversed, func() map[string]abusewatch.Incident { return appliedInParts(t, opts, others, stable) }},
				{"pass, three at a time", func() map[string]abusewatch.Incident { return appliedInAPass(t, opts, evs, 3) }},
				{"pass, all at once", func() map[string]abusewatch.Incident { return appliedInAPass(t, opts, evs, len(evs)) }},
			} {
				if way.name == "" {
					continue
				}
				got := incidentsInOrder(way.run())
				if len(got) != len(wants) {
					t.Errorf("%s: %v; want %d incidents", way.name, summaries(got), len(wants))
					continue
				}
				for i, w := range wants {
					g := got[i]
					if g.Key != w.key || !g.First.Equal(w.first) || !g.Last.Equal(w.last) || g.Count != w.count {
						t.Errorf("%s: %s; want %s from %s to %s, %d lines", way.name, summaries(got[i:i+1]), w.key, w.first, w.last, w.count)
					}
					if w.sources != nil && !slices.Equal(g.Sources, w.sources) {
						t.Errorf("%s: %s names %v; want %v", way.name, g.Key, g.Sources, w.sources)
					}
					if g.Network.IsSingleIP() {
						continue
					}
					for _, e := range g.Evidence {
						if !slices.Contains(w.sources, e.Addr.Unmap()) {
							t.Errorf("%s: %s shows a line of %s, which recurs on its own", way.name, g.Key, e.Addr)
						}
					}
				}
			}
		})
	}
}

// appliedInParts stores and judges each part in one batch, each by a correlator of its
// own (as two runs of scan do), and returns every incident made in its last form, by ID.
func appliedInParts(t *testing.T, opts Options, parts ...[]abusewatch.Event) map[string]abusewatch.Incident {
	t.Helper()
	st := tempStore(t)
	made := map[string]abusewatch.Incident{}
	for _, part := range parts {
		c, err := New(opts, st, st, st)
		if err != nil {
			t.Fatal(err)
		}
		liveBatch(t, c, st, part, made)
	}
	return made
}

// An address whose lines its network's recurrence took in, before it recurred on its
// own, and reported, begins its own recurrence after that one, as after a burst: the
// desk had those lines. The network's own follow-up is made of its other addresses
// alone (none here). Applied live (one at a time and all at once), with the first
// part reported, then twice over in passes, which leave it all as it was. One at a
// time, the address's first line after the report, on a day it did not recur yet,
// began the network's follow-up; once it recurs, that one counts none of its lines
// and is for the admin only: each line goes out once.
func TestAnAddressRecurringAfterItsNetworksReportBeginsAfterIt(t *testing.T) {
	d0 := time.Date(2026, 11, 1, 11, 0, 0, 0, time.UTC)
	at := func(d int) time.Time { return d0.AddDate(0, 0, d) }
	port := uint16(30000)
	fail := func(addr string, t time.Time) abusewatch.Event {
		port++
		return abusewatch.Event{Time: t, Class: abusewatch.ClassAuthFailure, Addr: netip.MustParseAddr(addr), Port: port,
			Service: "sshd", Host: "web1", Line: fmt.Sprintf("Failed password for root from %s port %d", addr, port)}
	}
	opts := Options{Threshold: 1000, Window: 10 * time.Minute, Recurrence: RecurrenceRule{Days: 3}}
	const a = "5.9.8.1"
	parts := [][]abusewatch.Event{
		{fail("5.9.8.10", at(0)), fail(a, at(1)), fail("5.9.8.11", at(1).Add(time.Minute)), fail("5.9.8.12", at(2))},
		{fail(a, at(3)), fail(a, at(4))},
	}
	type wanted struct {
		key         string
		first, last time.Time
		count       int
	}
	for _, batch := range []int{1, 1000} {
		want := []wanted{{"recur:5.9.8.0/24", at(0), at(2), 4}, {"recur:" + a + "/32", at(3), at(4), 2}}
		if batch == 1 {
			want = slices.Insert(want, 1, wanted{"recur:5.9.8.0/24", at(3), at(4), 0})
		}
		name := fmt.Sprintf("live, %d at a time", batch)
		st := tempStore(t)
		c, err := New(opts, st, st, st)
		if err != nil {
			t.Fatal(err)
		}
		reports := 0
		for i, part := range parts {
			for j := 0; j < len(part); j += batch {
				stored, err := st.Commit(part[j:min(j+batch, len(part))], nil)
				if err != nil {
					t.Fatal(err)
				}
				incs, err := c.Correlate(context.Background(), stored)
				if err != nil {
					t.Fatal(err)
				}
				if err := st.PutIncidents(incs); err != nil {
					t.Fatal(err)
				}
			}
			if i == 0 {
				reportAll(t, st, &reports)
			}
		}
		check := func(way string) {
			got := storedIncidents(t, st)
			checkIncidents(t, way, got, func(i int) (string, time.Time, time.Time, int, bool) {
				w := want[i]
				return w.key, w.first, w.last, w.count, true
			}, len(want))
			for _, inc := range got {
				if inc.Count == 0 && (!inc.AdminOnly || len(inc.Evidence) > 0) {
					t.Errorf("%s: %s counts no line, yet shows %d or is reported outside (admin only: %v)", way, inc.Key, len(inc.Evidence), inc.AdminOnly)
				}
			}
		}
		check(name)
		for pass := 1; pass <= 2; pass++ {
			recorrelated(t, opts, st, at(0).Add(-time.Hour), at(4).Add(time.Hour))
			check(fmt.Sprintf("%s, pass %d", name, pass))
		}
	}
}

// A day on which only a network's recurring address was active is not the network's,
// and one on which others were too is, however many batches of it a pass judges: the
// pass decides a day once, and the later batches of a day must hear what the first
// found. The address comes 3 times a day for 12 days; the others once a day, after
// it, on 9 days (one short of recurring) or on 10.
func TestADayIsTheNetworksOnceWhateverTheBatches(t *testing.T) {
	d0 := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	stable := netip.MustParseAddr("5.9.8.1")
	port := uint16(20000)
	fail := func(a netip.Addr, at time.Time) abusewatch.Event {
		port++
		return abusewatch.Event{Time: at, Class: abusewatch.ClassAuthFailure, Addr: a, Port: port,
			Service: "sshd", Host: "web1", Line: fmt.Sprintf("Failed password for root from %s port %d", a, port)}
	}
	opts := Options{Threshold: 5, Window: 10 * time.Minute, Recurrence: RecurrenceRule{Days: 10}}
	for _, othersDays := range []int{9, 10} {
		var evs []abusewatch.Event
		for d := range 12 {
			for i := range 3 {
				evs = append(evs, fail(stable, d0.AddDate(0, 0, d).Add(time.Duration(i)*time.Hour)))
			}
			if d < othersDays {
				evs = append(evs, fail(netip.AddrFrom4([4]byte{5, 9, 8, byte(d + 2)}), d0.AddDate(0, 0, d).Add(4*time.Hour)))
			}
		}
		want := "[recur:5.9.8.1/32 n=36]"
		if othersDays >= opts.Recurrence.Days {
			want = "[recur:5.9.8.0/24 n=10 recur:5.9.8.1/32 n=36]"
		}
		for name, run := range map[string]func() map[string]abusewatch.Incident{
			"live, one at a time": func() map[string]abusewatch.Incident { return appliedLive(t, opts, evs, 1) },
			"pass, one at a time": func() map[string]abusewatch.Incident { return appliedInAPass(t, opts, evs, 1) },
			"pass, all at once":   func() map[string]abusewatch.Incident { return appliedInAPass(t, opts, evs, len(evs)) },
		} {
			var got []string
			for _, inc := range incidentsInOrder(run()) {
				got = append(got, fmt.Sprintf("%s n=%d", inc.Key, inc.Count))
			}
			if g := fmt.Sprint(got); g != want {
				t.Errorf("others on %d days, %s: %s; want %s", othersDays, name, g, want)
			}
		}
	}
}
