package daemon

// The lines of an attack already reported that arrive after the report went, from a
// second host whose clock is behind or whose forwarding was late, through the real
// pipeline (detect, store, correlate, outbox, maildir) with a clock the test sets:
// they are kept for the admin, and no second report about the same minutes goes to
// the desk, with a cooldown or without one. A new attack afterwards is reported.

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// latePipeline is a pipeline in auto mode writing to a maildir, with cooldown as
// policy.cooldown ("": the default, 7 days).
func latePipeline(t *testing.T, cooldown string) (*Pipeline, *Config) {
	t.Helper()
	dir := t.TempDir()
	if cooldown != "" {
		cooldown = `cooldown = "` + cooldown + `"`
	}
	doc := `
[[source]]
files = ["` + periodLog + `"]

[reporter]
name = "Sam Example"
organisation = "Example Hosting Ltd"
email = "security@example.org"
timezone = "UTC"

[detect]
timezone = "UTC"

[correlate]
threshold = 5
window = "10m"

[lookup]
rdap = false
resolvers = ["127.0.0.1:1"]
timeout = "100ms"

[[contact]]
network = "45.134.26.0/24"
emails = ["abuse@hostco.example"]

[mail]
transport = "maildir"
maildir = "` + filepath.Join(dir, "maildir") + `"
from = "abusewatch@example.org"
admin = "root@example.org"

[policy]
settle = "0s"
mode = "auto"
` + cooldown + `

[store]
path = "` + filepath.Join(dir, "state.db") + `"
`
	cfg := parseTestConfig(t, "/etc/abusewatch/abusewatch.toml", doc)
	p, err := NewPipeline(cfg, openTestStore(t, cfg), discardLog())
	if err != nil {
		t.Fatal(err)
	}
	return p, cfg
}

// loginsOn are n failed logins from addr logged by host, one a minute from at.
func loginsOn(host, addr string, at time.Time, n int) []string {
	var out []string
	for i := range n {
		ts := at.Add(time.Duration(i) * time.Minute).UTC().Format(time.RFC3339)
		out = append(out, fmt.Sprintf("%s %s sshd[%d]: Failed password for root from %s port %d ssh2", ts, host, 500+i, addr, 42000+i))
	}
	return out
}

// abuseReports are the "First seen" times of the abuse reports in maildir (the admin's
// mail aside), sorted, each with " follows" when it names an earlier report.
func abuseReports(t *testing.T, maildir string) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(maildir, "new", "*"))
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		msg := string(b)
		if !strings.Contains(msg, "\nSubject: Abuse report") {
			continue
		}
		seen := regexp.MustCompile(`First seen: +(\S+ \S+)`).FindStringSubmatch(msg)
		if seen == nil {
			t.Fatalf("an abuse report without a first seen time:\n%s", msg)
		}
		if strings.Contains(msg, "This follows our report") {
			seen[1] += " follows"
		}
		out = append(out, seen[1])
	}
	slices.Sort(out)
	return out
}

// web1 logs an attack from 07:00 to 07:07 and it is reported at 07:10; then the lines
// of it from three more hosts arrive: web2's, its clock ten minutes behind
// (06:50-06:57), web3's, forwarded late (07:00:30-07:05:30), and web4's, dated after
// web1's last line but before the report (07:08-07:09). One report only, whatever the
// cooldown, and the late lines in `ip`. The attack going on after the report
// (07:11-07:13) is its follow-up, and a new attack a week later is reported too, each
// following the first to the same desk.
func TestLateLinesOfAReportedAttackMakeNoSecondReport(t *testing.T) {
	const addr = "45.134.26.7"
	for _, cooldown := range []string{"0s", ""} {
		name := "cooldown " + cooldown
		if cooldown == "" {
			name = "default cooldown"
		}
		t.Run(name, func(t *testing.T) {
			p, cfg := latePipeline(t, cooldown)
			feed := &periodFeed{p: p}
			tick := func(now time.Time) {
				t.Helper()
				if err := p.Tick(t.Context(), now); err != nil {
					t.Fatal(err)
				}
			}
			reports := func(when string, want ...string) {
				t.Helper()
				if got := abuseReports(t, cfg.Mail.Maildir); !slices.Equal(got, want) {
					t.Errorf("%s: reports first seen %q, want %q", when, got, want)
				}
			}
			tick(utc(20, 6, 30))
			feed.lines(t, loginsOn("web1", addr, utc(20, 7, 0), 8)...)
			tick(utc(20, 7, 10))
			reports("after the attack", "2026-11-20 07:00:00")

			feed.lines(t, loginsOn("web2", addr, utc(20, 6, 50), 8)...)
			feed.lines(t, loginsOn("web3", addr, utc(20, 7, 0).Add(30*time.Second), 6)...)
			feed.lines(t, loginsOn("web4", addr, utc(20, 7, 8), 2)...)
			tick(utc(20, 7, 10).Add(30 * time.Second))
			tick(utc(28, 8, 0)) // past the default cooldown
			reports("after the late lines", "2026-11-20 07:00:00")
			reps, err := p.store.Reports()
			if err != nil {
				t.Fatal(err)
			}
			if len(reps) != 1 {
				t.Errorf("%d reports in the outbox, want 1", len(reps))
			}

			// The attack goes on after the report: its follow-up.
			feed.lines(t, loginsOn("web1", addr, utc(20, 7, 11), 3)...)
			tick(utc(28, 8, 5))
			tick(utc(36, 8, 10))
			reports("after the attack went on", "2026-11-20 07:00:00", "2026-11-20 07:11:00 follows")

			// Kept for the admin: `ip` counts the late lines, with the hosts they hit.
			info, err := QueryNetwork(p.store, netip.MustParsePrefix(addr+"/32"), utc(20, 0, 0), utc(36, 8, 10), time.UTC, nil)
			if err != nil {
				t.Fatal(err)
			}
			if info.Events != 27 || info.Hosts["web2"] != 8 || info.Hosts["web3"] != 6 || info.Hosts["web4"] != 2 {
				t.Errorf("ip: %d events, hosts %v; want 27, web2's 8, web3's 6 and web4's 2 among them", info.Events, info.Hosts)
			}
			for _, inc := range info.Incidents {
				if inc.ReportID == "" {
					t.Errorf("ip: incident %s (%s) from %s to %s has no report: %s", inc.ID, inc.Key,
						inc.First.Format(time.TimeOnly), inc.Last.Format(time.TimeOnly), inc.Unreported)
				}
			}

			// A new attack, a week later, is reported.
			feed.lines(t, loginsOn("web1", addr, utc(36, 9, 0), 6)...)
			tick(utc(36, 9, 30))
			tick(utc(44, 9, 30)) // past the default cooldown
			reports("after a new attack", "2026-11-20 07:00:00", "2026-11-20 07:11:00 follows", "2026-12-06 09:00:00 follows")
		})
	}
}
