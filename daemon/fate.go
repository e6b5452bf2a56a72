package daemon

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/correlate"
	"github.com/abusewatch/abusewatch/mailer"
	"github.com/abusewatch/abusewatch/store"
)

// Why an incident has no report outside is said here once, for everything that shows
// incidents: `incidents`, `ip`, `net`, `scan`, `report preview` and the daily summary.
// Each said what it knew ("none yet", "no abuse contact found"), and an incident for the
// admin only, or of a network excluded since, read as if its report were on its way.

// exclusionGate says which addresses and networks are never reported (the correlator's
// never-report networks).
type exclusionGate interface {
	Excluded(addr netip.Addr) bool
	ExcludedNetwork(p netip.Prefix) bool
}

// contactMisses are the incidents for which the outbox's last rounds found no abuse
// contact, each with why. The rounds try them again; meanwhile the commands say why
// they wait. It outlives a reload, like the Counters, and forgets what no round tried
// for a day (an incident that left the work list: expired, pardoned). With a store, each
// round's changes are saved there at its end (save), and what this process has not met
// is read from there: a restarted daemon, and the commands that run without one
// (`incidents` after `scan`), say what the last rounds found.
type contactMisses struct {
	mu  sync.Mutex
	why map[string]contactMiss
	st  *store.Store // nil: memory only
	// What save writes: the misses set (nil: cleared) since the last save, and the
	// time before which stored ones are forgotten.
	changed  map[string]*store.ContactMiss
	forgetAt time.Time
	forgot   time.Time // the forgetAt of the last save that forgot: one a round was a write a minute
}

type contactMiss struct {
	code  string // UnreportedNoContact, UnreportedDoNotContact, UnreportedNotWritten, UnreportedWaitsForWider, UnreportedWaitsForParty
	why   string
	at    time.Time
	retry bool // no contact found, or no report written, as opposed to one never to be written to or one that waits its turn
}

// retries says whether a miss of code is one the rounds try again to get past.
func retries(code string) bool {
	return code != UnreportedDoNotContact && code != UnreportedWaitsForWider && code != UnreportedWaitsForParty
}

// set records why incident id has no report, under code (UnreportedNoContact,
// UnreportedDoNotContact or UnreportedNotWritten); all but the do-not-contact list's are
// tried again every round.
func (m *contactMisses) set(id, code, why string, at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.why == nil {
		m.why = map[string]contactMiss{}
	}
	m.why[id] = contactMiss{code, why, at, retries(code)}
	m.change(id, &store.ContactMiss{Code: code, Why: why, At: at})
}

// forgetBefore forgets the misses of the rounds before t.
func (m *contactMisses) forgetBefore(t time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	maps.DeleteFunc(m.why, func(_ string, c contactMiss) bool { return c.at.Before(t) })
	m.forgetAt = t
}

func (m *contactMisses) clear(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.why, id)
	m.change(id, nil)
}

// change notes for save that incident id's miss is now miss (nil: none).
func (m *contactMisses) change(id string, miss *store.ContactMiss) {
	if m.st == nil {
		return
	}
	if m.changed == nil {
		m.changed = map[string]*store.ContactMiss{}
	}
	m.changed[id] = miss
}

// save writes the changes since the last save to the store, in one transaction: a
// round's end calls it. What cannot be written stays to be written by the next.
func (m *contactMisses) save() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.st == nil || (len(m.changed) == 0 && m.forgetAt.Sub(m.forgot) < time.Hour) {
		return nil
	}
	set := map[string]store.ContactMiss{}
	var cleared []string
	for id, miss := range m.changed {
		if miss == nil {
			cleared = append(cleared, id)
		} else {
			set[id] = *miss
		}
	}
	if err := m.st.SaveContactMisses(set, cleared, m.forgetAt); err != nil {
		return err
	}
	if !m.forgetAt.IsZero() {
		m.forgot = m.forgetAt
	}
	m.changed = nil
	return nil
}

// retried counts the incidents for which no contact was found.
func (m *contactMisses) retried() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, c := range m.why {
		if c.retry {
			n++
		}
	}
	return n
}

