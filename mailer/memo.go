package mailer

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/abusewatch/abusewatch"
)

// memo is what the report template sees. Every string in it is either built here from
// trusted values (addresses from netip, times, counts, our own config) or has been through
// sanitize, so the template can print any field as it is. configs/report.tmpl documents
// the fields for template authors; keep the two in step.
type memo struct {
	Reporter  Reporter // who we are, from the config
	ReportID  string   // our reference for this report, for the recipient's reply (set by Compose)
	Network   string   // the contact's network, e.g. "203.0.113.0/24"
	Holder    string   // the network's name or handle in the registry, may be empty
	Recipient memoRecipient
	Reasons   []string // why we write: one phrase per kind of activity, e.g. "repeated failed SSH login attempts"
	Incidents []memoIncident
	Others    []memoSource // the sources beyond maxDetailed, a line each (mostSerious)
	Key       *memoKey     // the OpenPGP key that signs the report, nil when unsigned
	Follows   *memoFollows // the earlier report to the same party this one follows (Known.Earlier), nil when none
}

// memoFollows is the earlier report, to the same party, about incidents that the
// report's follow, grow from or repeat: the memo names it, so the desk finds its ticket.
type memoFollows struct {
	ReportID string // its reference, as its memo gave it
	Date     string // the day it went, in our zone, e.g. "2026-11-20"
}

// memoRecipient says why the report goes to whom it goes to, so that the memo says it
// truthfully: a registry's abuse desk is "the abuse contact listed for the network", but
// a national CERT is not the network's, a provider answering for a customer's network
// is not that network's own contact, and a guessed domain owner may have nothing to do
// with the address at all.
type memoRecipient struct {
	// Kind is how the contact was found:
	//   "abuse"     the abuse contact the registry (or an abuse-contact zone) lists for Network
	//   "role"      the registry lists no abuse contact for Network: Role's contact instead
	//   "covering"  Network names no one; the contact of Covering, a less specific network
	//               that holds it
	//   "static"    the [[contact]] table of our config names it for Network
	//   "cert"      the national CERT of Country: the registry names no one for Network
	//   "guess"     the registry names no one; abuse@/security@ of Domain, the domain of
	//               PTR, the reverse name of Address
	//   "listed"    a contact written before abusewatch kept how it was found
	Kind            string
	Role            string   // of "role": "technical", "administrative", "registrant", …
	Network, Holder string   // as the memo's; Network is empty when it is one address
	Covering        string   // of "covering": the less specific network, e.g. "62.239.0.0/16"
	CoveringHolder  string   // its name in the registry, may be empty
	PTR, Domain     string   // of "guess"
	Address         string   // of "guess": the address whose reverse name PTR is, or "" when not one of the memo's
	Country         string   // the network's country code, e.g. "BR" (may be empty)
	CERTs           []string // the national CERT's addresses among the recipients
	// SeveralNetworks: of "abuse", "role", "static" and "listed", the sources lie in
	// more networks than the contact's, each listing it (a provider listed for two
	// /25s, a [[contact]] given twice): Network and Holder are empty, and the memo
	// speaks of the networks of the addresses.
	SeveralNetworks bool
	// Networks: of "guess" and "cert", the sources lie in several networks that no
	// registry names anyone for (Contact.Networks), each "PREFIX (NAME)" (an address
	// alone where the registry knew no network for it), in the contact's order:
	// SeveralNetworks is set, Network and Holder are empty, and the memo names each.
	// Empty when they are not all known: the memo speaks of the networks of the
	// addresses.
	Networks []string
}

