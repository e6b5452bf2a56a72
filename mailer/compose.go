package mailer

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/mail"
	"net/netip"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/abusewatch/abusewatch"
	gomail "github.com/emersion/go-message/mail"
)

// timeLayout shows every time with its offset from GMT, so a reader in any zone can
// match our lines against their own logs.
const timeLayout = "2006-01-02 15:04:05 -0700"

// Composer writes abuse reports from a memo template. It holds no mutable state and is
// safe for concurrent use.
type Composer struct {
	tmpl     *template.Template
	reporter Reporter
	from     *mail.Address
	domain   string // of from, for Message-IDs
	xarf     bool
	signer   *Signer
	// The template prints .Others: incidents beyond maxDetailed go there, a line each.
	// A template that does not (an admin's, written before) gets every one in .Incidents.
	listsOthers bool
	redact      Redaction
	labels      map[string]string // of one report being composed, with redact.Hosts: hostLabels
}

// Options are the optional parts of a report.
type Options struct {
	// XARF attaches one X-ARF v4 JSON report (login_attack or port_scan) per source
	// as xarf-N.json, so the recipient's tooling can ingest it.
	XARF bool
	// Signer signs the report as OpenPGP/MIME (RFC 3156); nil leaves it unsigned.
	Signer *Signer
	// Hosts maps our host names to their addresses (see Reporter.Hosts).
	Hosts map[string][]netip.Addr
	// Redact masks user names and our host names in what the report quotes.
	Redact Redaction
}

// With returns a Composer like c that writes reports with the options o.
func (c *Composer) With(o Options) *Composer {
	cc := *c
	cc.xarf, cc.signer, cc.redact = o.XARF, o.Signer, o.Redact
	if o.Hosts != nil {
		cc.reporter.Hosts = o.Hosts
	}
	return &cc
}

// replyTo is where the abuse desk's answer goes when it is not the From address: the
// reporter's own address (reporter.email), which the memo gives as the contact, while
// From is often a sending-only address. Nil when there is none or it is From.
func (c *Composer) replyTo() *mail.Address {
	if c.reporter.Email == "" {
		return nil
	}
	r, err := mail.ParseAddress(c.reporter.Email)
	if err != nil || strings.EqualFold(r.Address, c.from.Address) {
		return nil
	}
	if r.Name == "" {
		r.Name = c.reporter.Name
	}
	return r
}

// NewComposer parses the memo template (text/template source; the shipped default is
// configs/report.tmpl) and checks that it renders, so a bad template is refused at load
// rather than when the first report is due. from is the From address, e.g.
// "abuse@example.org" or "Example Security <abuse@example.org>"; without a display name
// the reporter's name is used.
func NewComposer(tmpl string, reporter Reporter, from string) (*Composer, error) {
	if reporter.Location == nil {
		reporter.Location = time.UTC
	}
	addr, err := mail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("mailer: From address %q: %w", from, err)
	}
	if addr.Name == "" {
		addr.Name = reporter.Name
	}
	t, err := template.New("report.tmpl").Option("missingkey=error").Parse(tmpl)
	if err != nil {
		// text/template errors read "template: report.tmpl:LINE: reason".
		return nil, fmt.Errorf("mailer: the report template does not parse: %w", err)
	}
	c := &Composer{
		tmpl:     t,
		reporter: reporter,
		from:     addr,
		domain:   addr.Address[strings.LastIndexByte(addr.Address, '@')+1:],
	}
	contact, detailed, others := sample()
	var out bytes.Buffer
	// Each kind of recipient once: a template's branch for a guess or a CERT that
	// cannot render would otherwise fail only when such a report is due.
	for i, k := range sampleRecipients(contact) {
		out.Reset()
		m := c.memo(k, detailed, others, nil)
		if i == 0 {
			// And a follow-up's branch (.Follows), once.
			m.Follows = &memoFollows{ReportID: "0123456789abcdef0123456789abcdef", Date: "2025-12-31"}
		}
		if err := t.Execute(&out, m); err != nil {
			return nil, fmt.Errorf("mailer: the report template does not render (for a recipient found as %q): %w",
				recipientOf(k, detailed).Kind, err)
		}
	}
	// Whether it prints the sources listed a line each: the sample's such source.
	c.listsOthers = strings.Contains(out.String(), others[0].inc.Source())
	return c, nil
}