// get returns the miss of incident id: this process's rounds', else the one stored by
// an earlier process's (the zero contactMiss: none).
func (m *contactMisses) get(id string) (contactMiss, error) {
	if m == nil {
		return contactMiss{}, nil
	}
	m.mu.Lock()
	c, ok := m.why[id]
	st, forgotten := m.st, m.forgetAt
	if _, changed := m.changed[id]; changed {
		ok = true // cleared since the last save: the store still has what it was
	}
	m.mu.Unlock()
	if ok || st == nil {
		return c, nil
	}
	stored, ok, err := st.ContactMissOf(id)
	if err != nil || !ok || stored.At.Before(forgotten) {
		return contactMiss{}, err
	}
	return contactMiss{stored.Code, stored.Why, stored.At, retries(stored.Code)}, nil
}

// The codes that say, for scripts, why an incident has no report (the JSON's
// unreported_code, beside the words of unreported, which hold times and addresses).
// They are stable: the README lists them.
const (
	UnreportedPending       = "pending"             // nothing holds it back: its report is written at the next round
	UnreportedSettling      = "settling"            // policy.settle has not passed since its first event
	UnreportedUnknown       = "unknown"             // the stored misses cannot be read: pending, or a miss
	UnreportedCompromise    = "possible-compromise" // a login from it succeeded
	UnreportedRateAnomaly   = "rate-anomaly"        // for the admin only
	UnreportedNetworkTooFew = "network-too-few-reportable"
	UnreportedAdminOnly     = "admin-only"         // probes or spoofable packets only
	UnreportedOwnUser       = "own-user-elsewhere" // like a user of ours mistyping: its accounts logged in from elsewhere
	UnreportedNeverReport   = "never-report"
	UnreportedTooOld        = "too-old"        // policy.max_age
	UnreportedDoNotContact  = "do-not-contact" // [[do_not_contact]]
	UnreportedNoContact     = "no-contact"     // the last round found no abuse contact
	UnreportedNotWritten    = "report-not-written"
	UnreportedWaitsForWider = "waits-for-wider" // a split network incident waits for a wider one's reports (widerWait at most)
	UnreportedWaitsForParty = "waits-for-party" // its party (of a split network incident, one of them) has a report not gone yet, or is in its cooldown
)

// Unreported says why incidents, and networks, are not reported outside. What decides
// it: an incident's own flags, the never-report networks, policy.max_age at the newest
// event, and the last rounds' lookups. A nil Unreported says nothing.
type Unreported struct {
	cfg     *Config // for the rule that never reports a network; nil: not named
	gate    exclusionGate
	cutoff  time.Time // policy.max_age before now, when limited
	limited bool
	maxAge  Duration
	misses  *contactMisses // nil: no round ran here
	now     time.Time
	settle  time.Duration // policy.settle; 0: none
	// readWhole: the incidents a scan made or grew, which policy.settle does not hold.
	readWhole map[string]bool
	round     *roundTaken // the pipeline's last round, when it kept it (a scan's); nil: not known
	zone      *time.Location
}

// firstStored is when inc was first stored (zero: not known), read only when
// policy.settle is set.
func (u *Unreported) firstStored(inc abusewatch.Incident) time.Time {
	if u.settle <= 0 || u.misses == nil || u.misses.st == nil {
		return time.Time{}
	}
	stored, err := u.misses.st.FirstStored([]string{inc.ID})
	if err != nil {
		return time.Time{}
	}
	return stored[inc.ID]
}

// Incident says why inc is not reported, the weightiest reason first (a possible
// compromise before the admin-only rules before the policy before the lookups), or ""
// when nothing known holds it back: its report is written, or will be at the next round.
func (u *Unreported) Incident(inc abusewatch.Incident) string {
	code, why := u.Reason(inc)
	if code == UnreportedUnknown {
		return ""
	}
	return why
}