// recipientOf describes contact for the memo; sources are the memo's, for the address
// whose reverse name a guess came from.
func recipientOf(contact abusewatch.Contact, sources []*source) memoRecipient {
	r := memoRecipient{
		Holder:  sanitize(contact.Name),
		Country: contact.Country,
	}
	if p := contact.Network; p.IsValid() && !p.IsSingleIP() {
		r.Network = p.String()
	}
	others := 0 // the recipients that are not the CERT's
	for _, m := range contact.Mailboxes {
		if m.Role == "cert" {
			r.CERTs = append(r.CERTs, m.Email)
		} else {
			others++
		}
	}
	switch {
	case contact.Guess:
		r.Kind, r.PTR = "guess", sanitize(strings.TrimSuffix(contact.PTR, "."))
		for _, m := range contact.Mailboxes {
			if m.Source == "guess" {
				r.Domain = sanitize(m.Email[strings.LastIndexByte(m.Email, '@')+1:])
				break
			}
		}
		for _, s := range sources {
			if !s.inc.AboutNetwork() && s.inc.Addr.IsValid() && strings.EqualFold(strings.TrimSuffix(s.inc.PTR, "."), strings.TrimSuffix(contact.PTR, ".")) {
				r.Address = s.inc.Addr.Unmap().String()
				break
			}
		}
	case contact.Role == "static":
		r.Kind = "static"
	case len(r.CERTs) > 0 && others == 0:
		r.Kind = "cert"
	case contact.Covering.IsValid():
		r.Kind, r.Covering, r.CoveringHolder = "covering", contact.Covering.String(), sanitize(contact.CoveringName)
	case contact.Role == "abuse":
		r.Kind = "abuse"
	case contact.Role != "" && contact.Role != "cert":
		r.Kind, r.Role = "role", sanitize(contact.Role)
	default:
		r.Kind = "listed"
	}
	switch r.Kind {
	case "guess", "cert":
		// A guess (or a CERT) found apart for addresses of several networks, written
		// as one report: "no abuse contact for the network 177.0.0.0/14" was true of
		// the first of them alone.
		held, all := networksHolding(contact, sources)
		switch {
		case len(held) == 1 && all:
			r.Network, r.Holder = "", sanitize(held[0].Name)
			if !held[0].Network.IsSingleIP() {
				r.Network = held[0].Network.String()
			}
		case len(held) > 1 && all:
			r.Network, r.Holder, r.SeveralNetworks = "", "", true
			for _, n := range held {
				name := n.Network.String()
				if n.Network.IsSingleIP() {
					name = n.Network.Addr().String()
				}
				if h := sanitize(n.Name); h != "" {
					name += " (" + h + ")"
				}
				r.Networks = append(r.Networks, name)
			}
		case len(held) > 1 || (len(held) == 1 && !all):
			// Some lie in none of them (a report written before the contact kept
			// them all): the networks of the addresses, unnamed.
			r.Network, r.Holder, r.SeveralNetworks = "", "", true
		}
	case "abuse", "role", "static", "listed":
		// The party of a network incident's share takes the contact of its first
		// address (the daemon's byParty): "the abuse contact listed for the network
		// 62.239.237.0/25 (NET-A)" was true, but of the six addresses below three
		// were NET-B's (review 21c R5).
		if beyondNetwork(contact.Network, sources) {
			r.Network, r.Holder, r.SeveralNetworks = "", "", true
		}
	}
	return r
}

// networksHolding are the networks of contact.Networks (of a contact found for several)
// that hold an address of sources, in their order, and whether every address lies in
// one of them; none when contact names one network only. A network incident stored
// before its addresses were kept counts by its network.
func networksHolding(contact abusewatch.Contact, sources []*source) (held []abusewatch.NamedNetwork, all bool) {
	if len(contact.Networks) < 2 {
		return nil, false
	}
	var addrs []netip.Addr
	for _, s := range sources {
		switch {
		case !s.inc.AboutNetwork():
			if s.inc.Addr.IsValid() {
				addrs = append(addrs, s.inc.Addr.Unmap())
			}
		case len(s.inc.Sources) == 0:
			addrs = append(addrs, abusewatch.UnmapPrefix(s.inc.Network).Addr())
		default:
			for _, a := range s.inc.Sources {
				addrs = append(addrs, a.Unmap())
			}
		}
	}
	holds := make([]bool, len(contact.Networks))
	all = true
	for _, a := range addrs {
		i := slices.IndexFunc(contact.Networks, func(n abusewatch.NamedNetwork) bool { return abusewatch.UnmapPrefix(n.Network).Contains(a) })
		if i < 0 {
			all = false
			continue
		}
		holds[i] = true
	}
	for i, n := range contact.Networks {
		if holds[i] {
			held = append(held, n)
		}
	}
	return held, all
}

