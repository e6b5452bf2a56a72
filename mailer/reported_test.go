package mailer

import (
	"encoding/base64"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
)

// A recurrence counts every line of its address on its days, a burst reported on its
// own as well (R2: 16 lines claimed, 6 of them the burst's reported before). Its
// report leaves out the lines an earlier report holds: not shown, not counted, and
// "at least" where the incidents tell only bounds. An incident of the same mail is
// folded with it instead, each line counted once.
func TestARecurrenceLeavesOutTheLinesReportedBefore(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	const day = 24 * 60
	addr := "203.0.113.4"
	one := netip.MustParsePrefix(addr + "/32")
	// One failure a day on days 0..4 and 6..10, six in minutes on day 5 (the burst).
	type log struct {
		l                  *foldLog
		all, burst, before []abusewatch.Event
	}
	mk := func() log {
		g := log{l: &foldLog{t0: t0}}
		g.before = []abusewatch.Event{g.l.line(addr, -day, "web1"), g.l.line(addr, -day+1, "web1")}
		for d := range 11 {
			if d != 5 {
				g.all = append(g.all, g.l.line(addr, float64(d*day), "web1"))
				continue
			}
			for m := range 6 {
				e := g.l.line(addr, float64(d*day+m), "web1")
				g.all, g.burst = append(g.all, e), append(g.burst, e)
			}
		}
		return g
	}
	// The recurrence as correlate makes it: 16 lines from the counters, 11 connections
	// (the first day's and the batch's, one for each other day), the lines it read kept.
	recurrence := func(g log) abusewatch.Incident {
		rec := foldIncident("recur-4", "recurrence", one, g.all, 16)
		rec.Attempts = 11
		rec.Evidence = append([]abusewatch.Event{g.all[0]}, g.all[len(g.all)-5:]...)
		return rec
	}
	burstPorts := func(g log) []string {
		var out []string
		for _, e := range g.burst {
			out = append(out, fmt.Sprintf("port %d ssh2", e.Port))
		}
		return out
	}
	for _, tc := range []struct {
		name     string
		mail     func(g log) []abusewatch.Incident // the report's incidents
		reported func(g log) []abusewatch.Incident // those earlier reports hold
		memo     string
		xarf     string
		shown    int  // log lines shown
		noBurst  bool // none of the burst's lines is in the mail
	}{{
		name: "a burst reported before, within its span",
		mail: func(g log) []abusewatch.Incident { return []abusewatch.Incident{recurrence(g)} },
		reported: func(g log) []abusewatch.Incident {
			return []abusewatch.Incident{foldIncident("ip-4", "per-address", one, g.burst, 10)}
		},
		memo:  "Connections:     at least 6 (10 log lines)\n",
		xarf:  "at least 6 connections (10 log lines)",
		shown: 6, noBurst: true,
	}, {
		// Sent to another desk, or waiting: the lines are told all the same.
		name: "the burst within a network incident reported before",
		mail: func(g log) []abusewatch.Incident { return []abusewatch.Incident{recurrence(g)} },
		reported: func(g log) []abusewatch.Incident {
			evs := append([]abusewatch.Event{}, g.burst...)
			for i := range 4 {
				evs = append(evs, g.l.line(fmt.Sprintf("203.0.113.%d", 50+i), float64(5*day)+float64(i)+0.5, "web1"))
			}
			sortEvents(evs)
			n := foldIncident("net-4", "network", netip.MustParsePrefix("203.0.113.0/24"), evs, 10)
			n.Addr = netip.MustParseAddr(addr)
			return []abusewatch.Incident{n}
		},
		// Its 10 lines, 4 of other addresses: at most 6 of the recurrence's.
		memo:  "Connections:     at least 6 (at least 10 log lines)\n",
		xarf:  "at least 6 connections (at least 10 log lines)",
		shown: 6, noBurst: true,
	}, {
		// Its last line is the recurrence's first: that one line is told.
		name: "one reported before that ends where the recurrence begins",
		mail: func(g log) []abusewatch.Incident { return []abusewatch.Incident{recurrence(g)} },
		reported: func(g log) []abusewatch.Incident {
			return []abusewatch.Incident{foldIncident("ip-3", "per-address", one, append(g.before, g.all[0]), 10)}
		},
		memo:  "Connections:     at least 10 (at least 15 log lines)\n",
		xarf:  "at least 10 connections (at least 15 log lines)",
		shown: 5,
	}, {
		// An instant before it: none of its lines.
		name: "one reported before that ends before the recurrence begins",
		mail: func(g log) []abusewatch.Incident { return []abusewatch.Incident{recurrence(g)} },
		reported: func(g log) []abusewatch.Incident {
			return []abusewatch.Incident{foldIncident("ip-3", "per-address", one, g.before, 10)}
		},
		memo:  "Connections:     at least 11 (16 log lines)\n",
		xarf:  "at least 11 connections (16 log lines)",
		shown: 6,
	}, {
		// Both unreported: one source, its lines the recurrence's, each once.
		name: "the burst in the same mail",
		mail: func(g log) []abusewatch.Incident {
			return []abusewatch.Incident{recurrence(g), foldIncident("ip-4", "per-address", one, g.burst, 10)}
		},
		reported: func(g log) []abusewatch.Incident {
			return []abusewatch.Incident{foldIncident("ip-4", "per-address", one, g.burst, 10)}
		},
		memo:  "Connections:     at least 11 (16 log lines)\n",
		xarf:  "at least 11 connections (16 log lines)",
		shown: 12,
	}, {
		// The recurrence claims 3 connections and keeps 2 lines; the address's
		// follow-up of its last 5 days, which it holds, has 5 (b2's fifth report said
		// "at least 7" of 3,960 one-line connections).
		name: "a follow-up of the burst in the same mail",
		mail: func(g log) []abusewatch.Incident {
			rec := recurrence(g)
			rec.Attempts, rec.Evidence = 3, []abusewatch.Event{g.all[0], g.all[len(g.all)-1]}
			return []abusewatch.Incident{rec, foldIncident("ip-5", "per-address", one, g.all[len(g.all)-5:], 10)}
		},
		reported: func(g log) []abusewatch.Incident {
			return []abusewatch.Incident{foldIncident("ip-4", "per-address", one, g.burst, 10)}
		},
		memo:  "Connections:     at least 5 (10 log lines)\n",
		xarf:  "at least 5 connections (10 log lines)",
		shown: 6, noBurst: true,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			g := mk()
			r, err := xarfComposer(t).ComposeKnowing(testContact(), tc.mail(g), Known{Reported: tc.reported(g)}, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			_, _, bodies := parts(t, r.Message)
			memo := strings.ReplaceAll(string(bodies[0]), "\r\n", "\n")
			mustContain(t, memo, tc.memo)
			if n := strings.Count(memo, "Failed password"); n != tc.shown {
				t.Errorf("%d log lines shown, want %d:\n%s", n, tc.shown, memo)
			}
			if len(bodies) != 2 {
				t.Fatalf("%d X-ARF parts, want 1", len(bodies)-1)
			}
			doc := xarfPart(t, bodies[1])
			if d, _ := doc["description"].(string); !strings.HasPrefix(d, tc.xarf+" ") {
				t.Errorf("X-ARF description %q, want it to begin %q", d, tc.xarf)
			}
			payload, _ := base64.StdEncoding.DecodeString(doc["evidence"].([]any)[0].(map[string]any)["payload"].(string))
			for _, p := range burstPorts(g) {
				if tc.noBurst && (strings.Contains(memo, p) || strings.Contains(string(payload), p)) {
					t.Errorf("the mail shows the burst's line with %q, reported before", p)
				}
			}
		})
	}
}