// Reason is why inc is not reported: one of the Unreported codes and the words of
// Incident. Nothing holding it back is UnreportedPending with no words, or with words
// when the pipeline's last round left it to the next (roundTaken); without the
// daemon, where that may also be a lookup's miss, it is UnreportedUnknown, with words
// that say so. A nil Unreported says nothing.
func (u *Unreported) Reason(inc abusewatch.Incident) (code, why string) {
	switch {
	case u == nil:
		return "", ""
	case inc.Success:
		return UnreportedCompromise, "a login from it succeeded (possible compromise): never reported outside, check it yourself"
	case len(correlate.LoginsElsewhere(inc)) > 0:
		why := "for you only: it looks like a user of ours mistyping on a new address (a few failures, every account it failed on logged in from elsewhere within minutes):"
		for i, l := range correlate.LoginsElsewhere(inc) {
			if i > 0 {
				why += ";"
			}
			why += fmt.Sprintf(" failures for %s from %s, who logged in from %s at %s", sanitizeText(l.User), inc.Addr.Unmap(), l.Addr.Unmap(), l.Time.UTC().Format(time.RFC3339))
		}
		return UnreportedOwnUser, why + "; check it yourself"
	case inc.AdminOnly && inc.Rule == "rate-anomaly":
		return UnreportedRateAnomaly, "a rate anomaly is for you only, never reported outside"
	case inc.AdminOnly && inc.Rule == "network" && correlate.OneHost(inc.Network):
		return UnreportedNetworkTooFew, "for you only: its reportable, unforgeable evidence met no rule of one address (an IPv6 /64 is judged as one host: correlate.threshold and windows, sweep_hosts, port_scan_ports), and fewer than correlate.network_addresses of its addresses sent it (its classes: " +
			joinClasses(inc.Classes) + "); probes or spoofable packets are never reported outside on their own"
	case inc.AdminOnly && inc.Rule == "recurrence" && correlate.OneHost(inc.Network):
		return UnreportedAdminOnly, "for you only: fewer than correlate.recurrence_days of its days had reportable, unforgeable evidence (its classes: " +
			joinClasses(inc.Classes) + "); probes or spoofable packets are never reported outside on their own"
	case inc.AdminOnly && inc.Rule == "network":
		return UnreportedNetworkTooFew, "for you only: fewer than correlate.network_addresses of its addresses sent reportable, unforgeable evidence (its classes: " +
			joinClasses(inc.Classes) + "); the others' probes or spoofable packets are never reported outside on their own"
	case inc.AdminOnly && inc.Rule == "recurrence":
		// Its classes may hold a failed login: what it lacks is days of them (or, of a
		// network, addresses), the rest being forgeable packets or probes.
		return UnreportedAdminOnly, "for you only: fewer than correlate.recurrence_days of its days had reportable, unforgeable evidence, or (of a network) fewer than correlate.network_addresses of its addresses sent it (its classes: " +
			joinClasses(inc.Classes) + "); probes or spoofable packets are never reported outside on their own"
	case inc.AdminOnly:
		return UnreportedAdminOnly, "for you only: its evidence is probes or spoofable packets (" + joinClasses(inc.Classes) + "), never reported outside on their own"
	}
	if _, _, ok := reportableThrough(u.gate, inc); !ok {
		return UnreportedNeverReport, "its network is never reported (policy.never_report, exclude)"
	}
	if u.limited && inc.Last.Before(u.cutoff) {
		return UnreportedTooOld, fmt.Sprintf("it ended more than policy.max_age (%s) ago", u.maxAge)
	}
	if until := settledAt(inc, u.firstStored(inc), u.settle); u.now.Before(until) && !u.readWhole[inc.ID] {
		// A round that went past policy.settle and stored what held it was a scan's,
		// which does not wait for the incidents it reads whole: what it found (a party's
		// cooldown, no contact) is what its table said, and still holds the report once
		// the settle has passed. Said from the store, `ip` or `incidents` after the scan
		// gave the settle instead, for the same incident at the same moment (review 44 L8).
		if m, err := u.misses.get(inc.ID); err == nil && m.why != "" {
			return m.code, m.why
		}
		return UnreportedSettling, fmt.Sprintf("waits until %s (policy.settle, %s after its first event, or after it was stored when that was later) for a login from its address, which would hold it: its report is written at the first round after that",
			until.In(u.zone).Format("2006-01-02 15:04:05 -0700"), Duration{u.settle})
	}
	m, err := u.misses.get(inc.ID)
	switch {
	case err != nil:
		return UnreportedUnknown, "none yet, or no abuse contact found: the outbox's stored lookup failures cannot be read (" + sanitizeText(err.Error()) + "); run abusewatch whois " + inc.Addr.String()
	case m.why != "":
		return m.code, m.why
	}
	if u.round.waits(inc.ID) {
		// Nothing holds it back, but no round looked at it yet.
		return UnreportedPending, fmt.Sprintf("not taken up yet: one outbox round takes %d incidents, and this one took others first; the daemon's next rounds, or `scan` again, write the rest", reportBatch)
	}
	return UnreportedPending, ""
}

