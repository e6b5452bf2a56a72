package main

import (
	"strings"
	"testing"
)

// ip and net refuse what they do not take with what to write instead: an address as
// postfix and exim write it ("[2a01:4f8:1:2::100]", with ":25"), or with a length, given
// to ip; an address given to net. Before, they said only "is not an IP address" and
// "is not a network in CIDR notation" (review 46 finding 6).
func TestIPAndNetSayWhatToWrite(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ args, want []string }{
		{[]string{"ip", "[2a01:4f8:1:2::100]"}, []string{"without brackets or port: abusewatch ip 2a01:4f8:1:2::100\n"}},
		{[]string{"ip", "[2a01:4f8:1:2::100]:25"}, []string{"without brackets or port: abusewatch ip 2a01:4f8:1:2::100\n"}},
		{[]string{"ip", "203.0.113.7:22"}, []string{"without brackets or port: abusewatch ip 203.0.113.7\n"}},
		{[]string{"ip", "2a01:4f8:1:2::100/128"}, []string{"without a length: abusewatch ip 2a01:4f8:1:2::100\n"}},
		{[]string{"ip", "2a01:4f8:1::/48"}, []string{"for a network use net CIDR: abusewatch net 2a01:4f8:1::/48\n"}},
		{[]string{"ip", "web1"}, []string{"web1 is not an IP address: ip takes one address, such as 203.0.113.7 or 2001:db8::7\n"}},
		{[]string{"net", "2a01:4f8:1:2::100"}, []string{"net takes a network in CIDR notation", "for one address use ip ADDR: abusewatch ip 2a01:4f8:1:2::100 (its /64: abusewatch net 2a01:4f8:1:2::/64)\n"}},
		{[]string{"net", "[2a01:4f8:1:2::100]"}, []string{"abusewatch ip 2a01:4f8:1:2::100 (its /64"}},
		{[]string{"net", "45.134.26.7"}, []string{"abusewatch ip 45.134.26.7 (its /24: abusewatch net 45.134.26.0/24)\n"}},
		{[]string{"net", "web1"}, []string{"web1 is not a network: net takes a network in CIDR notation, such as 203.0.113.0/24 or 2001:db8:1::/48\n"}},
	} {
		stdout, stderr, code := runBinary(t, dir, tc.args...)
		for _, w := range tc.want {
			if code != 2 || stdout != "" || !strings.Contains(stderr, w) {
				t.Errorf("%v: exit %d, want 2 and %q\n%s%s", tc.args, code, w, stdout, stderr)
			}
		}
	}
}
