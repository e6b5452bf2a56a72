package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/daemon"
)

// adminSetup is a daemon with its own admin socket, log file and maildir.
type adminSetup struct {
	dir, logFile, cfg, socket, rules string
}

func newAdminSetup(t *testing.T) *adminSetup {
	t.Helper()
	dir := t.TempDir()
	s := &adminSetup{dir: dir, logFile: filepath.Join(dir, "auth.log"), cfg: filepath.Join(dir, "abusewatch.toml"),
		socket: filepath.Join(dir, "run", "admin.sock"), rules: filepath.Join(dir, "rules")}
	appendFile(t, s.logFile, "")
	if err := os.Mkdir(s.rules, 0o755); err != nil {
		t.Fatal(err)
	}
	s.writeRule(t, "^my own normal line$\n")
	doc := `[[source]]
files = ["` + s.logFile + `"]
[detect]
normal_dirs = ["` + s.rules + `"]
[reporter]
name = "Test Admin"
[mail]
transport = "maildir"
maildir = "` + filepath.Join(dir, "maildir") + `"
from = "abusewatch@example.org"
[lookup]
rdap = false
[[contact]]
network = "3.3.0.0/16"
emails = ["abuse@cloud.example"]
[policy]
settle = "0s"
mode = "review"
report_interval = "100ms"
max_age = "0s" # the lines have fixed dates, and max_age counts back from now
[admin]
socket = "` + s.socket + `"
[store]
path = "` + filepath.Join(dir, "state.db") + `"
`
	if err := os.WriteFile(s.cfg, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *adminSetup) writeRule(t *testing.T, text string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(s.rules, "local"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (s *adminSetup) start(t *testing.T) *daemonProcess {
	t.Helper()
	d := startDaemon(t, s.dir, "run", "--config", s.cfg)
	d.waitLog(t, "admin socket ready")
	return d
}

// admin runs an admin subcommand against this setup's config.
func (s *adminSetup) admin(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	return runBinary(t, s.dir, append(args, "--config", s.cfg)...)
}

func (s *adminSetup) adminJSON(t *testing.T, out any, args ...string) {
	t.Helper()
	stdout, stderr, code := s.admin(t, append(args, "--json")...)
	if code != 0 {
		t.Fatalf("%v: exit %d\n%s%s", args, code, stdout, stderr)
	}
	if err := json.Unmarshal([]byte(stdout), out); err != nil {
		t.Fatalf("%v: not JSON: %v\n%s", args, err, stdout)
	}
}

// incidents is `incidents --json` with args: its list of incidents.
func (s *adminSetup) incidents(t *testing.T, args ...string) []daemon.IncidentInfo {
	t.Helper()
	var list daemon.IncidentList
	s.adminJSON(t, &list, append([]string{"incidents"}, args...)...)
	if list.Incidents == nil || list.Total < len(list.Incidents) {
		t.Fatalf("incidents %v --json: %+v; want a list (maybe []) and its total", args, list)
	}
	return list.Incidents
}

// waitIncidents polls the daemon's incident list (its own counter) until n are there.
func (s *adminSetup) waitIncidents(t *testing.T, n int) []daemon.IncidentInfo {
	t.Helper()
	return s.waitIncidentsFor(t, fmt.Sprintf("%d incidents", n), func(incs []daemon.IncidentInfo) bool { return len(incs) >= n })
}

// waitIncidentsFor waits up to 30 s for the daemon's incidents to be what done says:
// lines appended at once may be read in two batches, and an incident made of the first
// is listed before the second grows it.
func (s *adminSetup) waitIncidentsFor(t *testing.T, want string, done func([]daemon.IncidentInfo) bool) []daemon.IncidentInfo {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		incs := s.incidents(t, "--since", "3650d")
		if done(incs) {
			return incs
		}
		if time.Now().After(deadline) {
			t.Fatalf("incidents after 30s: %+v; want %s", incs, want)
		}
	}
}

// attackedAdminSetup is a running daemon whose store holds one incident: six failed
// logins of 3.3.3.3 from start on.
func attackedAdminSetup(t *testing.T) (*adminSetup, time.Time) {
	t.Helper()
	s := newAdminSetup(t)
	s.start(t)
	start := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
	appendFile(t, s.logFile, attackLines(6, start, 40000))
	s.waitIncidentsFor(t, "one of 6 attempts", func(incs []daemon.IncidentInfo) bool { return len(incs) > 0 && incs[0].Attempts >= 6 })
	return s, start
}

func TestStatusShowsTheRunningDaemon(t *testing.T) {
	s := newAdminSetup(t)
	d := s.start(t)
	appendFile(t, s.logFile, attackLines(3, time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC), 40000))
	deadline := time.Now().Add(30 * time.Second)
	for {
		var st daemon.Status
		s.adminJSON(t, &st, "status")
		if st.Counters["lines"] == 6 {
			if st.PID != d.cmd.Process.Pid || len(st.Sources) != 1 || st.Sources[0].Source != s.logFile || st.Sources[0].Lines != 6 {
				t.Errorf("status = %+v", st)
			}
			// Incident updates since the start, not a count of incidents beside
			// store.incidents, which is one: the names say which.
			if _, ok := st.Counters["incident_updates"]; !ok || st.Counters["incidents"] != 0 {
				t.Errorf("status counters = %v; want incident_updates, and no incidents", st.Counters)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never counted the 6 lines: %+v", st)
		}
	}
	stdout, _, code := s.admin(t, "status")
	if code != 0 || !strings.Contains(stdout, "abusewatch is running") || !strings.Contains(stdout, s.logFile) {
		t.Errorf("status: exit %d\n%s", code, stdout)
	}
	// --timeout takes days, as every duration does, and refuses a time not above 0 (it
	// fell back to the default without a word).
	if stdout, stderr, code := s.admin(t, "status", "--timeout", "1d"); code != 0 {
		t.Errorf("status --timeout 1d: exit %d\n%s%s", code, stdout, stderr)
	}
	for _, bad := range []string{"-5s", "0"} {
		if _, stderr, code := s.admin(t, "status", "--timeout", bad); code != 2 || !strings.Contains(stderr, "above 0") {
			t.Errorf("status --timeout %s: exit %d, want 2\n%s", bad, code, stderr)
		}
	}
	// Without an error yet, last_errors is [], never null (a script iterates it).
	if stdout, _, _ := s.admin(t, "status", "--json"); strings.Contains(stdout, "null") {
		t.Errorf("status --json holds a null:\n%s", stdout)
	}
}

func TestAdminCommandsSayWhenTheDaemonIsNotRunning(t *testing.T) {
	s := newAdminSetup(t)
	for _, cmd := range []string{"status", "reload"} {
		_, stderr, code := s.admin(t, cmd)
		if code != 1 || !strings.Contains(stderr, "daemon is not running") || !strings.Contains(stderr, "systemctl start abusewatch") {
			t.Errorf("%s without a daemon: exit %d, %q", cmd, code, stderr)
		}
	}
	// Read commands answer from the store file instead (here, before the first start,
	// from no store at all, which they do not create).
	stdout, stderr, code := s.admin(t, "incidents")
	if code != 0 || !strings.Contains(stderr, "The daemon is not running") || !strings.Contains(stdout, "No incidents") {
		t.Errorf("incidents offline: exit %d\n%s%s", code, stdout, stderr)
	}
}

// A reload with a broken rule file keeps the running rules and says why, over the socket
// and on SIGHUP; a fixed file is then taken.
func TestReloadWithABrokenRuleFileKeepsTheOldRules(t *testing.T) {
	s := newAdminSetup(t)
	d := s.start(t)
	s.writeRule(t, "^my own normal line$\n^(broken\n")
	_, stderr, code := s.admin(t, "reload")
	if code != 1 || !strings.Contains(stderr, filepath.Join(s.rules, "local")+":2:") || !strings.Contains(stderr, "keeps running with its previous") {
		t.Errorf("reload with a broken rule: exit %d, %q", code, stderr)
	}
	d.cmd.Process.Signal(syscall.SIGHUP)
	// The command's refusal is logged too, with by="abusewatch reload": this one is
	// SIGHUP's.
	d.waitFor(t, "SIGHUP's refusal", 30*time.Second, func(l string) bool {
		return containsAll(l, []string{"reload refused", "local:2:"}) && !strings.Contains(l, "abusewatch reload")
	})
	var st daemon.Status
	s.adminJSON(t, &st, "status") // still serving
	s.writeRule(t, "^my own normal line$\n^another normal line$\n")
	var res daemon.ReloadResult
	s.adminJSON(t, &res, "reload")
	if res.NormalRules < 2 {
		t.Errorf("reload result %+v; want the 2 local rules counted", res)
	}
	appendFile(t, s.logFile, "2026-11-20T03:00:00.000000+00:00 web1 app[1]: another normal line\n")
	deadline := time.Now().Add(30 * time.Second)
	for st.Counters["normal"] != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("the reloaded rule never dropped the line: %+v", st.Counters)
		}
		s.adminJSON(t, &st, "status")
	}
}

