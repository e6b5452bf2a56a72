package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/abusewatch/abusewatch/daemon"
)

// privacy40's H2 (its t1 log): bob types his password as the user name at home, fails
// five more times as bob, and logs in as bob from his phone minutes later. The report
// to the home ISP would quote his password and his account.
const typoAtHome = "" +
	"2026-12-07T08:20:00.100000+00:00 bastion sshd[2100]: Invalid user Tr0ub4dor&3 from 81.2.69.6 port 6000\n" +
	"2026-12-07T08:20:01.100000+00:00 bastion sshd[2100]: Failed password for invalid user Tr0ub4dor&3 from 81.2.69.6 port 6000 ssh2\n" +
	"2026-12-07T08:20:05.100000+00:00 bastion sshd[2101]: Failed password for bob from 81.2.69.6 port 6001 ssh2\n" +
	"2026-12-07T08:20:06.100000+00:00 bastion sshd[2102]: Failed password for bob from 81.2.69.6 port 6002 ssh2\n" +
	"2026-12-07T08:20:07.100000+00:00 bastion sshd[2103]: Failed password for bob from 81.2.69.6 port 6003 ssh2\n" +
	"2026-12-07T08:20:08.100000+00:00 bastion sshd[2104]: Failed password for bob from 81.2.69.6 port 6004 ssh2\n" +
	"2026-12-07T08:20:09.100000+00:00 bastion sshd[2105]: Failed password for bob from 81.2.69.6 port 6005 ssh2\n"

// scanIncidents scans lines (ownUserConfig) and returns the scan's summary and the
// incident of 81.2.69.6.
func scanIncidents(t *testing.T, lines string, evidence int) (scanSummary, daemon.IncidentInfo) {
	t.Helper()
	dir, cfg := ownUserConfig(t, evidence)
	return scanMore(t, dir, cfg, lines)
}

// ownUserConfig is the demo's config in review mode with correlate.evidence as given.
func ownUserConfig(t *testing.T, evidence int) (string, string) {
	t.Helper()
	dir, cfg := demoConfigFile(t, "review")
	doc, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	doc = []byte(strings.Replace(string(doc), `window = "10m"`, fmt.Sprintf("window = \"10m\"\nevidence = %d", evidence), 1))
	if err := os.WriteFile(cfg, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, cfg
}

// scanMore appends lines to the log of dir and scans it again.
func scanMore(t *testing.T, dir, cfg, lines string) (scanSummary, daemon.IncidentInfo) {
	t.Helper()
	log := filepath.Join(dir, "auth.log")
	f, err := os.OpenFile(log, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(lines); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runBinary(t, dir, "scan", "--json", "--config", cfg, log)
	var sum scanSummary
	if err := json.Unmarshal([]byte(stdout), &sum); code != 0 || err != nil {
		t.Fatalf("scan: exit %d (%v)\n%s%s", code, err, stdout, stderr)
	}
	stdout, stderr, code = runBinary(t, dir, "incidents", "--json", "--since", "3650d", "--config", cfg)
	var list daemon.IncidentList
	if err := json.Unmarshal([]byte(stdout), &list); code != 0 || err != nil {
		t.Fatalf("incidents: exit %d (%v)\n%s%s", code, err, stdout, stderr)
	}
	for _, inc := range list.Incidents {
		if inc.Key == "ip:81.2.69.6" {
			return sum, inc
		}
	}
	t.Fatalf("no incident of 81.2.69.6 in %s", stdout)
	return sum, daemon.IncidentInfo{}
}

func TestOwnUserTypingOnANewAddressIsForTheAdminOnly(t *testing.T) {
	login := "2026-12-07T08:25:00.100000+00:00 bastion sshd[2200]: Accepted publickey for bob from 37.120.5.5 port 7000 ssh2: ED25519 SHA256:abc\n"
	sum, inc := scanIncidents(t, typoAtHome+login, 10)
	if sum.Reports != 0 {
		t.Errorf("%d reports, want none: bob's typing goes to no one outside", sum.Reports)
	}
	want := "failures for bob from 81.2.69.6, who logged in from 37.120.5.5 at 2026-12-07T08:25:00Z"
	if !inc.AdminOnly || inc.UnreportedCode != "own-user-elsewhere" || !strings.Contains(inc.Unreported, want) {
		t.Errorf("admin only %v, %s: %q; want own-user-elsewhere saying %q", inc.AdminOnly, inc.UnreportedCode, inc.Unreported, want)
	}
}

// The boundaries: what is not a person's typing is reported as before.
func TestOwnUserElsewhereHoldsNoAttack(t *testing.T) {
	rootByKey := "2026-12-07T08:21:00.100000+00:00 bastion sshd[2300]: Accepted publickey for root from 37.120.5.5 port 7001 ssh2: ED25519 SHA256:abc\n"
	bobLogin := "2026-12-07T08:25:00.100000+00:00 bastion sshd[2200]: Accepted publickey for bob from 37.120.5.5 port 7000 ssh2: ED25519 SHA256:abc\n"
	var rootBrute, longer, names, fewConnections strings.Builder
	for i := range 300 {
		fmt.Fprintf(&rootBrute, "2026-12-07T08:20:%02d.%06d+00:00 bastion sshd[%d]: Failed password for root from 81.2.69.6 port %d ssh2\n", i%60, i, 3000+i, 10000+i)
	}
	// one more attempt than twice the threshold (5)
	for i := range 11 {
		fmt.Fprintf(&longer, "2026-12-07T08:20:%02d.100000+00:00 bastion sshd[%d]: Failed password for bob from 81.2.69.6 port %d ssh2\n", 10+i, 4000+i, 11000+i)
	}
	// five connections, twelve tries: more lines than the evidence (10) holds
	for i := range 12 {
		fmt.Fprintf(&fewConnections, "2026-12-07T08:20:%02d.100000+00:00 bastion sshd[%d]: Failed password for bob from 81.2.69.6 port %d ssh2\n", 10+i, 4000+i*5/12, 11000+i*5/12)
	}
	// three invalid user names beside bob
	for i, u := range []string{"admin", "test", "oracle"} {
		fmt.Fprintf(&names, "2026-12-07T08:20:%02d.100000+00:00 bastion sshd[%d]: Failed password for invalid user %s from 81.2.69.6 port %d ssh2\n", i, 5000+i, u, 12000+i)
	}
	for _, tt := range []struct {
		name, lines string
		evidence    int
	}{
		{"root brute force, root logged in by key elsewhere", rootBrute.String() + rootByKey, 10},
		{"a few failures for root, root logged in by key elsewhere", strings.ReplaceAll(typoAtHome, "for bob", "for root") + rootByKey, 10},
		{"more attempts than twice the threshold", longer.String() + bobLogin, 50},
		{"more lines than the evidence holds", fewConnections.String() + bobLogin, 10},
		{"more than two invalid user names", names.String() + strings.Join(strings.SplitAfter(typoAtHome, "\n")[2:], "") + bobLogin, 10},
		{"bob logged in from elsewhere, but alice failed too", typoAtHome + strings.ReplaceAll(strings.SplitAfter(typoAtHome, "\n")[6], "for bob", "for alice") + bobLogin, 10},
		{"bob logged in long after", typoAtHome + strings.ReplaceAll(bobLogin, "08:25:00", "09:25:00"), 10},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sum, inc := scanIncidents(t, tt.lines, tt.evidence)
			if sum.Reports != 1 || inc.AdminOnly || inc.UnreportedCode == "own-user-elsewhere" {
				t.Errorf("%d reports, admin only %v (%s: %s); want the attack reported", sum.Reports, inc.AdminOnly, inc.UnreportedCode, inc.Unreported)
			}
		})
	}
}

