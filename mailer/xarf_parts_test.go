package mailer

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
)

// sshLine is a failed login of addr at t from port (0: a line without one, PAM's).
func sshLine(seq uint64, t time.Time, addr string, port, local uint16) abusewatch.Event {
	e := abusewatch.Event{Seq: seq, Time: t, Addr: netip.MustParseAddr(addr), Class: abusewatch.ClassAuthFailure, Port: port, LocalPort: local, Host: "web1", Service: "sshd"}
	if port == 0 {
		e.Service = "sshd"
		e.Line = fmt.Sprintf("web1 sshd[%d]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=%s", seq, addr)
	} else {
		e.Line = fmt.Sprintf("web1 sshd[%d]: Failed password for root from %s port %d ssh2", seq, addr, port)
	}
	return e
}

// xarfBySource are the X-ARF parts of msg by source_identifier, each validated.
func xarfBySource(t *testing.T, msg []byte) map[string]map[string]any {
	t.Helper()
	_, _, bodies := parts(t, msg)
	out := map[string]map[string]any{}
	for _, b := range bodies[1:] {
		doc := xarfPart(t, b)
		out[doc["source_identifier"].(string)] = doc
	}
	return out
}

// Every address a network incident names (Sources) gets its X-ARF part: those its
// sample left out from their lines the store holds (Known.Seen), with their own counts;
// one with no line known has no port to give, which the schema wants, and gets none
// rather than an invented one (review desk48 M1, L2).
func TestXARFPartForEveryNamedAddressOfANetwork(t *testing.T) {
	t0 := time.Date(2026, 12, 8, 3, 0, 0, 0, time.UTC)
	seven := sshLine(1, t0, "203.0.113.7", 40001, 0)
	inc := foldIncident("net-1", "network", netip.MustParsePrefix("203.0.113.0/24"), []abusewatch.Event{seven}, 10)
	inc.Sources = []netip.Addr{netip.MustParseAddr("203.0.113.7"), netip.MustParseAddr("203.0.113.9"), netip.MustParseAddr("203.0.113.11")}
	inc.Last, inc.Count, inc.Attempts = t0.Add(10*time.Minute), 9, 9
	nine := []abusewatch.Event{sshLine(2, t0.Add(time.Minute), "203.0.113.9", 50001, 0), sshLine(3, t0.Add(2*time.Minute), "203.0.113.9", 50002, 0),
		sshLine(4, t0.Add(3*time.Minute), "203.0.113.9", 50003, 0)}
	known := Known{Seen: map[string]map[netip.Addr]Seen{"net-1": {
		netip.MustParseAddr("203.0.113.9"): {First: nine[0].Time, Last: nine[2].Time, Count: 3, Conns: 3, Lines: nine},
	}}}
	r, err := xarfComposer(t).ComposeKnowing(testContact(), []abusewatch.Incident{inc}, known, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	got := xarfBySource(t, r.Message)
	x, ok := got["203.0.113.9"]
	if !ok {
		t.Fatalf("no X-ARF part for 203.0.113.9, an address the sample left out: %v", got)
	}
	if x["source_port"] != float64(50001) || x["timestamp"] != nine[0].Time.In(est).Format(time.RFC3339) {
		t.Errorf("203.0.113.9: source_port %v at %v; want its first line's", x["source_port"], x["timestamp"])
	}
	if d := x["description"].(string); !strings.HasPrefix(d, "3 connections (3 log lines) with failed logins from 203.0.113.9 ") || strings.Contains(d, " 9 ") {
		t.Errorf("203.0.113.9 is described %q: want its own counts, not the network's", d)
	}
	if _, ok := got["203.0.113.11"]; ok {
		t.Errorf("203.0.113.11, no line of which is known, has a part: %v", got["203.0.113.11"])
	}
	if _, ok := got["203.0.113.7"]; !ok || len(got) != 2 {
		t.Errorf("parts for %d addresses; want 203.0.113.7 and 203.0.113.9", len(got))
	}
}

// An X-ARF part's source_port and timestamp are of one line: a desk behind CGNAT looks
// its subscriber up by the pair. The first line known of a network's address may have
// no port in the sample (first_seen from the store), and an address's first line may be
// PAM's, without one (review desk48 M3).
func TestXARFPortAndTimestampAreOfOneLine(t *testing.T) {
	t0 := time.Date(2026, 12, 8, 3, 3, 0, 0, time.UTC)
	at := func(x map[string]any) string { return fmt.Sprint(x["timestamp"], " port ", x["source_port"]) }
	zone := func(t time.Time) string { return t.In(est).Format(time.RFC3339) }

	inc := foldIncident("net-1", "network", netip.MustParsePrefix("45.134.27.0/25"),
		[]abusewatch.Event{sshLine(1, t0.Add(40*time.Second), "45.134.27.11", 40156, 0), sshLine(2, t0.Add(50*time.Second), "45.134.27.12", 40200, 0)}, 10)
	known := Known{Seen: map[string]map[netip.Addr]Seen{"net-1": {netip.MustParseAddr("45.134.27.11"): {First: t0, Last: t0.Add(40 * time.Second)}}}}
	r, err := xarfComposer(t).ComposeKnowing(testContact(), []abusewatch.Incident{inc}, known, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	x := xarfBySource(t, r.Message)["45.134.27.11"]
	if x["first_seen"] != zone(t0) || at(x) != zone(t0.Add(40*time.Second))+" port 40156" {
		t.Errorf("45.134.27.11: first_seen %v, %s; want first_seen %s, the port with its own line's time %s", x["first_seen"], at(x), zone(t0), zone(t0.Add(40*time.Second)))
	}

	single := testIncident()
	single.Evidence = []abusewatch.Event{sshLine(1, single.First, "203.0.113.7", 0, 0), sshLine(2, single.First.Add(2*time.Second), "203.0.113.7", 37737, 0)}
	r, err = xarfComposer(t).Compose(testContact(), []abusewatch.Incident{single}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	x = xarfBySource(t, r.Message)["203.0.113.7"]
	if want := zone(single.First.Add(2*time.Second)) + " port 37737"; at(x) != want || x["first_seen"] != zone(single.First) {
		t.Errorf("203.0.113.7: %s, first_seen %v; want %s, first_seen %s", at(x), x["first_seen"], want, zone(single.First))
	}
}

// The destination of an X-ARF part is given when known, never guessed: our port as the
// line gave it, and our host's address of the source's family when [mail] hosts gives
// exactly one (review desk48 L2).
func TestXARFDestinationOnlyWhenKnown(t *testing.T) {
	c, err := NewComposer(shippedTemplate(t), Reporter{Name: "Jane Doe", Location: est,
		Hosts: map[string][]netip.Addr{
			"web1": {netip.MustParseAddr("198.51.100.10"), netip.MustParseAddr("2001:db8:0:1::10")},
			"mail": {netip.MustParseAddr("198.51.100.25"), netip.MustParseAddr("198.51.100.26")},
		}}, "abuse@example.org")
	if err != nil {
		t.Fatal(err)
	}
	c = c.With(Options{XARF: true})
	for _, tc := range []struct {
		name     string
		host     string
		local    uint16
		wantIP   any
		wantPort any
	}{
		{"web1 port 22", "web1", 22, "198.51.100.10", float64(22)},
		{"our port unknown", "web1", 0, "198.51.100.10", nil},
		{"two addresses of mail", "mail", 22, nil, float64(22)},
		{"a host hosts does not list", "db1", 0, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inc := testIncident()
			e := sshLine(1, inc.First, "203.0.113.7", 4242, tc.local)
			e.Host = tc.host
			inc.Evidence, inc.Hosts = []abusewatch.Event{e}, []string{tc.host}
			r, err := c.Compose(testContact(), []abusewatch.Incident{inc}, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			x := xarfBySource(t, r.Message)["203.0.113.7"]
			if x["destination_ip"] != tc.wantIP || x["destination_port"] != tc.wantPort {
				t.Errorf("destination %v port %v; want %v port %v", x["destination_ip"], x["destination_port"], tc.wantIP, tc.wantPort)
			}
		})
	}
}
