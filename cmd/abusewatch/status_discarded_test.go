package main

import (
	"testing"

	"github.com/abusewatch/abusewatch/daemon"
)

// status says what a syslog listener discarded, by reason, and nothing for a source
// that discarded nothing.
func TestStatusSaysWhatTheListenerDiscarded(t *testing.T) {
	s := daemon.SourceStatus{SourceStats: daemon.SourceStats{Source: "syslog", Errors: 45, Refused: 40, Cut: 1, Dropped: 4}}
	if got, want := discarded(s), "40 refused (not in syslog.allow), 1 cut off by the stream's end, 4 dropped by the kernel (UDP buffer full)"; got != want {
		t.Errorf("discarded = %q\nwant %q", got, want)
	}
	if got := discarded(daemon.SourceStatus{SourceStats: daemon.SourceStats{Source: "/var/log/auth.log", Errors: 3}}); got != "" {
		t.Errorf("a file source discarded %q", got)
	}
}
