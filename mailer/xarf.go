package mailer

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/emersion/go-message"
)

// xarfVersion is the X-ARF schema version the machine-readable parts follow
// (https://xarf.org, schemas/v4: xarf-core.json with the connection types).
const xarfVersion = "4.0.0"

// xarfReport is one X-ARF v4 report: one source, one kind of abuse. A memo that covers
// several sources carries one of these per source, as xarf-1.json, xarf-2.json, ….
type xarfReport struct {
	XARFVersion      string         `json:"xarf_version"`
	ReportID         string         `json:"report_id"`
	Timestamp        string         `json:"timestamp"`
	Reporter         xarfReporter   `json:"reporter"`
	SourceIdentifier string         `json:"source_identifier"`
	SourcePort       int            `json:"source_port,omitempty"`
	DestinationIP    string         `json:"destination_ip,omitempty"`
	DestinationPort  int            `json:"destination_port,omitempty"`
	Class            string         `json:"class"`
	Type             string         `json:"type"`
	Protocol         string         `json:"protocol"`
	FirstSeen        string         `json:"first_seen"`
	LastSeen         string         `json:"last_seen"`
	EvidenceSource   string         `json:"evidence_source"`
	Evidence         []xarfEvidence `json:"evidence"`
	Description      string         `json:"description"`
}

type xarfReporter struct {
	Org     string `json:"org"`
	Contact string `json:"contact"`
	Type    string `json:"type"`
}

type xarfEvidence struct {
	ContentType string `json:"content_type"`
	Description string `json:"description"`
	Payload     string `json:"payload"`
	Hash        string `json:"hash"`
	Size        int    `json:"size"`
}

// xarfType maps what the rules found (rules, of the incidents about an address) and
// the classes of its lines to an X-ARF connection type: a port scan (the port-scan
// rule, or packets our firewall blocked), or a login attack (failed logins). Other
// kinds get no machine-readable part rather than a wrong one.
func xarfType(rules []string, classes []abusewatch.Class) string {
	scan := len(rules) > 0 && !slices.ContainsFunc(rules, func(r string) bool { return r != "port-scan" })
	if !scan && slices.ContainsFunc(classes, func(c abusewatch.Class) bool {
		return c == abusewatch.ClassAuthFailure || c == abusewatch.ClassInvalidUser
	}) {
		return "login_attack"
	}
	if scan || slices.ContainsFunc(classes, func(c abusewatch.Class) bool { return c == "port-probe" || strings.Contains(string(c), "scan") }) {
		return "port_scan"
	}
	return ""
}

// xarfWhat says what a report of X-ARF type typ is about, for its description.
func xarfWhat(typ string) string {
	if typ == "port_scan" {
		return "connection attempts that our firewall blocked"
	}
	return "failed logins"
}

