package main

import (
	"io"
	"net/http"
	"regexp"
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
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`abusewatch_source_lines_read_total{outcome="event"} 12`, // 6 from 3.3.3.3, 6 from 10.1.1.1
		`abusewatch_events_total{class="auth-failure"} 12`,
		`abusewatch_source_lag_bytes{source="` + s.logFile + `"} 0`,
		`abusewatch_incident_updates_total `,
		`abusewatch_store_bytes `,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
}
