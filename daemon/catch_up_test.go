package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/daemon/disktest"
	"github.com/abusewatch/abusewatch/store"
)

// attackRecords are the records of 7 failed logins each of the addresses 45.134.x.y
// number from to to-1, a second apart from start on.
func attackRecords(from, to int, start time.Time) []abusewatch.Record {
	var recs []abusewatch.Record
	for i := from; i < to; i++ {
		for k := range 7 {
			ts := start.Add(time.Duration(7*i+k) * time.Second)
			recs = append(recs, abusewatch.Record{Source: "/var/log/auth.log", Read: time.Now(), Line: fmt.Sprintf(
				"%s web1 sshd[4242]: Failed password for root from 45.134.%d.%d port %d ssh2",
				ts.Format("2006-01-02T15:04:05.000000-07:00"), i/250, 1+i%250, 40000+k)})
		}
	}
	return recs
}

// incidentsIn is the number of incidents st holds.
func incidentsIn(t *testing.T, st *store.Store) int {
	t.Helper()
	_, n, err := st.IncidentsSince(time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// incidentDigests are the incidents st holds, by ID: their rule, first and last event,
// events and sources.
func incidentDigests(t *testing.T, st *store.Store) map[string]string {
	t.Helper()
	incs, _, err := st.IncidentsSince(time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, inc := range incs {
		out[inc.ID] = fmt.Sprintf("%s %s %s–%s %d events %v", inc.Rule, inc.Network, inc.First.Format(time.TimeOnly), inc.Last.Format(time.TimeOnly), inc.Count, inc.Sources)
	}
	return out
}

// A batch's events are committed, then the disk fills and its incidents' write fails:
// the events stay past the store's correlation mark. The disk freed, the next batch (or
// a tick of the daemon, or the next start) correlates them first, logs at warning
// level what it caught up, counts it, and the store holds the incidents of both
// batches, as if nothing had failed. Going over them again changes nothing. It stayed
// without incidents for good, unless the daemon had started before their lines' time.
func TestACorrelationThatFailedIsCaughtUp(t *testing.T) {
	for _, how := range []string{"next batch", "tick", "restart"} {
		t.Run(how, func(t *testing.T) {
			dir := t.TempDir()
			disk := disktest.Small(t, dir, "16m")
			cfg := observeConfig(t, disk, "", 5)
			var log lockedBuffer
			logger := slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelWarn}))
			st := openTestStore(t, cfg)
			p, err := NewPipeline(cfg, st, logger)
			if err != nil {
				t.Fatal(err)
			}
			// A backlog: lines logged a day before they are read.
			start := time.Now().UTC().Truncate(time.Hour).Add(-24 * time.Hour)

			var filler string
			ingestFault = func(recs []abusewatch.Record, committed bool) error {
				if committed && filler == "" {
					filler = disktest.Fill(t, disk) // between the commit and the incidents
				}
				return nil
			}
			t.Cleanup(func() { ingestFault = nil })
			err = p.Ingest(t.Context(), attackRecords(0, 300, start), nil)
			if _, after := errors.AsType[*afterCommitError](err); !after || !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("Ingest with the disk filled after the commit returned %v; want the incidents' write refused for lack of space", err)
			}
			ingestFault = nil
			if n := incidentsIn(t, st); n != 0 {
				t.Fatalf("%d incidents stored by the batch whose incidents' write failed", n)
			}
			if err := os.Remove(filler); err != nil {
				t.Fatal(err)
			}

			switch how {
			case "next batch":
				if err := p.Ingest(t.Context(), attackRecords(300, 310, start), nil); err != nil {
					t.Fatal(err)
				}
			case "tick":
				if err := p.Recorrelate(t.Context(), time.Now()); err != nil {
					t.Fatal(err)
				}
			case "restart":
				if err := st.Close(); err != nil {
					t.Fatal(err)
				}
				st = openTestStore(t, cfg)
				if p, err = NewPipeline(cfg, st, logger); err != nil {
					t.Fatal(err)
				}
				if err := p.CatchUp(t.Context()); err != nil {
					t.Fatal(err)
				}
			}
			// As a pipeline whose store never failed makes them.
			ref := t.TempDir()
			refCfg := observeConfig(t, ref, "", 5)
			refStore := openTestStore(t, refCfg)
			rp, err := NewPipeline(refCfg, refStore, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			batches := [][]abusewatch.Record{attackRecords(0, 300, start)}
			if how == "next batch" {
				batches = append(batches, attackRecords(300, 310, start))
			}
			for _, recs := range batches {
				if err := rp.Ingest(t.Context(), recs, nil); err != nil {
					t.Fatal(err)
				}
			}
			want := incidentsIn(t, refStore)
			if want < 300 {
				t.Fatalf("the pipeline that never failed made %d incidents of 300 attackers", want)
			}
			if n := incidentsIn(t, st); n != want {
				t.Errorf("%d incidents after the %s; want %d, as a store that never failed holds", n, how, want)
			}
			if !strings.Contains(log.String(), "level=WARN msg=\"2100 events committed before a stop (or a failed correlation) had not been correlated; correlated now\"") {
				t.Errorf("no warning of the 2100 events caught up:\n%s", log.String())
			}
			if n := p.Counters.CaughtUp.Load(); n != 2100 {
				t.Errorf("Counters.CaughtUp = %d; want 2100", n)
			}
			if u, err := st.Uncorrelated(); err != nil || u.Events != 0 {
				t.Errorf("%d events still past the correlation mark (%v)", u.Events, err)
			}
			// Judged again, the same events change nothing: the incidents are stable.
			changed, err := p.RecorrelateRange(t.Context(), start, start.Add(24*time.Hour))
			if err != nil || changed != 0 {
				t.Errorf("re-correlating what was caught up changed %d incidents (%v); want none", changed, err)
			}
			got, refIncs := incidentDigests(t, st), incidentDigests(t, refStore)
			for id, inc := range refIncs {
				if got[id] != inc {
					t.Errorf("incident %s is %q; a store that never failed holds %q", id, got[id], inc)
				}
			}
			if len(got) != len(refIncs) {
				t.Errorf("%d incidents after going over them again; want %d", len(got), len(refIncs))
			}
		})
	}
}