// beyondNetwork says whether an address of sources lies outside the network p (one
// wider than a single address); a network incident stored before its addresses were
// kept is taken to lie within.
func beyondNetwork(p netip.Prefix, sources []*source) bool {
	if !p.IsValid() || p.IsSingleIP() {
		return false
	}
	p = abusewatch.UnmapPrefix(p)
	for _, s := range sources {
		if !s.inc.AboutNetwork() {
			if s.inc.Addr.IsValid() && !p.Contains(s.inc.Addr.Unmap()) {
				return true
			}
			continue
		}
		for _, a := range s.inc.Sources {
			if !p.Contains(a.Unmap()) {
				return true
			}
		}
	}
	return false
}

// memoSource is a source the memo lists on one line, without its log lines.
type memoSource struct {
	Source          string // the address, or the network
	First, Last     string // as in memoIncident
	Count           int
	Attempts        int
	CountAtLeast    bool // as in memoIncident
	AttemptsAtLeast bool
}

// A memo details at most maxDetailed incidents, with their log lines (and the X-ARF
// parts, one each); the others are listed a line each. A busy host's report to a large
// provider covers hundreds of sources a week, and after `correlate` over weeks
// thousands: 2,000 sources in detail made an 8 MB mail, past many desks' size limits
// and nobody's reading.
const maxDetailed = 25

// mostSerious splits sources (in the order the memo shows them) into the n most
// serious (severity, then connections, then events) and the others, each in the order
// they came in.
func mostSerious(sources []*source, n int) (detailed, others []*source) {
	if len(sources) <= n {
		return sources, nil
	}
	order := make([]int, len(sources))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		x, y := &sources[a].inc, &sources[b].inc
		return cmp.Or(cmp.Compare(y.Severity, x.Severity), cmp.Compare(y.Attempts, x.Attempts), cmp.Compare(y.Count, x.Count))
	})
	chosen := make([]bool, len(sources))
	for _, i := range order[:n] {
		chosen[i] = true
	}
	for i, s := range sources {
		if chosen[i] {
			detailed = append(detailed, s)
		} else {
			others = append(others, s)
		}
	}
	return detailed, others
}

// memoKey names the signing key so the recipient can check the signature.
type memoKey struct {
	Fingerprint string
	URL         string // where to fetch it, may be empty
}

type memoIncident struct {
	Source    string   // the attacking address, or the network
	IsNetwork bool     // Source is a network: the incident is about it as a whole
	Addresses []string // of a network, the addresses its lines below name, in order
	// Of a network, every address its events came from (Incident.Sources, and those of
	// the incidents of its addresses it holds), four to a line, and how many: "12", or
	// where the list may leave some out "256 or more; these 256 are listed" (at
	// abusewatch.MaxSources, or a recurrence not known to name every address of its
	// lines: Known.AllSources); none for an incident stored before abusewatch kept them.
	SourceLines []string
	SourceCount string
	PTR         string // of an address, its forward-confirmed reverse name, sanitised, or ""
	First       string // first event, in our zone with the offset from GMT (a day in GMT where only that is known: Composer.seen)
	Last        string // last event, likewise
	Count       int    // number of events (log lines)
	Attempts    int    // distinct connections among the events
	// Count, Attempts are lower bounds: the source stands for incidents that share
	// lines, and how many they share is known only within bounds.
	CountAtLeast, AttemptsAtLeast bool
	Hosts                         []string // our hosts that were hit, "name (address)" when [mail] hosts gives one of the source's family
	Evidence                      []string // "TIME  LINE", each line sanitised and bounded: the first, a sample, the last
	Omitted                       int      // events not shown as evidence lines (at least, with CountAtLeast)
	Success                       bool     // a successful login was seen from the source
}

