package main

import (
	"encoding/json"
	"io"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// An admin types a password as the user name, fails five times more, and logs in from
// the same address a moment later (privacy review 40, H1). The daemon reads the lines
// as they come: policy.settle keeps the report from leaving before the login is read,
// and a login read after a report went is still mailed to the admin at once.

// writeSettleConfig writes a daemon config following logFile, with 81.2.69.0/24's abuse
// desk from the config, a maildir for every mail, mail.admin and policy.settle = settle.
func writeSettleConfig(t *testing.T, dir, logFile, settle string) string {
	t.Helper()
	doc := `
[reporter]
name = "Sam Example"
organisation = "Example Hosting Ltd"
email = "security@example.org"
timezone = "UTC"

[detect]
timezone = "UTC"

[[source]]
files = ["` + logFile + `"]

[correlate]
threshold = 5
window = "10m"

[lookup]
rdap = false
resolvers = ["127.0.0.1:1"]
timeout = "100ms"

[[contact]]
network = "81.2.69.0/24"
emails = ["abuse@broadband.example"]

[mail]
transport = "maildir"
maildir = "` + filepath.Join(dir, "maildir") + `"
from = "abusewatch@example.org"
admin = "root@example.org"

[policy]
mode = "auto"
report_interval = "200ms"
settle = "` + settle + `"

[summary]
time = ""

[admin]
socket = "` + filepath.Join(dir, "admin.sock") + `"

[store]
path = "` + filepath.Join(dir, "state.db") + `"
`
	path := filepath.Join(dir, "abusewatch.toml")
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// mistypedLines are the admin's failures from 81.2.69.7 at start: the password typed as
// the user name, then five wrong passwords for carl.
func mistypedLines(start time.Time) string {
	ts := start.UTC().Format("2006-01-02T15:04:05.000000-07:00")
	b := ts + " bastion sshd[2000]: Failed password for invalid user MyS3cret!Pass from 81.2.69.7 port 5000 ssh2\n"
	for i := 1; i <= 5; i++ {
		b += ts + " bastion sshd[200" + strconv.Itoa(i) + "]: Failed password for carl from 81.2.69.7 port 500" + strconv.Itoa(i) + " ssh2\n"
	}
	return b
}

func loginLine(at time.Time) string {
	return at.UTC().Format("2006-01-02T15:04:05.000000-07:00") + " bastion sshd[2010]: Accepted password for carl from 81.2.69.7 port 5010 ssh2\n"
}

// maildirMessages reads every message in the maildir's new/, by its recipient.
func maildirMessages(t *testing.T, dir string) map[string][]*mail.Message {
	t.Helper()
	out := map[string][]*mail.Message{}
	names, _ := filepath.Glob(filepath.Join(dir, "maildir", "new", "*"))
	for _, name := range names {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		m, err := mail.ReadMessage(f)
		if err != nil {
			f.Close()
			t.Fatal(err)
		}
		to, err := m.Header.AddressList("To")
		if err != nil || len(to) == 0 {
			t.Fatalf("%s: To: %v", name, err)
		}
		if to[0].Address == "root@example.org" { // a report is multipart: its body is not read here
			m.Body = strings.NewReader(decodedBody(t, m))
		}
		f.Close()
		out[to[0].Address] = append(out[to[0].Address], m)
	}
	return out
}

// incidentOf is the incident of 81.2.69.7 as `incidents --json` shows it, asked of the
// running daemon.
func incidentOf(t *testing.T, dir, cfg string) map[string]any {
	t.Helper()
	stdout, stderr, code := runBinary(t, dir, "incidents", "--json", "--config", cfg)
	if code != 0 {
		t.Fatalf("incidents: exit %d\n%s", code, stderr)
	}
	var got struct{ Incidents []map[string]any }
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("incidents --json: %v\n%s", err, stdout)
	}
	for _, inc := range got.Incidents {
		if inc["addr"] == "81.2.69.7" && inc["rule"] == "per-address" {
			return inc
		}
	}
	t.Fatalf("no incident of 81.2.69.7:\n%s", stdout)
	return nil
}

func TestALoginWithinTheSettleTimeKeepsTheAdminsTypoFromTheAbuseDesk(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "auth.log")
	appendFile(t, logFile, "")
	cfg := writeSettleConfig(t, dir, logFile, "1h")
	d := startDaemon(t, dir, "run", "--debug", "--config", cfg)
	d.waitLog(t, "admin socket ready")

	start := time.Now()
	appendFile(t, logFile, mistypedLines(start))
	// A round took the incident up and held it, or wrote its report (before the login,
	// however soon it comes).
	// Held until an hour after its first line, or after it was first stored when that
	// was later: the commit comes a moment after the lines are written, maybe in the
	// next second.
	held := func(l string) bool {
		m := regexp.MustCompile(`waits for policy\.settle.* until=(\S+)`).FindStringSubmatch(l)
		if m == nil {
			return false
		}
		until, err := time.Parse(time.RFC3339Nano, m[1])
		return err == nil && !until.Before(start.Add(time.Hour).Truncate(time.Second)) && until.Before(start.Add(time.Hour+30*time.Second))
	}
	sent := []string{"report written", "to=abuse@broadband.example"}
	if l := d.waitFor(t, "a round's word on the incident", 30*time.Second, func(l string) bool {
		return held(l) || containsAll(l, sent)
	}); containsAll(l, sent) {
		t.Fatalf("the report to the admin's ISP was written before a login could hold it: %s", l)
	}
	inc := incidentOf(t, dir, cfg)
	if inc["unreported_code"] != "settling" || !strings.Contains(inc["unreported"].(string), "policy.settle") {
		t.Errorf("incidents says %v (%v), want settling, naming policy.settle", inc["unreported_code"], inc["unreported"])
	}
	stdout, stderr, code := runBinary(t, dir, "report", "preview", "--config", cfg, "81.2.69.7")
	if code != 0 || !strings.Contains(stdout, "policy.settle") {
		t.Errorf("report preview does not say the report waits for policy.settle: exit %d\n%s%s", code, stdout, stderr)
	}

	appendFile(t, logFile, loginLine(time.Now()))
	d.waitLog(t, "possible compromise mailed to the admin")
	msgs := maildirMessages(t, dir)
	if n := len(msgs["abuse@broadband.example"]); n != 0 {
		t.Errorf("%d reports went to the admin's ISP, quoting the password; want none", n)
	}
	alerts := msgs["root@example.org"]
	if len(alerts) != 1 || !strings.Contains(alerts[0].Header.Get("Subject"), "POSSIBLE COMPROMISE: login from 81.2.69.7") {
		t.Fatalf("want one compromise alert to the admin, got %d messages: %v", len(alerts), msgs)
	}
	if body := readAll(t, alerts[0]); strings.Contains(body, "written before the login was read") {
		t.Errorf("the alert says the incident was reported:\n%s", body)
	}
	if inc := incidentOf(t, dir, cfg); inc["report_id"] != nil || inc["unreported_code"] != "possible-compromise" {
		t.Errorf("the incident has report %v (%v), want none: a possible compromise", inc["report_id"], inc["unreported_code"])
	}
}

