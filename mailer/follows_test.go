package mailer

import (
	"bytes"
	"net/mail"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
)

// sentReport is r as the outbox keeps it once it went at at, to those that took it.
func sentReport(r abusewatch.Report, at time.Time, took ...string) abusewatch.Report {
	r.State, r.Updated, r.Delivered = abusewatch.ReportSent, at, took
	return r
}

// followUp is testIncident's follow-up: the same address, an hour later.
func followUp(id string, after time.Duration) abusewatch.Incident {
	inc := testIncident()
	inc.ID, inc.First, inc.Last = id, inc.First.Add(after), inc.Last.Add(after)
	inc.Evidence = inc.Evidence[:1]
	inc.Evidence[0].Time = inc.First
	return inc
}

// threadOf parses msg (it must) and returns its In-Reply-To, its References and its memo.
func threadOf(t *testing.T, msg []byte) (string, []string, string) {
	t.Helper()
	h, text := body(t, msg)
	m, err := mail.ReadMessage(bytes.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range m.Header {
		for _, v := range vs {
			if strings.ContainsAny(v, "\r\n\x00") || strings.Contains(v, "sshd") || strings.Contains(v, "evil") {
				t.Errorf("header %s carries log text: %q", k, v)
			}
		}
	}
	return h.Get("In-Reply-To"), strings.Fields(h.Get("References")), text
}

func TestAFollowUpToTheSameDeskIsThreadedWithTheReportItFollows(t *testing.T) {
	c := testComposer(t)
	desk := testContact()
	sentAt := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC) // 04:00 EST, the same day
	first, err := c.Compose(desk, []abusewatch.Incident{testIncident()}, sentAt)
	if err != nil {
		t.Fatal(err)
	}
	if irt, refs, text := threadOf(t, first.Message); irt != "" || len(refs) > 0 || strings.Contains(text, "This follows") {
		t.Fatalf("the first report follows nothing, yet: In-Reply-To %q, References %q", irt, refs)
	}
	first = sentReport(first, sentAt, "abuse@isp.example", "security@isp.example")

	// The attack goes on: its follow-up goes to the same desk.
	second, err := c.ComposeKnowing(desk, []abusewatch.Incident{followUp("inc-2", time.Hour)},
		Known{Earlier: []abusewatch.Report{first}}, sentAt.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	irt, refs, text := threadOf(t, second.Message)
	if irt != first.MessageID {
		t.Errorf("In-Reply-To = %q, want the first report's Message-ID %q", irt, first.MessageID)
	}
	if len(refs) != 1 || refs[0] != first.MessageID {
		t.Errorf("References = %q, want [%s]", refs, first.MessageID)
	}
	mustContain(t, unwrapped(text), "This follows our report "+first.ID+" of 2026-11-20.")
	if second.Subject != first.Subject || strings.HasPrefix(second.Subject, "Re:") {
		t.Errorf("subject %q, want the first's %q (threads by subject too)", second.Subject, first.Subject)
	}

	// And a third: it follows the second, and names the whole thread.
	second = sentReport(second, sentAt.Add(48*time.Hour), "abuse@isp.example")
	third, err := c.ComposeKnowing(desk, []abusewatch.Incident{followUp("inc-3", 72*time.Hour)},
		Known{Earlier: []abusewatch.Report{first, second}}, sentAt.Add(72*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	irt, refs, text = threadOf(t, third.Message)
	if irt != second.MessageID || strings.Join(refs, " ") != first.MessageID+" "+second.MessageID {
		t.Errorf("In-Reply-To %q, References %q: want %s, then %s %s", irt, refs, second.MessageID, first.MessageID, second.MessageID)
	}
	mustContain(t, unwrapped(text), "This follows our report "+second.ID+" of 2026-11-22.")

	// A desk one of whose mailboxes took it is the same desk.
	overlapping := desk
	overlapping.Emails = []string{"Security@ISP.example"}
	r, err := c.ComposeKnowing(overlapping, []abusewatch.Incident{followUp("inc-4", time.Hour)}, Known{Earlier: []abusewatch.Report{first}}, sentAt)
	if err != nil {
		t.Fatal(err)
	}
	if irt, _, _ := threadOf(t, r.Message); irt != first.MessageID {
		t.Errorf("to a mailbox that took the first report: In-Reply-To %q, want %q", irt, first.MessageID)
	}
}

func TestAReportToAnotherDeskIsNotThreaded(t *testing.T) {
	c := testComposer(t)
	desk := testContact()
	at := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	first, err := c.Compose(desk, []abusewatch.Incident{testIncident()}, at)
	if err != nil {
		t.Fatal(err)
	}
	sent := sentReport(first, at, desk.Emails...)
	other := abusewatch.Contact{Emails: []string{"abuse@other.example"}, Role: "abuse"}
	// A national CERT had a copy of the first: it is no party's own mailbox.
	cert := abusewatch.Mailbox{Email: "cert@cert.example", Role: "cert", Source: "static"}
	copied := sent
	copied.Contact.Emails = append(slices.Clone(desk.Emails), cert.Email)
	copied.Contact.Mailboxes = []abusewatch.Mailbox{{Email: desk.Emails[0], Role: "abuse"}, {Email: desk.Emails[1], Role: "abuse"}, cert}
	copied.Delivered = copied.Contact.Emails
	certOnly := abusewatch.Contact{Emails: []string{cert.Email}, Mailboxes: []abusewatch.Mailbox{cert}, Role: "cert"}
	// Not sent (waiting, rejected, held), or sent but refused by the desk's mailboxes.
	waiting, refused := first, sent
	waiting.State = abusewatch.ReportRejected
	refused.Delivered = []string{"someone@else.example"}
	// A stored Message-ID that is not one we make.
	forged := sent
	forged.MessageID = "<" + first.ID + "@isp.example> Bcc: evil@example.com"
	for _, tc := range []struct {
		name    string
		contact abusewatch.Contact
		earlier abusewatch.Report
	}{
		{"another desk", other, sent},
		{"a CERT that had a copy", certOnly, copied},
		{"a report that never went", desk, waiting},
		{"a report the desk's mailboxes did not take", desk, refused},
		{"a Message-ID not ours", desk, forged},
	} {
		r, err := c.ComposeKnowing(tc.contact, []abusewatch.Incident{followUp("inc-2", time.Hour)}, Known{Earlier: []abusewatch.Report{tc.earlier}}, at.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if irt, refs, text := threadOf(t, r.Message); irt != "" || len(refs) > 0 || strings.Contains(text, "This follows") {
			t.Errorf("%s: In-Reply-To %q, References %q, memo names the earlier report: %v", tc.name, irt, refs, strings.Contains(text, "This follows"))
		}
	}
}

func TestAFollowUpNamesOnlyOurOwnMessageIDs(t *testing.T) {
	c := testComposer(t)
	desk := testContact()
	at := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	var earlier []abusewatch.Report
	// A long thread: References keeps the first and the newest.
	for i := range 8 {
		r, err := c.ComposeKnowing(desk, []abusewatch.Incident{followUp("inc-"+string(rune('a'+i)), time.Duration(i)*24*time.Hour)},
			Known{Earlier: earlier}, at.Add(time.Duration(i)*24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		earlier = append(earlier, sentReport(r, r.Created, desk.Emails...))
	}
	// The last one's stored message names a log's text as a reference (a store written
	// by someone else): it is left out.
	last := &earlier[len(earlier)-1]
	last.Message = bytes.Replace(last.Message, []byte("References: "), []byte("References: <sshd[42]@evil> <x@y\x1b> "), 1)
	r, err := c.ComposeKnowing(desk, []abusewatch.Incident{followUp("inc-z", 9*24*time.Hour)}, Known{Earlier: earlier}, at.Add(9*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	irt, refs, _ := threadOf(t, r.Message)
	if irt != last.MessageID {
		t.Errorf("In-Reply-To %q, want the newest %q", irt, last.MessageID)
	}
	want := []string{earlier[0].MessageID, earlier[4].MessageID, earlier[5].MessageID, earlier[6].MessageID, earlier[7].MessageID}
	if strings.Join(refs, " ") != strings.Join(want, " ") {
		t.Errorf("References %q, want the first and the newest: %q", refs, want)
	}
	for _, ref := range refs {
		if _, err := mail.ParseAddress(strings.Trim(ref, "<>")); !ourMessageID(ref, "") || err != nil {
			t.Errorf("reference %q is not one of our Message-IDs", ref)
		}
	}
}

func TestATemplateWithoutFollowsStillRendersAFollowUp(t *testing.T) {
	own, err := NewComposer("Our reference: {{.ReportID}}\n{{range .Incidents}}{{.Source}}\n{{end}}", Reporter{Name: "Jane Doe", Location: est}, "abuse-reports@example.org")
	if err != nil {
		t.Fatal(err)
	}
	desk := testContact()
	at := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	first, err := own.Compose(desk, []abusewatch.Incident{testIncident()}, at)
	if err != nil {
		t.Fatal(err)
	}
	r, err := own.ComposeKnowing(desk, []abusewatch.Incident{followUp("inc-2", time.Hour)}, Known{Earlier: []abusewatch.Report{sentReport(first, at, desk.Emails...)}}, at.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if irt, _, text := threadOf(t, r.Message); irt != first.MessageID || !strings.Contains(text, "Our reference: "+r.ID) {
		t.Errorf("In-Reply-To %q, memo %q", irt, text)
	}
	// One that prints it unguarded is refused at load: most reports follow none.
	if _, err := NewComposer("{{.Follows.ReportID}}", Reporter{Name: "Jane Doe"}, "abuse-reports@example.org"); err == nil {
		t.Error("a template that fails on a report that follows none was taken")
	}
}
