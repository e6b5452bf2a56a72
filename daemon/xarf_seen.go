package daemon

import (
	"net/netip"
	"slices"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/correlate"
	"github.com/abusewatch/abusewatch/mailer"
	"github.com/abusewatch/abusewatch/store"
)

// addressesSeen are, by ID of each network incident of incs (a whole one or a party's
// share), when each address its report gives an X-ARF part of was seen within it
// (mailer.Known.Seen): its first and last line of the incident's classes, successful
// logins aside, that the store holds within the incident's times. Those parts name one
// address each, and took its times from its lines in the incident's sample: an address
// that sent three lines 08:03:00-08:03:04 was "first_seen 08:03:02, last_seen
// 08:03:02", its one sampled line (review 21 D7), the times a desk looks its customer
// up by. The addresses are those of the evidence of all of incs, as the report merges
// them (an address's lines in a network incident whose sample has none of them still
// count), and those each names (Sources): every one gets its own part (review desk48
// M1), and one the sample left out has no line there, so its lines, counts and
// connections come from the store too. Only the lines a report may tell outside are
// taken (toldOutside, no firewall packet: reportable are correlate's reportable
// classes), and none that a report before holds (reported, Known.Reported): the desk is
// never told a line twice. The raw events are kept for retention.events; an incident
// older than the oldest is Partial.
func addressesSeen(st *store.Store, incs []abusewatch.Incident, reported []abusewatch.Incident, reportable []abusewatch.Class) (map[string]map[netip.Addr]mailer.Seen, error) {
	var addrs []netip.Addr
	add := func(a netip.Addr) {
		if a = a.Unmap(); a.IsValid() && !slices.Contains(addrs, a) {
			addrs = append(addrs, a)
		}
	}
	for _, inc := range incs {
		if !inc.AboutNetwork() {
			continue
		}
		for _, e := range inc.Evidence {
			add(e.Addr)
		}
		for _, a := range inc.Sources {
			add(a)
		}
	}
	if len(addrs) == 0 {
		return nil, nil
	}
	oldest, _, err := rawCompleteFrom(st)
	if err != nil {
		return nil, err
	}
	out := map[string]map[netip.Addr]mailer.Seen{}
	for _, inc := range incs {
		n := abusewatch.UnmapPrefix(inc.Network)
		if !inc.AboutNetwork() || out[inc.ID] != nil {
			continue
		}
		seen := map[netip.Addr]mailer.Seen{}
		partial := inc.First.Before(oldest)
		for _, a := range addrs {
			if !n.Contains(a) {
				continue
			}
			evs, err := st.EventsByAddr(a, inc.First, inc.Last)
			if err != nil {
				return nil, err
			}
			sn := mailer.Seen{Partial: partial}
			var lines []*abusewatch.Event
			for i := range evs { // oldest first
				e := &evs[i]
				if e.Class == abusewatch.ClassAuthSuccess || !slices.Contains(inc.Classes, e.Class) ||
					e.Proto != "" || !toldOutside(e.Class, reportable) || mailer.ToldBefore(inc, reported, e) {
					continue
				}
				if sn.First.IsZero() {
					sn.First = e.Time
				}
				sn.Last = e.Time
				lines = append(lines, e)
				if !slices.Contains(sn.Classes, e.Class) {
					sn.Classes = append(sn.Classes, e.Class)
				}
			}
			if len(lines) > 0 {
				sn.Count, sn.Conns = len(lines), correlate.Connections(lines)
				sn.Lines = correlate.Sample(lines, mailer.SeenLines)
				abusewatch.OwnStrings(sn.Lines)
			}
			if !sn.First.IsZero() || sn.Partial {
				seen[a] = sn
			}
		}
		out[inc.ID] = seen
	}
	return out, nil
}
