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

// foldLog is a log of failed logins, one connection a line, as the store numbers them.
type foldLog struct {
	t0 time.Time
	ev []abusewatch.Event
}

// line adds a failed login from addr at minute min on host, and returns it.
func (l *foldLog) line(addr string, min float64, host string) abusewatch.Event {
	n := len(l.ev) + 1
	e := abusewatch.Event{Seq: uint64(1000 + n), Time: l.t0.Add(time.Duration(min * float64(time.Minute))), Addr: netip.MustParseAddr(addr),
		Class: abusewatch.ClassAuthFailure, Port: uint16(40000 + n), Host: host, Service: "sshd"}
	e.Line = fmt.Sprintf("%s sshd[%d]: Failed password for root from %s port %d ssh2", host, n, addr, e.Port)
	l.ev = append(l.ev, e)
	return e
}

// incident is one made of evs (every line), keeping at most keep of them as evidence
// the way correlate does (the first, the last): Count and Attempts count them all.
func foldIncident(id, rule string, network netip.Prefix, evs []abusewatch.Event, keep int) abusewatch.Incident {
	inc := abusewatch.Incident{ID: id, Rule: rule, Addr: evs[0].Addr, Network: network, Classes: []abusewatch.Class{abusewatch.ClassAuthFailure},
		First: evs[0].Time, Last: evs[len(evs)-1].Time, Count: len(evs), Attempts: len(evs), Severity: 1}
	for _, e := range evs {
		if !slices.Contains(inc.Hosts, e.Host) {
			inc.Hosts = append(inc.Hosts, e.Host)
		}
		if network.IsSingleIP() {
			continue
		}
		if a := e.Addr.Unmap(); !slices.Contains(inc.Sources, a) {
			inc.Sources = append(inc.Sources, a)
		}
	}
	if len(evs) <= keep {
		inc.Evidence = evs
	} else {
		inc.Evidence = append(append([]abusewatch.Event{}, evs[:keep/2]...), evs[len(evs)-(keep-keep/2):]...)
	}
	return inc
}

