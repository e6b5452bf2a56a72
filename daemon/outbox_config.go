package daemon

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/abusewatch/abusewatch/mailer"
	"github.com/pelletier/go-toml/v2/unstable"
)

// HostAddresses are one host's public addresses in mail.hosts: written as one address
// ("198.51.100.10", as before) or a list (a dual-stack host's
// ["198.51.100.10", "2001:db8::10"]).
type HostAddresses []netip.Addr

// UnmarshalText reads the one-address form; the list is decoded as a list. checkHosts
// has checked both before the decoder sees them.
func (h *HostAddresses) UnmarshalText(b []byte) error {
	a, err := netip.ParseAddr(string(b))
	if err != nil {
		return err
	}
	*h = HostAddresses{a}
	return nil
}

// hostsKey is mail.hosts as a path of keys.
var hostsKey = []string{"mail", "hosts"}

// checkHosts refuses an entry of mail.hosts that is not an address or a list of
// addresses, with the host, the value and the value's own line (in a list written over
// several lines, the bad element's): the decoder would give neither the host nor the
// line. Written as an inline table, as [mail.hosts] or as hosts.web1 under [mail].
func checkHosts(file string, doc []byte) (err error) {
	eachExpression(doc, func(p *unstable.Parser, e *unstable.Node, path []string, line int, table bool) bool {
		switch {
		case table:
			if len(path) > len(hostsKey) && slices.Equal(path[:len(hostsKey)], hostsKey) {
				err = hostError(file, line, path[len(hostsKey)], "is a table: give the host's address in quotes, or a list of them")
			}
		case slices.Equal(path, hostsKey):
			v := e.Value()
			if v.Kind != unstable.InlineTable {
				err = &ConfigError{File: file, Line: line, Key: "mail.hosts", Problem: fmt.Sprintf("wrong type: this is a TOML %s, "+
					"the key wants our hosts' addresses by name such as { web1 = \"198.51.100.10\" }", tomlKind(v.Kind))}
				return false
			}
			for field := v.Children(); err == nil && field.Next(); {
				f := field.Node()
				err = checkHost(file, p, f, nodeKey(f), line)
			}
		case len(path) > len(hostsKey) && slices.Equal(path[:len(hostsKey)], hostsKey):
			err = checkHost(file, p, e, path[len(hostsKey):], line)
		}
		return err == nil
	})
	return err // syntax errors are the decoder's to report
}

// checkHost checks the value of kv, the entry of the host name (a dotted key there
// makes the host a table), written at line.
func checkHost(file string, p *unstable.Parser, kv *unstable.Node, name []string, line int) error {
	if len(name) > 1 {
		return hostError(file, line, name[0], "is a table: give the host's address in quotes, or a list of them")
	}
	at := func(n *unstable.Node) int {
		if n.Raw.Length > 0 {
			return p.Shape(n.Raw).Start.Line
		}
		return line
	}
	v := kv.Value()
	switch v.Kind {
	case unstable.String:
		return checkHostAddress(file, at(v), name[0], string(v.Data))
	case unstable.Array:
		n := 0
		for el := v.Children(); el.Next(); n++ {
			a := el.Node()
			if a.Kind != unstable.String {
				return hostError(file, at(a), name[0], fmt.Sprintf("address %d of the list is a TOML %s: write each address in quotes",
					n+1, tomlValue(a)))
			}
			if err := checkHostAddress(file, at(a), name[0], string(a.Data)); err != nil {
				return err
			}
		}
		if n == 0 {
			return hostError(file, line, name[0], "the list is empty: give the host's public addresses, or leave the host out")
		}
		return nil
	default:
		return hostError(file, at(v), name[0], fmt.Sprintf("wrong type: this is a TOML %s, the host wants an address in quotes "+
			"such as \"198.51.100.10\", or a list of them such as [\"198.51.100.10\", \"2001:db8::10\"]", tomlValue(v)))
	}
}

