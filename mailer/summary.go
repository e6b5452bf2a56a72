package mailer

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	_ "embed"
	"fmt"
	htmltemplate "html/template"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/mail"
	"net/netip"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/emersion/go-message"
	gomail "github.com/emersion/go-message/mail"
)

// Summary is what the admin's daily summary says. The daemon fills it from the store;
// ComposeSummary passes every string that may come from a log or a remote server
// (host names, shapes and their samples, delivery errors) through sanitize itself.
type Summary struct {
	Host     string         // the host the daemon runs on
	From, To time.Time      // the period covered
	Location *time.Location // the zone every time is shown in

	Compromises []SummaryIncident // possible compromises: a login succeeded from an attacking address
	Events      int               // events in the period
	ByClass     []Count           // events per class, most first
	ByHost      []Count           // events per host of ours, most first
	PerHour     []int             // events per Hours hours, the oldest first (24 values for a day)
	Hours       int               // the hours each PerHour value counts: 1 for a day, more for a longer period
	Since       string            // the period as `incidents --since` takes it, e.g. "24h"
	New         []SummaryIncident // incidents made in the period (a recurrence began weeks before), the most events first
	Growing     []SummaryIncident // older incidents that grew in the period, likewise
	TopAddrs    []Count           // attacking addresses, most events first
	TopNets     []Count           // attacking /24 (IPv6: /64) networks, most events first

	// How many new and growing incidents there are: the lists hold the biggest (a busy
	// host makes thousands a day).
	NewTotal, GrowingTotal int
	// The command that lists the period's incidents, new and growing (`abusewatch
	// incidents --since T --limit 0`, with --config when the daemon's is not the
	// default): the lists hold the biggest only. "": from Since.
	ListAll string
	// The command that lists every report waiting for approval (`abusewatch outbox
	// --state pending-approval`, with --config likewise). "": that without --config.
	ListPending string

	Sent, Queued, Failed, Waiting int // reports sent and failed in the period; queued, waiting now
	// Incidents whose report is not written yet, now, because their party has a report
	// not gone yet or is in its cooldown: their next report takes them in.
	PartyWaits    int
	FailedReports []ReportLine // the failed ones, with the reason
	// Reports sent in the period that some recipients refused (sent to the others),
	// with who refused and why.
	PartlySent        int
	PartlySentReports []ReportLine
	// Reports held (observe mode: kept, never sent) and rejected (with why) in the period.
	Held, Rejected  int
	RejectedReports []ReportLine
	// What each configured source read in the period; a source that read nothing is
	// flagged: a dead syslog daemon or a file rotated away looks like a quiet day.
	Sources      []SourceLine
	Pending      []ReportLine // reports waiting for the admin's approval, the oldest first
	PendingTotal int          // how many are waiting: Pending holds the oldest
	ApproveAll   string       // the command that approves all of them but the guesses
	// How many of those waiting go to a guessed contact (abuse@/security@ of the domain
	// of an address's reverse name, which whoever holds the address sets): each is to be
	// read and approved by its ID, and ApproveAll leaves them out.
	PendingGuesses int
	Shapes         []Shape // the most frequent unknown-record shapes
	ShapesNote     string  // why there are no shapes, when there are none
	Mode           string  // the policy mode
}

// Count is a value and how often it occurred.
type Count struct {
	Value string
	N     int
}

// SummaryIncident is one incident line in the summary.
type SummaryIncident struct {
	Source   string // address or network
	Classes  string // e.g. "auth-failure, invalid-user"
	Count    int    // events
	First    time.Time
	Last     time.Time
	Hosts    string // our hosts
	Reported string // where its report is: "sent", "waiting for approval", …

	// Of a possible compromise: its ID, the logins that succeeded (from its evidence,
	// or the store's events near it), some of the lines before them, and the command
	// that shows the source.
	ID         string
	Logins     []Line
	MoreLogins int // logins found beyond those in Logins
	Failures   []Line
	Command    string
	// ReportedAlready names the report that went to the outside before the login was
	// read ("report ID, sent to …"); "": none.
	ReportedAlready string
}

