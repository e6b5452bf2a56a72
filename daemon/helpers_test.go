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
