package daemon

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/lookup/lookuptest"
)

// A dual-stack host lists both its addresses under its name in mail.hosts. The report
// about an IPv6 attacker names the host's IPv6 address in the memo and the X-ARF
// description, the one about an IPv4 attacker its IPv4 address, neither the other's;
// and failed logins from the host's own IPv6 address (a hairpin cron job) make no
// incident and no mail to our provider. Before, the host could be given one address
// only: an IPv6 attacker was told to have hit "web1 (62.239.1.5)", and our IPv6 address
// was reported to abuse@ourprovider.example (review 26, finding 3).
func TestADualStackHostsAddressesAreShownByFamilyAndNeverReported(t *testing.T) {
	r := lookuptest.NewRDAP(t)
	answer(r, "62.239.0.0/16", "LIR-NET", "GB", "abuse@lir.example")
	answer(r, "2a01:4f8::/32", "HOSTCO-V6", "DE", "abuse@hostco.example")
	answer(r, "2a02:c207::/32", "OURPROVIDER-V6", "DE", "abuse@ourprovider.example")
	c := newRV21Case(t, r, `hosts = { web1 = ["62.239.1.5", "2a02:c207:0:1::2"] }`, "", "")
	c.scan(t, "08:00 2a01:4f8:1c1c:abcd::1 6", "08:30 62.239.1.6 6", "09:00 2a02:c207:0:1::2 8")

	mails := c.mails(t)
	byTo := map[string]string{}
	for _, m := range mails {
		to, _, _ := strings.Cut(m, "\n")
		byTo[to] = m
	}
	v6, v4 := byTo["To: <abuse@hostco.example>"], byTo["To: <abuse@lir.example>"]
	if len(mails) != 2 || v6 == "" || v4 == "" {
		t.Fatalf("%d reports mailed; want one to abuse@hostco.example and one to abuse@lir.example:\n%s", len(mails), strings.Join(mails, "\n----\n"))
	}
	if !strings.Contains(v6, "Our hosts hit:   web1 (2a02:c207:0:1::2)\r\n") || strings.Contains(v6, "62.239.1.5") {
		t.Errorf("the report about 2a01:4f8:1c1c:abcd::1 does not name web1's IPv6 address alone:\n%s", v6)
	}
	if !strings.Contains(v4, "Our hosts hit:   web1 (62.239.1.5)\r\n") || strings.Contains(v4, "2a02:c207") {
		t.Errorf("the report about 62.239.1.6 does not name web1's IPv4 address alone:\n%s", v4)
	}
	parts := c.xarfParts(t)
	for src, want := range map[string]string{"2a01:4f8:1c1c:abcd::1": "to our hosts web1 (2a02:c207:0:1::2) between",
		"62.239.1.6": "to our hosts web1 (62.239.1.5) between"} {
		if x, ok := parts[src]; !ok || !strings.Contains(x.Description, want) {
			t.Errorf("X-ARF of %s: %q (found %v); want %q", src, x.Description, ok, want)
		}
	}
	if _, ok := parts["2a02:c207:0:1::2"]; ok {
		t.Error("an X-ARF part about our own host's IPv6 address")
	}

	incs, _, err := c.st.IncidentsSince(time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	own := netip.MustParseAddr("2a02:c207:0:1::2")
	for _, inc := range incs {
		if inc.Addr == own || inc.Network.Contains(own) {
			t.Errorf("an incident of our own host's IPv6 address: %+v", inc)
		}
	}
	if why := c.p.cfg.NeverReported(own); !strings.Contains(why, "mail.hosts names 2a02:c207:0:1::2 as our host web1") {
		t.Errorf("ip 2a02:c207:0:1::2 says never reported: %q", why)
	}
}
