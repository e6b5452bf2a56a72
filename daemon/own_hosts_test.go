package daemon

import (
	"net/netip"
	"slices"
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
	want := "62.239.1.5/32 mail.hosts, 62.239.2.20/32 syslog.udp, 2a01:4f8:1::/64 syslog.tcp"
	if strings.Join(got, ", ") != want {
		t.Errorf("our own addresses: %q, want %q", strings.Join(got, ", "), want)
	}
}

// Our host's IPv6 address stands for its /64: failed logins from another address of it
// (the host's SLAAC temporary address, a container's) make no incident and no mail to
// our own provider, and `ip`, `exclude --list` and `exclude --remove` say why. The next
// /64 is reported as before, and an IPv4 address of ours stays one address. Before, the
// other address was reported: "Source address: 2a01:4f8:9:9::26 … Our hosts hit: h
// (2a01:4f8:9:9::25)" (review 46 finding 2).
func TestOurOwnHostsIPv6Slash64IsNeverReported(t *testing.T) {
	r := lookuptest.NewRDAP(t)
	answer(r, "2a01:4f8::/32", "HOSTCO-V6", "DE", "abuse@hetzner.example")
	answer(r, "62.239.0.0/16", "LIR-NET", "GB", "abuse@lir.example")
	c := newRV21Case(t, r, `hosts = { h = ["2a01:4f8:9:9::25", "62.239.1.5"] }`, "", "")
	c.scan(t, "08:00 2a01:4f8:9:9::25 6", "08:10 2a01:4f8:9:9::26 6", "08:20 2a01:4f8:9:9:8d2e:11ff:fe3a:7c01 6",
		"08:30 2a01:4f8:9:a::26 6", "08:40 62.239.1.6 6")
	mails := c.mails(t)
	var about []string
	for _, m := range mails {
		for _, a := range []string{"2a01:4f8:9:9::26", "2a01:4f8:9:9:8d2e:11ff:fe3a:7c01", "2a01:4f8:9:a::26", "62.239.1.6"} {
			if names(m, a) {
				about = append(about, a)
			}
		}
	}
	if len(mails) != 2 || !slices.Equal(about, []string{"2a01:4f8:9:a::26", "62.239.1.6"}) {
		t.Fatalf("%d reports mailed, naming %v; want two, about 2a01:4f8:9:a::26 (the next /64) and 62.239.1.6, none about our /64:\n%s",
			len(mails), about, strings.Join(mails, "\n----\n"))
	}
	incs, _, err := c.st.IncidentsSince(time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	ours := netip.MustParsePrefix("2a01:4f8:9:9::/64")
	for _, inc := range incs {
		if ours.Contains(inc.Addr) || inc.Network.Overlaps(ours) && inc.Network.Bits() >= 64 {
			t.Errorf("an incident of our own host's /64: %+v", inc)
		}
	}

	for addr, want := range map[string]string{
		"2a01:4f8:9:9::25": "mail.hosts names 2a01:4f8:9:9::25 as our host h, and our own hosts are never reported",
		"2a01:4f8:9:9::26": "mail.hosts names 2a01:4f8:9:9::25 as our host h, and our own hosts are never reported, with the rest of their IPv6 /64 (2a01:4f8:9:9::/64)",
		"2a01:4f8:9:a::26": "",
		"62.239.1.6":       "",
	} {
		if why := c.p.cfg.NeverReported(netip.MustParseAddr(addr)); why != want {
			t.Errorf("ip %s says never reported: %q; want %q", addr, why, want)
		}
	}
	list, err := ListExclusions(c.p.cfg, c.st)
	var got []string
	for _, e := range list {
		got = append(got, e.describe())
	}
	if want := []string{"2a01:4f8:9:9::/64 (mail.hosts: our host h (2a01:4f8:9:9::25) and the rest of its /64)", "62.239.1.5/32 (mail.hosts: our host h)"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("exclude --list shows %q (%v); want %q", got, err, want)
	}
	if _, err := RemoveExclusion(c.p.cfg, c.st, ours, time.Now()); err == nil || !strings.Contains(err.Error(), "is in mail.hosts of") {
		t.Errorf("exclude --remove 2a01:4f8:9:9::/64: %v; want it refused: mail.hosts says so", err)
	}
}
