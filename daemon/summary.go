package daemon

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/detect"
	"github.com/abusewatch/abusewatch/mailer"
	"github.com/abusewatch/abusewatch/store"
)

// ShapeSource gives the most frequent unknown-record shapes since a time, each with a
// sample and a suggested normal rule: the summary's tuning loop. The shapes store comes
// with the tuning issue; whatever holds them implements this, and until something does
// the summary says that no shape data exists yet.
type ShapeSource interface {
	TopShapes(since time.Time, n int) ([]mailer.Shape, error)
}

// summaryEventLimit bounds the events one summary reads; beyond it only the count grows.
const summaryEventLimit = 1_000_000

// summaryNewIncidents is how many new incidents the summary lists, the biggest first, and
// summaryPendingReports how many reports waiting for approval, the oldest first; it says
// how many there are of each.
const (
	summaryNewIncidents   = 100
	summaryPendingReports = 50
)

// summaryMaxPeriod bounds the period of a late summary (the daemon was stopped over
// summary.time for days): a week, its chart in 7-hour bars. What is older is in
// `incidents`, and a possible compromise was mailed when it was found.
const summaryMaxPeriod = 7 * 24 * time.Hour

// BuildSummary gathers the summary of the 24 hours before now (BuildSummarySince).
func BuildSummary(cfg *Config, st *store.Store, shapes ShapeSource, why *Unreported, now time.Time) (mailer.Summary, error) {
	return BuildSummarySince(cfg, st, shapes, why, now.Add(-24*time.Hour), now)
}

// BuildSummarySince gathers the summary of the time from from to now from the store:
// events by class, host, hour (a longer period than a day: by as many hours as keep
// the chart to 24 bars), address and network; new and growing incidents; the outbox;
// possible compromises first, with their logins; what each configured source read.
// shapes may be nil; why says why an incident without a report has none (nil:
// StoredUnreported).
func BuildSummarySince(cfg *Config, st *store.Store, shapes ShapeSource, why *Unreported, from, now time.Time) (mailer.Summary, error) {
	s, _, err := buildSummary(cfg, st, shapes, why, nil, from, now)
	return s, err
}