// reasons says why we write about sources: one phrase per kind of activity, in the
// words of the rule that found it where it says more than the class (a port scan, a
// sweep, a recurrence and on how many days: recurrenceDays), each once.
func reasons(sources []*source, recurrences map[string]Recurrence) []string {
	// A recurrence's classes are its scope's by day (a /24's, of addresses it does
	// not name too): of those the store knows, it gives reasons for the classes of
	// the lines it reports alone.
	reports := func(inc *abusewatch.Incident, cl abusewatch.Class) bool {
		r, ok := recurrences[inc.ID]
		return inc.Rule != "recurrence" || !ok || r.Lines == 0 || r.Days[cl] > 0
	}
	var out []string
	for _, s := range sources {
		// Of a class that a sweep, a recurrence or a port scan of this source names,
		// the plain phrase says less: it goes.
		qualified := map[abusewatch.Class]bool{}
		for _, inc := range s.members {
			if !s.inc.AboutNetwork() && (inc.Rule == "sweep" || inc.Rule == "recurrence" || inc.Rule == "port-scan") {
				for _, cl := range inc.Classes {
					qualified[cl] = qualified[cl] || reports(&inc, cl)
				}
			}
		}
		for _, inc := range s.members {
			if inc.Rule == "port-scan" {
				if r := "a port scan of our hosts"; !slices.Contains(out, r) {
					out = append(out, r)
				}
				continue
			}
			for _, cl := range inc.Classes {
				// A success is not why we write; it is reported per incident as a possible compromise.
				if cl == abusewatch.ClassAuthSuccess {
					continue
				}
				r := phrase(cl, loginProtocol(inc.Evidence))
				switch {
				case inc.Rule == "sweep":
					r += " on several of our hosts in turn (a sweep)"
				case inc.Rule == "recurrence" && !reports(&inc, cl):
					continue
				case inc.Rule == "recurrence":
					rec, ok := recurrences[inc.ID]
					r += recurrenceDays(&inc, cl, rec, ok && rec.Lines > 0)
				case qualified[cl]:
					continue
				}
				if !slices.Contains(out, r) {
					out = append(out, r)
				}
			}
		}
	}
	return out
}

// phrase says in plain words what a class of event is, for the memo's "why we write";
// protocol names the server whose failed logins they are ("" when not one known).
// Classes that rule files add get a neutral phrase.
func phrase(c abusewatch.Class, protocol string) string {
	switch c {
	case abusewatch.ClassAuthFailure:
		if protocol == "" {
			return "repeated failed login attempts"
		}
		return "repeated failed " + protocol + " login attempts"
	case abusewatch.ClassInvalidUser:
		return "login attempts for user names that do not exist on our host"
	case "port-scan", "portscan", "scan":
		return "a port scan of our host"
	case "port-probe":
		return "connection attempts that our firewall blocked"
	case "protocol-probe":
		return "connections that did not speak the expected protocol or gave up before logging in"
	case "refused-connect":
		return "connections that our access rules refused"
	case "ftp-probe", "ftp-failure":
		return "an FTP probe (failed FTP logins)"
	case "telnet-probe":
		return "a telnet probe"
	case "rpc-probe":
		return "an RPC probe"
	case "smtp-auth-failure":
		return "repeated failed SMTP login attempts"
	}
	return `activity that our monitoring classifies as "` + sanitize(string(c)) + `"`
}

// The memo shows at most maxEvidence lines per incident: the first evidenceEnds, a
// sample from the middle, and the last evidenceEnds, with the total count. Enough to
// match against the recipient's own logs, short enough to read in a minute.
const (
	maxEvidence  = 12
	evidenceEnds = 5
)

// evidenceSample picks the lines to show from events, oldest first.
func evidenceSample(events []abusewatch.Event) []abusewatch.Event {
	if len(events) <= maxEvidence {
		return events
	}
	out := slices.Clone(events[:evidenceEnds])
	middle := events[evidenceEnds : len(events)-evidenceEnds]
	n := maxEvidence - 2*evidenceEnds
	for i := range n {
		// Evenly spaced, so the sample spans the whole middle.
		out = append(out, middle[(2*i+1)*len(middle)/(2*n)])
	}
	return append(out, events[len(events)-evidenceEnds:]...)
}

// ourHosts is "our hosts web1, web2" for an X-ARF description about src, or "our
// hosts" when none is named (the syslog listener knew them only by the senders'
// addresses).
func (c *Composer) ourHosts(hosts []string, src netip.Addr) string {
	if names := c.hostNames(hosts, src); len(names) > 0 {
		return "our hosts " + strings.Join(names, ", ")
	}
	return "our hosts"
}

