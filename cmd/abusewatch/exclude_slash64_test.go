package main

import (
	"strings"
	"testing"
)

// abusewatch counts an IPv6 /64 as one host: an exclusion or pardon of one address of it
// says that the host's other addresses are still reported and gives the command for the
// /64, without excluding more than was asked; a network, an IPv4 address, and an address
// whose /64 is excluded already get no such note. Before, it said only "will never be
// reported", and the host was reported under its next address (review 46 finding 4).
func TestExcludingOneIPv6AddressNamesItsSlash64(t *testing.T) {
	s := newAdminSetup(t)
	hint := "Only this address: the host's other addresses in its /64 (temporary addresses, containers), which abusewatch counts as one source, are still reported. For the whole /64: abusewatch "
	for _, tc := range []struct {
		args []string
		want string // "" for no note
	}{
		{[]string{"exclude", "2a01:4f8:1:2::100", "--reason", "partner"}, "exclude --config " + s.cfg + " 2a01:4f8:1:2::/64\n"},
		{[]string{"pardon", "2a01:4f8:1:3:8d2e:11ff:fe3a:7c01"}, "pardon --config " + s.cfg + " 2a01:4f8:1:3::/64\n"},
		{[]string{"exclude", "2a01:4f8:1:4::/64"}, ""},
		{[]string{"exclude", "2a01:4f8:1:4::7"}, ""}, // in the /64 excluded just now
		{[]string{"exclude", "45.134.26.7"}, ""},
	} {
		stdout, stderr, code := s.admin(t, tc.args...)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s%s", tc.args, code, stdout, stderr)
		}
		if got := strings.Contains(stdout, hint); got != (tc.want != "") || tc.want != "" && !strings.Contains(stdout, hint+tc.want) {
			t.Errorf("%v:\n%s\nwant the note %v, ending %q", tc.args, stdout, tc.want != "", tc.want)
		}
	}
	// It excluded the address alone.
	stdout, _, _ := s.admin(t, "exclude", "--list")
	if !strings.Contains(stdout, "2a01:4f8:1:2::100/128") || strings.Contains(stdout, "2a01:4f8:1:2::/64") {
		t.Errorf("exclude --list:\n%s\nwant 2a01:4f8:1:2::100/128, not its /64", stdout)
	}
}
