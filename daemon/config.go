package daemon

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net"
	"net/mail"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/detect"
	"github.com/abusewatch/abusewatch/mailer"
	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// DefaultConfigPath is where run and the admin commands look without --config.
const DefaultConfigPath = "/etc/abusewatch/abusewatch.toml"

// DefaultAdminSocket is where the daemon serves the admin API unless [admin] socket says
// otherwise (systemd's RuntimeDirectory=abusewatch creates the folder).
const DefaultAdminSocket = "/run/abusewatch/admin.sock"

// adminSocketSet says whether the file sets admin.socket, so that "" (off) is kept.
func (c *Config) adminSocketSet() bool { return keyLine(c.doc, "admin.socket") > 0 }

// Config is abusewatch.toml. configs/abusewatch.toml documents every key and its default.
type Config struct {
	Reporter  ReporterConfig  `toml:"reporter"`
	Sources   []SourceConfig  `toml:"source"`
	Detect    DetectConfig    `toml:"detect"`
	Correlate CorrelateConfig `toml:"correlate"`
	Retention RetentionConfig `toml:"retention"`
	Lookup    LookupConfig    `toml:"lookup"`
	Contacts  []ContactConfig `toml:"contact"`
	Mail      MailConfig      `toml:"mail"`
	Policy    PolicyConfig    `toml:"policy"`
	Store     StoreConfig     `toml:"store"`
	Journal   JournalConfig   `toml:"journal"`
	Syslog    SyslogConfig    `toml:"syslog"`
	Admin     AdminConfig     `toml:"admin"`
	Metrics   MetricsConfig   `toml:"metrics"`
	Signing   SigningConfig   `toml:"signing"`
	Summary   SummaryConfig   `toml:"summary"`

	// Finding the responsible party, besides [lookup] and [[contact]] (daemon/lookup.go).
	CERTs        []CERTConfig         `toml:"cert"`
	DoNotContact []DoNotContactConfig `toml:"do_not_contact"`

	file string // where it was read from
	// file made absolute, for the commands the mails and the log suggest: the admin
	// pastes them in another directory than the one the daemon was started in (review
	// 46 L6: "abusewatch ip --config aw.toml …").
	commandFile string
	doc         []byte // the file's text, to find the line of a key

	// service is the systemd unit whose groups check-config counts as the daemon's
	// (CountUnitGroups); nil for run, which has the groups it has.
	service *ServiceUnit

	// The postgres_prefix of each [[source]], of [journal] and of [syslog], compiled
	// once by validateSources; nil where none is declared.
	sourcePostgres                  []*detect.PostgresPrefix
	journalPostgres, syslogPostgres *detect.PostgresPrefix
}

// ReporterConfig says who we are in every report.
type ReporterConfig struct {
	Name         string `toml:"name"`
	Organisation string `toml:"organisation"`
	Role         string `toml:"role"`
	Email        string `toml:"email"`
	Timezone     string `toml:"timezone"`
}

// SourceConfig is one group of log files to follow.
type SourceConfig struct {
	Files []string `toml:"files"`
	Host  string   `toml:"host"` // the host of lines that name none (exim, vsftpd); "": this machine

	// PostgresPrefix is PostgreSQL's log_line_prefix as its postgresql.conf sets it, for
	// the files' PostgreSQL lines: without it they make no event (detect/postgres.go).
	PostgresPrefix string `toml:"postgres_prefix"`
}

// DetectConfig names the rule directories.
type DetectConfig struct {
	NormalDirs   []string `toml:"normal_dirs"`
	AttackDirs   []string `toml:"attack_dirs"`
	BuiltinRules *bool    `toml:"builtin_rules"`
	Timezone     string   `toml:"timezone"`
	// NumericHosts are the programs (syslog names) the admin declares write the
	// client's address where they could write the name its reverse DNS gave, which
	// the client's owner chooses: pure-ftpd with DontResolve. Only theirs make events
	// of an address in an attack rule's <PTR> slot (see detect.WithNumericHosts).
	NumericHosts []string `toml:"numeric_hosts"`
}

// CorrelateConfig holds the rules' thresholds (daemon/correlate.go: defaults, checks).
type CorrelateConfig struct {
	Threshold  int            `toml:"threshold"`
	Window     Duration       `toml:"window"`
	Windows    []WindowConfig `toml:"windows"`
	Reportable []string       `toml:"reportable"`
	Evidence   int            `toml:"evidence"`

	NetworkAddresses    int      `toml:"network_addresses"`
	NetworkWindow       Duration `toml:"network_window"`
	NetworkSizes        []int    `toml:"network_sizes"`
	PortScanPorts       int      `toml:"port_scan_ports"`
	PortScanWindow      Duration `toml:"port_scan_window"`
	SweepHosts          int      `toml:"sweep_hosts"`
	SweepWindow         Duration `toml:"sweep_window"`
	RecurrenceDays      int      `toml:"recurrence_days"`
	RecurrencePeriod    Duration `toml:"recurrence_period"`
	RecurrenceGap       Duration `toml:"recurrence_gap"`
	RateFactor          float64  `toml:"rate_factor"`
	RateBaseline        Duration `toml:"rate_baseline"`
	RateMin             int      `toml:"rate_min"`
	SuccessLookback     Duration `toml:"success_lookback"`
	RecorrelateInterval Duration `toml:"recorrelate_interval"`
}