// A report counts each line once: incidents about the same address are one source
// whose counts are the union of their lines (told apart by the store's Seq), with
// times spanning them all, and an address whose incident meets a network incident's
// times is one of the network's. Where the lines kept cannot tell how many two
// incidents share, the memo says "at least" and gives a count never above the truth.
func TestAReportCountsEachLineOnce(t *testing.T) {
	t0 := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	at := func(min float64) string {
		return t0.Add(time.Duration(min * float64(time.Minute))).In(est).Format(timeLayout)
	}
	one := func(a string) netip.Prefix { return netip.PrefixFrom(netip.MustParseAddr(a), 32) }

	for _, tc := range []struct {
		name      string
		incidents func(l *foldLog) []abusewatch.Incident
		subject   string   // the subject's "from …"
		memo      []string // in the memo
		xarf      map[string][3]string
	}{{
		// F5: a sweep over four hosts and the per-address incident of the same 8 lines.
		name: "sweep and per-address over the same lines",
		incidents: func(l *foldLog) []abusewatch.Incident {
			var evs []abusewatch.Event
			for i := range 8 {
				evs = append(evs, l.line("203.0.113.30", float64(i)/2, fmt.Sprintf("web%d", i%4+1)))
			}
			sweep := foldIncident("sweep-30", "sweep", one("203.0.113.30"), evs, 10)
			per := foldIncident("ip-30", "per-address", one("203.0.113.30"), evs, 10)
			return []abusewatch.Incident{sweep, per}
		},
		subject: "from 203.0.113.30",
		memo: []string{"Source address:  203.0.113.30\nFirst seen:      " + at(0) + "\nLast seen:       " + at(3.5) + "\nConnections:     8 (8 log lines)\n",
			"Our logs show repeated failed SSH login attempts on several of our hosts in turn (a sweep) coming from your network."},
		xarf: map[string][3]string{"203.0.113.30": {at(0), at(3.5), "8 connections (8 log lines)"}},
	}, {
		// The same, with more lines than the incidents keep: the per-address incident
		// holds the sweep (its classes, within its times).
		name: "a per-address incident holds the sweep of its address",
		incidents: func(l *foldLog) []abusewatch.Incident {
			var evs []abusewatch.Event
			for i := range 40 {
				evs = append(evs, l.line("203.0.113.31", float64(i)/2, fmt.Sprintf("web%d", i%4+1)))
			}
			return []abusewatch.Incident{foldIncident("ip-31", "per-address", one("203.0.113.31"), evs, 10),
				foldIncident("sweep-31", "sweep", one("203.0.113.31"), evs[4:30], 10)}
		},
		subject: "from 203.0.113.31",
		memo:    []string{"Connections:     40 (40 log lines)\n", "(28 more lines not shown; 40 in total)"},
		xarf:    map[string][3]string{"203.0.113.31": {at(0), at(19.5), "40 connections (40 log lines)"}},
	}, {
		// Two incidents of one address that share some lines, all of them kept: the
		// union is known exactly.
		name: "one address, lines partly shared, all kept",
		incidents: func(l *foldLog) []abusewatch.Incident {
			var evs []abusewatch.Event
			for i := range 9 {
				evs = append(evs, l.line("203.0.113.32", float64(i), "web1"))
			}
			return []abusewatch.Incident{foldIncident("sweep-32a", "sweep", one("203.0.113.32"), evs[:6], 10),
				foldIncident("sweep-32b", "sweep", one("203.0.113.32"), evs[3:], 10)}
		},
		subject: "from 203.0.113.32",
		memo:    []string{"First seen:      " + at(0) + "\nLast seen:       " + at(8) + "\nConnections:     9 (9 log lines)\n"},
		xarf:    map[string][3]string{"203.0.113.32": {at(0), at(8), "9 connections (9 log lines)"}},
	}, {
		// Two incidents of one address hours apart: one source, their times spanning both.
		name: "one address, apart in time",
		incidents: func(l *foldLog) []abusewatch.Incident {
			var a, b []abusewatch.Event
			for i := range 20 {
				a = append(a, l.line("203.0.113.33", float64(i)/4, "web1"))
			}
			for i := range 20 {
				b = append(b, l.line("203.0.113.33", 180+float64(i)/4, "web1"))
			}
			return []abusewatch.Incident{foldIncident("ip-33a", "per-address", one("203.0.113.33"), a, 10),
				foldIncident("ip-33b", "per-address", one("203.0.113.33"), b, 10)}
		},
		subject: "from 203.0.113.33",
		memo:    []string{"First seen:      " + at(0) + "\nLast seen:       " + at(184.75) + "\nConnections:     40 (40 log lines)\n"},
		xarf:    map[string][3]string{"203.0.113.33": {at(0), at(184.75), "40 connections (40 log lines)"}},
	}, {
		// F6: 203.0.113.1 makes 6 failures, then one every 9 minutes (16 in all); ten more
		// addresses one each from minute 60: the network incident begins at minute 23
		// with .1's line then. 26 lines in all, never 35: here the lines kept show
		// each of .1's lines the network holds.
		name:      "a per-address incident that begins before its network's",
		incidents: func(l *foldLog) []abusewatch.Incident { return beforeItsNetwork(l, 10) },
		subject:   "from 203.0.113.0/24",
		memo: []string{"Source network:  203.0.113.0/24\nAddresses seen:  11\n", "First seen:      " + at(0) + "\nLast seen:       " + at(95) + "\n" +
			"Connections:     26 (26 log lines)\n"},
		xarf: map[string][3]string{"203.0.113.1": {at(0), at(95), "16 connections (16 log lines)"}},
	}, {
		// The same with 4 lines kept an incident: how many of .1's lines the network
		// holds is known only within bounds. At most 9 (19 lines, 10 of other addresses):
		// at least 26.
		name:      "a per-address incident that begins before its network's, few lines kept",
		incidents: func(l *foldLog) []abusewatch.Incident { return beforeItsNetwork(l, 4) },
		subject:   "from 203.0.113.0/24",
		memo: []string{"First seen:      " + at(0) + "\nLast seen:       " + at(95) + "\n" +
			"Connections:     at least 26 (at least 26 log lines)\n", "(at least 20 more lines not shown; at least 26 in total)"},
		xarf: map[string][3]string{"203.0.113.1": {at(0), at(95), "16 connections (16 log lines)"}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			l := &foldLog{t0: t0}
			incs := tc.incidents(l)
			r, err := xarfComposer(t).Compose(testContact(), incs, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Incidents) != len(incs) {
				t.Errorf("the report names %v; want every incident, so none is reported again", r.Incidents)
			}
			if !strings.HasSuffix(r.Subject, tc.subject) {
				t.Errorf("Subject = %q, want it to end %q (one source)", r.Subject, tc.subject)
			}
			_, _, bodies := parts(t, r.Message)
			memo := strings.ReplaceAll(string(bodies[0]), "\r\n", "\n")
			mustContain(t, memo, tc.memo...)
			if n := strings.Count(memo, "Source address:") + strings.Count(memo, "Source network:"); n != 1 {
				t.Errorf("%d sources in the memo, want 1:\n%s", n, memo)
			}
			seen := map[string]bool{}
			for _, b := range bodies[1:] {
				doc := xarfPart(t, b)
				a := doc["source_identifier"].(string)
				if seen[a] {
					t.Errorf("two X-ARF parts for %s", a)
				}
				seen[a] = true
				want, ok := tc.xarf[a]
				if !ok {
					continue
				}
				rfc := func(s string) string { tm, _ := time.Parse(timeLayout, s); return tm.Format(time.RFC3339) }
				if doc["first_seen"] != rfc(want[0]) || doc["last_seen"] != rfc(want[1]) || !strings.HasPrefix(doc["description"].(string), want[2]) {
					t.Errorf("%s: %v to %v, %q; want %s to %s, %q", a, doc["first_seen"], doc["last_seen"], doc["description"], rfc(want[0]), rfc(want[1]), want[2])
				}
			}
			for a := range tc.xarf {
				if !seen[a] {
					t.Errorf("no X-ARF part for %s", a)
				}
			}
		})
	}
}

