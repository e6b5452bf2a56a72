package daemon

import (
	"cmp"
	"context"
	"fmt"
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
// possible compromises first, with their logins. shapes may be nil; why says why an
// incident without a report has none (nil: StoredUnreported).
func BuildSummarySince(cfg *Config, st *store.Store, shapes ShapeSource, why *Unreported, from, now time.Time) (mailer.Summary, error) {
	if why == nil {
		var err error
		if why, err = StoredUnreported(cfg, st, now); err != nil {
			return mailer.Summary{}, err
		}
	}
	loc := Location(cfg.Reporter.Timezone)
	host, _ := os.Hostname()
	top := cfg.Summary.Top
	period := max(now.Sub(from), time.Hour)
	hours := int((period + 24*time.Hour - 1) / (24 * time.Hour)) // per bar
	bar := time.Duration(hours) * time.Hour
	s := mailer.Summary{Host: host, From: from, To: now, Location: loc, Mode: cfg.Policy.Mode,
		PerHour: make([]int, (period+bar-1)/bar), Hours: hours, Since: fmt.Sprintf("%dh", int((period+time.Hour-1)/time.Hour))}

	events, total, err := st.EventsBetween(from, now, summaryEventLimit)
	if err != nil {
		return s, err
	}
	s.Events = total
	byClass, byHost, byAddr, byNet := map[string]int{}, map[string]int{}, map[string]int{}, map[string]int{}
	for _, e := range events {
		byClass[string(e.Class)]++
		if e.Host != "" {
			byHost[e.Host]++
		}
		if h := int(e.Time.Sub(from) / bar); h >= 0 && h < len(s.PerHour) {
			s.PerHour[h]++
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

	incs, _, err := st.IncidentsSince(from, 0)
	if err != nil {
		return s, err
	}
	reports, err := st.Reports()
	if err != nil {
		return s, err
	}
	reportOf := map[string]abusewatch.Report{}
	for _, r := range reports {
		for _, id := range r.Incidents {
			reportOf[id] = r
		}
	}
	for _, inc := range incs {
		if inc.Last.Before(from) {
			continue
		}
		si := mailer.SummaryIncident{
			Source: inc.Source(), Count: inc.Count, First: inc.First, Last: inc.Last,
			Classes: joinClasses(inc.Classes), Hosts: sanitizeText(strings.Join(inc.Hosts, ", ")),
			Reported: reportState(reportOf[inc.ID], inc, why),
		}
		switch {
		case inc.Success:
			c, err := compromise(cfg, st, inc)
			if err != nil {
				return s, err
			}
			c.Reported = si.Reported
			s.Compromises = append(s.Compromises, c)
		case !inc.First.Before(from):
			s.New = append(s.New, si)
		default:
			s.Growing = append(s.Growing, si)
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
	byID := map[string]abusewatch.Incident{}
	for _, inc := range incs {
		byID[inc.ID] = inc
	}
	incidentOf := func(id string) (abusewatch.Incident, bool) {
		if inc, ok := byID[id]; ok {
			return inc, true
		}
		inc, ok, err := st.Incident(id)
		return inc, ok && err == nil
	}
	for _, r := range reports {
		// Only the reports listed are read for their sources (every report ever sent
		// was, each of its incidents).
		line := func(command string) mailer.ReportLine {
			return mailer.ReportLine{ID: r.ID, To: strings.Join(r.Contact.Emails, ", "), Sources: reportSources(r, incidentOf),
				Created: r.Created, Command: command}
		}
		switch r.State {
		case abusewatch.ReportSent:
			if !r.Updated.Before(from) {
				s.Sent++
			}
		case abusewatch.ReportQueued:
			s.Queued++
			if r.Waiting != "" && r.NextAttempt.After(now) {
				s.Waiting++
			}
		case abusewatch.ReportFailed:
			s.Failed++
			if !r.Updated.Before(from) {
				l := line(report + " approve " + r.ID + "   (to try again)")
				l.Problem = sanitizeText(r.Error)
				s.FailedReports = append(s.FailedReports, l)
			}
		case abusewatch.ReportPendingApproval:
			// The oldest few, each with its command: after a re-correlation in review
			// mode hundreds may wait, and "approve --all" is there for them.
			if s.PendingTotal++; len(s.Pending) < summaryPendingReports {
				s.Pending = append(s.Pending, line(report+" approve "+r.ID))
			}
		}
	}

	if shapes != nil {
		if s.Shapes, err = shapes.TopShapes(from, top); err != nil {
			return s, err
		}
	}
	if len(s.Shapes) == 0 {
		s.ShapesNote = "None in this period: every record was normal or a known attack."
	}
	return s, nil
}

// Summarise sends the daily summary to mail.admin when summary.time has come since the
// last one. The first time it only starts the schedule: a new install does not mail
// about a day it did not watch. A summary sent late (the daemon was stopped over
// summary.time) covers the time since the last one, up to summaryMaxPeriod.
func (p *Pipeline) Summarise(ctx context.Context, now time.Time) error {
	if p.cfg.Summary.Time == "" || p.cfg.Mail.Admin == "" {
		return nil
	}
	last, ok, err := p.store.SummarySent()
	if err != nil {
		return err
	}
	if !ok {
		return p.store.SetSummarySent(now)
	}
	due := SummaryDue(p.cfg.Summary.Time, p.zone(), now)
	if !last.Before(due) {
		return nil
	}
	from := now.Add(-24 * time.Hour)
	if last.Before(from) {
		from = maxTime(last, now.Add(-summaryMaxPeriod))
	}
	if err := p.SendSummary(ctx, from, now); err != nil {
		return err
	}
	return p.store.SetSummarySent(now)
}

// storeShapes gives the summary the unknown-record shapes the store counted, each with
// the normal rule detect suggests for its sample.
type storeShapes struct{ st *store.Store }

func (s storeShapes) TopShapes(since time.Time, n int) ([]mailer.Shape, error) {
	shapes, err := s.st.Shapes(since, n)
	if err != nil {
		return nil, err
	}
	out := make([]mailer.Shape, 0, len(shapes))
	for _, sh := range shapes {
		rule, _ := detect.Suggest(sh.Sample)
		out = append(out, mailer.Shape{Shape: sh.Shape, Count: int(sh.Count), Sample: sh.Sample, Rule: rule})
	}
	return out, nil
}

// SendSummary builds the summary of the time since from and mails it to the admin now.
func (p *Pipeline) SendSummary(ctx context.Context, from, now time.Time) error {
	why, err := p.unreported(now)
	if err != nil {
		return err
	}
	sum, err := BuildSummarySince(p.cfg, p.store, storeShapes{p.store}, why, from, now)
	if err != nil {
		return err
	}
	msg, err := mailer.ComposeSummary(sum, cmp.Or(p.cfg.Mail.From, p.cfg.Mail.Admin), p.cfg.Mail.Admin, now)
	if err != nil {
		return err
	}
	r := abusewatch.Report{ID: "summary", Contact: abusewatch.Contact{Emails: []string{p.cfg.Mail.Admin}}, Message: msg}
	// Let finish when the daemon stops, as a report is (DeliverAt).
	loc, err := ReportTransport(p.cfg, p.transport).Deliver(context.WithoutCancel(ctx), r)
	if err != nil {
		return fmt.Errorf("sending it to %s: %w", p.cfg.Mail.Admin, err)
	}
	p.log.Info("daily summary sent", "to", p.cfg.Mail.Admin, "where", loc, "events", sum.Events,
		"compromises", len(sum.Compromises), "pending", sum.PendingTotal)
	return nil
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

// reportState says in words where an incident's report is.
func reportState(r abusewatch.Report, inc abusewatch.Incident, why *Unreported) string {
	switch {
	case r.ID == "" || inc.Success:
		if w := why.Incident(inc); w != "" {
			return "not reported: " + sanitizeText(w)
		}
		return "no report yet"
	case r.State == abusewatch.ReportPendingApproval:
		return "waiting for your approval (" + r.ID + ")"
	case r.State == abusewatch.ReportQueued && r.Waiting != "":
		return "queued: " + r.Waiting
	}
	return string(r.State) + " to " + strings.Join(r.Contact.Emails, ", ")
}

// reportSources lists the addresses a report is about.
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
		out = append(out, inc.Source())
	}
	if len(out) == 0 {
		return fmt.Sprintf("%d incidents", len(r.Incidents))
	}
	if len(out) > 3 {
		out = append(out[:3], fmt.Sprintf("and %d more", len(out)-3))
	}
	return strings.Join(out, ", ")
}

// sanitizeText keeps log-derived text (host names, errors) on one printable line: every
// control character (C0, DEL and C1, whose CSI a terminal may obey) becomes a space.
func sanitizeText(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}
