package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The README's first command: the demo writes one report per responsible party, each
// naming the contact from the demo config's static table.
func TestDemoScanWritesReportsToTheRightContacts(t *testing.T) {
	dir := t.TempDir()
	stdout, stderr, code := runBinary(t, dir, "scan", "--config", repoPath(t, "configs/demo.toml"), repoPath(t, "configs/demo/auth.log"))
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "6 incidents, 4 reports written (mode auto).") {
		t.Errorf("summary line missing:\n%s", stdout)
	}
	if !strings.Contains(stdout, "1 possible compromise mailed to you (root@example.org) at once, in abusewatch-demo/maildir/new/ too.") {
		t.Errorf("the scan does not say the admin was mailed about the login after failures:\n%s", stdout)
	}
	if !strings.Contains(stdout, "81.2.69.160") || !strings.Contains(stdout, "not reported: a login from it succeeded (possible compromise)") {
		t.Errorf("the incident with a successful login must be listed as not reported:\n%s", stdout)
	}
	for _, private := range []string{"10.20.0.77", "10.20.0.5"} {
		if strings.Contains(stdout, private) {
			t.Errorf("the private address %s made an incident:\n%s", private, stdout)
		}
	}
	if strings.Contains(stdout, "92.118.39.5") {
		t.Errorf("an address below the threshold made an incident:\n%s", stdout)
	}
	// Every command shows times in reporter.timezone (the demo's is Europe/Berlin, an
	// hour ahead of UTC in November), as the scan's table and the reports do; a table
	// names the zone once, in its columns' titles.
	if !strings.Contains(stdout, "FIRST SEEN (+0100)") || !strings.Contains(stdout, "2026-11-20 03:12 ") {
		t.Errorf("the scan's table does not show 45.134.26.17's first line in reporter.timezone:\n%s", stdout)
	}
	// Asked for a time after them, `incidents` says how far back the newest began.
	out, errOut, code := runBinary(t, dir, "incidents", "--since", "1h", "--config", repoPath(t, "configs/demo.toml"))
	if code != 0 || !strings.Contains(out, "The newest began on 2026-11-20 06:05 +0100: abusewatch incidents --config ") {
		t.Errorf("incidents --since 1h does not say how far back the incidents are (exit %d):\n%s%s", code, out, errOut)
	} else {
		// The command it gives must list the newest (the older ones, some hours before
		// it, fall out of the days it counts back at some hours of the day).
		hint := strings.Fields(out[strings.Index(out, "abusewatch incidents"):])[1:]
		if out, errOut, code := runBinary(t, dir, hint...); code != 0 || !strings.Contains(out, "81.2.69.160") {
			t.Errorf("%v (exit %d):\n%s%s", hint, code, out, errOut)
		}
	}
	// The mistyping admin's failures are events, never an incident: ip says why.
	if out, errOut, code := runBinary(t, dir, "ip", "10.20.0.77", "--since", "2026-11-01", "--config", repoPath(t, "configs/demo.toml")); code != 0 ||
		!strings.Contains(out, "Never reported: 10.0.0.0/8 is special-purpose (private") {
		t.Errorf("ip of a private address does not say it is never reported (exit %d):\n%s%s", code, out, errOut)
	}
	for _, args := range [][]string{{"incidents", "--since", "2026-11-01"}, {"ip", "45.134.26.17", "--since", "2026-11-01"}} {
		out, errOut, code := runBinary(t, dir, append(args, "--config", repoPath(t, "configs/demo.toml"))...)
		if code != 0 || !strings.Contains(out, "2026-11-20 03:15") || !strings.Contains(out, "LAST SEEN (+0100)") {
			t.Errorf("%s does not show 45.134.26.17's last line at 03:15 as the scan does (exit %d):\n%s%s", args[0], code, out, errOut)
		}
	}
	files, err := reportMails(filepath.Join(dir, "abusewatch-demo", "maildir"))
	if err != nil || len(files) != 4 {
		t.Fatalf("maildir/new holds %d files (%v); want 4 reports", len(files), err)
	}
	want := map[string][]string{ // recipient → the attacking addresses its report must name
		"abuse@hostco.example":       {"45.134.26.17"},
		"abuse@relay-net.example":    {"185.220.101.44"},
		"anti-spam@backbone.example": {"218.92.0.31", "218.92.1.150"},
		"abuse@apac-cloud.example":   {"103.145.13.90"},
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m, err := mail.ReadMessage(strings.NewReader(string(raw)))
		if err != nil {
			t.Fatalf("%s is not a mail: %v", f, err)
		}
		to, err := m.Header.AddressList("To")
		if err != nil || len(to) == 0 {
			t.Fatalf("%s: To: %v", f, err)
		}
		addrs, ok := want[to[0].Address]
		if !ok {
			t.Errorf("%s goes to %s, which is no demo contact", f, to[0].Address)
			continue
		}
		delete(want, to[0].Address)
		body := decodedBody(t, m)
		for _, a := range addrs {
			if !strings.Contains(m.Header.Get("Subject")+body, a) {
				t.Errorf("the report to %s does not name %s", to[0].Address, a)
			}
		}
		if !strings.Contains(stdout, f[len(dir)+1:]) {
			t.Errorf("the table does not say where %s is", f)
		}
	}
	if len(want) > 0 {
		t.Errorf("no report to %v", want)
	}

	// Scanning the same file again counts nothing twice.
	stdout, _, code = runBinary(t, dir, "scan", "--config", repoPath(t, "configs/demo.toml"), repoPath(t, "configs/demo/auth.log"))
	if code != 0 || !strings.Contains(stdout, "Nothing new") {
		t.Errorf("second scan: exit %d\n%s", code, stdout)
	}
	if again, _ := reportMails(filepath.Join(dir, "abusewatch-demo", "maildir")); len(again) != 4 {
		t.Errorf("second scan left %d report files; want still 4", len(again))
	}
}