func TestIncidentsIPAndNetAnswerFromTheDaemonAndOffline(t *testing.T) {
	s := newAdminSetup(t)
	d := s.start(t)
	appendFile(t, s.logFile, attackLines(6, time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC), 40000))
	incs := s.waitIncidentsFor(t, "one of 6 attempts", func(incs []daemon.IncidentInfo) bool { return len(incs) > 0 && incs[0].Attempts >= 6 })
	if len(incs) != 1 || incs[0].Addr.String() != "3.3.3.3" || incs[0].Attempts != 6 {
		t.Errorf("incident = %+v", incs[0])
	}
	var ip daemon.NetworkInfo
	s.adminJSON(t, &ip, "ip", "3.3.3.3", "--since", "3650d")
	if ip.Events != 6 || ip.ByClass["auth-failure"] != 6 || len(ip.Incidents) != 1 || len(ip.ByDay) != 1 {
		t.Errorf("ip 3.3.3.3 = %+v", ip)
	}
	var net daemon.NetworkInfo
	s.adminJSON(t, &net, "net", "3.3.0.0/20", "--since", "3650d")
	if net.Events != 6 || len(net.Addresses) != 1 || net.Addresses[0].Addr != "3.3.3.3" {
		t.Errorf("net 3.3.0.0/20 = %+v", net)
	}
	// A network written with address bits set is answered for, with a note naming the
	// network it is (2001:4860::/16 for /32 was answered as 2001::/16 without a word).
	var masked daemon.NetworkInfo
	stdout, stderr, code := s.admin(t, "net", "3.3.3.3/20", "--since", "3650d", "--json")
	if err := json.Unmarshal([]byte(stdout), &masked); code != 0 || err != nil || masked.Events != 6 ||
		!strings.Contains(stderr, "Note: 3.3.3.3/20 has address bits set past /20: this is about the network 3.3.0.0/20.") {
		t.Errorf("net 3.3.3.3/20: exit %d, %v\n%s%s", code, err, stdout, stderr)
	}
	stdout, _, code = s.admin(t, "ip", "3.3.3.3", "--since", "3650d")
	if code != 0 || !strings.Contains(stdout, "6 auth-failure") || !strings.Contains(stdout, "2026-11-20") {
		t.Errorf("ip table: exit %d\n%s", code, stdout)
	}

	d.cmd.Process.Signal(syscall.SIGTERM)
	<-d.done
	d.cmd.Wait()
	stdout, stderr, code = s.admin(t, "incidents", "--since", "3650d")
	if code != 0 || !strings.Contains(stderr, "not running: using") || !strings.Contains(stdout, "3.3.3.3") {
		t.Errorf("incidents offline: exit %d\n%s%s", code, stdout, stderr)
	}
}