// hostNames shows our hosts as "name (address)" where the config gives an address of
// src's family (an IPv6 source reached the host's IPv6 address, never its IPv4 one),
// "name (a1, a2)" where it gives several, the name alone where it gives none: rather no
// address than a wrong one. A host the syslog listener knows only by its sender's
// address, "[192.0.2.10]", is left out: that address is ours, not a host the abuse desk
// should hear of.
func (c *Composer) hostNames(hosts []string, src netip.Addr) []string {
	out := make([]string, 0, len(hosts))
	for _, h := range hosts {
		if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
			continue
		}
		if c.redact.Hosts {
			if l := c.hostLabel(h, src); !slices.Contains(out, l) {
				out = append(out, l)
			}
			continue
		}
		var addrs []string
		for _, a := range c.reporter.Hosts[h] {
			if a.IsValid() && src.IsValid() && a.Unmap().Is4() == src.Unmap().Is4() {
				addrs = append(addrs, a.Unmap().String())
			}
		}
		name := sanitize(h)
		if len(addrs) > 0 {
			name += " (" + strings.Join(addrs, ", ") + ")"
		}
		out = append(out, name)
	}
	return out
}

// sourceAddr is an address of inc's source (as Incident.Source shows it), for its
// family: the address, or the network's first; none of a rate anomaly.
func sourceAddr(inc *abusewatch.Incident) netip.Addr {
	if inc.Addr.IsValid() && !inc.AboutNetwork() {
		return inc.Addr
	}
	return inc.Network.Addr()
}

// memo is what the template shows of sources (in detail) and others (a line each);
// recurrences are Known.Recurrences.
func (c *Composer) memo(contact abusewatch.Contact, sources, others []*source, recurrences map[string]Recurrence) memo {
	m := memo{
		Reporter: c.reporter,
		Network:  contact.Network.String(),
		Holder:   sanitize(contact.Name),
		Reasons:  reasons(slices.Concat(sources, others), recurrences),
	}
	if c.signer != nil {
		m.Key = &memoKey{Fingerprint: c.signer.Fingerprint(), URL: c.signer.KeyURL()}
	}
	if !contact.Network.IsValid() {
		m.Network = ""
	}
	m.Recipient = recipientOf(contact, slices.Concat(sources, others))
	if m.Recipient.SeveralNetworks {
		// Not the network of every address: a template of one's own that prints
		// .Network says no more than the default one.
		m.Network, m.Holder = "", ""
	}
	for _, s := range sources {
		m.Incidents = append(m.Incidents, c.memoIncident(s))
	}
	for _, s := range others {
		inc := &s.inc
		m.Others = append(m.Others, memoSource{Source: inc.Source(), First: c.seen(inc.First, s.firstDay), Last: c.seen(inc.Last, s.lastDay),
			Count: inc.Count, Attempts: max(inc.Attempts, 1), CountAtLeast: s.linesAtLeast, AttemptsAtLeast: s.connsAtLeast})
	}
	return m
}

func (c *Composer) memoIncident(s *source) memoIncident {
	inc := &s.inc
	mi := memoIncident{
		Source:          inc.Source(),
		IsNetwork:       inc.AboutNetwork(),
		PTR:             sanitize(inc.PTR),
		First:           c.seen(inc.First, s.firstDay),
		Last:            c.seen(inc.Last, s.lastDay),
		Count:           inc.Count,
		Attempts:        max(inc.Attempts, 1),
		CountAtLeast:    s.linesAtLeast,
		AttemptsAtLeast: s.connsAtLeast,
		Success:         inc.Success,
		Hosts:           c.hostNames(inc.Hosts, sourceAddr(inc)),
	}
	shown := evidenceSample(inc.Evidence)
	mi.Omitted = max(0, inc.Count-len(shown))
	for _, ev := range shown {
		mi.Evidence = append(mi.Evidence, c.evidenceLine(ev))
	}
	if mi.IsNetwork {
		// One address's reverse name says nothing of the network's others.
		mi.PTR = ""
		for _, a := range addressesOf(shown) {
			mi.Addresses = append(mi.Addresses, a.String())
		}
		for i := 0; i < len(inc.Sources); i += 4 {
			line := make([]string, 0, 4)
			for _, a := range inc.Sources[i:min(i+4, len(inc.Sources))] {
				line = append(line, a.String())
			}
			mi.SourceLines = append(mi.SourceLines, strings.Join(line, ", "))
		}
		if n := len(inc.Sources); n > 0 {
			mi.SourceCount = strconv.Itoa(n)
			if s.partialSources {
				mi.SourceCount = fmt.Sprintf("%d or more; these %d are listed", n, n)
			}
		}
	}
	return mi
}

