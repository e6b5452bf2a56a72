package daemon

import (
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/mailer"
	"github.com/abusewatch/abusewatch/store"
)

// A delivery is judged recipient by recipient (mailer.Progress): a report is sent to
// those that took it, tried again later to those that refused it for now (4xx) and to
// no one twice, and a recipient that refused it for good is marked refusing in the
// store: no further report goes to it on its own (each waits for the admin, saying why)
// until the admin approves one, which tries again, it takes one, or the mark expires
// (refusedFor). A refusal reached the desk's server as much as a delivery, and counts as
// one in the cooldown and the limits: a desk that refuses is not sent another report at
// every incident.
//
// mail.server is our own relay: a refusal is the desk's only when it is about the
// mailbox (mailer.MailboxRefusal: 5.1.x, 5.2.x at RCPT TO; to the message, only when
// the relay had accepted that one recipient alone), and never when every recipient of
// the transaction was refused with the same reply. Any other refusal for good (5.7.x
// "Relay access denied", "Sender address rejected", a reply without an enhanced code,
// a 5xx to a message for several recipients) is our relay's: no mailbox is marked,
// nothing counts as a delivery, and the report fails (or ends sent, when others took
// it) saying that our mail server refused it; `report approve --failed` re-queues it
// once the relay is fixed.

// attempt is what one delivery of a report did to each of the recipients it was sent to.
type attempt struct {
	took     []string          // took the message
	refused  []string          // refused it for good (the desk's server: mailer.MailboxRefusal)
	replies  map[string]string // of each refused one, the server's reply (one printable line)
	later    []string          // refused it for now, or were not reached: tried again
	laterWhy map[string]string // of those refused for now, the server's reply
	relay    []string          // our relay refused it for good for them: not the desk's doing
	relayWhy map[string]string // of those, our relay's reply
}

// reached are the recipients whose server had the report, taking or refusing it.
func (a attempt) reached() []string { return slices.Concat(a.took, a.refused) }

// attemptOf is what delivering to targets (addresses of a report's contact) did, from
// the transport's Progress and error. A transport that tells nothing (a maildir) took
// it for all or for none.
func attemptOf(targets []string, pr *mailer.Progress, derr error) attempt {
	a := attempt{replies: map[string]string{}, laterWhy: map[string]string{}, relayWhy: map[string]string{}}
	byBare := map[string]string{} // bare lower-case address → as the contact spells it
	for _, t := range targets {
		byBare[bareAddress(t)] = t
	}
	of := func(bare string) string {
		if t, ok := byBare[bareAddress(bare)]; ok {
			return t
		}
		return bare
	}
	told := len(pr.Accepted) > 0 || len(pr.Refused) > 0
	switch {
	case derr == nil && !told:
		a.took = slices.Clone(targets)
	case derr == nil:
		for _, e := range pr.Accepted {
			a.took = append(a.took, of(e))
		}
	case pr.DataStarted && !mailer.Temporary(derr):
		// The server's answer to the message, for every recipient it had accepted: the
		// mailbox's only when it had accepted one alone and the reply is about a mailbox.
		desk := len(pr.Accepted) == 1 && mailer.MailboxRefusal(derr)
		for _, e := range pr.Accepted {
			if desk {
				a.refused = append(a.refused, of(e))
				a.replies[of(e)] = sanitizeText(derr.Error())
			} else {
				a.relay = append(a.relay, of(e))
				a.relayWhy[of(e)] = sanitizeText(derr.Error())
			}
		}
	}
	// Every recipient, of more than one domain, refused for good at RCPT TO with one
	// reply (the recipient's address aside): the relay's, whatever the reply says. One
	// domain's mailboxes all refused alike are that desk's (abuse@ and noc@ of a dead
	// domain, each "user unknown").
	alike := len(pr.Refused) > 1 && len(pr.Accepted) == 0
	domains := map[string]bool{}
	for _, r := range pr.Refused {
		alike = alike && !mailer.Temporary(r.Err) && sameReply(r, pr.Refused[0])
		_, domain, _ := strings.Cut(bareAddress(r.Email), "@")
		domains[domain] = true
	}
	alike = alike && len(domains) > 1
	for _, r := range pr.Refused {
		e := of(r.Email)
		switch {
		case mailer.Temporary(r.Err):
			a.laterWhy[e] = sanitizeText(r.Err.Error())
			continue
		case alike || !mailer.MailboxRefusal(r.Err):
			a.relay = append(a.relay, e)
			a.relayWhy[e] = sanitizeText(r.Err.Error())
			continue
		}
		a.refused = append(a.refused, e)
		a.replies[e] = sanitizeText(r.Err.Error())
	}
	for _, t := range targets {
		if !containsFold(a.took, t) && !containsFold(a.refused, t) && !containsFold(a.relay, t) {
			a.later = append(a.later, t)
		}
	}
	return a
}