// Compose writes one report to contact about incidents, all from the contact's networks.
// The ID and Message-ID depend only on the recipients and the incident IDs, so composing
// the same report again gives the same identity; now is the Date and Created time.
func (c *Composer) Compose(contact abusewatch.Contact, incidents []abusewatch.Incident, now time.Time) (abusewatch.Report, error) {
	return c.ComposeKnowing(contact, incidents, Known{}, now)
}

// Known is what the outbox knows of a report's incidents that they do not say
// themselves: it reads the store, which the mailer does not.
type Known struct {
	// Reported are incidents that have a report (to anyone, in any state), those
	// whose lines the recurrences and network incidents of the report take in (their
	// scope, within their times; the incidents of the report itself are left aside).
	// Their report leaves those lines out of their evidence and their counts: the desk
	// is never told a line twice.
	Reported []abusewatch.Incident
	// AllSources are the IDs of recurrences of a network whose Sources name every
	// address of the lines they count (the store still holds every one of them): the
	// memo says how many, not "N or more".
	AllSources map[string]bool
	// Inexact are, by incident ID, what the incidents cannot state exactly (a party's
	// share of a network incident whose lines retention deleted): the memo says so.
	Inexact map[string]Inexact
	// Recurrences are, by ID of a recurrence, what the store holds of the lines it
	// reports: its report dates, counts and describes those (Recurrence).
	Recurrences map[string]Recurrence
	// Seen are, by ID of a network incident, when each address of its evidence was seen
	// within it: the X-ARF part of the address gives its times, not those of its lines
	// in the incident's sample.
	Seen map[string]map[netip.Addr]Seen
	// Replaces is the report, to the same party, that this one is written instead of
	// with sources joining it, or "": its ID goes into this one's. A report's ID comes
	// from its recipients and incidents, and is never used twice, yet the joined
	// report may hold what an earlier one, rejected since, held (sources sent to
	// another recipient, then back).
	Replaces string
	// ID, when not "", is the ID of the report being written again as it is (the same
	// incidents to the same party, with another [mail] redact): it keeps it, and its
	// Message-ID, whatever it was derived from (a report written instead of another
	// has that one's ID in its own: Replaces).
	ID string
	// Earlier are reports written before about incidents that these follow (the earlier
	// incidents of their key), grow from (Reported's) or repeat, as stored, each with
	// its Message. The newest of them that went to this report's party (a mailbox of
	// its own, not a CERT's copy, took both) is the one this report follows: its desk's
	// ticket system files this one with it (In-Reply-To and References name its
	// Message-ID, which we made), and the memo names its reference (.Follows). One to
	// another party, or one that never went, is not named.
	Earlier []abusewatch.Report
}

// Seen is when an address of a network incident sent its first and last line within
// the incident, from the lines the store holds (zero: none). Partial: the store no
// longer holds every line of the incident's times (retention deleted the oldest).
//
// Of an address the report names, Count and Conns are its lines and connections there
// that a report may tell (none a report before holds), Lines a sample of them (at most
// SeenLines: the first, some between, the last): its X-ARF part quotes them, and gives
// its own counts, when the incident's sample holds none or only some of its lines
// (review desk48 M1). Count 0: not known.
type Seen struct {
	First, Last time.Time
	Partial     bool
	Count       int
	Conns       int
	Lines       []abusewatch.Event
	// Classes are those of its lines counted (Count), each once.
	Classes []abusewatch.Class
}

// SeenLines is at most how many lines of an address Seen.Lines holds.
const SeenLines = 10

