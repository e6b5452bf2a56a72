package daemon

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Review 21d D0 (fln30) through the real pipeline, a scan a day as the daemon reads
// them: ten real addresses of 6.6.6.0/24, one failed login each on a different day,
// each day after 30 dropped packets "from" 6.6.6.200. The /24's recurrence was for the
// admin only, naming nine: the first day's address was read from its 20 oldest lines,
// all packets. It is mailed to the /24's desk naming the ten, and not 6.6.6.200.
func TestNetworkRecurrenceBehindPacketsIsReported(t *testing.T) {
	p, cfg := forgedPipeline(t, "")
	day := func(d int, clock time.Duration) time.Time {
		return time.Date(2026, 11, 20+d, 0, 0, 0, 0, time.UTC).Add(clock)
	}
	lines := func(d int) (out []string) {
		for i := range 30 {
			out = append(out, ufwUDP(day(d, 8*time.Hour+time.Duration(i)*time.Second), "6.6.6.200"))
		}
		return append(out, sshdFail(day(d, 9*time.Hour), fmt.Sprintf("6.6.6.%d", 50+d), 40000+d))
	}
	for d := range 9 {
		if err := p.Ingest(t.Context(), records(lines(d)), nil); err != nil {
			t.Fatal(err)
		}
	}
	var network []forgedMail
	for _, m := range forgedRun(t, p, cfg, lines(9), day(9, 12*time.Hour)) {
		if strings.Contains(m.text, "6.6.6.0/24") {
			network = append(network, m)
		}
	}
	if len(network) != 1 || network[0].to != "<abuse@six.example>" {
		t.Fatalf("reports of 6.6.6.0/24: %+v; want one to abuse@six.example", network)
	}
	text := network[0].text
	for d := range 10 {
		if a := fmt.Sprintf("6.6.6.%d", 50+d); !regexp.MustCompile(`\b` + regexp.QuoteMeta(a) + `\b`).MatchString(text) {
			t.Errorf("the report does not name %s:\n%s", a, text)
		}
	}
	if strings.Contains(text, "6.6.6.200") {
		t.Errorf("the report names 6.6.6.200, which sent packets alone:\n%s", text)
	}
}

// Review 21d D1 (realpk) through the real pipeline: ten addresses of 6.6.6.0/24, each
// three dropped SYNs to port 22 and one failed login. The report counted 20
// connections (40 lines), quoted 8 packets of 10 lines, gave 3 of 6 X-ARF parts to
// the packets and said "connection attempts that our firewall blocked": all of it is
// its failed logins now.
func TestNetworkReportLeavesOutItsAddressesPackets(t *testing.T) {
	p, cfg := forgedPipeline(t, "")
	t0 := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	var lines []string
	for i := range 10 {
		a := fmt.Sprintf("6.6.6.%d", 50+i)
		for k := range 3 {
			lines = append(lines, ufwPacket(t0.Add(time.Duration(i)*time.Minute+time.Duration(k)*time.Second), a, "TCP SYN"))
		}
		lines = append(lines, sshdFail(t0.Add(time.Duration(i)*time.Minute+30*time.Second), a, 40000+i))
	}
	mails := forgedRun(t, p, cfg, lines, t0.Add(3*time.Hour))
	if len(mails) != 1 || mails[0].to != "<abuse@six.example>" {
		t.Fatalf("reports %+v; want one to abuse@six.example", mails)
	}
	text := mails[0].text
	saysAll(t, "the network report", text, "Addresses seen:  10\n", "Connections:     10 (10 log lines)\n")
	for _, not := range []string{"UFW BLOCK", "firewall", "port_scan"} {
		if strings.Contains(text, not) {
			t.Errorf("the report says %q:\n%s", not, text)
		}
	}
	if len(mails[0].xarf) == 0 {
		t.Errorf("no X-ARF parts:\n%s", text)
	}
}

