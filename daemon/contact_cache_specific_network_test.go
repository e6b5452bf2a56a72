package daemon

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/lookup/lookuptest"
)

// Review 21 D1: a registry's answer for one address was cached under the network it names
// and answered for every address of that network, so a customer's more specific network
// inside it (a /24 or /29 with its own abuse contact, an IPv6 /48) was reported to the
// provider around it. These scenarios run log lines through the whole pipeline (scan,
// correlate, lookup over RDAP on loopback, the outbox into a maildir).

// registryPipeline is a pipeline in auto mode with no cooldown or limits whose registry
// for every address is r (newRV21Case: a maildir, no guesses, a network incident from 5
// addresses of a /24 within an hour), and its directory.
func registryPipeline(t *testing.T, r *lookuptest.RDAP) (*Pipeline, string) {
	t.Helper()
	c := newRV21Case(t, r, "", `mode = "auto"
cooldown = "0s"
daily_cap = 0
domain_hourly_limit = 0`, "")
	return c.p, c.dir
}

// sshdLines is n failed logins from each address, two seconds apart, the addresses a
// minute apart from start.
func sshdLines(start time.Time, n int, addrs ...string) string {
	var b strings.Builder
	for i, a := range addrs {
		for j := range n {
			at := start.Add(time.Duration(i)*time.Minute + time.Duration(2*j)*time.Second)
			fmt.Fprintf(&b, "%s web1 sshd[%d]: Failed password for root from %s port %d ssh2\n", at.Format(time.RFC3339), 100+i, a, 40000+j)
		}
	}
	return b.String()
}

// askedAbout are the addresses the registry was asked about, in order.
func askedAbout(r *lookuptest.RDAP) []string {
	var out []string
	for _, h := range r.Hits() {
		_, q, _ := strings.Cut(h.Path, "/ip/")
		out = append(out, q)
	}
	return out
}

// The review's N2: a /16, a customer's /24 inside it and a /29 inside that with its own
// desk; a network incident of three addresses of the /24 and three of the /29, the lowest
// outside the /29. Every address is asked about, and each desk is told only its own: the
// /24's answer for 62.239.237.20 went for the /29's addresses too, and the incident went
// whole to the customer.
func TestANetworkIncidentReachesTheDeskOfAMoreSpecificNetworkInsideTheFirstAnswer(t *testing.T) {
	r := lookuptest.NewRDAP(t)
	lir, cust, y := "abuse@lir.example", "abuse@customer.example", "abuse@y.example"
	r.Answer("62.239.0.0/16", lookuptest.NetworkAnswer(netip.MustParsePrefix("62.239.0.0/16"), "LIR-NET", "GB", lir))
	r.Answer("62.239.237.0/24", lookuptest.NetworkAnswer(netip.MustParsePrefix("62.239.237.0/24"), "CUSTOMER-NET", "GB", cust))
	r.Answer("62.239.237.200/29", lookuptest.NetworkAnswer(netip.MustParsePrefix("62.239.237.200/29"), "Y-NET", "GB", y))
	p, dir := registryPipeline(t, r)
	addrs := []string{"62.239.237.20", "62.239.237.30", "62.239.237.40", "62.239.237.201", "62.239.237.202", "62.239.237.203"}
	scanAndReport(t, p, dir, "auth.log", sshdLines(hoursAgo(4), 3, addrs...), time.Now())

	for rcpt, own := range map[string][]string{cust: addrs[:3], y: addrs[3:]} {
		mails := mailsTo(t, dir, rcpt)
		if len(mails) != 1 {
			t.Errorf("%d mails to %s, want 1", len(mails), rcpt)
			continue
		}
		namesOnly(t, "the mail to "+rcpt, mails[0], addrs, own)
	}
	if mails := mailsTo(t, dir, lir); len(mails) != 0 {
		t.Errorf("%d mails to the LIR, whose own network holds none of the addresses' networks", len(mails))
	}
	if got := askedAbout(r); len(got) != len(addrs) {
		t.Errorf("the registry was asked about %v, want each of %v once", got, addrs)
	}
}