// ComposeKnowing is Compose with what the outbox knows of the incidents (Known).
func (c *Composer) ComposeKnowing(contact abusewatch.Contact, incidents []abusewatch.Incident, known Known, now time.Time) (abusewatch.Report, error) {
	if len(incidents) == 0 {
		return abusewatch.Report{}, errors.New("mailer: a report needs at least one incident")
	}
	to, err := recipients(contact.Emails)
	if err != nil {
		return abusewatch.Report{}, err
	}
	incidents = slices.Clone(incidents)
	if c.redact.Hosts {
		cc := *c
		cc.labels = hostLabels(incidents)
		c = &cc
	}
	inexact, own := known.Inexact, false // and the recurrences' first days known only as days
	for i := range incidents {
		r, ok := known.Recurrences[incidents[i].ID]
		if !ok || incidents[i].Rule != "recurrence" {
			continue
		}
		was := incidents[i].First
		var firstDay bool
		// A First it moved is a line's or (firstDay) a day's, whatever Inexact said of
		// the one before.
		if incidents[i], firstDay = asReported(incidents[i], r); firstDay || !incidents[i].First.Equal(was) {
			if !own {
				inexact, own = maps.Clone(known.Inexact), true
				if inexact == nil {
					inexact = map[string]Inexact{}
				}
			}
			in := inexact[incidents[i].ID]
			in.FirstDay = firstDay
			inexact[incidents[i].ID] = in
		}
	}
	slices.SortFunc(incidents, func(a, b abusewatch.Incident) int {
		return cmp.Or(a.First.Compare(b.First), strings.Compare(a.ID, b.ID))
	})
	ids := make([]string, len(incidents))
	for i, inc := range incidents {
		ids[i] = inc.ID
	}
	id := reportID(to, ids, known.Replaces)
	if known.ID != "" {
		id = known.ID
	}
	low := map[string]lowered{}
	for i := range incidents {
		if !takesIn(&incidents[i]) || len(known.Reported) == 0 {
			continue
		}
		if inc, lw, ok := besidesReported(incidents[i], known.Reported, ids); ok {
			inc.Classes = ownClasses(&inc, known.Seen[inc.ID])
			incidents[i], low[inc.ID] = inc, lw
		}
	}
	sources := sourcesOf(incidents, known.AllSources)
	if len(low) > 0 {
		lowerBounds(sources, low)
	}
	if len(inexact) > 0 {
		markInexact(sources, inexact)
	}
	subject := subjectFor(sources)

	var body bytes.Buffer
	detailed, others := sources, []*source(nil)
	if c.listsOthers {
		detailed, others = mostSerious(sources, maxDetailed)
	}
	m := c.memo(contact, detailed, others, known.Recurrences)
	m.ReportID = id
	th, follows := followed(contact, known.Earlier, id)
	if follows {
		m.Follows = &memoFollows{ReportID: th.reportID, Date: th.sent.In(c.reporter.Location).Format("2006-01-02")}
	}
	if err := c.tmpl.Execute(&body, m); err != nil {
		return abusewatch.Report{}, fmt.Errorf("mailer: rendering the report template: %w", err)
	}
	if !bytes.HasSuffix(body.Bytes(), []byte("\n")) {
		body.WriteByte('\n') // so the message ends in CRLF and SMTP sends it byte for byte
	}

	// The body: the memo, then the X-ARF parts, the whole optionally signed.
	e, err := textEntity("text/plain", body.Bytes())
	if err != nil {
		return abusewatch.Report{}, fmt.Errorf("mailer: writing the message body: %w", err)
	}
	if c.xarf {
		parts, err := c.xarfEntities(id, detailed, known.Seen)
		if err != nil {
			return abusewatch.Report{}, fmt.Errorf("mailer: writing the X-ARF part: %w", err)
		}
		if len(parts) > 0 {
			e.header.Set("Content-Disposition", "inline")
			if e, err = multipartEntity("multipart/mixed", boundary("mixed", id), nil, append([]entity{e}, parts...)); err != nil {
				return abusewatch.Report{}, fmt.Errorf("mailer: writing the message body: %w", err)
			}
		}
	}
	if c.signer != nil {
		if e, err = c.signer.sign(e, boundary("signed", id), now); err != nil {
			return abusewatch.Report{}, err
		}
	}

	var h gomail.Header
	h.SetAddressList("From", []*mail.Address{c.from})
	h.SetAddressList("To", to)
	if r := c.replyTo(); r != nil {
		h.SetAddressList("Reply-To", []*mail.Address{r})
	}
	h.SetSubject(subject)
	// When it was written; the transports date it again when it is sent (Dated), in
	// this zone, so that a report approved days later does not carry a stale Date.
	h.SetDate(now.In(c.reporter.Location))
	h.SetMessageID(id + "@" + c.domain)
	if follows {
		// Our own Message-IDs alone (ourMessageID), never a log's text; the subject
		// stays as it is (no "Re:"): it names the same source, which threads by subject.
		h.SetMsgIDList("In-Reply-To", []string{th.inReplyTo})
		h.SetMsgIDList("References", th.references)
	}
	h.Set("Auto-Submitted", "auto-generated") // RFC 3834: no vacation replies, please
	if c.signer != nil {
		h.Set("OpenPGP", c.signer.header())
	}
	msg, err := writeMessage(h, e)
	if err != nil {
		return abusewatch.Report{}, err
	}

	return abusewatch.Report{
		ID:        id,
		MessageID: "<" + id + "@" + c.domain + ">",
		Incidents: slices.Sorted(slices.Values(ids)),
		Contact:   contact,
		Subject:   subject,
		Created:   now,
		Message:   msg,
		Redacted:  c.redact.Names(),
	}, nil
}

