package daemon

import (
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/store"
)

// parseTestConfig parses doc as the config file at path, failing the test on an error.
func parseTestConfig(t *testing.T, path, doc string) *Config {
	t.Helper()
	cfg, err := ParseConfig(path, []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// openTestStore opens cfg's store for the length of the test.
func openTestStore(t *testing.T, cfg *Config) *store.Store {
	t.Helper()
	st, err := store.Open(cfg.Store.Path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// hoursAgo is the start of the hour n hours before now (UTC): a test whose events are
// reported on the wall clock dates them near it, as policy.max_age counts back from now.
func hoursAgo(n int) time.Time {
	return time.Now().UTC().Truncate(time.Hour).Add(-time.Duration(n) * time.Hour)
}

// daysAgo is midnight UTC n days before today.
func daysAgo(n int) time.Time {
	return time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -n)
}