func TestPardonForgetsAndExcludeStopsNewIncidents(t *testing.T) {
	s, start := attackedAdminSetup(t)
	var res daemon.ExcludeResult
	s.adminJSON(t, &res, "pardon", "3.3.3.3", "--reason", "our partner's scanner")
	if res.ForgotIncidents != 1 {
		t.Errorf("pardon = %+v; want 1 incident forgotten", res)
	}
	incs := s.incidents(t, "--since", "3650d")
	if len(incs) != 0 {
		t.Errorf("incidents after pardon: %+v", incs)
	}
	// More attempts from the pardoned address make no incident; another address does.
	more := attackLines(6, start.Add(time.Minute), 50000) + strings.ReplaceAll(attackLines(6, start.Add(time.Minute), 50000), "3.3.3.3", "3.3.9.9")
	appendFile(t, s.logFile, more)
	incs = s.waitIncidents(t, 1)
	if len(incs) != 1 || incs[0].Addr.String() != "3.3.9.9" {
		t.Errorf("incidents = %+v; want only 3.3.9.9", incs)
	}
	var ip daemon.NetworkInfo
	s.adminJSON(t, &ip, "ip", "3.3.3.3", "--since", "3650d")
	if ip.Excluded == nil || ip.Excluded.Reason != "our partner's scanner" {
		t.Errorf("ip does not show the exclusion: %+v", ip.Excluded)
	}
}