// evidenceLine is a log line as the memo and the X-ARF parts show it: our time, the
// line sanitised.
func (c *Composer) evidenceLine(ev abusewatch.Event) string {
	return c.timestamp(ev.Time) + "  " + sanitize(c.redactLine(ev))
}

// addressesOf lists the distinct addresses of evs, in order of first appearance.
func addressesOf(evs []abusewatch.Event) []netip.Addr {
	var out []netip.Addr
	for _, ev := range evs {
		if a := ev.Addr.Unmap(); a.IsValid() && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

func (c *Composer) timestamp(t time.Time) string {
	return t.In(c.reporter.Location).Format(timeLayout)
}

// sampleRecipients are contact as each kind of recipient the memo tells apart
// (recipientOf), the registry's abuse desk last.
func sampleRecipients(contact abusewatch.Contact) []abusewatch.Contact {
	with := func(f func(c *abusewatch.Contact)) abusewatch.Contact {
		c := contact
		c.Mailboxes = slices.Clone(c.Mailboxes)
		f(&c)
		return c
	}
	cert := abusewatch.Mailbox{Email: "cert@example.net", Role: "cert", Source: "static"}
	return []abusewatch.Contact{
		with(func(c *abusewatch.Contact) {
			c.Role, c.Mailboxes = "technical", []abusewatch.Mailbox{{Email: c.Emails[0], Role: "technical", Source: "rdap"}}
		}),
		with(func(c *abusewatch.Contact) {
			c.Covering, c.CoveringName = netip.MustParsePrefix("192.0.0.0/16"), "EXAMPLE-BLOCK"
		}),
		with(func(c *abusewatch.Contact) {
			c.Role, c.Name, c.Mailboxes = "static", "", []abusewatch.Mailbox{{Email: c.Emails[0], Role: "static", Source: "static"}}
		}),
		with(func(c *abusewatch.Contact) {
			c.Role, c.Emails, c.Mailboxes = "cert", []string{cert.Email}, []abusewatch.Mailbox{cert}
		}),
		with(func(c *abusewatch.Contact) {
			c.Role, c.Guess, c.PTR, c.Emails = "abuse", true, "host.example.com", []string{"abuse@example.com", cert.Email}
			c.Mailboxes = []abusewatch.Mailbox{{Email: "abuse@example.com", Role: "abuse", Source: "guess"}, cert}
		}),
		with(func(c *abusewatch.Contact) {
			c.Role, c.Guess, c.PTR, c.Emails = "abuse", true, "host.example.com", []string{"abuse@example.com"}
			c.Mailboxes = []abusewatch.Mailbox{{Email: "abuse@example.com", Role: "abuse", Source: "guess"}}
			c.Network, c.Networks = netip.MustParsePrefix("192.0.2.0/31"), []abusewatch.NamedNetwork{
				{Network: netip.MustParsePrefix("192.0.2.0/31"), Name: "EXAMPLE-A"}, {Network: netip.MustParsePrefix("192.0.2.2/31")}}
		}),
		with(func(c *abusewatch.Contact) { c.Role, c.Mailboxes = "", nil }),
		with(func(c *abusewatch.Contact) {
			c.Emails = append(c.Emails, cert.Email)
			c.Mailboxes = append(c.Mailboxes, cert)
		}),
		contact,
	}
}

// sample returns a contact, incidents in detail and one listed a line, that take every
// branch a template is likely to have (success or not, lines omitted or not, known and
// unknown classes), so NewComposer can refuse a template that parses but cannot render.
func sample() (abusewatch.Contact, []*source, []*source) {
	t := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	contact := abusewatch.Contact{
		Network:   netip.MustParsePrefix("192.0.2.0/24"),
		Emails:    []string{"abuse@example.net"},
		Mailboxes: []abusewatch.Mailbox{{Email: "abuse@example.net", Role: "abuse", Source: "rdap"}},
		Role:      "abuse",
		Name:      "EXAMPLE-NET",
		Country:   "NL",
	}
	detailed := []abusewatch.Incident{{
		ID:       "sample-1",
		Addr:     netip.MustParseAddr("192.0.2.1"),
		Network:  netip.MustParsePrefix("192.0.2.1/32"),
		Classes:  []abusewatch.Class{abusewatch.ClassAuthFailure, abusewatch.ClassInvalidUser, "sample"},
		First:    t,
		Last:     t.Add(time.Minute),
		Count:    3,
		Attempts: 2,
		Hosts:    []string{"host"},
		Evidence: []abusewatch.Event{{Time: t, Line: "sample"}},
		Success:  true,
	}, {
		ID:       "sample-2",
		Network:  netip.MustParsePrefix("192.0.2.0/24"),
		Classes:  []abusewatch.Class{abusewatch.ClassAuthFailure},
		First:    t,
		Last:     t,
		Count:    1,
		Attempts: 1,
		Hosts:    []string{"host"},
		Evidence: []abusewatch.Event{{Time: t, Line: "sample"}},
		Sources:  []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")},
	}}
	others := []abusewatch.Incident{{
		ID:       "sample-3",
		Addr:     netip.MustParseAddr("192.0.2.3"),
		Network:  netip.MustParsePrefix("192.0.2.3/32"),
		Classes:  []abusewatch.Class{abusewatch.ClassAuthFailure},
		First:    t,
		Last:     t.Add(time.Minute),
		Count:    4,
		Attempts: 2,
	}}
	// Each a source of its own (folded, the address would go into the network), and
	// the network's counts and addresses known only as lower bounds.
	alone := func(incs []abusewatch.Incident) []*source {
		var out []*source
		for _, inc := range incs {
			out = append(out, merge([]abusewatch.Incident{inc}))
		}
		return out
	}
	d, o := alone(detailed), alone(others)
	d[1].linesAtLeast, d[1].connsAtLeast, d[1].partialSources = true, true, true
	o[0].linesAtLeast, o[0].connsAtLeast = true, true
	return contact, d, o
}

// loginProtocol names the protocol of the servers whose failed logins evs hold, when
// they are all one's (protocolOf): a desk is told "failed IMAP/POP3 login attempts" for
// dovecot's lines, not SSH ones. It is "" for failed logins of several protocols, or of
// a program it does not know.
func loginProtocol(evs []abusewatch.Event) string {
	out := ""
	for _, e := range evs {
		if (e.Class != abusewatch.ClassAuthFailure && e.Class != abusewatch.ClassInvalidUser) || e.Service == "" {
			continue // a line of no program tells nothing
		}
		p := protocolOf(e.Service)
		if p == "" || (out != "" && p != out) {
			return ""
		}
		out = p
	}
	return out
}

// protocolOf is the protocol of the server program (an event's Service), as the shipped
// attack rules (configs/rules/attack.d) name the programs; "" for another.
func protocolOf(program string) string {
	switch program {
	case "sshd", "sshd-session", "dropbear":
		return "SSH"
	case "ftpd", "wu-ftpd", "wu.ftpd", "in.ftpd", "in.wuftpd", "proftpd", "pure-ftpd", "vsftpd":
		return "FTP"
	case "mariadbd", "mysqld":
		return "MySQL"
	case "postgres":
		return "PostgreSQL"
	case "dovecot", "imapd", "imapd-ssl", "pop3d", "pop3d-ssl", "courier-imapd", "courier-pop3d", "courierpop3login", "courier-imap":
		return "IMAP/POP3"
	case "exim", "exim4", "sendmail", "sm-mta":
		return "SMTP"
	}
	if strings.HasPrefix(program, "postfix/") {
		return "SMTP"
	}
	return ""
}
