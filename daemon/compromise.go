package daemon

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/correlate"
	"github.com/abusewatch/abusewatch/mailer"
	"github.com/abusewatch/abusewatch/store"
)

// How many logins and lines before them a possible compromise shows: the newest
// logins, the first and the last of the other lines its evidence keeps.
const (
	compromiseLogins   = 5
	compromiseFailures = 6
)

// alertCompromises mails the admin (mail.admin, the summary's transport) one alert
// about incs, the possible compromises the round found made or grown, and takes them
// off the work list of unreported incidents. That list is what remembers them: an
// incident leaves it once the admin was told, stays off it across restarts, and is on
// it again only when it grows; a growth is mailed when it brings a login, or an hour
// after the last mail (alertMarks, kept in the store across restarts). The alert shows them
// as stored now, and one that grew after that (the main loop goes on reading the logs
// meanwhile) stays on the list for the next round; so does every one of a mail that
// failed. Without mail.admin (no summary either) the daemon's log alone says it, once
// per growth.
func (p *Pipeline) alertCompromises(ctx context.Context, incs []abusewatch.Incident, now time.Time) error {
	ids := make([]string, len(incs))
	for i, inc := range incs {
		ids[i] = inc.ID
		p.log.Warn("login succeeded from an attacking address: possible compromise, not reported outside",
			"incident", inc.ID, "addr", inc.Addr)
	}
	// What an earlier process mailed counts as this one's own (a restart is not news).
	if err := p.alerts.load(now, func() error { return p.seedAlertMarks(now) }); err != nil {
		p.log.Warn("the state database does not say which possible compromises were mailed: some may be mailed again",
			"err", err)
	}
	if n, newest := p.alerts.redate(now); n > 0 && p.stepped.first("alerts", newest) {
		p.log.Warn("the clock was set back: possible compromises are recorded as mailed after now, while the clock was fast; they count as mailed now",
			"incidents", n, "newest", newest, "now", now)
	}
	// Those mailed within the day are looked at again: another login from the address
	// (a second account) leaves an incident marked already as it was, off the list.
	watched := p.alerts.watched(now, ids)
	if len(ids)+len(watched) == 0 {
		return nil
	}
	stored, digests, err := p.store.IncidentsAsStored(append(slices.Clone(ids), watched...))
	if err != nil {
		return err
	}
	if len(stored) == 0 {
		return nil // forgotten since (pardon): nothing left to tell
	}
	// An attack that goes on after the login grows its incident in every round: it is
	// mailed again when it brings a login not mailed yet, or an hour after the last
	// mail of it, not every few minutes.
	var due []mailer.SummaryIncident
	var dueIncs []abusewatch.Incident
	for _, inc := range stored {
		c, err := compromise(p.cfg, p.store, inc)
		if err != nil {
			return err
		}
		if c.ReportedAlready, err = reportedAlready(p.store, inc.ID); err != nil {
			return err
		}
		grown := slices.Contains(ids, inc.ID)
		if p.alerts.due(inc.ID, newestLogin(c), now, grown) {
			if !grown {
				p.log.Warn("another login succeeded from an attacking address: possible compromise, not reported outside",
					"incident", inc.ID, "addr", inc.Addr)
			}
			due, dueIncs = append(due, c), append(dueIncs, inc)
		}
	}
	shown := oneBlockPerLogin(dueIncs, due)
	switch {
	case len(due) == 0:
	case p.cfg.Mail.Admin == "":
		p.log.Warn("mail.admin is not set: nobody is mailed about the login", "incidents", len(stored))
	default:
		if err := p.mailCompromises(ctx, shown, now); err != nil {
			p.log.Warn("possible compromise not mailed to the admin; tried again next round", "to", p.cfg.Mail.Admin,
				"incidents", len(due), "err", err)
			return nil
		}
		logins := make(map[string]time.Time, len(due))
		for _, c := range due {
			logins[c.ID] = newestLogin(c)
		}
		if err := p.alerts.mailed(logins, now); err != nil {
			p.log.Warn("possible compromise mailed, but not noted in the state database: a restarted daemon may mail it again",
				"incidents", len(due), "err", err)
		}
	}
	// Not between Ingest's correlation and its write of what grew (marking): a growth
	// written after the read above is not taken off the list unmailed.
	p.marking.Lock()
	defer p.marking.Unlock()
	current, err := p.store.IncidentDigests(ids)
	if err != nil {
		return err
	}
	var told []string
	for i, id := range ids {
		if d, ok := digests[id]; ok && d == current[i] {
			told = append(told, id)
		}
	}
	return p.store.ExpireUnreported(told)
}

