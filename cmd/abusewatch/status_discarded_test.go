package main

import (
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/daemon"
)

// status says what a syslog listener discarded, by reason, what the journal refused,
// and nothing for a source that discarded nothing.
func TestStatusSaysWhatTheListenerDiscarded(t *testing.T) {
	s := daemon.SourceStatus{SourceStats: daemon.SourceStats{Source: "syslog", Errors: 45, Refused: 40, Cut: 1, Dropped: 4}}
	if got, want := discarded(s), "40 refused (not in syslog.allow), 1 cut off by the stream's end, 4 dropped by the kernel (UDP buffer full)"; got != want {
		t.Errorf("discarded = %q\nwant %q", got, want)
	}
	if got := discarded(daemon.SourceStatus{SourceStats: daemon.SourceStats{Source: "/var/log/auth.log", Errors: 3}}); got != "" {
		t.Errorf("a file source discarded %q", got)
	}
	s = daemon.SourceStatus{SourceStats: daemon.SourceStats{Source: "journal", Errors: 12, Refused: 12}}
	if got, want := discarded(s), "12 refused (from neither root nor a configured unit, or by a process that is not the program it names: the log says which and why)"; got != want {
		t.Errorf("journal: discarded = %q\nwant %q", got, want)
	}
}

// status says its uptime in days, as a person does: 30 days were "720h0m0s".
func TestStatusSaysUptimeInDays(t *testing.T) {
	for d, want := range map[time.Duration]string{
		30 * 24 * time.Hour: "30d 0h", 30*24*time.Hour + 4*time.Hour + 5*time.Minute: "30d 4h",
		5*time.Hour + 12*time.Minute: "5h 12m", 3*time.Minute + 20*time.Second: "3m 20s", 7 * time.Second: "7s",
	} {
		if got := uptime(d); got != want {
			t.Errorf("uptime(%s) = %q, want %q", d, got, want)
		}
	}
}
