package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// stopWhenRunning is the daemon's log, and the test's hold on the moment it stops: it
// passes on the TCP address the listener logs, and when Run logs that it runs, it waits
// (on Run's goroutine, before Run commits its first batch) until the listener has ended
// the test's connection, then cancels Run's context. The first batch is then committed
// with the context already cancelled: the stop comes between the commit and the
// correlation of a batch, as a SIGTERM did in TestSyslogTCPLineCutByThePeerClosingIsDropped.
type stopWhenRunning struct {
	tap    *logTap
	addr   chan string
	ended  chan struct{} // closed by the listener's warning that the connection ended
	stop   context.CancelFunc
	failed chan string // why the hold gave up (it cannot fail the test from Run's goroutine)
}

func (h *stopWhenRunning) Enabled(context.Context, slog.Level) bool { return true }
func (h *stopWhenRunning) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *stopWhenRunning) WithGroup(string) slog.Handler            { return h }

func (h *stopWhenRunning) Handle(ctx context.Context, rec slog.Record) error {
	h.tap.Handle(ctx, rec)
	attrs := map[string]string{}
	rec.Attrs(func(a slog.Attr) bool { attrs[a.Key] = a.Value.String(); return true })
	switch {
	case rec.Message == "syslog: listening" && attrs["proto"] == "tcp":
		h.addr <- attrs["addr"]
	case rec.Message == "syslog: connection ended":
		close(h.ended)
	case rec.Message == "abusewatch running":
		select {
		case <-h.ended:
		case <-time.After(10 * time.Second):
			h.failed <- "the listener did not end the connection within 10s"
		}
		h.stop()
	}
	return nil
}

// A line whose batch is committed as the daemon stops is stored once, and correlated.
// The batch's correlation, cut short by the stop, failed after the commit; a batch of
// the syslog listener has no position to show that it was committed, so it was kept and
// committed again by the last flush: "u0 stored twice". Then, told that it was
// committed, the daemon left it uncorrelated: no incident, and nothing correlates it
// after a restart.
func TestSyslogLineCommittedAsTheDaemonStopsIsStoredOnce(t *testing.T) {
	cfg := syslogStoreConfig(t, t.TempDir())
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	h := &stopWhenRunning{tap: &logTap{more: make(chan struct{})}, addr: make(chan string, 1), ended: make(chan struct{}),
		stop: cancel, failed: make(chan string, 1)}
	d, err := New(cfg, slog.New(h))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	var addr string
	select {
	case addr = <-h.addr:
	case <-time.After(10 * time.Second):
		t.Fatal("the listener did not listen within 10s")
	}
	// A whole line, then one the peer cuts by closing: the listener logs that the
	// connection ended once the whole one is handed on.
	conn := dialFrom(t, "127.0.0.1", addr)
	fmt.Fprintf(conn, "%s\n%s", sshdMessage(0, "24.0.0.45"), sshdMessage(1, "24.0.0.45")[:60])
	conn.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("Run did not return within 30s; the log:\n%s", strings.Join(h.tap.all(), "\n"))
	}
	select {
	case why := <-h.failed:
		t.Fatal(why)
	default:
	}
	st := openTestStore(t, cfg)
	events, err := st.EventsByAddr(netip.MustParseAddr("24.0.0.45"), time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 {
		t.Errorf("%d events stored for the one whole line; want 1. The log:\n%s", len(events), strings.Join(h.tap.all(), "\n"))
	}
	if n := d.Pipeline().Counters.Lines.Load(); n != 1 {
		t.Errorf("%d lines counted; want 1", n)
	}
	if _, n, err := st.IncidentsIn(netip.MustParsePrefix("24.0.0.45/32"), time.Time{}, 0); err != nil || n != 1 {
		t.Errorf("%d incidents of 24.0.0.45 (%v); want the one of its attack (correlate.threshold = 1). The log:\n%s", n, err, strings.Join(h.tap.all(), "\n"))
	}
}

// syslogStoreConfig is the config of a daemon in dir that listens for syslog over TCP
// on a loopback port the kernel picks, stores what it reads, makes an incident of every
// attack and mails nothing (observe mode).
func syslogStoreConfig(t *testing.T, dir string) *Config {
	t.Helper()
	return observeConfig(t, dir, "[syslog]\ntcp = [\"127.0.0.1:0\"]\nallow = [\"127.0.0.1\"]", 1)
}
