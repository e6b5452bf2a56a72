package main

import (
	"cmp"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/abusewatch/abusewatch/daemon"
	"github.com/abusewatch/abusewatch/mailer"
)

// mailTestCommand is `abusewatch mail-test ADDR`: send a test message the way reports
// and the daily summary go, and print what the server answered.
type mailTestCommand struct {
	stdout, stderr io.Writer
}

func (c *mailTestCommand) Name() string { return "mail-test" }
func (c *mailTestCommand) Synopsis() string {
	return "send a test message to ADDR through the configured [mail] transport"
}

func (c *mailTestCommand) Run(ctx context.Context, args []string) error {
	fs := newFlagSet(c.Name(), "[--config FILE] ADDR", c.stdout, c.stderr)
	config := fs.String("config", daemon.DefaultConfigPath, "the config `file` (its [mail] section says how mail leaves)")
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return &usageError{"give the one address to send the test message to, e.g. you@example.org"}
	}
	cfg, err := daemon.LoadConfig(*config)
	if err != nil {
		return err
	}
	from := cmp.Or(cfg.Mail.From, cfg.Mail.Admin)
	if from == "" {
		return fmt.Errorf("%s: set mail.from (the address reports come from) to send a test message", *config)
	}
	base, err := daemon.NewTransport(cfg)
	if err != nil {
		return err
	}
	t := daemon.ReportTransport(cfg, base)
	via := "the maildir " + cfg.Mail.Maildir
	if cfg.Mail.Transport == "smtp" {
		via = fmt.Sprintf("the SMTP relay %s (tls %s)", cfg.Mail.Server, cfg.Mail.TLS)
	}
	msg, err := mailer.ComposeTest(from, rest[0], via, time.Now())
	if err != nil {
		return &usageError{err.Error()}
	}
	where, err := t.Deliver(ctx, msg)
	if err != nil {
		hint := "check [mail] in " + *config
		if mailer.Temporary(err) {
			hint = "a temporary failure: is the relay running and reachable? " + hint
		}
		if cert, ok := mailer.PresentedCertificate(err); ok {
			hint = certificateHint(cfg, *config, cert, err)
		}
		return fmt.Errorf("the test message was not accepted: %w\n%s", err, hint)
	}
	fmt.Fprintf(c.stdout, "Sent a test message to %s through %s.\nThe server answered: %s\n", rest[0], via, where)
	return nil
}

// certificateHint says which certificate the relay presented when it could not be
// verified, and how to trust it: mail.ca_file (or mail.tls_server_name for a name the
// certificate does not carry).
func certificateHint(cfg *daemon.Config, config, cert string, err error) string {
	starttls := ""
	if cfg.Mail.TLS == "starttls" {
		starttls = " -starttls smtp"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "The relay %s presented this certificate, which was not verified: %s.\n", cfg.Mail.Server, cert)
	if he, ok := errors.AsType[x509.HostnameError](err); ok {
		fmt.Fprintf(&b, "It does not carry the name %q it was checked for: if it is your relay's, set mail.tls_server_name in %s to one of its names.",
			he.Host, config)
		return b.String()
	}
	if cfg.Mail.CAFile != "" {
		fmt.Fprintf(&b, "mail.ca_file (%s) holds neither it nor the CA that issued it. ", cfg.Mail.CAFile)
	}
	fmt.Fprintf(&b, "If it is your relay's own certificate (compare the fingerprint with the relay's), or issued by your own CA, trust it:\n"+
		"save it (or that CA's certificate) as PEM, e.g. from `openssl s_client%s -connect %s -showcerts </dev/null`,\n"+
		"and set mail.ca_file in %s to that file. Do not set tls = \"none\": reports (and the password) would go in clear.",
		starttls, cfg.Mail.Server, config)
	return b.String()
}