// oneBlockPerLogin is the alert's blocks of the incidents incs (cs, as compromise shows
// them), as the summary lists them: one login makes its success-after-failure incident
// and the attack's own (of the address, its /24, a recurrence) Success, and showing both
// showed the login twice, the attack's report under the second alone. The login is the
// compromise; an attack of it is left out, its report named in the login's block.
func oneBlockPerLogin(incs []abusewatch.Incident, cs []mailer.SummaryIncident) []mailer.SummaryIncident {
	attackOf := make([]int, len(incs)) // the index of its login's incident, or -1
	for i, inc := range incs {
		attackOf[i] = -1
		for j, l := range incs {
			if attackOfLogin(inc, l) {
				attackOf[i] = j
				if cs[j].ReportedAlready == "" {
					cs[j].ReportedAlready = cs[i].ReportedAlready
				}
				break
			}
		}
	}
	var out []mailer.SummaryIncident
	for i, c := range cs {
		if attackOf[i] < 0 {
			out = append(out, c)
		}
	}
	return out
}

// attackOfLogin says whether inc is an attack whose login is login's: login is a
// success-after-failure incident, and inc another incident over its address.
func attackOfLogin(inc, login abusewatch.Incident) bool {
	return login.Rule == "success-after-failure" && inc.Rule != "success-after-failure" && login.Addr.IsValid() &&
		abusewatch.UnmapPrefix(inc.Network).Contains(login.Addr.Unmap())
}

// reportedAlready names the report of incident id that was written before a login from
// its address was read (policy.settle had passed): "report ID, sent to …"; "" when it
// has none.
func reportedAlready(st *store.Store, id string) (string, error) {
	rid, ok, err := st.ReportFor(id)
	if err != nil || !ok {
		return "", err
	}
	r, ok, err := st.Report(rid)
	if err != nil || !ok {
		return "report " + rid, err
	}
	return reportNamed(r) + fmt.Sprintf(" (abusewatch report show %s)", shortID(r.ID)), nil
}

// reportNamed names report r as the alert and the summary name a report written before
// a login was read: "report ID, sent to RECIPIENTS", or, of one that did not leave,
// what became of it: "rejected to …" read as if the desk had it.
func reportNamed(r abusewatch.Report) string {
	to := strings.Join(r.Contact.Emails, ", ")
	switch r.State {
	case abusewatch.ReportSent:
		return fmt.Sprintf("report %s, sent to %s", r.ID, to)
	case abusewatch.ReportRejected:
		return fmt.Sprintf("report %s to %s, rejected: it was never sent", r.ID, to)
	case abusewatch.ReportFailed:
		return fmt.Sprintf("report %s to %s, failed: it was not sent", r.ID, to)
	case abusewatch.ReportHeld:
		return fmt.Sprintf("report %s to %s, held (observe mode): it was not sent", r.ID, to)
	}
	return fmt.Sprintf("report %s to %s, %s: not sent yet", r.ID, to, r.State)
}

