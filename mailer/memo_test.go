package mailer

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
)

// One test per element the memo must hold, each on the shipped template.

func memoText(t *testing.T, c *Composer, incs ...abusewatch.Incident) string {
	t.Helper()
	if len(incs) == 0 {
		incs = []abusewatch.Incident{testIncident()}
	}
	r, err := c.Compose(testContact(), incs, time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	_, text := body(t, r.Message)
	return text
}

func mustContain(t *testing.T, text string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(text, w) {
			t.Errorf("memo lacks %q", w)
		}
	}
	if t.Failed() {
		t.Logf("memo:\n%s", text)
	}
}

func TestMemoSaysWhoWeAre(t *testing.T) {
	mustContain(t, memoText(t, testComposer(t)),
		"My name is Jane Doe, system administrator at Example Org.\nI am writing to you as the abuse contact listed for",
		"\nJane Doe\nsystem administrator\nExample Org\njane@example.org\n")
}

// An organisation without a person's name speaks as the organisation: never "My name
// is ." (the config asks for one of the two).
func TestMemoOfAnOrganisationWithoutAName(t *testing.T) {
	c, err := NewComposer(shippedTemplate(t), Reporter{Organisation: "Example Org", Role: "Security team", Email: "security@example.org",
		Location: est}, "abuse@example.org")
	if err != nil {
		t.Fatal(err)
	}
	text := memoText(t, c)
	mustContain(t, text, "This is Example Org, Security team.\nWe are writing to you as the abuse contact listed for",
		"Kind regards,\n\nExample Org\nSecurity team\nsecurity@example.org\n")
	if strings.Contains(text, "My name is") {
		t.Errorf("the memo names nobody:\n%s", text)
	}
}

func TestMemoSaysWhyWeWriteOneSentencePerClass(t *testing.T) {
	scan, ftp := testIncident(), testIncident()
	scan.ID, scan.Classes = "scan", []abusewatch.Class{"port-scan"}
	ftp.ID, ftp.Classes = "ftp", []abusewatch.Class{"ftp-probe"}
	text := memoText(t, testComposer(t), testIncident(), scan, ftp)
	mustContain(t, text,
		"Our logs show repeated failed SSH login attempts coming from your network.",
		"Our logs show a port scan of our host coming from your network.",
		"Our logs show an FTP probe (failed FTP logins) coming from your network.")
	if n := strings.Count(text, "Our logs show repeated failed SSH login attempts"); n != 1 {
		t.Errorf("the SSH sentence appears %d times, want once for three incidents", n)
	}
}

func TestMemoEvidenceIsFirstSampleAndLastWithTheTotal(t *testing.T) {
	inc := testIncident()
	inc.Evidence = nil
	for i := range 40 {
		inc.Evidence = append(inc.Evidence, abusewatch.Event{Time: inc.First.Add(time.Duration(i) * time.Second),
			Service: "sshd", Line: fmt.Sprintf("sshd[1]: Failed password for root from 203.0.113.7 port %d ssh2", 1000+i)})
	}
	inc.Count = 500
	text := memoText(t, testComposer(t), inc)
	shown := strings.Count(text, "Failed password for root")
	if shown != maxEvidence {
		t.Errorf("%d lines shown, want %d", shown, maxEvidence)
	}
	mustContain(t, text,
		"port 1000 ssh2", "port 1004 ssh2", // the first
		"port 1035 ssh2", "port 1039 ssh2", // the last
		fmt.Sprintf("(%d more lines not shown; 500 in total)", 500-maxEvidence))
	if strings.Contains(text, "port 1005 ssh2") || strings.Contains(text, "port 1034 ssh2") {
		t.Error("the sample is not from the middle")
	}
}