// WindowConfig is one more per-address threshold: threshold attempts within window.
type WindowConfig struct {
	Threshold int      `toml:"threshold"`
	Window    Duration `toml:"window"`
}

// RetentionConfig says how long the store keeps what.
type RetentionConfig struct {
	Events    Duration `toml:"events"`    // raw events and their indexes
	Counters  Duration `toml:"counters"`  // the per-day counters
	Incidents Duration `toml:"incidents"` // incidents, after their last event
	Reports   Duration `toml:"reports"`   // the mails of reports sent, failed or rejected, after their last change
	Interval  Duration `toml:"interval"`  // how often the background pass runs
}

// LookupConfig controls DNS, RDAP, the fallbacks and the contact cache.
type LookupConfig struct {
	Resolvers     []string `toml:"resolvers"`
	Timeout       Duration `toml:"timeout"`
	RDAP          *bool    `toml:"rdap"`
	BootstrapDir  string   `toml:"bootstrap_dir"`
	RDAPServer    string   `toml:"rdap_server"`
	RateLimitWait Duration `toml:"rate_limit_wait"`
	AbuseZone     string   `toml:"abuse_zone"`
	Guess         *bool    `toml:"guess"`
	CacheTTL      Duration `toml:"cache_ttl"`
	NegativeTTL   Duration `toml:"negative_ttl"`
}

// ContactConfig is a static abuse contact that overrides every lookup for its network.
type ContactConfig struct {
	Network string   `toml:"network"`
	Emails  []string `toml:"emails"`
}

// CERTConfig is a national CERT, told besides the network's own contact about networks
// in its country.
type CERTConfig struct {
	Country string   `toml:"country"`
	Emails  []string `toml:"emails"`
}

// DoNotContactConfig is a network whose responsible party is never written to.
type DoNotContactConfig struct {
	Network string `toml:"network"`
	Reason  string `toml:"reason"`
}

// MailConfig says how reports leave.
type MailConfig struct {
	Transport    string   `toml:"transport"`
	Maildir      string   `toml:"maildir"`
	Server       string   `toml:"server"`
	TLS          string   `toml:"tls"`
	Username     string   `toml:"username"`
	PasswordFile string   `toml:"password_file"`
	From         string   `toml:"from"`
	Admin        string   `toml:"admin"`
	Template     string   `toml:"template"`
	Timeout      Duration `toml:"timeout"`
	// ReplyTimeout bounds the wait for the reply to a whole message (mailer.SMTP).
	ReplyTimeout Duration `toml:"reply_timeout"`
	// CAFile is a PEM file of the certificates trusted for the relay, instead of the
	// system's (loadCAFile); TLSServerName the name its certificate must carry.
	CAFile        string `toml:"ca_file"`
	TLSServerName string `toml:"tls_server_name"`

	HeloName string `toml:"helo_name"`
	XARF     *bool  `toml:"xarf"`
	// Hosts are our hosts' public addresses by the name logs give them: one address or
	// a list (a dual-stack host's IPv4 and IPv6 ones). checkHosts checks them.
	Hosts       map[string]HostAddresses `toml:"hosts"`
	RetryMin    Duration                 `toml:"retry_min"`
	RetryMax    Duration                 `toml:"retry_max"`
	GiveUpAfter Duration                 `toml:"give_up_after"`

	// Redact are what reports mask in the lines they quote: "users", "hosts"
	// (mailer.Redaction); none by default, the lines as logged.
	Redact []string `toml:"redact"`
}

// PolicyConfig is the response policy.
type PolicyConfig struct {
	Mode           string   `toml:"mode"`
	NeverReport    []string `toml:"never_report"`
	ReportInterval Duration `toml:"report_interval"`

	Cooldown          Duration `toml:"cooldown"`
	DomainHourlyLimit *int     `toml:"domain_hourly_limit"`
	DailyCap          *int     `toml:"daily_cap"`
	MaxAge            Duration `toml:"max_age"` // incidents that ended longer ago are not reported; 0: any
	// Settle is how long after its first event the daemon writes no report of an
	// incident: a login from the address read meanwhile holds it (an admin who mistyped).
	Settle Duration `toml:"settle"`
}

// AdminConfig places the admin socket that the admin subcommands talk to.
type AdminConfig struct {
	Socket string `toml:"socket"`
	Group  string `toml:"group"`
}