// maxReferences bounds the References field of a follow-up: the first report of the
// thread and the newest ones before this one (RFC 5322 3.6.4 allows leaving the middle
// out), so a chain of follow-ups over months does not grow its header without end.
const maxReferences = 5

// thread is the earlier report a report follows: its reference, when it went, and the
// Message-IDs (without angle brackets) for In-Reply-To and References.
type thread struct {
	reportID   string
	sent       time.Time
	inReplyTo  string
	references []string
}

// followed picks, of earlier, the newest report that went to the party of contact (a
// mailbox of the party's own, not a national CERT's copy, among those that took it;
// Known.Earlier), other than the report id itself, and the thread it heads: its
// References (read from its stored message, our own IDs alone) and its Message-ID.
// false when none did, or its Message-ID is not one of ours.
func followed(contact abusewatch.Contact, earlier []abusewatch.Report, id string) (thread, bool) {
	party := map[string]bool{}
	for _, e := range PartyEmails(contact) {
		party[bareEmail(e)] = true
	}
	var best *abusewatch.Report
	for i := range earlier {
		r := &earlier[i]
		if r.ID == id || r.State != abusewatch.ReportSent || !ourMessageID(r.MessageID, r.ID) {
			continue
		}
		took := false
		for _, e := range PartyEmails(r.Contact) {
			if party[bareEmail(e)] && (len(r.Delivered) == 0 || slices.ContainsFunc(r.Delivered, func(d string) bool { return bareEmail(d) == bareEmail(e) })) {
				took = true
				break
			}
		}
		if !took {
			continue
		}
		if best == nil || cmp.Or(sentAt(r).Compare(sentAt(best)), strings.Compare(r.ID, best.ID)) > 0 {
			best = r
		}
	}
	if best == nil {
		return thread{}, false
	}
	own := strings.Trim(best.MessageID, "<>")
	var refs []string
	if msg, err := mail.ReadMessage(bytes.NewReader(best.Message)); err == nil {
		for _, f := range strings.Fields(msg.Header.Get("References")) {
			if ourMessageID(f, "") && !slices.Contains(refs, strings.Trim(f, "<>")) && strings.Trim(f, "<>") != own {
				refs = append(refs, strings.Trim(f, "<>"))
			}
		}
	}
	refs = append(refs, own)
	if len(refs) > maxReferences {
		refs = append(refs[:1], refs[len(refs)-maxReferences+1:]...)
	}
	return thread{reportID: best.ID, sent: sentAt(best), inReplyTo: own, references: refs}, true
}

// sentAt is when report r (sent) went: its last change, the one that marked it sent.
func sentAt(r *abusewatch.Report) time.Time {
	if r.Updated.IsZero() {
		return r.Created
	}
	return r.Updated
}

// bareEmail is the address of e ("Name <a@b>" or "a@b"), in lower case.
func bareEmail(e string) string {
	if a, err := mail.ParseAddress(e); err == nil {
		e = a.Address
	}
	return strings.ToLower(strings.TrimSpace(e))
}

