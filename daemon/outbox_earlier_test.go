package daemon

import (
	"bytes"
	"fmt"
	"maps"
	"net/mail"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/mailer/mailtest"
	"github.com/abusewatch/abusewatch/store"
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

// splitAttackAt is splitAttack for an incident of network that starts at first: two
// lines (one connection) from each of addrs, ten seconds apart, with the events stored.
func splitAttackAt(t *testing.T, st *store.Store, network string, addrs []string, first time.Time) abusewatch.Incident {
	t.Helper()
	inc := networkAttack(t, st, network, addrs, first)
	var evs []abusewatch.Event
	for i, a := range addrs {
		for j := range 2 {
			evs = append(evs, abusewatch.Event{Time: first.Add(time.Duration(10*i+j) * time.Second), Class: abusewatch.ClassAuthFailure,
				Addr: netip.MustParseAddr(a), Port: uint16(40000 + i), Host: "web1", Service: "sshd",
				Line: fmt.Sprintf("web1 sshd[1]: Failed password for root from %s port %d ssh2", a, 40000+i)})
		}
	}
	if _, err := st.Commit(evs, nil); err != nil {
		t.Fatal(err)
	}
	inc.Last, inc.Count, inc.Attempts = evs[len(evs)-1].Time, len(evs), len(addrs)
	if err := st.PutIncidents([]abusewatch.Incident{inc}); err != nil {
		t.Fatal(err)
	}
	return inc
}

// Review 48 M2: a network incident split between two parties (each told its own half)
// that came back was threaded for one party only: the store keeps one report per
// incident, and the other party's follow-up named no report and opened a new ticket.
// Each party's follow-up is threaded with the share that party had.
func TestEachPartysFollowUpOfASplitNetworkIsThreadedWithItsOwnShare(t *testing.T) {
	low, high := "abuse@lowhalf.example", "abuse@highhalf.example"
	srv := mailtest.Start(t, mailtest.Options{})
	p, st, logs := outboxPipeline(t, srv.Addr, "auto",
		[]party{{"5.6.7.0/25", low}, {"5.6.7.128/25", high}, {"5.0.0.0/8", "abuse@five.example"}}, `cooldown = "1h"`)
	ctx := t.Context()
	addrs := []string{"5.6.7.1", "5.6.7.2", "5.6.7.3", "5.6.7.130", "5.6.7.131", "5.6.7.132"}
	first := splitAttackAt(t, st, "5.6.7.0/24", addrs, t0)
	if err := p.Tick(ctx, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	firstMail := map[string]string{} // recipient → the Message-ID of its share
	for range 2 {
		m := srv.Next(t)
		if len(m.To) != 1 {
			t.Fatalf("a mail to %v", m.To)
		}
		firstMail[m.To[0]] = messageID(t, m.Data)
	}
	srv.Nothing(t)
	shares := map[string]abusewatch.Report{} // recipient → its share, as stored
	for _, r := range reportsIn(t, st, abusewatch.ReportSent) {
		if len(r.Contact.Emails) != 1 || r.MessageID != firstMail[r.Contact.Emails[0]] || !slices.Contains(r.Incidents, first.ID) {
			t.Fatalf("a sent report %s to %v (%s) about %v", r.ID, r.Contact.Emails, r.MessageID, r.Incidents)
		}
		shares[r.Contact.Emails[0]] = r
	}
	if len(shares) != 2 || shares[low].ID == "" || shares[high].ID == "" {
		t.Fatalf("the shares sent: %v", slices.Sorted(maps.Keys(shares)))
	}

	// The /24 comes back three hours later, from the same addresses: each party is
	// told its share of it again.
	splitAttackAt(t, st, "5.6.7.0/24", addrs, t0.Add(3*time.Hour))
	if err := p.Tick(ctx, t0.Add(4*time.Hour)); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		m := srv.Next(t)
		if len(m.To) != 1 || shares[m.To[0]].ID == "" {
			t.Fatalf("a follow-up to %v", m.To)
		}
		to, own := m.To[0], shares[m.To[0]]
		irt, refs := threadHeaders(t, m.Data)
		if irt != own.MessageID || len(refs) != 1 || refs[0] != own.MessageID {
			t.Errorf("the follow-up to %s: In-Reply-To %q, References %q; want its own share's %s", to, irt, refs, own.MessageID)
		}
		text := strings.Join(strings.Fields(mailText(t, m.Data)), " ")
		if want := "This follows our report " + own.ID + " of 2026-11-20."; !strings.Contains(text, want) {
			t.Errorf("the follow-up to %s does not say %q:\n%s", to, want, text)
		}
	}
	srv.Nothing(t)
	if t.Failed() {
		t.Log(logs)
	}
}

// Of a network incident split among many parties, the other parties' shares do not
// crowd a party's own out of the earlier reports read (earlierRead counts per party),
// and no more than earlierReadAll are read in all.
func TestEarlierReportsKeepEachPartysShareAmongMany(t *testing.T) {
	_, st, _ := outboxPipeline(t, mailtest.FreeAddr(t), "auto", parties[:1], "")
	var addrs []string
	for i := range 2 * earlierReadAll {
		addrs = append(addrs, fmt.Sprintf("5.6.7.%d", i+1))
	}
	before := networkAttack(t, st, "5.6.7.0/24", addrs, t0)
	now := networkAttack(t, st, "5.6.7.0/24", addrs, t0.Add(3*time.Hour))
	share := func(i int) abusewatch.Report {
		id := fmt.Sprintf("share%03d", i)
		return abusewatch.Report{ID: id, MessageID: "<" + id + "@example.org>", Incidents: []string{before.ID}, State: abusewatch.ReportSent,
			Contact: abusewatch.Contact{Emails: []string{fmt.Sprintf("abuse@cust%03d.example", i)}},
			Created: t0.Add(time.Hour + time.Duration(i)*time.Second), Message: []byte("Subject: a share\r\n\r\nbody\r\n")}
	}
	// A party each: the newest are read first, up to earlierReadAll.
	for i := range len(addrs) {
		if _, err := st.AddReport(share(i)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := earlierReports(st, []abusewatch.Incident{now}, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != earlierReadAll {
		t.Errorf("%d earlier reports read, want %d (as many as are read at most)", len(got), earlierReadAll)
	}
	if !slices.ContainsFunc(got, func(r abusewatch.Report) bool { return r.ID == "share127" && r.Message != nil }) {
		t.Error("the newest share is not read, with its message")
	}
	// Of two parties, the quiet one's share is the oldest: the busy one's, newer, are
	// read first, up to earlierRead, and the quiet one's after them.
	few := networkAttack(t, st, "5.6.8.0/24", addrs[:1], t0)
	again := networkAttack(t, st, "5.6.8.0/24", addrs[:1], t0.Add(3*time.Hour))
	for i := range earlierRead + 3 {
		r := share(1000 + i)
		r.Incidents, r.Contact.Emails = []string{few.ID}, []string{"abuse@busy.example"}
		if i == 0 {
			r.Contact.Emails = []string{"Abuse@Quiet.example"}
		}
		if _, err := st.AddReport(r); err != nil {
			t.Fatal(err)
		}
	}
	got, err = earlierReports(st, []abusewatch.Incident{again}, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != earlierRead+1 || !slices.ContainsFunc(got, func(r abusewatch.Report) bool { return r.ID == "share1000" }) {
		t.Errorf("read %d earlier reports, the quiet party's share among them: %v; want %d with it",
			len(got), slices.ContainsFunc(got, func(r abusewatch.Report) bool { return r.ID == "share1000" }), earlierRead+1)
	}
}
