package daemon

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/lookup/lookuptest"
	"github.com/abusewatch/abusewatch/mailer/mailtest"
)

// xarfPart is what a test reads of an X-ARF part.
type xarfPart struct {
	Source    string `json:"source_identifier"`
	Timestamp string `json:"timestamp"`
	Port      int    `json:"source_port"`
	Evidence  []struct {
		Payload []byte `json:"payload"`
	} `json:"evidence"`
	FirstSeen   string `json:"first_seen"`
	LastSeen    string `json:"last_seen"`
	Description string `json:"description"`
}

// xarfParts are the X-ARF parts of the reports in c's maildir, by address.
func (c *rv21Case) xarfParts(t *testing.T) map[string]xarfPart {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(c.dir, "maildir", "new", "*"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]xarfPart{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		_, parts, err := mailtest.Parts(b)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range parts {
			var x xarfPart
			if json.Unmarshal(p.Body, &x) == nil && x.Source != "" {
				out[x.Source] = x
			}
		}
	}
	return out
}

// The X-ARF part of each address of a network incident gives the address's first and
// last line within the incident, from the lines the store holds, not those of its lines
// the incident sampled as evidence (10 of 18). Before, 62.239.237.201, which sent three
// lines 08:03:00-08:03:04, was "first_seen 08:03:02, last_seen 08:03:02", its one
// sampled line (review 21 D7, case N2): the times by which a desk looks up who held the
// address.
func TestTheXARFTimesOfANetworksAddressAreTheAddresss(t *testing.T) {
	r := lookuptest.NewRDAP(t)
	answer(r, "62.239.237.0/24", "CUSTOMER-NET", "GB", "abuse@customer.example")
	c := newRV21Case(t, r, "", "", "")
	c.scan(t, "08:00 62.239.237.20 3", "08:01 62.239.237.30 3", "08:02 62.239.237.40 3",
		"08:03 62.239.237.201 3", "08:04 62.239.237.202 3", "08:05 62.239.237.203 3")
	if mails := c.mails(t); len(mails) != 1 || !strings.Contains(mails[0], "Source network:  62.239.237.0/24") {
		t.Fatalf("%d reports mailed; want one about 62.239.237.0/24:\n%s", len(mails), strings.Join(mails, "\n----\n"))
	}
	parts := c.xarfParts(t)
	for _, addr := range []string{"62.239.237.20", "62.239.237.30", "62.239.237.40", "62.239.237.201", "62.239.237.202", "62.239.237.203"} {
		x, ok := parts[addr]
		if !ok {
			t.Errorf("no X-ARF part for %s", addr)
			continue
		}
		first := map[string]string{"62.239.237.20": "08:00", "62.239.237.30": "08:01", "62.239.237.40": "08:02",
			"62.239.237.201": "08:03", "62.239.237.202": "08:04", "62.239.237.203": "08:05"}[addr]
		wantFirst, wantLast := "2026-12-07T"+first+":00Z", "2026-12-07T"+first+":04Z"
		if x.FirstSeen != wantFirst || x.LastSeen != wantLast {
			t.Errorf("X-ARF of %s: first_seen %s, last_seen %s; want %s, %s", addr, x.FirstSeen, x.LastSeen, wantFirst, wantLast)
		}
		if want := "the lines of " + addr + " are between 2026-12-07 " + first + ":00 +0000 and 2026-12-07 " + first + ":04 +0000."; !strings.Contains(x.Description, want) {
			t.Errorf("X-ARF of %s says %q; want %q", addr, x.Description, want)
		}
	}
}

// Every address a network report names gets its own X-ARF part, with its own lines,
// counts and times read from the store, not only the addresses of the incident's
// 10-line sample: 20 addresses of a /24 that sent 3 lines each made one report with 6
// parts, and the desk's ticket system opened no ticket for the other 14 (review desk48
// M1). Each part's port and timestamp are of one line (M3), and its counts are the
// address's, not the network's (L2).
func TestEveryAddressOfANetworkReportGetsItsXARFPart(t *testing.T) {
	r := lookuptest.NewRDAP(t)
	answer(r, "62.239.237.0/24", "CUSTOMER-NET", "GB", "abuse@customer.example")
	c := newRV21Case(t, r, "", "", "")
	var bursts []string
	for i := range 20 {
		bursts = append(bursts, fmt.Sprintf("08:%02d 62.239.237.%d 3", i, 10+i))
	}
	c.scan(t, bursts...)
	if mails := c.mails(t); len(mails) != 1 || !strings.Contains(mails[0], "Source network:  62.239.237.0/24") {
		t.Fatalf("%d reports mailed; want one about 62.239.237.0/24:\n%s", len(mails), strings.Join(mails, "\n----\n"))
	}
	parts := c.xarfParts(t)
	if len(parts) != 20 {
		t.Errorf("%d X-ARF parts; want one for each of the 20 addresses", len(parts))
	}
	for i := range 20 {
		addr := fmt.Sprintf("62.239.237.%d", 10+i)
		x, ok := parts[addr]
		if !ok {
			t.Errorf("no X-ARF part for %s", addr)
			continue
		}
		at := fmt.Sprintf("2026-12-07T08:%02d:00Z", i)
		if x.FirstSeen != at || x.Timestamp != at || x.Port != 40000 {
			t.Errorf("X-ARF of %s: first_seen %s, timestamp %s, source_port %d; want %s, %s, 40000 (its first line)", addr, x.FirstSeen, x.Timestamp, x.Port, at, at)
		}
		if want := "3 connections (3 log lines) with failed logins from " + addr + " "; !strings.HasPrefix(x.Description, want) {
			t.Errorf("X-ARF of %s says %q; want it to begin %q", addr, x.Description, want)
		}
		if len(x.Evidence) != 1 || strings.Count(string(x.Evidence[0].Payload), " from "+addr+" port ") != 3 {
			t.Errorf("X-ARF of %s quotes %v; want its 3 lines", addr, x.Evidence)
		}
	}
}