// Line is a log line shown to the admin, with what the daemon read of it. User, Host
// and Text come from the log (attacker-controlled): ComposeSummary and
// ComposeCompromiseAlert sanitise them.
type Line struct {
	Time time.Time
	Addr string
	User string
	Host string
	Text string
}

// SourceLine is what one configured log source read in the summary's period.
type SourceLine struct {
	Name      string    // the file's path, or "journal"
	Read      string    // what it read, e.g. "12 KiB read"; empty when it read nothing
	Events    int       // events of the period from it
	LastEvent time.Time // the newest of them; zero when none
	// Silent: it read nothing in the whole period; Since, when known, is the end of the
	// last period in which it did read (it has read nothing since).
	Silent bool
	Since  time.Time
}

// ReportLine is one report in the summary.
type ReportLine struct {
	ID      string
	To      string
	Sources string
	Created time.Time
	Problem string // the delivery error, for failed ones
	Command string // the command that acts on it, e.g. "abusewatch report approve ID"
}

// Shape is one unknown-record shape: the normal rule it suggests is what the admin adds
// to a normal.d file once they have judged the records benign.
type Shape struct {
	Shape  string // the record with its variable parts replaced
	Count  int
	Sample string // one record of this shape
	Rule   string // a suggested normal rule (an extended regular expression)
}

//go:embed summary.txt.tmpl
var summaryText string

//go:embed summary.html.tmpl
var summaryHTML string

// chartCID names the chart image in the HTML part.
const chartCID = "events-per-hour@abusewatch"

// adminAddrs parses the From and To addresses of a mail to the admin (what: "summary",
// "alert"), naming the one that is wrong.
func adminAddrs(what, from, to string) (fromAddr, toAddr *mail.Address, err error) {
	if fromAddr, err = mail.ParseAddress(from); err != nil {
		return nil, nil, fmt.Errorf("mailer: %s From address %q: %w", what, from, err)
	}
	if toAddr, err = mail.ParseAddress(to); err != nil {
		return nil, nil, fmt.Errorf("mailer: %s To address %q: %w", what, to, err)
	}
	return fromAddr, toAddr, nil
}

// ComposeSummary writes the daily summary as a complete message from `from` to `to`:
// a plain-text part that reads well in a terminal mail client, and an HTML part with a
// chart of events per hour as an embedded PNG (multipart/related). It is deterministic
// for a given summary and now.
func ComposeSummary(s Summary, from, to string, now time.Time) ([]byte, error) {
	if s.Location == nil {
		s.Location = time.UTC
	}
	s.Hours, s.Since = max(s.Hours, 1), cmp.Or(s.Since, "24h")
	s.ListAll = cmp.Or(s.ListAll, "abusewatch incidents --since "+s.Since)
	s.ListPending = cmp.Or(s.ListPending, "abusewatch outbox --state pending-approval")
	s = s.sanitized()
	fromAddr, toAddr, err := adminAddrs("summary", from, to)
	if err != nil {
		return nil, err
	}
	funcs := summaryFuncs(s.Location)
	var text bytes.Buffer
	tt, err := summaryTemplate(s.Location)
	if err != nil {
		return nil, err
	}
	if err := tt.Execute(&text, s); err != nil {
		return nil, fmt.Errorf("mailer: rendering the summary: %w", err)
	}
	var html bytes.Buffer
	ht, err := htmltemplate.New("summary.html").Funcs(htmltemplate.FuncMap(funcs)).Parse(summaryHTML)
	if err != nil {
		return nil, err
	}
	if err := ht.Execute(&html, struct {
		Summary
		CID string
	}{s, chartCID}); err != nil {
		return nil, fmt.Errorf("mailer: rendering the summary: %w", err)
	}
	chart, err := EventsChart(s.PerHour)
	if err != nil {
		return nil, err
	}

	id := fmt.Sprintf("summary-%s-%s", s.To.UTC().Format("20060102T1504"), strings.ToLower(sanitizeHost(s.Host)))
	textPart, err := textEntity("text/plain", text.Bytes())
	if err != nil {
		return nil, err
	}
	htmlPart, err := textEntity("text/html", html.Bytes())
	if err != nil {
		return nil, err
	}
	var ih message.Header
	ih.SetContentType("image/png", map[string]string{"name": "events-per-hour.png"})
	ih.Set("Content-Transfer-Encoding", "base64")
	ih.Set("Content-ID", "<"+chartCID+">")
	ih.SetContentDisposition("inline", map[string]string{"filename": "events-per-hour.png"})
	imgPart, err := newEntity(ih, func(w io.Writer) error {
		_, err := w.Write(chart)
		return err
	})
	if err != nil {
		return nil, err
	}
	related, err := multipartEntity("multipart/related", boundary("related", id), map[string]string{"type": "text/html"}, []entity{htmlPart, imgPart})
	if err != nil {
		return nil, err
	}
	alt, err := multipartEntity("multipart/alternative", boundary("alternative", id), nil, []entity{textPart, related})
	if err != nil {
		return nil, err
	}
	var h gomail.Header
	h.SetAddressList("From", []*mail.Address{fromAddr})
	h.SetAddressList("To", []*mail.Address{toAddr})
	h.SetSubject(summarySubject(s))
	h.SetDate(now.In(s.Location))
	h.SetMessageID(id + "@" + fromAddr.Address[strings.LastIndexByte(fromAddr.Address, '@')+1:])
	h.Set("Auto-Submitted", "auto-generated")
	return writeMessage(h, alt)
}

