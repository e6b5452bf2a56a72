package main

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/daemon"
)

// SIGTERM while a writer floods the log: the daemon commits what it read and exits 0, and
// after a restart every line is counted exactly once.
func TestSIGTERMDuringHeavyInputLosesNothing(t *testing.T) {
	s := newAdminSetup(t)
	d := s.start(t)
	const total = 60000
	written := make(chan int, 1)
	go func() {
		f, err := os.OpenFile(s.logFile, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			written <- 0
			return
		}
		defer f.Close()
		var b strings.Builder
		n := 0
		for n < total {
			b.Reset()
			for range 500 {
				fmt.Fprintf(&b, "2026-11-20T03:00:00.%06d+00:00 web1 sshd[7]: Failed password for root from 10.9.%d.%d port %d ssh2\n",
					n%1000000, n/250%250, n%250+1, 1024+n%60000)
				n++
			}
			if _, err := f.WriteString(b.String()); err != nil {
				break
			}
		}
		written <- n
	}()
	// Stop it while lines are still arriving.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var st daemon.Status
		s.adminJSON(t, &st, "status")
		if st.Counters["lines"] > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the daemon read nothing")
		}
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	stopped := d.waitLog(t, "abusewatch stopped")
	if err := d.cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	first, _ := strconv.Atoi(regexp.MustCompile(`lines=(\d+)`).FindStringSubmatch(stopped)[1])
	n := <-written
	if n != total {
		t.Fatalf("the writer wrote %d lines", n)
	}
	if first == total {
		t.Logf("the first run read all %d lines before it stopped; the restart reads none", total)
	}

	s.start(t)
	for {
		var st daemon.Status
		s.adminJSON(t, &st, "status")
		if got := first + int(st.Counters["lines"]); got == total && st.Store.Events == total {
			break
		} else if got > total || st.Store.Events > total {
			t.Fatalf("lines counted twice: %d before SIGTERM + %d after = %d; %d events stored; %d written",
				first, st.Counters["lines"], got, st.Store.Events, total)
		}
		if time.Now().After(deadline.Add(30 * time.Second)) {
			t.Fatalf("after the restart: %d + %d lines, %d events; want %d", first, st.Counters["lines"], st.Store.Events, total)
		}
	}
}