// checkHostAddress refuses s, written for host at line, unless it is an address. It
// refuses a zone too, as the CLI does (ParseExclusion): a zone names an interface of this
// host, which no other host knows, and reports name our host by its address (review 46
// finding 3: "Our hosts hit: h (2a01:4f8:9:9::25%eth0)"). Refused, not stripped: the
// admin then sees which address the reports show.
func checkHostAddress(file string, line int, host, s string) error {
	if a, err := netip.ParseAddr(s); err == nil {
		if a.Zone() != "" {
			return hostError(file, line, host, fmt.Sprintf("%q: the zone %%%s names an interface of this host, which no other host knows, and reports show our host's address to others: write %q",
				s, a.Zone(), a.WithZone("").String()))
		}
		return nil
	}
	problem := fmt.Sprintf("%q is not an address such as \"198.51.100.10\" or \"2001:db8::10\"", s)
	if strings.Contains(s, "/") {
		problem += " (our other networks belong in policy.never_report)"
	}
	return hostError(file, line, host, problem)
}

func hostError(file string, line int, host, problem string) error {
	return &ConfigError{File: file, Line: line, Key: "mail.hosts", Problem: fmt.Sprintf("host %q: %s", host, problem)}
}

// tomlValue is a value's kind and, of a scalar, the value itself: "integer 81", "table".
func tomlValue(n *unstable.Node) string {
	if len(n.Data) > 0 {
		return tomlKind(n.Kind) + " " + string(n.Data)
	}
	return tomlKind(n.Kind)
}

// tomlKind names a value's kind as the TOML spec does, for an error message.
func tomlKind(k unstable.Kind) string {
	switch k {
	case unstable.InlineTable:
		return "table"
	case unstable.Bool:
		return "boolean"
	case unstable.LocalDate, unstable.LocalTime, unstable.LocalDateTime, unstable.DateTime:
		return "date or time"
	}
	return strings.ToLower(k.String())
}

// hostAddresses are mail.hosts as the mailer takes them, IPv4-mapped ones as IPv4.
func (m *MailConfig) hostAddresses() map[string][]netip.Addr {
	out := make(map[string][]netip.Addr, len(m.Hosts))
	for name, addrs := range m.Hosts {
		for _, a := range addrs {
			if a = a.Unmap(); !slices.Contains(out[name], a) {
				out[name] = append(out[name], a)
			}
		}
	}
	return out
}

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

// DefaultSettle is policy.settle unless set: an admin who mistyped logs in within
// seconds or minutes of the failures, and a report of an attack that goes on still leaves
// this long after it began. success_lookback (7 days) is how far a login is looked for,
// far too long to hold every report.
const DefaultSettle = 10 * time.Minute

// outboxDefaults fills the defaults of the outbox, signing and summary keys.
func (c *Config) outboxDefaults() {
	if c.Mail.XARF == nil {
		c.Mail.XARF = ptr(true)
	}
	if c.Mail.Hosts == nil {
		c.Mail.Hosts = map[string]HostAddresses{}
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
	if c.Policy.Settle.Duration == 0 && c.unset("policy.settle") {
		c.Policy.Settle = Duration{DefaultSettle}
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
	for _, d := range []struct {
		key      string
		v        Duration
		zeroIsOK bool // "0s" means none
	}{{"mail.retry_min", c.Mail.RetryMin, false}, {"mail.retry_max", c.Mail.RetryMax, false},
		{"mail.give_up_after", c.Mail.GiveUpAfter, false}, {"policy.cooldown", c.Policy.Cooldown, true}, {"policy.max_age", c.Policy.MaxAge, true},
		{"policy.settle", c.Policy.Settle, true}} {
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
	if c.Policy.MaxAge.Duration > 0 && c.Policy.Settle.Duration >= c.Policy.MaxAge.Duration {
		return bad("policy.settle", "%s is not shorter than policy.max_age (%s): an incident would be too old to report before it settled", c.Policy.Settle, c.Policy.MaxAge)
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