// Excluding a network again (an idempotent script) keeps its date and reason unless a
// new reason is given, and says so; an exclude never turns a pardon into an exclusion,
// while a pardon of an excluded network makes it a pardon. It erased both.
func TestExcludingAgainKeepsTheReasonAndThePardon(t *testing.T) {
	s := newAdminSetup(t)
	s.start(t)
	var first, res daemon.ExcludeResult
	s.adminJSON(t, &first, "exclude", "185.10.20.0/24", "--reason", "partner scanner, ticket 42")
	if first.By != "exclude" || first.Already != nil {
		t.Errorf("first exclude = %+v", first)
	}
	var list []daemon.ExclusionInfo
	s.adminJSON(t, &list, "exclude", "--list")
	added := list[0].Added
	stdout, stderr, code := s.admin(t, "exclude", "185.10.20.0/24")
	if code != 0 || !strings.Contains(stdout, "185.10.20.0/24 is already excluded, since ") || !strings.Contains(stdout, ": partner scanner, ticket 42.") {
		t.Errorf("exclude again: exit %d\n%s%s", code, stdout, stderr)
	}
	s.adminJSON(t, &res, "pardon", "45.7.7.7", "--reason", "was our pentest")
	s.adminJSON(t, &res, "exclude", "45.7.7.7")
	if res.By != "pardon" || res.Already == nil || res.Already.By != "pardon" || res.Already.Reason != "was our pentest" {
		t.Errorf("exclude of a pardoned address = %+v; want it to stay a pardon", res)
	}
	stdout, stderr, code = s.admin(t, "exclude", "45.7.7.7")
	if code != 0 || !strings.Contains(stdout, "45.7.7.7/32 is already pardoned, since ") || !strings.Contains(stdout, "It stays a pardon") {
		t.Errorf("exclude of a pardoned address: exit %d\n%s%s", code, stdout, stderr)
	}
	s.adminJSON(t, &res, "exclude", "185.10.20.0/24", "--reason", "ticket 43")
	s.adminJSON(t, &list, "exclude", "--list")
	want := map[string]string{"185.10.20.0/24": "exclude ticket 43", "45.7.7.7/32": "pardon was our pentest"}
	for _, e := range list {
		if got := e.By + " " + e.Reason; got != want[e.Network.String()] {
			t.Errorf("exclude --list: %s is %q, want %q", e.Network, got, want[e.Network.String()])
		}
		if e.Network.String() == "185.10.20.0/24" && !e.Added.Equal(added) {
			t.Errorf("the date of 185.10.20.0/24 changed from %v: %+v", added, e)
		}
	}
	var ip daemon.NetworkInfo
	s.adminJSON(t, &ip, "ip", "45.7.7.7")
	if ip.Excluded == nil || ip.Excluded.By != "pardon" || ip.Excluded.Reason != "was our pentest" {
		t.Errorf("ip 45.7.7.7 excluded = %+v; want the pardon with its reason", ip.Excluded)
	}
	// A pardon of an excluded network makes it a pardon.
	s.adminJSON(t, &res, "pardon", "185.10.20.0/24")
	if res.By != "pardon" || res.Already == nil || res.Already.By != "exclude" {
		t.Errorf("pardon of an excluded network = %+v", res)
	}
}

