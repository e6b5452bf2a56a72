package daemon

import (
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
)

// The contact cache keeps an entry per address a registry was asked about, so the
// retention pass deletes the expired ones; those still good stay. Before, nothing
// deleted them, which cost little while an entry stood for a whole network.
func TestRetentionDeletesExpiredCachedContacts(t *testing.T) {
	dir := t.TempDir()
	cfg := parseTestConfig(t, filepath.Join(dir, "abusewatch.toml"), `
[[source]]
files = ["/var/log/auth.log"]
[mail]
from = "abusewatch@example.org"
[policy]
settle = "0s"
mode = "observe"
[store]
path = "`+filepath.Join(dir, "state.db")+`"
`)
	st := openTestStore(t, cfg)
	now := time.Now()
	c := abusewatch.Contact{Network: netip.MustParsePrefix("198.51.100.0/24"), Emails: []string{"abuse@isp.example"}, Fetched: now.Add(-8 * 24 * time.Hour)}
	st.CacheContact(netip.MustParsePrefix("198.51.100.7/32"), c, now.Add(-time.Hour))
	st.CacheContact(netip.MustParsePrefix("198.51.100.8/32"), c, now.Add(time.Hour))
	var logged []any
	if err := Retain(t.Context(), st, cfg.Retention, cfg.Correlate, now, func(_ string, args ...any) { logged = args }); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := st.CachedContact(netip.MustParseAddr("198.51.100.7"), now.Add(-2*time.Hour)); ok {
		t.Error("the expired entry is still in the cache")
	}
	if _, ok, _ := st.CachedContact(netip.MustParseAddr("198.51.100.8"), now); !ok {
		t.Error("the entry still good was deleted")
	}
	if len(logged) == 0 {
		t.Error("the deletion is not logged")
	}
}