// buildSummary is BuildSummarySince, with the mark the summary leaves when it is sent:
// where the sources are now (the unknown-record shapes' counts are in shapes when they
// are the store's; the syslog listener's senders, when each was last read from, in
// senders).
func buildSummary(cfg *Config, st *store.Store, shapes ShapeSource, why *Unreported, senders map[string]time.Time, from, now time.Time) (mailer.Summary, store.SummaryMark, error) {
	mark := store.SummaryMark{From: from, Sent: now}
	if why == nil {
		var err error
		if why, err = StoredUnreported(cfg, st, now); err != nil {
			return mailer.Summary{}, mark, err
		}
	}
	loc := Location(cfg.Reporter.Timezone)
	host, _ := os.Hostname()
	top := cfg.Summary.Top
	last, hasMark, err := st.LastSummaryMark()
	if err != nil {
		return mailer.Summary{}, mark, err
	}
	through, err := st.LastSeq()
	if err != nil {
		return mailer.Summary{}, mark, err
	}
	mark.NextSeq = through + 1
	// The events are those stored since the summary before (or the schedule's start),
	// whatever their date, and those stored before it but dated after what it counted
	// (a clock or a sender ahead): each in one summary, none left out. Lines read late
	// (a log file that appeared after the start, a syslog sender's queue) are dated
	// before from, by up to summaryMaxPeriod. Without a mark that kept where the events
	// stored since begin (an older version's), by date alone, from from.
	next := uint64(math.MaxUint64)
	switch {
	case hasMark && last.NextSeq > 0:
		next = last.NextSeq
	case hasMark && last.Start:
		next = 1
	}
	events, total, err := st.SummaryEvents(next, through, from.Add(-time.Nanosecond), minTime(from, now.Add(-summaryMaxPeriod)), now, summaryEventLimit)
	if err != nil {
		return mailer.Summary{}, mark, err
	}
	// The period shown starts at the oldest line counted: read late, it is older than
	// from, and the chart, the hours and the incidents made of it go back to it.
	begin := from
	if len(events) > 0 && events[0].Time.Before(from) {
		begin = events[0].Time
	}
	period := max(now.Sub(begin), time.Hour)
	// Hours per bar, for at most 26 bars: a day's summary has hourly bars when its round
	// ran moments later than the day before (the ticker's jitter: 24h and 40ms made
	// 2-hour bars and "25h" every other day) and on a DST day of 25 hours. A sliver
	// past the last whole bar (under a minute) is the last bar's.
	hours := int((period + 26*time.Hour - 1) / (26 * time.Hour))
	bar := time.Duration(hours) * time.Hour
	bars := max((period-time.Minute+bar-1)/bar, 1)
	// The command that lists the period's incidents: from its start as a time (a
	// relative --since drifts by the hours until the mail is read, and rounded to the
	// hour it cut the first minutes off), rounded down to the minute, without a limit.
	listFrom := begin.In(loc).Truncate(time.Minute).Format("2006-01-02T15:04")
	s := mailer.Summary{Host: host, From: begin, To: now, Location: loc, Mode: cfg.Policy.Mode,
		PerHour: make([]int, bars), Hours: hours, Since: listFrom + " --limit 0",
		ListAll: cfg.Command("incidents", "--since", listFrom, "--limit", "0"), ListPending: cfg.Command("outbox", "--state", "pending-approval")}

	s.Events = total
	byClass, byHost, byAddr, byNet := map[string]int{}, map[string]int{}, map[string]int{}, map[string]int{}
	bySource, lastOf := map[string]int{}, map[string]time.Time{}
	bySender, lastOfSender := map[string]int{}, map[string]time.Time{} // the syslog listener's, by host
	if len(events) == total && total > 0 {
		mark.Newest = events[len(events)-1].Time // oldest first; past the limit: unknown
	}
	lateAddrs := map[netip.Addr]bool{} // of the events dated before from
	for _, e := range events {
		if e.Time.Before(from) && e.Addr.IsValid() {
			lateAddrs[e.Addr.Unmap()] = true
		}
		byClass[string(e.Class)]++
		bySource[e.Source]++
		if e.Time.After(lastOf[e.Source]) {
			lastOf[e.Source] = e.Time
		}
		if e.Source == syslogSource && e.Host != "" {
			bySender[e.Host]++
			if e.Time.After(lastOfSender[e.Host]) {
				lastOfSender[e.Host] = e.Time
			}
		}
		if e.Host != "" {
			byHost[e.Host]++
		}
		if h := int(e.Time.Sub(begin) / bar); h >= 0 {
			s.PerHour[min(h, len(s.PerHour)-1)]++
		}
		if e.Class == abusewatch.ClassAuthSuccess || !e.Addr.IsValid() {
			continue // a success is not an attack; our own users log in too
		}
		byAddr[e.Addr.String()]++
		bits := 24
		if e.Addr.Unmap().Is6() {
			bits = 64
		}
		if p, err := e.Addr.Unmap().Prefix(bits); err == nil {
			byNet[p.String()]++
		}
	}
	s.ByClass, s.ByHost = counts(byClass, 0), counts(byHost, top)
	for i := range s.ByHost {
		s.ByHost[i].Value = sanitizeText(s.ByHost[i].Value)
	}
	s.TopAddrs, s.TopNets = counts(byAddr, top), counts(byNet, top)

	if s.Sources, mark.Sources, err = summarySources(cfg, st, last.Sources, hasMark, bySource, lastOf, now); err != nil {
		return s, mark, err
	}
	s.Sources = finishedGlobFiles(cfg, s.Sources, from)
	if cfg.Syslog.listening() {
		lines, marks := syslogSenderLines(senders, last.Sources, bySender, lastOfSender, from, now)
		s.Sources = append(s.Sources, lines...)
		maps.Copy(mark.Sources, marks)
	}

	// The incidents of the period and, of the last summary's period, those it did not
	// go through: made of lines read after it was sent (a backlog read late, a syslog
	// sender's queue), their events are of its period, and they would be in none.
	since := from
	if hasMark && !last.Start && !last.From.IsZero() && last.From.Before(from) {
		since = last.From
	}
	// The period is (from, now]: what the summary before did at its end, it counted.
	// The first one's start is the schedule's (startSummaries), which no summary
	// counted: what the round that started it did at that time is in the period.
	after := from
	if hasMark && last.Start && from.Equal(last.From) {
		after = from.Add(-time.Nanosecond)
	}
	// And those made of lines read late, dated before from (begin): stored in the period.
	since = minTime(since, begin)
	all, _, err := st.IncidentsSince(since, 0)
	if err != nil {
		return s, mark, err
	}
	ids := make([]string, len(all))
	for i, inc := range all {
		ids[i] = inc.ID
	}
	// New is made in the period: a recurrence is made weeks after its first event, and
	// listed as growing it was never new. Of an incident stored before the store kept
	// when (schema 11), whether it began in the period.
	stored, err := st.FirstStored(ids)
	if err != nil {
		return s, mark, err
	}
	seen := make(map[string]bool, len(last.Incidents))
	for _, id := range last.Incidents {
		seen[id] = true
	}
	// An incident of lines read late is one of their addresses: by the store's clock,
	// when it was stored is the read's time, but a summary goes by the round's.
	readLate := func(inc abusewatch.Incident) bool {
		if !inc.AboutNetwork() {
			return lateAddrs[inc.Addr.Unmap()]
		}
		n := abusewatch.UnmapPrefix(inc.Network)
		for a := range lateAddrs {
			if n.Contains(a) {
				return true
			}
		}
		return false
	}
	var incs, late []abusewatch.Incident
	for _, inc := range all {
		switch {
		case !inc.Last.Before(from):
			incs = append(incs, inc)
			mark.Incidents = append(mark.Incidents, inc.ID)
		case seen[inc.ID]:
		case !inc.Last.Before(last.From) || !inc.Last.Before(begin) && readLate(inc):
			late = append(late, inc)
			mark.Incidents = append(mark.Incidents, inc.ID)
		}
	}
	reports, err := st.Reports()
	if err != nil {
		return s, mark, err
	}
	// An incident may have several reports: a network's split between the parties that
	// own its addresses gets one each.
	reportsOf := map[string][]abusewatch.Report{}
	for _, r := range reports {
		for _, id := range r.Incidents {
			reportsOf[id] = append(reportsOf[id], r)
		}
	}
	byID := map[string]abusewatch.Incident{}
	for _, inc := range append(slices.Clone(incs), late...) {
		byID[inc.ID] = inc
	}
	incidentOf := func(id string) (abusewatch.Incident, bool) {
		if inc, ok := byID[id]; ok {
			return inc, true
		}
		inc, ok, err := st.Incident(id)
		if ok && err == nil {
			byID[id] = inc
		}
		return inc, ok && err == nil
	}
	// One login makes several incidents Success: the success-after-failure incident
	// and, beside it, the attack's own (of the address, its /24, their recurrences).
	// The login is the compromise; the attack stays an attack, with its report. An
	// attack whose own incident carries the login (no success-after-failure beside it)
	// is the compromise, reported or not.
	var logins []abusewatch.Incident
	for _, inc := range append(slices.Clone(incs), late...) {
		if inc.Success && inc.Rule == "success-after-failure" {
			logins = append(logins, inc)
		}
	}
	attackOfALogin := func(inc abusewatch.Incident) bool {
		return slices.ContainsFunc(logins, func(l abusewatch.Incident) bool { return attackOfLogin(inc, l) })
	}
	// A login's block names the report of its attack, as the alert does: the desk was
	// told of the attack the login came from.
	attackReport := func(login abusewatch.Incident) string {
		for _, inc := range append(slices.Clone(incs), late...) {
			if attackOfLogin(inc, login) && len(reportsOf[inc.ID]) > 0 {
				return reportNamed(reportsOf[inc.ID][0])
			}
		}
		return ""
	}
	list := func(inc abusewatch.Incident, isNew, late bool) error {
		si := mailer.SummaryIncident{
			Source: inc.Source(), Count: inc.Count, First: inc.First, Last: inc.Last,
			Classes: joinClasses(inc.Classes), Hosts: sanitizeText(strings.Join(inc.Hosts, ", ")),
			Reported: reportState(reportsOf[inc.ID], inc, why),
		}
		// One reported before its login was read (policy.settle had passed) is listed
		// too, naming its report, as the alert did at once.
		if inc.Success && !attackOfALogin(inc) {
			c, err := compromise(cfg, st, inc)
			if err != nil {
				return err
			}
			if len(reportsOf[inc.ID]) > 0 {
				c.ReportedAlready = reportNamed(reportsOf[inc.ID][0])
			} else if inc.Rule == "success-after-failure" {
				c.ReportedAlready = attackReport(inc)
			}
			// A compromise is news in the summary of the period of its newest login:
			// an attack that goes on after it grows in the next ones, which do not list
			// the same login again as a possible compromise every morning.
			// One reported needs its login in the period: an attack reported before a
			// login mailed in an earlier period (as its own incident) stays an attack.
			reported := len(reportsOf[inc.ID]) > 0
			if login := newestLogin(c); late || login.IsZero() && !reported || !login.Before(from) {
				c.Reported = si.Reported
				s.Compromises = append(s.Compromises, c)
				return nil
			}
		}
		switch {
		case isNew:
			s.New = append(s.New, si)
		default:
			s.Growing = append(s.Growing, si)
		}
		return nil
	}
	for _, inc := range incs {
		at, known := stored[inc.ID]
		isNew := !inc.First.Before(from) || (known && inPeriod(at, after, now))
		if err := list(inc, isNew, false); err != nil {
			return s, mark, err
		}
	}
	for _, inc := range late {
		if err := list(inc, true, true); err != nil { // new to the admin
			return s, mark, err
		}
	}
	// The biggest first: that is what the admin reads before stopping.
	for _, l := range [][]mailer.SummaryIncident{s.New, s.Growing} {
		slices.SortStableFunc(l, func(a, b mailer.SummaryIncident) int { return cmp.Compare(b.Count, a.Count) })
	}
	s.NewTotal, s.GrowingTotal = len(s.New), len(s.Growing)
	if top > 0 && len(s.Growing) > top {
		s.Growing = s.Growing[:top]
	}
	// Every new incident was listed: a busy host's 1,700 a day made the mail thousands
	// of lines long.
	if len(s.New) > summaryNewIncidents {
		s.New = s.New[:summaryNewIncidents]
	}

	// The commands name the config when it is not the default, so they can be pasted.
	report := "abusewatch report"
	if cfg.file != "" && cfg.file != DefaultConfigPath {
		report = "abusewatch report --config " + cfg.file
	}
	s.ApproveAll = report + " approve --all"
	for _, r := range reports {
		// Only the reports listed are read for their sources (every report ever sent
		// was, each of its incidents).
		line := func(command string) mailer.ReportLine {
			return mailer.ReportLine{ID: r.ID, To: strings.Join(r.Contact.Emails, ", "), Sources: reportSources(r, incidentOf),
				Created: r.Created, Command: command}
		}
		// What happened in the period is counted: a report that failed last week is
		// not news every day. What waits is counted as it is now.
		switch r.State {
		case abusewatch.ReportSent:
			if inPeriod(r.Updated, after, now) {
				s.Sent++
				if len(r.Refused) > 0 || r.Error != "" {
					// Sent, not to every recipient: who refused, and why.
					if s.PartlySent++; len(s.PartlySentReports) < summaryPendingReports {
						l := line("")
						l.Problem = sanitizeText(r.Error)
						s.PartlySentReports = append(s.PartlySentReports, l)
					}
				}
			}
		case abusewatch.ReportHeld:
			if inPeriod(r.Updated, after, now) {
				s.Held++
			}
		case abusewatch.ReportRejected:
			if inPeriod(r.Updated, after, now) {
				if s.Rejected++; len(s.RejectedReports) < summaryPendingReports {
					l := line("")
					l.Problem = sanitizeText(r.Error)
					s.RejectedReports = append(s.RejectedReports, l)
				}
			}
		case abusewatch.ReportQueued:
			s.Queued++
			if r.Waiting != "" && r.NextAttempt.After(now) {
				s.Waiting++
			}
		case abusewatch.ReportFailed:
			if inPeriod(r.Updated, after, now) {
				if s.Failed++; len(s.FailedReports) < summaryPendingReports {
					l := line(report + " approve " + r.ID + "   (to try again)")
					if len(r.Refused) > 0 {
						l.Command = refusedAdvice(cfg, r, incidentOf)
					}
					l.Problem = sanitizeText(r.Error)
					s.FailedReports = append(s.FailedReports, l)
				}
			}
		case abusewatch.ReportPendingApproval:
			// The oldest few, each with its command: after a re-correlation in review
			// mode hundreds may wait, and "approve --all" is there for them.
			// A guess is said to be one (its recipient may have nothing to do with
			// the address), and `approve --all` leaves it out (ApproveReports).
			if r.Contact.Guess {
				s.PendingGuesses++
			}
			if s.PendingTotal++; len(s.Pending) < summaryPendingReports {
				l := line(report + " approve " + r.ID)
				l.Problem = sanitizeText(r.Error) // why it waits, when not for review mode alone (a mailbox that refused one)
				if r.Contact.Guess {
					l.Command = report + " show " + r.ID + ", then " + l.Command
					l.Problem = "a guess, read it first: the registry names no one, and the recipients are of the domain of the reverse name " +
						sanitizeText(r.Contact.PTR) + ", which whoever holds the address sets"
				}
				s.Pending = append(s.Pending, l)
			}
		}
	}

	if s.PartyWaits, err = waitingForParty(st, why); err != nil {
		return s, mark, err
	}

	if shapes != nil {
		if s.Shapes, err = shapes.TopShapes(from, top); err != nil {
			return s, mark, err
		}
	}
	if len(s.Shapes) == 0 {
		s.ShapesNote = "None in this period: every record was normal or a known attack."
		if !readAnything(s) {
			// A quiet day and a dead log look the same in the counts.
			s.ShapesNote = "Nothing was read in this period (see SOURCES), so nothing can be said of its records."
		}
	}
	return s, mark, nil
}

