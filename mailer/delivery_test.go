package mailer

import (
	"errors"
	"fmt"
	"testing"

	"github.com/emersion/go-smtp"
)

// Review 31 F1: only a refusal about the mailbox is the desk's; our relay's own
// (policy, sender, no enhanced code) is not, whatever the class.
func TestMailboxRefusal(t *testing.T) {
	for _, c := range []struct {
		code int
		enh  smtp.EnhancedCode
		msg  string
		want bool
	}{
		{550, smtp.EnhancedCode{5, 1, 1}, "<a@b>: Recipient address rejected: User unknown", true},
		{552, smtp.EnhancedCode{5, 2, 2}, "mailbox full", true},
		{550, smtp.EnhancedCode{5, 2, 1}, "mailbox disabled", true},
		// A relay's own size limit (sendmail, Microsoft 365) is ours (review 32 F3).
		{552, smtp.EnhancedCode{5, 2, 3}, "message size exceeds fixed maximum message size", false},
		{550, smtp.EnhancedCode{5, 1, 10}, "null MX", true},
		{554, smtp.EnhancedCode{5, 7, 1}, "<a@b>: Relay access denied", false},
		{553, smtp.EnhancedCode{5, 7, 1}, "<x@y>: Sender address rejected: not owned by user", false},
		{550, smtp.EnhancedCode{5, 1, 8}, "<x@y>: Sender address rejected: Domain not found", false},
		{550, smtp.EnhancedCode{5, 1, 0}, "address rejected", false},
		{550, smtp.EnhancedCode{5, 1, 1}, "Client host rejected: cannot find your hostname", false},
		{550, smtp.EnhancedCode{}, "rejected", false},
		{550, smtp.EnhancedCode{5, 0, 0}, "rejected", false},
		{450, smtp.EnhancedCode{4, 2, 2}, "mailbox full", false},
	} {
		err := fmt.Errorf("RCPT TO: %w", &smtp.SMTPError{Code: c.code, EnhancedCode: c.enh, Message: c.msg})
		if got := MailboxRefusal(err); got != c.want {
			t.Errorf("%d %v %q: %v, want %v", c.code, c.enh, c.msg, got, c.want)
		}
	}
	if MailboxRefusal(errors.New("connection reset")) {
		t.Error("a network error is a mailbox's refusal")
	}
}