// Review 22 D2: a /24's recurrence began at the first event of its first day, whatever
// it was, and counted every unforgeable line of the /24 from the daily counters. Ten
// addresses of 6.6.6.0/24 fail a login each, one a day at 09:00, each day after a
// dropped packet "from" another neighbour at 08:00 and a connection of a third, which
// it does not name, that never spoke SSH at 08:30. Its report said "First seen:
// 2026-11-20 08:00:00", the forged packet, and "(20 log lines)", the probes among
// them: it begins at the first failed login and counts the ten. The admin's incident
// keeps the rest.
func TestNetworkRecurrenceIsDatedAndCountedByTheLinesItReports(t *testing.T) {
	p, cfg := forgedPipeline(t, "")
	day := func(d int, clock time.Duration) time.Time {
		return time.Date(2026, 11, 20+d, 0, 0, 0, 0, time.UTC).Add(clock)
	}
	lines := func(d int) []string {
		return []string{
			ufwUDP(day(d, 8*time.Hour), fmt.Sprintf("6.6.6.%d", 100+d)),
			fmt.Sprintf("%s web1 sshd[100]: Did not receive identification string from 6.6.6.%d port %d", day(d, 8*time.Hour+30*time.Minute).Format(time.RFC3339), 150+d, 50000+d),
			sshdFail(day(d, 9*time.Hour), fmt.Sprintf("6.6.6.%d", 50+d), 40000+d),
		}
	}
	for d := range 9 {
		if err := p.Ingest(t.Context(), records(lines(d)), nil); err != nil {
			t.Fatal(err)
		}
	}
	var network []forgedMail
	for _, m := range forgedRun(t, p, cfg, lines(9), day(9, 12*time.Hour)) {
		if strings.Contains(m.text, "6.6.6.0/24") {
			network = append(network, m)
		}
	}
	if len(network) != 1 {
		t.Fatalf("reports of 6.6.6.0/24: %+v; want one", network)
	}
	text := network[0].text
	saysAll(t, "the report", text, "First seen:      2026-11-20 09:00:00 +0000\n", "Last seen:       2026-11-29 09:00:00 +0000\n",
		"Connections:     10 (10 log lines)\n", "Abuse report: repeated SSH login attempts from 6.6.6.0/24",
		"Our logs show repeated failed SSH login attempts on 10 different days coming from your network.\n\n")
	if strings.Contains(text, "between 2026-11-20 08:") {
		t.Errorf("an X-ARF part dates it from before its first failed login:\n%s", text)
	}
	incs, err := p.store.IncidentsOfKeys([]string{"recur:6.6.6.0/24"}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(incs) != 1 || !incs[0].First.Equal(day(0, 8*time.Hour)) {
		t.Errorf("the stored recurrence %+v; want it from the first packet, for the admin", incs)
	}
}

// Review 21d D1's realpk split between two parties (6.6.6.0/25 and 6.6.6.128/25): each
// party's share is counted from its own lines, which took in its addresses' dropped
// SYNs. The second party was told "Connections: 10 (10 log lines)" for its five failed
// logins, "First seen" a SYN and seven quoted packets. Each share is of its failed
// logins alone now, as the whole report is.
func TestAShareLeavesOutItsAddressesPackets(t *testing.T) {
	extra := "[[contact]]\nnetwork = \"6.6.6.0/25\"\nemails = [\"abuse@a.example\"]\n[[contact]]\nnetwork = \"6.6.6.128/25\"\nemails = [\"abuse@b.example\"]\n"
	p, cfg := forgedPipeline(t, extra)
	t0 := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	var lines []string
	for i := range 10 {
		a := fmt.Sprintf("6.6.6.%d", 50+i)
		if i >= 5 {
			a = fmt.Sprintf("6.6.6.%d", 150+i)
		}
		for k := range 3 {
			lines = append(lines, ufwPacket(t0.Add(time.Duration(i)*time.Minute+time.Duration(k)*time.Second), a, "TCP SYN"))
		}
		lines = append(lines, sshdFail(t0.Add(time.Duration(i)*time.Minute+30*time.Second), a, 40000+i))
	}
	mails := forgedRun(t, p, cfg, lines, t0.Add(3*time.Hour))
	first := map[string]string{"<abuse@a.example>": "2026-12-07 09:00:30 +0000", "<abuse@b.example>": "2026-12-07 09:05:30 +0000"}
	if len(mails) != 2 {
		t.Fatalf("reports %+v; want one to each party", mails)
	}
	for _, m := range mails {
		saysAll(t, "the share to "+m.to, m.text, "First seen:      "+first[m.to]+"\n", "Connections:     5 (5 log lines)\n")
		if strings.Contains(m.text, "UFW BLOCK") {
			t.Errorf("the share to %s quotes packets:\n%s", m.to, m.text)
		}
	}
}
