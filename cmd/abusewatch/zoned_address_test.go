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

// An IPv4-mapped network written with an IPv4 length (::ffff:45.134.26.0/24) is, as
// written, the IPv6 network ::/24: net answered "0 events" about it, and exclude
// suggested excluding ::/24. The commands refuse it and name the IPv4 network; with the
// mapped length (/120) it is read as the IPv4 /24.
func TestAMappedNetworkWithAnIPv4LengthIsRefused(t *testing.T) {
	s := newAdminSetup(t)
	s.start(t)
	for _, args := range [][]string{
		{"net", "::ffff:45.134.26.0/24"}, {"exclude", "::ffff:45.134.26.0/24"}, {"pardon", "::ffff:45.134.26.0/24"},
		{"exclude", "--remove", "::ffff:45.134.26.0/24"}, {"exclude", "::ffff:45.0.0.0/8"},
	} {
		stdout, stderr, code := s.admin(t, args...)
		if code != 2 || stdout != "" || !strings.Contains(stderr, "a mapped IPv4 network needs a length of 96 plus the IPv4 one") ||
			!strings.Contains(stderr, "write 45.") {
			t.Errorf("%v: exit %d\n%s%s", args, code, stdout, stderr)
		}
	}
	var list []json.RawMessage
	if s.adminJSON(t, &list, "exclude", "--list"); len(list) != 0 {
		t.Errorf("exclusions after the refused ones: %s", list)
	}
	var info struct{ Network string }
	if s.adminJSON(t, &info, "net", "::ffff:45.134.26.0/120"); info.Network != "45.134.26.0/24" {
		t.Errorf("net ::ffff:45.134.26.0/120 is %s, want 45.134.26.0/24", info.Network)
	}
	var res struct{ Network string }
	if s.adminJSON(t, &res, "exclude", "::ffff:45.134.26.0/120"); res.Network != "45.134.26.0/24" {
		t.Errorf("exclude ::ffff:45.134.26.0/120 excluded %s, want 45.134.26.0/24", res.Network)
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
