package mailer

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// SMTP delivers reports to a mail server with github.com/emersion/go-smtp's client,
// one connection per report.
type SMTP struct {
	Addr               string        // host:port
	TLS                string        // "none", "starttls" (require STARTTLS), "tls" (implicit TLS)
	Username, Password string        // AUTH PLAIN (or LOGIN when that is all the server offers) when Username != ""; only over TLS
	From               string        // envelope sender
	HeloName           string        // the name we greet with (after STARTTLS: see session); "localhost" when empty
	TLSConfig          *tls.Config   // optional, e.g. a private CA; ServerName defaults to Addr's host
	Timeout            time.Duration // bounds one whole delivery; zero leaves it to ctx
}

// Deliver sends r.Message to r.Contact.Emails and returns the server's reply to the
// message, e.g. "250 2.0.0 OK: queued as 4F2A". Recipients the server refuses are named
// in that reply; delivery fails only when it refuses all of them. Errors tell
// temporary from permanent through Temporary.
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
	if s.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.Timeout)
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

	conn, err := s.dial(ctx, cfg)
	if err != nil {
		return "", s.fail(ctx, err)
	}
	// go-smtp sets a deadline per command but knows no context: closing the connection
	// is how a cancelled context interrupts whatever it is waiting for.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	defer conn.Close()

	c, err := s.session(conn, cfg)
	if err != nil {
		return "", s.fail(ctx, err)
	}
	reply, err := s.send(progressOf(ctx), c, rcpts, r.Message)
	if err != nil {
		return "", s.fail(ctx, err)
	}
	// The server has taken responsibility for the message: a failing QUIT must not
	// make the caller send it again.
	c.Quit()
	return reply, nil
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
		c.SubmissionTimeout = s.Timeout
	}
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

// send runs one mail transaction and returns the server's final reply; pr, when not
// nil, learns each recipient's answer and is asked before DATA (Progress).
func (s *SMTP) send(pr *Progress, c *smtp.Client, rcpts []string, msg []byte) (string, error) {
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
	resp, err := w.CloseWithResponse()
	if _, replied := errors.AsType[*smtp.SMTPError](err); err != nil && !replied {
		// The whole message went and no answer came (a timeout, a connection lost):
		// the server may have taken it, and sending it again could send it twice.
		return "", &deliveryError{err: fmt.Errorf("end of DATA: %w: %w", ErrMayHaveArrived, err)}
	}
	if err != nil {
		return "", fmt.Errorf("end of DATA: %w", err)
	}
	reply := "250 " + resp.StatusText
	for _, err := range refused {
		reply += "; refused " + err.Error()
	}
	return reply, nil
}

// fail names the server, and the context's reason when the error came from closing the
// connection on cancellation.
func (s *SMTP) fail(ctx context.Context, err error) error {
	if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		err = fmt.Errorf("%w: %w", ctx.Err(), err)
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