// MetricsConfig places the optional Prometheus endpoint.
type MetricsConfig struct {
	Listen string `toml:"listen"`
}

// StoreConfig places the state database.
type StoreConfig struct {
	Path string `toml:"path"`
}

// Duration is a time.Duration written as a string: "90s", "10m", "36h" or "7d". It is a
// struct so that a bare TOML number (10: seconds? minutes?) is refused, not taken as ns.
type Duration struct{ time.Duration }

// UnmarshalText accepts Go durations and whole days ("7d").
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// String writes d as a config would: whole days as "30d", others as Go does ("36h0m0s").
func (d Duration) String() string {
	if d.Duration > 0 && d.Duration%day == 0 {
		return strconv.FormatInt(int64(d.Duration/day), 10) + "d"
	}
	return d.Duration.String()
}

// goDuration is the syntax time.ParseDuration reads.
var goDuration = regexp.MustCompile(`^[-+]?(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|ms|s|m|h))+$`)

// maxDays is the longest duration in days that fits a time.Duration (about 292 years).
const maxDays = int64(math.MaxInt64 / int64(day))

// ParseDuration reads "90s", "10m", "36h", "7d" or "1d12h".
func ParseDuration(s string) (time.Duration, error) {
	invalid := fmt.Errorf("invalid duration %q: want e.g. \"90s\", \"10m\", \"36h\" or \"7d\"", s)
	tooLong := fmt.Errorf("duration %q is too long: at most %dd (about 292 years)", s, maxDays)
	var days time.Duration
	rest := s
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.ParseInt(s[:i], 10, 64)
		if errors.Is(err, strconv.ErrRange) || n > maxDays {
			return 0, tooLong
		}
		if err != nil || n < 0 {
			return 0, invalid
		}
		days = time.Duration(n) * day
		if rest = s[i+1:]; rest == "" {
			return days, nil
		}
	}
	v, err := time.ParseDuration(rest)
	if err != nil {
		if goDuration.MatchString(rest) {
			return 0, tooLong // well formed, so too many hours (or minutes, ...) to fit
		}
		return 0, invalid
	}
	if v > 0 && days > math.MaxInt64-v {
		return 0, tooLong
	}
	return days + v, nil
}

// ConfigError is a problem in the config file: where it is, the key, what is wrong and,
// for a misspelt key, the nearest valid one.
type ConfigError struct {
	File    string
	Line    int
	Key     string
	Problem string
	Hint    string
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Key != "" {
		b.WriteString(": " + e.Key)
	}
	b.WriteString(": " + e.Problem)
	if e.Hint != "" {
		b.WriteString(" (" + e.Hint + ")")
	}
	return b.String()
}

// LoadConfig reads, decodes strictly and validates the config file at path.
func LoadConfig(path string) (*Config, error) {
	doc, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return ParseConfig(path, doc)
}

// ParseConfig decodes doc (read from file) strictly, fills defaults and validates it.
func ParseConfig(file string, doc []byte) (*Config, error) {
	cfg := &Config{file: file, doc: doc, commandFile: file}
	if file != "" {
		if abs, err := filepath.Abs(file); err == nil {
			cfg.commandFile = abs
		}
	}
	if err := checkDurations(file, doc); err != nil {
		return nil, err
	}
	if err := checkHosts(file, doc); err != nil {
		return nil, err
	}
	dec := toml.NewDecoder(bytes.NewReader(doc)).DisallowUnknownFields()
	if err := dec.Decode(cfg); err != nil {
		return nil, decodeError(file, doc, err)
	}
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg.observeFrom()
	return cfg, nil
}

