package mailer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/mail"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/mailer/mailtest"
	"github.com/emersion/go-smtp"
)

// A server that takes longer than Timeout to answer the whole message (a content
// scanner) is waited for: its 250 means the report went, once. Cut at Timeout, the
// report waited for approval and, approved, went twice (review 28 F4).
func TestSMTPSlowFinalReplyIsWaitedFor(t *testing.T) {
	ts := mailtest.Start(t, mailtest.Options{Hold: true})
	const timeout = 200 * time.Millisecond
	done := make(chan error, 1)
	go func() {
		_, err := (&SMTP{Addr: ts.Addr, From: "bounces@example.org", Timeout: timeout, ReplyTimeout: time.Minute}).
			Deliver(context.Background(), testReport(t))
		done <- err
	}()
	ts.Holding(t)
	// The server scans the message for five times the command timeout, then accepts it.
	time.AfterFunc(5*timeout, ts.Release)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("a server answering after %s (within the reply timeout): %v", 5*timeout, err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Deliver did not return")
	}
	ts.Next(t)
}

// A daemon that stops while the server has not answered the message yet gives it
// StopGrace: an answer within it is a delivery, none is "may have arrived", and either
// way Deliver returns within the grace, not the reply timeout.
func TestSMTPStopWhileAwaitingTheFinalReply(t *testing.T) {
	for _, answers := range []bool{true, false} {
		name := map[bool]string{true: "answered within the grace", false: "no answer"}[answers]
		t.Run(name, func(t *testing.T) {
			ts := mailtest.Start(t, mailtest.Options{Hold: true})
			ctx, stop := context.WithCancel(context.Background())
			defer stop()
			const grace = time.Second
			done := make(chan error, 1)
			go func() {
				_, err := (&SMTP{Addr: ts.Addr, From: "bounces@example.org", Timeout: 10 * time.Second,
					ReplyTimeout: time.Hour, StopGrace: grace}).Deliver(ctx, testReport(t))
				done <- err
			}()
			ts.Holding(t)
			stopped := time.Now()
			stop()
			if answers {
				ts.Release()
			}
			select {
			case err := <-done:
				if answers && err != nil {
					t.Fatalf("the server answered within the grace: %v", err)
				}
				if !answers {
					if !errors.Is(err, ErrMayHaveArrived) || Temporary(err) {
						t.Fatalf("err = %v, Temporary = %v; want ErrMayHaveArrived", err, Temporary(err))
					}
					if !errors.Is(err, context.Canceled) {
						t.Errorf("err = %v does not say the delivery was stopped", err)
					}
					if d := time.Since(stopped); d < grace {
						t.Errorf("cut %s after the stop, before the %s grace", d, grace)
					}
				}
			case <-time.After(20 * time.Second):
				t.Fatal("Deliver did not return after the stop and its grace")
			}
		})
	}
}

// dropServer is a real go-smtp server on loopback that reads the first read bytes of
// each message (all of it when read < 0) and then closes the connection, unanswered: a
// server that crashed or was cut off in the middle of DATA, or after it.
func dropServer(t *testing.T, read int) (addr string, got <-chan struct{}) {
	t.Helper()
	dropped := make(chan struct{}, 10)
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &dropSession{conn: c, read: read, dropped: dropped}, nil
	}))
	srv.Domain = "mx.test"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(l)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-served
	})
	return l.Addr().String(), dropped
}

type dropSession struct {
	conn    *smtp.Conn
	read    int
	dropped chan struct{}
}

func (s *dropSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *dropSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *dropSession) Reset()                               {}
func (s *dropSession) Logout() error                        { return nil }
func (s *dropSession) Data(r io.Reader) error {
	if s.read < 0 {
		io.Copy(io.Discard, r) // to the dot
	} else {
		io.ReadFull(r, make([]byte, s.read))
	}
	s.conn.Conn().Close()
	s.dropped <- struct{}{}
	return errors.New("dropped")
}