// refusedAdvice is what to do about failed report r, refused for good by the desk's
// server (a 5xx: "user unknown"): approved again it goes to the same mailbox and fails
// the same way. The contact is wrong or gone: check it, give the network the right one
// in the config, and reject this report. The lines after the first are indented under
// it (the summary's text shows a report's command there).
func refusedAdvice(cfg *Config, r abusewatch.Report, incidentOf func(id string) (abusewatch.Incident, bool)) string {
	addr := r.Contact.Network.Addr()
	for _, id := range r.Incidents {
		if inc, ok := incidentOf(id); ok && inc.Addr.IsValid() {
			addr = inc.Addr.Unmap()
			break
		}
	}
	network := "its network"
	if r.Contact.Network.IsValid() {
		network = r.Contact.Network.String()
	}
	file := cmp.Or(cfg.file, DefaultConfigPath)
	indent := "\n" + strings.Repeat(" ", 36)
	return "approved again, it goes to the same mailbox and fails again. Check the contact:" + indent +
		cfg.Command("whois", addr.String()) + indent +
		"then name the right one for " + network + " in a [[contact]] entry of " + file +
		" (or [[do_not_contact]]), and drop this report:" + indent + cfg.Command("report", "reject", r.ID)
}

// waitingForParty counts the incidents without a report that wait, now, for their
// party: a report to it not gone yet, or its cooldown (waits-for-party, as the last
// round found and why says of each). Counted as what is queued is: as it is now.
func waitingForParty(st *store.Store, why *Unreported) (int, error) {
	misses, err := st.ContactMissesOf(UnreportedWaitsForParty)
	if err != nil {
		return 0, err
	}
	n := 0
	for id := range misses {
		_, reported, err := st.ReportFor(id)
		if err != nil {
			return n, err
		}
		inc, ok, err := st.Incident(id)
		if err != nil {
			return n, err
		}
		if !ok || reported {
			continue // pardoned, or reported since
		}
		if code, _ := why.Reason(inc); code == UnreportedWaitsForParty {
			n++
		}
	}
	return n, nil
}

