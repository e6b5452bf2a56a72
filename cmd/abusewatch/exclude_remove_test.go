package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/daemon"
)

// Review tune44 M2: the lines of an address read while it was excluded (our pen-test)
// were stored, as they should be, and after `exclude --remove` its first new line made
// an incident of all of them: the ISP got a report quoting the pen-test. What happened
// while it was excluded is never reported; what comes after the removal is.

// penTestConfig is the demo's config in auto mode, with its state, its maildir and an
// empty auth.log in a directory of its own: the directory, the config and the log.
func penTestConfig(t *testing.T) (dir, config, log string) {
	t.Helper()
	dir, config = demoConfigFile(t, "auto")
	setConfig(t, config, `max_age = "0s"`, "max_age = \"0s\"\nsettle = \"0s\"")
	log = filepath.Join(dir, "auth.log")
	appendFile(t, log, "")
	return dir, config, log
}

// penTestLines are n failed logins of 45.134.26.50 a minute apart from at, from port
// port on: one connection each.
func penTestLines(n int, at time.Time, port int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "%s web1 sshd[%d]: Failed password for root from 45.134.26.50 port %d ssh2\n",
			at.Add(time.Duration(i)*time.Minute).UTC().Format("2006-01-02T15:04:05.000000-07:00"), 7000+port+i, port+i)
	}
	return b.String()
}

// awRun runs the binary with config, failing the test unless it exits 0; its stdout.
func awRun(t *testing.T, dir, config string, args ...string) string {
	t.Helper()
	stdout, stderr, code := runBinary(t, dir, append(args, "--config", config)...)
	if code != 0 {
		t.Fatalf("%v: exit %d\n%s%s", args, code, stdout, stderr)
	}
	return stdout
}

// penTestIncidents are the incidents `incidents --json` lists.
func penTestIncidents(t *testing.T, dir, config string) []daemon.IncidentInfo {
	t.Helper()
	var list daemon.IncidentList
	if err := jsonOf(awRun(t, dir, config, "incidents", "--since", "3650d", "--json"), &list); err != nil {
		t.Fatal(err)
	}
	return list.Incidents
}

// After exclude, six pen-test lines, --remove and one new line, nothing is reported;
// when the attack that follows meets the threshold by itself, its report quotes its
// own lines only and its incident counts only them. The pen-test lines stay stored.
func TestLinesReadWhileExcludedAreNeverReportedAfterTheRemoval(t *testing.T) {
	dir, config, log := penTestConfig(t)
	t0 := time.Date(2026, 11, 21, 3, 11, 0, 0, time.UTC)
	awRun(t, dir, config, "exclude", "45.134.26.50", "--reason", "our pen-test")
	appendFile(t, log, penTestLines(6, t0, 41000))
	if out := awRun(t, dir, config, "scan", log); !strings.Contains(out, "0 incidents") {
		t.Fatalf("scan while excluded:\n%s", out)
	}
	out := awRun(t, dir, config, "exclude", "--remove", "45.134.26.50")
	if !strings.Contains(out, "The lines read while it was excluded, or dated then, are never reported") {
		t.Errorf("exclude --remove does not say what becomes of the lines held back:\n%s", out)
	}
	// One new line, within the window of the pen-test's: nothing.
	appendFile(t, log, penTestLines(1, t0.Add(6*time.Minute+30*time.Second), 49900))
	if out := awRun(t, dir, config, "scan", log); !strings.Contains(out, "0 incidents, 0 reports written") {
		t.Errorf("one line after the removal made an incident of the pen-test's:\n%s", out)
	}
	if incs := penTestIncidents(t, dir, config); len(incs) != 0 {
		t.Errorf("incidents after one new line = %+v", incs)
	}
	// Four more: five lines of its own, an incident and a report of them alone.
	appendFile(t, log, penTestLines(4, t0.Add(7*time.Minute), 50000))
	if out := awRun(t, dir, config, "scan", log); !strings.Contains(out, "1 incident, 1 report written") {
		t.Fatalf("the attack after the removal:\n%s", out)
	}
	incs := penTestIncidents(t, dir, config)
	if len(incs) != 1 || incs[0].Count != 5 || incs[0].Attempts != 5 || !incs[0].First.Equal(t0.Add(6*time.Minute+30*time.Second)) {
		t.Errorf("incidents = %+v; want one of the 5 lines after the removal", incs)
	}
	report := mailTo(t, filepath.Join(dir, "maildir"), "abuse@hostco.example")
	for i := range 6 {
		if pen := fmt.Sprintf("port %d", 41000+i); strings.Contains(report, pen) {
			t.Errorf("the report quotes the pen-test's line of %s:\n%s", pen, report)
		}
	}
	for _, port := range []int{49900, 50000, 50003} {
		if !strings.Contains(report, fmt.Sprintf("port %d", port)) {
			t.Errorf("the report lacks the line of port %d:\n%s", port, report)
		}
	}
	// The pen-test's lines stay in the store for the admin.
	var ip struct {
		Events int `json:"events"`
	}
	if err := jsonOf(awRun(t, dir, config, "ip", "45.134.26.50", "--since", "3650d", "--json"), &ip); err != nil {
		t.Fatal(err)
	}
	if ip.Events != 11 {
		t.Errorf("ip counts %d events of 45.134.26.50, want all 11 (the pen-test's too)", ip.Events)
	}
}