// beforeItsNetwork are the incidents of F6, each keeping keep lines.
func beforeItsNetwork(l *foldLog, keep int) []abusewatch.Incident {
	var own, network []abusewatch.Event
	for i := range 6 {
		own = append(own, l.line("203.0.113.1", float64(i), "web1"))
	}
	for m := 14.0; m <= 95; m += 9 {
		e := l.line("203.0.113.1", m, "web1")
		own = append(own, e)
		if m >= 23 {
			network = append(network, e)
		}
	}
	for a := range 10 {
		network = append(network, l.line(fmt.Sprintf("203.0.113.%d", 100+a), 60+2*float64(a), "web1"))
	}
	sortEvents(network)
	per := foldIncident("ip-1", "per-address", netip.MustParsePrefix("203.0.113.1/32"), own, keep)
	n := foldIncident("net-1", "network", netip.MustParsePrefix("203.0.113.0/24"), network, keep)
	n.Addr = netip.MustParseAddr("203.0.113.1")
	return []abusewatch.Incident{per, n}
}

func sortEvents(evs []abusewatch.Event) {
	slices.SortStableFunc(evs, func(a, b abusewatch.Event) int { return a.Time.Compare(b.Time) })
}

// The memo says what the rule found, not only the class of the lines: a port scan
// (whose lines are packets the firewall blocked, class port-probe) is called one and
// gets an X-ARF port_scan part; a sweep and a recurrence say so.
func TestMemoSaysWhatTheRuleFound(t *testing.T) {
	for _, tc := range []struct {
		rule, class, subject, reason, xarf string
	}{
		{"port-scan", "port-probe", "Abuse report: port scan from 203.0.113.7", "a port scan of our hosts", "port_scan"},
		{"per-address", "port-probe", "Abuse report: suspicious activity from 203.0.113.7", "connection attempts that our firewall blocked", "port_scan"},
		{"sweep", "auth-failure", "Abuse report: repeated SSH login attempts from 203.0.113.7",
			"repeated failed SSH login attempts on several of our hosts in turn (a sweep)", "login_attack"},
		{"recurrence", "auth-failure", "Abuse report: repeated SSH login attempts from 203.0.113.7",
			"repeated failed SSH login attempts on 12 different days", "login_attack"},
		{"per-address", "auth-failure", "Abuse report: repeated SSH login attempts from 203.0.113.7", "repeated failed SSH login attempts", "login_attack"},
	} {
		t.Run(tc.rule+"/"+tc.class, func(t *testing.T) {
			inc := testIncident()
			inc.Rule, inc.Classes = tc.rule, []abusewatch.Class{abusewatch.Class(tc.class)}
			inc.Evidence = []abusewatch.Event{{Time: inc.First, Addr: inc.Addr, Class: abusewatch.Class(tc.class), Port: 4444, LocalPort: 3000, Host: "web1", Service: "kernel",
				Line: "kernel: [UFW BLOCK] IN=eth0 SRC=203.0.113.7 DST=10.0.0.1 PROTO=TCP SPT=4444 DPT=3000 ACK URGP=0"}}
			if tc.class == "auth-failure" {
				inc.Evidence[0].Service, inc.Evidence[0].Line = "sshd", "sshd[4]: Failed password for root from 203.0.113.7 port 4444 ssh2"
			}
			// The outbox knows on how many days a recurrence's lines were seen.
			known := Known{Recurrences: map[string]Recurrence{inc.ID: {First: inc.First, Lines: inc.Count, Classes: inc.Classes,
				Days: map[abusewatch.Class]int{abusewatch.Class(tc.class): 12}}}}
			r, err := xarfComposer(t).ComposeKnowing(testContact(), []abusewatch.Incident{inc}, known, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if r.Subject != tc.subject {
				t.Errorf("Subject = %q, want %q", r.Subject, tc.subject)
			}
			_, ps, bodies := parts(t, r.Message)
			memo := strings.ReplaceAll(string(bodies[0]), "\r\n", "\n")
			mustContain(t, memo, "Our logs show "+tc.reason+" coming from your network.")
			if n := strings.Count(memo, "Our logs show"); n != 1 {
				t.Errorf("%d reasons, want 1:\n%s", n, memo)
			}
			if len(ps) != 2 {
				t.Fatalf("%d parts, want the memo and an X-ARF part", len(ps))
			}
			if doc := xarfPart(t, bodies[1]); doc["type"] != tc.xarf {
				t.Errorf("X-ARF type %v, want %s", doc["type"], tc.xarf)
			}
		})
	}
}

// A network's memo entry says how many addresses it came from, truly: where its list
// may leave some out (a recurrence that the outbox does not know to name every address
// of its lines; a list stops at abusewatch.MaxSources) it says "N or more" and how many
// it lists. Each
// address with a line gets an X-ARF part with that line's times; one with no line kept
// has no source port to give, which the X-ARF schemas require: it gets none.
func TestNetworkSourcesAreCountedTruly(t *testing.T) {
	many := make([]netip.Addr, 0, abusewatch.MaxSources)
	for i := range abusewatch.MaxSources {
		many = append(many, netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}))
	}
	for _, tc := range []struct {
		name    string
		rule    string
		sources []netip.Addr
		all     bool // Known.AllSources names it
		want    string
	}{
		{"network", "network", many[10:18], false, "Addresses seen:  8\n"},
		{"recurrence", "recurrence", many[10:18], false, "Addresses seen:  8 or more; these 8 are listed\n"},
		{"recurrence naming every address", "recurrence", many[10:18], true, "Addresses seen:  8\n"},
		{"recurrence naming 255 addresses, every one", "recurrence", many[:abusewatch.MaxSources-1], true, "Addresses seen:  255\n"},
		{"recurrence naming 256 addresses", "recurrence", many, true, "Addresses seen:  256 or more; these 256 are listed\n"},
		{"every address of a /24", "network", many, false, "Addresses seen:  256 or more; these 256 are listed\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := &foldLog{t0: time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)}
			var evs []abusewatch.Event
			for i, a := range tc.sources[:4] {
				evs = append(evs, l.line(a.String(), float64(i), "web1"))
			}
			inc := foldIncident("net-1", tc.rule, netip.MustParsePrefix("203.0.113.0/24"), evs, 10)
			inc.Sources, inc.Count, inc.Attempts = tc.sources, 40, 40
			r, err := xarfComposer(t).ComposeKnowing(testContact(), []abusewatch.Incident{inc}, Known{AllSources: map[string]bool{"net-1": tc.all}}, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			_, _, bodies := parts(t, r.Message)
			mustContain(t, strings.ReplaceAll(string(bodies[0]), "\r\n", "\n"), tc.want)
			if len(bodies)-1 != 4 {
				t.Errorf("%d X-ARF parts, want one for each of the 4 addresses with a line", len(bodies)-1)
			}
			for i, b := range bodies[1:] {
				doc := xarfPart(t, b)
				log, _ := base64.StdEncoding.DecodeString(doc["evidence"].([]any)[0].(map[string]any)["payload"].(string))
				if doc["source_identifier"] != tc.sources[i].String() || !strings.Contains(string(log), "from "+tc.sources[i].String()+" port") ||
					doc["first_seen"] != evs[i].Time.In(est).Format(time.RFC3339) {
					t.Errorf("X-ARF part %d: %v at %v, lines\n%s", i+1, doc["source_identifier"], doc["first_seen"], log)
				}
			}
		})
	}
}