// sameReply says whether refusals a and b are one reply, each's recipient address aside.
func sameReply(a, b mailer.Refusal) bool {
	text := func(r mailer.Refusal) string {
		return strings.ReplaceAll(strings.ToLower(r.Err.Error()), bareAddress(r.Email), "")
	}
	return text(a) == text(b)
}

// bareAddress is the address of e ("Abuse Desk <abuse@x>" → "abuse@x"), in lower case.
func bareAddress(e string) string {
	if a, err := mail.ParseAddress(e); err == nil {
		e = a.Address
	}
	return strings.ToLower(strings.TrimSpace(e))
}

// containsFold says whether list holds the address e, whatever its case.
func containsFold(list []string, e string) bool {
	return slices.ContainsFunc(list, func(x string) bool { return bareAddress(x) == bareAddress(e) })
}

// unsentTo are the recipients of r still to be sent to: neither took it nor refused
// it for good.
func unsentTo(r abusewatch.Report) []string {
	var out []string
	for _, e := range r.Contact.Emails {
		if !containsFold(r.Delivered, e) && !containsFold(r.Refused, e) {
			out = append(out, e)
		}
	}
	return out
}

// partyRefusedAll says whether every party mailbox of r still to be sent to (a CERT's
// copy is no party's) refused a report for good since the admin last approved this
// one, and no party mailbox had it: then it waits for the admin, CERT copies included.
// Sent to a CERT alone, the CERT would read of a report the party never got, and the
// party's cooldown would begin with it.
func partyRefusedAll(r abusewatch.Report, marks map[string]store.RefusedMailbox) ([]store.RefusedMailbox, bool) {
	party := mailer.PartyEmails(r.Contact)
	var left []string
	for _, e := range party {
		if containsFold(r.Delivered, e) {
			return nil, false
		}
		if !containsFold(r.Refused, e) {
			left = append(left, e)
		}
	}
	ms := refusedBy(left, marks, r.Approved)
	return ms, len(left) > 0 && len(ms) == len(left)
}

// settledByRefusals settles queued report r when the marks leave it no one to go to,
// and says whether it did: every party mailbox still to get it refused a report for
// good and none had it (partyRefusedAll: it waits for the admin, CERT copy included),
// or every mailbox still to get it refused one (leftToRefusers: the admin decides, or,
// when others had it, it went, not to these). leftOut are the marked mailboxes still
// to get it, which a delivery leaves out.
func (p *Pipeline) settledByRefusals(r abusewatch.Report, marks map[string]store.RefusedMailbox, now time.Time) (leftOut []store.RefusedMailbox, settled bool, err error) {
	if ms, ok := partyRefusedAll(r, marks); ok {
		return ms, true, p.heldForRefusal(r, ms, now)
	}
	left := unsentTo(r)
	leftOut = refusedBy(left, marks, r.Approved)
	if len(leftOut) == len(left) && (len(left) > 0 || len(r.Delivered) > 0) {
		return leftOut, true, p.leftToRefusers(r, leftOut, now)
	}
	return leftOut, false, nil
}

// RefusalKept is how long a mailbox's refusal for good holds its reports: a mark older
// is forgotten (a full mailbox emptied, a dead one replaced), and the next report goes
// to it as to any other.
const RefusalKept = 30 * 24 * time.Hour