// A login from the failing address itself is a possible compromise, as before.
func TestOwnUserLoginFromTheSameAddressIsAPossibleCompromise(t *testing.T) {
	login := "2026-12-07T08:25:00.100000+00:00 bastion sshd[2200]: Accepted publickey for bob from 81.2.69.6 port 7000 ssh2: ED25519 SHA256:abc\n"
	sum, inc := scanIncidents(t, typoAtHome+login, 10)
	if sum.Reports != 0 || sum.Alerted != 1 || !inc.Success || inc.UnreportedCode != "possible-compromise" {
		t.Errorf("%d reports, %d compromises mailed, success %v, %s; want 0, 1, true, possible-compromise", sum.Reports, sum.Alerted, inc.Success, inc.UnreportedCode)
	}
}

// Held as bob's typing, the incident goes on as a brute force: it is reported, and
// bob's login from his phone, which the admin was shown, is no line of it.
func TestOwnUserElsewhereThatGrowsIntoAnAttackIsReportedWithoutTheLogin(t *testing.T) {
	login := "2026-12-07T08:25:00.100000+00:00 bastion sshd[2200]: Accepted publickey for bob from 37.120.5.5 port 7000 ssh2: ED25519 SHA256:abc\n"
	dir, cfg := ownUserConfig(t, 50)
	sum, inc := scanMore(t, dir, cfg, typoAtHome+login)
	if sum.Reports != 0 || inc.UnreportedCode != "own-user-elsewhere" {
		t.Fatalf("%d reports, %s; want none, own-user-elsewhere", sum.Reports, inc.UnreportedCode)
	}
	var more strings.Builder
	for i := range 30 {
		fmt.Fprintf(&more, "2026-12-07T08:26:%02d.100000+00:00 bastion sshd[%d]: Failed password for bob from 81.2.69.6 port %d ssh2\n", i, 6000+i, 13000+i)
	}
	sum, inc = scanMore(t, dir, cfg, more.String())
	if sum.Reports != 1 || inc.AdminOnly || inc.Count != 37 {
		t.Errorf("%d reports, admin only %v, %d lines; want the attack's 37 lines reported", sum.Reports, inc.AdminOnly, inc.Count)
	}
	for _, e := range inc.Evidence {
		if e.Addr.String() != "81.2.69.6" {
			t.Errorf("its evidence holds %s's line %q", e.Addr, e.Line)
		}
	}
}
