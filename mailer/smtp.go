package mailer

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/mail"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// SMTP delivers reports to a mail server with github.com/emersion/go-smtp's client,
// one connection per report.
type SMTP struct {
	Addr               string      // host:port
	TLS                string      // "none", "starttls" (require STARTTLS), "tls" (implicit TLS)
	Username, Password string      // AUTH PLAIN (or LOGIN when that is all the server offers) when Username != ""; only over TLS
	From               string      // envelope sender
	HeloName           string      // the name we greet with (after STARTTLS: see session); "localhost" when empty
	TLSConfig          *tls.Config // optional, e.g. a private CA (RootCAs) or the name the certificate carries; ServerName defaults to Addr's host
	// Timeout bounds the delivery up to the end of the message: connecting, the greeting,
	// each command and sending the message itself. Zero leaves it to ctx.
	Timeout time.Duration
	// ReplyTimeout bounds the wait for the server's reply to the whole message (the
	// final dot), when content filters run: zero is DefaultReplyTimeout.
	ReplyTimeout time.Duration
	// StopGrace is how long a delivery under way may go on once ctx is cancelled (the
	// daemon stops) before it is cut: a server about to answer still can. Zero cuts it at
	// once. Cut while waiting for the final reply, it fails with ErrMayHaveArrived;
	// earlier, with a temporary error (the server cannot have the message).
	StopGrace time.Duration
}

// DefaultReplyTimeout is how long the server may take to answer the whole message: the
// 10 minutes of RFC 5321 section 4.5.3.2.6, as content scanners and before-queue filters
// take their time, and giving up sooner leaves a message that may have arrived.
const DefaultReplyTimeout = 10 * time.Minute

// Deliver sends r.Message to r.Contact.Emails and returns the server's reply to the
// message, e.g. "250 2.0.0 OK: queued as 4F2A". Recipients the server refuses are named
// in that reply; delivery fails only when it refuses all of them. Errors tell
// temporary from permanent through Temporary. The message goes with its Date set to
// now (Dated): a report approved days after it was written is dated when it is sent.
func (s *SMTP) Deliver(ctx context.Context, r abusewatch.Report) (string, error) {
	rcpts, err := envelopeRecipients(r.Contact.Emails)
	if err != nil {
		return "", permanent(err)
	}
	if len(r.Message) == 0 {
		return "", permanent(errors.New("mailer: smtp: the report has no message"))
	}
	if s.From == "" {
		return "", permanent(errors.New("mailer: smtp: no envelope sender (From) configured"))
	}
	// From here on the delivery runs in its own context, cut StopGrace after ctx is.
	ctx, release := stopping(ctx, s.StopGrace)
	defer release()
	// Everything up to the end of the message is bounded by Timeout; the wait for the
	// reply to it (send) by ReplyTimeout.
	upToData := ctx
	if s.Timeout > 0 {
		var cancel context.CancelFunc
		upToData, cancel = context.WithTimeoutCause(ctx, s.Timeout, fmt.Errorf("%w after %s", errTimedOut, s.Timeout))
		defer cancel()
	}
	host, _, err := net.SplitHostPort(s.Addr)
	if err != nil {
		return "", permanent(fmt.Errorf("mailer: smtp: address %q: %w", s.Addr, err))
	}
	cfg := &tls.Config{}
	if s.TLSConfig != nil {
		cfg = s.TLSConfig.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = host // go-smtp's NewClient does not set it for us
	}

	conn, err := s.dial(upToData, cfg)
	if err != nil {
		return "", s.fail(upToData, err)
	}
	defer conn.Close()
	// go-smtp sets a deadline per command but knows no context: closing the connection
	// is how a cancelled context interrupts whatever it is waiting for.
	cut := &cutter{conn: conn, tcp: conn, stop: context.AfterFunc(upToData, func() { conn.Close() }), ctx: upToData}
	if tc, ok := conn.(*tls.Conn); ok {
		cut.tcp = tc.NetConn()
	}
	defer cut.release()

	c, err := s.session(conn, cfg)
	if err != nil {
		return "", s.fail(upToData, err)
	}
	reply, err := s.send(ctx, progressOf(ctx), c, cut, rcpts, Dated(r.Message, time.Now()))
	if err != nil {
		return "", s.fail(cut.ctx, err)
	}
	// The server has taken responsibility for the message: a failing QUIT must not
	// make the caller send it again.
	c.Quit()
	return reply, nil
}

// errTimedOut is the cause of a delivery cut by Timeout or ReplyTimeout.
var errTimedOut = errors.New("timed out")

// cutter closes the connection when the context of the delivery's current phase ends.
type cutter struct {
	conn   net.Conn
	tcp    net.Conn // the TCP connection below conn's TLS, if any
	stop   func() bool
	ctx    context.Context
	cancel context.CancelFunc
}

// replyPhase bounds the wait for the reply to the whole message by d (within ctx, the
// delivery's) instead of Timeout. It reports false when the connection was already cut.
func (c *cutter) replyPhase(ctx context.Context, d time.Duration) bool {
	if !c.stop() {
		return false
	}
	c.ctx, c.cancel = context.WithTimeoutCause(ctx, d, fmt.Errorf("%w: no reply to the message within %s", errTimedOut, d))
	c.stop = context.AfterFunc(c.ctx, func() { c.conn.Close() })
	return true
}