// summaryFuncs are the functions the summary's and the alert's templates use, their
// times in loc.
func summaryFuncs(loc *time.Location) template.FuncMap {
	return template.FuncMap{
		"t":  func(t time.Time) string { return t.In(loc).Format(timeLayout) },
		"hm": func(t time.Time) string { return t.In(loc).Format("15:04") },
		// The end of a span: its time alone on the day it began, with its date after
		// (a late summary covers days, a recurrence weeks).
		"until": func(first, last time.Time) string {
			f, l := first.In(loc), last.In(loc)
			if f.YearDay() == l.YearDay() && f.Year() == l.Year() {
				return l.Format("15:04")
			}
			return l.Format(timeLayout)
		},
		"spark": sparkline,
		"pad":   func(n int, v string) string { return fmt.Sprintf("%-*s", n, v) },
		"rpad":  func(n int, v int) string { return fmt.Sprintf("%*d", n, v) },
		"max":   maxOf,
	}
}

// summaryTemplate is the plain-text summary, with the alert's templates it defines.
func summaryTemplate(loc *time.Location) (*template.Template, error) {
	return template.New("summary.txt").Funcs(summaryFuncs(loc)).Option("missingkey=error").Parse(summaryText)
}

// CompromiseAlert is the mail that tells the admin at once of possible compromises (a
// login that succeeded from an address that was attacking) found or grown since the
// last round of the outbox: all of a round's in one mail.
type CompromiseAlert struct {
	Host        string         // the host the daemon runs on
	Location    *time.Location // the zone every time is shown in
	Mode        string         // the policy mode
	Compromises []SummaryIncident
}

// ComposeCompromiseAlert writes alert as a plain-text message from `from` to `to`, its
// subject naming the address of the newest login of the first: "POSSIBLE COMPROMISE:
// login from ADDR". Log text reaches the body only, through sanitize. Its
// Message-ID is derived from the incidents as they are (ID, count, last event), so the
// same alert written twice (a crash before the round took them off its list) is
// recognisably the same mail.
func ComposeCompromiseAlert(a CompromiseAlert, from, to string, now time.Time) ([]byte, error) {
	if a.Location == nil {
		a.Location = time.UTC
	}
	if len(a.Compromises) == 0 {
		return nil, fmt.Errorf("mailer: a compromise alert about nothing")
	}
	a.Host, a.Compromises = sanitizeHost(a.Host), Summary{Compromises: a.Compromises}.sanitized().Compromises
	fromAddr, toAddr, err := adminAddrs("alert", from, to)
	if err != nil {
		return nil, err
	}
	tt, err := summaryTemplate(a.Location)
	if err != nil {
		return nil, err
	}
	var text bytes.Buffer
	if err := tt.ExecuteTemplate(&text, "alert", a); err != nil {
		return nil, fmt.Errorf("mailer: rendering the compromise alert: %w", err)
	}
	part, err := textEntity("text/plain", text.Bytes())
	if err != nil {
		return nil, err
	}
	sum := sha256.New()
	for _, c := range a.Compromises {
		fmt.Fprintf(sum, "%s|%d|%d\n", c.ID, c.Count, c.Last.UnixNano())
	}
	id := fmt.Sprintf("compromise-%x-%s", sum.Sum(nil)[:8], strings.ToLower(sanitizeHost(a.Host)))
	var h gomail.Header
	h.SetAddressList("From", []*mail.Address{fromAddr})
	h.SetAddressList("To", []*mail.Address{toAddr})
	h.SetSubject(alertSubject(a))
	h.SetDate(now.In(a.Location))
	h.SetMessageID(id + "@" + fromAddr.Address[strings.LastIndexByte(fromAddr.Address, '@')+1:])
	h.Set("Auto-Submitted", "auto-generated")
	h.Set("Importance", "high")
	return writeMessage(h, part)
}