// A port scan folded with the per-address incident of the same packets is a port scan:
// the subject and the memo's one reason say so (R8: "suspicious activity", and the
// blocked packets given as a second reason). An incident of the address with lines of
// another kind is not the port scan's: the subject says less.
func TestAPortScanWithItsOwnAddressIncidentIsNamedAPortScan(t *testing.T) {
	for _, tc := range []struct {
		name    string
		classes []abusewatch.Class // of the per-address incident
		subject string
		reasons []string
	}{
		{"the same packets", []abusewatch.Class{"port-probe"}, "Abuse report: port scan from 203.0.113.50",
			[]string{"a port scan of our hosts"}},
		{"packets and failed logins", []abusewatch.Class{abusewatch.ClassAuthFailure, "port-probe"}, "Abuse report: suspicious activity from 203.0.113.50",
			[]string{"a port scan of our hosts", "repeated failed login attempts"}}, // of lines that name no login server
	} {
		t.Run(tc.name, func(t *testing.T) {
			t0 := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
			var evs []abusewatch.Event
			for i := range 25 {
				e := abusewatch.Event{Seq: uint64(100 + i), Time: t0.Add(time.Duration(i) * 5 * time.Second), Addr: netip.MustParseAddr("203.0.113.50"),
					Class: "port-probe", Port: 4444, LocalPort: uint16(1000 + i), Host: "web1", Service: "kernel"}
				e.Line = fmt.Sprintf("kernel: [UFW BLOCK] IN=eth0 SRC=203.0.113.50 DST=10.0.0.1 PROTO=TCP SPT=4444 DPT=%d ACK URGP=0", e.LocalPort)
				evs = append(evs, e)
			}
			one := netip.MustParsePrefix("203.0.113.50/32")
			scan := foldIncident("scan-50", "port-scan", one, evs, 10)
			per := foldIncident("ip-50", "per-address", one, evs, 10)
			scan.Classes, per.Classes = []abusewatch.Class{"port-probe"}, tc.classes
			r, err := xarfComposer(t).Compose(testContact(), []abusewatch.Incident{scan, per}, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if r.Subject != tc.subject {
				t.Errorf("Subject = %q, want %q", r.Subject, tc.subject)
			}
			_, _, bodies := parts(t, r.Message)
			memo := strings.ReplaceAll(string(bodies[0]), "\r\n", "\n")
			for _, reason := range tc.reasons {
				mustContain(t, memo, "Our logs show "+reason+" coming from your network.")
			}
			if n := strings.Count(memo, "Our logs show"); n != len(tc.reasons) {
				t.Errorf("%d reasons, want %d:\n%s", n, len(tc.reasons), memo)
			}
		})
	}
}
