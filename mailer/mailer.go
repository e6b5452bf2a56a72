// Package mailer turns incidents into abuse reports and delivers them: a Composer writes
// one polite, evidence-backed memo per responsible party as a complete RFC 5322 message
// whose headers hold only trusted data and whose body holds attacker text only after
// sanitising, optionally with one X-ARF v4 JSON part per source and an OpenPGP/MIME
// signature (RFC 3156), all built with go-message and byte-for-byte deterministic for a
// given report. A Transport (a maildir, or SMTP) delivers it and says where it went, with
// errors that tell a temporary failure (retry later) from a permanent one; a Policy says
// when a queued report may go (back-off, per-recipient cooldown, per-domain hourly limit,
// daily cap). ComposeSummary writes the admin's daily summary (text, and HTML with a PNG
// chart). The outbox itself lives in the store; the daemon applies the Policy to it.
//
// It is the only package that imports github.com/emersion/go-smtp and
// github.com/ProtonMail/go-crypto.
package mailer

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/emersion/go-smtp"
)

// Reporter is who we are, from the config's [reporter] section.
type Reporter struct {
	Name, Organisation, Role, Email string
	// Location is the zone every time in the memo is shown in, always with its offset
	// from GMT, e.g. "2026-11-20 03:14:07 -0500". Nil means UTC.
	Location *time.Location
	// Hosts maps our host names (as logs name them) to the addresses the recipient sees,
	// so the memo can say "web1 (198.51.100.10)": their logs know addresses, not our names.
	// A dual-stack host has an IPv4 and an IPv6 one; a source is shown those of its own
	// family, as it can have reached no other (an IPv6 attacker never hit 198.51.100.10).
	Hosts map[string][]netip.Addr
}

// Transport delivers a composed report and says where it went (a maildir file path, or
// the SMTP server's final reply).
type Transport interface {
	Deliver(ctx context.Context, r abusewatch.Report) (location string, err error)
}

// deliveryError carries a verdict that the underlying error alone does not tell, e.g.
// a configuration mistake (permanent) or a mix of refusals.
type deliveryError struct {
	err       error
	temporary bool
}

func (e *deliveryError) Error() string { return e.err.Error() }
func (e *deliveryError) Unwrap() error { return e.err }

func permanent(err error) error { return &deliveryError{err: err} }

// ErrMayHaveArrived is wrapped by a delivery error that came after the whole message was
// sent, before the server answered it (a timeout, a connection lost): the server may have
// taken the message. It is not Temporary: sent again on its own, a report could arrive
// twice, so a person decides.
var ErrMayHaveArrived = errors.New("the message was sent whole but its reply never came: it may have arrived")

// Temporary reports whether delivery may succeed if retried later: true for 4xx SMTP
// replies and network errors (refused, reset, timed out), false for 5xx replies and for
// mistakes that only a person can fix (a bad address, a missing STARTTLS, a rejected
// certificate).
func Temporary(err error) bool {
	if err == nil {
		return false
	}
	if de, ok := errors.AsType[*deliveryError](err); ok {
		return de.temporary
	}
	if se, ok := errors.AsType[*smtp.SMTPError](err); ok {
		return se.Code/100 == 4
	}
	if _, ok := errors.AsType[net.Error](err); ok {
		return true
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// Both transports are interchangeable to the outbox.
var (
	_ Transport = Maildir{}
	_ Transport = (*SMTP)(nil)
)
