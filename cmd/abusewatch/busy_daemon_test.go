package main

import (
	"strings"
	"syscall"
	"testing"

	"github.com/abusewatch/abusewatch/daemon"
)

// A daemon too busy to answer (here stopped with SIGSTOP: its socket still takes the
// connections, and nothing answers) is said to be busy, in words: the commands quoted
// "context deadline exceeded (Client.Timeout exceeded while awaiting headers)" and the
// API's internal URL. --timeout sets how long they wait.
func TestABusyDaemonIsSaidToBeBusy(t *testing.T) {
	s := newAdminSetup(t)
	d := s.start(t)
	if err := d.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.cmd.Process.Signal(syscall.SIGCONT) })
	for _, args := range [][]string{{"status"}, {"status", "--json"}, {"reload", "--json"}, {"incidents"}, {"ip", "3.3.3.3"}} {
		stdout, stderr, code := s.admin(t, append(args, "--timeout", "500ms")...)
		if code != 1 || stdout != "" || !strings.Contains(stderr, "the daemon did not answer within 0.5 s: it may be busy") ||
			!strings.Contains(stderr, "try again") {
			t.Errorf("%v while the daemon does not answer: exit %d\n%s%s", args, code, stdout, stderr)
		}
		for _, internal := range []string{"http://", "Client.Timeout", "deadline exceeded", "not running"} {
			if strings.Contains(stderr, internal) {
				t.Errorf("%v says %q:\n%s", args, internal, stderr)
			}
		}
	}
	if err := d.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	var st daemon.Status
	s.adminJSON(t, &st, "status")
}

// With --json, an error goes to stderr as text, with a non-zero exit status, and stdout
// stays empty: what a script reads on stdout is an answer or nothing.
func TestJSONCommandsPrintErrorsOnStderrOnly(t *testing.T) {
	s := newAdminSetup(t)
	for _, args := range [][]string{{"status"}, {"reload"}} {
		stdout, stderr, code := s.admin(t, append(args, "--json")...)
		if code != 1 || stdout != "" || !strings.Contains(stderr, "nothing answers on "+s.socket) {
			t.Errorf("%v --json without a daemon: exit %d\nstdout %q\nstderr %q", args, code, stdout, stderr)
		}
	}
}
