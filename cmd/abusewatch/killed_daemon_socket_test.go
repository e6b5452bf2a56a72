package main

import (
	"strings"
	"syscall"
	"testing"
)

// A daemon killed with SIGKILL leaves its socket behind: the commands say it is not
// running and how to start it, without the internal URL of the request.
func TestASocketLeftByAKilledDaemonSaysItIsNotRunning(t *testing.T) {
	s := newAdminSetup(t)
	d := s.start(t)
	if err := d.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-d.done
	d.cmd.Wait()
	_, stderr, code := s.admin(t, "status")
	if code != 1 || !strings.Contains(stderr, "the abusewatch daemon is not running: nothing answers on "+s.socket+" (connection refused)") ||
		!strings.Contains(stderr, "systemctl start abusewatch") || strings.Contains(stderr, "http://") {
		t.Errorf("status after SIGKILL: exit %d\n%s", code, stderr)
	}
}
