package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// privacy40's H4 (its t7 log, the address moved into the demo's 81.2.69.0/24): a
// customer's mail client fails five times, then she submits mail. The submission is her
// login: her ISP gets no report saying "we saw no successful login", and the admin is
// mailed the success after failures as for sshd, once for postfix's line, once for exim's.
func TestMailLoginAfterFailuresIsNoReportButACompromise(t *testing.T) {
	const failures = "" +
		"2026-12-07T08:00:00.100000+00:00 mx1 postfix/submission/smtpd[500]: warning: unknown[81.2.69.10]: SASL PLAIN authentication failed: authentication failure, sasl_username=carol@customer.example\n" +
		"2026-12-07T08:00:05.100000+00:00 mx1 postfix/submission/smtpd[501]: warning: unknown[81.2.69.10]: SASL PLAIN authentication failed: authentication failure, sasl_username=carol@customer.example\n" +
		"2026-12-07T08:00:10.100000+00:00 mx1 postfix/submission/smtpd[502]: warning: unknown[81.2.69.10]: SASL PLAIN authentication failed: authentication failure, sasl_username=carol@customer.example\n" +
		"2026-12-07T08:00:15.100000+00:00 mx1 postfix/submission/smtpd[503]: warning: unknown[81.2.69.10]: SASL PLAIN authentication failed: authentication failure, sasl_username=carol@customer.example\n" +
		"2026-12-07T08:00:20.100000+00:00 mx1 postfix/submission/smtpd[504]: warning: unknown[81.2.69.10]: SASL PLAIN authentication failed: authentication failure, sasl_username=carol@customer.example\n"
	for _, tt := range []struct{ name, login string }{
		{"postfix", "2026-12-07T08:00:40.100000+00:00 mx1 postfix/submission/smtpd[5009]: 4F2A11C0B3: client=unknown[81.2.69.10], sasl_method=PLAIN, sasl_username=carol@customer.example\n"},
		{"exim", "2026-12-07T08:00:41.100000+00:00 mx1 exim[6001]: 2026-12-07 08:00:41 1vXyZa-000123-AB <= carol@customer.example H=(laptop) [81.2.69.10] P=esmtpsa X=TLS1.3 A=dovecot_plain:carol@customer.example S=1234\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir, cfg := demoConfigFile(t, "review")
			log := filepath.Join(dir, "mail.log")
			if err := os.WriteFile(log, []byte(failures+tt.login), 0o644); err != nil {
				t.Fatal(err)
			}
			stdout, stderr, code := runBinary(t, dir, "scan", "--json", "--config", cfg, log)
			var sum scanSummary
			if err := json.Unmarshal([]byte(stdout), &sum); code != 0 || err != nil {
				t.Fatalf("scan: exit %d (%v)\n%s%s", code, err, stdout, stderr)
			}
			if sum.Events != 6 || sum.Reports != 0 || sum.Alerted != 1 {
				t.Errorf("%d events, %d reports, %d possible compromises mailed; want 6, 0 and 1\n%s", sum.Events, sum.Reports, sum.Alerted, stderr)
			}
		})
	}
}