// readAnything says whether the summary's period read a line: an event, or a source
// that moved. Without a source to go by (syslog only), events are all it knows.
func readAnything(s mailer.Summary) bool {
	if s.Events > 0 || len(s.Sources) == 0 {
		return true
	}
	for _, src := range s.Sources {
		if !src.Silent {
			return true
		}
	}
	return false
}

// inPeriod says whether t is within the summary's period from..now: after from, which
// the summary before counted (its now), up to now.
func inPeriod(t, from, now time.Time) bool {
	return t.After(from) && !t.After(now)
}

// summarySources says what each configured source (the files the config names, the
// journal) read since the last summary, from how far its committed position moved
// since the mark that summary left (last; hasMark false before the first that left
// one), and its events of the period. It returns the sources' marks for the next.
func summarySources(cfg *Config, st *store.Store, last map[string]store.SourceMark, hasMark bool,
	events map[string]int, lastEvent map[string]time.Time, now time.Time) ([]mailer.SourceLine, map[string]store.SourceMark, error) {
	names, err := ExpandSources(cfg)
	if err != nil {
		return nil, nil, err
	}
	if cfg.Journal.Enabled {
		names = append(names, journalSource)
	}
	var out []mailer.SourceLine
	marks := map[string]store.SourceMark{}
	for _, name := range names {
		pos, ok, err := st.Position(name)
		if err != nil {
			return nil, nil, err
		}
		line := mailer.SourceLine{Name: name, Events: events[name], LastEvent: lastEvent[name]}
		before, marked := last[name]
		m := store.SourceMark{Position: pos, Moved: before.Moved}
		switch {
		case ok && !hasMark:
			// The first summary that leaves a mark cannot tell how much was read.
			line.Read = "how much it read is counted from the next summary on"
		case ok && (!marked || pos != before.Position):
			// Moved since the last summary (or first read since): it read in this period.
			m.Moved = now
			line.Read = "read"
			if name != journalSource && marked {
				line.Read = "read (the file was replaced since: rotated or truncated)"
				if pos.Dev == before.Position.Dev && pos.Inode == before.Position.Inode && pos.Offset > before.Position.Offset {
					line.Read = byteSize(pos.Offset-before.Position.Offset) + " read"
				}
			}
		case line.Events > 0:
			line.Read = "read"
		default:
			// Never read (the file does not exist or cannot be read: the daemon's log
			// says which), or not a line since the last summary.
			line.Silent, line.Since = true, before.Moved
		}
		if ok {
			marks[name] = m
		}
		out = append(out, line)
	}
	// Events from a file no configured source names: read by `abusewatch scan` (a backlog,
	// another host's log), or by a source the config no longer has. Left out, EVENTS
	// counted thousands and the sources read 0 of them (review 46 L5).
	named := map[string]bool{}
	for _, name := range names {
		named[name] = true
	}
	var others []string
	for name := range events {
		if name != "" && !named[name] && (name != syslogSource || !cfg.Syslog.listening()) {
			others = append(others, name)
		}
	}
	slices.Sort(others)
	for _, name := range others {
		out = append(out, mailer.SourceLine{Name: sanitizeText(name), Events: events[name], LastEvent: lastEvent[name],
			Read: "not a configured source (a file read by `abusewatch scan`, or a source no longer in the config)"})
	}
	return out, marks, nil
}

