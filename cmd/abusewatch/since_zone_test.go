package main

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/daemon"
)

// --since takes a date, or a date and time without an offset, in reporter.timezone,
// the zone the commands show times in, and the commands show it back as given: a bare
// date was read as UTC midnight and shown as 09:00 in Tokyo, and a local time was
// refused.
func TestSinceIsReadInTheReportersZone(t *testing.T) {
	s := newAdminSetup(t)
	s.editConfig(t, "name = \"Test Admin\"\n", "name = \"Test Admin\"\ntimezone = \"Asia/Tokyo\"\n")
	s.start(t)
	appendFile(t, s.logFile, attackLines(6, time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC), 40000)) // 12:00 in Tokyo
	s.waitIncidents(t, 1)

	stdout, stderr, code := s.admin(t, "incidents", "--since", "2026-11-21")
	if code != 0 || !strings.Contains(stdout, "No incidents since 2026-11-21 00:00 +0900.") {
		t.Errorf("incidents --since 2026-11-21: exit %d\n%s%s", code, stdout, stderr)
	}
	stdout, stderr, code = s.admin(t, "incidents", "--since", "2026-11-20T12:30:00")
	if code != 0 || !strings.Contains(stdout, "No incidents since 2026-11-20 12:30 +0900.") {
		t.Errorf("incidents --since 2026-11-20T12:30:00 (after the attack): exit %d\n%s%s", code, stdout, stderr)
	}
	if incs := s.incidents(t, "--since", "2026-11-20T11:59:00"); len(incs) != 1 {
		t.Errorf("incidents --since 2026-11-20T11:59:00 (before the attack): %d incidents, want 1", len(incs))
	}
	stdout, stderr, code = s.admin(t, "ip", "3.3.3.3", "--since", "2026-11-20 11:00")
	if code != 0 || !strings.HasPrefix(stdout, "3.3.3.3/32 since 2026-11-20 11:00 +0900: 6 events") {
		t.Errorf("ip --since a local time: exit %d\n%s%s", code, stdout, stderr)
	}
}

// A --since in the future is a slip (of the year, of a sign): every command refuses it
// with a usage error, and scan, which skipped every line and saved its positions past
// them, reads nothing and saves nothing, so the next scan still finds every event.
func TestAFutureSinceIsRefusedAndScanLosesNoLine(t *testing.T) {
	dir := t.TempDir()
	demo := repoPath(t, "configs/demo.toml")
	future := time.Now().AddDate(1, 0, 0).Format(time.DateOnly)
	for _, args := range [][]string{
		{"scan", "--json", repoPath(t, "configs/demo/auth.log")},
		{"incidents"}, {"unknown"}, {"ip", "45.134.26.17"}, {"net", "45.134.26.0/24"},
		{"correlate"}, {"rules", "suggest"},
	} {
		stdout, stderr, code := runBinary(t, dir, append(args, "--since", future, "--config", demo)...)
		if code != 2 || stdout != "" || !strings.Contains(stderr, `--since "`+future+`": that is in the future (now `) {
			t.Errorf("%s --since %s: exit %d, want 2 and the reason\n%s%s", args[0], future, code, stdout, stderr)
		}
	}
	stdout, stderr, code := runBinary(t, dir, "scan", "--since", "-1h", "--config", demo, repoPath(t, "configs/demo/auth.log"))
	if code != 2 || !strings.Contains(stderr, "in the future") {
		t.Errorf("scan --since -1h: exit %d, want 2\n%s%s", code, stdout, stderr)
	}
	stdout, stderr, code = runBinary(t, dir, "scan", "--config", demo, repoPath(t, "configs/demo/auth.log"))
	if code != 0 || !strings.Contains(stdout, "6 incidents") {
		t.Errorf("scan after the refused ones does not find the demo's 6 incidents: exit %d\n%s%s", code, stdout, stderr)
	}
}

// ip and net count events by day in reporter.timezone, as every time they show: 04:52
// UTC on Dec 6 is 23:52 on Dec 5 in New York, the day its incident's LAST SEEN shows. By
// UTC day the same output put the events on the 6th and the incident on the 5th.
func TestIPCountsDaysInTheReportersZone(t *testing.T) {
	s := newAdminSetup(t)
	s.editConfig(t, "name = \"Test Admin\"\n", "name = \"Test Admin\"\ntimezone = \"America/New_York\"\n")
	d := s.start(t)
	appendFile(t, s.logFile, attackLines(6, time.Date(2026, 12, 6, 4, 52, 0, 0, time.UTC), 40000))
	// The incident is made at the fifth line: wait for the sixth in it too (the sixth
	// may come in a batch of its own).
	for deadline := time.Now().Add(30 * time.Second); ; {
		if incs := s.waitIncidents(t, 1); incs[0].Count >= 6 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the incident does not hold the 6 lines after 30s")
		}
	}
	check := func(how string) {
		t.Helper()
		stdout, stderr, code := s.admin(t, "ip", "3.3.3.3", "--since", "2026-11-01")
		if code != 0 || !strings.Contains(stdout, "2026-12-05  auth-failure 6") || !strings.Contains(stdout, "2026-12-05 23:52") ||
			strings.Contains(stdout, "2026-12-06  auth-failure") {
			t.Errorf("ip (%s): exit %d; want the events and the incident on Dec 5\n%s%s", how, code, stdout, stderr)
		}
		var info daemon.NetworkInfo
		s.adminJSON(t, &info, "ip", "3.3.3.3", "--since", "2026-11-01")
		if len(info.ByDay) != 1 || info.ByDay[0].Day != "2026-12-05" || info.DayZone != "America/New_York" {
			t.Errorf("ip --json (%s): by_day %+v in %q; want 2026-12-05 in America/New_York", how, info.ByDay, info.DayZone)
		}
	}
	check("daemon")
	d.cmd.Process.Signal(syscall.SIGTERM)
	<-d.done
	d.cmd.Wait()
	check("offline")
}

// ip and net say which rule never reports an address: the policy.never_report entry,
// or the special-purpose network. They said "reserved, policy.never_report or
// exclude", and the admin had to guess whether to edit the config or undo an exclusion.
func TestNeverReportedNamesTheRule(t *testing.T) {
	s := newAdminSetup(t)
	s.editConfig(t, "[policy]\n", "[policy]\nnever_report = [\"45.9.0.0/16\"]\n")
	for q, want := range map[string]string{
		"45.9.9.9":     "Never reported: policy.never_report lists 45.9.0.0/16",
		"2001:db8::1":  "Never reported: 2001:db8::/32 is special-purpose",
		"198.51.100.7": "Never reported: 198.51.100.0/24 is special-purpose",
	} {
		if stdout, stderr, code := s.admin(t, "ip", q); code != 0 || !strings.Contains(stdout, want) {
			t.Errorf("ip %s: exit %d, want %q\n%s%s", q, code, want, stdout, stderr)
		}
	}
}