// refusedMarks are the marked mailboxes at now by bare address, those older than
// RefusalKept aside.
func refusedMarks(st *store.Store, now time.Time) (map[string]store.RefusedMailbox, error) {
	ms, err := st.RefusedMailboxes()
	if err != nil {
		return nil, err
	}
	out := make(map[string]store.RefusedMailbox, len(ms))
	for _, m := range ms {
		if now.Sub(m.Time) <= RefusalKept {
			out[bareAddress(m.Email)] = m
		}
	}
	return out, nil
}

// refusedBy is the marks of those of emails that refused a report for good since
// approved (when the admin last approved the report they are to get): such a report
// waits for the admin.
func refusedBy(emails []string, marks map[string]store.RefusedMailbox, approved time.Time) []store.RefusedMailbox {
	var out []store.RefusedMailbox
	for _, e := range emails {
		if m, ok := marks[bareAddress(e)]; ok && m.Time.After(approved) {
			out = append(out, m)
		}
	}
	return out
}

// refusedWords says why a report to the mailboxes of ms waits for the admin, with the
// commands for report id.
func (p *Pipeline) refusedWords(ms []store.RefusedMailbox, id string) string {
	var parts []string
	for _, m := range ms {
		parts = append(parts, fmt.Sprintf("%s refused report %s for good on %s: %s", m.Email, shortID(m.Report),
			m.Time.In(p.zone()).Format("2006-01-02 15:04 -0700"), m.Reply))
	}
	return fmt.Sprintf("held for you: %s; no report goes to a mailbox that refused one without your approval: `%s` tries again (or `%s`)",
		strings.Join(parts, "; "), p.cfg.Command("report approve", id), p.cfg.Command("report reject", id))
}

// refusedPreview is what PreviewReport says of a report to emails when some of them
// refused one for good: "" when none did.
func refusedPreview(st *store.Store, emails []string, loc *time.Location, now time.Time) (string, error) {
	marks, err := refusedMarks(st, now)
	if err != nil {
		return "", err
	}
	ms := refusedBy(emails, marks, time.Time{})
	if len(ms) == 0 {
		return "", nil
	}
	if len(ms) < len(emails) {
		var parts []string
		for _, m := range ms {
			parts = append(parts, fmt.Sprintf("%s refused report %s for good on %s (%s)", m.Email, shortID(m.Report),
				m.Time.In(loc).Format("2006-01-02 15:04 -0700"), m.Reply))
		}
		return fmt.Sprintf("%s: it would be sent to the others only, leaving it out, unless you approve it.", strings.Join(parts, "; ")), nil
	}
	var parts []string
	for _, m := range ms {
		parts = append(parts, fmt.Sprintf("%s refused report %s for good on %s (%s)", m.Email, shortID(m.Report),
			m.Time.In(loc).Format("2006-01-02 15:04 -0700"), m.Reply))
	}
	return fmt.Sprintf("%s: it would wait for your approval in every mode, and approving it tries again.", strings.Join(parts, "; ")), nil
}

// sentOf is the deliveries ds as the policy counts them.
func sentOf(ds []store.Delivery) []mailer.Sent {
	out := make([]mailer.Sent, len(ds))
	for i, d := range ds {
		out[i] = mailer.Sent{Report: d.Report, Time: d.Time, Emails: d.Emails, Network: d.Network, Refused: d.Refused}
	}
	return out
}

// heldForRefusal puts queued report r, to mailboxes of ms that refused a report for
// good since it was last approved, to the admin (pending-approval), saying why.
func (p *Pipeline) heldForRefusal(r abusewatch.Report, ms []store.RefusedMailbox, now time.Time) error {
	why := p.refusedWords(ms, r.ID)
	held := false
	if err := p.store.UpdateReport(r.ID, func(s *abusewatch.Report) error {
		if held = s.State == abusewatch.ReportQueued; held {
			s.State, s.Updated, s.NextAttempt, s.Waiting, s.Error = abusewatch.ReportPendingApproval, now, time.Time{}, "", why
		}
		return nil
	}); err != nil || !held {
		return err
	}
	p.log.Info("report waits for your approval: a recipient refused a report for good", "id", r.ID,
		"to", strings.Join(r.Contact.Emails, ", "), "approve", p.cfg.Command("report approve", r.ID))
	return nil
}