func TestAnAttackWithoutALoginIsReportedOnceTheSettleTimeHasPassed(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "auth.log")
	appendFile(t, logFile, "")
	const settle = 3 * time.Second
	cfg := writeSettleConfig(t, dir, logFile, settle.String())
	d := startDaemon(t, dir, "run", "--config", cfg)
	d.waitLog(t, "admin socket ready")

	start := time.Now()
	appendFile(t, logFile, mistypedLines(start))
	d.waitLog(t, "report delivered", "to=abuse@broadband.example")
	if went := time.Now(); went.Before(start.Add(settle)) {
		t.Errorf("the report went %s after the attack began, before policy.settle (%s)", went.Sub(start), settle)
	}
	if msgs := maildirMessages(t, dir); len(msgs["abuse@broadband.example"]) != 1 || len(msgs["root@example.org"]) != 0 {
		t.Errorf("want one report to the desk and nothing to the admin, got %v", msgs)
	}
}

func TestALoginAfterTheReportWentIsMailedToTheAdminNamingTheReport(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "auth.log")
	appendFile(t, logFile, "")
	cfg := writeSettleConfig(t, dir, logFile, "0s")
	d := startDaemon(t, dir, "run", "--config", cfg)
	d.waitLog(t, "admin socket ready")

	start := time.Now()
	appendFile(t, logFile, mistypedLines(start))
	line := d.waitLog(t, "report delivered", "to=abuse@broadband.example")
	id := strings.Fields(line[strings.Index(line, " id=")+len(" id="):])[0]

	appendFile(t, logFile, loginLine(time.Now()))
	d.waitLog(t, "possible compromise mailed to the admin")
	alerts := maildirMessages(t, dir)["root@example.org"]
	if len(alerts) != 1 {
		t.Fatalf("%d compromise alerts, want 1", len(alerts))
	}
	body := readAll(t, alerts[0])
	for _, want := range []string{"Accepted password for carl from 81.2.69.7 port 5010", "Its report, written before the login was read: report " + id,
		"to abuse@broadband.example"} {
		if !strings.Contains(body, want) {
			t.Errorf("the alert does not say %q:\n%s", want, body)
		}
	}
}

