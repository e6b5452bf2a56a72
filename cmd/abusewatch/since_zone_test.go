package main

import (
	"strings"
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

	stdout, stderr, code := s.admin(t, "incidents", "--since", "2027-01-01")
	if code != 0 || !strings.Contains(stdout, "No incidents since 2027-01-01 00:00:00.") {
		t.Errorf("incidents --since 2027-01-01: exit %d\n%s%s", code, stdout, stderr)
	}
	stdout, stderr, code = s.admin(t, "incidents", "--since", "2026-11-20T12:30:00")
	if code != 0 || !strings.Contains(stdout, "No incidents since 2026-11-20 12:30:00.") {
		t.Errorf("incidents --since 2026-11-20T12:30:00 (after the attack): exit %d\n%s%s", code, stdout, stderr)
	}
	var incs []daemon.IncidentInfo
	if s.adminJSON(t, &incs, "incidents", "--since", "2026-11-20T11:59:00"); len(incs) != 1 {
		t.Errorf("incidents --since 2026-11-20T11:59:00 (before the attack): %d incidents, want 1", len(incs))
	}
	stdout, stderr, code = s.admin(t, "ip", "3.3.3.3", "--since", "2026-11-20 11:00")
	if code != 0 || !strings.HasPrefix(stdout, "3.3.3.3/32 since 2026-11-20 11:00:00: 6 events") {
		t.Errorf("ip --since a local time: exit %d\n%s%s", code, stdout, stderr)
	}
}
