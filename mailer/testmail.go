package mailer

import (
	"fmt"
	"net/mail"
	"os"
	"strings"
	"time"

	"github.com/abusewatch/abusewatch"
	gomail "github.com/emersion/go-message/mail"
)

// ComposeTest writes the message `abusewatch mail-test` sends: a short text that says
// which host sent it and through which transport, so the admin can check that mail
// from abusewatch leaves and arrives before the first real report does.
func ComposeTest(from, to, via string, now time.Time) (abusewatch.Report, error) {
	fromAddr, err := mail.ParseAddress(from)
	if err != nil {
		return abusewatch.Report{}, fmt.Errorf("mailer: From address %q: %w", from, err)
	}
	toAddr, err := mail.ParseAddress(to)
	if err != nil {
		return abusewatch.Report{}, fmt.Errorf("mailer: %q is not a mail address: %w", sanitize(to), err)
	}
	host, _ := os.Hostname()
	body := fmt.Sprintf("This is a test message from abusewatch on %s, sent at %s\nthrough %s.\n\n"+
		"If you can read it, abuse reports and the daily summary can reach this address.\n",
		sanitizeHost(host), now.Format(timeLayout), sanitize(via))
	e, err := textEntity("text/plain", []byte(body))
	if err != nil {
		return abusewatch.Report{}, err
	}
	id := fmt.Sprintf("test-%d", now.UnixNano())
	var h gomail.Header
	h.SetAddressList("From", []*mail.Address{fromAddr})
	h.SetAddressList("To", []*mail.Address{{Address: toAddr.Address}})
	h.SetSubject("abusewatch mail test from " + sanitizeHost(host))
	h.SetDate(now)
	h.SetMessageID(id + "@" + fromAddr.Address[strings.LastIndexByte(fromAddr.Address, '@')+1:])
	h.Set("Auto-Submitted", "auto-generated")
	msg, err := writeMessage(h, e)
	if err != nil {
		return abusewatch.Report{}, err
	}
	return abusewatch.Report{ID: id, Contact: abusewatch.Contact{Emails: []string{toAddr.Address}}, Message: msg}, nil
}
