package daemon

import (
	"net/netip"
	"regexp"
	"time"

	"github.com/abusewatch/abusewatch/mailer"
)

// SigningConfig is the optional OpenPGP signing of reports.
type SigningConfig struct {
	KeyFile string `toml:"key_file"`
	KeyURL  string `toml:"key_url"`
}

// SummaryConfig schedules the admin's daily summary.
type SummaryConfig struct {
	Time string `toml:"time"` // "HH:MM" in reporter.timezone; "" turns the summary off
	Top  int    `toml:"top"`  // rows in each top list
}

// outboxDefaults fills the defaults of the outbox, signing and summary keys.
func (c *Config) outboxDefaults() {
	if c.Mail.XARF == nil {
		c.Mail.XARF = ptr(true)
	}
	if c.Mail.Hosts == nil {
		c.Mail.Hosts = map[string]string{}
	}
	if c.Mail.RetryMin.Duration == 0 && c.unset("mail.retry_min") {
		c.Mail.RetryMin = Duration{5 * time.Minute}
	}
	if c.Mail.RetryMax.Duration == 0 && c.unset("mail.retry_max") {
		c.Mail.RetryMax = Duration{6 * time.Hour}
	}
	if c.Mail.GiveUpAfter.Duration == 0 && c.unset("mail.give_up_after") {
		c.Mail.GiveUpAfter = Duration{5 * 24 * time.Hour}
	}
	if c.Policy.Cooldown.Duration == 0 && keyLine(c.doc, "policy.cooldown") == 0 {
		c.Policy.Cooldown = Duration{7 * 24 * time.Hour}
	}
	if c.Policy.MaxAge.Duration == 0 && keyLine(c.doc, "policy.max_age") == 0 {
		c.Policy.MaxAge = Duration{30 * 24 * time.Hour}
	}
	if c.Policy.DomainHourlyLimit == nil {
		c.Policy.DomainHourlyLimit = ptr(5)
	}
	if c.Policy.DailyCap == nil {
		c.Policy.DailyCap = ptr(50)
	}
	if c.Summary.Time == "" && keyLine(c.doc, "summary.time") == 0 {
		c.Summary.Time = "07:00"
	}
	if c.Summary.Top == 0 && c.unset("summary.top") {
		c.Summary.Top = 10
	}
}

// heloName is what RFC 5321 allows after EHLO: a domain name or an address literal.
var heloName = regexp.MustCompile(`^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$|^\[[0-9A-Fa-f:.]+\]$`)

// validateOutbox checks the outbox, signing and summary keys.
func (c *Config) validateOutbox() error {
	bad := c.bad
	if c.Mail.HeloName != "" && !heloName.MatchString(c.Mail.HeloName) {
		return bad("mail.helo_name", "%q is not a host name such as \"mail.example.org\"", c.Mail.HeloName)
	}
	for name, addr := range c.Mail.Hosts {
		if _, err := netip.ParseAddr(addr); err != nil {
			return bad("mail.hosts", "host %q: %q is not an address such as \"198.51.100.10\"", name, addr)
		}
	}
	for _, d := range []struct {
		key      string
		v        Duration
		zeroIsOK bool // "0s" means none
	}{{"mail.retry_min", c.Mail.RetryMin, false}, {"mail.retry_max", c.Mail.RetryMax, false},
		{"mail.give_up_after", c.Mail.GiveUpAfter, false}, {"policy.cooldown", c.Policy.Cooldown, true}, {"policy.max_age", c.Policy.MaxAge, true}} {
		if d.v.Duration < 0 {
			return bad(d.key, "must not be negative, not %s", d.v)
		}
		if d.v.Duration == 0 && !d.zeroIsOK {
			return bad(d.key, "must be positive, not %s", d.v)
		}
	}
	if c.Mail.RetryMax.Duration < c.Mail.RetryMin.Duration {
		return bad("mail.retry_max", "%s is shorter than mail.retry_min (%s)", c.Mail.RetryMax, c.Mail.RetryMin)
	}
	if *c.Policy.DomainHourlyLimit < 0 {
		return bad("policy.domain_hourly_limit", "must be 0 (no limit) or more, not %d", *c.Policy.DomainHourlyLimit)
	}
	if *c.Policy.DailyCap < 0 {
		return bad("policy.daily_cap", "must be 0 (no limit) or more, not %d", *c.Policy.DailyCap)
	}
	if c.Summary.Time != "" {
		if _, err := time.Parse("15:04", c.Summary.Time); err != nil {
			return bad("summary.time", "%q is not a time of day such as \"07:00\" (24-hour clock), or \"\" for no summary", c.Summary.Time)
		}
	}
	if c.Summary.Top < 1 {
		return bad("summary.top", "must be at least 1, not %d", c.Summary.Top)
	}
	if c.Signing.KeyFile != "" {
		if _, err := mailer.LoadSigner(c.Signing.KeyFile, c.Signing.KeyURL); err != nil {
			return bad("signing.key_file", "%v", err)
		}
	} else if c.Signing.KeyURL != "" {
		return bad("signing.key_url", "set signing.key_file too: the URL names the key that signs")
	}
	return nil
}

// OutboxPolicy is the mailer's delivery policy from the config.
func OutboxPolicy(cfg *Config) mailer.Policy {
	return mailer.Policy{
		Cooldown:      cfg.Policy.Cooldown.Duration,
		DomainPerHour: *cfg.Policy.DomainHourlyLimit,
		DailyCap:      *cfg.Policy.DailyCap,
		RetryMin:      cfg.Mail.RetryMin.Duration,
		RetryMax:      cfg.Mail.RetryMax.Duration,
		GiveUpAfter:   cfg.Mail.GiveUpAfter.Duration,
		Location:      Location(cfg.Reporter.Timezone),
	}
}
