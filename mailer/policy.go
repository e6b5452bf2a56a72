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
// exponential back-off after a temporary failure, one report per responsible party (its
// own addresses, a national CERT's copy aside, or its network) per cooldown, a limit per
// recipient domain per hour and a cap per day.
type Policy struct {
	Cooldown      time.Duration  // no second report to the same party's address or about the same network within this
	DomainPerHour int            // reports to one recipient domain per hour; 0: no limit
	DailyCap      int            // reports in any 24 hours; 0: no limit
	RetryMin      time.Duration  // the first back-off after a temporary failure
	RetryMax      time.Duration  // the longest back-off
	GiveUpAfter   time.Duration  // a report still failing temporarily this long after its first attempt (since it was queued or approved) fails for good
	Location      *time.Location // the zone of the times in Hold's reasons; nil: UTC
}

// Sent is one report that left: what the cooldown and the limits count. A mail whose
// recipient's server refused it reached that server as much as one it took, and counts
// as one: the desk that refused (its spam filter, a full mailbox) is not sent another
// at every incident.
type Sent struct {
	Report  string
	Time    time.Time
	Emails  []string
	Network netip.Prefix
	Refused []string // those of Emails whose server refused it
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

// GiveUp says whether a report first tried at first (since it was last queued or
// approved) has been failing for too long.
func (p Policy) GiveUp(first, now time.Time) bool {
	return p.GiveUpAfter > 0 && !first.IsZero() && now.Sub(first) >= p.GiveUpAfter
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
		// r's own earlier attempt (to recipients that took it, while others refused it
		// for now) starts no cooldown for r's retry to those others.
		others := slices.DeleteFunc(slices.Clone(sent), func(s Sent) bool { return s.Report == r.ID })
		if s, ok := p.LastTo(r.Contact, others, now); ok {
			// Named by this report's own recipients that had it (or its network): the
			// other recipients of that report are another party's business.
			who := "the network " + r.Contact.Network.String()
			if shared := sharedAddresses(PartyEmails(r.Contact), s.Emails); len(shared) > 0 {
				who = strings.Join(shared, ", ")
			}
			had := "had a report"
			if len(s.Refused) > 0 && len(sharedAddresses(PartyEmails(r.Contact), s.Refused)) > 0 {
				had = "refused a report"
			}
			later(s.Time.Add(p.Cooldown), fmt.Sprintf("cooldown: %s %s on %s", who, had,
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
					fmt.Sprintf("limit: %d reports to %s in the last hour (policy.domain_hourly_limit)", len(inHour), d))
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
				fmt.Sprintf("cap: %d reports in the last 24 hours (policy.daily_cap)", len(inDay)))
		}
	}
	return until, why
}

// LastTo is the newest report sent within the cooldown to any of the party's addresses
// of contact (PartyEmails) or about its network: the cooldown is the responsible
// party's. A national CERT's copy neither starts nor waits on it.
//
// A report dated after now is none of them, as for the hourly limit and the daily cap:
// it went while the clock was fast, at a time nobody knows now that the clock was set
// back. Its cooldown held the party until the wrong date came round and the cooldown
// after it: for a year after one round a year fast, and the party's incidents grew
// past policy.max_age meanwhile, never reported. Counted as sent now, it held the party
// again at every round for as long. Left out, the party gets at most one more report
// after the step back, and the daemon's log says it found reports dated in the future.
func (p Policy) LastTo(contact abusewatch.Contact, sent []Sent, now time.Time) (Sent, bool) {
	var last Sent
	found := false
	own := PartyEmails(contact)
	for _, s := range sent {
		if now.Sub(s.Time) >= p.Cooldown || s.Time.After(now) || (found && s.Time.Before(last.Time)) {
			continue
		}
		if (contact.Network.IsValid() && s.Network == contact.Network) || len(sharedAddresses(own, s.Emails)) > 0 {
			last, found = s, true
		}
	}
	return last, found
}

// PartyEmails are the addresses of contact that stand for the responsible party: its
// own, not a national CERT's ([[cert]], role "cert"), which is copied on every party of
// its country: a cooldown or a waiting report keyed by it held every party of the
// country behind the first one's report, for a week. A contact of CERTs only (the
// registry names no one for the network) is the CERT's to act on: its addresses are the
// party's.
func PartyEmails(contact abusewatch.Contact) []string {
	cert := func(e string) bool {
		isCERT := false
		for _, m := range contact.Mailboxes {
			if strings.EqualFold(m.Email, e) {
				if m.Role != "cert" {
					return false
				}
				isCERT = true
			}
		}
		return isCERT
	}
	own := slices.DeleteFunc(slices.Clone(contact.Emails), cert)
	if len(own) == 0 {
		return contact.Emails
	}
	return own
}

// sharedAddresses are the addresses of a also in b (in a's spelling).
func sharedAddresses(a, b []string) []string {
	var out []string
	for _, x := range a {
		if slices.ContainsFunc(b, func(y string) bool { return strings.EqualFold(x, y) }) {
			out = append(out, x)
		}
	}
	return out
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
