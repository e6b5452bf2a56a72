package daemon

import (
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/mailer"
	"github.com/abusewatch/abusewatch/mailer/mailtest"
	"github.com/abusewatch/abusewatch/store"
)

// adminSummary is the text of the summary of st from from to now, as mailed to an
// admin (cfg names none).
func adminSummary(t *testing.T, cfg *Config, st *store.Store, from, now time.Time) string {
	t.Helper()
	sum, err := BuildSummarySince(cfg, st, nil, nil, from, now)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := mailer.ComposeSummary(sum, "abusewatch@example.org", "root@example.org", now)
	if err != nil {
		t.Fatal(err)
	}
	text, _, _ := summaryParts(t, msg)
	return text
}

// An incident whose party is in its cooldown is written into no report of its own: it
// joins the party's next. `incidents` (from the daemon and from the store), the summary
// and `report preview` all say until when and why, in the same words, and the summary
// counts it among what waits. Only the preview did: the others said "none yet",
// `pending` (nothing holds it back), "no report yet" and "0 waiting for a cooldown",
// and the log had a Debug line (review 22 #4).
func TestAnIncidentHeldByItsPartysCooldownSaysUntilWhenEverywhere(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	p, st, _ := outboxPipeline(t, srv.Addr, "auto", parties[:1], "")
	tick := ticker(t, p)
	attack(t, st, "45.134.26.7", t0, 20)
	tick(t0)
	srv.Next(t)
	sent := reportsIn(t, st, abusewatch.ReportSent)
	if len(sent) != 1 {
		t.Fatalf("%d reports sent, want 1", len(sent))
	}
	second := attack(t, st, "45.134.26.8", t0.Add(time.Hour), 10)
	now := t0.Add(2 * time.Hour)
	tick(now)
	srv.Nothing(t)

	cooldown := "(cooldown: abuse@hostco.example had a report on 2026-11-20 09:00 +0000)"
	want := "waits until 2026-11-27 09:00 +0000 (cooldown: abuse@hostco.example had a report on 2026-11-20 09:00 +0000: report " +
		sent[0].ID[:12] + "): it joins the party's next report then (policy.cooldown)"
	daemonWhy, err := p.unreported(now)
	if err != nil {
		t.Fatal(err)
	}
	storedWhy, err := StoredUnreported(p.cfg, st, now)
	if err != nil {
		t.Fatal(err)
	}
	for name, why := range map[string]*Unreported{"daemon": daemonWhy, "offline": storedWhy} {
		list, err := QueryIncidents(st, time.Time{}, 0, why)
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range list.Incidents {
			if i.ID == second.ID && (i.ReportID != "" || i.UnreportedCode != UnreportedWaitsForParty || i.Unreported != want) {
				t.Errorf("%s: incidents says of %s: report %q, %q (%s); want %q (%s)", name, second.Addr, i.ReportID,
					i.Unreported, i.UnreportedCode, want, UnreportedWaitsForParty)
			}
		}
	}

	pv, err := PreviewReport(t.Context(), p.cfg, st, nil, second.Addr, now)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(pv.Fate, "It would not be written before 2026-11-27 09:00 +0000 "+cooldown+": these incidents join the party's next report then, which is sent (auto mode).") {
		t.Errorf("report preview says %q; want the cooldown's end and reason %q", pv.Fate, cooldown)
	}

	text := adminSummary(t, p.cfg, st, t0, now)
	if !strings.Contains(text, "report: not reported: "+want) ||
		!strings.Contains(text, "0 queued (0 waiting for a cooldown or a limit; 1 incident waiting, not written into a report yet, for a party's cooldown or a report to it not gone yet)") {
		t.Errorf("the summary does not say the incident waits for its party's cooldown:\n%s", text)
	}

	// The cooldown over, the party's next report takes it in, and nothing says it waits.
	after := t0.Add(7*24*time.Hour + time.Minute)
	tick(after)
	if m := srv.Next(t); !strings.Contains(string(m.Data), "45.134.26.8") {
		t.Errorf("the report after the cooldown does not name 45.134.26.8:\n%s", m.Data)
	}
	list, err := QueryIncidents(st, time.Time{}, 0, storedWhy)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range list.Incidents {
		if i.ID == second.ID && (i.ReportID == "" || i.Unreported != "") {
			t.Errorf("after the cooldown, incidents says of %s: report %q, %q", second.Addr, i.ReportID, i.Unreported)
		}
	}
	if text := adminSummary(t, p.cfg, st, now, after); strings.Contains(text, "incident waiting") || !strings.Contains(text, "REPORTS: 1 sent") {
		t.Errorf("the summary after the cooldown:\n%s", text)
	}
}