// A recurrence claims only the connections it saw, at least one a day (R7: 118 for
// 3,330 one-line connections, stated as exact): the memo, the list of other sources
// and the X-ARF part say "at least", unless it has no more lines than connections.
func TestARecurrenceSaysAtLeastForItsConnections(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name      string
		network   bool
		attempts  int // of 12 lines, 6 kept
		memo      string
		xarfStart string
	}{
		{"fewer connections than lines", false, 11, "Connections:     at least 11 (12 log lines)\n", "at least 11 connections (12 log lines)"},
		{"as many connections as lines", false, 12, "Connections:     12 (12 log lines)\n", "12 connections (12 log lines)"},
		{"a /24, fewer connections than lines", true, 11, "Connections:     at least 11 (12 log lines)\n", "at least 11 connections (12 log lines)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := &foldLog{t0: t0}
			var evs []abusewatch.Event
			for d := range 12 {
				a := "203.0.113.4"
				if tc.network {
					a = fmt.Sprintf("203.0.113.%d", 4+d%2)
				}
				evs = append(evs, l.line(a, float64(d*24*60), "web1"))
			}
			network := netip.MustParsePrefix("203.0.113.4/32")
			if tc.network {
				network = netip.MustParsePrefix("203.0.113.0/24")
			}
			rec := foldIncident("recur", "recurrence", network, evs, 6)
			rec.Attempts = tc.attempts
			r, err := xarfComposer(t).Compose(testContact(), []abusewatch.Incident{rec}, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			_, _, bodies := parts(t, r.Message)
			mustContain(t, strings.ReplaceAll(string(bodies[0]), "\r\n", "\n"), tc.memo)
			d, _ := xarfPart(t, bodies[1])["description"].(string)
			if tc.network {
				// Each address's part gives its own counts, here those of its lines the
				// report kept, a lower bound, never the network's (review desk48 L2).
				if want := "at least 3 connections (at least 3 log lines) with failed logins from 203.0.113.4 "; !strings.HasPrefix(d, want) || strings.Contains(d, tc.xarfStart) {
					t.Errorf("X-ARF description %q, want it to begin %q", d, want)
				}
			} else if !strings.HasPrefix(d, tc.xarfStart+" ") {
				t.Errorf("X-ARF description %q, want it to begin %q", d, tc.xarfStart)
			}
		})
	}
}

