package daemon

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/lookup/lookuptest"
)

// Our own host's public address (mail.hosts) is never reported, as a policy.never_report
// network is not: failed logins from it (a cron job or a monitoring check that goes out
// through the public address and comes back, hairpin NAT) make no incident and no mail,
// and `ip`, `exclude --list` and `exclude --remove` say why. Before, abuse@lir.example
// was told "Source address: 62.239.1.5 … Our hosts hit: web1 (62.239.1.5)": our host
// attacked our host (review 21 D10, case H). A neighbour of it is reported as before.
func TestOurOwnHostsAddressIsNeverReported(t *testing.T) {
	r := lookuptest.NewRDAP(t)
	answer(r, "62.239.0.0/16", "LIR-NET", "GB", "abuse@lir.example")
	c := newRV21Case(t, r, `hosts = { web1 = "62.239.1.5" }`, "", "")
	c.scan(t, "08:00 62.239.1.5 8", "08:30 62.239.1.6 8")
	mails := c.mails(t)
	if len(mails) != 1 || !names(mails[0], "62.239.1.6") || names(mails[0], "62.239.1.5") {
		t.Fatalf("%d reports mailed; want one, about 62.239.1.6 and not our host 62.239.1.5:\n%s", len(mails), strings.Join(mails, "\n----\n"))
	}
	incs, _, err := c.st.IncidentsSince(time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, inc := range incs {
		if inc.Addr == netip.MustParseAddr("62.239.1.5") {
			t.Errorf("an incident of our own host: %+v", inc)
		}
	}

	own := netip.MustParsePrefix("62.239.1.5/32")
	why, err := StoredUnreported(c.p.cfg, c.st, rv21Day.Add(10*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	info, err := QueryNetwork(c.st, own, rv21Day, rv21Day.Add(10*time.Hour), time.UTC, why)
	if err != nil {
		t.Fatal(err)
	}
	if want := "mail.hosts names 62.239.1.5 as our host web1, and our own hosts are never reported"; !strings.Contains(info.NeverReported, want) {
		t.Errorf("ip 62.239.1.5 says never reported: %q; want %q", info.NeverReported, want)
	}
	list, err := ListExclusions(c.p.cfg, c.st)
	if err != nil || len(list) != 1 || list[0].Network != own || list[0].By != "mail.hosts" || list[0].Reason != "our host web1" {
		t.Errorf("exclude --list shows %+v (%v); want 62.239.1.5/32 by mail.hosts, our host web1", list, err)
	}
	if _, err := RemoveExclusion(c.p.cfg, c.st, own, time.Now()); err == nil || !strings.Contains(err.Error(), "is in mail.hosts of") {
		t.Errorf("exclude --remove 62.239.1.5: %v; want it refused: mail.hosts says so", err)
	}
}

// The listeners' own addresses are ours too; the wildcard and loopback ones name no
// address that could be reported.
func TestTheListenersAddressesAreOurOwn(t *testing.T) {
	cfg := parseTestConfig(t, "aw.toml", `
[reporter]
name = "Rev Iewer"
[syslog]
udp = ["0.0.0.0:514", "62.239.2.20:514"]
tcp = ["[2a01:4f8:1::20]:601"]
allow = ["192.0.2.0/24"]
[metrics]
listen = "127.0.0.1:9733"
[mail]
hosts = { web1 = "62.239.1.5", web2 = "10.0.0.2" }
[policy]
settle = "0s"
mode = "observe"
`)
	var got []string
	for _, o := range cfg.ownAddresses() {
		got = append(got, o.Network.String()+" "+o.By)
	}
	want := "62.239.1.5/32 mail.hosts, 62.239.2.20/32 syslog.udp, 2a01:4f8:1::20/128 syslog.tcp"
	if strings.Join(got, ", ") != want {
		t.Errorf("our own addresses: %q, want %q", strings.Join(got, ", "), want)
	}
}