func (c *Config) setDefaults() {
	if c.Reporter.Timezone == "" {
		c.Reporter.Timezone = "Local"
	}
	if c.Detect.Timezone == "" {
		c.Detect.Timezone = "Local"
	}
	if c.Detect.BuiltinRules == nil {
		c.Detect.BuiltinRules = ptr(true)
	}
	// A key written as 0 keeps its 0, for validate to refuse or take as "off".
	if c.Correlate.Threshold == 0 && c.unset("correlate.threshold") {
		c.Correlate.Threshold = 5
	}
	if c.Correlate.Window.Duration == 0 && c.unset("correlate.window") {
		c.Correlate.Window = Duration{10 * time.Minute}
	}
	if len(c.Correlate.Reportable) == 0 && c.unset("correlate.reportable") {
		c.Correlate.Reportable = []string{"auth-failure", "invalid-user"}
	}
	if c.Correlate.Evidence == 0 && c.unset("correlate.evidence") {
		c.Correlate.Evidence = 10
	}
	c.correlateDefaults()
	if c.Lookup.Timeout.Duration == 0 && c.unset("lookup.timeout") {
		c.Lookup.Timeout = Duration{5 * time.Second}
	}
	if c.Lookup.RDAP == nil {
		c.Lookup.RDAP = ptr(true)
	}
	c.lookupDefaults()
	if c.Mail.Transport == "" {
		c.Mail.Transport = "smtp"
	}
	if c.Mail.Server == "" {
		c.Mail.Server = "localhost:25"
	}
	if c.Mail.TLS == "" {
		c.Mail.TLS = "starttls"
	}
	if c.Mail.Timeout.Duration == 0 && c.unset("mail.timeout") {
		c.Mail.Timeout = Duration{30 * time.Second}
	}
	if c.Mail.ReplyTimeout.Duration == 0 && c.unset("mail.reply_timeout") {
		c.Mail.ReplyTimeout = Duration{mailer.DefaultReplyTimeout}
	}
	if c.Policy.Mode == "" {
		c.Policy.Mode = "review"
	}
	if c.Policy.ReportInterval.Duration == 0 && c.unset("policy.report_interval") {
		c.Policy.ReportInterval = Duration{5 * time.Minute}
	}
	if c.Admin.Socket == "" && !c.adminSocketSet() {
		c.Admin.Socket = DefaultAdminSocket
	}
	if c.Store.Path == "" {
		c.Store.Path = "/var/lib/abusewatch/state.db"
	}
	c.sourceDefaults()
	c.outboxDefaults()
}

func ptr[T any](v T) *T { return &v }

// unset says whether the file leaves key out (so it takes its default).
func (c *Config) unset(key string) bool { return keyLine(c.doc, key) == 0 }

// observeFrom gives observe mode, which needs no mail.from, the From address its mail
// still needs: the admin's, as the daily summary already uses; with no admin nothing
// leaves at all, and the held reports (never sent) name a placeholder.
func (c *Config) observeFrom() {
	if c.Policy.Mode == "observe" && c.Mail.From == "" {
		c.Mail.From = cmp.Or(c.Mail.Admin, "abusewatch@localhost")
	}
}