// A network incident counts every line of its /24 in its window, those of an
// address's incident reported before it formed as well: its report leaves them out,
// counts exact where the incident left out is held whole. One of its own key that it
// follows (the same second may end one and begin the next) is not another's.
func TestANetworkIncidentLeavesOutTheLinesReportedBefore(t *testing.T) {
	t0 := time.Date(2026, 11, 20, 2, 0, 0, 0, time.UTC)
	n24 := netip.MustParsePrefix("203.0.113.0/24")
	for _, tc := range []struct {
		name     string
		reported func(l *foldLog, burst []abusewatch.Event) abusewatch.Incident
		memo     string
		shown    int
	}{{
		name: "an address's burst within its times",
		reported: func(l *foldLog, burst []abusewatch.Event) abusewatch.Incident {
			return foldIncident("ip-1", "per-address", netip.MustParsePrefix("203.0.113.1/32"), burst, 10)
		},
		memo: "Connections:     20 (20 log lines)\n", shown: 12,
	}, {
		name: "the incident of its key it follows, ending in its first second",
		reported: func(l *foldLog, burst []abusewatch.Event) abusewatch.Incident {
			prev := foldIncident("net-0", "network", n24, []abusewatch.Event{l.line("203.0.113.99", -30, "web1"), l.line("203.0.113.98", 0, "web1")}, 10)
			prev.Key = "net:203.0.113.0/24"
			return prev
		},
		memo: "Connections:     26 (26 log lines)\n", shown: 12,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			l := &foldLog{t0: t0}
			var burst, all []abusewatch.Event
			for i := range 6 {
				burst = append(burst, l.line("203.0.113.1", float64(i), "web1"))
			}
			all = append(all, burst...)
			for k := 2; k < 12; k++ {
				for i := range 2 {
					all = append(all, l.line(fmt.Sprintf("203.0.113.%d", k), float64(10+k+3*i), "web1"))
				}
			}
			sortEvents(all)
			n := foldIncident("net-1", "network", n24, all, 26)
			n.Key = "net:203.0.113.0/24"
			told := tc.reported(l, burst)
			r, err := xarfComposer(t).ComposeKnowing(testContact(), []abusewatch.Incident{n}, Known{Reported: []abusewatch.Incident{told}}, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			_, _, bodies := parts(t, r.Message)
			memo := strings.ReplaceAll(string(bodies[0]), "\r\n", "\n")
			mustContain(t, memo, tc.memo)
			if n := strings.Count(memo, "Failed password"); n != tc.shown {
				t.Errorf("%d log lines shown, want %d:\n%s", n, tc.shown, memo)
			}
			for _, b := range bodies[1:] {
				if doc := xarfPart(t, b); doc["source_identifier"] == "203.0.113.1" && tc.name == "an address's burst within its times" {
					t.Errorf("an X-ARF part for 203.0.113.1, whose lines were reported before")
				}
			}
		})
	}
}

