// Package abusewatch holds the domain types that every stage of the pipeline shares:
// a Record read from a log source, the Event detect makes of it, the Incident correlate
// builds from events, the Contact lookup finds for a network and the Report mailer sends.
// It holds nothing else: no I/O, no dependencies beyond the standard library.
package abusewatch

import (
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Record is one log line as read from a source, with the position just after it, so the
// position can be committed together with whatever the line produced.
type Record struct {
	Source string    // the configured source the line came from (a file path, "journal", …)
	Line   string    // the line without its trailing newline, exactly as read
	Offset int64     // byte offset just after this line in the source
	Read   time.Time // when the daemon read it (the fallback when the line has no usable timestamp)
	// Live says that the line was read as it was written: a followed file's line added
	// after the daemon had read the file to its end. Its time without a year may then be
	// a fast clock's, up to a month ahead; a line read in a backlog (a file's first read,
	// lines written while the daemon was stopped) may be eleven months old instead.
	Live bool
	// Year is the year of the line's time when the line gives none and the reader knows
	// it better than the line alone can tell: a scan reads a whole file, and a line dated
	// after a later line's date is of an earlier year (detect.BacklogYears). 0: the
	// year is inferred from Read.
	Year int
	// HostsAhead is, for lines read at once (a scan's file, a followed file's backlog,
	// a journal directory's read, a relay's flush to the syslog listener), how far the
	// last line of each host among them is dated after it was written (a file's last
	// write, the arrival of the last message), by the host the line names; a host
	// absent is not ahead. Every line of such a host is dated that much earlier: its
	// clock's offset is the same for all its lines, so none is after it was written and
	// their spacing stays (daemon/clock.go). Nil otherwise.
	HostsAhead map[string]time.Duration
}

// Class names what an event is, in the words of the threat, e.g. "auth-failure".
type Class string

// The classes detect produces today. Rule files may name others.
const (
	ClassAuthFailure Class = "auth-failure" // a failed login for an existing user (password, PAM)
	ClassInvalidUser Class = "invalid-user" // a login attempt for a user that does not exist
	ClassAuthSuccess Class = "auth-success" // a successful login: normal, kept to see success after failures
	ClassUnknown     Class = "unknown"      // an unknown record with an address in a generic trusted position: never reported by default
)

// Event is a record that detect recognised as something worth counting.
type Event struct {
	// What the rules read of every event comes first: a pass over history reads it for
	// millions, and the first two cache lines of an event hold it all (but the flags).
	Seq       uint64     // assigned by the store: unique and increasing
	Time      time.Time  // when it happened, from the record's own timestamp
	Addr      netip.Addr // the remote address, taken only from an anchored position in the record
	Class     Class      // what it is
	Port      uint16     // the remote port, 0 when unknown
	LocalPort uint16     // the port on our host that was hit, 0 when unknown
	Host      string     // our host that was hit (the syslog hostname)
	Service   string     // the program that logged it, e.g. "sshd"

	// What a firewall log says about a packet; empty for other records. Every packet a
	// firewall logged is forgeable (correlate.ForgeableClasses): the protocol and flags
	// are shown to the admin, and tell what the probe was.
	Proto string // "TCP", "UDP", "ICMP", … as the firewall logged it
	Flags string // the TCP flags, e.g. "SYN" or "ACK PSH", space-separated

	Name   string // a remote host name where the record gives a name instead of an address
	User   string // the user name tried (attacker-controlled text)
	Source string // the source the record came from
	Line   string // the record itself, the evidence for a report
}

// OwnStrings gives the strings of evs memory of their own, one allocation for all: a
// stored event's strings share the memory of the block it was read from, which whoever
// keeps a few events for long (an incident's evidence) must not keep alive, and which a
// reader may use again.
func OwnStrings(evs []Event) {
	n := 0
	for i := range evs {
		for _, f := range evs[i].StringFields() {
			n += len(*f)
		}
	}
	var b strings.Builder
	b.Grow(n)
	for i := range evs {
		for _, f := range evs[i].StringFields() {
			b.WriteString(*f)
		}
	}
	all := b.String()
	for i := range evs {
		for _, f := range evs[i].StringFields() {
			*f, all = all[:len(*f)], all[len(*f):]
		}
	}
}

// StringFields are the string fields of e, always in the same order: whoever copies or
// packs an event's strings goes through them.
func (e *Event) StringFields() [9]*string {
	return [9]*string{(*string)(&e.Class), &e.Name, &e.User, &e.Service, &e.Host, &e.Source, &e.Line, &e.Proto, &e.Flags}
}

// Count is the events of one day or hour (of an address, a network or all), by class:
// the store's long memory, which correlation reads.
type Count struct {
	Start   time.Time     // the day (midnight UTC) or the hour
	ByClass map[Class]int // events by class
}

// EmptyShape is the shape of an unknown record with neither program nor message (a
// header alone: "Dec  7 07:00:00 host "): the tuning list names it, and a shape is a
// key of the store, which may not be empty.
const EmptyShape = "(an empty message)"

// IncidentHead is what the store's indexes tell of one incident without reading it:
// its Key and ID (the slices are valid only during the call that hands them over), the
// times of its first and last events (UnixNano) and, when Known (stores written since
// schema 5), whether a login succeeded. A pass over history reads all of them at once.
type IncidentHead struct {
	Key, ID        []byte
	First, Last    int64
	Known, Success bool
}

// Incident is a set of related events that correlate judged worth acting on. It grows as
// new events arrive while its window is open instead of being created again.
type Incident struct {
	ID       string       // stable: derived from the key and the first event
	Key      string       // what the events have in common, e.g. "ip:203.0.113.7"
	Rule     string       // the correlation rule that made it, e.g. "per-address"
	Addr     netip.Addr   // the attacking address; of an incident AboutNetwork, the one it is looked up through
	Network  netip.Prefix // the attacking network the incident is about (a /32 or /128 for one address)
	Classes  []Class      // the distinct classes seen, sorted
	First    time.Time    // first event
	Last     time.Time    // last event
	Count    int          // number of events (log records)
	Attempts int          // distinct connections among them: what the threshold counts
	Hosts    []string     // our hosts that were hit, sorted
	Evidence []Event      // a bounded selection: the first events, then the last ones
	// Sources are, of an incident AboutNetwork, the distinct addresses its events came
	// from, sorted, at most MaxSources (a network's abuse desk acts on each, and the
	// evidence shows only a few): a recurrence's, those of the events it read (its
	// first day's, and all since it was made). Of a success-after-failure incident, the
	// other addresses of its /24 that failed. Nil for others about a single address.
	Sources  []netip.Addr
	Severity int    // 1 (low) to 5 (high)
	Success  bool   // a successful login was seen from the same address: possible compromise
	PTR      string // the reverse name of Addr when it resolves back (attacker-chosen: sanitise to show)

	// AdminOnly incidents are shown to the admin and never reported outside: rate
	// anomalies, success after failures, and incidents whose evidence is only classes
	// not worth a report on their own or forgeable events (any packet a firewall logged,
	// refused DNS queries).
	AdminOnly bool
}

// MaxSources is how many of its addresses an incident about a network names at most:
// every address of a /24.
const MaxSources = 256

// AddSources returns sources (sorted, distinct) with the addresses of evs added, up to
// MaxSources; a new slice if any was added, sources itself otherwise (it may be shared).
func AddSources(sources []netip.Addr, evs []*Event) []netip.Addr {
	out, copied := sources, false
	var last netip.Addr // the lines of one connection come together
	for _, e := range evs {
		a := e.Addr.Unmap()
		if !a.IsValid() || a == last || len(out) >= MaxSources {
			continue
		}
		last = a
		i, found := slices.BinarySearchFunc(out, a, netip.Addr.Compare)
		if found {
			continue
		}
		if !copied {
			out, copied = slices.Clone(out), true // sources stays as it was
		}
		out = slices.Insert(out, i, a)
	}
	return out
}

// UnmapPrefix is p masked, an IPv4-mapped IPv6 network (::ffff:a.b.c.d/n, n >= 96)
// written as the IPv4 network it stands for: addresses are unmapped before they are
// looked up or compared, so networks must be too.
func UnmapPrefix(p netip.Prefix) netip.Prefix {
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p.Masked()
}

// AboutNetwork says whether inc is about a whole network (the network rule's, or a /24
// that recurs) rather than one address: its Addr is then only the address it is looked
// up through, one among those its evidence names.
func (inc *Incident) AboutNetwork() bool { return inc.Network.IsValid() && !inc.Network.IsSingleIP() }

// Source is what inc is about, as it is shown: the attacking address, the network of an
// incident about a whole network, or "all sources" for one about neither (a rate anomaly).
func (inc *Incident) Source() string {
	switch {
	case inc.Addr.IsValid() && !inc.AboutNetwork():
		return inc.Addr.String()
	case inc.Network.IsValid():
		return inc.Network.String()
	}
	return "all sources"
}

// Contact is who is responsible for a network and how to reach them.
type Contact struct {
	Network   netip.Prefix // the network the contact speaks for
	Emails    []string     // where reports go, best first (the addresses of Mailboxes)
	Mailboxes []Mailbox    // each address with the role and the source it came from
	Role      string       // which role the first address came from: "static", "abuse", "technical", …
	Source    string       // where it was found: "config", the RDAP URL, the DNS zone, "guess"
	Registry  string       // the RIR or registry, e.g. "ARIN", empty for static contacts
	Name      string       // the network's name or handle in the registry
	Country   string       // the network's country code, when the registry gives one
	PTR       string       // the reverse name of the address, when forward-confirmed
	Guess     bool         // every address is a guess (abuse@/security@ of the reverse name's domain)
	// Covering is the less specific network whose contact this is, and CoveringName its
	// name in the registry, when Network itself names no one there (a customer's
	// assignment without an abuse contact, answered for by its provider's block); zero
	// otherwise. The memo says so rather than call the recipient Network's contact.
	Covering     netip.Prefix
	CoveringName string
	Problem      string    // why no address was found (a cached negative answer); empty otherwise
	Fetched      time.Time // when it was looked up
	// Networks are, of a contact found apart for addresses of several networks (a
	// guess of one domain, a national CERT, for addresses that no registry names
	// anyone for), each of those networks with its name in the registry, Network's
	// first; nil when it speaks for one. The memo names them all, not Network alone.
	Networks []NamedNetwork
}

// NamedNetwork is a network and its name or handle in its registry (may be empty).
type NamedNetwork struct {
	Network netip.Prefix
	Name    string
}

// Mailbox is one address of a Contact and where it came from, so a report (and the admin)
// can tell an abuse desk from a registrant or a guess.
type Mailbox struct {
	Email  string // the address
	Role   string // "abuse", "technical", "administrative", "registrant", "static", "cert", "security"
	Source string // "rdap", "dns" (an abuse-contact zone), "static" (the config) or "guess"
}

// ReportState is where a report is in the outbox.
type ReportState string

// The outbox states of a report.
const (
	ReportPendingApproval ReportState = "pending-approval" // review mode: waits for the admin
	ReportQueued          ReportState = "queued"           // ready to be delivered
	ReportSending         ReportState = "sending"          // delivery in progress
	ReportSent            ReportState = "sent"             // delivered; Location says where
	ReportFailed          ReportState = "failed"           // delivery failed for good; Error says why
	ReportRejected        ReportState = "rejected"         // the admin decided not to send it
	ReportHeld            ReportState = "held"             // observe mode: kept for the record, never sent
)

// ReportStates are the outbox states, in the order a report goes through them.
var ReportStates = []ReportState{ReportPendingApproval, ReportQueued, ReportSending, ReportSent, ReportFailed, ReportRejected, ReportHeld}

// Report is one abuse report to one responsible party about one or more incidents.
type Report struct {
	ID        string      // deterministic: derived from the recipient and the incidents
	MessageID string      // the RFC 5322 Message-ID, deterministic from ID
	Incidents []string    // incident IDs the report covers
	Contact   Contact     // who it goes to
	Subject   string      // the subject line (never contains log text)
	State     ReportState // where it is in the outbox
	Created   time.Time   // when it was written
	Updated   time.Time   // last state change
	Attempts  int         // delivery attempts so far
	Error     string      // the last delivery error
	Location  string      // where it went: a maildir file or the SMTP server's reply
	Message   []byte      // the complete RFC 5322 message

	// NextAttempt is when a queued report may be tried (back-off after a temporary
	// failure, the cooldown or a limit); zero means at once.
	NextAttempt time.Time
	Waiting     string // why a queued report waits (the cooldown or a limit); empty when it does not

	// Approved is when the admin last approved it (report approve); zero when never,
	// as for every report written before the field was (it says that a report to a
	// guessed contact that is queued was queued by the admin, not by an older version
	// that sent guesses on its own).
	Approved time.Time `json:",omitzero"`

	// FirstTried is when it was first tried since it was last queued or approved:
	// mail.give_up_after counts from it (a report that waited in the cooldown, or for
	// the admin, gets its full time of retries). Zero when not tried since.
	FirstTried time.Time `json:",omitzero"`
	// LastTried is when it was last tried since it was last queued or approved, and
	// Retried how long it has been retried since FirstTried by the gaps between its
	// attempts, each counting at most a few retry waits: a clock stepped forward (or a
	// daemon stopped for days) makes one long gap, not days of retries, and one stepped
	// back a gap of none. mail.give_up_after needs both the time since FirstTried and
	// Retried. Zero for a report last tried by a version before the fields: its next
	// attempt counts the whole time since FirstTried, as that version did.
	LastTried time.Time     `json:",omitzero"`
	Retried   time.Duration `json:",omitzero"`
	// Delivered are the recipients that took its message so far, and Refused those
	// whose server refused it for good: a delivery that some recipients refused for
	// now is tried again to the others only, and sent to no one twice.
	Delivered []string `json:",omitempty"`
	Refused   []string `json:",omitempty"`
	// BeforeData says, of a report being sent, that its message has not begun to
	// leave (no DATA yet): a stop then provably delivered nothing, and it is queued
	// again on its own. A report left sending without it (a stop after DATA began, or
	// by a version before the field) may have arrived: the admin decides.
	BeforeData bool `json:",omitempty"`
	// Redacted is what its mail masks: [mail] redact as it was written ("hosts",
	// "users", sorted). None for a report written without, and for every report
	// written before the field was: those count as written without, so a config that
	// masks has them written again before they go, and one that does not sends them
	// as they are (a mail masked by an older version tells less, never more).
	Redacted []string `json:",omitempty"`
}

// Reject marks r rejected at now, never to be sent, for reason (kept in Error); it no
// longer waits for anything.
func (r *Report) Reject(now time.Time, reason string) {
	r.State, r.Updated, r.Error, r.Waiting, r.NextAttempt = ReportRejected, now, reason, "", time.Time{}
}