// validate checks every value whose type alone does not make it right, and what the
// file names on this host (rule directories, the admin group, certificates), so that
// check-config and run refuse the same files.
func (c *Config) validate() error {
	bad := c.bad
	for _, k := range []struct{ key, zone string }{{"reporter.timezone", c.Reporter.Timezone}, {"detect.timezone", c.Detect.Timezone}} {
		if _, err := time.LoadLocation(k.zone); err != nil {
			return bad(k.key, "unknown time zone %q: use an IANA name such as \"Europe/Berlin\" or \"UTC\", or \"Local\"", k.zone)
		}
	}
	if c.Reporter.Email != "" {
		if _, err := mail.ParseAddress(c.Reporter.Email); err != nil {
			return bad("reporter.email", "%q is not a mail address", c.Reporter.Email)
		}
	}
	if err := c.validateSources(); err != nil {
		return err
	}
	if err := c.validateOutbox(); err != nil {
		return err
	}
	if err := c.validateDetect(); err != nil {
		return err
	}
	for _, d := range []struct {
		key string
		v   Duration
	}{{"lookup.timeout", c.Lookup.Timeout}, {"mail.timeout", c.Mail.Timeout}, {"mail.reply_timeout", c.Mail.ReplyTimeout}, {"policy.report_interval", c.Policy.ReportInterval}} {
		if d.v.Duration <= 0 {
			return bad(d.key, "must be positive, not %s", d.v)
		}
	}
	if c.Correlate.Threshold < 1 {
		return bad("correlate.threshold", "must be at least 1, not %d: the per-address rule cannot be switched off (to send no report, set policy.mode = \"observe\")", c.Correlate.Threshold)
	}
	if c.Correlate.Window.Duration <= 0 {
		return bad("correlate.window", "must be positive, not %s", c.Correlate.Window)
	}
	if len(c.Correlate.Reportable) == 0 {
		return bad("correlate.reportable", "names no class: name at least one, e.g. [\"auth-failure\", \"invalid-user\"] (to send no report, set policy.mode = \"observe\")")
	}
	if c.Correlate.Evidence < 2 {
		return bad("correlate.evidence", "must be at least 2 (an incident keeps its first and its last line), not %d", c.Correlate.Evidence)
	}
	if err := c.validateCorrelate(); err != nil {
		return err
	}
	for i, contact := range c.Contacts {
		key := fmt.Sprintf("contact[%d].network", i)
		if contact.Network == "" {
			return bad(key, "a [[contact]] needs network, the network in CIDR notation such as \"198.51.100.0/24\" that its emails answer for")
		}
		if _, err := parseNetwork(contact.Network); err != nil {
			return bad(key, "%q is not a network in CIDR notation such as \"198.51.100.0/24\", or an address", contact.Network)
		}
		p, err := ParseExclusion(contact.Network)
		if err != nil {
			return bad(key, "%v", err)
		}
		c.Contacts[i].Network = p.String() // one address is its /32 (or /128)
		if len(contact.Emails) == 0 {
			return bad(fmt.Sprintf("contact[%d].emails", i), "a [[contact]] needs at least one address, e.g. emails = [\"abuse@example.net\"]")
		}
		for _, e := range contact.Emails {
			if _, err := mail.ParseAddress(e); err != nil {
				return bad(fmt.Sprintf("contact[%d].emails", i), "%q is not a mail address", e)
			}
		}
	}
	if err := c.validateLookup(); err != nil {
		return err
	}
	for _, n := range c.Policy.NeverReport {
		if _, err := parseNetwork(n); err != nil {
			return bad("policy.never_report", "%q is not an address or a network in CIDR notation", n)
		}
		// The admin commands' own check: "45.134.26.7/8" is refused, not widened to 45.0.0.0/8.
		if _, err := ParseExclusion(n); err != nil {
			return bad("policy.never_report", "%v", err)
		}
	}
	if !slices.Contains([]string{"observe", "review", "auto"}, c.Policy.Mode) {
		return &ConfigError{File: c.file, Line: keyLine(c.doc, "policy.mode"), Key: "policy.mode",
			Problem: fmt.Sprintf("unknown mode %q: use \"observe\", \"review\" or \"auto\"", c.Policy.Mode),
			Hint:    suggestion(c.Policy.Mode, []string{"observe", "review", "auto"}, "valid modes")}
	}
	switch c.Mail.Transport {
	case "smtp":
		if !slices.Contains([]string{"none", "starttls", "tls"}, c.Mail.TLS) {
			return bad("mail.tls", "unknown TLS mode %q: use \"none\", \"starttls\" or \"tls\"", c.Mail.TLS)
		}
		for _, k := range []struct{ key, v string }{{"mail.ca_file", c.Mail.CAFile}, {"mail.tls_server_name", c.Mail.TLSServerName}} {
			if k.v != "" && c.Mail.TLS == "none" {
				// Set to trust the relay's certificate, with TLS off: reports would go in clear.
				return bad(k.key, "is for a relay spoken to over TLS, but mail.tls = \"none\" checks no certificate: set tls to \"starttls\" (or \"tls\")")
			}
		}
	case "maildir":
		if c.Mail.Maildir == "" {
			return bad("mail.maildir", "transport \"maildir\" needs mail.maildir, the folder to write to")
		}
	default:
		return bad("mail.transport", "unknown transport %q: use \"smtp\" or \"maildir\"", c.Mail.Transport)
	}
	for _, r := range c.Mail.Redact {
		if r != "users" && r != "hosts" {
			return &ConfigError{File: c.file, Line: keyLine(c.doc, "mail.redact"), Key: "mail.redact",
				Problem: fmt.Sprintf("unknown value %q: use \"users\" (user names in the quoted lines) and/or \"hosts\" (our host names and local addresses)", r),
				Hint:    suggestion(r, []string{"users", "hosts"}, "values")}
		}
	}
	for _, k := range []struct{ key, addr string }{{"mail.from", c.Mail.From}, {"mail.admin", c.Mail.Admin}} {
		if k.addr == "" {
			continue
		}
		if _, err := mail.ParseAddress(k.addr); err != nil {
			return bad(k.key, "%q is not a mail address", k.addr)
		}
	}
	if c.Policy.Mode != "observe" && c.Mail.From == "" {
		return bad("mail.from", "required unless policy.mode = \"observe\": mode %q writes reports, and they need the address they come from, e.g. \"abuse-reports@example.org\"", c.Policy.Mode)
	}
	if c.Policy.Mode != "observe" && strings.TrimSpace(c.Reporter.Name) == "" && strings.TrimSpace(c.Reporter.Organisation) == "" {
		// A report that does not say who writes it ("My name is .") is not answered.
		return bad("reporter.name", "mode %q writes reports, which say who sends them: set reporter.name or reporter.organisation (and reporter.email)", c.Policy.Mode)
	}
	if l := c.Metrics.Listen; l != "" {
		// run listens only after it opened the store: a bad address would stop it there.
		_, port, err := net.SplitHostPort(l)
		if err == nil && port == "" {
			err = errors.New("no port")
		}
		if err == nil {
			_, err = net.LookupPort("tcp", port)
		}
		if err != nil {
			return bad("metrics.listen", "%q is not an address to listen on: write host:port, e.g. \"127.0.0.1:9733\" (or \"\" for no metrics)", l)
		}
	}
	if c.Admin.Group != "" && c.Admin.Socket != "" {
		if _, err := allowedPeers(c.Admin.Group); err != nil {
			return bad("admin.group", "%v: create it (groupadd --system %s) and add the admins to it, or set admin.group = \"\" so that only root and the daemon's user may use the socket", err, c.Admin.Group)
		}
	}
	return nil
}