// Network says why nothing from network p (an address: a /32 or /128) is ever reported,
// or "" when something may be: the rules make no incident in a never-report network.
func (u *Unreported) Network(p netip.Prefix) string {
	if u == nil || !u.gate.ExcludedNetwork(p) {
		return ""
	}
	// Which rule: the admin must know whether to edit the config, undo an exclusion
	// or leave it be.
	if why := u.cfg.neverReportedWhy(p.Addr()); why != "" {
		return why + ": abusewatch makes no incidents of it"
	}
	return "a network excluded or pardoned (abusewatch exclude --list shows it): abusewatch makes no incidents of it"
}

// neverReportedWhy is NeverReported, or "" without a config.
func (c *Config) neverReportedWhy(a netip.Addr) string {
	if c == nil {
		return ""
	}
	return c.NeverReported(a)
}

// unreported returns the Unreported of the pipeline at now.
func (p *Pipeline) unreported(now time.Time) (*Unreported, error) {
	cutoff, limited := reportCutoff(p.cfg, now)
	return &Unreported{cfg: p.cfg, gate: p.correlator, cutoff: cutoff, limited: limited, maxAge: p.cfg.Policy.MaxAge, misses: p.misses,
		now: now, settle: p.settle, readWhole: p.readWhole(), round: p.lastRound, zone: p.zone()}, nil
}

// readWhole is the incidents a scan made or grew (nil but in a scan's pipeline).
func (p *Pipeline) readWhole() map[string]bool {
	if !p.scanned {
		return nil
	}
	return p.touched
}

// StoredUnreported is the Unreported of the store st under cfg at now, without a
// daemon: the lookups the last rounds found nothing for are those they stored.
func StoredUnreported(cfg *Config, st *store.Store, now time.Time) (*Unreported, error) {
	corr, err := newCorrelator(cfg, st)
	if err != nil {
		return nil, err
	}
	cutoff, limited := reportCutoff(cfg, now)
	return &Unreported{cfg: cfg, gate: corr, cutoff: cutoff, limited: limited, maxAge: cfg.Policy.MaxAge, misses: &contactMisses{st: st},
		now: now, settle: cfg.Policy.Settle.Duration, zone: Location(cfg.Reporter.Timezone)}, nil
}

// newCorrelator builds the correlator of cfg over st, with the never-report networks
// of the config and those the admin excluded.
func newCorrelator(cfg *Config, st *store.Store) (*correlate.Correlator, error) {
	never := cfg.neverReport()
	excluded, err := st.Exclusions()
	if err != nil {
		return nil, err
	}
	for _, e := range excluded {
		never = append(never, e.Network)
	}
	c, err := correlate.New(correlateOptions(cfg, never), st, st, st)
	if err != nil {
		return nil, err
	}
	held, err := heldBack(st)
	if err != nil {
		return nil, err
	}
	c.HoldBack(held)
	return c, nil
}

// heldBack is the times networks were excluded that st keeps (PastExclusions): what
// they did then never counts toward an incident, for the correlator.
func heldBack(st *store.Store) ([]correlate.HeldBack, error) {
	past, err := st.PastExclusions()
	if err != nil {
		return nil, err
	}
	held := make([]correlate.HeldBack, len(past))
	for i, e := range past {
		held[i] = correlate.HeldBack{Network: e.Network, From: e.From, To: e.To, FromSeq: e.FromSeq, ToSeq: e.ToSeq}
	}
	return held, nil
}

