package main

import (
	"fmt"
	"os"
	"path/filepath"
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

// The tuning loop ends: once the admin added rules for the shapes listed and reloaded,
// unknown and rules suggest leave those shapes out (their stored tally stays for days)
// and say how many and why, from the daemon's running rules and, offline, from the
// configured ones. They listed and proposed the same shapes again for a week.
func TestUnknownLeavesOutTheShapesTheRulesNowDecide(t *testing.T) {
	s := newAdminSetup(t)
	d := s.start(t)
	appendFile(t, s.logFile, "2026-11-20T03:00:00.000000+00:00 web1 myapp[1]: job 17 took 120 ms\n"+
		"2026-11-20T03:00:05.000000+00:00 web1 myapp[1]: job 18 took 95 ms\n"+
		"2026-11-20T03:00:06.000000+00:00 web1 other[2]: odd request from 3.3.3.9 port 4444 refused\n"+
		"2026-11-20T03:00:07.000000+00:00 web1 third[3]: cache flushed\n")
	deadline := time.Now().Add(30 * time.Second)
	var shapes []store.Shape
	for {
		s.adminJSON(t, &shapes, "unknown", "--since", "3650d")
		if len(shapes) == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("shapes after 30s: %+v", shapes)
		}
	}
	// The admin installs a normal rule for myapp's shape and an attack rule for other's.
	s.writeRule(t, "^my own normal line$\n^job [0-9]+ took [0-9]+ ms$\n")
	attack := filepath.Join(s.dir, "attack")
	os.Mkdir(attack, 0o755)
	os.WriteFile(filepath.Join(attack, "other"), []byte("other odd-request ^odd request from <HOST> port <PORT> refused$\n"), 0o644)
	s.editConfig(t, "[detect]\n", "[detect]\nattack_dirs = [\""+attack+"\"]\n")
	if stdout, stderr, code := s.admin(t, "reload"); code != 0 {
		t.Fatalf("reload: exit %d\n%s%s", code, stdout, stderr)
	}
	check := func(how string) {
		t.Helper()
		stdout, stderr, code := s.admin(t, "unknown", "--since", "3650d")
		want := "2 stored shapes left out: the rules loaded now decide them (1 now normal, 1 now an attack rule's events)"
		if code != 0 || !strings.Contains(stdout, "third: cache flushed") || strings.Contains(stdout, "myapp: job") || strings.Contains(stdout, "other: odd") ||
			!strings.Contains(stdout, want) || !strings.Contains(stdout, "abusewatch unknown --config "+s.cfg+" --since 3650d --all lists them") {
			t.Errorf("unknown %s: exit %d\n%s%s", how, code, stdout, stderr)
		}
		var checked daemon.CheckedShapes
		s.adminJSON(t, &checked, "unknown", "--since", "3650d", "--all")
		rules := map[string]string{}
		for _, sh := range checked.Decided {
			rules[sh.Shape.Shape] = sh.Now + " " + sh.Rule
		}
		if len(checked.Unknown) != 1 || checked.Unknown[0].Shape != "third: cache flushed" ||
			rules["myapp: job <N> took <N> ms"] != "normal "+filepath.Join(s.rules, "local")+":2" ||
			rules["other: odd request from <ADDR> port <N> refused"] != "event "+filepath.Join(attack, "other")+":1" {
			t.Errorf("unknown --all --json %s: %+v", how, checked)
		}
		stdout, stderr, code = s.admin(t, "rules", "suggest", "--since", "3650d")
		if code != 0 || !strings.Contains(stdout, "cache flushed") || strings.Contains(stdout, "job") || strings.Contains(stdout, "odd request from") ||
			!strings.Contains(stdout, "# "+want) {
			t.Errorf("rules suggest %s: exit %d\n%s%s", how, code, stdout, stderr)
		}
	}
	check("from the daemon")
	d.cmd.Process.Signal(syscall.SIGTERM)
	<-d.done
	d.cmd.Wait()
	check("offline, with the configured rules")
}

// A rule written for a shape's first record (naming its address) decides that sample,
// not the shape: records of the shape seen after the rules came are still unknown, and
// unknown lists the shape again, from the daemon and offline (review 31 F4: it said
// "No unknown records" while rules test showed them).
func TestUnknownListsAShapeSeenAgainAfterItsRule(t *testing.T) {
	s := newAdminSetup(t)
	d := s.start(t)
	appendFile(t, s.logFile, "2026-11-20T03:00:00.000000+00:00 web1 prober[1]: probe from 192.0.2.10 done\n")
	waitShapes := func(n int64) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			var shapes []store.Shape
			s.adminJSON(t, &shapes, "unknown", "--since", "3650d")
			if len(shapes) == 1 && shapes[0].Count == n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("shapes after 30s: %+v, want one of %d records", shapes, n)
			}
		}
	}
	waitShapes(1)
	s.writeRule(t, "^probe from 192\\.0\\.2\\.10 done$\n")
	if stdout, stderr, code := s.admin(t, "reload"); code != 0 {
		t.Fatalf("reload: exit %d\n%s%s", code, stdout, stderr)
	}
	now := time.Now().UTC().Format("2006-01-02T15:04:05.000000+00:00")
	appendFile(t, s.logFile, now+" web1 prober[1]: probe from 203.0.113.7 done\n")
	var checked daemon.CheckedShapes
	deadline := time.Now().Add(30 * time.Second)
	for {
		s.adminJSON(t, &checked, "unknown", "--since", "3650d", "--all")
		if len(checked.Unknown) == 1 && checked.Unknown[0].Count == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("from the daemon, after a record of the shape the rule leaves unknown: %+v", checked)
		}
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	<-d.done
	d.cmd.Wait()
	s.adminJSON(t, &checked, "unknown", "--since", "3650d", "--all")
	if len(checked.Unknown) != 1 || len(checked.Decided) != 0 {
		t.Errorf("offline: %+v, want the shape listed", checked)
	}
}
