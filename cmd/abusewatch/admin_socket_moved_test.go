package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// [admin] socket is changed in the config and the daemon reloaded: it still listens on
// the old path until it is restarted. The commands read the new path, where nothing
// answers: they say that the socket may have moved and how to reach the daemon, where
// they said it was not running.
func TestAnAdminSocketChangedSinceTheStartIsExplained(t *testing.T) {
	s := newAdminSetup(t)
	s.start(t)
	moved := filepath.Join(s.dir, "run", "moved.sock")
	s.editConfig(t, s.socket, moved)
	stdout, stderr, code := s.admin(t, "reload", "--socket", s.socket)
	if code != 0 || !strings.Contains(stdout, "restart the daemon to move the admin socket") {
		t.Fatalf("reload over the old socket: exit %d\n%s%s", code, stdout, stderr)
	}
	const hint = "If you changed [admin] socket since it started, it listens on the old path until it is restarted: use --socket OLD_PATH or restart it"
	for _, args := range [][]string{{"status"}, {"reload"}, {"incidents"}, {"ip", "3.3.3.3"}} {
		stdout, stderr, code := s.admin(t, args...)
		if code != 1 || stdout != "" || !strings.Contains(stderr, "nothing answers on "+moved+" (no such file)") || !strings.Contains(stderr, hint) {
			t.Errorf("%v after the socket moved: exit %d\n%s%s", args, code, stdout, stderr)
		}
	}
	// The commands that can read the store see the daemon holds it: it runs.
	if _, stderr, _ := s.admin(t, "incidents"); !strings.Contains(stderr, "in use by another process, most likely the daemon") {
		t.Errorf("incidents does not say the daemon holds the store:\n%s", stderr)
	}
	if stdout, stderr, code := s.admin(t, "status", "--socket", s.socket); code != 0 || !strings.Contains(stdout, "abusewatch is running") {
		t.Errorf("status --socket OLD: exit %d\n%s%s", code, stdout, stderr)
	}
}