// mailCompromises composes and delivers the alert about incs.
func (p *Pipeline) mailCompromises(ctx context.Context, incs []mailer.SummaryIncident, now time.Time) error {
	host, _ := os.Hostname()
	a := mailer.CompromiseAlert{Host: host, Location: p.zone(), Mode: p.cfg.Policy.Mode, Compromises: incs}
	msg, err := mailer.ComposeCompromiseAlert(a, cmp.Or(p.cfg.Mail.From, p.cfg.Mail.Admin), p.cfg.Mail.Admin, now)
	if err != nil {
		return err
	}
	r := abusewatch.Report{ID: "compromise", Contact: abusewatch.Contact{Emails: []string{p.cfg.Mail.Admin}}, Message: msg}
	// A stop gives it a grace to finish (mailer.SMTP's StopGrace), as a report.
	loc, err := ReportTransport(p.cfg, p.transport).Deliver(ctx, r)
	if err != nil {
		return err
	}
	p.Counters.Alerted.Add(int64(len(incs)))
	p.log.Info("possible compromise mailed to the admin", "to", p.cfg.Mail.Admin, "where", loc, "incidents", len(incs))
	return nil
}

// alertMarks are the possible compromises mailed to the admin: the newest login each
// mail showed, and when it went. It outlives a reload, like the Counters, and with a
// store it outlives the process too: each mail's marks are stored once it went, and a
// new process reads them at its first round, so a restarted daemon neither mails a
// growing incident again within the hour nor misses another login from an address it
// mailed about the day before.
type alertMarks struct {
	mu     sync.Mutex
	st     *store.Store // nil: memory only
	loaded bool         // the store's marks were read
	sent   map[string]alertMark
}

type alertMark struct{ login, at time.Time }

// alertAgain is how long a possible compromise that goes on growing without a new login
// waits for its next mail.
const alertAgain = time.Hour

// alertWatched is how long after its mail an incident is looked at again for another
// login from its addresses (watched); a mark is of no use after it, and is forgotten.
const alertWatched = 24 * time.Hour

// load reads the marks of the mails of the last alertWatched from the store, once: the
// first round of a process calls it, after seed (seedAlertMarks), whose error it
// returns too. A mark the store cannot read is left out (the error says which) and
// deleted by the next save; a store that cannot be read at all is seeded and read
// again at the next call.
func (m *alertMarks) load(now time.Time, seed func() error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.loaded || m.st == nil {
		return nil
	}
	serr := seed()
	stored, err := m.st.AlertMarks(now.Add(-alertWatched))
	if stored == nil {
		return errors.Join(serr, err)
	}
	if m.sent == nil {
		m.sent = map[string]alertMark{}
	}
	for id, a := range stored {
		if _, ok := m.sent[id]; !ok { // this process's own mail is the newer
			m.sent[id] = alertMark{a.Login, a.Mailed}
		}
	}
	m.loaded = true
	return errors.Join(serr, err)
}

// redate takes a mark whose mail is dated after now as mailed now, and says how many
// it found and the newest of their dates: they were mailed while the clock was fast,
// and it has been set back. Compared with now as it was, a growing compromise was
// mailed again only when the clock came round to the wrong date and alertAgain after
// it: a year for a round a year fast. When the mail went is not known, but an NTP step
// comes soon after a boot with a bad clock: taken as now, the next mail of a growth
// waits alertAgain from now, and the incident is watched alertWatched from now, as for
// a mail that went now. (The login is a log's time, compared with the logs' times.)
func (m *alertMarks) redate(now time.Time) (n int, newest time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, a := range m.sent {
		if !a.at.After(now) {
			continue
		}
		if n++; a.at.After(newest) {
			newest = a.at
		}
		m.sent[id] = alertMark{login: a.login, at: now}
	}
	return n, newest
}