func (c *cutter) release() {
	c.stop()
	if c.cancel != nil {
		c.cancel()
	}
}

// stopping is the context a delivery runs in: ctx's values, cancelled grace after ctx
// is (at once when grace is zero). release frees it.
func stopping(ctx context.Context, grace time.Duration) (context.Context, func()) {
	if grace <= 0 {
		return ctx, func() {}
	}
	g, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() {
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-t.C:
			cancel(fmt.Errorf("%w: the delivery under way was given %s more and did not finish", context.Cause(ctx), grace))
		case <-g.Done():
		}
	})
	return g, func() {
		stop()
		cancel(context.Canceled)
	}
}

func (s *SMTP) dial(ctx context.Context, cfg *tls.Config) (net.Conn, error) {
	var d net.Dialer
	switch s.TLS {
	case "none", "", "starttls":
		return d.DialContext(ctx, "tcp", s.Addr)
	case "tls":
		return (&tls.Dialer{NetDialer: &d, Config: cfg}).DialContext(ctx, "tcp", s.Addr)
	}
	return nil, permanent(fmt.Errorf("mailer: smtp: TLS mode %q: want none, starttls or tls", s.TLS))
}

// session greets the server, starts TLS when asked and logs in.
func (s *SMTP) session(conn net.Conn, cfg *tls.Config) (*smtp.Client, error) {
	var c *smtp.Client
	if s.TLS == "starttls" {
		// This greets as "localhost" before TLS, as go-smtp v0.25 offers no way to name
		// ourselves earlier (the EHLO over TLS, which the server logs with the session,
		// carries HeloName), and fails when the server does not offer STARTTLS rather
		// than falling back to plain text.
		var err error
		if c, err = smtp.NewClientStartTLS(conn, cfg); err != nil {
			return nil, err
		}
	} else {
		c = smtp.NewClient(conn)
	}
	if s.Timeout > 0 {
		c.CommandTimeout = s.Timeout
	}
	c.SubmissionTimeout = cmp.Or(s.ReplyTimeout, DefaultReplyTimeout)
	// Greeting now, even without a name of our own, makes a TLS handshake failure show
	// up here as one rather than as a failed MAIL FROM.
	if err := c.Hello(cmp.Or(s.HeloName, "localhost")); err != nil {
		return nil, fmt.Errorf("EHLO: %w", err)
	}
	if s.Username != "" {
		if err := s.auth(c); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// auth logs in with AUTH PLAIN, or AUTH LOGIN when the server offers only that. It
// never sends a password over a connection without TLS, not even to this host: a
// relay on loopback can be a port forwarded elsewhere.
func (s *SMTP) auth(c *smtp.Client) error {
	if _, isTLS := c.TLSConnectionState(); !isTLS {
		return permanent(errors.New("refusing to send the password without TLS; set tls to starttls or tls"))
	}
	mech, client := "PLAIN", sasl.NewPlainClient("", s.Username, s.Password)
	if !c.SupportsAuth(sasl.Plain) && c.SupportsAuth(sasl.Login) {
		mech, client = "LOGIN", sasl.NewLoginClient(s.Username, s.Password)
	}
	if err := c.Auth(client); err != nil {
		return fmt.Errorf("AUTH %s as %q: %w", mech, s.Username, err)
	}
	return nil
}

// send runs one mail transaction and returns the server's final reply. ctx is the
// delivery's; cut bounds each phase; pr, when not nil, learns each recipient's answer
// and is asked before DATA (Progress).
func (s *SMTP) send(ctx context.Context, pr *Progress, c *smtp.Client, cut *cutter, rcpts []string, msg []byte) (string, error) {
	if err := c.Mail(s.From, nil); err != nil {
		return "", fmt.Errorf("MAIL FROM:<%s>: %w", s.From, err)
	}
	var accepted int
	var refused []error
	for _, to := range rcpts {
		if err := c.Rcpt(to, nil); err != nil {
			if _, ok := errors.AsType[*smtp.SMTPError](err); !ok {
				return "", err // the connection failed: nothing more to try on it
			}
			refused = append(refused, fmt.Errorf("RCPT TO:<%s>: %w", to, err))
			pr.refused(to, err)
			continue
		}
		accepted++
		pr.accepted(to)
	}
	if accepted == 0 {
		// Worth another try later if any refusal was temporary.
		temp := false
		for _, err := range refused {
			temp = temp || Temporary(err)
		}
		return "", &deliveryError{err: fmt.Errorf("every recipient refused: %w", errors.Join(refused...)), temporary: temp}
	}
	if err := pr.beforeData(); err != nil {
		return "", err
	}
	w, err := c.Data()
	if err != nil {
		return "", fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		w.Close()
		return "", fmt.Errorf("sending the message: %w", err)
	}
	resp, err := s.endData(ctx, w, cut)
	if err != nil {
		return "", err
	}
	reply := "250 " + resp.StatusText
	for _, err := range refused {
		reply += "; refused " + err.Error()
	}
	return reply, nil
}

// endData sends the end of the message (what is still buffered, and the final dot) and
// waits for the server's reply to it, up to ReplyTimeout rather than Timeout. Only a
// failure once the dot went whole, before any reply, leaves the message perhaps
// delivered (ErrMayHaveArrived); one while sending it, or a reset that says the server
// did not read to the end, is temporary: the server does not have the message.
func (s *SMTP) endData(ctx context.Context, w *smtp.DataCommand, cut *cutter) (*smtp.DataResponse, error) {
	if !cut.replyPhase(ctx, cmp.Or(s.ReplyTimeout, DefaultReplyTimeout)) {
		w.Close()
		return nil, &deliveryError{err: errors.New("sending the message: the connection was cut before its end"), temporary: true}
	}
	// go-smtp writes the rest and the dot without a deadline: Timeout bounds that part,
	// as it bounds the rest of the message (the deadline is replaced by the reply's).
	if s.Timeout > 0 {
		cut.conn.SetWriteDeadline(time.Now().Add(s.Timeout))
	}
	resp, err := w.CloseWithResponse()
	if err == nil {
		return resp, nil
	}
	if _, replied := errors.AsType[*smtp.SMTPError](err); replied {
		return nil, fmt.Errorf("end of DATA: %w", err)
	}
	if op, ok := errors.AsType[*net.OpError](err); ok && op.Op == "write" {
		// The end of the message, the dot last, did not go whole.
		return nil, &deliveryError{err: fmt.Errorf("sending the end of the message: %w", err), temporary: true}
	}
	if errors.Is(err, syscall.ECONNRESET) {
		// A server that closes its side with data of ours unread resets the connection:
		// it did not read to the dot, so it did not take the message.
		return nil, &deliveryError{err: fmt.Errorf("end of DATA: the server dropped the connection before it read the whole message: %w", err), temporary: true}
	}
	if (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) && unacked(cut.tcp) > 0 {
		// It closed its side (EOF) before our last bytes reached it: its FIN
		// acknowledges all it had received, and the end of the message is not among
		// them. One that read it all and closes without answering may have taken it.
		return nil, &deliveryError{err: fmt.Errorf("end of DATA: the server closed the connection before it received the whole message: %w", err), temporary: true}
	}
	// The whole message went and no answer came (a timeout, a connection lost): the
	// server may have taken it, and sending it again could send it twice.
	return nil, &deliveryError{err: fmt.Errorf("end of DATA: %w: %w", ErrMayHaveArrived, err)}
}

// fail names the server, and the context's reason when the error came from closing the
// connection on cancellation.
func (s *SMTP) fail(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cause != nil && !errors.Is(err, cause) {
		err = fmt.Errorf("%w: %w", cause, err)
	}
	return fmt.Errorf("mailer: smtp: %s: %w", s.Addr, err)
}

// envelopeRecipients takes the bare addresses out of the contact's list.
func envelopeRecipients(emails []string) ([]string, error) {
	var rcpts []string
	for _, e := range emails {
		a, err := mail.ParseAddress(e)
		if err != nil {
			return nil, fmt.Errorf("mailer: smtp: recipient %q: %w", sanitize(e), err)
		}
		rcpts = append(rcpts, a.Address)
	}
	if len(rcpts) == 0 {
		return nil, errors.New("mailer: smtp: the report has no recipient")
	}
	return rcpts, nil
}

// PresentedCertificate describes the certificate a server presented when err is a
// failed verification of it (an unknown issuer, another name, expired): its subject and
// names, its issuer, its validity and its SHA-256 fingerprint, so that an admin can tell
// their relay's own certificate from someone else's before trusting it. ok is false for
// any other error.
func PresentedCertificate(err error) (desc string, ok bool) {
	ve, ok := errors.AsType[*tls.CertificateVerificationError](err)
	if !ok || len(ve.UnverifiedCertificates) == 0 {
		return "", false
	}
	c := ve.UnverifiedCertificates[0]
	sum := sha256.Sum256(c.Raw)
	fp := strings.ToUpper(hex.EncodeToString(sum[:]))
	var pairs []string
	for i := 0; i < len(fp); i += 2 {
		pairs = append(pairs, fp[i:i+2])
	}
	names := slices.Clone(c.DNSNames)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	issuer := c.Issuer.String()
	if bytes.Equal(c.RawIssuer, c.RawSubject) {
		issuer = "itself (self-signed)"
	}
	desc = fmt.Sprintf("subject %s, names [%s], issued by %s, valid %s to %s, SHA-256 fingerprint %s",
		sanitize(c.Subject.String()), sanitize(strings.Join(names, ", ")), sanitize(issuer),
		c.NotBefore.UTC().Format(time.DateOnly), c.NotAfter.UTC().Format(time.DateOnly), strings.Join(pairs, ":"))
	if len(ve.UnverifiedCertificates) > 1 {
		desc += fmt.Sprintf(" (and %d more in its chain)", len(ve.UnverifiedCertificates)-1)
	}
	return desc, true
}
