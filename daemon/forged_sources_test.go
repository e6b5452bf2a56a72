package daemon

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/mailer/mailtest"
)

// The cases of review 21b H2 and H3 (/tmp/rv21b net, split, rec24, rec24s) through the
// real pipeline: real sshd and ufw lines, static contacts, mail to a maildir with X-ARF
// parts. Forged packets "from" addresses of a /24 beside real failed logins must never
// name those addresses to anyone outside.

// forgedPipeline is the review's pipeline: threshold 5 in 10m, network_addresses 10,
// recurrence_days 10, auto mode without a cooldown, 6.0.0.0/8's abuse desk and the
// contacts extra adds.
func forgedPipeline(t *testing.T, extra string) (*Pipeline, *Config) {
	t.Helper()
	dir := t.TempDir()
	doc := `
[reporter]
name = "Rev"
organisation = "Rev Org"
email = "sec@ourorg.example"
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
network = "6.0.0.0/8"
emails = ["abuse@six.example"]
` + extra + `
[mail]
transport = "maildir"
maildir = "` + filepath.Join(dir, "maildir") + `"
from = "abusewatch@ourorg.example"
admin = "admin@ourorg.example"
xarf = true
[policy]
settle = "0s"
mode = "auto"
cooldown = "0s"
[summary]
time = ""
[store]
path = "` + filepath.Join(dir, "state.db") + `"
`
	cfg := parseTestConfig(t, filepath.Join(dir, "abusewatch.toml"), doc)
	p, err := NewPipeline(cfg, openTestStore(t, cfg), discardLog())
	if err != nil {
		t.Fatal(err)
	}
	return p, cfg
}

// ufwUDP is a ufw line of one UDP packet "from" a to our SNMP port: anyone can send it.
func ufwUDP(at time.Time, a string) string {
	return at.Format(time.RFC3339) + " web1 kernel: [1234.5] [UFW BLOCK] IN=eth0 OUT= MAC=00:00:00:00:00:00:00:00:00:00:00:00:08:00 SRC=" + a +
		" DST=203.0.113.5 LEN=40 TOS=0x00 PREC=0x00 TTL=245 ID=54321 PROTO=UDP SPT=55555 DPT=161 LEN=20"
}

// sshdFail is a failed SSH login of a.
func sshdFail(at time.Time, a string, port int) string {
	return fmt.Sprintf("%s web1 sshd[100]: Failed password for alice from %s port %d ssh2", at.Format(time.RFC3339), a, port)
}

// records are lines as the auth log holds them.
func records(lines []string) []abusewatch.Record {
	var out []abusewatch.Record
	var off int64
	for _, l := range lines {
		off += int64(len(l) + 1)
		out = append(out, abusewatch.Record{Source: "/var/log/syslog", Line: l, Offset: off})
	}
	return out
}

// forgedMail is a mail of the maildir: its recipient, text and X-ARF parts' sources.
type forgedMail struct {
	to, text string
	xarf     []string
}

// forgedRun ingests lines, runs two rounds after the last and returns the mails sent
// to abuse desks (the admin's aside).
func forgedRun(t *testing.T, p *Pipeline, cfg *Config, lines []string, after time.Time) []forgedMail {
	t.Helper()
	if err := p.Ingest(t.Context(), records(lines), nil); err != nil {
		t.Fatal(err)
	}
	for _, at := range []time.Time{after, after.Add(5 * time.Minute)} {
		if err := p.Tick(t.Context(), at); err != nil {
			t.Fatal(err)
		}
	}
	files, _ := filepath.Glob(filepath.Join(cfg.Mail.Maildir, "new", "*"))
	var out []forgedMail
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		h, parts, err := mailtest.Parts(raw)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(h.Get("To"), "admin@ourorg.example") {
			continue
		}
		m := forgedMail{to: h.Get("To"), text: strings.ReplaceAll(mailText(t, raw), "\r\n", "\n")}
		for _, part := range parts[1:] {
			var doc struct {
				Source string `json:"source_identifier"`
			}
			if json.Unmarshal(part.Body, &doc) == nil && doc.Source != "" {
				m.xarf = append(m.xarf, doc.Source)
			}
		}
		slices.Sort(m.xarf)
		out = append(out, m)
	}
	return out
}

// netLines are review 21b's net case: 10 addresses .50-.59 of 6.6.6.0/24 with one
// failed login each, a minute apart, and between them 5 UDP packets "from" spoofed
// .first to .first+4.
func netLines(first int) []string {
	t0 := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	var lines []string
	for i := range 10 {
		if i < 5 {
			lines = append(lines, ufwUDP(t0.Add(time.Duration(i)*time.Minute), fmt.Sprintf("6.6.6.%d", first+i)))
		}
		lines = append(lines, sshdFail(t0.Add(time.Duration(i)*time.Minute+30*time.Second), fmt.Sprintf("6.6.6.%d", 50+i), 40000+i))
	}
	return lines
}

