package daemon

import (
	"strings"
	"testing"
)

// A registry's answer kept for a year (review 21 D6: "36500d" passed check-config) would
// send reports about a network's new holder to the old one: a TTL past 30 days is refused
// at load, with the file, line and key.
func TestACacheTTLLongerThan30DaysIsRefused(t *testing.T) {
	base := "[[source]]\nfiles = [\"/var/log/auth.log\"]\n[mail]\nfrom = \"a@example.org\"\n"
	for _, tc := range []struct{ doc, want string }{
		{"[lookup]\ncache_ttl = \"36500d\"\n", "lookup.toml:6: lookup.cache_ttl: 36500d is longer than the longest an answer may be kept, 30d"},
		{"[lookup]\ncache_ttl = \"31d\"\n", "lookup.toml:6: lookup.cache_ttl: 31d is longer"},
		{"[lookup]\nnegative_ttl = \"365d\"\n", "lookup.toml:6: lookup.negative_ttl: 365d is longer"},
	} {
		_, err := ParseConfig("lookup.toml", []byte(base+tc.doc))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error = %v, want %q", tc.doc, err, tc.want)
		}
	}
	if _, err := ParseConfig("lookup.toml", []byte(base+"[lookup]\ncache_ttl = \"30d\"\n")); err != nil && strings.Contains(err.Error(), "ttl") {
		t.Errorf("30d refused: %v", err)
	}
}
