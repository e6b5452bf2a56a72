package daemon

import (
	"fmt"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
)

// A file's backlog of autumn's repeated hour, read by the daemon, is dated by the file's
// order, batch after batch (Europe/Berlin: 02:40-02:59 of the first pass, then 02:00-02:09 of
// the second), and a batch the store refused is read again from where the file was
// before it: its first lines stay of the first pass. Had the refused try moved the
// file's last time to 02:59, the retry's 02:40 went "back" and was dated an hour late.
func TestIngestDatesTheRepeatedHourByEachFileAcrossBatches(t *testing.T) {
	dir := t.TempDir()
	cfg := observeConfig(t, dir, "[detect]\ntimezone = \"Europe/Berlin\"", 1_000_000_000)
	st := openTestStore(t, cfg)
	p, err := NewPipeline(cfg, st, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	const file = "/var/log/auth.log"
	attacker := netip.MustParseAddr("45.134.26.50")
	start := time.Date(2026, 10, 25, 0, 40, 0, 0, time.UTC) // 02:40 +0200
	var want []time.Time
	batch := func(from, to int, other string) []abusewatch.Record {
		var recs []abusewatch.Record
		for i := from; i < to; i++ {
			at := start.Add(time.Duration(i) * time.Minute)
			want = append(want, at)
			line := fmt.Sprintf("%s web1 sshd[%d]: Failed password for root from %s port %d ssh2", at.In(berlin).Format(time.Stamp), 1000+i, attacker, 40000+i)
			recs = append(recs, abusewatch.Record{Source: file, Line: line, Read: start.Add(3 * time.Hour)})
			// Another file's line of the second pass between them: its own order.
			recs = append(recs, abusewatch.Record{Source: other, Line: "Oct 25 02:30:00 web2 CRON[1]: pam_unix(cron:session): session closed for user root", Read: start.Add(3 * time.Hour)})
		}
		return recs
	}
	first := batch(0, 20, "/var/log/b.log")
	refused := 0
	ingestFault = func(recs []abusewatch.Record, committed bool) error {
		if !committed && refused == 0 {
			refused++
			return errInjected
		}
		return nil
	}
	t.Cleanup(func() { ingestFault = nil })
	if err := p.Ingest(t.Context(), first, nil); err == nil {
		t.Fatal("the injected refusal did not refuse the batch")
	}
	if err := p.Ingest(t.Context(), first, nil); err != nil {
		t.Fatal(err)
	}
	if err := p.Ingest(t.Context(), batch(20, 30, "/var/log/c.log"), nil); err != nil {
		t.Fatal(err)
	}
	events, err := st.EventsByAddr(attacker, start.Add(-24*time.Hour), start.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != len(want) {
		t.Fatalf("%d events stored, want %d", len(events), len(want))
	}
	for i, ev := range events {
		if !ev.Time.Equal(want[i]) {
			t.Errorf("event %d (%s) dated %s, want %s", i, ev.Line[:15], ev.Time.UTC().Format(time.TimeOnly), want[i].Format(time.TimeOnly))
		}
	}
}