// A network incident of 10 real addresses and 5 forged ones is reported naming the 10
// alone: their count, their lines, their X-ARF parts (review 21b H2, net: "Addresses
// seen: 15", "Connections: 15", X-ARF parts of the forged ones). With the forged
// addresses a sub-delegated party's own network (split), that party gets no report.
func TestForgedNeighboursAreNeverNamedInANetworkReport(t *testing.T) {
	var real []string
	for i := range 10 {
		real = append(real, fmt.Sprintf("6.6.6.%d", 50+i))
	}
	for _, tc := range []struct {
		name, extra string
		first       int
	}{
		{"net", "", 100},
		{"split", "[[contact]]\nnetwork = \"6.6.6.192/26\"\nemails = [\"abuse@customer-b.example\"]\n", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, cfg := forgedPipeline(t, tc.extra)
			mails := forgedRun(t, p, cfg, netLines(tc.first), time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC))
			var network []forgedMail
			for _, m := range mails {
				if strings.Contains(m.text, "6.6.6.0/24") {
					network = append(network, m)
				}
				for i := range 5 {
					if forged := fmt.Sprintf("6.6.6.%d", tc.first+i); strings.Contains(m.text, forged) || slices.Contains(m.xarf, forged) {
						t.Errorf("the mail to %s names the forged %s:\n%s", m.to, forged, m.text)
					}
				}
				if strings.Contains(m.to, "customer-b") {
					t.Errorf("the party of the forged addresses got a report:\n%s", m.text)
				}
			}
			if len(network) != 1 || network[0].to != "<abuse@six.example>" {
				t.Fatalf("network reports %+v; want one to abuse@six.example", network)
			}
			saysAll(t, "the network report", network[0].text, "Addresses seen:  10\n", "Connections:     10 (10 log lines)\n")
			for _, a := range network[0].xarf {
				if !slices.Contains(real, a) {
					t.Errorf("an X-ARF part of %s, not one of the failed logins", a)
				}
			}
		})
	}
}

// ufwPacket is a ufw line of a packet "from" a: "TCP SYN", "ICMP" or "UDP".
func ufwPacket(at time.Time, a, kind string) string {
	tail := map[string]string{
		"TCP SYN": "PROTO=TCP SPT=55555 DPT=23 WINDOW=1024 RES=0x00 SYN URGP=0",
		"ICMP":    "PROTO=ICMP TYPE=8 CODE=0 ID=1 SEQ=1",
		"UDP":     "PROTO=UDP SPT=55555 DPT=161 LEN=20",
	}[kind]
	return at.Format(time.RFC3339) + " web1 kernel: [1234.5] [UFW BLOCK] IN=eth0 OUT= MAC=00:00:00:00:00:00:00:00:00:00:00:00:08:00 SRC=" + a +
		" DST=203.0.113.5 LEN=40 TOS=0x00 PREC=0x00 TTL=245 ID=54321 " + tail
}

// The recurrence cases of review 21b H3 (rec, rec1, rec2, rec24, rec24s): one real
// failed login among days of forged packets. Each was mailed to abuse@six.example (and
// rec24s's forged neighbours' own party, abuse@victim-c.example, got a report of them
// alone); now none is told anyone outside, and the admin still has the recurrence.
func TestOneFailedLoginAmongForgedDaysIsNoRecurrenceReport(t *testing.T) {
	day := func(d int, hour int) time.Time { return time.Date(2026, 11, 20+d, hour, 0, 0, 0, time.UTC) }
	daily := func(kind string, from, to int, addr func(d int) string) (lines []string) {
		for d := from; d <= to; d++ {
			lines = append(lines, ufwPacket(day(d, 9), addr(d), kind))
		}
		return lines
	}
	six := func(int) string { return "6.6.6.6" }
	neighbour := func(d int) string { return fmt.Sprintf("6.6.6.%d", 10+d) }
	victimC := "[[contact]]\nnetwork = \"6.6.6.0/28\"\nemails = [\"abuse@victim-c.example\"]\n"
	for _, tc := range []struct {
		name, extra, key string
		lines            []string
	}{
		{"rec", "", "recur:6.6.6.6/32", append(daily("TCP SYN", 0, 9, six), sshdFail(day(9, 10), "6.6.6.6", 40000))},
		{"rec1", "", "recur:6.6.6.6/32", append(daily("ICMP", 0, 8, six), sshdFail(day(9, 10), "6.6.6.6", 40000))},
		{"rec2", "", "recur:6.6.6.6/32", append([]string{sshdFail(time.Date(2026, 9, 1, 10, 0, 0, 0, time.UTC), "6.6.6.6", 40000)}, daily("UDP", 0, 8, six)...)},
		{"rec24", "", "recur:6.6.6.0/24", append(daily("UDP", 0, 9, neighbour), sshdFail(day(9, 10), "6.6.6.50", 40000))},
		{"rec24s", victimC, "recur:6.6.6.0/24", append(daily("UDP", 0, 9, neighbour), sshdFail(day(9, 10), "6.6.6.50", 40000))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, cfg := forgedPipeline(t, tc.extra)
			for _, m := range forgedRun(t, p, cfg, tc.lines, day(9, 12)) {
				t.Errorf("a report to %s:\n%s", m.to, m.text)
			}
			incs, err := p.store.IncidentsOfKeys([]string{tc.key}, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			if len(incs) != 1 || !incs[0].AdminOnly {
				t.Errorf("incidents of %s: %+v; want one recurrence, for the admin", tc.key, incs)
			}
		})
	}
}

// A recurrence for the admin only says what it lacks: its classes may hold a failed
// login (rec24's did), so "its evidence is probes or spoofable packets" was wrong.
func TestARecurrenceForTheAdminSaysItLacksDaysOrAddresses(t *testing.T) {
	inc := abusewatch.Incident{Rule: "recurrence", AdminOnly: true, Classes: []abusewatch.Class{"auth-failure", "port-probe"}}
	code, why := (&Unreported{}).Reason(inc)
	want := "for you only: fewer than correlate.recurrence_days of its days had reportable, unforgeable evidence, or (of a network) fewer than " +
		"correlate.network_addresses of its addresses sent it (its classes: auth-failure, port-probe); probes or spoofable packets are never reported outside on their own"
	if code != UnreportedAdminOnly || why != want {
		t.Errorf("Reason = %q, %q; want %q, %q", code, why, UnreportedAdminOnly, want)
	}
}
