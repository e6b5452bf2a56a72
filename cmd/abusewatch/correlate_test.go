package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/store"
)

// After the demo scan, a changed rule applied with `correlate` finds what the old rules
// did not, in the stored history; running it again changes nothing.
func TestCorrelateAppliesAChangedRuleToStoredHistory(t *testing.T) {
	dir := t.TempDir()
	if out, errOut, code := runBinary(t, dir, "scan", "--config", repoPath(t, "configs/demo.toml"), repoPath(t, "configs/demo/auth.log")); code != 0 {
		t.Fatalf("scan: exit %d\n%s%s", code, out, errOut)
	}
	doc, err := os.ReadFile(repoPath(t, "configs/demo.toml"))
	if err != nil {
		t.Fatal(err)
	}
	// 218.92.0.31 and 218.92.1.150 share a /16: two addresses of it make a network incident.
	changed := strings.Replace(string(doc), "[correlate]\n", "[correlate]\nnetwork_addresses = 2\nnetwork_sizes = [16]\n", 1)
	cfg := filepath.Join(dir, "changed.toml")
	if err := os.WriteFile(cfg, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	sum := correlateJSON(t, dir, "--config", cfg, "--since", "3650d")
	if sum.Changed != 1 || sum.ByRule["network"] != 1 || len(sum.Newest) != 1 || sum.Newest[0].Network.String() != "218.92.0.0/16" {
		t.Fatalf("summary = %+v; want the one network incident of 218.92.0.0/16", sum)
	}
	stdout, _, code := runBinary(t, dir, "correlate", "--config", cfg, "--since", "3650d")
	if code != 0 || !strings.Contains(stdout, "0 incidents new or changed") {
		t.Errorf("a second run: exit %d\n%s", code, stdout)
	}
}

// correlateJSON runs `correlate --json` with args in dir and returns its summary.
func correlateJSON(t *testing.T, dir string, args ...string) correlateSummary {
	t.Helper()
	stdout, stderr, code := runBinary(t, dir, append(append([]string{"correlate"}, args...), "--json")...)
	if code != 0 {
		t.Fatalf("correlate %v: exit %d\n%s%s", args, code, stdout, stderr)
	}
	var sum correlateSummary
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	return sum
}

// With the daemon holding the database, correlate and compact say what to do instead
// of waiting.
func TestCorrelateOrCompactWhileTheDaemonRunsSaysToStopIt(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "auth.log")
	if err := os.WriteFile(logFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(repoPath(t, "configs/demo.toml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "abusewatch.toml")
	text := string(doc) + "\n[admin]\nsocket = \"\"\n[[source]]\nfiles = [\"" + logFile + "\"]\n"
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, dir, "run", "--config", cfg)
	d.waitLog(t, "abusewatch running")
	for _, cmd := range []string{"correlate", "compact"} {
		stdout, stderr, code := runBinary(t, dir, cmd, "--config", cfg)
		if code == 0 || !strings.Contains(stderr, cmd+" needs the database to itself: stop the daemon") {
			t.Errorf("%s: exit %d\n%s%s", cmd, code, stdout, stderr)
		}
	}
}

// compact rewrites the demo's store, which reads as before: a second scan finds nothing new.
func TestCompactKeepsTheStore(t *testing.T) {
	dir := t.TempDir()
	cfg, demoLog := repoPath(t, "configs/demo.toml"), repoPath(t, "configs/demo/auth.log")
	if out, errOut, code := runBinary(t, dir, "scan", "--config", cfg, demoLog); code != 0 {
		t.Fatalf("scan: exit %d\n%s%s", code, out, errOut)
	}
	stdout, stderr, code := runBinary(t, dir, "compact", "--config", cfg, "--json")
	var res compactResult
	if err := json.Unmarshal([]byte(stdout), &res); code != 0 || err != nil || res.After == 0 || res.After > res.Before {
		t.Fatalf("compact: exit %d, %+v (%v)\n%s%s", code, res, err, stdout, stderr)
	}
	if stdout, _, code := runBinary(t, dir, "scan", "--config", cfg, demoLog); code != 0 || !strings.Contains(stdout, "Nothing new") {
		t.Errorf("scan after compact: exit %d\n%s", code, stdout)
	}
	if _, stderr, code := runBinary(t, dir, "compact", "--config", cfg, "extra"); code != 2 || !strings.Contains(stderr, "no arguments") {
		t.Errorf("compact with an argument: exit %d\n%s", code, stderr)
	}
}

// While a pass runs, correlate says at every tick how far it got.
func TestCorrelateReportsItsProgressAtEveryTick(t *testing.T) {
	var out bytes.Buffer
	ticks := make(chan time.Time)
	start := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	through := time.Date(2026, 6, 14, 13, 5, 0, 0, time.UTC)
	stop := reportProgress(&out, ticks, func() (int, time.Time) { return 3100000, through }, time.FixedZone("", 3600), start)
	ticks <- start.Add(10 * time.Second)
	stop()
	if want := "correlate: 3100000 events judged, up to 2026-06-14 14:05 +0100 (10s)\n"; out.String() != want {
		t.Errorf("progress = %q, want %q", out.String(), want)
	}
}

// scannedDemoAtThreshold7 scans the demo log into a new directory and writes there the
// demo config with the per-address threshold raised from 5 to 7.
func scannedDemoAtThreshold7(t *testing.T) (dir, cfg string) {
	t.Helper()
	dir = t.TempDir()
	if out, errOut, code := runBinary(t, dir, "scan", "--config", repoPath(t, "configs/demo.toml"), repoPath(t, "configs/demo/auth.log")); code != 0 {
		t.Fatalf("scan: exit %d\n%s%s", code, out, errOut)
	}
	doc, err := os.ReadFile(repoPath(t, "configs/demo.toml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg = filepath.Join(dir, "threshold7.toml")
	if err := os.WriteFile(cfg, []byte(strings.Replace(string(doc), "threshold = 5", "threshold = 7", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, cfg
}

// A raised threshold leaves the incidents stored for the old one as they are, unless
// --rebuild forgets those no report names: they are made again as the rules say now,
// and the reported ones stay.
func TestCorrelateRebuildMakesUnreportedIncidentsAgain(t *testing.T) {
	dir, cfg := scannedDemoAtThreshold7(t)
	stored := func() map[string]string {
		t.Helper()
		st, err := store.Open(filepath.Join(dir, "abusewatch-demo", "state.db"), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		incs, _, err := st.IncidentsSince(time.Time{}, 0)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, inc := range incs {
			out[inc.ID] = inc.Rule
		}
		return out
	}
	before := stored()
	// 81.2.69.160 made 6 connections: no per-address incident at 7. Its login succeeded,
	// so its incident was never reported.
	if stdout, stderr, code := runBinary(t, dir, "correlate", "--config", cfg, "--since", "3650d"); code != 0 || !strings.Contains(stdout, "0 incidents new or changed") {
		t.Fatalf("correlate: exit %d\n%s%s", code, stdout, stderr)
	}
	if got := stored(); !maps.Equal(got, before) {
		t.Fatalf("without --rebuild the incidents changed: %v, were %v", got, before)
	}
	sum := correlateJSON(t, dir, "--config", cfg, "--since", "3650d", "--rebuild")
	if sum.Forgotten != 1 || sum.KeptReported != len(before)-1 || sum.Changed != 1 || sum.ByRule["success-after-failure"] != 1 {
		t.Errorf("summary = %+v; want 1 forgotten, %d kept, 1 made again by success-after-failure", sum, len(before)-1)
	}
	after := stored()
	if len(after) != len(before) {
		t.Errorf("incidents after --rebuild: %v; before: %v", after, before)
	}
	for id, rule := range before {
		if _, ok := after[id]; !ok && rule != "per-address" {
			t.Errorf("incident %s (%s) is gone", id, rule)
		}
	}
	for id, rule := range after {
		if _, ok := before[id]; !ok && rule != "success-after-failure" {
			t.Errorf("new incident %s (%s), want only the success-after-failure one", id, rule)
		}
	}
}

// --rebuild forgets only what the kept raw events can make again: an incident of a
// time whose events retention deleted stays.
func TestCorrelateRebuildKeepsIncidentsOfDeletedEvents(t *testing.T) {
	dir, cfg := scannedDemoAtThreshold7(t)
	st, err := store.Open(filepath.Join(dir, "abusewatch-demo", "state.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// A later event, then retention as it would run one day: the demo's events are
	// gone, that one is kept.
	later := time.Date(2026, 11, 20, 7, 0, 0, 0, time.UTC)
	if _, err := st.Commit([]abusewatch.Event{{Time: later, Class: abusewatch.ClassAuthFailure, Addr: netip.MustParseAddr("45.134.26.99")}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := st.PruneEvents(t.Context(), later.Add(-time.Hour), 0); err != nil {
		t.Fatal(err)
	}
	if oldest, ok, err := st.OldestEvent(); err != nil || !ok || !oldest.Equal(later) {
		t.Fatalf("OldestEvent = %s, %v, %v; want the later event only", oldest, ok, err)
	}
	before, _, err := st.IncidentsSince(time.Time{}, 0)
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	sum := correlateJSON(t, dir, "--config", cfg, "--since", "3650d", "--rebuild")
	if sum.Forgotten != 0 || sum.Changed != 0 {
		t.Errorf("summary = %+v; want nothing forgotten or made: the events are gone", sum)
	}
	if st, err = store.Open(filepath.Join(dir, "abusewatch-demo", "state.db"), time.Second); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if after, _, err := st.IncidentsSince(time.Time{}, 0); err != nil || len(after) != len(before) {
		t.Errorf("%d incidents after --rebuild, %v; want the %d there were", len(after), err, len(before))
	}
}

// correlate's heap ceiling is a quarter of the machine's memory or of its cgroup's
// limit, whichever is less, from 512 MiB to 1 GiB; what cannot be read leaves 512 MiB.
func TestCorrelateMemoryCeiling(t *testing.T) {
	meminfo := func(kb int64) []byte {
		return fmt.Appendf(nil, "MemTotal:       %d kB\nMemFree:        1024 kB\nMemAvailable:   2048 kB\n", kb)
	}
	const mib = 1 << 20
	for _, c := range []struct {
		name            string
		meminfo, cgroup []byte
		want            int64
	}{
		{"nothing readable", nil, nil, 512 * mib},
		{"1 GiB machine", meminfo(1 << 20), nil, 512 * mib},
		{"3 GiB machine", meminfo(3 << 20), nil, 768 * mib},
		{"4 GiB machine", meminfo(4 << 20), nil, 1024 * mib},
		{"23 GiB machine", meminfo(23 << 20), nil, 1024 * mib},
		{"cgroup v2 without a limit", meminfo(23 << 20), []byte("max\n"), 1024 * mib},
		{"cgroup v1 without a limit", meminfo(23 << 20), []byte("9223372036854771712\n"), 1024 * mib},
		{"cgroup of 2 GiB", meminfo(23 << 20), []byte("2147483648\n"), 512 * mib},
		{"cgroup of 3 GiB, meminfo unreadable", nil, []byte("3221225472\n"), 768 * mib},
	} {
		if got := memoryCeiling(c.meminfo, c.cgroup); got != c.want {
			t.Errorf("%s: %d MiB, want %d MiB", c.name, got/mib, c.want/mib)
		}
	}
}

// rebuildDemo copies the demo log into a directory of its own with the demo config in
// policy mode auto, with extra appended to the config (dir/state.db, dir/maildir), and
// scans it: the per-address reports go out, and the login of 81.2.69.160 is mailed to
// the admin.
func rebuildDemo(t *testing.T, extra string) (dir, cfg, log string) {
	t.Helper()
	dir, cfg = demoConfigFile(t, "auto")
	if extra != "" {
		f, err := os.OpenFile(cfg, os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.WriteString(extra)
		if err := errors.Join(err, f.Close()); err != nil {
			t.Fatal(err)
		}
	}
	doc, err := os.ReadFile(repoPath(t, "configs/demo/auth.log"))
	if err != nil {
		t.Fatal(err)
	}
	log = filepath.Join(dir, "auth.log")
	if err := os.WriteFile(log, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, cfg, log
}

// scanJSON runs `scan --json` of log and returns its summary.
func scanJSON(t *testing.T, dir, cfg, log string) scanSummary {
	t.Helper()
	stdout, stderr, code := runBinary(t, dir, "scan", "--json", "--config", cfg, log)
	var sum scanSummary
	if err := json.Unmarshal([]byte(stdout), &sum); code != 0 || err != nil {
		t.Fatalf("scan: exit %d (%v)\n%s%s", code, err, stdout, stderr)
	}
	return sum
}

// withStore opens the store of a demo directory for fn, and closes it.
func withStore(t *testing.T, dir string, fn func(st *store.Store)) {
	t.Helper()
	st, err := store.Open(filepath.Join(dir, "state.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fn(st)
}

// maildirCount is how many mails dir/maildir/new holds.
func maildirCount(t *testing.T, dir string) int {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, "maildir", "new"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return len(entries)
}

// A possible compromise mailed days ago and forgotten by --rebuild is made again, under
// its ID (the same rules) or another (a raised threshold makes a success-after-failure
// incident where the per-address one was): the next round does not mail the admin the
// same login again, its alert mark long forgotten. Another login from the address is
// still mailed.
func TestCorrelateRebuildDoesNotMailAnOldLoginAgain(t *testing.T) {
	for _, c := range []struct{ name, threshold string }{{"same rules", "5"}, {"threshold 7", "7"}} {
		t.Run(c.name, func(t *testing.T) {
			dir, cfg, log := rebuildDemo(t, "")
			if sum := scanJSON(t, dir, cfg, log); sum.Alerted != 1 {
				t.Fatalf("first scan mailed %d possible compromises, want 1", sum.Alerted)
			}
			// Mailed three days ago: the marks of the alerts last a day.
			withStore(t, dir, func(st *store.Store) {
				marks, err := st.AlertMarks(time.Time{})
				if err != nil || len(marks) != 1 {
					t.Fatalf("alert marks %v, %v; want 1", marks, err)
				}
				for id, m := range marks {
					m.Mailed = m.Mailed.Add(-72 * time.Hour)
					marks[id] = m
				}
				if err := st.SaveAlertMarks(marks, time.Time{}); err != nil {
					t.Fatal(err)
				}
			})
			doc, err := os.ReadFile(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(cfg, []byte(strings.Replace(string(doc), "threshold = 5", "threshold = "+c.threshold, 1)), 0o644); err != nil {
				t.Fatal(err)
			}
			sum := correlateJSON(t, dir, "--config", cfg, "--since", "3650d", "--rebuild")
			if sum.Forgotten != 1 || sum.Changed != 1 {
				t.Fatalf("correlate --rebuild: %+v; want the possible compromise forgotten and made again", sum)
			}
			if sum := scanJSON(t, dir, cfg, log); sum.Alerted != 0 || sum.Reports != 0 {
				t.Errorf("the round after --rebuild mailed %d possible compromises and wrote %d reports, want none", sum.Alerted, sum.Reports)
			}
			f, err := os.OpenFile(log, os.O_WRONLY|os.O_APPEND, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			_, err = f.WriteString("2026-11-20T05:55:00.100000+00:00 web1 sshd[40100]: Accepted password for backup from 81.2.69.160 port 33200 ssh2\n")
			if err := errors.Join(err, f.Close()); err != nil {
				t.Fatal(err)
			}
			if sum := scanJSON(t, dir, cfg, log); sum.Alerted != 1 {
				t.Errorf("another login from 81.2.69.160: %d possible compromises mailed, want 1", sum.Alerted)
			}
		})
	}
}

// An incident made again under its ID by --rebuild keeps when it was first stored: the
// daily summary lists as new what was first stored in its period.
func TestCorrelateRebuildKeepsWhenAnIncidentWasFirstStored(t *testing.T) {
	dir, cfg, log := rebuildDemo(t, "")
	scanJSON(t, dir, cfg, log)
	firstStored := func() map[string]time.Time {
		t.Helper()
		var out map[string]time.Time
		withStore(t, dir, func(st *store.Store) {
			incs, _, err := st.IncidentsSince(time.Time{}, 0)
			if err != nil {
				t.Fatal(err)
			}
			ids := make([]string, len(incs))
			for i, inc := range incs {
				ids[i] = inc.ID
			}
			if out, err = st.FirstStored(ids); err != nil || len(out) != len(ids) {
				t.Fatalf("FirstStored = %v, %v; want all %d", out, err, len(ids))
			}
		})
		return out
	}
	before := firstStored()
	if sum := correlateJSON(t, dir, "--config", cfg, "--since", "3650d", "--rebuild"); sum.Forgotten == 0 || sum.Changed != sum.Forgotten {
		t.Fatalf("correlate --rebuild: %+v; want the unreported incidents forgotten and made again", sum)
	}
	if after := firstStored(); !maps.EqualFunc(after, before, time.Time.Equal) {
		t.Errorf("first stored after --rebuild: %v; before: %v", after, before)
	}
}

// An incident the outbox took off its work list because it ended before policy.max_age
// is made again by --rebuild, and the next round reports it no more than the first did;
// nor does it report again the lines of the reports written.
func TestCorrelateRebuildDoesNotReportOldIncidents(t *testing.T) {
	// The demo log moved so that its newest event (05:30) is now: its attacks that
	// ended before 03:30 are too old (4 of them), the one of 04:02 is reported.
	dir, cfg, _ := rebuildDemo(t, "")
	log := demoLogEndingNow(t, dir)
	doc, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte(strings.Replace(string(doc), "max_age = \"0s\"\n", "max_age = \"2h\"\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	first := scanJSON(t, dir, cfg, log)
	mails := maildirCount(t, dir)
	var unlisted int
	withStore(t, dir, func(st *store.Store) {
		all, _, err := st.IncidentsSince(time.Time{}, 0)
		if err != nil {
			t.Fatal(err)
		}
		reported, err := st.ReportedIncidents()
		if err != nil {
			t.Fatal(err)
		}
		unlisted = len(all) - len(reported)
	})
	if first.Reports == 0 || unlisted < 2 {
		t.Fatalf("first scan: %d reports, %d incidents without one; want some of each", first.Reports, unlisted)
	}
	sum := correlateJSON(t, dir, "--config", cfg, "--since", "3650d", "--rebuild")
	if sum.Forgotten != unlisted || sum.Changed != unlisted {
		t.Fatalf("correlate --rebuild: %+v; want the %d incidents without a report forgotten and made again", sum, unlisted)
	}
	if again := scanJSON(t, dir, cfg, log); again.Reports != 0 || again.Alerted != 0 {
		t.Errorf("the round after --rebuild wrote %d reports and mailed %d possible compromises, want none", again.Reports, again.Alerted)
	}
	if n := maildirCount(t, dir); n != mails {
		t.Errorf("%d mails after the round, %d before", n, mails)
	}
}

// An incident made again after a pardon is undone keeps its report, sent: correlate
// lists it as incidents does ("sent to …"), not as reportable with its report still to
// be written by the daemon's next rounds, which write none.
func TestCorrelateListsTheReportOfAnIncidentMadeAgain(t *testing.T) {
	dir, cfg, log := rebuildDemo(t, "")
	if sum := scanJSON(t, dir, cfg, log); sum.Reports == 0 {
		t.Fatalf("the demo scan wrote no report")
	}
	for _, args := range [][]string{{"pardon", "--config", cfg, "--reason", "a mistake", "45.134.26.17"}, {"exclude", "--config", cfg, "--remove", "45.134.26.17"}} {
		if stdout, stderr, code := runBinary(t, dir, args...); code != 0 {
			t.Fatalf("%s: exit %d\n%s%s", args[0], code, stdout, stderr)
		}
	}
	stdout, stderr, code := runBinary(t, dir, "correlate", "--config", cfg, "--since", "3650d", "--rebuild")
	row := regexp.MustCompile(`(?m)^per-address +45\.134\.26\.17 .* sent to abuse@hostco\.example$`)
	if code != 0 || !row.MatchString(stdout) || !strings.Contains(stdout, "1 of them already has a report, as OUTSIDE says: none is written for it again.\n") ||
		strings.Contains(stdout, "written by the daemon's next rounds") {
		t.Errorf("correlate after the pardon is undone: exit %d\n%s%s", code, stdout, stderr)
	}
	stdout, _, _ = runBinary(t, dir, "incidents", "--config", cfg, "--since", "3650d")
	if !regexp.MustCompile(`45\.134\.26\.17 .* sent to abuse@hostco\.example\n`).MatchString(stdout) {
		t.Errorf("incidents words it otherwise:\n%s", stdout)
	}
	if again := scanJSON(t, dir, cfg, log); again.Reports != 0 {
		t.Errorf("the next round wrote %d reports, want none", again.Reports)
	}
}
