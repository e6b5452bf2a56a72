package mailer

import "context"

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