// An exclusion of what is never reported already (an address of a network excluded,
// a private or reserved network, a policy.never_report entry) says so and why, and
// still succeeds, from the daemon and offline: it said only "will never be reported",
// as if it were what keeps it so.
func TestExcludingWhatIsNeverReportedAlreadySaysSo(t *testing.T) {
	s := newAdminSetup(t)
	s.editConfig(t, "[policy]\n", "[policy]\nnever_report = [\"198.51.100.0/24\"]\n")
	d := s.start(t)
	var res daemon.ExcludeResult
	s.adminJSON(t, &res, "exclude", "185.10.20.0/24", "--reason", "partner scanner")
	if res.CoveredBy != "" {
		t.Errorf("exclude of a network nothing covers: covered_by %q", res.CoveredBy)
	}
	check := func(how string) {
		t.Helper()
		for addr, want := range map[string]string{
			"185.10.20.30":  "it lies in 185.10.20.0/24 (exclude, ",
			"10.0.0.0/8":    "10.0.0.0/8 is special-purpose",
			"192.168.1.5":   "192.168.0.0/16 is special-purpose",
			"198.51.100.7":  "198.51.100.0/24 is special-purpose", // documentation space before the config's entry
			"2001:db8::/48": "2001:db8::/32 is special-purpose",
		} {
			s.adminJSON(t, &res, "exclude", addr)
			if !strings.HasPrefix(res.CoveredBy, want) || !res.AlreadyNeverSends {
				t.Errorf("%s: exclude --json %s: covered_by %q, already_never_reported %v; want %q", how, addr, res.CoveredBy, res.AlreadyNeverSends, want)
			}
		}
		stdout, stderr, code := s.admin(t, "pardon", "185.10.20.31")
		if code != 0 || !strings.Contains(stdout, "Note: it was never reported already: it lies in 185.10.20.0/24 (exclude, ") ||
			!strings.Contains(stdout, "partner scanner); the pardon is recorded all the same.") {
			t.Errorf("%s: pardon inside an excluded network: exit %d\n%s%s", how, code, stdout, stderr)
		}
	}
	check("daemon")
	d.stop(t)
	check("offline")
	// A policy.never_report entry that is not special-purpose is named as such.
	s.editConfig(t, `never_report = ["198.51.100.0/24"]`, `never_report = ["45.0.0.0/16"]`)
	s.adminJSON(t, &res, "exclude", "45.0.1.0/24")
	if res.CoveredBy != "policy.never_report lists 45.0.0.0/16" {
		t.Errorf("exclude inside policy.never_report: covered_by %q", res.CoveredBy)
	}
}

// An exclusion is listed with when and why, and undone: the daemon's rules make
// incidents of the network's new events again. An address written with a network's
// length (a typo), or a network wider than a /8, is refused, and nothing changes.
func TestAnExclusionIsListedAndUndone(t *testing.T) {
	s, start := attackedAdminSetup(t)
	for _, args := range [][]string{{"exclude", "3.3.3.3/8"}, {"pardon", "0.0.0.0/0"}, {"exclude", "2001:db8::/12"}} {
		if _, stderr, code := s.admin(t, args...); code != 2 || !strings.Contains(stderr, args[1]) {
			t.Errorf("%v: exit %d, want 2 naming it:\n%s", args, code, stderr)
		}
	}
	if incs := s.incidents(t, "--since", "3650d"); len(incs) != 1 {
		t.Fatalf("%d incidents after refused commands, want 1", len(incs))
	}
	var res daemon.ExcludeResult
	s.adminJSON(t, &res, "exclude", "3.3.3.0/24", "--reason", "our partner's scanner")
	var list []daemon.ExclusionInfo
	s.adminJSON(t, &list, "exclude", "--list")
	if len(list) != 1 || list[0].Network.String() != "3.3.3.0/24" || list[0].By != "exclude" || list[0].Reason != "our partner's scanner" || list[0].Added.IsZero() {
		t.Fatalf("exclude --list = %+v", list)
	}
	if _, stderr, code := s.admin(t, "exclude", "--remove", "3.3.3.3"); code != 1 || !strings.Contains(stderr, "lies in 3.3.3.0/24") {
		t.Errorf("removing an address of the excluded network: exit %d, want 1 naming the network:\n%s", code, stderr)
	}
	stdout, stderr, code := s.admin(t, "exclude", "--remove", "3.3.3.0/24")
	if code != 0 || !strings.Contains(stdout, "no longer excluded") {
		t.Fatalf("exclude --remove: exit %d\n%s%s", code, stdout, stderr)
	}
	if s.adminJSON(t, &list, "exclude", "--list"); len(list) != 0 {
		t.Errorf("exclude --list after --remove = %+v", list)
	}
	// The running rules take the address in again: its next visit is an incident.
	appendFile(t, s.logFile, attackLines(6, start.Add(24*time.Hour), 50000))
	if incs := s.waitIncidents(t, 2); incs[0].Addr.String() != "3.3.3.3" || incs[1].Addr.String() != "3.3.3.3" {
		t.Errorf("incidents = %+v; want a second one of 3.3.3.3", incs)
	}
}