// byteSize writes n bytes as a person reads them.
func byteSize(n int64) string {
	switch {
	case n >= 10<<20:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 10<<10:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// Summarise sends the daily summary to mail.admin when summary.time has come since the
// last one. The first time it only starts the schedule (startSummaries): a new install
// does not mail at once. Each summary covers the time since the last one ended (a late
// one: up to summaryMaxPeriod), so that the periods tile: an hour is in one summary,
// never two, however late the last one went; the first covers what the daemon read and
// did since it started.
func (p *Pipeline) Summarise(ctx context.Context, now time.Time) error {
	// Every round comes here after its deliveries, with or without a summary; a store
	// that cannot say holds up no summary for a warning.
	if err := p.warnFutureDeliveries(now); err != nil {
		p.log.Warn("the deliveries cannot be read to look for some dated after now", "err", err)
	}
	if p.cfg.Summary.Time == "" || p.cfg.Mail.Admin == "" {
		return nil
	}
	last, ok, err := p.store.SummarySent()
	if err != nil {
		return err
	}
	if !ok {
		return p.startSummaries(now)
	}
	if last.After(now) {
		if last, err = p.resumeSummaries(now, last); err != nil {
			return err
		}
	}
	due := SummaryDue(p.cfg.Summary.Time, p.zone(), now)
	if !last.Before(due) {
		return nil
	}
	from := last
	if mark, marked, err := p.store.LastSummaryMark(); err != nil {
		return err
	} else if marked && mark.Start && mark.Sent.Equal(last) {
		from = mark.From // the first summary
	}
	begin := from
	from = maxTime(from, now.Add(-summaryMaxPeriod))
	mark, err := p.SendSummary(ctx, from, now)
	if err != nil {
		return err
	}
	mark.Begin = begin
	return p.store.SetSummaryMark(mark)
}

// resumeSummaries handles a last summary (or the schedule's start) dated after now,
// sent: the clock was fast then and has been set back (NTP, after a bad RTC at boot).
// Taken as it is, no summary went until the wrong date came round: a year for a round a
// year fast; a day fast, the summary of the day went before the day had happened, the
// one of the real day never, and that day's events were in none. Its mark is stored
// again, its end moved back to where the events it did not count begin (they were
// logged with the right time): after the newest event it counted, else the start of its
// period, else the end of the summary before (its period lay wholly in the future).
// So the next summary goes at the next summary.time and takes up those events, and no
// period ends in the future. Its events dated in the future (logged by the fast clock)
// it counted; a summary counts them again only when the clock comes to their date. It
// returns the new end.
func (p *Pipeline) resumeSummaries(now, last time.Time) (time.Time, error) {
	m, marked, err := p.store.LastSummaryMark()
	if err != nil {
		return last, err
	}
	// A store of a version that kept no such marks: where its events began is not known,
	// and a week (a late summary's longest period) may count some twice, none never.
	end := now.Add(-summaryMaxPeriod)
	switch {
	case !marked || !m.Sent.Equal(last):
	case !m.Newest.IsZero() && !m.Newest.After(now):
		end = m.Newest.Add(time.Nanosecond) // a period takes its start in: this one was counted
	case !m.From.After(now):
		end = m.From
	case !m.Begin.IsZero() && !m.Begin.After(now):
		end = m.Begin
	}
	p.log.Warn("the clock was set back: the last daily summary is dated after now, sent while the clock was fast; the next goes at summary.time and starts where the events it did not count begin",
		"summary_sent", last, "now", now, "next_from", end)
	if !marked || !m.Sent.Equal(last) {
		return end, p.store.SetSummarySent(end)
	}
	m.Sent, m.From = end, minTime(m.From, end)
	for k, src := range m.Sources {
		// A source that moved in that period did at some time up to now: shown as
		// silent since the wrong date otherwise, and the summary's end is the mark's.
		if src.Moved.After(end) {
			src.Moved = end
			m.Sources[k] = src
		}
	}
	return end, p.store.SetSummaryMark(m)
}

// startSummaries starts the summaries' schedule at now, the time of the outbox round
// that runs it: the first summary goes at the first summary.time after it. It covers
// what the daemon read and did from its start on, from the oldest line the store holds
// (a week at most before now) to its own time, now included: the lines of the logs read
// at start, the incidents made of them, and the reports this round wrote and delivered
// and the possible compromise it mailed, all dated now at the latest. Started at now
// and counted after it, as the summaries after count after the one before, they were
// in none.
func (p *Pipeline) startSummaries(now time.Time) error {
	from := now
	oldest, ok, err := p.store.OldestEvent()
	if err != nil {
		return err
	}
	if ok && oldest.Before(from) {
		from = maxTime(oldest, now.Add(-summaryMaxPeriod))
	}
	return p.store.SetSummaryMark(store.SummaryMark{From: from, Sent: now, Start: true})
}

// storeShapes gives the summary the unknown-record shapes the store counted, each with
// the normal rule detect suggests for its sample, counted since the last summary: the
// store's counts add up since a shape was first seen, and what the admin needs is
// what came in this period.
type storeShapes struct {
	st *store.Store
	// The rules loaded now (none: no Detector): a shape they decide since the admin
	// added a rule is not shown again (CheckShapes), though the store counts it while
	// its records are kept.
	rules ShapeRules
	// The counts at the last summary (nil before the first that kept them) and, once
	// TopShapes ran, those of now, for the next.
	last, now map[string]int64
}

func (s *storeShapes) TopShapes(since time.Time, n int) ([]mailer.Shape, error) {
	shapes, err := s.st.Shapes(time.Time{}, 0)
	if err != nil {
		return nil, err
	}
	s.now = make(map[string]int64, len(shapes))
	var out []mailer.Shape
	for _, sh := range shapes {
		s.now[sh.Shape] = sh.Count
		count := sh.Count
		if s.last != nil {
			// A shape pruned and seen again counts from nothing.
			if before, ok := s.last[sh.Shape]; ok && before <= sh.Count {
				count -= before
			}
		} else if sh.Last.Before(since) {
			count = 0 // before the first mark: by the time it was last seen
		}
		if _, decided := decidedNow(s.rules, sh); count == 0 || decided {
			continue
		}
		out = append(out, mailer.Shape{Shape: sh.Shape, Count: int(count), Sample: sh.Sample})
	}
	slices.SortFunc(out, func(a, b mailer.Shape) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.Shape, b.Shape))
	})
	if n > 0 && len(out) > n {
		out = out[:n]
	}
	for i := range out {
		out[i].Rule, _ = detect.Suggest(out[i].Sample)
	}
	return out, nil
}

