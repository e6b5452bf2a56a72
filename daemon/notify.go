package daemon

import (
	"context"
	"log/slog"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"
)

// systemdNotifier tells systemd (Type=notify) when the daemon is ready, stopping or
// reloading, and pets the watchdog while the main loop is alive. Outside systemd
// (NOTIFY_SOCKET unset) every call does nothing.
type systemdNotifier struct {
	log *slog.Logger
}

func (n systemdNotifier) send(state string) {
	if _, err := sd.SdNotify(false, state); err != nil {
		n.log.Warn("telling systemd", "state", state, "err", err)
	}
}

// Ready says the sources, store and rules are loaded.
func (n systemdNotifier) Ready() { n.send(sd.SdNotifyReady) }

// Stopping says the daemon is shutting down.
func (n systemdNotifier) Stopping() { n.send(sd.SdNotifyStopping) }

// Reloading says a reload started; Ready ends it.
func (n systemdNotifier) Reloading() { n.send(sd.SdNotifyReloading) }

// Status shows a line in `systemctl status`.
func (n systemdNotifier) Status(s string) { n.send("STATUS=" + s) }

// watchdogInterval is how often to pet systemd's watchdog (half its timeout), or 0 when
// no watchdog is set for this process.
func watchdogInterval() time.Duration {
	d, err := sd.SdWatchdogEnabled(false)
	if err != nil || d <= 0 {
		return 0
	}
	return d / 2
}

// Watchdog pets the watchdog. The main loop calls it on each tick, so a wedged loop
// stops the petting and systemd restarts the service.
func (n systemdNotifier) Watchdog() { n.send(sd.SdNotifyWatchdog) }

// tickerOrNever returns a channel that ticks every d, or never when d is 0.
func tickerOrNever(ctx context.Context, d time.Duration) <-chan time.Time {
	if d <= 0 {
		return nil
	}
	t := time.NewTicker(d)
	context.AfterFunc(ctx, t.Stop)
	return t.C
}