func TestScanJSONSummary(t *testing.T) {
	dir := t.TempDir()
	stdout, stderr, code := runBinary(t, dir, "scan", "--json", "--config", repoPath(t, "configs/demo.toml"), repoPath(t, "configs/demo/auth.log"))
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	sum := scanCounts(t, stdout)
	lines, err := os.ReadFile(repoPath(t, "configs/demo/auth.log"))
	if err != nil {
		t.Fatal(err)
	}
	if int(sum["lines"]) != strings.Count(string(lines), "\n") {
		t.Errorf("lines = %v; the demo log has %d", sum["lines"], strings.Count(string(lines), "\n"))
	}
	if sum["events"]+sum["normal"]+sum["unknown"]+sum["unparsed"]+sum["continued"] != sum["lines"] {
		t.Errorf("events+normal+unknown+unparsed+continued != lines: %v", sum)
	}
	if sum["incidents"] != 6 || sum["reports"] != 4 || sum["unparsed"] != 1 || sum["elapsed_seconds"] <= 0 {
		t.Errorf("summary = %v", sum)
	}
}

// scanCounts are the numbers of scan --json's summary object, by key (read_before,
// a list, left out).
func scanCounts(t *testing.T, stdout string) map[string]float64 {
	t.Helper()
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(stdout), &raw); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, stdout)
	}
	sum := map[string]float64{}
	for k, v := range raw {
		var n float64
		if json.Unmarshal(v, &n) == nil {
			sum[k] = n
		}
	}
	return sum
}

