package daemon

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// mail.hosts takes one address per host, as before, or a list of them (a dual-stack
// host's IPv4 and IPv6 addresses), written inline, as [mail.hosts] or as a dotted key;
// every address listed is ours (never reported). Before, a list was refused: "wrong
// type: this is a TOML array, the key wants a string in quotes" (review 26, finding 3).
func TestMailHostsTakeOneAddressOrAList(t *testing.T) {
	const head = "[reporter]\nname = \"Test Admin\"\n[mail]\nfrom = \"a@example.org\"\n"
	for _, doc := range []string{
		head + `hosts = { web1 = ["81.2.69.10", "2a01:4f8:0:1::2"], mx2 = "81.2.69.25" }`,
		head + "[mail.hosts]\nweb1 = [\n  \"81.2.69.10\",\n  \"2a01:4f8:0:1::2\",\n]\nmx2 = \"81.2.69.25\"\n",
		head + "hosts.web1 = [\"81.2.69.10\", \"2a01:4f8:0:1::2\"]\nhosts.mx2 = \"81.2.69.25\"\n",
		head + `hosts = { web1 = ["::ffff:81.2.69.10", "2a01:4f8:0:1::2", "81.2.69.10"], mx2 = ["81.2.69.25"] }`,
	} {
		cfg := parseTestConfig(t, "a.toml", doc)
		got := cfg.Mail.hostAddresses()
		want := map[string][]netip.Addr{
			"web1": {netip.MustParseAddr("81.2.69.10"), netip.MustParseAddr("2a01:4f8:0:1::2")},
			"mx2":  {netip.MustParseAddr("81.2.69.25")},
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s\nhosts: %v, want %v", doc, got, want)
		}
		var own []string
		for _, o := range cfg.ownAddresses() {
			own = append(own, o.Network.String()+" "+o.Reason)
		}
		if w := []string{"81.2.69.25/32 our host mx2", "81.2.69.10/32 our host web1", "2a01:4f8:0:1::/64 our host web1 (2a01:4f8:0:1::2) and the rest of its /64"}; !slices.Equal(own, w) {
			t.Errorf("%s\nour own addresses: %q, want %q", doc, own, w)
		}
		if why := cfg.NeverReported(netip.MustParseAddr("2a01:4f8:0:1::2")); !strings.Contains(why, "our host web1") {
			t.Errorf("%s\nour host's IPv6 address: never reported because %q", doc, why)
		}
	}
}

// A bad entry of mail.hosts is refused with the file, the line of the bad value (in a
// list over several lines, its own), the host and the value.
func TestMailHostsErrorsNameTheHostAndTheValue(t *testing.T) {
	const head = "[reporter]\nname = \"Test Admin\"\n[mail]\nfrom = \"a@example.org\"\n" // 4 lines
	for _, tc := range []struct{ doc, want string }{
		{`hosts = { web1 = "not-an-ip" }`,
			`a.toml:5: mail.hosts: host "web1": "not-an-ip" is not an address such as "198.51.100.10" or "2001:db8::10"`},
		{`hosts = { web1 = ["81.2.69.10", "2a01:4f8:0:1::2::"] }`,
			`a.toml:5: mail.hosts: host "web1": "2a01:4f8:0:1::2::" is not an address`},
		{"[mail.hosts]\nmx2 = \"81.2.69.25\"\nweb1 = [\n  \"81.2.69.10\",\n  \"81.2.69.0/24\",\n]\n",
			`a.toml:9: mail.hosts: host "web1": "81.2.69.0/24" is not an address such as "198.51.100.10" or "2001:db8::10" (our other networks belong in policy.never_report)`},
		{"hosts.web1 = \"web1.example.org\"\n",
			`a.toml:5: mail.hosts: host "web1": "web1.example.org" is not an address`},
		{`hosts = { web1 = ["81.2.69.10", 5] }`,
			`a.toml:5: mail.hosts: host "web1": address 2 of the list is a TOML integer 5: write each address in quotes`},
		{`hosts = { web1 = ["81.2.69.10", ["2a01:4f8:0:1::2"]] }`,
			`a.toml:5: mail.hosts: host "web1": address 2 of the list is a TOML array: write each address in quotes`},
		{`hosts = { web1 = 81 }`,
			`a.toml:5: mail.hosts: host "web1": wrong type: this is a TOML integer 81, the host wants an address in quotes`},
		// a zone names an interface of ours: reports showed it (review 46 finding 3)
		{`hosts = { web1 = "2a01:4f8:9:9::25%eth0" }`,
			`a.toml:5: mail.hosts: host "web1": "2a01:4f8:9:9::25%eth0": the zone %eth0 names an interface of this host, which no other host knows, and reports show our host's address to others: write "2a01:4f8:9:9::25"`},
		{`hosts = { web1 = ["81.2.69.10", "fe80::1%eth0"] }`,
			`a.toml:5: mail.hosts: host "web1": "fe80::1%eth0": the zone %eth0 names an interface`},
		{`hosts = { web1 = [] }`,
			`a.toml:5: mail.hosts: host "web1": the list is empty`},
		{`hosts = { web1 = "" }`,
			`a.toml:5: mail.hosts: host "web1": "" is not an address`},
		{`hosts = { web1 = { v4 = "81.2.69.10" } }`,
			`a.toml:5: mail.hosts: host "web1": wrong type: this is a TOML table`},
		{"[mail.hosts.web1]\nv4 = \"81.2.69.10\"\n",
			`a.toml:5: mail.hosts: host "web1": is a table`},
		{`hosts = "81.2.69.10"`,
			`a.toml:5: mail.hosts: wrong type: this is a TOML string, the key wants our hosts' addresses by name such as { web1 = "198.51.100.10" }`},
	} {
		_, err := ParseConfig("a.toml", []byte(head+tc.doc+"\n"))
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s\nerr = %v\nwant %s…", tc.doc, err, tc.want)
		}
	}
}