// ourMessageID says whether s is a Message-ID as Compose makes them, "<ID@DOMAIN>": ID
// 32 lower-case hex digits (reportID; id when not ""), DOMAIN letters, digits, dots,
// hyphens and underscores. Only such an ID goes into a follow-up's header: a stored
// message is ours, but nothing else may reach a header.
func ourMessageID(s, id string) bool {
	local, domain, ok := strings.Cut(strings.TrimSuffix(strings.TrimPrefix(s, "<"), ">"), "@")
	if !ok || len(s) != len(local)+len(domain)+3 || s[0] != '<' || len(local) != 32 || (id != "" && local != id) || domain == "" || len(domain) > 255 {
		return false
	}
	for _, r := range local {
		if (r < '0' || r > '9') && (r < 'a' || r > 'f') {
			return false
		}
	}
	for _, r := range domain {
		if (r < '0' || r > '9') && (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && r != '.' && r != '-' && r != '_' {
			return false
		}
	}
	return true
}

// recipients validates the contact's addresses and drops duplicates. Registry data is
// not trusted: only what net/mail accepts as one address reaches a header, re-formatted.
func recipients(emails []string) ([]*mail.Address, error) {
	var to []*mail.Address
	seen := map[string]bool{}
	for _, e := range emails {
		a, err := mail.ParseAddress(e)
		if err != nil {
			return nil, fmt.Errorf("mailer: contact address %q: %w", sanitize(e), err)
		}
		key := strings.ToLower(a.Address)
		if seen[key] {
			continue
		}
		seen[key] = true
		to = append(to, &mail.Address{Address: a.Address})
	}
	if len(to) == 0 {
		return nil, errors.New("mailer: the contact has no e-mail address")
	}
	return to, nil
}

// reportID is the hex of the first 16 bytes of a SHA-256 over the recipients and the
// incident IDs, both sorted, so it names one (responsible party, incidents) pair whatever
// order they came in. NUL separators keep ("ab","c") and ("a","bc") apart.
func reportID(to []*mail.Address, incidentIDs []string, replaces string) string {
	emails := make([]string, len(to))
	for i, a := range to {
		emails[i] = strings.ToLower(a.Address)
	}
	slices.Sort(emails)
	incidentIDs = slices.Sorted(slices.Values(incidentIDs))
	h := sha256.New()
	for _, e := range emails {
		io.WriteString(h, e+"\x00")
	}
	h.Write([]byte{0})
	for _, id := range incidentIDs {
		io.WriteString(h, id+"\x00")
	}
	if replaces != "" {
		io.WriteString(h, "\x00replaces\x00"+replaces)
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// subjectFor builds the subject from the incidents' rules and classes and netip values
// only: never from log text, which an attacker controls.
func subjectFor(sources []*source) string {
	what := "suspicious activity"
	switch {
	case allLogins(sources):
		what = "repeated login attempts"
		var evs []abusewatch.Event
		for _, s := range sources {
			for _, inc := range s.members {
				evs = append(evs, inc.Evidence...)
			}
		}
		if p := loginProtocol(evs); p != "" {
			what = "repeated " + p + " login attempts"
		}
	case allScans(sources):
		what = "port scan"
	}
	s := "Abuse report: " + what + " from " + sources[0].inc.Source()
	switch n := len(sources) - 1; n {
	case 0:
	case 1:
		s += " and 1 other source"
	default:
		s += fmt.Sprintf(" and %d other sources", n)
	}
	return s
}

// allLogins reports whether every incident is only about login attempts.
func allLogins(sources []*source) bool {
	for _, s := range sources {
		for _, cl := range s.inc.Classes {
			switch cl {
			case abusewatch.ClassAuthFailure, abusewatch.ClassInvalidUser, abusewatch.ClassAuthSuccess:
			default:
				return false
			}
		}
	}
	return true
}

// allScans reports whether every source is a port scan: it has one, and its other
// incidents hold only lines of the kinds its port scans do (the address's per-address
// incident of the same packets).
func allScans(sources []*source) bool {
	for _, s := range sources {
		var classes []abusewatch.Class
		for _, inc := range s.members {
			if inc.Rule == "port-scan" {
				classes = append(classes, inc.Classes...)
			}
		}
		if len(classes) == 0 {
			return false
		}
		for _, inc := range s.members {
			if slices.ContainsFunc(inc.Classes, func(c abusewatch.Class) bool { return !slices.Contains(classes, c) }) {
				return false
			}
		}
	}
	return true
}