// Only root, the daemon's user and the admin group may use the socket: the peer's
// credentials are checked even when the socket's mode would let anyone connect.
func TestAdminSocketRefusesOtherUsers(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run the client as another user")
	}
	s := newAdminSetup(t)
	s.start(t)
	if err := os.Chmod(s.socket, 0o666); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Dir(binary), filepath.Dir(s.dir), s.dir, filepath.Dir(s.socket)} {
		os.Chmod(p, 0o755)
	}
	os.Chmod(s.cfg, 0o644)
	cmd := exec.Command(binary, "status", "--socket", s.socket, "--config", s.cfg)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "permission denied: use root, the daemon's user") {
		t.Errorf("status as nobody: %v\n%s", err, out)
	}
}

// While the daemon runs, the outbox and report commands work through its socket.
func TestOutboxAndReportCommandsGoThroughTheSocket(t *testing.T) {
	s := newAdminSetup(t)
	s.start(t)
	appendFile(t, s.logFile, attackLines(6, time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC), 40000))
	s.waitIncidents(t, 1)
	var list outboxList
	deadline := time.Now().Add(30 * time.Second)
	for len(list.Reports) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no report reached the outbox")
		}
		s.adminJSON(t, &list, "outbox")
	}
	entries := list.Reports
	if entries[0].State != "pending-approval" || entries[0].To[0] != "abuse@cloud.example" {
		t.Fatalf("outbox = %+v", entries)
	}
	stdout, stderr, code := s.admin(t, "report", "show", entries[0].ID[:8])
	if code != 0 || !strings.Contains(stdout, "3.3.3.3") || strings.Contains(stderr, "not running") {
		t.Errorf("report show: exit %d\n%s%s", code, stdout, stderr)
	}
	stdout, _, code = s.admin(t, "report", "approve", "--all")
	if code != 0 || !strings.Contains(stdout, "approved "+entries[0].ID) {
		t.Errorf("report approve --all: exit %d\n%s", code, stdout)
	}
	for {
		s.adminJSON(t, &list, "outbox")
		if entries = list.Reports; entries[0].State == "sent" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the approved report was not delivered: %+v", entries[0])
		}
	}
}