func TestScanSinceSkipsOlderEvents(t *testing.T) {
	dir := t.TempDir()
	// The demo's attacks run from 02:12 to 05:05 UTC; from 04:00 on only 103.145.13.90 and 81.2.69.160 remain.
	stdout, stderr, code := runBinary(t, dir, "scan", "--since", "2026-11-20T04:00:00Z", "--config", repoPath(t, "configs/demo.toml"), repoPath(t, "configs/demo/auth.log"))
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "2 incidents, 1 report written") || strings.Contains(stdout, "45.134.26.17") {
		t.Errorf("--since did not skip the older attacks:\n%s", stdout)
	}
}

// demoNewestEvent is the time of the demo log's newest event (a failed login; the cron
// lines after it are normal).
var demoNewestEvent = time.Date(2026, 11, 20, 5, 30, 2, 100_000_000, time.UTC)

// demoLogEndingNow writes the demo log into dir with its times moved so that its newest
// event is a second before now, as if it had been written up to now, and returns its
// path: policy.max_age counts back from the clock.
func demoLogEndingNow(t *testing.T, dir string) string {
	t.Helper()
	doc, err := os.ReadFile(repoPath(t, "configs/demo/auth.log"))
	if err != nil {
		t.Fatal(err)
	}
	const layout = "2006-01-02T15:04:05.000000-07:00"
	shift := time.Now().Add(-time.Second).Sub(demoNewestEvent)
	lines := bytes.SplitAfter(doc, []byte("\n"))
	for i, l := range lines {
		if len(l) < len(layout) {
			continue
		}
		if at, err := time.Parse(layout, string(l[:len(layout)])); err == nil {
			lines[i] = append([]byte(at.Add(shift).UTC().Format(layout)), l[len(layout):]...)
		}
	}
	log := filepath.Join(dir, "auth.log")
	if err := os.WriteFile(log, bytes.Join(lines, nil), 0o644); err != nil {
		t.Fatal(err)
	}
	return log
}

// policy.max_age counts back from now (the demo log is moved so that its newest event,
// at 05:30 UTC, is now): an hour and a half leaves only 103.145.13.90 (until 04:02 UTC)
// to report, and the table says why the older ones are not.
func TestScanSaysWhichIncidentsAreTooOldToReport(t *testing.T) {
	dir := t.TempDir()
	b, err := os.ReadFile(repoPath(t, "configs/demo.toml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "demo.toml")
	doc := strings.Replace(string(b), "max_age = \"0s\"\n", "max_age = \"1h30m\"\n", 1)
	if err := os.WriteFile(cfg, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runBinary(t, dir, "scan", "--config", cfg, demoLogEndingNow(t, dir))
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "6 incidents, 1 report written") {
		t.Errorf("want one report, of the newest attack:\n%s", stdout)
	}
	for _, line := range strings.Split(stdout, "\n") {
		stale := strings.HasPrefix(line, "45.134.26.17") || strings.HasPrefix(line, "185.220.101.44") || strings.HasPrefix(line, "218.92.")
		if stale && !strings.Contains(line, "not reported: it ended more than policy.max_age (1h30m0s) ago") {
			t.Errorf("a stale incident's line does not say why it is not reported: %s", line)
		}
		if strings.HasPrefix(line, "103.145.13.90") && !strings.Contains(line, "sent to") {
			t.Errorf("the newest attack was not reported: %s", line)
		}
	}
}

func TestScanReadsCompressedLogsAndRefusesBadArguments(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"scan", "--config", repoPath(t, "configs/demo.toml")}, 2, "name at least one log file"},
		{[]string{"scan", "--since", "last tuesday", "--config", repoPath(t, "configs/demo.toml"), "x.log"}, 2, `--since "last tuesday"`},
		{[]string{"scan", "--config", repoPath(t, "configs/demo.toml"), filepath.Join(dir, "missing.log")}, 1, "missing.log: no such file"},
		{[]string{"scan", "--bogus"}, 2, "flag provided but not defined: -bogus"},
		{[]string{"scan", "--config", repoPath(t, "configs/demo.toml"), "-"}, 2, `not standard input ("-"): it keeps how far each was read`},
	} {
		_, stderr, code := runBinary(t, dir, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", tc.args, code, stderr, tc.code, tc.want)
		}
	}

	// A compressed rotated log reads like the plain one.
	raw, err := os.ReadFile(repoPath(t, "configs/demo/auth.log"))
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw)
	zw.Close()
	rotated := filepath.Join(dir, "auth.log.2.gz")
	if err := os.WriteFile(rotated, gz.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runBinary(t, dir, "scan", "--config", repoPath(t, "configs/demo.toml"), rotated)
	if code != 0 || !strings.Contains(stdout, "6 incidents, 4 reports written") {
		t.Errorf("scan of a .gz: exit %d\n%s%s", code, stdout, stderr)
	}

	// So do the copies bzip2, xz and zstd made (logrotate's compresscmd), whatever
	// their names; lz4's is refused by name, not read as lines of garbage.
	for _, name := range []string{"auth.log.bz2", "auth.log.xz", "auth.log.zst"} {
		b, err := os.ReadFile(repoPath(t, "daemon/testdata/compressed/"+name))
		if err != nil {
			t.Fatal(err)
		}
		renamed := filepath.Join(t.TempDir(), "auth.log.1")
		if err := os.WriteFile(renamed, b, 0o644); err != nil {
			t.Fatal(err)
		}
		stdout, stderr, code := runBinary(t, t.TempDir(), "scan", "--config", repoPath(t, "configs/demo.toml"), renamed)
		if code != 0 || !strings.Contains(stdout, "Read 23 lines: 19 events, 4 normal, 0 unknown, 0 unparsed.") {
			t.Errorf("scan of %s: exit %d\n%s%s", name, code, stdout, stderr)
		}
	}
	lz4 := repoPath(t, "daemon/testdata/compressed/auth.log.lz4")
	stdout, stderr, code = runBinary(t, t.TempDir(), "scan", "--config", repoPath(t, "configs/demo.toml"), lz4)
	if code != 1 || !strings.Contains(stderr, lz4+": compressed with lz4, which abusewatch cannot read") || strings.Contains(stdout, "unparsed") {
		t.Errorf("scan of an lz4 copy: exit %d\n%s%s", code, stdout, stderr)
	}
}