// validateDetect checks that the rule directories can be read: LoadRules would say
// "open .", without the key or what a relative path is taken from.
func (c *Config) validateDetect() error {
	for _, p := range c.Detect.NumericHosts {
		if p == "" || strings.ContainsAny(p, " \t,*[]:") {
			return c.bad("detect.numeric_hosts", "%q is not a program name: give each program's syslog name as the log shows it, e.g. \"pure-ftpd\"", p)
		}
	}
	for _, k := range []struct {
		key  string
		dirs []string
	}{{"detect.normal_dirs", c.Detect.NormalDirs}, {"detect.attack_dirs", c.Detect.AttackDirs}} {
		for _, d := range k.dirs {
			fi, err := os.Stat(d)
			if err == nil && !fi.IsDir() {
				return c.bad(k.key, "%q is not a directory: name the directory that holds the rule files%s", d, relativeTo(d))
			}
			if err == nil {
				_, err = os.ReadDir(d)
			}
			switch {
			case errors.Is(err, fs.ErrNotExist):
				return c.bad(k.key, "rule directory %q does not exist%s", d, relativeTo(d))
			case err != nil:
				return c.bad(k.key, "rule directory %q cannot be read: %v", d, err)
			}
		}
	}
	return nil
}

// ownClasses are the classes abusewatch gives events itself, whatever the rules.
func ownClasses() []string {
	return []string{string(abusewatch.ClassAuthFailure), string(abusewatch.ClassInvalidUser),
		string(abusewatch.ClassAuthSuccess), string(abusewatch.ClassUnknown)}
}

// RelativeRuleDirs are the warnings of rule directories given as relative paths, for
// check-config: a relative path is taken from the directory abusewatch runs in, and the
// service runs in /, so a config check-config passed in /etc/abusewatch stopped the
// service ("does not exist in /").
func (c *Config) RelativeRuleDirs() []*ConfigError {
	var warn []*ConfigError
	wd, err := os.Getwd()
	if err != nil {
		return nil
	}
	for _, k := range []struct {
		key  string
		dirs []string
	}{{"detect.normal_dirs", c.Detect.NormalDirs}, {"detect.attack_dirs", c.Detect.AttackDirs}} {
		for _, d := range k.dirs {
			if filepath.IsAbs(d) {
				continue
			}
			warn = append(warn, &ConfigError{File: c.file, Line: keyOrTableLine(c.doc, k.key), Key: k.key,
				Problem: fmt.Sprintf("%q is a relative path: it is taken from the directory abusewatch runs in (here %s), not from the config file's, and the service runs in /, where it is %s",
					d, wd, filepath.Join("/", d)),
				Hint: fmt.Sprintf("write the whole path, e.g. %q", filepath.Join(wd, d))})
		}
	}
	return warn
}

// checkReportable refuses a correlate.reportable class that neither abusewatch nor one
// of the loaded attack rules makes: it would count nothing, silently.
func (c *Config) checkReportable(attack *detect.AttackRules) error {
	known := ownClasses()
	for _, cl := range attack.Classes() {
		if !slices.Contains(known, string(cl)) {
			known = append(known, string(cl))
		}
	}
	for _, class := range c.Correlate.Reportable {
		if !slices.Contains(known, class) {
			return &ConfigError{File: c.file, Line: keyOrTableLine(c.doc, "correlate.reportable"), Key: "correlate.reportable",
				Problem: fmt.Sprintf("%q is not an event class: neither abusewatch nor an attack rule makes it, so it would count nothing", class),
				Hint:    suggestion(class, known, "known classes")}
		}
	}
	return nil
}

// relativeTo says, for a relative path, what it is relative to.
func relativeTo(p string) string {
	if filepath.IsAbs(p) {
		return ""
	}
	wd, err := os.Getwd()
	if err != nil {
		return " (a relative path is taken from the directory abusewatch runs in, not from the config file's)"
	}
	return fmt.Sprintf(" in %s (a relative path is taken from the directory abusewatch runs in, not from the config file's)", wd)
}

// bad is a ConfigError about key, at its line (or its table's, when the key is missing).
func (c *Config) bad(key, format string, args ...any) error {
	return &ConfigError{File: c.file, Line: keyOrTableLine(c.doc, key), Key: key, Problem: fmt.Sprintf(format, args...)}
}

