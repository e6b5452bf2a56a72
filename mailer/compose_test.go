package mailer

import (
	"bytes"
	"io"
	"mime/quotedprintable"
	"net/mail"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
)

var est = time.FixedZone("EST", -5*3600)

func shippedTemplate(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile("../configs/report.tmpl")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func testComposer(t testing.TB) *Composer {
	t.Helper()
	c, err := NewComposer(shippedTemplate(t), Reporter{
		Name:         "Jane Doe",
		Organisation: "Example Org",
		Role:         "system administrator",
		Email:        "jane@example.org",
		Location:     est,
	}, "abuse-reports@example.org")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func testContact() abusewatch.Contact {
	return abusewatch.Contact{
		Network: netip.MustParsePrefix("203.0.113.0/24"),
		Emails:  []string{"abuse@isp.example", "security@isp.example"},
		Role:    "abuse",
		Name:    "ISP-NET-1",
	}
}

const injection = "sshd[42]: Invalid user x\r\nBcc: evil@example.com\r\n\r\nfake body\x00\x1b[31m\u202e from 203.0.113.7"

func testIncident() abusewatch.Incident {
	first := time.Date(2026, 11, 20, 8, 14, 7, 0, time.UTC) // 03:14:07 -0500
	return abusewatch.Incident{
		ID:       "inc-1",
		Key:      "ip:203.0.113.7",
		Rule:     "per-address",
		Addr:     netip.MustParseAddr("203.0.113.7"),
		Network:  netip.MustParsePrefix("203.0.113.7/32"),
		Classes:  []abusewatch.Class{abusewatch.ClassAuthFailure, abusewatch.ClassInvalidUser},
		First:    first,
		Last:     first.Add(6 * time.Minute),
		Count:    152,
		Attempts: 40,
		Hosts:    []string{"mail", "web1"},
		Evidence: []abusewatch.Event{
			{Time: first, Class: abusewatch.ClassAuthFailure, Service: "sshd", Line: "sshd[41]: Failed password for root from 203.0.113.7 port 4242 ssh2"},
			{Time: first.Add(time.Second), Class: abusewatch.ClassInvalidUser, Line: injection},
		},
	}
}

// body decodes the quoted-printable text body of a composed message.
func body(t *testing.T, msg []byte) (mail.Header, string) {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(msg))
	if err != nil {
		t.Fatalf("message does not parse: %v\n%s", err, msg)
	}
	if cte := m.Header.Get("Content-Transfer-Encoding"); cte != "quoted-printable" {
		t.Fatalf("Content-Transfer-Encoding = %q", cte)
	}
	b, err := io.ReadAll(quotedprintable.NewReader(m.Body))
	if err != nil {
		t.Fatal(err)
	}
	// The wire form has CRLF line ends; a bare CR left over would be a control character.
	return m.Header, strings.ReplaceAll(string(b), "\r\n", "\n")
}

func TestComposeIsDeterministic(t *testing.T) {
	c := testComposer(t)
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	second := testIncident()
	second.ID, second.Addr = "inc-2", netip.MustParseAddr("203.0.113.9")
	r1, err := c.Compose(testContact(), []abusewatch.Incident{testIncident(), second}, now)
	if err != nil {
		t.Fatal(err)
	}
	// The same report with incidents and recipients in another order is the same report.
	contact := testContact()
	contact.Emails = []string{"Security@isp.example", "abuse@isp.example"}
	r2, err := c.Compose(contact, []abusewatch.Incident{second, testIncident()}, now)
	if err != nil {
		t.Fatal(err)
	}
	if r1.ID != r2.ID || r1.MessageID != r2.MessageID {
		t.Errorf("IDs differ: %s %s vs %s %s", r1.ID, r1.MessageID, r2.ID, r2.MessageID)
	}
	if len(r1.ID) != 32 {
		t.Errorf("ID %q: want 32 hex digits", r1.ID)
	}
	if want := "<" + r1.ID + "@example.org>"; r1.MessageID != want {
		t.Errorf("MessageID = %q, want %q", r1.MessageID, want)
	}
	again, err := c.Compose(testContact(), []abusewatch.Incident{testIncident(), second}, now)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(r1.Message, again.Message) {
		t.Errorf("messages differ:\n%s\n----\n%s", r1.Message, again.Message)
	}
	if got := strings.Join(r1.Incidents, ","); got != "inc-1,inc-2" {
		t.Errorf("Incidents = %s", got)
	}
	if !r1.Created.Equal(now) {
		t.Errorf("Created = %v", r1.Created)
	}
	if want := "Abuse report: repeated SSH login attempts from 203.0.113.7 and 1 other source"; r1.Subject != want {
		t.Errorf("Subject = %q, want %q", r1.Subject, want)
	}

	// Another incident set is another report.
	r3, err := c.Compose(testContact(), []abusewatch.Incident{testIncident()}, now)
	if err != nil {
		t.Fatal(err)
	}
	if r3.ID == r1.ID {
		t.Error("different incidents gave the same ID")
	}
}

func TestComposeHeaders(t *testing.T) {
	c := testComposer(t)
	r, err := c.Compose(testContact(), []abusewatch.Incident{testIncident()}, time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	h, _ := body(t, r.Message)
	want := map[string]string{
		"From":           `"Jane Doe" <abuse-reports@example.org>`,
		"To":             "<abuse@isp.example>, <security@isp.example>",
		"Subject":        "Abuse report: repeated SSH login attempts from 203.0.113.7",
		"Date":           "Sat, 21 Nov 2026 07:00:00 -0500",
		"Message-Id":     r.MessageID,
		"Auto-Submitted": "auto-generated",
		// The desk answers the reporter, whom the memo names, not a sending-only From.
		"Reply-To": `"Jane Doe" <jane@example.org>`,
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
	if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") || !strings.Contains(ct, "utf-8") {
		t.Errorf("Content-Type = %q", ct)
	}
	if r.Subject != want["Subject"] {
		t.Errorf("Report.Subject = %q", r.Subject)
	}
	// No Reply-To when it would say From again.
	same, err := NewComposer(shippedTemplate(t), Reporter{Name: "Jane Doe", Email: "Abuse-Reports@example.org"}, "abuse-reports@example.org")
	if err != nil {
		t.Fatal(err)
	}
	r, err = same.Compose(testContact(), []abusewatch.Incident{testIncident()}, time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := body(t, r.Message); h.Get("Reply-To") != "" {
		t.Errorf("Reply-To %q repeats From", h.Get("Reply-To"))
	}
}

func TestComposeKeepsLogTextOutOfHeaders(t *testing.T) {
	c := testComposer(t)
	r, err := c.Compose(testContact(), []abusewatch.Incident{testIncident()}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	head, _, ok := bytes.Cut(r.Message, []byte("\r\n\r\n"))
	if !ok {
		t.Fatalf("no end of header in\n%s", r.Message)
	}
	for _, bad := range []string{"Bcc", "evil", "fake body", "sshd", "\x1b", "\x00"} {
		if bytes.Contains(bytes.ToLower(head), bytes.ToLower([]byte(bad))) {
			t.Errorf("header contains %q:\n%s", bad, head)
		}
	}
	h, text := body(t, r.Message)
	if len(h["Bcc"]) != 0 {
		t.Errorf("message has a Bcc header: %v", h["Bcc"])
	}
	// The evidence is all on one line, without the control characters.
	want := "2026-11-20 03:14:08 -0500  sshd[42]: Invalid user x  Bcc: evil@example.com    fake body[31m from 203.0.113.7\n"
	if !strings.Contains(text, want) {
		t.Errorf("body lacks the sanitised line %q:\n%s", want, text)
	}
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "Bcc:") || strings.HasPrefix(l, "fake body") {
			t.Errorf("attacker text starts a line: %q", l)
		}
	}
	if strings.ContainsFunc(text, func(r rune) bool { return r < ' ' && r != '\n' || r == '\u202e' }) {
		t.Errorf("body contains control characters:\n%q", text)
	}
}

func TestComposeMemo(t *testing.T) {
	c := testComposer(t)
	inc := testIncident()
	inc.Hosts = append(inc.Hosts, "evil\r\nhost")
	r, err := c.Compose(testContact(), []abusewatch.Incident{inc}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	_, text := body(t, r.Message)
	for _, want := range []string{
		"My name is Jane Doe, system administrator at Example Org.\n",
		"the network\n203.0.113.0/24 (ISP-NET-1).\n",
		"Our logs show repeated failed SSH login attempts coming from your network.",
		"Our logs show login attempts for user names that do not exist on our host coming from your network.",
		"Source address:  203.0.113.7\n",
		"First seen:      2026-11-20 03:14:07 -0500\n",
		"Last seen:       2026-11-20 03:20:07 -0500\n",
		"Connections:     40 (152 log lines)\n",
		"Our hosts hit:   mail, web1, evil  host\n",
		"  2026-11-20 03:14:07 -0500  sshd[41]: Failed password for root from 203.0.113.7 port 4242 ssh2\n",
		"(150 more lines not shown; 152 in total)",
		"We saw no successful login from this address.",
		"source addresses can be forged",
		"compromised itself",
		"acknowledgment",
		"Our reference for this report is\n" + r.ID + ".",
		"Kind regards,\n\nJane Doe\nsystem administrator\nExample Org\njane@example.org\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("body lacks %q", want)
		}
	}
	for _, never := range []string{"lawyer", "legal action", "demand", "must "} {
		if strings.Contains(strings.ToLower(text), never) {
			t.Errorf("body contains %q", never)
		}
	}
	if testing.Verbose() {
		t.Logf("memo:\n%s", text)
	}
}

func TestComposeSuccessAndUnknownClass(t *testing.T) {
	c := testComposer(t)
	inc := testIncident()
	inc.Classes = []abusewatch.Class{abusewatch.ClassAuthSuccess, "web-exploit"}
	inc.Success = true
	inc.Count = len(inc.Evidence)
	r, err := c.Compose(testContact(), []abusewatch.Incident{inc}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	_, text := body(t, r.Message)
	for _, want := range []string{
		`Our logs show activity that our monitoring classifies as "web-exploit" coming from your network.`,
		"We also saw a successful login from this address",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("body lacks %q", want)
		}
	}
	for _, never := range []string{"We saw no successful login", "more lines not shown", "auth-success"} {
		if strings.Contains(text, never) {
			t.Errorf("body contains %q", never)
		}
	}
	if want := "Abuse report: suspicious activity from 203.0.113.7"; r.Subject != want {
		t.Errorf("Subject = %q, want %q", r.Subject, want)
	}
}

func TestComposeNetworkIncident(t *testing.T) {
	c := testComposer(t)
	inc := testIncident()
	inc.Addr = netip.Addr{}
	inc.Network = netip.MustParsePrefix("203.0.113.0/24")
	r, err := c.Compose(testContact(), []abusewatch.Incident{inc}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if want := "Abuse report: repeated SSH login attempts from 203.0.113.0/24"; r.Subject != want {
		t.Errorf("Subject = %q, want %q", r.Subject, want)
	}
}

func TestComposeRefusesBadContacts(t *testing.T) {
	c := testComposer(t)
	for _, emails := range [][]string{
		{"not an address"},
		{"abuse@isp.example", "x@y\r\nBcc: evil@example.com"},
		{"abuse@isp.example, other@isp.example"},
		nil,
	} {
		contact := testContact()
		contact.Emails = emails
		if _, err := c.Compose(contact, []abusewatch.Incident{testIncident()}, time.Now()); err == nil {
			t.Errorf("Compose to %q: no error", emails)
		}
	}
	if _, err := c.Compose(testContact(), nil, time.Now()); err == nil {
		t.Error("Compose without incidents: no error")
	}
}

func TestNewComposerRefusesBadTemplates(t *testing.T) {
	r := Reporter{Name: "Jane"}
	_, err := NewComposer("Hello\n\n{{range .Incidents}}\n{{.Source}\n", r, "abuse@example.org")
	if err == nil || !strings.Contains(err.Error(), "does not parse") || !strings.Contains(err.Error(), "report.tmpl:4") {
		t.Errorf("unparsable template: %v", err)
	}
	_, err = NewComposer("Hello\n{{.NoSuchField}}\n", r, "abuse@example.org")
	if err == nil || !strings.Contains(err.Error(), "report.tmpl:2") {
		t.Errorf("template with an unknown field: %v", err)
	}
	if _, err := NewComposer("Hello\n", r, "not an address"); err == nil {
		t.Error("bad From: no error")
	}
}