// In review mode scan says the reports wait for approval, not that their mails are in
// the maildir (none is yet); once approved, the next scan delivers them, though it reads
// nothing new, and says where they went.
func TestScanInReviewModeSaysWhereTheReportsAre(t *testing.T) {
	dir, cfg := demoConfigFile(t, "review")
	stdout, stderr, code := runBinary(t, dir, "scan", "--config", cfg, repoPath(t, "configs/demo/auth.log"))
	// The reports wait; the mail to the admin about the login after failures does not
	// (it never goes outside), and the scan says where it is.
	if code != 0 || !strings.Contains(stdout, "The reports wait for your approval") || strings.Contains(stdout, "delivered") ||
		!strings.Contains(stdout, "1 possible compromise mailed to you (root@example.org) at once") {
		t.Fatalf("scan in review mode: exit %d; want it to say the reports wait, none delivered, and the admin mailed:\n%s%s", code, stdout, stderr)
	}
	if stdout, stderr, code := runBinary(t, dir, "report", "approve", "--all", "--config", cfg); code != 0 || !strings.Contains(stdout, "the next scan does") {
		t.Fatalf("report approve --all: exit %d\n%s%s", code, stdout, stderr)
	}
	stdout, stderr, code = runBinary(t, dir, "scan", "--json", "--config", cfg, repoPath(t, "configs/demo/auth.log"))
	var sum scanSummary
	if err := json.Unmarshal([]byte(stdout), &sum); code != 0 || err != nil || sum.Lines != 0 || sum.Delivered != 4 {
		t.Fatalf("scan again: exit %d, %+v (%v); want nothing read and 4 reports delivered\n%s", code, sum, err, stderr)
	}
	if files, _ := reportMails(filepath.Join(dir, "maildir")); len(files) != 4 {
		t.Errorf("maildir/new holds %d files; want the 4 approved reports", len(files))
	}
}