// atLeast writes n, "at least n" when it is a lower bound.
func atLeast(n int, lower bool) string {
	if lower {
		return "at least " + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}

// xarfReports are the X-ARF reports for source s of report id: one per address (the
// schemas require a source port for an address, so an address none of whose lines
// gives one gets none). X-ARF names one address per report, so a network gets one per
// address: for each of its addresses with incidents of their own, their lines and
// times together with its lines among the network's; for each other address its lines
// name, its lines and their times (the network's first and last are not that
// address's, and a desk looks up who held a dynamic address at first_seen: its lines
// the store holds, seen, not only those the network's sample kept). reported are the
// addresses the memo lists on their own, whose own report they are.
func (c *Composer) xarfReports(id string, s *source, reported map[netip.Addr]bool, seen map[string]map[netip.Addr]Seen) []xarfReport {
	inc := &s.inc
	if !inc.AboutNetwork() {
		if !inc.Addr.IsValid() {
			return nil
		}
		if x, ok := c.addressXARF(id, s, nil, netip.Prefix{}, false); ok {
			return []xarfReport{x}
		}
		return nil
	}
	var out []xarfReport
	own := map[netip.Addr]bool{}
	for _, a := range s.addrs {
		addr := a.inc.Addr.Unmap()
		own[addr] = true
		if x, ok := c.addressXARF(id, a, linesFrom(inc.Evidence, addr), inc.Network, unkeptOf(s, a)); ok {
			out = append(out, x)
		}
	}
	network := abusewatch.UnmapPrefix(inc.Network)
	addrs := addressesOf(inc.Evidence)
	for _, a := range inc.Sources {
		// Every address the report names gets its part, not only those of its sample
		// (review desk48 M1).
		if a = a.Unmap(); a.IsValid() && network.Contains(a) && !slices.Contains(addrs, a) {
			addrs = append(addrs, a)
		}
	}
	for _, a := range addrs {
		if own[a] || reported[a] {
			continue // that address's own incidents give its report
		}
		sn, known := seenOf(s, a, seen)
		evs := withLines(linesFrom(inc.Evidence, a), sn.Lines)
		if len(evs) == 0 {
			continue // no line of it known: no port, which the schemas want of an address
		}
		var classes []abusewatch.Class
		var hosts []string
		lines := make([]string, len(evs))
		for i, ev := range evs {
			classes, lines[i] = append(classes, ev.Class), c.evidenceLine(ev)
			if ev.Host != "" && !slices.Contains(hosts, ev.Host) {
				hosts = append(hosts, ev.Host)
			}
		}
		slices.Sort(hosts)
		typ := xarfType([]string{inc.Rule}, classes)
		if typ == "" {
			continue
		}
		first, last := evs[0].Time, evs[len(evs)-1].Time
		kept := "we have kept "
		// Its own counts (review desk48 L2: the network's totals in each part made a
		// desk's tool that sums the parts count the network once per address): those
		// of the store when known, else its lines here, a lower bound.
		count, conns, exact := len(evs), connsOf(pointers(evs)), false
		if known {
			first, last = minTime(first, sn.First), maxTime(last, sn.Last)
			if !sn.Partial {
				kept = ""
			}
			if sn.Count >= len(evs) {
				count, conns, exact = sn.Count, max(sn.Conns, 1), !sn.Partial && !sn.merged
			}
		}
		conns = min(conns, count)
		desc := fmt.Sprintf("%s connections (%s log lines) with %s from %s to %s; the lines of %s %sare between %s and %s. %s is one of the addresses of %s that this report names.",
			atLeast(conns, !exact), atLeast(count, !exact), xarfWhat(typ), a, c.ourHosts(hosts, a),
			a, kept, c.timestamp(first), c.timestamp(last), a, inc.Network)
		if x, ok := c.xarfFor(id+"\x00"+inc.ID+"\x00"+a.String(), typ, a, first, last, evs, lines, desc,
			fmt.Sprintf("%d of the %s log lines of %s, in our time zone", len(lines), atLeast(count, !exact), a)); ok {
			out = append(out, x)
		}
	}
	return out
}

// withLines are evs (an address's lines in its network incident's sample) with those
// of more (its lines read from the store: Seen.Lines) not among them, in time order.
func withLines(evs, more []abusewatch.Event) []abusewatch.Event {
	if len(more) == 0 {
		return evs
	}
	known := map[lineKey]bool{}
	for i := range evs {
		known[keyOf(&evs[i])] = true
	}
	for i := range more {
		if !known[keyOf(&more[i])] {
			known[keyOf(&more[i])] = true
			evs = append(evs, more[i])
		}
	}
	slices.SortStableFunc(evs, func(a, b abusewatch.Event) int { return a.Time.Compare(b.Time) })
	return evs
}

// pointers are pointers to each of evs.
func pointers(evs []abusewatch.Event) []*abusewatch.Event {
	out := make([]*abusewatch.Event, len(evs))
	for i := range evs {
		out[i] = &evs[i]
	}
	return out
}

// seenOf is when address a of network source s was seen within its network incidents
// (Known.Seen), and whether that is known of any of them; Partial when it is known
// only of the lines the store still holds.
func seenOf(s *source, a netip.Addr, seen map[string]map[netip.Addr]Seen) (seenAddr, bool) {
	var out seenAddr
	n := 0
	for _, m := range s.members {
		sn := seen[m.ID][a]
		out.Partial = out.Partial || sn.Partial
		if sn.First.IsZero() {
			continue // none of its lines there (the store holds)
		}
		n++
		if out.First.IsZero() || sn.First.Before(out.First) {
			out.First = sn.First
		}
		out.Last = maxTime(out.Last, sn.Last)
		out.Count, out.Conns = max(out.Count, sn.Count), max(out.Conns, sn.Conns)
		out.Lines = withLines(out.Lines, sn.Lines)
	}
	// Two incidents of the source that saw it may share lines: the larger count is
	// what it surely sent.
	out.merged = n > 1
	return out, n > 0
}

// seenAddr is Seen of an address over the incidents of a source; merged when more than
// one of them saw it, and its counts are lower bounds.
type seenAddr struct {
	Seen
	merged bool
}

// linesFrom are the lines of evs (sorted by time) that name addr.
func linesFrom(evs []abusewatch.Event, addr netip.Addr) []abusewatch.Event {
	var out []abusewatch.Event
	for _, ev := range evs {
		if ev.Addr.Unmap() == addr {
			out = append(out, ev)
		}
	}
	return out
}

// unkeptOf says whether a network incident of network source s holds lines it did not
// keep that may be those of a (one of s.addrs) outside the times of a's own incidents:
// a's counts from the network's kept lines are then only lower bounds. They may not
// when a has an incident that counts every line of it over all the network's times, or
// when the network's lines are all known: those it kept, and those of the incidents of
// its addresses within its times (t3: 30 addresses of 12 lines each, 360 in all).
func unkeptOf(s, a *source) bool {
	counting := func(x *abusewatch.Incident) bool { return x.Rule == "per-address" || x.Rule == "recurrence" }
	classesIn := func(x, n *abusewatch.Incident) bool {
		return !slices.ContainsFunc(x.Classes, func(c abusewatch.Class) bool { return !slices.Contains(n.Classes, c) })
	}
	return slices.ContainsFunc(s.members, func(n abusewatch.Incident) bool {
		nl := linesOf(&n)
		if !n.AboutNetwork() || (nl.complete && !s.told) {
			return false
		}
		if slices.ContainsFunc(a.members, func(x abusewatch.Incident) bool {
			return counting(&x) && !x.First.After(n.First) && !x.Last.Before(n.Last) && classesIn(&n, &x)
		}) {
			return false
		}
		if s.told {
			return true // its count is a bound, its lines not all known
		}
		// The lines of n known: those of each address's incidents that lie within n's
		// times and count every line of it there, and the others it kept.
		kept := map[netip.Addr][]*abusewatch.Event{}
		for _, e := range nl.evs {
			kept[e.Addr.Unmap()] = append(kept[e.Addr.Unmap()], e)
		}
		known := 0
		for _, b := range s.addrs {
			addr := b.inc.Addr.Unmap()
			within := !slices.ContainsFunc(b.members, func(x abusewatch.Incident) bool {
				return !counting(&x) || x.First.Before(n.First) || x.Last.After(n.Last) || !classesIn(&x, &n)
			})
			if !within {
				continue
			}
			known += b.inc.Count
			for _, e := range kept[addr] {
				if !slices.ContainsFunc(b.members, func(x abusewatch.Incident) bool { return !e.Time.Before(x.First) && !e.Time.After(x.Last) }) {
					known++
				}
			}
			delete(kept, addr)
		}
		for _, evs := range kept {
			known += len(evs)
		}
		return n.Count > known
	})
}

// addressXARF is the X-ARF report about the address of source a (its incidents
// merged), with its lines extra (sorted by time) that a network incident of the same
// report shows, when a is folded into network: they widen its times, and those
// outside the times of its incidents add to its counts. unkept says the network holds
// lines it did not keep that may be a's (unkeptOf): the counts are lower bounds.
func (c *Composer) addressXARF(id string, a *source, extra []abusewatch.Event, network netip.Prefix, unkept bool) (xarfReport, bool) {
	inc := &a.inc
	addr := inc.Addr.Unmap()
	lines, conns := inc.Count, max(inc.Attempts, 1)
	linesAtLeast, connsAtLeast := a.linesAtLeast || unkept, a.connsAtLeast || unkept
	evs := slices.Clone(inc.Evidence)
	first, last := inc.First, inc.Last
	hosts := slices.Clone(inc.Hosts)
	classes := slices.Clone(inc.Classes)
	known := map[lineKey]bool{}
	var ownLines []*abusewatch.Event
	for i := range inc.Evidence {
		known[keyOf(&inc.Evidence[i])] = true
		ownLines = append(ownLines, &inc.Evidence[i])
	}
	ownConns := portedConns(ownLines)
	newConns := map[connKey]bool{}
	for i := range extra {
		e := &extra[i]
		if known[keyOf(e)] {
			continue
		}
		known[keyOf(e)] = true
		evs, classes = append(evs, *e), append(classes, e.Class)
		first, last = minTime(first, e.Time), maxTime(last, e.Time)
		if e.Host != "" && !slices.Contains(hosts, e.Host) {
			hosts = append(hosts, e.Host)
		}
		within := slices.ContainsFunc(a.members, func(x abusewatch.Incident) bool { return !e.Time.Before(x.First) && !e.Time.After(x.Last) })
		switch {
		case within && slices.ContainsFunc(a.members, func(x abusewatch.Incident) bool { return countsLine(&x, e) }):
			// counted there already
		case within:
			// perhaps counted there: the counts stay what they surely are
			linesAtLeast, connsAtLeast = true, true
		default:
			lines++
			k := connKey{e.Host, e.Service, e.Addr.Unmap(), e.Port}
			switch {
			case e.Port == 0:
				connsAtLeast = true
			case !ownConns[k] && !newConns[k]:
				newConns[k] = true
				conns++
			}
		}
	}
	conns = min(conns, lines)
	slices.SortStableFunc(evs, func(a, b abusewatch.Event) int { return a.Time.Compare(b.Time) })
	slices.Sort(hosts)
	var rules []string
	for _, x := range a.members {
		rules = append(rules, x.Rule)
	}
	typ := xarfType(rules, classes)
	if typ == "" {
		return xarfReport{}, false
	}
	shown := make([]string, len(evs))
	for i, ev := range evs {
		shown[i] = c.evidenceLine(ev)
	}
	desc := fmt.Sprintf("%s connections (%s log lines) with %s from %s to %s between %s and %s.",
		atLeast(conns, connsAtLeast), atLeast(lines, linesAtLeast), xarfWhat(typ), addr, c.ourHosts(hosts, addr),
		c.timestamp(first), c.timestamp(last))
	if network.IsValid() {
		desc += fmt.Sprintf(" %s is one of the addresses of %s that this report names.", addr, network)
	}
	return c.xarfFor(id+"\x00"+inc.ID, typ, addr, first, last, evs, shown, desc,
		fmt.Sprintf("%d of the %s log lines, in our time zone", len(shown), atLeast(lines, linesAtLeast)))
}

// xarfFor builds one X-ARF report of type typ about addr, seen from first to last, with
// evs (the events of the lines evidence) and the descriptions given; key makes its
// report_id. There is none when evs give no source port. The port, its timestamp and
// the destination are those of one line, the first that gives a port: a desk behind
// CGNAT looks its subscriber up by port and time, and a port of one line with the time
// of another (first_seen from the store, the port from the sample) named a connection
// that never was (review desk48 M3). The destination is given only when known: our
// port as the line gave it, our host's address of addr's family when [mail] hosts
// gives exactly one (review desk48 L2).
func (c *Composer) xarfFor(key, typ string, addr netip.Addr, first, last time.Time, evs []abusewatch.Event, evidence []string, desc, evidenceDesc string) (xarfReport, bool) {
	var at *abusewatch.Event
	for i := range evs {
		if evs[i].Port != 0 && (at == nil || evs[i].Time.Before(at.Time)) {
			at = &evs[i]
		}
	}
	if at == nil {
		return xarfReport{}, false
	}
	port, when := int(at.Port), at.Time
	dstIP := c.hostAddress(at.Host, addr)
	org := c.reporter.Organisation
	if org == "" {
		org = c.reporter.Name
	}
	if org == "" {
		org = c.domain
	}
	contact := c.reporter.Email
	if contact == "" {
		contact = c.from.Address
	}
	log := []byte(strings.Join(evidence, "\n") + "\n")
	sum := sha256.Sum256(log)
	return xarfReport{
		XARFVersion:      xarfVersion,
		ReportID:         uuidFor(key),
		Timestamp:        when.In(c.reporter.Location).Format(time.RFC3339),
		Reporter:         xarfReporter{Org: truncateRunes(sanitize(org), 200), Contact: contact, Type: "automated"},
		SourceIdentifier: addr.String(),
		SourcePort:       port,
		DestinationIP:    dstIP,
		DestinationPort:  int(at.LocalPort),
		Class:            "connection",
		Type:             typ,
		Protocol:         xarfProtocol(evs),
		FirstSeen:        first.In(c.reporter.Location).Format(time.RFC3339),
		LastSeen:         last.In(c.reporter.Location).Format(time.RFC3339),
		EvidenceSource:   "ids_detection",
		Evidence: []xarfEvidence{{
			ContentType: "text/plain",
			Description: evidenceDesc,
			Payload:     base64.StdEncoding.EncodeToString(log),
			Hash:        "sha256:" + hex.EncodeToString(sum[:]),
			Size:        len(log),
		}},
		Description: truncateRunes(desc, 1000),
	}, true
}

// xarfEntities are the X-ARF attachments for the memo's sources, in memo order: one per
// address. seen is Known.Seen.
func (c *Composer) xarfEntities(id string, sources []*source, seen map[string]map[netip.Addr]Seen) ([]entity, error) {
	var out []entity
	var all []xarfReport
	reported := map[netip.Addr]bool{} // addresses the memo lists on their own
	for _, s := range sources {
		if !s.inc.AboutNetwork() && s.inc.Addr.IsValid() {
			reported[s.inc.Addr.Unmap()] = true
		}
	}
	for _, s := range sources {
		all = append(all, c.xarfReports(id, s, reported, seen)...)
	}
	for _, x := range all {
		b, err := json.MarshalIndent(x, "", "  ")
		if err != nil {
			return nil, err
		}
		name := fmt.Sprintf("xarf-%d.json", len(out)+1)
		var h message.Header
		h.SetContentType("application/json", map[string]string{"charset": "utf-8", "name": name})
		h.SetContentDisposition("attachment", map[string]string{"filename": name})
		h.Set("Content-Description", "X-ARF "+xarfVersion+" report: "+x.Type+" from "+x.SourceIdentifier)
		h.Set("Content-Transfer-Encoding", "quoted-printable")
		e, err := newEntity(h, func(w io.Writer) error {
			_, err := io.Copy(w, bytes.NewReader(append(b, '\n')))
			return err
		})
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// hostAddress is the address of our host h of addr's family that [mail] hosts gives,
// when it gives exactly one: which of several the attacker reached the line does not
// say, and a destination is never guessed. "" when not known.
func (c *Composer) hostAddress(h string, addr netip.Addr) string {
	if h == "" {
		return ""
	}
	var out []netip.Addr
	for _, a := range c.reporter.Hosts[h] {
		if a = a.Unmap(); a.IsValid() && a.Is4() == addr.Unmap().Is4() && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	if len(out) != 1 {
		return ""
	}
	return out[0].String()
}

// uuidFor derives a UUID from key (a report's ID and an incident's, and of an incident
// about a network, an address of it): deterministic, so the same report sent again
// carries the same X-ARF report_id, laid out as a version 4 UUID.
func uuidFor(key string) string {
	s := sha256.Sum256([]byte(key))
	u := s[:16]
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	h := hex.EncodeToString(u)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// truncateRunes cuts s to at most n runes, ending in "…" when it was cut.
func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(slices.Concat(r[:n-1], []rune("…")))
}

// xarfProtocol is the protocol of evs for X-ARF's "protocol": what the firewall logged
// when every event that names one names the same ("udp", "icmp"), else "tcp", which the
// lines of the servers (sshd, dovecot, postfix, …) are.
func xarfProtocol(evs []abusewatch.Event) string {
	out := ""
	for _, e := range evs {
		if e.Proto == "" {
			continue
		}
		p := strings.ToLower(e.Proto)
		if out != "" && p != out {
			return "tcp"
		}
		out = p
	}
	switch out {
	case "udp", "icmp", "sctp":
		return out
	case "icmpv6", "ipv6-icmp":
		return "icmp" // the schema's enum has no icmpv6
	}
	return "tcp"
}
