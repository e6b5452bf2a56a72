package main

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/abusewatch/abusewatch/daemon"
)

// editConfig replaces old with new in s's config file (once), as an admin editing it.
func (s *adminSetup) editConfig(t *testing.T, old, new string) {
	t.Helper()
	doc, err := os.ReadFile(s.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), old) {
		t.Fatalf("the config has no %q", old)
	}
	if err := os.WriteFile(s.cfg, []byte(strings.Replace(string(doc), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// lineOf is the line number of the first line of s's config that contains text.
func (s *adminSetup) lineOf(t *testing.T, text string) int {
	t.Helper()
	doc, err := os.ReadFile(s.cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range strings.Split(string(doc), "\n") {
		if strings.Contains(l, text) {
			return i + 1
		}
	}
	t.Fatalf("the config has no %q", text)
	return 0
}

// An admin makes a typo in the config while the daemon runs. reload shows the error
// with file and line and says nothing was reloaded; the other commands say first that
// the config does not load and that they try the default socket, then what that gave.
// They all said "the daemon is not running": the socket was in the config.
func TestAConfigTypoIsShownInsteadOfADaemonDown(t *testing.T) {
	if _, err := os.Stat(daemon.DefaultAdminSocket); err == nil {
		t.Skipf("a daemon may answer on %s on this machine", daemon.DefaultAdminSocket)
	}
	s := newAdminSetup(t)
	s.start(t)
	s.editConfig(t, "[policy]\n", "[policy]\nmdoe = \"auto\"\n")
	at := s.cfg + ":" + strconv.Itoa(s.lineOf(t, "mdoe")) + ": policy.mdoe: unknown key"

	stdout, stderr, code := s.admin(t, "reload")
	if code != 1 || !strings.HasPrefix(stderr, "abusewatch reload: "+at) || !strings.Contains(stderr, "Nothing was reloaded") ||
		!strings.Contains(stderr, "keeps running with its previous config and rules") || strings.Contains(stderr, "not running") {
		t.Errorf("reload of a config with a typo: exit %d\n%s%s", code, stdout, stderr)
	}
	// The daemon kept its config: it still answers on its socket.
	stdout, stderr, code = s.admin(t, "status", "--socket", s.socket)
	if code != 0 || !strings.Contains(stdout, "abusewatch is running") || !strings.HasPrefix(stderr, at) {
		t.Errorf("status --socket: exit %d\n%s%s", code, stdout, stderr)
	}

	guess := ": the config does not load, so its [admin] socket is unknown; trying the default " + daemon.DefaultAdminSocket + "; use --socket PATH\n"
	for _, args := range [][]string{{"status"}, {"incidents"}, {"ip", "3.3.3.3"}, {"outbox"}, {"exclude", "--list"}} {
		stdout, stderr, code := s.admin(t, args...)
		first, rest, _ := strings.Cut(stderr, "\n")
		if code != 1 || stdout != "" || !strings.HasPrefix(first+"\n", at) || !strings.HasSuffix(first+"\n", guess) ||
			!strings.Contains(rest, "nothing answers on the default socket "+daemon.DefaultAdminSocket+" either") ||
			!strings.Contains(rest, "--socket PATH") || strings.Contains(stderr, "not running") {
			t.Errorf("%v with a config that does not load: exit %d\n%s%s", args, code, stdout, stderr)
		}
	}
}

// A config that loads but that the daemon refuses (store.path moved) is the daemon's to
// refuse: reload says it refused and keeps its config. With no daemon at all, reload
// says nothing answers, not that a daemon keeps anything.
func TestReloadSaysWhoRefusedIt(t *testing.T) {
	s := newAdminSetup(t)
	_, stderr, code := s.admin(t, "reload")
	if code != 1 || !strings.Contains(stderr, "nothing answers on "+s.socket) || strings.Contains(stderr, "keeps running") {
		t.Errorf("reload without a daemon: exit %d\n%s", code, stderr)
	}
	s.start(t)
	s.editConfig(t, "state.db", "moved.db")
	_, stderr, code = s.admin(t, "reload")
	if code != 1 || !strings.Contains(stderr, "store.path changed") || !strings.Contains(stderr, "The daemon refused the reload: it keeps running with its previous config and rules") {
		t.Errorf("reload refused by the daemon: exit %d\n%s", code, stderr)
	}
}
