package mailer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/mailer/mailtest"
	"github.com/emersion/go-smtp"
)

func testReport(t *testing.T) abusewatch.Report {
	t.Helper()
	r, err := testComposer(t).Compose(testContact(), []abusewatch.Incident{testIncident()}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func deliver(t *testing.T, s *SMTP, r abusewatch.Report) (string, error) {
	t.Helper()
	if s.Timeout == 0 {
		s.Timeout = 10 * time.Second // a hung test fails instead of hanging
	}
	if s.ReplyTimeout == 0 {
		s.ReplyTimeout = 10 * time.Second
	}
	return s.Deliver(context.Background(), r)
}

func TestSMTPDeliversExactMessage(t *testing.T) {
	ts := mailtest.Start(t, mailtest.Options{})
	r := testReport(t)
	loc, err := deliver(t, &SMTP{Addr: ts.Addr, TLS: "none", From: "bounces@example.org", HeloName: "reporter.example.org"}, r)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(loc, "250 ") {
		t.Errorf("location = %q, want the server's 250 reply", loc)
	}
	m := ts.Next(t)
	if m.From != "bounces@example.org" {
		t.Errorf("MAIL FROM = %q", m.From)
	}
	if want := []string{"abuse@isp.example", "security@isp.example"}; !slices.Equal(m.To, want) {
		t.Errorf("RCPT TO = %q, want %q", m.To, want)
	}
	// Byte for byte, but for the Date, which is when it went (TestDateIsWhenSent).
	if want := Dated(r.Message, time.Now()); string(Dated(m.Data, time.Now())) != string(want) {
		t.Errorf("the server received other bytes than the report's message:\n%q\nwant\n%q", m.Data, want)
	}
}

func TestSMTPStartTLSWithAuthPlain(t *testing.T) {
	ts := mailtest.Start(t, mailtest.Options{StartTLS: true, User: "reporter", Pass: "s3cret"})
	loc, err := deliver(t, &SMTP{
		Addr: ts.Addr, TLS: "starttls", Username: "reporter", Password: "s3cret",
		From: "bounces@example.org", TLSConfig: mailtest.Trusting(ts.Cert),
	}, testReport(t))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(loc, "250 ") {
		t.Errorf("location = %q", loc)
	}
	if m := ts.Next(t); !m.TLS || m.User != "reporter" {
		t.Errorf("message arrived with tls=%v user=%q", m.TLS, m.User)
	}
}

func TestSMTPImplicitTLS(t *testing.T) {
	ts := mailtest.Start(t, mailtest.Options{ImplicitTLS: true})
	if _, err := deliver(t, &SMTP{Addr: ts.Addr, TLS: "tls", From: "bounces@example.org", TLSConfig: mailtest.Trusting(ts.Cert)}, testReport(t)); err != nil {
		t.Fatal(err)
	}
	if m := ts.Next(t); !m.TLS {
		t.Error("message arrived without TLS")
	}
}

func TestSMTPWrongPasswordIsPermanent(t *testing.T) {
	ts := mailtest.Start(t, mailtest.Options{StartTLS: true, User: "reporter", Pass: "s3cret"})
	_, err := deliver(t, &SMTP{
		Addr: ts.Addr, TLS: "starttls", Username: "reporter", Password: "wrong",
		From: "bounces@example.org", TLSConfig: mailtest.Trusting(ts.Cert),
	}, testReport(t))
	if err == nil || Temporary(err) {
		t.Fatalf("err = %v, Temporary = %v; want a permanent error", err, Temporary(err))
	}
	ts.Nothing(t)
}

func TestSMTPStartTLSRequiredButNotOffered(t *testing.T) {
	ts := mailtest.Start(t, mailtest.Options{})
	_, err := deliver(t, &SMTP{Addr: ts.Addr, TLS: "starttls", From: "bounces@example.org"}, testReport(t))
	if err == nil || Temporary(err) {
		t.Fatalf("err = %v, Temporary = %v; want a permanent error", err, Temporary(err))
	}
	ts.Nothing(t)
}

func TestSMTPUntrustedCertificateIsPermanent(t *testing.T) {
	ts := mailtest.Start(t, mailtest.Options{StartTLS: true})
	_, err := deliver(t, &SMTP{Addr: ts.Addr, TLS: "starttls", From: "bounces@example.org", TLSConfig: &tls.Config{RootCAs: x509.NewCertPool()}}, testReport(t))
	if err == nil || Temporary(err) {
		t.Fatalf("err = %v, Temporary = %v; want a permanent error", err, Temporary(err))
	}
	ts.Nothing(t)
}

func TestSMTPTemporaryRefusal(t *testing.T) {
	tempErr := &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	for name, o := range map[string]mailtest.Options{
		"at DATA": {DataErr: tempErr},
		"at RCPT": {RcptErr: func(string) error { return tempErr }},
	} {
		t.Run(name, func(t *testing.T) {
			ts := mailtest.Start(t, o)
			_, err := deliver(t, &SMTP{Addr: ts.Addr, From: "bounces@example.org"}, testReport(t))
			if err == nil || !Temporary(err) {
				t.Fatalf("err = %v, Temporary = %v; want a temporary error", err, Temporary(err))
			}
			if !strings.Contains(err.Error(), "451") {
				t.Errorf("error %q does not give the server's reply", err)
			}
		})
	}
}

func TestSMTPPermanentRefusal(t *testing.T) {
	permErr := &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	for name, o := range map[string]mailtest.Options{
		"at DATA": {DataErr: permErr},
		"at RCPT": {RcptErr: func(string) error { return permErr }},
	} {
		t.Run(name, func(t *testing.T) {
			ts := mailtest.Start(t, o)
			_, err := deliver(t, &SMTP{Addr: ts.Addr, From: "bounces@example.org"}, testReport(t))
			if err == nil || Temporary(err) {
				t.Fatalf("err = %v, Temporary = %v; want a permanent error", err, Temporary(err))
			}
			if !strings.Contains(err.Error(), "550") {
				t.Errorf("error %q does not give the server's reply", err)
			}
		})
	}
}

func TestSMTPOneRecipientRefused(t *testing.T) {
	ts := mailtest.Start(t, mailtest.Options{RcptErr: func(to string) error {
		if to == "security@isp.example" {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		}
		return nil
	}})
	loc, err := deliver(t, &SMTP{Addr: ts.Addr, From: "bounces@example.org"}, testReport(t))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(loc, "250 ") || !strings.Contains(loc, "security@isp.example") || !strings.Contains(loc, "550") {
		t.Errorf("location %q should give the reply and the refused recipient", loc)
	}
	if m := ts.Next(t); !slices.Equal(m.To, []string{"abuse@isp.example"}) {
		t.Errorf("RCPT TO = %q", m.To)
	}
}

func TestSMTPServerDownIsTemporary(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, err = deliver(t, &SMTP{Addr: addr, From: "bounces@example.org"}, testReport(t))
	if err == nil || !Temporary(err) {
		t.Fatalf("err = %v, Temporary = %v; want a temporary error", err, Temporary(err))
	}
}

func TestSMTPCancelWhileServerIsSilent(t *testing.T) {
	// A server that accepts the connection and never greets: only the context ends it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		if c, err := l.Accept(); err == nil {
			accepted <- c
		}
	}()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	result := make(chan error, 1)
	go func() {
		_, err := (&SMTP{Addr: l.Addr().String(), From: "bounces@example.org"}).Deliver(ctx, testReport(t))
		result <- err
	}()
	select {
	case c := <-accepted:
		defer c.Close()
	case <-time.After(10 * time.Second):
		t.Fatal("no connection")
	}
	cancel()
	select {
	case err := <-result:
		if !errors.Is(err, context.Canceled) || !Temporary(err) {
			t.Errorf("err = %v, Temporary = %v; want a temporary cancellation", err, Temporary(err))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Deliver did not return after the context was cancelled")
	}
}

func TestSMTPRefusesBadRecipients(t *testing.T) {
	r := testReport(t)
	r.Contact.Emails = []string{"x@y\r\nRCPT TO:<evil@example.com>"}
	_, err := (&SMTP{Addr: "127.0.0.1:1", From: "bounces@example.org"}).Deliver(context.Background(), r)
	if err == nil || Temporary(err) {
		t.Fatalf("err = %v, Temporary = %v; want a permanent error", err, Temporary(err))
	}
}

func TestTemporary(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("something"), false},
		{&smtp.SMTPError{Code: 421}, true},
		{&smtp.SMTPError{Code: 452}, true},
		{&smtp.SMTPError{Code: 554}, false},
		{errors.Join(errors.New("wrapped"), &smtp.SMTPError{Code: 450}), true},
		{&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, true},
		{io.ErrUnexpectedEOF, true},
		{context.DeadlineExceeded, true},
		{permanent(io.EOF), false},
	} {
		if got := Temporary(tc.err); got != tc.want {
			t.Errorf("Temporary(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestSMTPNeverSendsThePasswordWithoutTLS(t *testing.T) {
	// The server offers AUTH in the clear, on loopback: the client still refuses.
	ts := mailtest.Start(t, mailtest.Options{User: "reporter", Pass: "s3cret", AllowInsecureAuth: true})
	_, err := deliver(t, &SMTP{Addr: ts.Addr, TLS: "none", Username: "reporter", Password: "s3cret", From: "a@example.org"}, testReport(t))
	if err == nil || !strings.Contains(err.Error(), "without TLS") {
		t.Fatalf("err = %v, want a refusal to send the password without TLS", err)
	}
	if Temporary(err) {
		t.Error("a missing TLS setting is permanent: a retry cannot fix it")
	}
	ts.Nothing(t)
}

func TestSMTPAuthLoginWhenPlainIsNotOffered(t *testing.T) {
	ts := mailtest.Start(t, mailtest.Options{StartTLS: true, User: "reporter", Pass: "s3cret", AuthMechs: []string{"LOGIN"}})
	s := &SMTP{Addr: ts.Addr, TLS: "starttls", Username: "reporter", Password: "s3cret", From: "a@example.org",
		HeloName: "reporter.example.org", TLSConfig: mailtest.Trusting(ts.Cert)}
	if _, err := deliver(t, s, testReport(t)); err != nil {
		t.Fatal(err)
	}
	m := ts.Next(t)
	if m.User != "reporter" || !m.TLS {
		t.Errorf("user %q, TLS %v: want reporter over TLS", m.User, m.TLS)
	}
	if m.Helo != "reporter.example.org" {
		t.Errorf("EHLO %q, want the configured name", m.Helo)
	}
}

// A server that takes the whole message and does not answer within the reply timeout may
// have delivered it: the error says so and is not Temporary, so it is not sent again.
func TestSMTPNoReplyAfterDataMayHaveArrived(t *testing.T) {
	ts := mailtest.Start(t, mailtest.Options{Hold: true})
	_, err := deliver(t, &SMTP{Addr: ts.Addr, TLS: "none", From: "bounces@example.org", ReplyTimeout: 500 * time.Millisecond}, testReport(t))
	if !errors.Is(err, ErrMayHaveArrived) || Temporary(err) {
		t.Errorf("err = %v, Temporary = %v; want ErrMayHaveArrived, not temporary", err, Temporary(err))
	}
	// A refusal at the same point is an answer: it says the message did not arrive.
	ts = mailtest.Start(t, mailtest.Options{DataErr: &smtp.SMTPError{Code: 451, Message: "try later"}})
	_, err = deliver(t, &SMTP{Addr: ts.Addr, TLS: "none", From: "bounces@example.org"}, testReport(t))
	if errors.Is(err, ErrMayHaveArrived) || !Temporary(err) {
		t.Errorf("451 at the end of DATA: err = %v, Temporary = %v; want a temporary refusal", err, Temporary(err))
	}
}
