package daemon

import (
	"bytes"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/mailer/mailtest"
)

// threadHeaders parses a delivered message (it must, with net/mail) and returns its
// In-Reply-To and References, checking that no header field carries log text.
func threadHeaders(t *testing.T, data []byte) (string, []string) {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("the message does not parse: %v", err)
	}
	for k, vs := range m.Header {
		for _, v := range vs {
			if strings.Contains(v, "sshd") || strings.Contains(v, "Failed password") || strings.ContainsAny(v, "\r\n\x00") {
				t.Errorf("header %s carries log text: %q", k, v)
			}
		}
	}
	refs := strings.Fields(m.Header.Get("References"))
	for _, r := range refs {
		if !strings.HasPrefix(r, "<") || !strings.HasSuffix(r, "@example.org>") {
			t.Errorf("reference %q is not one of our Message-IDs", r)
		}
	}
	return m.Header.Get("In-Reply-To"), refs
}

// Review 28 F9: a report about an attack that goes on after one we reported to the same
// desk opened a new ticket there each time: it named neither the report it follows nor
// its Message-ID. It is threaded with it (In-Reply-To, References) and its memo names
// its reference; a report to another desk is not.
func TestAFollowUpReportIsThreadedWithTheReportToTheSameDesk(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	p, st, logs := outboxPipeline(t, srv.Addr, "auto", parties[:1], `cooldown = "1h"`)
	ctx := t.Context()
	attack(t, st, "45.134.26.7", t0, 20)
	if err := p.Tick(ctx, t0); err != nil {
		t.Fatal(err)
	}
	m1 := srv.Next(t)
	if irt, refs := threadHeaders(t, m1.Data); irt != "" || len(refs) > 0 {
		t.Errorf("the first report follows nothing, yet: In-Reply-To %q, References %q", irt, refs)
	}
	sent := reportsIn(t, st, abusewatch.ReportSent)
	if len(sent) != 1 || sent[0].MessageID != messageID(t, m1.Data) {
		t.Fatalf("sent %+v", sent)
	}
	first := sent[0]

	// The address comes back three hours later: its incident follows the reported one.
	attack(t, st, "45.134.26.7", t0.Add(3*time.Hour), 12)
	if err := p.Tick(ctx, t0.Add(4*time.Hour)); err != nil {
		t.Fatal(err)
	}
	m2 := srv.Next(t)
	irt, refs := threadHeaders(t, m2.Data)
	if irt != first.MessageID || len(refs) != 1 || refs[0] != first.MessageID {
		t.Errorf("the follow-up's In-Reply-To %q, References %q; want the first report's %s", irt, refs, first.MessageID)
	}
	text := strings.Join(strings.Fields(mailText(t, m2.Data)), " ")
	if want := "This follows our report " + first.ID + " of 2026-11-20."; !strings.Contains(text, want) {
		t.Errorf("the follow-up's memo does not say %q:\n%s", want, text)
	}
	if m, _ := mail.ReadMessage(bytes.NewReader(m2.Data)); m.Header.Get("Subject") != first.Subject {
		t.Errorf("subject %q, want the first's %q", m.Header.Get("Subject"), first.Subject)
	}

	// The network's contact is another desk now: its report follows nothing it had.
	p = repointed(t, p, st, logs, `"abuse@hostco.example"`, `"abuse@newco.example"`)
	attack(t, st, "45.134.26.7", t0.Add(6*time.Hour), 12)
	if err := p.Tick(ctx, t0.Add(7*time.Hour)); err != nil {
		t.Fatal(err)
	}
	m3 := srv.Next(t)
	if len(m3.To) != 1 || m3.To[0] != "abuse@newco.example" {
		t.Fatalf("the third report went to %v", m3.To)
	}
	if irt, refs := threadHeaders(t, m3.Data); irt != "" || len(refs) > 0 {
		t.Errorf("a report to another desk: In-Reply-To %q, References %q", irt, refs)
	}
	if strings.Contains(mailText(t, m3.Data), "This follows") {
		t.Error("a report to another desk names a report it never had")
	}
	if t.Failed() {
		t.Log(logs)
	}
}
