package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/lookup/lookuptest"
	"github.com/abusewatch/abusewatch/store"
)

// demoStateIn opens the store the demo config (run in dir) uses, abusewatch-demo/state.db,
// for a test to fill before it runs the binary; the test closes it.
func demoStateIn(t *testing.T, dir string) *store.Store {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "abusewatch-demo"), 0o755); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(dir, "abusewatch-demo", "state.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// After [retention] incidents deleted a reported incident, `ip` still shows the report
// (the outbox keeps it), in its table and in --json.
func TestIPShowsAReportWhoseIncidentRetentionDeleted(t *testing.T) {
	dir := t.TempDir()
	st := demoStateIn(t, dir)
	now := time.Now()
	inc := abusewatch.Incident{ID: "2c3543ed42541e51", Key: "ip:45.134.26.7", Rule: "per-address", Addr: netip.MustParseAddr("45.134.26.7"),
		First: now.AddDate(0, 0, -61), Last: now.AddDate(0, 0, -60), Count: 28, Attempts: 28}
	if err := st.PutIncidents([]abusewatch.Incident{inc}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddReport(abusewatch.Report{ID: "ddf910488384807ac62c48455c513007", State: abusewatch.ReportSent, Incidents: []string{inc.ID},
		Created: now.AddDate(0, 0, -59), Updated: now.AddDate(0, 0, -59), Contact: abusewatch.Contact{Emails: []string{"abuse@hostco.example"}},
		Subject: "Abuse report: repeated SSH login attempts from 45.134.26.7"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.PruneIncidents(context.Background(), now.AddDate(0, 0, -30), now.AddDate(0, 0, -30), 0); err != nil {
		t.Fatal(err)
	}
	st.Close()
	cfg := repoPath(t, "configs/demo.toml")
	stdout, stderr, code := runBinary(t, dir, "ip", "--config", cfg, "--since", "180d", "45.134.26.7")
	if code != 0 || !strings.Contains(stdout, "ddf910488384807ac62c48455c513007  sent   abuse@hostco.example") || !strings.Contains(stdout, "1 (1 deleted)") {
		t.Errorf("ip: exit %d; want the report, its incident deleted\n%s%s", code, stdout, stderr)
	}
	stdout, stderr, code = runBinary(t, dir, "ip", "--config", cfg, "--since", "180d", "--json", "45.134.26.7")
	var info struct {
		Reports []struct {
			ID            string `json:"id"`
			State         string `json:"state"`
			IncidentsKept int    `json:"incidents_kept"`
		} `json:"reports"`
	}
	if err := json.Unmarshal([]byte(stdout), &info); code != 0 || err != nil || len(info.Reports) != 1 || info.Reports[0].State != "sent" || info.Reports[0].IncidentsKept != 0 {
		t.Errorf("ip --json: exit %d, %v, reports %+v; want the sent report\n%s%s", code, err, info.Reports, stdout, stderr)
	}
}

// report preview through the daemon asks the daemon's lookup, not one of its own: a
// registry that told the daemon to slow down (429, Retry-After) is not asked again by
// the preview, and what the preview asks is in the daemon's metrics (review 31 F10).
func TestReportPreviewThroughTheDaemonKeepsItsBackOff(t *testing.T) {
	s := newAdminSetup(t)
	r := lookuptest.NewRDAP(t)
	r.AnswerFile("3.0.0.0/9", repoPath(t, "lookup/testdata/rdap/ip_network_arin_3_3_3_3.json"))
	r.StormWith(1000, 429, "3600")
	dnsServer, _ := lookuptest.ServeZone(t, whoisZone)
	s.editConfig(t, "[lookup]\nrdap = false\n[[contact]]\nnetwork = \"3.3.0.0/16\"\nemails = [\"abuse@cloud.example\"]\n",
		fmt.Sprintf("[lookup]\nrdap_server = %q\nresolvers = [%q]\n", r.URL+"/", dnsServer))
	s.start(t)
	appendFile(t, s.logFile, attackLines(6, time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC), 40000))
	s.waitIncidents(t, 1)
	deadline := time.Now().Add(30 * time.Second)
	for r.Requests.Load() == 0 { // the daemon's round asked, and was told to wait an hour
		if time.Now().After(deadline) {
			t.Fatal("the daemon asked the registry nothing in 30 s")
		}
		s.admin(t, "status") // a question to the daemon between looks, not a sleep
	}
	asked := r.Requests.Load()
	stdout, stderr, _ := s.admin(t, "report", "preview", "3.3.3.3")
	if n := r.Requests.Load(); n != asked || !strings.Contains(stdout+stderr, "rate-limited") {
		t.Errorf("the preview asked the registry %d more times (want 0, the daemon is backing off):\n%s%s", n-asked, stdout, stderr)
	}
}