// reportableThrough is inc as it may be reported now that gate says which addresses are
// excluded, and whether it may be at all. The rules make no incident in a network never
// reported (reserved, policy.never_report, `exclude`), but one made before the network
// was excluded may still wait on the work list or in a report. An incident about a
// single address is reported or not as that address is. One about a network (it names
// one address, to be looked up through) leaves out the evidence and sources of its
// addresses excluded since it was made, which it names in leftOut, and is looked up
// through an address left; it is not reported when the whole network is excluded or
// nothing is left. A party's share is this with gate its partyShare.
//
// No address that only sent forgeable packets or weak evidence is left to leave out:
// correlate makes a reportable network incident, and a network's recurrence, of the
// addresses that sent reportable, unforgeable evidence alone (review 21b H2, H3), and
// the outbox looks up those alone (incidentAddrs), so a share holds such addresses or
// none. (Asking here whether a share's evidence is unforgeable would not do: it is a
// sample, in which a botnet that scans and guesses passwords may show only packets.)
func reportableThrough(gate exclusionGate, inc abusewatch.Incident) (out abusewatch.Incident, leftOut []netip.Addr, ok bool) {
	if !inc.AboutNetwork() {
		a := inc.Addr
		if !a.IsValid() {
			a = inc.Network.Addr()
		}
		return inc, nil, !a.IsValid() || !gate.Excluded(a)
	}
	if gate.ExcludedNetwork(inc.Network) {
		return inc, nil, false
	}
	excluded := func(a netip.Addr) bool {
		if !gate.Excluded(a) {
			return false
		}
		if a = a.Unmap(); !slices.Contains(leftOut, a) {
			leftOut = append(leftOut, a)
		}
		return true
	}
	kept := slices.DeleteFunc(slices.Clone(inc.Evidence), func(e abusewatch.Event) bool { return excluded(e.Addr) })
	sources := slices.DeleteFunc(slices.Clone(inc.Sources), excluded)
	if inc.Addr.IsValid() && excluded(inc.Addr) && len(kept) > 0 {
		inc.Addr = kept[0].Addr.Unmap()
	}
	if len(leftOut) > 0 {
		inc.Evidence, inc.Sources = kept, sources
	}
	return inc, leftOut, len(kept) > 0
}

// partyHold is what keeps the outbox from writing a party's next report now: a report to
// the party not gone yet (holdingReport), which its new incidents join once it goes, or
// the party's cooldown since its last report. Report decides by it, and `report
// preview`, `incidents`, `scan` and the summary say it (waits-for-party): a Debug line
// alone left "none yet" everywhere but the preview. The zero partyHold holds nothing.
type partyHold struct {
	behind abusewatch.Report // the party's report not gone yet (ID "": none)
	last   string            // else the party's last report, within policy.cooldown
	until  time.Time         // and the end of that cooldown
	why    string            // the cooldown in mailer.Policy.Hold's words: "cooldown: abuse@… had a report on …"
}

// held says whether h holds the party's next report back.
func (h partyHold) held() bool { return h.behind.ID != "" || !h.until.IsZero() }

// holdOfParty is what holds back a new report to contact's party at now, given the
// reports not gone yet (waiting: pending approval, queued, sending) and those sent
// within the cooldown. The limits (policy.domain_hourly_limit, policy.daily_cap) hold
// a report once written, at delivery: not here.
func holdOfParty(contact abusewatch.Contact, waiting []abusewatch.Report, policy mailer.Policy, sent []mailer.Sent, now time.Time) partyHold {
	if r, ok := holdingReport(contact, waiting); ok {
		return partyHold{behind: r}
	}
	last, ok := policy.LastTo(contact, sent, now)
	if !ok {
		return partyHold{}
	}
	// The cooldown alone, in the words `report approve` and `outbox` give it.
	cooldown := policy
	cooldown.DomainPerHour, cooldown.DailyCap = 0, 0
	until, why := cooldown.Hold(abusewatch.Report{Contact: contact}, sent, now)
	return partyHold{last: last.Report, until: until, why: why}
}

// words say why an incident of the party (to: its recipients) has no report, in
// reporter.timezone (loc): which report it waits behind, or until when. shares: the
// incident is a network's split among parties, whose every share waits with it.
func (h partyHold) words(to string, loc *time.Location, shares bool) string {
	waits, written := "waits", "it joins the party's next report"
	if shares {
		waits, written = "waits, with every party's share,", "the shares are written"
	}
	if h.behind.ID != "" {
		return fmt.Sprintf("%s for report %s to %s, not gone yet (%s): %s once it goes (abusewatch report show %s)",
			waits, shortID(h.behind.ID), sanitizeText(to), h.behind.State, written, shortID(h.behind.ID))
	}
	return fmt.Sprintf("%s until %s (%s: report %s): %s then (policy.cooldown)",
		waits, h.until.In(loc).Format("2006-01-02 15:04 -0700"), h.why, shortID(h.last), written)
}
