package daemon

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/mailer"
	"github.com/abusewatch/abusewatch/mailer/mailtest"
)

// The relay may take mail.reply_timeout (10 minutes) to answer a whole message, but a
// stopping daemon (its context cancelled) must exit within the unit's TimeoutStopSec:
// the delivery under way gets its grace, then is cut, and the report waits for approval
// ("may have arrived"), as before the reply had a longer limit (review 28 F4).
func TestStopCutsADeliveryWaitingForItsReplyAfterTheGrace(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{Hold: true})
	p, st, _ := outboxPipeline(t, srv.Addr, "auto", parties[:1], "")
	smtp := *p.transport.(*mailer.SMTP)
	if smtp.ReplyTimeout != mailer.DefaultReplyTimeout || smtp.StopGrace != 10*time.Second {
		t.Errorf("the transport waits %s for the reply and %s on a stop; want mail.reply_timeout's default and mail.timeout",
			smtp.ReplyTimeout, smtp.StopGrace)
	}
	smtp.StopGrace = 300 * time.Millisecond
	p.SetTransport(&smtp)
	attack(t, st, "45.134.26.7", t0, 20)

	ctx, stop := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Tick(ctx, t0) }()
	srv.Holding(t)
	stop()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the round did not end after the stop and the delivery's grace")
	}
	r := reportsIn(t, st, abusewatch.ReportPendingApproval)
	if len(r) != 1 || !strings.Contains(r[0].Error, "it may have arrived") {
		t.Fatalf("after the stop: %+v; want the report waiting for approval", reportsIn(t, st))
	}
}