func readAll(t *testing.T, m *mail.Message) string {
	t.Helper()
	b, err := io.ReadAll(m.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Review 42 H1: policy.settle holds only the writing of a report. One written before
// the login was read, and not sent yet (waiting for approval here; in auto mode, for a
// retry, a cooldown or a limit), went all the same once approved: the password typed
// as the user name with it. A login read since it was written takes its source out:
// the report is rejected when nothing else is left (at the next round, before anyone
// approves it), and nothing reaches the desk.
func TestAReportWaitingWhenTheLoginIsReadIsNeverSent(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "auth.log")
	appendFile(t, logFile, "")
	cfg := writeSettleConfig(t, dir, logFile, "0s")
	doc, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte(strings.Replace(string(doc), `mode = "auto"`, `mode = "review"`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, dir, "run", "--config", cfg)
	d.waitLog(t, "admin socket ready")

	appendFile(t, logFile, mistypedLines(time.Now()))
	line := d.waitLog(t, "report written", "state=pending-approval")
	id := strings.Fields(line[strings.Index(line, " id=")+len(" id="):])[0]

	appendFile(t, logFile, loginLine(time.Now()))
	d.waitLog(t, "report not sent", "succeeded after it was written")
	d.waitLog(t, "possible compromise mailed to the admin")
	if stdout, stderr, code := runBinary(t, dir, "report", "approve", "--config", cfg, id); code == 0 || !strings.Contains(stderr, "is rejected") {
		t.Errorf("report approve: exit %d, want it refused as rejected\n%s%s", code, stdout, stderr)
	}
	if desk := maildirMessages(t, dir)["abuse@broadband.example"]; len(desk) != 0 {
		t.Errorf("%d mails to the desk, want none: the login was read before the report went", len(desk))
	}
	stdout, stderr, code := runBinary(t, dir, "report", "show", "--config", cfg, id)
	if code != 0 || !strings.Contains(stdout, "rejected") {
		t.Errorf("report show: exit %d, want it rejected:\n%s%s", code, stdout, stderr)
	}
}

// Review 42 H2: policy.settle counted from the first event's time alone, so a backlog
// (the lines written while the daemon was stopped, read at its start) was past it at
// once, and the report went a moment before the login the log held after the failures
// was read. It counts from when the incident was first stored, when that is later.
func TestABacklogReadAtStartWaitsTheSettleTimeFromWhenItWasRead(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "auth.log")
	start := time.Now().Add(-time.Hour)
	appendFile(t, logFile, mistypedLines(start))
	cfg := writeSettleConfig(t, dir, logFile, "10m")
	d := startDaemon(t, dir, "run", "--debug", "--config", cfg)
	held := []string{"waits for policy.settle"}
	sent := []string{"report written", "to=abuse@broadband.example"}
	if l := d.waitFor(t, "a round's word on the incident", 30*time.Second, func(l string) bool {
		return containsAll(l, held) || containsAll(l, sent)
	}); containsAll(l, sent) {
		t.Fatalf("the backlog's report was written at once, an hour after its first event but a moment after it was read: %s", l)
	}
	if inc := incidentOf(t, dir, cfg); inc["unreported_code"] != "settling" {
		t.Errorf("incidents says %v (%v), want settling", inc["unreported_code"], inc["unreported"])
	}
}

// Review 42 M2: a scan wrote the reports of every incident the stopped daemon had left
// waiting for policy.settle, whatever it read (one line of another file). Only what the
// scan made or grew, read whole, goes without the wait.
func TestAScanLeavesTheDaemonsSettlingIncidentsWaiting(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "auth.log")
	appendFile(t, logFile, "")
	cfg := writeSettleConfig(t, dir, logFile, "1h")
	d := startDaemon(t, dir, "run", "--debug", "--config", cfg)
	d.waitLog(t, "admin socket ready")
	appendFile(t, logFile, mistypedLines(time.Now()))
	d.waitLog(t, "waits for policy.settle")
	d.stop(t)

	other := filepath.Join(dir, "other.log")
	appendFile(t, other, time.Now().UTC().Format(time.RFC3339)+" web1 CRON[1]: pam_unix(cron:session): session opened for user root by (uid=0)\n")
	if stdout, stderr, code := runBinary(t, dir, "scan", "--config", cfg, other); code != 0 {
		t.Fatalf("scan: exit %d\n%s%s", code, stdout, stderr)
	}
	if n := len(maildirMessages(t, dir)["abuse@broadband.example"]); n != 0 {
		t.Errorf("the scan of another file sent %d reports of the daemon's settling incident; want none", n)
	}
}
