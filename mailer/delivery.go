package mailer

import (
	"context"
	"errors"
	"strings"

	"github.com/emersion/go-smtp"
)

// Progress is what one SMTP delivery tells recipient by recipient, for a caller that
// must know more than Deliver's result: the outbox, which must not count a report sent
// to a recipient that refused it, nor send it twice to one that took it, and must know
// whether a delivery cut short had begun to send the message. SMTP.Deliver fills in the
// Progress its context carries (WithProgress); a Maildir fills in none (its delivery is
// all or nothing, and it tells where the message went).
type Progress struct {
	// BeforeData, when not nil, is called once the server accepted at least one
	// recipient, just before DATA: the message has not begun to leave. An error from it
	// stops the delivery there, nothing sent; Deliver returns it, temporary.
	BeforeData func() error

	// Accepted are the recipients the server accepted at RCPT TO, as sent (bare
	// addresses). When Deliver returns no error, each took the message; with an error,
	// none did (an error after DataStarted is the answer to the whole message).
	Accepted []string
	// Refused are the recipients the server refused at RCPT TO, with its reply.
	Refused []Refusal
	// DataStarted says that DATA was sent: an error of Deliver since is the server's
	// answer to the message (or its loss), for every recipient it had accepted; an
	// error without it came before any recipient was asked about, or at RCPT TO.
	DataStarted bool
}

// Refusal is one recipient the server refused, and its reply as an error: Temporary
// tells a refusal for now (4xx) from one for good (5xx).
type Refusal struct {
	Email string
	Err   error
}

type progressKey struct{}

// WithProgress is ctx carrying p, which a delivery under it fills in.
func WithProgress(ctx context.Context, p *Progress) context.Context {
	return context.WithValue(ctx, progressKey{}, p)
}

// progressOf is the Progress ctx carries, or nil.
func progressOf(ctx context.Context) *Progress {
	p, _ := ctx.Value(progressKey{}).(*Progress)
	return p
}

// accepted records that the server accepted recipient to.
func (p *Progress) accepted(to string) {
	if p != nil {
		p.Accepted = append(p.Accepted, to)
	}
}

// refused records that the server refused recipient to with err.
func (p *Progress) refused(to string, err error) {
	if p != nil {
		p.Refused = append(p.Refused, Refusal{Email: to, Err: err})
	}
}

// beforeData runs BeforeData, then records that DATA goes.
func (p *Progress) beforeData() error {
	if p == nil {
		return nil
	}
	if p.BeforeData != nil {
		if err := p.BeforeData(); err != nil {
			return &deliveryError{err: err, temporary: true}
		}
	}
	p.DataStarted = true
	return nil
}

// MailboxRefusal reports whether err, a server's refusal for good of one recipient, is
// about that recipient's mailbox rather than about us: only an enhanced status code of
// the mailbox's address (5.1.x: 5.1.1 no such user, 5.1.2 no such domain, 5.1.6 moved,
// 5.1.10 null MX) or of the mailbox itself (5.2.1 disabled, 5.2.2 full) tells
// that. The sender's address (5.1.7, 5.1.8), 5.1.0 (unspecified), a policy refusal
// (5.7.x: relay access denied, sender or client rejected), any other class, and a reply
// without an enhanced code are the server's refusal of us: mail.server is our own relay,
// and a relay that will not relay for us refuses every recipient alike. Postfix's
// sender, client and HELO restrictions, which it checks at RCPT TO, count as ours
// whatever their code. When unsure, the refusal is ours: wrongly blaming the desk would
// hold its reports, wrongly blaming ourselves costs at most a bounce.
func MailboxRefusal(err error) bool {
	se, ok := errors.AsType[*smtp.SMTPError](err)
	if !ok || se.Code/100 != 5 {
		return false
	}
	switch c := se.EnhancedCode; {
	case c[0] != 5:
		return false
	case c[1] == 1 && c[2] != 0 && c[2] != 7 && c[2] != 8:
	case c[1] == 2 && (c[2] == 1 || c[2] == 2):
		// 5.2.3 (message too large) and the rest of 5.2.x are what relays (sendmail,
		// Microsoft 365) answer of their own limits: ours.
	default:
		return false
	}
	msg := strings.ToLower(se.Message)
	for _, ours := range []string{"relay access denied", "sender address rejected", "client host rejected", "helo command rejected"} {
		if strings.Contains(msg, ours) {
			return false
		}
	}
	return true
}
