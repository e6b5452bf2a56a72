package daemon

// A network incident (a /24, /16, /8; an IPv6 /64, /48, /32) is looked up through one of
// its addresses, but registries delegate far below those sizes (RIPE /29 assignments with
// their own abuse contact, a /48 or /56 per IPv6 customer): the contact of its first
// address may speak for a small part of it, and another part may be on the
// do-not-contact list. Such an incident is told to each party only as far as it is that
// party's: each of its addresses is looked up, and each party gets its own addresses,
// their lines and counts; the do-not-contact list's are told to no one.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/lookup"
	"github.com/abusewatch/abusewatch/mailer"
)

// noParty is the owner of an address on the do-not-contact list.
const noParty = -1

// partyShare is the part of a network incident that one party is told: the addresses
// whose contact is party's. A nil owner stands for the whole incident.
type partyShare struct {
	owner map[netip.Addr]int // each looked-up address of the incident → its party, noParty: do not contact
	party int
}

// whole says whether s is the whole incident.
func (s partyShare) whole() bool { return s.owner == nil }

// Excluded says whether a is not this share's (exclusionGate): reportableThrough leaves
// it out as it leaves out an address excluded since.
func (s partyShare) Excluded(a netip.Addr) bool {
	o, ok := s.owner[a.Unmap()]
	return !ok || o != s.party
}

func (s partyShare) ExcludedNetwork(netip.Prefix) bool { return false }

// splitIncident is a network incident whose addresses are several parties': each is
// told its share, in a report of its own.
type splitIncident struct {
	inc      abusewatch.Incident
	contacts []abusewatch.Contact // by party
	owner    map[netip.Addr]int
	waiting  time.Time // since when it waits for a wider incident (waitsForWider); zero: it did not
}

// holds says whether contact c speaks for the whole of network n, and no network on the
// do-not-contact list lies in it. It is not enough for a network incident to go whole to
// c: a narrower contact may speak for part of n, which only looking up every address
// finds (byParty); with every address c's too, the incident goes whole.
func (p *Pipeline) holds(c abusewatch.Contact, n netip.Prefix) bool {
	if !c.Network.IsValid() || c.Network.Bits() > n.Bits() || !c.Network.Contains(n.Addr()) {
		return false
	}
	for _, d := range p.cfg.DoNotContact {
		if dn, err := parseNetwork(d.Network); err == nil && dn.Overlaps(n) {
			return false
		}
	}
	return true
}

