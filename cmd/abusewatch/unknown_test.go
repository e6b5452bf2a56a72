package main

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/daemon"
	"github.com/abusewatch/abusewatch/store"
)

// The daemon counts unknown records by shape; `abusewatch unknown` lists them from the
// daemon and, once it stopped, from the store.
func TestUnknownListsShapesFromTheDaemonAndOffline(t *testing.T) {
	s := newAdminSetup(t)
	d := s.start(t)
	appendFile(t, s.logFile, "2026-11-20T03:00:00.000000+00:00 web1 myapp[1]: job 17 took 120 ms\n"+
		"2026-11-20T03:00:05.000000+00:00 web1 myapp[1]: job 18 took 95 ms\n"+
		"2026-11-20T03:00:06.000000+00:00 web1 other[2]: odd request from 3.3.3.9 port 4444 refused\n")
	deadline := time.Now().Add(30 * time.Second)
	var shapes []store.Shape
	for {
		s.adminJSON(t, &shapes, "unknown", "--since", "3650d")
		if len(shapes) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("shapes after 30s: %+v", shapes)
		}
	}
	top := shapes[0]
	if top.Shape != "myapp: job <N> took <N> ms" || top.Count != 2 || !strings.Contains(top.Sample, "job 17") ||
		!top.First.Equal(time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)) || !top.Last.Equal(time.Date(2026, 11, 20, 3, 0, 5, 0, time.UTC)) {
		t.Errorf("top shape = %+v", top)
	}
	// The unknown record with an address after "from … port" is an event of class unknown.
	var ip daemon.NetworkInfo
	s.adminJSON(t, &ip, "ip", "3.3.3.9", "--since", "3650d")
	if ip.Events != 1 || ip.ByClass["unknown"] != 1 {
		t.Errorf("ip 3.3.3.9 = %+v, want one event of class unknown", ip)
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	<-d.done
	d.cmd.Wait()
	stdout, stderr, code := s.admin(t, "unknown", "--since", "3650d", "--limit", "1")
	if code != 0 || !strings.Contains(stderr, "not running") || !strings.Contains(stdout, "myapp: job <N> took <N> ms") || strings.Contains(stdout, "other: odd") {
		t.Errorf("unknown offline: exit %d\n%s%s", code, stdout, stderr)
	}
	stdout, _, code = s.admin(t, "rules", "suggest", "--since", "3650d")
	if code != 0 || !strings.Contains(stdout, `myapp\[[[:digit:]]+\]: job [[:digit:].:/+%TZ-]+ took`) {
		t.Errorf("rules suggest from the store: exit %d\n%s", code, stdout)
	}
	// With their default period (7d), the shapes of a month ago are not "every record
	// matched a rule" (as unknown said) nor nothing at all (rules suggest): both say
	// when the newest was seen, and how to list it.
	days := int(time.Since(time.Date(2026, 11, 20, 3, 0, 6, 0, time.UTC)).Hours()/24) + 1
	for _, cmd := range [][]string{{"unknown"}, {"rules", "suggest"}} {
		stdout, _, code = s.admin(t, cmd...)
		want := fmt.Sprintf("2 unknown shapes stored, the newest last seen on 2026-11-20 03:00 +0000: abusewatch %s --config %s --since %dd",
			strings.Join(cmd, " "), s.cfg, days)
		if code != 0 || !strings.Contains(stdout, "No unknown records since ") || !strings.Contains(stdout, want) || strings.Contains(stdout, "matched a rule") {
			t.Errorf("%s with its default period: exit %d\n%s\nwant %q", strings.Join(cmd, " "), code, stdout, want)
		}
	}
}
