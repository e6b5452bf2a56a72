package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/abusewatch/abusewatch/daemon"
)

// A reload that `abusewatch reload` asks for and that is refused (a rule that does not
// compile) is in the daemon's log, and its status, as SIGHUP's is: an admin reading the
// log later saw no trace of it, since the command refused it without asking the daemon.
func TestReloadRefusedIsInTheDaemonsLog(t *testing.T) {
	s := newAdminSetup(t)
	d := s.start(t)
	s.writeRule(t, "^my own normal line$\n^(broken\n")
	_, stderr, code := s.admin(t, "reload")
	if code != 1 || !strings.Contains(stderr, filepath.Join(s.rules, "local")+":2:") || !strings.Contains(stderr, "The daemon refused the reload: it keeps running with its previous config and rules (its log says so too)") {
		t.Errorf("reload with a broken rule: exit %d\n%s", code, stderr)
	}
	d.waitLog(t, "reload refused", "local:2:", "abusewatch reload")
	var st daemon.Status
	s.adminJSON(t, &st, "status")
	found := false
	for _, e := range st.LastErrors {
		found = found || strings.Contains(e.Message, "reload refused")
	}
	if !found {
		t.Errorf("status shows no refused reload: %+v", st.LastErrors)
	}
}