// An address folded into a network incident of the report gets the lines of it the
// network kept; when lines an earlier report holds were left out of the network and
// its count became a lower bound, its kept lines no longer tell that none it did not
// keep is the address's: the address's counts say "at least".
func TestAFoldedAddressOfANetworkLessWhatWasReported(t *testing.T) {
	for _, tc := range []struct {
		name     string
		netCount int  // of its 8 lines kept
		wide     bool // the earlier report is of a /16, its share of the /24's lines a bound
		want     string
	}{
		{"an address's incident reported, every line kept", 8, false, "5 connections (5 log lines)"},
		{"an address's incident reported, a line not kept", 9, false, "at least 5 connections (at least 5 log lines)"},
		{"a /16's incident reported, every line kept", 8, true, "5 connections (5 log lines)"},
		{"a /16's incident reported, a line not kept", 9, true, "at least 5 connections (at least 5 log lines)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := &foldLog{t0: time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)}
			var netEvs []abusewatch.Event
			for _, m := range []float64{0, 10, 15, 20, 30} {
				netEvs = append(netEvs, l.line("203.0.113.7", m, "web1"))
			}
			told := []abusewatch.Event{l.line("203.0.113.20", 1, "web1"), l.line("203.0.113.20", 2, "web1")}
			netEvs = append(netEvs, told...)
			netEvs = append(netEvs, l.line("203.0.113.21", 3, "web1"))
			sortEvents(netEvs)
			n := foldIncident("net-7", "network", netip.MustParsePrefix("203.0.113.0/24"), netEvs, 8)
			n.Count, n.Attempts = tc.netCount, tc.netCount
			ip := foldIncident("ip-7", "per-address", netip.MustParsePrefix("203.0.113.7/32"), l.ev[1:4], 10)
			reported := foldIncident("ip-20", "per-address", netip.MustParsePrefix("203.0.113.20/32"), told, 10)
			if tc.wide {
				evs := append(slices.Clone(told), l.line("203.0.114.5", 2.5, "web1"))
				reported = foldIncident("net16", "network", netip.MustParsePrefix("203.0.0.0/16"), evs, 10)
				reported.Count = 4
			}
			r, err := xarfComposer(t).ComposeKnowing(testContact(), []abusewatch.Incident{n, ip}, Known{Reported: []abusewatch.Incident{reported}}, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if d := xarfDescription(t, r.Message, "203.0.113.7"); !strings.HasPrefix(d, tc.want+" ") {
				t.Errorf("203.0.113.7: %q, want it to begin %q", d, tc.want)
			}
		})
	}
}

// Review 27 F2: an address of a /64 reported on its own, then the /64's incident of it
// and one line of a neighbour. The follow-up leaves out the reported address's lines,
// and so its times and its name: "First seen" is the neighbour's line, and the
// addresses seen are the neighbour alone. With a line of the network not kept, what it
// holds besides is not known, and the incident's own times and addresses stay.
func TestANetworkFollowUpBeginsWithItsFirstLineNotReportedBefore(t *testing.T) {
	n64 := netip.MustParsePrefix("2001:db8:7:1::/64")
	for _, tc := range []struct {
		name    string
		count   int // of its 6 lines, all kept
		first   string
		sources string
	}{
		{"every line kept", 6, "First seen:      2026-11-20 03:20:00 -0500", "Addresses seen:  1\n                 2001:db8:7:1::b\n"},
		{"a line not kept", 7, "First seen:      2026-11-20 03:00:00 -0500", "Addresses seen:  2\n                 2001:db8:7:1::a, 2001:db8:7:1::b\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := &foldLog{t0: time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)}
			var told []abusewatch.Event
			for i := range 5 {
				told = append(told, l.line("2001:db8:7:1::a", float64(i), "web1"))
			}
			all := append(slices.Clone(told), l.line("2001:db8:7:1::b", 20, "web1"))
			n := foldIncident("net-64", "network", n64, all, 10)
			n.Key, n.Count, n.Attempts = "net:"+n64.String(), tc.count, tc.count
			reported := foldIncident("ip-a", "per-address", netip.MustParsePrefix("2001:db8:7:1::a/128"), told, 10)
			r, err := xarfComposer(t).ComposeKnowing(testContact(), []abusewatch.Incident{n}, Known{Reported: []abusewatch.Incident{reported}}, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			_, _, bodies := parts(t, r.Message)
			memo := strings.ReplaceAll(string(bodies[0]), "\r\n", "\n")
			mustContain(t, memo, tc.first)
			mustContain(t, memo, tc.sources)
		})
	}
}