// SendSummary builds the summary of the time since from and mails it to the admin now.
// It returns the mark the summary leaves, for the next to start from.
func (p *Pipeline) SendSummary(ctx context.Context, from, now time.Time) (store.SummaryMark, error) {
	why, err := p.unreported(now)
	if err != nil {
		return store.SummaryMark{}, err
	}
	last, _, err := p.store.LastSummaryMark()
	if err != nil {
		return store.SummaryMark{}, err
	}
	shapes := &storeShapes{st: p.store, rules: p.shapeRules(), last: last.Shapes}
	sum, mark, err := buildSummary(p.cfg, p.store, shapes, why, p.senders.snapshot(), from, now)
	if err != nil {
		return mark, err
	}
	mark.Shapes = shapes.now
	msg, err := mailer.ComposeSummary(sum, cmp.Or(p.cfg.Mail.From, p.cfg.Mail.Admin), p.cfg.Mail.Admin, now)
	if err != nil {
		return mark, err
	}
	r := abusewatch.Report{ID: "summary", Contact: abusewatch.Contact{Emails: []string{p.cfg.Mail.Admin}}, Message: msg}
	// A stop gives it a grace to finish (mailer.SMTP's StopGrace), as a report.
	loc, err := ReportTransport(p.cfg, p.transport).Deliver(ctx, r)
	if err != nil {
		return mark, fmt.Errorf("sending it to %s: %w", p.cfg.Mail.Admin, err)
	}
	var silent []string
	for _, src := range sum.Sources {
		if src.Silent {
			silent = append(silent, src.Name)
		}
	}
	p.log.Info("daily summary sent", "to", p.cfg.Mail.Admin, "where", loc, "from", from, "events", sum.Events,
		"compromises", len(sum.Compromises), "pending", sum.PendingTotal, "silent_sources", silent)
	return mark, nil
}