// A `correlate --rebuild` after the removal, from before the exclusion (a new process:
// it knows the exclusion from the store alone), makes nothing of the lines it held back,
// nor with a new line after them.
func TestARebuildAfterTheRemovalDoesNotCountTheLinesHeldBack(t *testing.T) {
	dir, config, log := penTestConfig(t)
	t0 := time.Date(2026, 11, 21, 3, 11, 0, 0, time.UTC)
	awRun(t, dir, config, "exclude", "45.134.26.50", "--reason", "our pen-test")
	appendFile(t, log, penTestLines(6, t0, 41000))
	awRun(t, dir, config, "scan", log)
	awRun(t, dir, config, "exclude", "--remove", "45.134.26.50")
	awRun(t, dir, config, "correlate", "--since", "2026-11-01", "--rebuild")
	if incs := penTestIncidents(t, dir, config); len(incs) != 0 {
		t.Fatalf("the rebuild made incidents of the lines held back: %+v", incs)
	}
	appendFile(t, log, penTestLines(1, t0.Add(6*time.Minute+30*time.Second), 49900))
	awRun(t, dir, config, "scan", log)
	awRun(t, dir, config, "correlate", "--since", "2026-11-01", "--rebuild")
	if incs := penTestIncidents(t, dir, config); len(incs) != 0 {
		t.Errorf("a new line and a rebuild made incidents of the lines held back: %+v", incs)
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "maildir", "new", "*")); len(files) != 0 {
		t.Errorf("mails written: %v", files)
	}
}

// The running daemon: an address excluded while it attacks, then included again over
// the admin socket; its next attack is one incident of its own lines, and the report
// waiting for approval quotes none of those read while it was excluded.
func TestTheDaemonCountsNoLineReadWhileExcludedAfterTheRemoval(t *testing.T) {
	s := newAdminSetup(t)
	s.start(t)
	start := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
	var res daemon.ExcludeResult
	s.adminJSON(t, &res, "exclude", "3.3.3.3", "--reason", "our pen-test")
	appendFile(t, s.logFile, attackLines(6, start, 40000))
	// Stored (each attempt is a line of 3.3.3.3 and one of 10.1.1.1) before the removal.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var st daemon.Status
		if s.adminJSON(t, &st, "status"); st.Store.Events >= 12 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the daemon never stored the 12 lines: %+v", st.Store)
		}
	}
	if stdout, stderr, code := s.admin(t, "exclude", "--remove", "3.3.3.3"); code != 0 {
		t.Fatalf("exclude --remove: exit %d\n%s%s", code, stdout, stderr)
	}
	appendFile(t, s.logFile, attackLines(5, start.Add(time.Minute), 50000))
	incs := s.waitIncidents(t, 1)
	if len(incs) != 1 || incs[0].Attempts != 5 || incs[0].Count != 5 || !incs[0].First.Equal(start.Add(time.Minute)) {
		t.Fatalf("incidents = %+v; want one of the 5 attempts after the removal", incs)
	}
	var list outboxList
	for deadline := time.Now().Add(30 * time.Second); len(list.Reports) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("no report reached the outbox")
		}
		s.adminJSON(t, &list, "outbox")
	}
	stdout, stderr, code := s.admin(t, "report", "show", list.Reports[0].ID)
	if code != 0 || !strings.Contains(stdout, "port 50004") {
		t.Fatalf("report show: exit %d\n%s%s", code, stdout, stderr)
	}
	if strings.Contains(stdout, "port 4000") {
		t.Errorf("the report quotes lines read while 3.3.3.3 was excluded:\n%s", stdout)
	}
}

// jsonOf decodes a command's JSON.
func jsonOf(s string, v any) error {
	if err := json.Unmarshal([]byte(s), v); err != nil {
		return fmt.Errorf("%w\n%s", err, s)
	}
	return nil
}