// alertSubject names the address of the newest login of a's first compromise and how
// many other sources the alert is about. No log text reaches it (nor any header): the
// account and host names are the log's, the attacker's choice when a forged line
// makes the login (logger, a syslog sender), and a name such as "=?utf-8?b?...?="
// was read by the admin's mail client as other words. The body names them.
func alertSubject(a CompromiseAlert) string {
	first := a.Compromises[0]
	from := first.Source
	if len(first.Logins) > 0 {
		if addr, err := netip.ParseAddr(first.Logins[len(first.Logins)-1].Addr); err == nil {
			from = addr.String() // the newest login's, as parsed (not the log's text)
		}
	}
	subj := "POSSIBLE COMPROMISE: login from " + from
	sources := map[string]bool{}
	for _, c := range a.Compromises {
		sources[c.Source] = true
	}
	if n := len(sources) - 1; n > 0 {
		subj += fmt.Sprintf(" (and %s)", plural(n, "other source"))
	}
	return subj
}

// sanitized is s with every string that may come from a log or a remote server through
// sanitize: a host name, an unknown record and the rule suggested for it can carry bidi
// overrides that show the admin something else than what is there.
func (s Summary) sanitized() Summary {
	counts := func(cs []Count) []Count {
		out := slices.Clone(cs)
		for i := range out {
			out[i].Value = sanitize(out[i].Value)
		}
		return out
	}
	incidents := func(l []SummaryIncident) []SummaryIncident {
		out := slices.Clone(l)
		for i := range out {
			out[i].Source, out[i].Classes = sanitize(out[i].Source), sanitize(out[i].Classes)
			out[i].Hosts, out[i].Reported = sanitize(out[i].Hosts), sanitize(out[i].Reported)
			out[i].ID, out[i].Command = sanitize(out[i].ID), sanitize(out[i].Command)
			out[i].ReportedAlready = sanitize(out[i].ReportedAlready)
			out[i].Logins, out[i].Failures = sanitizedLines(out[i].Logins), sanitizedLines(out[i].Failures)
		}
		return out
	}
	reports := func(l []ReportLine) []ReportLine {
		out := slices.Clone(l)
		for i := range out {
			out[i].To, out[i].Sources, out[i].Problem = sanitize(out[i].To), sanitize(out[i].Sources), sanitize(out[i].Problem)
		}
		return out
	}
	s.ByClass, s.ByHost, s.TopAddrs, s.TopNets = counts(s.ByClass), counts(s.ByHost), counts(s.TopAddrs), counts(s.TopNets)
	s.Compromises, s.New, s.Growing = incidents(s.Compromises), incidents(s.New), incidents(s.Growing)
	s.FailedReports, s.Pending = reports(s.FailedReports), reports(s.Pending)
	s.RejectedReports, s.PartlySentReports = reports(s.RejectedReports), reports(s.PartlySentReports)
	s.Sources = slices.Clone(s.Sources)
	for i := range s.Sources {
		s.Sources[i].Name, s.Sources[i].Read = sanitize(s.Sources[i].Name), sanitize(s.Sources[i].Read)
	}
	s.Shapes = slices.Clone(s.Shapes)
	for i := range s.Shapes {
		sh := &s.Shapes[i]
		sh.Shape, sh.Sample, sh.Rule = sanitize(sh.Shape), sanitize(sh.Sample), sanitize(sh.Rule)
	}
	return s
}

