package main

import (
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// An IPv6 address with a zone (fe80::1%eth0) names an interface of this host; no
// remote address has one. The commands refuse it and say so: ip failed on the URL it
// built ("invalid URL escape"), and exclude dropped the zone without a word.
func TestAZonedAddressIsRefused(t *testing.T) {
	s := newAdminSetup(t)
	s.start(t)
	for _, args := range [][]string{
		{"ip", "fe80::1%eth0"}, {"net", "fe80::%eth0/64"}, {"exclude", "fe80::1%eth0"},
		{"pardon", "fe80::1%eth0"}, {"report", "preview", "fe80::1%eth0"},
	} {
		stdout, stderr, code := s.admin(t, args...)
		if code != 2 || !strings.Contains(stderr, "the zone %eth0 names an interface of this host") || strings.Contains(stderr, "URL") {
			t.Errorf("%v: exit %d\n%s%s", args, code, stdout, stderr)
		}
	}
	var list []json.RawMessage
	if s.adminJSON(t, &list, "exclude", "--list"); len(list) != 0 {
		t.Errorf("exclusions after the refused ones: %s", list)
	}
}

// The admin client escapes each path segment: what the admin typed reaches the daemon
// as one segment, whatever characters it holds.
func TestTheAdminClientEscapesPathSegments(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "admin.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/reports/{id}", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(r.PathValue("id"))
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	c := newAdminClient(sock, fromFlag, "test.toml", 10*time.Second, os.Stderr)
	for _, id := range []string{"fe80::1%eth0", "a/b?c#d", "100%", "abc def"} {
		var got string
		if err := c.call(t.Context(), "GET", apiPath("v1", "reports", id), nil, &got); err != nil || got != id {
			t.Errorf("%q reached the server as %q (%v)", id, got, err)
		}
	}
}