// seedAlertMarks gives the store of a version before the marks (they were in its
// memory) those of the possible compromises it mailed about in the last alertWatched,
// as far as the store tells (store.UnmarkedAlerts), once: without them, another login
// from an address it mailed about went unmailed for a day after the upgrade, and its
// attack going on was mailed again at once. When it mailed is not stored, so each is
// marked mailed now, showing the newest login that version read (it mailed each at
// the round after it read it); those read since, while it was stopped, are news. What
// cannot be read is marked with no login, so that any login is mailed (again, maybe)
// rather than none. Without mail.admin that version mailed nothing, and nothing is
// marked; nor is an incident of an address excluded (it left the list unmailed).
func (p *Pipeline) seedAlertMarks(now time.Time) error {
	seed, ok, err := p.store.UnmarkedAlerts(now.Add(-alertWatched))
	if !ok {
		return err
	}
	if p.cfg.Mail.Admin == "" {
		seed.Incidents = nil
	}
	errs := []error{err}
	marks := map[string]store.AlertMark{}
	for _, inc := range seed.Incidents {
		if _, _, ok := reportableThrough(p.correlator, inc); !ok {
			continue // excluded before its round: that version took it off the list unmailed
		}
		login, err := newestLoginRead(p.cfg, p.store, inc, seed.ReadUpTo)
		errs = append(errs, err)
		marks[inc.ID] = store.AlertMark{Login: login, Mailed: now}
	}
	if err := p.store.SeedAlertMarks(marks); err != nil {
		return errors.Join(append(errs, err)...)
	}
	if len(marks) > 0 {
		p.log.Info("upgraded from a version that kept what it mailed in memory: the possible compromises it mailed about in the last day count as mailed now, and another login from their addresses is mailed",
			"incidents", len(marks))
	}
	return errors.Join(errs...)
}

// newestLoginRead is the time of the newest login the alert about inc shows
// (compromise) among the events stored up to sequence number upTo (zero: none, or the
// store's events cannot be read).
func newestLoginRead(cfg *Config, st *store.Store, inc abusewatch.Incident, upTo uint64) (time.Time, error) {
	stored, err := storedLogins(cfg, st, inc)
	if err != nil {
		return time.Time{}, fmt.Errorf("incident %s: %w", inc.ID, err)
	}
	var t time.Time
	for _, e := range append(slices.Clone(inc.Evidence), stored...) {
		if e.Class == abusewatch.ClassAuthSuccess && e.Seq <= upTo && e.Time.After(t) {
			t = e.Time
		}
	}
	return t, nil
}

// due says whether incident id, whose newest login is login, is to be mailed at now:
// never mailed, a login after the last mail's, or, when it grew, alertAgain since it.
func (m *alertMarks) due(id string, login, now time.Time, grown bool) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	last, ok := m.sent[id]
	return !ok || login.After(last.login) || grown && now.Sub(last.at) >= alertAgain
}