// A connection lost before the server read the whole message means the server does not
// have it: a temporary failure, tried again, not "may have arrived" (review 28 F6). The
// server that closes with our data unread resets the connection; the one that closes
// before the end of the message even reached it acknowledges in its FIN only what it got.
// One that read the message to its end and closes unanswered may have taken it.
func TestSMTPDroppedInTheMiddleOfDataIsTemporary(t *testing.T) {
	long := testReport(t)
	// Longer than what the server reads at once, so that part of it stays unread.
	long.Message = append(bytes.Clone(long.Message), bytes.Repeat([]byte("padding to make the message longer\r\n"), 500)...)
	for _, tc := range []struct {
		name string
		read int
		r    abusewatch.Report
		may  bool
	}{
		{"200 bytes of a long message read", 200, long, false},
		{"closed before reading any", 0, testReport(t), false},
		{"closed after the dot", -1, testReport(t), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, dropped := dropServer(t, tc.read)
			_, err := deliver(t, &SMTP{Addr: addr, From: "bounces@example.org"}, tc.r)
			<-dropped
			if tc.may {
				if !errors.Is(err, ErrMayHaveArrived) || Temporary(err) {
					t.Fatalf("err = %v, Temporary = %v; want ErrMayHaveArrived", err, Temporary(err))
				}
				return
			}
			if err == nil || errors.Is(err, ErrMayHaveArrived) || !Temporary(err) {
				t.Fatalf("err = %v, Temporary = %v, may have arrived = %v; want a temporary error", err, Temporary(err), errors.Is(err, ErrMayHaveArrived))
			}
		})
	}
}

// The Date a desk sees is when the report went, not when it was written days before
// (review 28 F8); the Message-ID stays, and a signed report still verifies: the
// signature covers the signed part, not the message's own header.
func TestDateIsWhenSent(t *testing.T) {
	written := time.Now().Add(-72 * time.Hour).Truncate(time.Second)
	// A key older than the report, which it signed when written.
	e, err := openpgp.NewEntity("Jane Doe", "abusewatch test", "jane@example.org",
		&packet.Config{Time: func() time.Time { return written.Add(-time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	ring := openpgp.EntityList{e}
	s := &Signer{entity: e, fingerprint: fmt.Sprintf("%X", e.PrimaryKey.Fingerprint)}
	c := testComposer(t).With(Options{Signer: s})
	c.reporter.Location = time.FixedZone("", -5*3600)
	r, err := c.Compose(testContact(), []abusewatch.Incident{testIncident()}, written)
	if err != nil {
		t.Fatal(err)
	}
	ts := mailtest.Start(t, mailtest.Options{})
	maildir := t.TempDir()
	if _, err := deliver(t, &SMTP{Addr: ts.Addr, From: "bounces@example.org"}, r); err != nil {
		t.Fatal(err)
	}
	loc, err := (Maildir{Dir: maildir}).Deliver(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	fromFile, err := os.ReadFile(loc)
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string][]byte{"over SMTP": ts.Next(t).Data, "into a maildir": fromFile} {
		m, err := mail.ReadMessage(bytes.NewReader(got))
		if err != nil {
			t.Fatal(err)
		}
		date, err := m.Header.Date()
		if err != nil {
			t.Fatalf("%s: Date %q: %v", name, m.Header.Get("Date"), err)
		}
		if since := time.Since(date); since < -time.Minute || since > time.Minute {
			t.Errorf("%s: Date %s, want when it was sent (now), not when it was written (%s)", name, date, written)
		}
		if !strings.HasSuffix(m.Header.Get("Date"), " -0500") {
			t.Errorf("%s: Date %q, want it in the reporter's zone", name, m.Header.Get("Date"))
		}
		if got := m.Header.Get("Message-Id"); got != r.MessageID {
			t.Errorf("%s: Message-Id %q, want %q", name, got, r.MessageID)
		}
		if n := strings.Count(string(got), "\r\nDate: "); n != 1 {
			t.Errorf("%s: %d Date fields", name, n)
		}
		_, signed, sig := signedParts(t, got)
		if _, err := openpgp.CheckArmoredDetachedSignature(ring, bytes.NewReader(signed), bytes.NewReader(sig), nil); err != nil {
			t.Errorf("%s: the signature no longer verifies: %v", name, err)
		}
	}
}

// Dated changes only the message's own Date field: a "Date:" in the body (which may
// quote a log) or a message without one is left alone.
func TestDatedTouchesOnlyTheHeader(t *testing.T) {
	now := time.Date(2026, 12, 7, 16, 0, 0, 0, time.UTC)
	msg := []byte("Subject: x\r\nDate: Fri, 04 Dec 2026 10:00:00 +0100\r\nX-Other: y\r\n\r\nDate: Fri, 04 Dec 2026 10:00:00 +0100\r\n")
	want := "Subject: x\r\nDate: Mon, 07 Dec 2026 17:00:00 +0100\r\nX-Other: y\r\n\r\nDate: Fri, 04 Dec 2026 10:00:00 +0100\r\n"
	if got := string(Dated(msg, now)); got != want {
		t.Errorf("Dated:\n%q\nwant\n%q", got, want)
	}
	noDate := []byte("Subject: x\r\n\r\nDate: Fri, 04 Dec 2026 10:00:00 +0100\r\n")
	if got := Dated(noDate, now); !bytes.Equal(got, noDate) {
		t.Errorf("a message without a Date field changed:\n%q", got)
	}
}