// The review's A2: one scan reports an address of the LIR's /16; a later one sees an
// address of the customer's /24 inside it, which is asked about, not answered from the
// first address's entry, and reported to the customer.
func TestASecondAddressInAMoreSpecificNetworkIsAskedAbout(t *testing.T) {
	r := lookuptest.NewRDAP(t)
	lir, cust := "abuse@lir.example", "abuse@customer.example"
	r.Answer("62.239.0.0/16", lookuptest.NetworkAnswer(netip.MustParsePrefix("62.239.0.0/16"), "LIR-NET", "GB", lir))
	r.Answer("62.239.237.0/24", lookuptest.NetworkAnswer(netip.MustParsePrefix("62.239.237.0/24"), "CUSTOMER-NET", "GB", cust))
	p, dir := registryPipeline(t, r)
	day := hoursAgo(4)
	scanAndReport(t, p, dir, "auth1.log", sshdLines(day, 8, "62.239.1.5"), time.Now())
	if mails := mailsTo(t, dir, lir); len(mails) != 1 || !names(mails[0], "62.239.1.5") {
		t.Fatalf("%d mails to the LIR after the first scan, want one about 62.239.1.5", len(mails))
	}
	scanAndReport(t, p, dir, "auth2.log", sshdLines(day.Add(time.Hour), 8, "62.239.237.9"), time.Now())
	mails := mailsTo(t, dir, cust)
	if len(mails) != 1 || !names(mails[0], "62.239.237.9") || !strings.Contains(mails[0], "62.239.237.0/24") {
		t.Errorf("%d mails to the customer, want one about 62.239.237.9 in 62.239.237.0/24:\n%s", len(mails), strings.Join(mails, "\n---\n"))
	}
	if mails := mailsTo(t, dir, lir); len(mails) != 1 {
		t.Errorf("%d mails to the LIR, want only the first scan's", len(mails))
	}
	if got, want := askedAbout(r), []string{"62.239.1.5", "62.239.237.9"}; !slices.Equal(got, want) {
		t.Errorf("the registry was asked about %v, want %v", got, want)
	}
}

// IPv6, the review's case V: the LIR's /29 answered for one address (an earlier scan)
// does not answer for the addresses of a customer's /48 inside it; the customer's answer
// holds for the /64 it was asked about (one host's many addresses: one query), not for
// another /64 of the /48.
func TestAnIPv6CustomerNetworkInsideTheLIRsIsAskedAboutPerSlash64(t *testing.T) {
	r := lookuptest.NewRDAP(t)
	lir, cust := "abuse@lir6.example", "abuse@customer6.example"
	r.Answer("2a00:2380::/29", lookuptest.NetworkAnswer(netip.MustParsePrefix("2a00:2380::/29"), "LIR6-NET", "GB", lir))
	r.Answer("2a00:2381:ffff::/48", lookuptest.NetworkAnswer(netip.MustParsePrefix("2a00:2381:ffff::/48"), "CUSTOMER6-NET", "GB", cust))
	p, dir := registryPipeline(t, r)
	addrs := []string{"2a00:2380::5", "2a00:2381:ffff::9", "2a00:2381:ffff::a", "2a00:2381:ffff:1::9"}
	day := hoursAgo(4)
	scanAndReport(t, p, dir, "auth1.log", sshdLines(day, 8, addrs[0]), time.Now())
	scanAndReport(t, p, dir, "auth2.log", sshdLines(day.Add(time.Hour), 8, addrs[1:]...), time.Now())
	var toCust string
	for _, m := range mailsTo(t, dir, cust) {
		toCust += m
	}
	var toLIR string
	for _, m := range mailsTo(t, dir, lir) {
		toLIR += m
	}
	for _, a := range addrs[1:] {
		if !names(toCust, a) || names(toLIR, a) {
			t.Errorf("%s is not told to the customer alone", a)
		}
	}
	if !names(toLIR, addrs[0]) || names(toCust, addrs[0]) {
		t.Errorf("%s is not told to the LIR alone", addrs[0])
	}
	got := askedAbout(r)
	slices.Sort(got)
	if want := []string{"2a00:2380::5", "2a00:2381:ffff:1::9", "2a00:2381:ffff::9"}; !slices.Equal(got, want) && !slices.Equal(got, []string{"2a00:2380::5", "2a00:2381:ffff:1::9", "2a00:2381:ffff::a"}) {
		t.Errorf("the registry was asked about %v, want one address of each /64: %v", got, want)
	}
}