// watched are the incidents mailed within the last alertWatched, but those of ids,
// sorted.
func (m *alertMarks) watched(now time.Time, ids []string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for id, a := range m.sent {
		if now.Sub(a.at) <= alertWatched && !slices.Contains(ids, id) {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// mailed notes that the incidents of logins (ID → the newest login its mail showed)
// were mailed at now, and stores the marks, in one transaction that also forgets those
// older than alertWatched. The marks in memory count whatever the store says: an error
// only means that a restarted daemon may mail them again.
func (m *alertMarks) mailed(logins map[string]time.Time, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.sent == nil {
		m.sent = map[string]alertMark{}
	}
	forget := now.Add(-alertWatched)
	maps.DeleteFunc(m.sent, func(_ string, a alertMark) bool { return a.at.Before(forget) })
	stored := make(map[string]store.AlertMark, len(logins))
	for id, login := range logins {
		m.sent[id] = alertMark{login, now}
		stored[id] = store.AlertMark{Login: login, Mailed: now}
	}
	if m.st == nil {
		return nil
	}
	return m.st.SaveAlertMarks(stored, forget)
}

// newestLogin is the time of the newest login c shows (zero: none).
func newestLogin(c mailer.SummaryIncident) time.Time {
	var t time.Time
	for _, l := range c.Logins {
		if l.Time.After(t) {
			t = l.Time
		}
	}
	return t
}

// compromise is possible compromise inc as the summary and the alert show it: with the
// logins its evidence holds (a success-after-failure incident's does) and those the
// store keeps from its addresses within correlate.success_lookback of it, which is where
// the rule found them; and the other lines of its evidence, the attack before the login.
func compromise(cfg *Config, st *store.Store, inc abusewatch.Incident) (mailer.SummaryIncident, error) {
	c := mailer.SummaryIncident{
		ID: inc.ID, Source: inc.Source(), Count: inc.Count, First: inc.First, Last: inc.Last,
		Classes: joinClasses(inc.Classes), Hosts: sanitizeText(strings.Join(inc.Hosts, ", ")), Command: sourceCommand(cfg, inc),
	}
	var logins, others []abusewatch.Event
	for _, e := range inc.Evidence {
		if e.Class == abusewatch.ClassAuthSuccess {
			logins = append(logins, e)
		} else {
			others = append(others, e)
		}
	}
	// And those the store keeps near it: a login after the incident was marked (the
	// address's own incident, or a second account) leaves it as it was.
	stored, err := storedLogins(cfg, st, inc)
	if err != nil {
		return c, err
	}
	for _, e := range stored {
		if !slices.ContainsFunc(logins, func(l abusewatch.Event) bool { return l.Time.Equal(e.Time) && l.Line == e.Line }) {
			logins = append(logins, e)
		}
	}
	slices.SortStableFunc(logins, func(a, b abusewatch.Event) int { return a.Time.Compare(b.Time) })
	if n := len(logins) - compromiseLogins; n > 0 {
		c.MoreLogins, logins = n, logins[n:]
	}
	for _, e := range logins {
		c.Logins = append(c.Logins, shownLine(e))
	}
	if len(others) > compromiseFailures {
		others = append(others[:compromiseFailures/2:compromiseFailures/2], others[len(others)-compromiseFailures/2:]...)
	}
	for _, e := range others {
		c.Failures = append(c.Failures, shownLine(e))
	}
	return c, nil
}

// storedLogins are the logins the store keeps from the addresses of inc within
// correlate.success_lookback before its first or after its last event, oldest first.
// The daily counters say on which days its scope had logins at all, so only those are
// read.
func storedLogins(cfg *Config, st *store.Store, inc abusewatch.Incident) ([]abusewatch.Event, error) {
	lb := cfg.Correlate.SuccessLookback.Duration
	a := inc.Addr.Unmap()
	scope := netip.PrefixFrom(a, a.BitLen())
	if inc.AboutNetwork() {
		scope = abusewatch.UnmapPrefix(inc.Network)
	}
	if !scope.IsValid() {
		return nil, nil
	}
	from, to := inc.First.Add(-lb), inc.Last.Add(lb)
	if counted(scope) {
		days, err := st.Days(scope, from, to)
		if err != nil {
			return nil, err
		}
		lo, hi, ok := correlate.LoginDays(days)
		if !ok {
			return nil, nil
		}
		from, to = maxTime(from, lo), minTime(to, hi)
	}
	evs, err := st.EventsByNetwork(scope, from, to)
	if err != nil {
		return nil, fmt.Errorf("logins of %s: %w", scope, err)
	}
	var out []abusewatch.Event
	for _, e := range evs {
		from := e.Addr.Unmap()
		// A network's incident is marked by a login from one of its own addresses.
		if e.Class == abusewatch.ClassAuthSuccess && (from == a || slices.Contains(inc.Sources, from)) {
			out = append(out, e)
		}
	}
	return out, nil
}

// counted says whether the store keeps daily counters of p (store.Days).
func counted(p netip.Prefix) bool {
	if p.Addr().Is4() {
		return slices.Contains([]int{32, 24, 16, 8}, p.Bits())
	}
	return slices.Contains([]int{128, 64, 48, 32}, p.Bits())
}

// shownLine is e as the admin's mail shows it; mailer sanitises its log text.
func shownLine(e abusewatch.Event) mailer.Line {
	l := mailer.Line{Time: e.Time, Host: e.Host, Text: e.Line}
	if e.User != "" {
		// Quoted: the client chose it, and "as POSSIBLE COMPROMISE: none, all clear"
		// read as our words.
		l.User = strconv.Quote(e.User)
	}
	if e.Addr.IsValid() {
		l.Addr = e.Addr.Unmap().String()
	}
	return l
}

// sourceCommand is the command that shows everything about inc's source, with the
// config named when it is not the default, so it can be pasted.
func sourceCommand(cfg *Config, inc abusewatch.Incident) string {
	if inc.AboutNetwork() {
		return cfg.Command("net", inc.Source())
	}
	return cfg.Command("ip", inc.Source())
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