// SummaryDue is the latest scheduled summary time at or before now: today's hh:mm in
// loc, or yesterday's when today's has not come yet.
func SummaryDue(hhmm string, loc *time.Location, now time.Time) time.Time {
	t, _ := time.Parse("15:04", hhmm) // validated
	n := now.In(loc)
	due := time.Date(n.Year(), n.Month(), n.Day(), t.Hour(), t.Minute(), 0, 0, loc)
	if due.After(n) {
		due = due.AddDate(0, 0, -1)
	}
	return due
}

func counts(m map[string]int, top int) []mailer.Count {
	out := make([]mailer.Count, 0, len(m))
	for v, n := range m {
		out = append(out, mailer.Count{Value: v, N: n})
	}
	slices.SortFunc(out, func(a, b mailer.Count) int { return cmp.Or(cmp.Compare(b.N, a.N), strings.Compare(a.Value, b.Value)) })
	if top > 0 && len(out) > top {
		out = out[:top]
	}
	return out
}

func joinClasses(cs []abusewatch.Class) string {
	s := make([]string, len(cs))
	for i, c := range cs {
		s[i] = string(c)
	}
	return strings.Join(s, ", ")
}

// reportState says in words where an incident's reports are: one, or one per party
// when its addresses belong to several.
func reportState(rs []abusewatch.Report, inc abusewatch.Incident, why *Unreported) string {
	if len(rs) == 0 {
		if w := why.Incident(inc); w != "" {
			return "not reported: " + sanitizeText(w)
		}
		return "no report yet"
	}
	states := make([]string, 0, len(rs))
	for _, r := range rs {
		switch {
		case r.State == abusewatch.ReportPendingApproval:
			states = append(states, "waiting for your approval ("+r.ID+")")
		case r.State == abusewatch.ReportQueued && r.Waiting != "":
			states = append(states, "queued: "+r.Waiting)
		default:
			states = append(states, string(r.State)+" to "+strings.Join(r.Contact.Emails, ", "))
		}
	}
	return strings.Join(states, "; ")
}