// A network's incident shows, in the scan's table and in `incidents`, how many of its
// addresses it came from, and a scan says why it is not reported when no contact was
// found (the demo's table has none for this network, and RDAP is off).
func TestANetworkIncidentShowsItsAddressesAndWhyItWaits(t *testing.T) {
	dir := t.TempDir()
	var log strings.Builder
	at := time.Date(2026, 11, 20, 6, 30, 0, 0, time.UTC)
	for i := range 14 {
		for k := range 2 {
			at = at.Add(3 * time.Second)
			ts := at.Format("2006-01-02T15:04:05.000000-07:00")
			fmt.Fprintf(&log, "%s web1 sshd[%d]: Invalid user test%d from 91.240.118.%d port 40000\n", ts, 5000+2*i+k, k, 10+i)
			fmt.Fprintf(&log, "%s web1 sshd[%d]: Failed password for invalid user test%d from 91.240.118.%d port 40000 ssh2\n", ts, 5000+2*i+k, k, 10+i)
		}
	}
	logFile := filepath.Join(dir, "auth.log")
	if err := os.WriteFile(logFile, []byte(log.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	config := repoPath(t, "configs/demo.toml")
	stdout, stderr, code := runBinary(t, dir, "scan", "--config", config, logFile)
	if code != 0 || !strings.Contains(stdout, "91.240.118.0/24 (14 addresses)") ||
		!strings.Contains(stdout, "not reported: no abuse contact found at ") {
		t.Errorf("scan: exit %d\n%s%s", code, stdout, stderr)
	}
	stdout, stderr, code = runBinary(t, dir, "incidents", "--since", "2026-11-01", "--config", config)
	if code != 0 || !strings.Contains(stdout, "91.240.118.0/24 (14 addresses)") {
		t.Errorf("incidents: exit %d\n%s%s", code, stdout, stderr)
	}
}

// The scan table's LAST SEEN gives the date when it is not FIRST SEEN's, and the offset
// when it changed: a recurrence over weeks, or across a change of summer time.
func TestScanLastSeenCell(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip(err)
	}
	first := time.Date(2026, 10, 1, 10, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		last time.Time
		want string
	}{
		{first.Add(5 * time.Minute), "12:05"},
		{first.Add(48 * time.Hour), "2026-10-03 12:00"},
		{first.Add(27 * 24 * time.Hour), "2026-10-28 11:00"},
	} {
		if got := lastSeenCell(first, c.last, berlin); got != c.want {
			t.Errorf("last %v: %q, want %q", c.last, got, c.want)
		}
	}
	// The zone is said once, in the column's title: the offset the times share, or,
	// when a summer time ended among them, the zone's names.
	for _, c := range []struct {
		ts   []time.Time
		want string
	}{
		{[]time.Time{first, first.Add(48 * time.Hour)}, "LAST SEEN (+0200)"},
		{[]time.Time{first, first.Add(27 * 24 * time.Hour)}, "LAST SEEN (CEST/CET)"},
	} {
		if got := zoneTitle("LAST SEEN", berlin, c.ts); got != c.want {
			t.Errorf("zoneTitle(%v) = %q, want %q", c.ts, got, c.want)
		}
	}
}

// reportMails lists the mails in maildir's new/ but the admin's: the demo's login after
// failures is mailed to mail.admin (root@example.org) at once, beside the reports.
func reportMails(maildir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(maildir, "new", "*"))
	var out []string
	for _, f := range files {
		b, rerr := os.ReadFile(f)
		if rerr != nil {
			return nil, rerr
		}
		if !bytes.Contains(b, []byte("\r\nTo: <root@example.org>\r\n")) {
			out = append(out, f)
		}
	}
	return out, err
}
