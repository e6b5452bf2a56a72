package mailer

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
)

// The X-ARF part of an address of a network incident takes its times from Known.Seen,
// the address's lines the store holds within the incident, when the outbox knows them,
// and says whether they are all of them; without, from its lines in the sample, "we have
// kept". The parts validate against the schema as before.
func TestXARFTimesOfANetworksAddressComeFromKnownSeen(t *testing.T) {
	inc := testIncident()
	inc.ID, inc.Key, inc.Rule = "net-1", "net:203.0.113.0/24", "network"
	inc.Network = netip.MustParsePrefix("203.0.113.0/24")
	inc.Evidence = nil
	for i, a := range []string{"203.0.113.7", "203.0.113.9"} {
		inc.Evidence = append(inc.Evidence, abusewatch.Event{Time: inc.First.Add(time.Duration(i+5) * time.Second), Class: abusewatch.ClassAuthFailure,
			Addr: netip.MustParseAddr(a), Port: uint16(40000 + i), Service: "sshd", Line: fmt.Sprintf("sshd[4%d]: Failed password for root from %s port %d ssh2", i, a, 40000+i)})
	}
	seven, nine := netip.MustParseAddr("203.0.113.7"), netip.MustParseAddr("203.0.113.9")
	for _, tc := range []struct {
		name    string
		seen    map[netip.Addr]Seen
		first7  time.Time
		last7   time.Time
		kept7   bool
		first9  time.Time
		partial bool
	}{
		{name: "not known", first7: inc.First.Add(5 * time.Second), last7: inc.First.Add(5 * time.Second), kept7: true, first9: inc.First.Add(6 * time.Second)},
		{name: "every line held", seen: map[netip.Addr]Seen{
			seven: {First: inc.First, Last: inc.First.Add(9 * time.Second)},
			nine:  {First: inc.First.Add(6 * time.Second), Last: inc.First.Add(6 * time.Second)},
		}, first7: inc.First, last7: inc.First.Add(9 * time.Second), first9: inc.First.Add(6 * time.Second)},
		{name: "retention deleted some", seen: map[netip.Addr]Seen{
			seven: {First: inc.First.Add(2 * time.Second), Last: inc.First.Add(9 * time.Second), Partial: true},
		}, first7: inc.First.Add(2 * time.Second), last7: inc.First.Add(9 * time.Second), kept7: true, first9: inc.First.Add(6 * time.Second)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			known := Known{}
			if tc.seen != nil {
				known.Seen = map[string]map[netip.Addr]Seen{inc.ID: tc.seen}
			}
			r, err := xarfComposer(t).ComposeKnowing(testContact(), []abusewatch.Incident{inc}, known, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			_, _, bodies := parts(t, r.Message)
			for _, b := range bodies[1:] {
				doc := loginAttack(t, b)
				first, last, kept := tc.first7, tc.last7, tc.kept7
				if doc["source_identifier"] == "203.0.113.9" {
					first, last, kept = tc.first9, tc.first9, tc.seen == nil || tc.seen[nine].Partial || tc.seen[nine].First.IsZero()
				}
				zone := func(t time.Time) string { return t.In(est).Format(time.RFC3339) }
				if doc["first_seen"] != zone(first) || doc["last_seen"] != zone(last) {
					t.Errorf("X-ARF of %v: first_seen %v, last_seen %v; want %s, %s", doc["source_identifier"], doc["first_seen"], doc["last_seen"], zone(first), zone(last))
				}
				desc := doc["description"].(string)
				if strings.Contains(desc, " we have kept are between ") != kept {
					t.Errorf("X-ARF of %v says %q: want \"we have kept\" %v", doc["source_identifier"], desc, kept)
				}
			}
		})
	}
}