// What the outbox reads per named address for the X-ARF parts (review desk48 M1) leaves
// out the lines a report before holds (an address's burst reported on its own) and the
// packets a firewall logged: none of them is told the desk again, or at all.
func TestAddressesSeenLeaveOutLinesReportedBeforeAndPackets(t *testing.T) {
	st := tempStore(t)
	t0 := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	line := func(addr string, sec int, port uint16) abusewatch.Event {
		return abusewatch.Event{Time: t0.Add(time.Duration(sec) * time.Second), Addr: netip.MustParseAddr(addr), Class: abusewatch.ClassAuthFailure,
			Port: port, Host: "web1", Service: "sshd", Source: "auth.log",
			Line: fmt.Sprintf("web1 sshd[1]: Failed password for root from %s port %d ssh2", addr, port)}
	}
	var evs []abusewatch.Event
	for i := range 6 {
		evs = append(evs, line("62.239.237.16", 2*i, uint16(40000+i)))
	}
	for i := range 3 {
		evs = append(evs, line("62.239.237.20", 60+2*i, uint16(41000+i)))
	}
	probe := line("62.239.237.20", 59, 41999)
	probe.Class, probe.Proto, probe.Service, probe.Line = "port-probe", "TCP", "kernel", "kernel: DROP IN=eth0 SRC=62.239.237.20 DST=198.51.100.10 PROTO=TCP SPT=41999 DPT=22 SYN"
	evs = append(evs, probe)
	slices.SortStableFunc(evs, func(a, b abusewatch.Event) int { return a.Time.Compare(b.Time) })
	if _, err := st.Commit(evs, nil); err != nil {
		t.Fatal(err)
	}
	inc := abusewatch.Incident{ID: "net-1", Key: "net:62.239.237.0/24", Rule: "network", Network: netip.MustParsePrefix("62.239.237.0/24"),
		Classes: []abusewatch.Class{abusewatch.ClassAuthFailure, "port-probe"}, First: t0, Last: t0.Add(time.Hour), Count: 9, Attempts: 9,
		Sources: []netip.Addr{netip.MustParseAddr("62.239.237.16"), netip.MustParseAddr("62.239.237.20")}}
	told := abusewatch.Incident{ID: "ip-16", Key: "ip:62.239.237.16", Rule: "per-address", Addr: netip.MustParseAddr("62.239.237.16"),
		Network: netip.MustParsePrefix("62.239.237.16/32"), Classes: []abusewatch.Class{abusewatch.ClassAuthFailure},
		First: t0, Last: t0.Add(10 * time.Second), Count: 6, Attempts: 6}
	reportable := []abusewatch.Class{abusewatch.ClassAuthFailure, abusewatch.ClassInvalidUser}
	seen, err := addressesSeen(st, []abusewatch.Incident{inc}, []abusewatch.Incident{told}, reportable)
	if err != nil {
		t.Fatal(err)
	}
	if sn, ok := seen["net-1"][netip.MustParseAddr("62.239.237.16")]; ok {
		t.Errorf("62.239.237.16, all of whose lines a report before holds: %+v", sn)
	}
	sn := seen["net-1"][netip.MustParseAddr("62.239.237.20")]
	if sn.Count != 3 || sn.Conns != 3 || len(sn.Lines) != 3 || !sn.First.Equal(t0.Add(time.Minute)) || !slices.Equal(sn.Classes, []abusewatch.Class{abusewatch.ClassAuthFailure}) {
		t.Errorf("62.239.237.20: %d lines (%d connections), %d of them, first %v, classes %v; want its 3 failed logins from 08:01:00, not the packet",
			sn.Count, sn.Conns, len(sn.Lines), sn.First, sn.Classes)
	}
}