// sanitizedLines is l with its log text through sanitize.
func sanitizedLines(l []Line) []Line {
	out := slices.Clone(l)
	for i := range out {
		ln := &out[i]
		ln.Addr, ln.User, ln.Host, ln.Text = sanitize(ln.Addr), sanitize(ln.User), sanitize(ln.Host), sanitize(ln.Text)
	}
	return out
}

// summarySubject puts what needs the admin first: compromises, then approvals. The
// lists hold the oldest or biggest only: the totals count them all.
func summarySubject(s Summary) string {
	subj := fmt.Sprintf("abusewatch on %s: %d events, %s, %s sent", sanitizeHost(s.Host), s.Events,
		plural(max(s.NewTotal, len(s.New)), "new incident"), plural(s.Sent, "report"))
	if n := max(s.PendingTotal, len(s.Pending)); n > 0 {
		verb := "waits"
		if n != 1 {
			verb = "wait"
		}
		guesses := ""
		switch g := s.PendingGuesses; {
		case g == 1:
			guesses = " (1 guess: read first)"
		case g > 1:
			guesses = fmt.Sprintf(" (%d guesses: read first)", g)
		}
		subj = fmt.Sprintf("%s %s for your approval%s; ", plural(n, "report"), verb, guesses) + subj
	}
	if len(s.Compromises) > 0 {
		subj = fmt.Sprintf("POSSIBLE COMPROMISE (%d); ", len(s.Compromises)) + subj
	}
	return subj
}

// plural is n and noun, with an s unless n is 1.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func sanitizeHost(h string) string {
	if h = sanitize(h); h == "" {
		return "this host"
	}
	return h
}

func maxOf(v []int) int {
	m := 0
	for _, x := range v {
		m = max(m, x)
	}
	return m
}

// sparkline draws values as one line of block characters, for the text part.
func sparkline(v []int) string {
	blocks := []rune(" ▁▂▃▄▅▆▇█")
	m := maxOf(v)
	var b strings.Builder
	for _, x := range v {
		i := 0
		if m > 0 {
			i = (x*(len(blocks)-1) + m - 1) / m
		}
		b.WriteRune(blocks[i])
	}
	return b.String()
}

// EventsChart renders events per hour as a bar chart PNG (standard library only): one
// bar per hour, scaled to the busiest hour, on a light grid with a line every 6 hours.
func EventsChart(perHour []int) ([]byte, error) {
	const barW, gap, height, pad = 16, 4, 120, 8
	n := max(len(perHour), 1)
	width := pad*2 + n*(barW+gap) - gap
	img := image.NewPaletted(image.Rect(0, 0, width, height+2*pad), color.Palette{
		color.RGBA{0xff, 0xff, 0xff, 0xff}, // background
		color.RGBA{0xdd, 0xdd, 0xdd, 0xff}, // grid
		color.RGBA{0x33, 0x66, 0xaa, 0xff}, // bars
		color.RGBA{0x44, 0x44, 0x44, 0xff}, // axis
	})
	set := func(x0, y0, x1, y1 int, c uint8) {
		for y := y0; y < y1; y++ {
			for x := x0; x < x1; x++ {
				img.SetColorIndex(x, y, c)
			}
		}
	}
	base := pad + height
	for h := 0; h <= n; h += 6 {
		x := pad + h*(barW+gap) - gap/2
		set(max(x, 0), pad, min(max(x, 0)+1, width), base, 1)
	}
	m := maxOf(perHour)
	for i, v := range perHour {
		if v == 0 || m == 0 {
			continue
		}
		h := max(1, v*height/m)
		x := pad + i*(barW+gap)
		set(x, base-h, x+barW, base, 2)
	}
	set(pad, base, width-pad, base+1, 3)
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
