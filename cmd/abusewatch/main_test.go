package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binary is the abusewatch binary built once for every test that runs the real thing.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "abusewatch-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "abusewatch")
	// Under -race, the daemon the tests run is built with it too: its goroutines (the
	// outbox beside the main loop, the sources, the admin socket) are checked as well.
	args := []string{"build", "-o", binary}
	if raceEnabled {
		args = append(args, "-race")
		// A race-built program sleeps a second as it exits (the race runtime's
		// atexit_sleep_ms, for other threads' reports), and these tests run it hundreds
		// of times: that second was most of their time under -race (443 s in CI). A
		// race is reported, and sets the exit code, where it is found, not then.
		os.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	}
	if out, err := exec.Command("go", append(args, ".")...).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building abusewatch: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// repoPath is a path in the repository, absolute so tests can run commands elsewhere.
func repoPath(t *testing.T, rel string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", rel))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// runBinary runs the binary to completion in dir and returns stdout, stderr and the exit code.
func runBinary(t *testing.T, dir string, args ...string) (string, string, int) {
	t.Helper()
	return runBinaryAs(t, dir, nil, args...)
}

// runBinaryAs runs the binary to completion in dir, as the user cred names (nil: this
// process's), and returns its stdout, stderr and exit status.
func runBinaryAs(t *testing.T, dir string, cred *syscall.Credential, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Dir = dir
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), code
}

// daemonProcess is the real binary running `run`, with its log lines readable as they come.
type daemonProcess struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	log  []string
	more chan struct{} // closed and replaced whenever a line arrives
	done chan struct{} // closed when the log ends (the process exited)
}

func startDaemon(t *testing.T, dir string, args ...string) *daemonProcess {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &daemonProcess{cmd: cmd, more: make(chan struct{}), done: make(chan struct{})}
	go d.read(stderr)
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-d.done
		cmd.Wait()
		if slices.ContainsFunc(d.lines(), func(l string) bool { return strings.Contains(l, "WARNING: DATA RACE") }) {
			t.Error("the race detector found a data race in the daemon (its log follows)")
		}
		if t.Failed() {
			t.Logf("daemon log:\n%s", strings.Join(d.lines(), "\n"))
		}
	})
	return d
}

func (d *daemonProcess) read(r io.Reader) {
	defer close(d.done)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		d.mu.Lock()
		d.log = append(d.log, sc.Text())
		close(d.more)
		d.more = make(chan struct{})
		d.mu.Unlock()
	}
}

func (d *daemonProcess) lines() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.log...)
}

// waitLog waits until a log line contains all of words, or fails the test at the deadline.
func (d *daemonProcess) waitLog(t *testing.T, words ...string) string {
	t.Helper()
	return d.waitFor(t, fmt.Sprintf("%q", words), 30*time.Second, func(l string) bool { return containsAll(l, words) })
}

// waitFor waits until a log line satisfies match, or fails the test after timeout.
func (d *daemonProcess) waitFor(t *testing.T, what string, timeout time.Duration, match func(string) bool) string {
	t.Helper()
	deadline := time.After(timeout)
	seen := 0
	for {
		d.mu.Lock()
		lines, more := d.log[seen:], d.more
		seen = len(d.log)
		d.mu.Unlock()
		for _, l := range lines {
			if match(l) {
				return l
			}
		}
		select {
		case <-more:
		case <-d.done:
			t.Fatalf("the daemon exited before logging a line with %s", what)
		case <-deadline:
			t.Fatalf("no log line with %s within %s", what, timeout)
		}
	}
}

func containsAll(s string, words []string) bool {
	for _, w := range words {
		if !strings.Contains(s, w) {
			return false
		}
	}
	return true
}