// relayRefusal begins what a report's note says of recipients our relay refused.
const relayRefusal = "refused by our mail server (mail.server), not by the desk (no mailbox marked)"

// leftOutWords says why a report is not sent to the mailboxes of ms, which refused one
// for good since it was last approved: "" when ms is empty.
func (p *Pipeline) leftOutWords(ms []store.RefusedMailbox) string {
	if len(ms) == 0 {
		return ""
	}
	var parts []string
	for _, m := range ms {
		parts = append(parts, fmt.Sprintf("%s refused report %s for good on %s: %s", m.Email, shortID(m.Report),
			m.Time.In(p.zone()).Format("2006-01-02 15:04 -0700"), m.Reply))
	}
	return "left out (a mailbox that refused a report gets none without your approval): " + strings.Join(parts, "; ")
}

// leftToRefusers settles queued report r, whose every recipient still to get it refused
// a report for good since it was last approved (ms): when some recipients had it, it is
// sent, not to these (saying why); else it waits for the admin (heldForRefusal).
func (p *Pipeline) leftToRefusers(r abusewatch.Report, ms []store.RefusedMailbox, now time.Time) error {
	if len(r.Delivered) == 0 {
		return p.heldForRefusal(r, ms, now)
	}
	why := p.leftOutWords(ms)
	return p.store.UpdateReport(r.ID, func(s *abusewatch.Report) error {
		if s.State == abusewatch.ReportQueued {
			s.State, s.Updated, s.NextAttempt, s.Waiting = abusewatch.ReportSent, now, time.Time{}, ""
			s.Error = strings.Join(slices.DeleteFunc([]string{s.Error, why}, func(x string) bool { return x == "" }), "; ")
		}
		return nil
	})
}

// attemptNote says what attempt a did to each recipient: who took the report (when
// others did not), who refused it for good and who for now, with the servers' replies;
// "" when every recipient took it.
func attemptNote(a attempt) string {
	var parts []string
	if len(a.took) > 0 && (len(a.refused) > 0 || len(a.later) > 0 || len(a.relay) > 0) {
		parts = append(parts, "sent to "+strings.Join(a.took, ", "))
	}
	var refused, later []string
	for _, e := range a.refused {
		refused = append(refused, e+": "+a.replies[e])
	}
	for _, e := range a.later {
		if w, ok := a.laterWhy[e]; ok {
			later = append(later, e+": "+w)
		}
	}
	if len(refused) > 0 {
		parts = append(parts, "refused for good by "+strings.Join(refused, "; "))
	}
	if len(later) > 0 {
		parts = append(parts, "refused for now by "+strings.Join(later, "; "))
	}
	var relay []string
	for _, e := range a.relay {
		relay = append(relay, e+": "+a.relayWhy[e])
	}
	if len(relay) > 0 {
		parts = append(parts, relayRefusal+" for "+strings.Join(relay, "; "))
	}
	return strings.Join(parts, "; ")
}

// noteRefusals says, of each report waiting for approval without a note (review mode),
// when a mailbox it goes to refused a report for good since it was last approved: the
// admin reads why before approving it, as of one held in auto mode (heldForRefusal).
func (p *Pipeline) noteRefusals(marks map[string]store.RefusedMailbox) error {
	if len(marks) == 0 {
		return nil
	}
	pending, err := p.store.Reports(abusewatch.ReportPendingApproval)
	if err != nil {
		return err
	}
	for _, r := range pending {
		ms := refusedBy(unsentTo(r), marks, r.Approved)
		if r.Error != "" || len(ms) == 0 {
			continue
		}
		why := p.refusedWords(ms, r.ID)
		if err := p.store.UpdateReport(r.ID, func(s *abusewatch.Report) error {
			if s.State == abusewatch.ReportPendingApproval && s.Error == "" {
				s.Error = why
			}
			return nil
		}); err != nil {
			return err
		}
	}
	return nil
}