// incidentAddrs are the addresses a network incident names: its sources and those of
// its evidence, unmapped, sorted, each once.
func incidentAddrs(inc abusewatch.Incident) []netip.Addr {
	out := make([]netip.Addr, 0, len(inc.Sources)+1)
	for _, a := range inc.Sources {
		out = append(out, a.Unmap())
	}
	for _, e := range inc.Evidence {
		if e.Addr.IsValid() {
			out = append(out, e.Addr.Unmap())
		}
	}
	if inc.Addr.IsValid() {
		out = append(out, inc.Addr.Unmap())
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}

// errRoundOver is byParty's when the round's time budget ran out between lookups.
var errRoundOver = errors.New("the round's time budget ran out")

// noContact is the owner of an address of a network incident whose lookup found no abuse
// contact: like a do-not-contact one, told to no one, so that it does not keep the other
// parties from being told (the admin is told which, and `incidents` shows it).
const noContact = -2

// transientWait is how long a network incident waits for the lookups that failed for a
// reason that passes (a timeout, a registry's rate limit): after that, the addresses
// still without a contact are left out and the others' shares go.
const transientWait = time.Hour

// transient says whether err is a lookup failure that may pass: a timeout or a
// registry's rate limit, as opposed to an answer without an abuse contact.
func transient(err error) bool {
	var ne net.Error
	return errors.Is(err, lookup.ErrRateLimited) || errors.Is(err, context.DeadlineExceeded) ||
		(errors.As(err, &ne) && ne.Timeout())
}

// partiesOf is byParty's answer.
type partiesOf struct {
	contacts []abusewatch.Contact // by party
	owner    map[netip.Addr]int   // each address → its party, noParty or noContact
	missed   []netip.Addr         // the addresses no contact was found for (noContact), sorted
	missErr  error                // the first of their lookups' errors
}

// byParty looks up the contact of each address of network incident inc (a registry's
// answer is cached for the address asked about, an IPv6 /64: lookup/cache.go) and
// returns the parties,
// each with its contact, and which address is whose: every address, not only the first,
// since a contact may speak for a small part of the network only. An address on the
// do-not-contact list is noParty's; one whose lookup finds no contact is noContact's and
// does not hold back the others. A lookup that fails for a reason that passes (transient)
// fails all while patient, so that the incident waits for the next round rather than be
// told in part; so does a cancelled context (failed is the address). Past deadline
// (unless zero) it returns errRoundOver.
func (p *Pipeline) byParty(ctx context.Context, inc abusewatch.Incident, deadline time.Time, patient bool) (
	res partiesOf, failed netip.Addr, err error) {
	res.owner = map[netip.Addr]int{}
	index := map[string]int{}
	for _, a := range incidentAddrs(inc) {
		if !deadline.IsZero() && time.Now().After(deadline) {
			return partiesOf{}, a, errRoundOver
		}
		c, err := p.contact(ctx, a)
		if err == nil && len(c.Emails) == 0 {
			err = errors.New("the contact has no e-mail address")
		}
		switch {
		case errors.Is(err, lookup.ErrDoNotContact):
			res.owner[a] = noParty
			continue
		case err != nil && (ctx.Err() != nil || (patient && transient(err))):
			return partiesOf{}, a, err
		case err != nil:
			res.owner[a] = noContact
			res.missed = append(res.missed, a)
			if res.missErr == nil {
				res.missErr = fmt.Errorf("looking up %s: %w", a, err)
			}
			continue
		}
		key := strings.ToLower(strings.Join(c.Emails, ","))
		i, ok := index[key]
		if !ok {
			i = len(res.contacts)
			index[key] = i
			res.contacts = append(res.contacts, c)
		}
		res.owner[a] = i
	}
	return res, netip.Addr{}, nil
}

// share is inc as party s is told it: without the addresses of others, their lines and
// their counts; inexact says what of it its report cannot state exactly (shareCounted),
// for mailer.Known. ok is false when nothing of it is s's, or when it names an address
// not looked up (it grew since): it then waits for the next round, which looks that up
// too.
func (p *Pipeline) share(inc abusewatch.Incident, s partyShare) (_ abusewatch.Incident, inexact mailer.Inexact, ok bool, err error) {
	if s.whole() {
		return inc, inexact, true, nil
	}
	for _, a := range incidentAddrs(inc) {
		if _, known := s.owner[a]; !known {
			return inc, inexact, false, nil
		}
	}
	inc, leftOut, ok := reportableThrough(s, inc)
	if !ok {
		return inc, inexact, false, nil
	}
	if len(leftOut) > 0 {
		inc, inexact, err = p.shareCounted(inc, s.Excluded)
	}
	return inc, inexact, err == nil, err
}

// knowingInexact is known with what of the incidents of its report cannot be stated
// exactly, by ID (share).
func knowingInexact(known mailer.Known, inexact map[string]mailer.Inexact) mailer.Known {
	for id, in := range inexact {
		if in == (mailer.Inexact{}) {
			continue
		}
		if known.Inexact == nil {
			known.Inexact = map[string]mailer.Inexact{}
		}
		known.Inexact[id] = in
	}
	return known
}

// theirs is inc trimmed to the share of contact, for a report written before to it:
// looked up again (cached), so that a report composed again (lastGate) tells
// the party no more than its first mail did, nor lists what it did not tell (heldShare).
// except is the report being composed again ("" none), whose incidents are its own.
// inexact is share's.
func (p *Pipeline) theirs(ctx context.Context, inc abusewatch.Incident, contact abusewatch.Contact, except string) (
	_ abusewatch.Incident, inexact mailer.Inexact, ok bool, err error) {
	if !inc.AboutNetwork() {
		return inc, inexact, true, nil
	}
	res, failed, err := p.byParty(ctx, inc, time.Time{}, true)
	if err != nil {
		return inc, inexact, false, fmt.Errorf("looking up %s of %s again: %w", failed, inc.Network, err)
	}
	key := strings.ToLower(strings.Join(contact.Emails, ","))
	for i, c := range res.contacts {
		if strings.ToLower(strings.Join(c.Emails, ",")) == key {
			if len(res.contacts) == 1 && len(res.missed) == 0 && len(leftOutOf(res.owner)) == 0 && p.holds(c, inc.Network) {
				return inc, inexact, true, nil
			}
			s := partyShare{res.owner, i}
			part, inexact, ok, err := p.share(inc, s)
			if err != nil || !ok {
				return part, inexact, ok, err
			}
			part = toldAs(part, c, s)
			known, err := knownOf(p.store, []abusewatch.Incident{part}, except, p.cfg.reportableClasses())
			if err != nil {
				return part, inexact, false, err
			}
			_, told, err := p.heldShare(part, s, known.Reported)
			return withoutTold(part, told), inexact, err == nil, err
		}
	}
	return inc, inexact, false, nil
}

// leftOutOf are the addresses of owner on the do-not-contact list, for the admin.
func leftOutOf(owner map[netip.Addr]int) []netip.Addr {
	var out []netip.Addr
	for a, o := range owner {
		if o == noParty {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

// writeShares writes the report of each party's share of sp.inc, each to its party, in
// state. The incident is marked reported with the first, and the others are added
// while p.marking keeps the daemon from growing it: it is marked reported only with
// every share written, and all are composed from the incident as read once. Grown since
// the round read it, it is read and composed again (composeAttempts times).
func (p *Pipeline) writeShares(composer *mailer.Composer, sp splitIncident, state abusewatch.ReportState, now time.Time) error {
	for attempt := 1; ; attempt++ {
		stored, digests, err := p.store.IncidentsAsStored([]string{sp.inc.ID})
		if err != nil || len(stored) == 0 {
			return err
		}
		inc, ok, err := p.stillReportable(stored[0])
		if err != nil || !ok {
			return err
		}
		var reports []abusewatch.Report
		heldBy := "" // an incident whose report holds every line of a share not written
		for i, c := range sp.contacts {
			part, inexact, ok, err := p.share(inc, partyShare{sp.owner, i})
			if err != nil {
				return err
			}
			if !ok {
				p.log.Info("network incident grew by addresses not looked up yet; its parties' shares are written at the next round",
					"incident", inc.ID, "network", inc.Network)
				return nil
			}
			part = toldAs(part, c, partyShare{sp.owner, i})
			// Composed as any report: the lines an earlier report holds (an address's own
			// incident, reported before the network's formed) are left out; a share all of
			// whose lines one holds is not sent, the other parties' shares are.
			known, err := knownOf(p.store, []abusewatch.Incident{part}, "", p.cfg.reportableClasses())
			if err != nil {
				return err
			}
			known = knowingInexact(known, map[string]mailer.Inexact{part.ID: inexact})
			by, told, err := p.heldShare(part, partyShare{sp.owner, i}, known.Reported)
			if err != nil {
				return err
			}
			part = withoutTold(part, told)
			if by != "" {
				p.log.Info("a party's share of a network incident is not sent: an earlier report holds all its lines",
					"incident", inc.ID, "to", strings.Join(c.Emails, ", "), "held_by", by)
				if heldBy == "" {
					heldBy = by
				}
				continue
			}
			r, err := composer.ComposeKnowing(c, []abusewatch.Incident{part}, known, now)
			if err != nil {
				why := fmt.Sprintf("its share to %s cannot be written, tried again every round: %s",
					sanitizeText(strings.Join(c.Emails, ", ")), sanitizeText(err.Error()))
				p.log.Error("report not written", "to", strings.Join(c.Emails, ", "), "incident", inc.ID, "err", err)
				p.misses.set(inc.ID, UnreportedNotWritten, why, now)
				return nil
			}
			r.State, r.Updated = state, now
			reports = append(reports, r)
		}
		if len(reports) == 0 {
			// Every share held: marked reported by the report that holds the first.
			rep, _, err := p.store.ReportFor(heldBy)
			if err != nil || rep == "" {
				return err
			}
			p.marking.Lock()
			marked, err := p.store.MarkReportedBy(map[string]string{inc.ID: rep}, digests)
			p.marking.Unlock()
			if err != nil {
				return err
			}
			if len(marked) > 0 {
				p.log.Info("incident not reported again: earlier reports hold all its lines", "incident", inc.ID, "report", rep)
				return nil
			}
			if attempt == composeAttempts {
				return nil
			}
			continue
		}
		// Every share, or none, in one transaction: an incident marked reported with a
		// party never told would never be told.
		p.marking.Lock()
		n, changed, err := p.store.AddReportsOf(reports, digests)
		p.marking.Unlock()
		if err != nil {
			return err
		}
		if len(changed) == 0 {
			p.Counters.Reports.Add(int64(n))
			to := make([]string, len(reports))
			for i, r := range reports {
				to[i] = strings.Join(r.Contact.Emails, ", ")
			}
			p.log.Info("network incident reported to each party its own addresses", "incident", inc.ID, "network", inc.Network,
				"to", strings.Join(to, "; "), "reports", n, "state", state)
			return nil
		}
		if attempt == composeAttempts {
			p.log.Info("incident kept growing while its shares were written; they are written at the next round",
				"incident", inc.ID, "attempts", attempt)
			return nil
		}
	}
}

// heldShare returns the ID of an incident of reported (each with a report) that holds
// lines of share, party s's share of a network incident, when together they hold every
// one of its lines (mailer.HeldByReported; or each of its stored lines, as many as it
// counts, lies within the times of a reported incident of its address or network and
// class, or was kept by one); "" when its report would tell the desk something new. A
// share is about a network, which an address's own incident never holds whole in
// mailer.HeldByReported's terms, though it may hold every line of it. told are then the
// addresses of share every stored line of which they hold, when the store holds as many
// lines as it counts: its report leaves their lines out (mailer.Known), so it must not
// list them among the addresses seen either.
func (p *Pipeline) heldShare(share abusewatch.Incident, s partyShare, reported []abusewatch.Incident) (by string, told []netip.Addr, err error) {
	if by := mailer.HeldByReported(share, reported); by != "" || len(reported) == 0 || s.whole() {
		return by, nil, nil
	}
	evs, err := p.store.EventsByNetwork(share.Network, share.First, share.Last)
	if err != nil {
		return "", nil, err
	}
	n, all := 0, true
	held := map[netip.Addr]bool{} // each address with a line: whether every one of them is held
	for _, e := range evs {
		if e.Class == abusewatch.ClassAuthSuccess || s.Excluded(e.Addr) || !slices.Contains(share.Classes, e.Class) {
			continue
		}
		n++
		i := slices.IndexFunc(reported, func(r abusewatch.Incident) bool {
			if r.ID == share.ID || (r.Key != "" && r.Key == share.Key) {
				return false
			}
			if slices.ContainsFunc(r.Evidence, func(x abusewatch.Event) bool {
				return x.Time.Equal(e.Time) && x.Addr.Unmap() == e.Addr.Unmap() && x.Line == e.Line
			}) {
				return true
			}
			if e.Time.Before(r.First) || e.Time.After(r.Last) || !slices.Contains(r.Classes, e.Class) {
				return false
			}
			if r.AboutNetwork() {
				return abusewatch.UnmapPrefix(r.Network).Contains(e.Addr.Unmap())
			}
			return r.Addr.Unmap() == e.Addr.Unmap()
		})
		a := e.Addr.Unmap()
		if was, seen := held[a]; !seen || was {
			held[a] = i >= 0
		}
		if all = all && i >= 0; all && by == "" {
			by = reported[i].ID
		}
	}
	if n == 0 || n < share.Count {
		return "", nil, nil // lines it counts that the store no longer has: which are held cannot be told
	}
	if all {
		return by, nil, nil
	}
	for a, h := range held {
		if h {
			told = append(told, a)
		}
	}
	slices.SortFunc(told, netip.Addr.Compare)
	return "", told, nil
}

// withoutTold is share without the addresses told among its sources.
func withoutTold(share abusewatch.Incident, told []netip.Addr) abusewatch.Incident {
	if len(told) > 0 {
		share.Sources = slices.DeleteFunc(slices.Clone(share.Sources), func(a netip.Addr) bool { return slices.Contains(told, a.Unmap()) })
	}
	return share
}

// widerWait is how long a split network incident waits for a wider one of its rounds
// (waitsForWider): its reports then hold the narrower's lines, or its shares leave out
// what those hold, but a wider one may wait far longer (a party of it in its cooldown,
// or with a report nobody approves), and the narrower's parties are not kept waiting
// for that. Gone first, the narrower's reports hold what the wider one's leave out.
const widerWait = time.Hour

// waitsForWider says whether split incident sp waits for the next round for w, a wider
// network incident of this round whose times meet it, and, while it does, says why (the
// misses: `incidents`, `report preview`). It waits for widerWait at most since the
// round that first made it wait, and not for one whose report cannot be written.
func (p *Pipeline) waitsForWider(sp splitIncident, w abusewatch.Incident, now time.Time) (bool, error) {
	if m, err := p.misses.get(w.ID); err != nil || m.code == UnreportedNotWritten {
		return false, err
	}
	since := sp.waiting
	if since.IsZero() {
		since = now
	}
	if now.Sub(since) >= widerWait {
		p.log.Info("network incident within a wider one goes without waiting longer for the wider one's reports",
			"incident", sp.inc.ID, "network", sp.inc.Network, "wider", w.ID, "wider_network", w.Network, "waited", now.Sub(since))
		return false, nil
	}
	until := since.Add(widerWait)
	p.log.Debug("network incident within a wider one of the round: its shares wait for the next round",
		"incident", sp.inc.ID, "network", sp.inc.Network, "wider", w.ID, "wider_network", w.Network, "until", until)
	p.misses.set(sp.inc.ID, UnreportedWaitsForWider, fmt.Sprintf(
		"waits for the reports of incident %s of the wider network %s, which hold its lines, so that each party is told each line once: "+
			"written at the next round once those are, at %s at the latest", w.ID, w.Network, until.In(p.zone()).Format("2006-01-02 15:04")), since)
	return true, nil
}

// widerOf returns an incident of round about a network wider than inc's that holds
// inc's network and whose times meet inc's, and whether there is one.
func widerOf(inc abusewatch.Incident, round []abusewatch.Incident) (abusewatch.Incident, bool) {
	n := abusewatch.UnmapPrefix(inc.Network)
	for _, w := range round {
		wn := abusewatch.UnmapPrefix(w.Network)
		if w.ID != inc.ID && w.AboutNetwork() && wn.Bits() < n.Bits() && wn.Contains(n.Addr()) &&
			!w.Last.Before(inc.First) && !inc.Last.Before(w.First) {
			return w, true
		}
	}
	return abusewatch.Incident{}, false
}

// toldAs is share, party s's share of a network incident, about what it holds: the
// party's own block (narrowedTo), and within that, when addresses of the incident are
// left out of it (others', the do-not-contact list's, those without a contact), the
// narrowest network that holds every address of the share and none of those, if one
// holds more than one address. Else the network stays as it is: its "Addresses seen"
// and counts say which of it the party is told.
func toldAs(share abusewatch.Incident, contact abusewatch.Contact, s partyShare) abusewatch.Incident {
	if s.whole() {
		return share
	}
	var party []netip.Addr
	for a, o := range s.owner {
		if o == s.party {
			party = append(party, a)
		}
	}
	share = narrowedTo(share, contact, party)
	n := abusewatch.UnmapPrefix(share.Network)
	var mine, others []netip.Addr
	for a, o := range s.owner {
		switch {
		case !n.Contains(a):
		case o == s.party:
			mine = append(mine, a)
		default:
			others = append(others, a)
		}
	}
	if len(mine) < 2 || len(others) == 0 {
		return share
	}
	c := covering(mine)
	if c.Bits() <= n.Bits() || slices.ContainsFunc(others, c.Contains) {
		return share
	}
	share.Network = c
	return share
}

// covering is the narrowest network that holds every one of addrs (of one family).
func covering(addrs []netip.Addr) netip.Prefix {
	lo := slices.MinFunc(addrs, netip.Addr.Compare)
	hi := slices.MaxFunc(addrs, netip.Addr.Compare)
	for bits := lo.BitLen(); bits > 0; bits-- {
		if p, _ := lo.Prefix(bits); p.Contains(hi) {
			return p
		}
	}
	p, _ := lo.Prefix(0)
	return p
}

// narrowedTo is share, a party's share of a network incident, about the party's own
// network when contact's lies inside the incident's and holds every one of the party's
// addresses (party): the desk is told its own block (5.6.7.8/29), not the wider network
// (5.0.0.0/8) others' addresses of which it is not told. A party is the desk its
// addresses' contacts name, and one desk may be listed for several networks (two /25
// registry objects of one provider): the contact is that of one of them, and narrowed
// to it, the share named addresses outside the network it said they came from.
func narrowedTo(share abusewatch.Incident, contact abusewatch.Contact, party []netip.Addr) abusewatch.Incident {
	n, c := abusewatch.UnmapPrefix(share.Network), abusewatch.UnmapPrefix(contact.Network)
	if share.AboutNetwork() && c.IsValid() && !c.IsSingleIP() && c.Bits() > n.Bits() && n.Contains(c.Addr()) &&
		!slices.ContainsFunc(party, func(a netip.Addr) bool { return !c.Contains(a.Unmap()) }) {
		share.Network = c
	}
	return share
}