// parseNetwork reads "198.51.100.0/24" or a single address. An IPv4-mapped network
// (::ffff:198.51.100.0/120) is the IPv4 network, as the admin commands read it: the
// addresses it is compared with (peers, attackers) are unmapped.
func parseNetwork(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return abusewatch.UnmapPrefix(p), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

// File is the path the config was read from.
func (c *Config) File() string { return c.file }

// Command is the command line `abusewatch sub args…` as the admin pastes it from a
// hint, a log line or a mail: with --config file when file is not the default, so that
// it acts on the store the hint is about, not on /etc/abusewatch's.
func Command(file, sub string, args ...string) string {
	cmd := "abusewatch " + sub
	if file != "" && file != DefaultConfigPath {
		cmd += " --config " + file
	}
	for _, a := range args {
		cmd += " " + a
	}
	return cmd
}

// Command is Command with the file c was read from, as an absolute path.
func (c *Config) Command(sub string, args ...string) string {
	return Command(c.commandFile, sub, args...)
}

// decodeError turns go-toml's errors into a ConfigError with line, key and hint.
func decodeError(file string, doc []byte, err error) error {
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) && len(strict.Errors) > 0 {
		e := strict.Errors[0]
		line, _ := e.Position()
		key := strings.Join(e.Key(), ".")
		return &ConfigError{File: file, Line: line, Key: key, Problem: "unknown key",
			Hint: suggestion(e.Key()[len(e.Key())-1], knownKeys(reflect.TypeFor[Config](), e.Key()[:len(e.Key())-1]), "valid keys here")}
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		line, _ := de.Position()
		msg := strings.TrimPrefix(de.Error(), "toml: ")
		if m := typeMismatch.FindStringSubmatch(msg); m != nil {
			want := map[string]string{"int": "a whole number", "string": "a string in quotes", "bool": "true or false",
				"[]string": "a list of strings such as [\"a\", \"b\"]", "daemon.Duration": "a duration in quotes such as \"10m\""}[m[2]]
			if want == "" {
				want = m[2]
			}
			msg = fmt.Sprintf("wrong type: this is a TOML %s, the key wants %s", m[1], want)
		}
		return &ConfigError{File: file, Line: line, Key: fullKey(doc, line, de.Key()), Problem: msg}
	}
	return &ConfigError{File: file, Problem: strings.TrimPrefix(err.Error(), "toml: ")}
}

// fullKey is key (as a decoder error names it, maybe relative to its table: a duplicate
// "name" in [reporter]) with the path of the key written at line.
func fullKey(doc []byte, line int, key []string) string {
	full := strings.Join(key, ".")
	walkKeys(doc, func(path []string, l int, table bool) bool {
		if table || l != line {
			return true
		}
		if p := strings.Join(path, "."); strings.HasSuffix("."+p, "."+full) {
			full = p
		}
		return false
	})
	return full
}

// typeMismatch matches go-toml's message for a value of the wrong type.
var typeMismatch = regexp.MustCompile(`^cannot decode TOML (\w+) into struct field \S+ of type (.+)$`)

// knownKeys lists the keys valid in the table at path of a config of type t.
func knownKeys(t reflect.Type, path []string) []string {
	if t = fieldType(t, path); t == nil {
		return nil
	}
	for t.Kind() == reflect.Slice || t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	var keys []string
	for f := range t.Fields() {
		if tag := f.Tag.Get("toml"); tag != "" {
			keys = append(keys, tag)
		}
	}
	return keys
}

