package daemon

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/lookup/lookuptest"
	"github.com/abusewatch/abusewatch/mailer/mailtest"
)

// A lookup the registry keeps rate-limiting (429) holds a network incident back for
// transientWait from the round that first met it, not for ever: up to then no party is
// told anything, after it the addresses still without a contact are left out, told to
// no one, and the other party gets its share. The registry's back-off runs on the
// wall clock (Retry-After of an hour), the cut-off on the round's time: the rounds step
// past it without a sleep, while every lookup of the second /29 still fails as
// rate-limited, not as an answer without a contact.
func TestARateLimitedLookupHoldsASplitIncidentBackForAnHourAtMost(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	r := lookuptest.NewRDAP(t)
	custA, custB := "abuse@cust-a.example", "abuse@cust-b.example"
	r.Answer("5.6.7.0/29", lookuptest.NetworkAnswer(netip.MustParsePrefix("5.6.7.0/29"), "CUST-A", "DE", custA))
	r.Answer("5.6.7.8/29", lookuptest.NetworkAnswer(netip.MustParsePrefix("5.6.7.8/29"), "CUST-B", "DE", custB))
	p, st, logs := rdapPipeline(t, r.URL, srv.Addr)
	// The first /29's addresses' contact is in the cache; from now on the registry
	// answers 429 and asks for an hour, the longest back-off the lookup honours.
	for _, a := range []string{"5.6.7.1", "5.6.7.2"} {
		if c, err := p.contact(t.Context(), netip.MustParseAddr(a)); err != nil || c.Emails[0] != custA {
			t.Fatalf("looking up %s: %v, %v", a, c, err)
		}
	}
	r.Storm(1000, "3600")
	addrs := []string{"5.6.7.1", "5.6.7.2", "5.6.7.9", "5.6.7.10"}
	inc := splitAttack(t, st, "5.6.7.0/24", addrs)
	first := t0.Add(time.Hour)
	for _, at := range []time.Time{first, first.Add(30 * time.Minute), first.Add(transientWait - time.Minute)} {
		if err := p.Tick(t.Context(), at); err != nil {
			t.Fatal(err)
		}
		srv.Nothing(t)
		if rs := reportsIn(t, st); len(rs) != 0 {
			t.Fatalf("%d reports written at %s while a lookup was rate-limited for less than %s, want none", len(rs), at, transientWait)
		}
		m, _ := p.misses.get(inc.ID)
		if m.code != UnreportedNoContact || !strings.Contains(m.why, "rate-limited") || !m.at.Equal(first) {
			t.Fatalf("at %s the incident's miss is %+v, want a rate-limited lookup waited on since %s", at, m, first)
		}
	}
	if err := p.Tick(t.Context(), first.Add(transientWait+time.Minute)); err != nil {
		t.Fatal(err)
	}
	m := srv.Next(t)
	if len(m.To) != 1 || m.To[0] != custA {
		t.Fatalf("a mail to %v, want one to %s", m.To, custA)
	}
	text := mailText(t, m.Data)
	namesOnly(t, "the mail", text, addrs, addrs[:2])
	srv.Nothing(t)
	if _, ok, _ := st.ReportFor(inc.ID); !ok {
		t.Error("the incident is not marked reported with the share it could tell")
	}
	if m, _ := p.misses.get(inc.ID); !strings.Contains(m.why, "5.6.7.9, 5.6.7.10") || !strings.Contains(m.why, "rate-limited") {
		t.Errorf("the incident's miss is %+v, want one naming the addresses left out and why", m)
	}
	if t.Failed() {
		t.Log(logs)
	}
}