// A host's address is shown of the source's family: a dual-stack host's IPv4 address
// to an IPv4 source, its IPv6 address to an IPv6 one, and none to an IPv6 source when
// the host has only an IPv4 one (not a wrong one: the desk's flows never show an IPv6
// source reaching an IPv4 address).
func TestMemoNamesOurHostsWithTheirAddresses(t *testing.T) {
	c, err := NewComposer(shippedTemplate(t), Reporter{Name: "Jane Doe", Location: est,
		Hosts: map[string][]netip.Addr{
			"web1": {netip.MustParseAddr("198.51.100.10"), netip.MustParseAddr("2001:db8:0:1::10")},
			"mail": {netip.MustParseAddr("198.51.100.25")},
		}}, "abuse@example.org")
	if err != nil {
		t.Fatal(err)
	}
	text := memoText(t, c)
	mustContain(t, text, "Our hosts hit:   mail (198.51.100.25), web1 (198.51.100.10)\n")
	if strings.Contains(text, "2001:db8:0:1::10") {
		t.Errorf("an IPv4 source's memo names web1's IPv6 address:\n%s", text)
	}

	v6 := testIncident()
	v6.Addr, v6.Network, v6.Key = netip.MustParseAddr("2001:db8:77::7"), netip.MustParsePrefix("2001:db8:77::7/128"), "ip:2001:db8:77::7"
	r, err := c.Compose(abusewatch.Contact{Network: netip.MustParsePrefix("2001:db8:77::/48"), Emails: []string{"abuse@isp.example"}, Role: "abuse"},
		[]abusewatch.Incident{v6}, time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	_, text = body(t, r.Message)
	mustContain(t, text, "Our hosts hit:   mail, web1 (2001:db8:0:1::10)\n")
	if strings.Contains(text, "198.51.100.") {
		t.Errorf("an IPv6 source's memo names an IPv4 address of ours:\n%s", text)
	}
}

func TestMemoTimesCarryOurOffsetFromGMT(t *testing.T) {
	text := memoText(t, testComposer(t))
	// 08:14:07 UTC is 03:14:07 at -0500: headers, summary and evidence agree.
	mustContain(t, text, "First seen:      2026-11-20 03:14:07 -0500", "  2026-11-20 03:14:07 -0500  sshd[41]")
	if strings.Contains(text, "08:14:07") || strings.Contains(text, "+0000") {
		t.Error("a time is shown in another zone")
	}
}

func TestMemoSaysWhetherAnythingWasCompromised(t *testing.T) {
	mustContain(t, memoText(t, testComposer(t)), "We saw no successful login from this address.")
	inc := testIncident()
	inc.Success = true
	mustContain(t, memoText(t, testComposer(t), inc), "We also saw a successful login from this address")
}

func TestMemoRemindsThatAddressesCanBeForged(t *testing.T) {
	mustContain(t, memoText(t, testComposer(t)),
		"source addresses can be forged", "has often been compromised itself")
}

func TestMemoIsFriendlyWithoutThreatsOrDemands(t *testing.T) {
	text := strings.ToLower(memoText(t, testComposer(t)))
	for _, never := range []string{"lawyer", "legal", "police", "demand", "must ", "immediately", "or else", "block your"} {
		if strings.Contains(text, never) {
			t.Errorf("memo contains %q", never)
		}
	}
	mustContain(t, text, "hello,", "thank you")
}

func TestMemoAsksForAnAcknowledgment(t *testing.T) {
	mustContain(t, memoText(t, testComposer(t)), "grateful for a short acknowledgment", "Our reference for this report is")
}

func TestMemoNeutralisesHostileLogText(t *testing.T) {
	inc := testIncident()
	long := strings.Repeat("A", 5000)
	inc.Evidence = []abusewatch.Event{
		{Time: inc.First, Class: abusewatch.ClassInvalidUser, Service: "sshd", Line: "sshd[1]: Invalid user r\u00f6\u00f6t\u4e2d from 203.0.113.7\r\nSubject: hi\nTo: x@example.com"},
		{Time: inc.First, Class: abusewatch.ClassInvalidUser, Service: "sshd", Line: "sshd[1]: Invalid user " + long},
		{Time: inc.First, Class: abusewatch.ClassInvalidUser, Service: "sshd", Line: "sshd[1]: bad \xff\xfe utf-8"},
	}
	inc.Addr = netip.MustParseAddr("203.0.113.7")
	r, err := testComposer(t).Compose(testContact(), []abusewatch.Incident{inc}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	h, text := body(t, r.Message)
	if h.Get("Subject") != "Abuse report: repeated SSH login attempts from 203.0.113.7" || len(h["To"]) != 1 {
		t.Errorf("headers changed by log text: %v", h)
	}
	mustContain(t, text, "Invalid user r\u00f6\u00f6t\u4e2d from 203.0.113.7  Subject: hi To: x@example.com", "bad \ufffd utf-8", "…")
	for _, l := range strings.Split(text, "\n") {
		if len([]rune(l)) > maxLineRunes+40 {
			t.Errorf("a line of %d characters", len([]rune(l)))
		}
		if strings.HasPrefix(l, "Subject:") || strings.HasPrefix(l, "To:") {
			t.Errorf("log text starts a line: %q", l)
		}
	}
	// On the wire: 7-bit, lines within RFC 5322's 998.
	for _, l := range strings.Split(string(r.Message), "\r\n") {
		if len(l) > 998 {
			t.Errorf("wire line of %d bytes", len(l))
		}
		if strings.ContainsFunc(l, func(r rune) bool { return r > 126 }) {
			t.Errorf("8-bit wire line %q", l)
		}
	}
}

// A host the syslog listener knows only by its sender's address ("[10.0.3.7]": the
// sender named no host) is ours to know: the memo leaves it out of our hosts hit.
func TestMemoLeavesOutASenderKnownOnlyByItsAddress(t *testing.T) {
	c, err := NewComposer(shippedTemplate(t), Reporter{Name: "Jane Doe", Location: est}, "abuse@example.org")
	if err != nil {
		t.Fatal(err)
	}
	inc := testIncident()
	inc.Hosts = []string{"[10.0.3.7]", "mail", "web1"}
	text := memoText(t, c, inc)
	mustContain(t, text, "Our hosts hit:   mail, web1\n")
	if strings.Contains(text, "10.0.3.7") {
		t.Errorf("the sender's address reaches the desk:\n%s", text)
	}
}

// Of a source whose hosts the listener knew only by their senders' addresses, the X-ARF
// description says "our hosts", without an empty list or the address.
func TestXARFOfHostsKnownOnlyByAddress(t *testing.T) {
	l := &foldLog{t0: time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)}
	var evs []abusewatch.Event
	for i := range 6 {
		evs = append(evs, l.line("203.0.113.30", float64(i), "[10.0.3.7]"))
	}
	inc := foldIncident("ip-30", "per-address", netip.MustParsePrefix("203.0.113.30/32"), evs, 10)
	r, err := xarfComposer(t).Compose(testContact(), []abusewatch.Incident{inc}, time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	_, _, bodies := parts(t, r.Message)
	if len(bodies) < 2 {
		t.Fatalf("no X-ARF part")
	}
	desc := xarfPart(t, bodies[1])["description"].(string)
	if !strings.Contains(desc, "to our hosts between") || strings.Contains(desc, "10.0.3.7") {
		t.Errorf("description %q", desc)
	}
}

// A share's memo says why we write of its own lines alone: the failed logins for an
// existing user were those of 45.134.27.16, reported before and left out of the share,
// whose 18 lines are all for user names that do not exist; it said "repeated failed SSH
// login attempts" as well (review desk48 L1). What the store holds of each address
// the share names (Known.Seen) tells the classes left; where it does not know them all,
// the share's classes stay.
func TestAShareMemoGivesReasonsOfItsOwnLines(t *testing.T) {
	t0 := time.Date(2026, 11, 20, 2, 0, 0, 0, time.UTC)
	l := &foldLog{t0: t0}
	var all, sixteen []abusewatch.Event
	for i := range 6 {
		e := l.line("45.134.27.16", float64(i), "web1")
		sixteen, all = append(sixteen, e), append(all, e)
	}
	seen := map[netip.Addr]Seen{}
	for k := 10; k < 16; k++ {
		addr := fmt.Sprintf("45.134.27.%d", k)
		for i := range 3 {
			e := l.line(addr, float64(10+k+i), "web1")
			e.Class, e.Line = abusewatch.ClassInvalidUser, fmt.Sprintf("web1 sshd[%d]: Failed password for invalid user u%d from %s port %d ssh2", e.Seq, i, addr, e.Port)
			all = append(all, e)
		}
		seen[netip.MustParseAddr(addr)] = Seen{First: t0, Last: t0, Count: 3, Conns: 3, Classes: []abusewatch.Class{abusewatch.ClassInvalidUser}}
	}
	sortEvents(all)
	share := foldIncident("net-1", "network", netip.MustParsePrefix("45.134.27.0/25"), all, 10)
	share.Classes = []abusewatch.Class{abusewatch.ClassAuthFailure, abusewatch.ClassInvalidUser}
	told := foldIncident("ip-16", "per-address", netip.MustParsePrefix("45.134.27.16/32"), sixteen, 10)
	const failed, invalid = "repeated failed SSH login attempts", "login attempts for user names that do not exist"
	for _, tc := range []struct {
		name   string
		seen   map[netip.Addr]Seen
		failed bool
	}{
		{"the store knows every address's lines", seen, false},
		{"not known", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			known := Known{Reported: []abusewatch.Incident{told}}
			if tc.seen != nil {
				known.Seen = map[string]map[netip.Addr]Seen{"net-1": tc.seen}
			}
			contact := abusewatch.Contact{Network: netip.MustParsePrefix("45.134.27.0/25"), Emails: []string{"abuse@lowhalf.example"}, Role: "abuse"}
			r, err := testComposer(t).ComposeKnowing(contact, []abusewatch.Incident{share}, known, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			_, text := body(t, r.Message)
			if !strings.Contains(text, invalid) || strings.Contains(text, failed) != tc.failed {
				t.Errorf("the memo says %q: %v, want %v; %q: %v, want true:\n%s", failed, strings.Contains(text, failed), tc.failed, invalid, strings.Contains(text, invalid), text)
			}
		})
	}
}