// incidents shows the newest --limit (1,000 unless told; 0: all) and says how many
// there are, from the daemon and offline alike: a busy host has hundreds of thousands
// over months, and all of them were gigabytes in the memory of the daemon answering.
func TestIncidentsShowsTheNewestAndHowManyInAll(t *testing.T) {
	s := newAdminSetup(t)
	d := s.start(t)
	start := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
	newer := strings.ReplaceAll(attackLines(6, start.Add(time.Hour), 50000), "3.3.3.3", "3.3.9.9")
	appendFile(t, s.logFile, attackLines(6, start, 40000)+newer)
	s.waitIncidents(t, 2)
	check := func(how string) {
		t.Helper()
		stdout, stderr, code := s.admin(t, "incidents", "--since", "3650d", "--limit", "1")
		if code != 0 || strings.Count(stdout, "3.3.") != 1 || !strings.Contains(stdout, "3.3.9.9") ||
			!strings.Contains(stderr, "The newest 1 of 2 incidents") {
			t.Errorf("%s: incidents --limit 1: exit %d\n%s%s", how, code, stdout, stderr)
		}
		incs := s.incidents(t, "--since", "3650d", "--limit", "0")
		if len(incs) != 2 {
			t.Errorf("%s: incidents --limit 0 --json: %d incidents, want 2", how, len(incs))
		}
		if _, stderr, code := s.admin(t, "incidents", "--limit", "-1"); code != 2 || !strings.Contains(stderr, "--limit -1") {
			t.Errorf("%s: incidents --limit -1: exit %d, %s", how, code, stderr)
		}
	}
	check("from the daemon")
	d.cmd.Process.Signal(syscall.SIGTERM)
	<-d.done
	d.cmd.Wait()
	check("offline")
}

