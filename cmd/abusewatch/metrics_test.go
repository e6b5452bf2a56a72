package main

import (
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestMetricsEndpointServesTheCounters(t *testing.T) {
	s := newAdminSetup(t)
	appendFile(t, s.cfg, "[metrics]\nlisten = \"127.0.0.1:0\"\n")
	d := s.start(t)
	line := d.waitLog(t, "metrics endpoint ready")
	addr := regexp.MustCompile(`listen=(\S+)`).FindStringSubmatch(line)[1]
	appendFile(t, s.logFile, attackLines(6, time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC), 40000))
	s.waitIncidents(t, 1)
	want := []string{
		`abusewatch_source_lines_read_total{outcome="event"} 12`, // 6 from 3.3.3.3, 6 from 10.1.1.1
		`abusewatch_events_total{class="auth-failure"} 12`,
		// The lag is the follower's at its last look at the file: it reaches 0 at the
		// look after the lines were read, which may come after the incident.
		`abusewatch_source_lag_bytes{source="` + s.logFile + `"} 0`,
		`abusewatch_incident_updates_total `,
		`abusewatch_store_bytes `,
		`abusewatch_outbox_round_last_seconds `,
		`abusewatch_outbox_round_running_seconds `,
		// Every state, with none in it too: an alert rule needs the series.
		`abusewatch_outbox_reports{state="failed"} 0`,
		`abusewatch_outbox_reports{state="queued"} `,
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		missing := slices.DeleteFunc(slices.Clone(want), func(w string) bool { return strings.Contains(string(body), w) })
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics lack %q after 30 s:\n%s", missing, body)
		}
	}
}