// reportSources lists what a report is about: its incidents' sources, a network split
// between parties as the report's party's share of it (its contact's network), which
// is all that report names.
func reportSources(r abusewatch.Report, incidentOf func(id string) (abusewatch.Incident, bool)) string {
	var incs []abusewatch.Incident
	for _, id := range r.Incidents {
		if inc, ok := incidentOf(id); ok {
			incs = append(incs, inc)
		}
	}
	slices.SortStableFunc(incs, func(a, b abusewatch.Incident) int { return cmp.Or(a.First.Compare(b.First), cmp.Compare(a.ID, b.ID)) })
	var out []string
	for _, inc := range incs {
		src := inc.Source()
		n, c := abusewatch.UnmapPrefix(inc.Network), abusewatch.UnmapPrefix(r.Contact.Network)
		if inc.AboutNetwork() && c.IsValid() && c.Bits() > n.Bits() && n.Contains(c.Addr()) {
			// A party's share: the network its report names (its subject, which we
			// wrote: "… from 45.134.26.140/31"), narrower than the party's block when
			// addresses of it were left out (toldAs), else the block.
			src = c.String()
			if i := strings.LastIndex(r.Subject, " from "); i >= 0 {
				if told, err := netip.ParsePrefix(strings.TrimSpace(r.Subject[i+len(" from "):])); err == nil && c.Contains(told.Addr()) && told.Bits() >= c.Bits() {
					src = told.String()
				}
			}
		}
		out = append(out, src)
	}
	if len(out) == 0 {
		return fmt.Sprintf("%d incidents", len(r.Incidents))
	}
	if len(out) > 3 {
		out = append(out[:3], fmt.Sprintf("and %d more", len(out)-3))
	}
	return strings.Join(out, ", ")
}

// sanitizeText keeps log-derived text (host names, errors, log lines) on one printable
// line: every control character (C0, DEL and C1, whose CSI a terminal may obey) becomes
// a space, and format characters (bidi overrides such as U+202E, zero-width ones) are
// dropped, as mailer's sanitize does: a terminal shows "root<U+202E>evil" reversed.
func sanitizeText(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case unicode.IsControl(r):
			return ' '
		case unicode.Is(unicode.Cf, r):
			return -1
		}
		return r
	}, s)
}
