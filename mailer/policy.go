package mailer

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/abusewatch/abusewatch"
)

// Policy decides when a queued report may go, so that a flood of attackers never
// becomes a flood of mail (fail2ban's complain action is the known counter-example):
// exponential back-off after a temporary failure, one report per recipient address or
// network per cooldown, a limit per recipient domain per hour and a cap per day.
type Policy struct {
	Cooldown      time.Duration  // no second report to the same address or about the same network within this
	DomainPerHour int            // reports to one recipient domain per hour; 0: no limit
	DailyCap      int            // reports in any 24 hours; 0: no limit
	RetryMin      time.Duration  // the first back-off after a temporary failure
	RetryMax      time.Duration  // the longest back-off
	GiveUpAfter   time.Duration  // a report still failing temporarily this long after it was written fails for good
	Location      *time.Location // the zone of the times in Hold's reasons; nil: UTC
}

// Sent is one report that left: what the cooldown and the limits count.
type Sent struct {
	Report  string
	Time    time.Time
	Emails  []string
	Network netip.Prefix
}

// Backoff is the wait after the nth failed attempt (n >= 1): RetryMin, doubled for each
// further attempt, at most RetryMax.
func (p Policy) Backoff(n int) time.Duration {
	d := p.RetryMin
	for i := 1; i < n && d < p.RetryMax; i++ {
		d *= 2
	}
	return min(d, max(p.RetryMax, p.RetryMin))
}

// GiveUp says whether a report written at created has been failing for too long.
func (p Policy) GiveUp(created, now time.Time) bool {
	return p.GiveUpAfter > 0 && now.Sub(created) >= p.GiveUpAfter
}

// Hold says whether r must wait, given the reports sent so far, oldest first (at least
// those of the last max(Cooldown, 24h)): until when, and why in words for the admin. A zero time
// means r may go now.
func (p Policy) Hold(r abusewatch.Report, sent []Sent, now time.Time) (time.Time, string) {
	var until time.Time
	var why string
	later := func(t time.Time, reason string) {
		if t.After(now) && t.After(until) {
			until, why = t, reason
		}
	}
	if p.Cooldown > 0 {
		if s, ok := p.LastTo(r.Contact, sent, now); ok {
			later(s.Time.Add(p.Cooldown), fmt.Sprintf("cooldown: %s had a report on %s", strings.Join(s.Emails, ", "),
				s.Time.In(cmp.Or(p.Location, time.UTC)).Format("2006-01-02 15:04 -0700")))
		}
	}
	if p.DomainPerHour > 0 {
		for _, d := range domains(r.Contact.Emails) {
			var inHour []time.Time
			for _, s := range sent {
				if now.Sub(s.Time) < time.Hour && !s.Time.After(now) && hasDomain(s.Emails, d) {
					inHour = append(inHour, s.Time)
				}
			}
			if len(inHour) >= p.DomainPerHour {
				later(inHour[len(inHour)-p.DomainPerHour].Add(time.Hour),
					fmt.Sprintf("limit: %d reports to %s in the last hour (mail.domain_hourly_limit)", len(inHour), d))
			}
		}
	}
	if p.DailyCap > 0 {
		var inDay []time.Time
		for _, s := range sent {
			if now.Sub(s.Time) < 24*time.Hour && !s.Time.After(now) {
				inDay = append(inDay, s.Time)
			}
		}
		if len(inDay) >= p.DailyCap {
			later(inDay[len(inDay)-p.DailyCap].Add(24*time.Hour),
				fmt.Sprintf("cap: %d reports in the last 24 hours (mail.daily_cap)", len(inDay)))
		}
	}
	return until, why
}

// LastTo is the newest report sent within the cooldown to any of contact's addresses
// or about its network.
func (p Policy) LastTo(contact abusewatch.Contact, sent []Sent, now time.Time) (Sent, bool) {
	var last Sent
	found := false
	for _, s := range sent {
		if now.Sub(s.Time) >= p.Cooldown || (found && s.Time.Before(last.Time)) {
			continue
		}
		if (contact.Network.IsValid() && s.Network == contact.Network) || sharesAddress(s.Emails, contact.Emails) {
			last, found = s, true
		}
	}
	return last, found
}

func sharesAddress(a, b []string) bool {
	for _, x := range a {
		for _, y := range b {
			if strings.EqualFold(x, y) {
				return true
			}
		}
	}
	return false
}

// domains are the distinct domains of emails, in lower case.
func domains(emails []string) []string {
	var out []string
	for _, e := range emails {
		d := strings.ToLower(e[strings.LastIndexByte(e, '@')+1:])
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}

func hasDomain(emails []string, domain string) bool {
	return slices.Contains(domains(emails), domain)
}