func fieldByTag(t reflect.Type, tag string) (reflect.StructField, bool) {
	for f := range t.Fields() {
		if f.Tag.Get("toml") == tag {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// suggestion names the valid word nearest to got, if it is near enough to be a typo, or
// else lists them, after what ("valid keys here").
func suggestion(got string, valid []string, what string) string {
	best := Nearest(got, valid)
	if best == "" {
		if len(valid) > 0 {
			return what + ": " + strings.Join(valid, ", ")
		}
		return ""
	}
	return fmt.Sprintf("did you mean %q?", best)
}

// Nearest is the word of valid nearest to got when it is near enough to be a typo of
// it (a config key, a command name), "" when none is.
func Nearest(got string, valid []string) string {
	best, bestD := "", len(got)/2+2
	for _, v := range valid {
		if d := editDistance(got, v); d < bestD {
			best, bestD = v, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// keyLine finds the line of a dotted key such as "policy.mode" or "contact[1].network" in
// doc, or 0 when it is not written there (a default).
func keyLine(doc []byte, key string) int {
	want := strings.Split(key, ".")
	line := 0
	walkKeys(doc, func(path []string, l int, table bool) bool {
		if !table && slices.Equal(path, want) {
			line = l
			return false
		}
		return true
	})
	return line
}

// keyOrTableLine is keyLine or, for a key the file leaves out, the line of the table that lacks
// it (the second [[contact]] for "contact[1].emails"), or 0 when there is none.
func keyOrTableLine(doc []byte, key string) int {
	if l := keyLine(doc, key); l > 0 {
		return l
	}
	want := strings.Split(key, ".")
	want = want[:len(want)-1]
	line := 0
	walkKeys(doc, func(path []string, l int, table bool) bool {
		if table && len(want) > 0 && slices.Equal(path, want) {
			line = l
			return false
		}
		return true
	})
	return line
}

// eachExpression calls fn with each table header (table true) and key-value e of doc,
// its full path (a header's own, a [[name]] as name) and the line of its key, until fn
// returns false; p reads the lines of values.
func eachExpression(doc []byte, fn func(p *unstable.Parser, e *unstable.Node, path []string, line int, table bool) bool) {
	p := unstable.Parser{}
	p.Reset(doc)
	var table []string
	for p.NextExpression() {
		e := p.Expression()
		// The key's own position: container values (arrays) carry no range.
		it := e.Key()
		if !it.Next() {
			continue
		}
		line := p.Shape(it.Node().Raw).Start.Line
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			table = nodeKey(e)
			if !fn(&p, e, slices.Clone(table), line, true) {
				return
			}
		case unstable.KeyValue:
			if !fn(&p, e, append(slices.Clone(table), nodeKey(e)...), line, false) {
				return
			}
		}
	}
}

// walkKeys calls fn with the full path and line of every table header (table true) and
// key in doc, the n-th [[name]] as "name[n]", until fn returns false.
func walkKeys(doc []byte, fn func(path []string, line int, table bool) bool) {
	var table []string // the header's path, with its [n]
	counts := map[string]int{}
	eachExpression(doc, func(_ *unstable.Parser, e *unstable.Node, path []string, line int, isTable bool) bool {
		if !isTable {
			return fn(append(slices.Clone(table), path[len(table):]...), line, false)
		}
		if e.Kind == unstable.ArrayTable {
			name := strings.Join(path, ".")
			path[len(path)-1] += fmt.Sprintf("[%d]", counts[name])
			counts[name]++
		}
		table = path
		return fn(table, line, true)
	})
}

// checkDurations refuses a duration written as a bare number ("window = 10": seconds?
// minutes?) or one that does not parse, with its line and key, also inside inline
// tables such as correlate.windows: the decoder would report neither's line.
func checkDurations(file string, doc []byte) (err error) {
	eachExpression(doc, func(p *unstable.Parser, e *unstable.Node, path []string, _ int, table bool) bool {
		if !table {
			err = checkDurationValue(file, p, e, strings.Join(path, "."), "", fieldType(reflect.TypeFor[Config](), path))
		}
		return err == nil
	})
	return err // syntax errors are the decoder's to report
}

// checkDurationValue checks the value of kv, whose field has type t (nil: not a config
// field), and in an inline table the durations inside; where says which element.
func checkDurationValue(file string, p *unstable.Parser, kv *unstable.Node, key, where string, t reflect.Type) error {
	if t == nil {
		return nil
	}
	it := kv.Key()
	it.Next()
	line := p.Shape(it.Node().Raw).Start.Line
	v := kv.Value()
	if t == reflect.TypeFor[Duration]() {
		problem := ""
		if v.Kind != unstable.String {
			problem = "wrong type: the key wants a duration in quotes such as \"10m\", \"36h\" or \"7d\""
		} else if _, err := ParseDuration(string(v.Data)); err != nil {
			problem = err.Error()
		}
		if problem == "" {
			return nil
		}
		return &ConfigError{File: file, Line: line, Key: key, Problem: where + problem}
	}
	for t.Kind() == reflect.Slice || t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	var tables []*unstable.Node
	switch v.Kind {
	case unstable.InlineTable:
		tables = append(tables, v)
	case unstable.Array:
		for el := v.Children(); el.Next(); {
			tables = append(tables, el.Node())
		}
	}
	for i, tbl := range tables {
		if tbl.Kind != unstable.InlineTable {
			continue // the decoder reports the wrong type
		}
		at := where
		if v.Kind == unstable.Array {
			at += fmt.Sprintf("entry %d: ", i+1)
		}
		for field := tbl.Children(); field.Next(); {
			f := field.Node()
			sub := nodeKey(f)
			if err := checkDurationValue(file, p, f, key, at+strings.Join(sub, ".")+": ", fieldType(t, sub)); err != nil {
				return err
			}
		}
	}
	return nil
}

// fieldType is the type of the config field at path inside t, or nil if there is none.
func fieldType(t reflect.Type, path []string) reflect.Type {
	for _, name := range path {
		for t.Kind() == reflect.Slice || t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return nil
		}
		f, ok := fieldByTag(t, name)
		if !ok {
			return nil
		}
		t = f.Type
	}
	return t
}

func nodeKey(n *unstable.Node) []string {
	var parts []string
	it := n.Key()
	for it.Next() {
		parts = append(parts, string(it.Node().Data))
	}
	return parts
}

// Location returns the zone named by name ("Local", "UTC" or an IANA name); validate has
// already checked it loads.
func Location(name string) *time.Location {
	if name == "Local" {
		return time.Local
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return time.UTC
	}
	return loc
}