// blackholeLookups points s's lookups at a resolver on loopback that takes the queries
// and answers none, each waiting lookup.timeout, and sets policy.mode.
func (s *adminSetup) blackholeLookups(t *testing.T, timeout, mode string) {
	t.Helper()
	blackhole, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { blackhole.Close() })
	doc, err := os.ReadFile(s.cfg)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(doc), "[lookup]\nrdap = false\n",
		"[lookup]\nrdap = false\ntimeout = \""+timeout+"\"\nresolvers = [\""+blackhole.LocalAddr().String()+"\"]\n", 1)
	text = strings.Replace(text, `mode = "review"`, `mode = "`+mode+`"`, 1)
	if err := os.WriteFile(s.cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A network excluded while a round of the outbox runs (by `exclude`, or by
// never_report in a reloaded config) is never reported: `exclude` reaches the running
// round's pipeline, and a reload stops the round, whose rest a round under the new
// config takes up. Here the round composes the report (auto mode) while it waits on
// the reverse name, and no delivery may send it.
func TestAnExclusionReachesTheRoundUnderWay(t *testing.T) {
	for _, how := range []string{"exclude", "never_report"} {
		t.Run(how, func(t *testing.T) {
			s := newAdminSetup(t)
			s.blackholeLookups(t, "8s", "auto") // room for the reload and the exclude while the round waits
			d := s.start(t)
			appendFile(t, s.logFile, attackLines(6, time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC), 40000)) // 3.3.3.3, static contact
			d.waitLog(t, "the last outbox round still runs")                                               // waiting on 3.3.3.3's reverse name
			if how == "never_report" {
				doc, _ := os.ReadFile(s.cfg)
				text := strings.Replace(string(doc), "[policy]\n", "[policy]\nnever_report = [\"3.3.0.0/16\"]\n", 1)
				if err := os.WriteFile(s.cfg, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if how == "never_report" {
				var res daemon.ReloadResult
				s.adminJSON(t, &res, "reload")
			}
			if how == "exclude" {
				if _, stderr, code := s.admin(t, "exclude", "3.3.0.0/16"); code != 0 {
					t.Fatalf("exclude: exit %d\n%s", code, stderr)
				}
			}
			line := d.waitFor(t, "the report's fate", 90*time.Second, func(l string) bool {
				return strings.Contains(l, "report not sent") || strings.Contains(l, "report delivered")
			})
			if !containsAll(line, []string{"report not sent", "never reported"}) {
				t.Errorf("the round sent the report about the excluded network: %s", line)
			}
			if mails, _ := filepath.Glob(filepath.Join(s.dir, "maildir", "new", "*")); len(mails) != 0 {
				t.Errorf("%d mails left about the excluded network", len(mails))
			}
		})
	}
}

// A round of the outbox whose lookups hang (a resolver that never answers, for
// lookup.timeout each) holds up neither reading the logs nor the admin socket: the
// round runs beside the main loop, the ticks meanwhile skip theirs, and a stop cuts the
// lookup short.
func TestHangingLookupsHoldUpNeitherTheLogsNorTheAdmin(t *testing.T) {
	s := newAdminSetup(t)
	s.blackholeLookups(t, "25s", "review")
	d := s.start(t)
	t0 := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
	appendFile(t, s.logFile, attackLines(6, t0, 40000)) // 12 lines, an incident of 3.3.3.3
	d.waitLog(t, "the last outbox round still runs")
	appendFile(t, s.logFile, attackLines(3, t0.Add(time.Hour), 41000))
	deadline := time.Now().Add(15 * time.Second) // well within the lookup's 25s
	for {
		var st daemon.Status
		s.adminJSON(t, &st, "status")
		if st.Counters["lines"] == 18 {
			if !st.Outbox.Running || st.Outbox.Started.IsZero() {
				t.Errorf("status says of the outbox round %+v; want it running", st.Outbox)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("while a lookup hangs, the daemon read %d lines of 18", st.Counters["lines"])
		}
	}
	if stdout, _, _ := s.admin(t, "status"); !strings.Contains(stdout, "Outbox round: running since") {
		t.Errorf("status does not show the round waiting on the network:\n%s", stdout)
	}
	stopped := time.Now()
	d.stop(t)
	if waited := time.Since(stopped); waited > 15*time.Second {
		t.Errorf("the stop waited %s for the hanging lookup", waited)
	}
}

// An incident the daemon finds no abuse contact for says so in `incidents` and `ip`
// (it said "none yet", and only the daemon's log told why), through the socket, and in
// a code for scripts. With the daemon stopped, the store alone cannot tell: it said
// "none yet" again, as if a report were on its way, and now says that only the daemon
// knows.
func TestAnIncidentWithoutAContactSaysSo(t *testing.T) {
	s := newAdminSetup(t)
	s.blackholeLookups(t, "200ms", "review") // no [[contact]] for 5.5.5.5, no RDAP, no reverse name
	d := s.start(t)
	appendFile(t, s.logFile, strings.ReplaceAll(attackLines(6, time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC), 40000), "3.3.3.3", "5.5.5.5"))
	const why = "not reported: no abuse contact found at "
	deadline := time.Now().Add(30 * time.Second)
	for {
		incs := s.incidents(t, "--since", "3650d")
		if len(incs) == 1 && strings.HasPrefix("not reported: "+incs[0].Unreported, why) {
			if incs[0].UnreportedCode != "no-contact" {
				t.Errorf("unreported_code %q; want no-contact", incs[0].UnreportedCode)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30s: %+v", incs)
		}
	}
	for _, args := range [][]string{{"incidents", "--since", "3650d"}, {"ip", "5.5.5.5", "--since", "3650d"}} {
		stdout, stderr, code := s.admin(t, args...)
		if code != 0 || !strings.Contains(stdout, why) || !strings.Contains(stdout, "abusewatch whois 5.5.5.5") {
			t.Errorf("%s: exit %d\n%s%s", args[0], code, stdout, stderr)
		}
	}
	if stdout, stderr, code := s.admin(t, "status"); code != 0 || !strings.Contains(stdout, "Waiting for an abuse contact: 1 incident, tried again every round") {
		t.Errorf("status: exit %d\n%s%s", code, stdout, stderr)
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	<-d.done
	d.cmd.Wait()
	// Stopped, the daemon's rounds' lookup failures are still known: they are stored.
	for _, args := range [][]string{{"incidents", "--since", "3650d"}, {"ip", "5.5.5.5", "--since", "3650d"}} {
		stdout, stderr, code := s.admin(t, args...)
		if code != 0 || !strings.Contains(stdout, why) || !strings.Contains(stdout, "abusewatch whois 5.5.5.5") {
			t.Errorf("%s offline: exit %d\n%s%s", args[0], code, stdout, stderr)
		}
	}
	if incs := s.incidents(t, "--since", "3650d"); len(incs) != 1 || incs[0].UnreportedCode != "no-contact" || !strings.HasPrefix("not reported: "+incs[0].Unreported, why) {
		t.Errorf("incidents --json offline: %+v; want unreported_code no-contact and why", incs)
	}
}
