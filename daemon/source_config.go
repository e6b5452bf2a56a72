package daemon

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/abusewatch/abusewatch/detect"
	"golang.org/x/sys/unix"
)

// JournalConfig is the systemd journal source, read through journalctl.
type JournalConfig struct {
	Enabled     bool     `toml:"enabled"`
	Units       []string `toml:"units"`       // _SYSTEMD_UNIT values to read; [] with identifiers [] reads everything
	Identifiers []string `toml:"identifiers"` // SYSLOG_IDENTIFIER values to read (entries of other units: root's only)
	Directory   string   `toml:"directory"`   // a journal directory instead of the system journal
	Command     string   `toml:"command"`     // the journalctl binary

	PostgresPrefix string `toml:"postgres_prefix"` // PostgreSQL's log_line_prefix, for its entries (see SourceConfig)
}

// SyslogConfig is the syslog listener that other hosts forward their logs to.
type SyslogConfig struct {
	UDP      []string `toml:"udp"`       // addresses to listen on for UDP datagrams
	TCP      []string `toml:"tcp"`       // addresses for TCP (octet-counted or newline framing)
	TLS      []string `toml:"tls"`       // addresses for TCP with TLS
	CertFile string   `toml:"cert_file"` // the server certificate (PEM) for tls
	KeyFile  string   `toml:"key_file"`  // its key
	Allow    []string `toml:"allow"`     // networks allowed to send

	// The listener's limits (defaults: defaultSyslogConns, defaultSyslogConnsPerPeer,
	// defaultSyslogIdle).
	MaxConnections        int      `toml:"max_connections"`          // TCP and TLS connections at once
	MaxConnectionsPerPeer int      `toml:"max_connections_per_peer"` // from one address
	IdleTimeout           Duration `toml:"idle_timeout"`             // a connection quiet this long is closed

	PostgresPrefix string `toml:"postgres_prefix"` // PostgreSQL's log_line_prefix, for its messages (see SourceConfig)
}

func (s SyslogConfig) listening() bool { return len(s.UDP)+len(s.TCP)+len(s.TLS) > 0 }

// sourceDefaults fills the journal's filters when the file does not set them, so that
// an explicit empty list (read every entry) stays empty.
func (c *Config) sourceDefaults() {
	if c.Journal.Units == nil && keyLine(c.doc, "journal.units") == 0 {
		c.Journal.Units = []string{"ssh.service", "sshd.service"}
	}
	if c.Journal.Identifiers == nil && keyLine(c.doc, "journal.identifiers") == 0 {
		c.Journal.Identifiers = []string{"sshd", "sshd-session"}
	}
	if c.Journal.Command == "" {
		c.Journal.Command = "journalctl"
	}
	if c.Syslog.MaxConnections == 0 && c.unset("syslog.max_connections") {
		c.Syslog.MaxConnections = defaultSyslogConns
	}
	if c.Syslog.MaxConnectionsPerPeer == 0 && c.unset("syslog.max_connections_per_peer") {
		c.Syslog.MaxConnectionsPerPeer = min(defaultSyslogConnsPerPeer, c.Syslog.MaxConnections)
	}
	if c.Syslog.IdleTimeout.Duration == 0 && c.unset("syslog.idle_timeout") {
		c.Syslog.IdleTimeout = Duration{defaultSyslogIdle}
	}
}

// validateSources checks the [[source]], [journal] and [syslog] sections.
func (c *Config) validateSources() error {
	bad := c.bad
	for i, s := range c.Sources {
		key := fmt.Sprintf("source[%d].files", i)
		if len(s.Files) == 0 {
			return bad(key, "a [[source]] needs at least one file or glob")
		}
		for _, f := range s.Files {
			if f == "" || strings.ContainsRune(f, 0) {
				return bad(key, "%q is not a file name", f)
			}
			// The follower would fail on it every 100ms; a glob's directories are
			// Preflight's to refuse (they may appear later).
			if fi, err := os.Stat(f); err == nil && fi.IsDir() && !hasMeta(f) {
				return bad(key, "%s is a directory: name the log files in it", f)
			}
		}
	}
	for i, s := range c.Sources {
		if s.Host == "" && keyLine(c.doc, fmt.Sprintf("source[%d].host", i)) == 0 {
			continue // this machine's name
		}
		if problem := badHostName(s.Host); problem != "" {
			return bad(fmt.Sprintf("source[%d].host", i), "%q %s: give the name the host has in its own logs, e.g. \"mx2\", or leave host out for this machine's", s.Host, problem)
		}
	}
	if err := c.compilePostgresPrefixes(); err != nil {
		return err
	}
	for _, k := range []struct {
		key    string
		values []string
	}{{"journal.units", c.Journal.Units}, {"journal.identifiers", c.Journal.Identifiers}} {
		for _, v := range k.values {
			if v == "" || strings.ContainsAny(v, "= \t\n+") {
				return bad(k.key, "%q is not a unit or identifier name", v)
			}
		}
	}
	if c.Journal.Directory != "" {
		if fi, err := os.Stat(c.Journal.Directory); err != nil || !fi.IsDir() {
			return bad("journal.directory", "%q is not a directory: name the folder that holds the *.journal files", c.Journal.Directory)
		}
	}
	if c.Journal.Enabled && strings.ContainsRune(c.Journal.Command, '/') {
		if _, err := exec.LookPath(c.Journal.Command); err != nil {
			return bad("journal.command", "%q cannot be run: %v", c.Journal.Command, err)
		}
	}
	for _, k := range []struct {
		key   string
		addrs []string
	}{{"syslog.udp", c.Syslog.UDP}, {"syslog.tcp", c.Syslog.TCP}, {"syslog.tls", c.Syslog.TLS}} {
		for _, a := range k.addrs {
			if _, _, err := net.SplitHostPort(a); err != nil {
				return bad(k.key, "%q is not an address to listen on such as \"0.0.0.0:514\" or \"[::]:6514\"", a)
			}
		}
	}
	if len(c.Syslog.TLS) > 0 {
		if c.Syslog.CertFile == "" || c.Syslog.KeyFile == "" {
			return bad("syslog.tls", "listening with TLS needs syslog.cert_file and syslog.key_file")
		}
		if err := c.Syslog.checkKeyPair(c.bad); err != nil {
			return err
		}
	}
	if c.Syslog.listening() && len(c.Syslog.Allow) == 0 {
		// The key is missing: point at the listening address that needs it.
		line := max(keyLine(c.doc, "syslog.udp"), keyLine(c.doc, "syslog.tcp"), keyLine(c.doc, "syslog.tls"))
		return &ConfigError{File: c.file, Line: line, Key: "syslog.allow",
			Problem: "a syslog listener needs the networks allowed to send, e.g. [\"192.0.2.0/24\"]: anyone else could feed it forged attacks"}
	}
	for _, n := range c.Syslog.Allow {
		if _, err := parseNetwork(n); err != nil {
			return bad("syslog.allow", "%q is not an address or a network in CIDR notation", n)
		}
		if _, err := ParseExclusion(n); err != nil { // "192.0.2.7/24" is refused, not widened
			return bad("syslog.allow", "%v", err)
		}
	}
	switch s := c.Syslog; {
	case s.MaxConnections < 1:
		return bad("syslog.max_connections", "must be at least 1, not %d", s.MaxConnections)
	case s.MaxConnectionsPerPeer < 1:
		return bad("syslog.max_connections_per_peer", "must be at least 1, not %d", s.MaxConnectionsPerPeer)
	case s.MaxConnectionsPerPeer > s.MaxConnections:
		return bad("syslog.max_connections_per_peer", "%d is more than syslog.max_connections (%d): one address could take every connection",
			s.MaxConnectionsPerPeer, s.MaxConnections)
	case s.IdleTimeout.Duration < time.Second:
		return bad("syslog.idle_timeout", "%v is too short: a sender between two messages would be cut off; give e.g. \"1h\"", s.IdleTimeout)
	}
	return nil
}

// badHostName says what makes name no host name for a [[source]]'s lines, or "". The
// name is one word of the records' header, the host an event and a report name.
func badHostName(name string) string {
	switch {
	case name == "":
		return "is empty"
	case len(name) > 255:
		return "is longer than 255 bytes"
	}
	for _, r := range name {
		switch {
		case unicode.IsSpace(r):
			return "has a space in it"
		case unicode.IsControl(r) || r == unicode.ReplacementChar:
			return fmt.Sprintf("has the control character %U in it", r)
		}
	}
	return ""
}

// compilePostgresPrefixes compiles each postgres_prefix once, and refuses one that
// holds the client's text or cannot be read exactly, naming the section and the escape.
func (c *Config) compilePostgresPrefixes() error {
	compile := func(key, section, prefix string) (*detect.PostgresPrefix, error) {
		if prefix == "" && keyLine(c.doc, key) == 0 {
			return nil, nil // none declared: PostgreSQL's lines make no event
		}
		p, err := detect.ParsePostgresPrefix(prefix)
		if err != nil {
			return nil, &ConfigError{File: c.file, Line: keyOrTableLine(c.doc, key), Key: key,
				Problem: fmt.Sprintf("log_line_prefix %q (of %s) %v", prefix, section, err),
				Hint:    "set a log_line_prefix abusewatch can read in postgresql.conf, e.g. '%m %r [%p] ', reload PostgreSQL and copy it here"}
		}
		return p, nil
	}
	c.sourcePostgres = make([]*detect.PostgresPrefix, len(c.Sources))
	for i, s := range c.Sources {
		p, err := compile(fmt.Sprintf("source[%d].postgres_prefix", i), "the [[source]] of "+strings.Join(s.Files, ", "), s.PostgresPrefix)
		if err != nil {
			return err
		}
		c.sourcePostgres[i] = p
	}
	var err error
	if c.journalPostgres, err = compile("journal.postgres_prefix", "the journal", c.Journal.PostgresPrefix); err != nil {
		return err
	}
	c.syslogPostgres, err = compile("syslog.postgres_prefix", "the syslog listener", c.Syslog.PostgresPrefix)
	return err
}

// NewDetector is the Detector that run, scan and `rules test` classify with: rules,
// the config's timezone and numeric_hosts, and what each source declares (its host,
// PostgreSQL's log_line_prefix). A record's source is a file's absolute path, "journal" or "syslog".
func NewDetector(cfg *Config, rules Rules) *detect.Detector {
	d := detect.New(rules.Normal, rules.Attack, Location(cfg.Detect.Timezone)).WithSourceHosts(cfg.sourceHosts())
	if len(cfg.Detect.NumericHosts) > 0 {
		d = d.WithNumericHosts(cfg.Detect.NumericHosts)
	}
	if prefixes := cfg.postgresPrefixes(); prefixes != nil {
		d = d.WithPostgresPrefixes(prefixes)
	}
	return d
}

// postgresPrefixes gives, by a record's source, the log_line_prefix declared for it:
// the journal's, the syslog listener's, or that of the first [[source]] whose files or
// globs take the file (as sourceHosts names its host). nil when none is declared.
func (c *Config) postgresPrefixes() func(source string) *detect.PostgresPrefix {
	if c.journalPostgres == nil && c.syslogPostgres == nil && !slices.ContainsFunc(c.sourcePostgres, func(p *detect.PostgresPrefix) bool { return p != nil }) {
		return nil
	}
	sourceOf := c.sourceOf()
	return func(source string) *detect.PostgresPrefix {
		switch source {
		case journalSource:
			return c.journalPostgres
		case syslogSource:
			return c.syslogPostgres
		}
		if i := sourceOf(source); i >= 0 && i < len(c.sourcePostgres) {
			return c.sourcePostgres[i]
		}
		return nil
	}
}

// sourceOf gives the index of the first [[source]] whose files or globs take a
// followed or scanned file (its absolute path), or -1.
func (c *Config) sourceOf() func(path string) int {
	patterns := make([][]string, len(c.Sources))
	for i, s := range c.Sources {
		for _, f := range s.Files {
			if abs, err := filepath.Abs(f); err == nil { // as ExpandSources names the files it follows
				patterns[i] = append(patterns[i], abs)
			}
		}
	}
	return func(path string) int {
		for i, ps := range patterns {
			for _, p := range ps {
				if ok, _ := filepath.Match(p, path); ok || p == path {
					return i
				}
			}
		}
		return -1
	}
}

// sourceHosts names, by a record's source (a followed or scanned file's absolute path),
// the host of its lines that name none: the host of the first [[source]] whose files or
// globs take the file. nil when no [[source]] names a host.
func (c *Config) sourceHosts() func(source string) string {
	// Every [[source]] counts, those without a host too: a file two of them take is the
	// first one's, this machine's when that one names none ("").
	if !slices.ContainsFunc(c.Sources, func(s SourceConfig) bool { return s.Host != "" }) {
		return nil
	}
	sourceOf := c.sourceOf()
	return func(source string) string {
		if i := sourceOf(source); i >= 0 {
			return c.Sources[i].Host
		}
		return ""
	}
}

// checkKeyPair loads the listener's certificate and key as syslog.go will, so that a
// missing or mismatched file stops check-config and run before anything listens.
func (s SyslogConfig) checkKeyPair(bad func(key, format string, args ...any) error) error {
	cert, err := os.ReadFile(s.CertFile)
	if err != nil {
		return bad("syslog.cert_file", "%v", err)
	}
	key, err := os.ReadFile(s.KeyFile)
	if err != nil {
		return bad("syslog.key_file", "%v", err)
	}
	if _, err := tls.X509KeyPair(cert, key); err != nil {
		return bad("syslog.cert_file", "%s and syslog.key_file %s do not load as a certificate and its key (PEM): %v", s.CertFile, s.KeyFile, err)
	}
	return nil
}

// Preflight checks what depends on more than the file and may change while the daemon
// runs: the log files the [[source]] sections name now (ExpandSources: what the daemon
// follows), and the event classes the attack rules make. It returns the files, or the
// error that the config watches nothing at all, a glob that selects a directory, or a
// correlate.reportable class nothing makes. The warnings name each file or glob that is
// not there yet: it is followed when it appears. check-config runs it, and so should
// run (daemon.New), so that the two refuse the same configs.
//
// It also checks what the user running it may do, as check-config run as the service's
// user (the README's install step) should: a log file it cannot read is a warning (the
// daemon reads it as soon as it may), an [admin] group it is not a member of an error.
// (The store is StoreAccess's: run leaves it to store.Open, which says whose it is.)
func (c *Config) Preflight() (files []string, warnings []*ConfigError, err error) {
	files, err = ExpandSources(c)
	if err != nil {
		return nil, nil, err
	}
	if len(files) == 0 && !c.Journal.Enabled && !c.Syslog.listening() {
		return nil, nil, fmt.Errorf("%s: no [[source]] files, no [journal] and no [syslog] listener configured: nothing to watch", c.file)
	}
	hint := ""
	if !c.Journal.Enabled {
		hint = "if sshd logs only to the systemd journal, as on Debian 12 and later without rsyslog, set [journal] enabled = true"
	}
	for i, s := range c.Sources {
		key := fmt.Sprintf("source[%d].files", i)
		for _, f := range s.Files {
			if !hasMeta(f) {
				if _, err := os.Stat(f); errors.Is(err, fs.ErrNotExist) {
					warnings = append(warnings, &ConfigError{File: c.file, Line: keyOrTableLine(c.doc, key), Key: key,
						Problem: f + " does not exist (yet): it will be read when it appears", Hint: hint})
				} else if w := c.unreadable(key, f); w != nil {
					warnings = append(warnings, w)
				}
				continue
			}
			matches, _ := filepath.Glob(f) // ExpandSources has checked the pattern
			live := 0
			for _, m := range matches {
				if fi, err := os.Stat(m); err == nil && fi.IsDir() {
					return nil, nil, c.bad(key, "%s matches the directory %s: make the glob select log files only, e.g. %q",
						f, m, filepath.Join(filepath.Dir(f), "*.log"))
				}
				if !notLive(filepath.Base(m)) {
					live++
					if w := c.unreadable(key, m); w != nil {
						warnings = append(warnings, w)
					}
				}
			}
			if live == 0 {
				warnings = append(warnings, &ConfigError{File: c.file, Line: keyOrTableLine(c.doc, key), Key: key,
					Problem: f + " matches no log file (yet): the files it matches later will be read", Hint: hint})
			}
		}
	}
	if w := c.journalUnreadable(); w != nil {
		warnings = append(warnings, w)
	}
	if w := c.readsSSHDTwice(); w != nil {
		warnings = append(warnings, w)
	}
	if w := c.metricsExposed(); w != nil {
		warnings = append(warnings, w)
	}
	warnings = append(warnings, c.programWarnings()...)
	if c.Admin.Socket != "" && c.Admin.Group != "" {
		p, err := allowedPeers(c.Admin.Group)
		if err == nil {
			if err = p.notMember(); err != nil && c.service.gives(p.gid, "admin.group: may give the admin socket to "+p.group) {
				err = nil
			}
		}
		if err != nil {
			return nil, nil, c.bad("admin.group", "%v", err)
		}
	}
	return files, warnings, nil
}

// unreadable is the warning that the user running this cannot open the log file path
// (of the [[source]] key), or nil. Opened, not stat'ed: modes, ACLs and SELinux all count.
func (c *Config) unreadable(key, path string) *ConfigError {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err == nil {
		f.Close()
		return nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil // gone since: another warning's, or a rotation's
	}
	if errors.Is(err, fs.ErrPermission) && c.service.grants(path, unix.R_OK, key+": may read "+path) {
		return nil
	}
	uid := uint32(os.Geteuid())
	problem := fmt.Sprintf("%s cannot be read by %s, the user abusewatch runs as here: %v", path, describeUser(uid), err)
	if !errors.Is(err, fs.ErrPermission) {
		return &ConfigError{File: c.file, Line: keyOrTableLine(c.doc, key), Key: key, Problem: problem}
	}
	return &ConfigError{File: c.file, Line: keyOrTableLine(c.doc, key), Key: key, Problem: problem, Hint: readAdvice(path, userName(uid))}
}

// journalUnreadable is the warning that the user running this may not read the journal
// files [journal] reads (the system journal's, or journal.directory's), or nil. A user
// outside the systemd-journal and adm groups gets only its own entries from journalctl,
// and the daemon runs it with --quiet, which hides the hint journalctl gives: it would
// read nothing of sshd's, and say nothing. Nil too when there are no journal files to
// try (a volatile journal not written yet, or journalctl's own error at start).
func (c *Config) journalUnreadable() *ConfigError {
	if !c.Journal.Enabled {
		return nil
	}
	dirs, system := []string{"/var/log/journal", "/run/log/journal"}, true
	if c.Journal.Directory != "" {
		dirs, system = []string{c.Journal.Directory}, false
	}
	var tried []string
	for _, dir := range dirs {
		for _, pattern := range []string{"*.journal", "*/*.journal"} {
			files, _ := filepath.Glob(filepath.Join(dir, pattern))
			for _, f := range files {
				if system && !strings.HasPrefix(filepath.Base(f), "system") {
					continue // a user's own journal says nothing of the system's
				}
				fh, err := os.Open(f)
				if err == nil {
					fh.Close()
					return nil
				}
				if errors.Is(err, fs.ErrPermission) {
					if c.service.grants(f, unix.R_OK, "journal: may read the journal's files, such as "+f) {
						return nil
					}
					tried = append(tried, f)
				}
			}
		}
	}
	if len(tried) == 0 {
		return nil
	}
	user := userName(uint32(os.Geteuid()))
	key := "journal.enabled"
	if !system {
		key = "journal.directory"
	}
	return &ConfigError{File: c.file, Line: keyOrTableLine(c.doc, key), Key: key,
		Problem: fmt.Sprintf("%s, the user abusewatch runs as here, may not read the journal's files (such as %s): journalctl would show it its own entries only, and sshd's none",
			describeUser(uint32(os.Geteuid())), tried[0]),
		Hint: fmt.Sprintf("add %s to the systemd-journal group (usermod -aG systemd-journal %s) and restart the daemon; the shipped unit gives it that group (SupplementaryGroups=adm systemd-journal)", user, user)}
}

// readAdvice says how to let user read the log file path: through the file's group when
// the group may read it, else with an ACL (RHEL's /var/log/secure is root:root 0600, and
// adding a user to root's group would not help and should not be done).
func readAdvice(path, user string) string {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs // the command may be run elsewhere
	}
	fi, err := os.Stat(path)
	switch {
	case err != nil: // a directory on the way cannot be searched
		return fmt.Sprintf("give %s access to the directory and the file with ACLs (setfacl -m u:%s:x %s; setfacl -m u:%s:r %s): "+
			"the daemon reads the file as soon as it may, without a restart", user, user, filepath.Dir(path), user, path)
	case fi.Mode().Perm()&0o040 != 0:
		group := fileGroup(path)
		return fmt.Sprintf("the file's group %s may read it: add %s to that group (usermod -aG %s %s) and restart the daemon, which keeps the groups it started with; "+
			"or give %s read access with an ACL (setfacl -m u:%s:r %s), which the daemon takes without a restart", group, user, group, user, user, user, path)
	}
	return fmt.Sprintf("its mode lets only its owner read it, as RHEL's /var/log/secure (root:root 0600): give %s read access with an ACL (setfacl -m u:%s:r %s), "+
		"and the same in logrotate's postrotate for that file so the next one keeps it; the daemon reads the file as soon as it may, without a restart. "+
		"Or read the journal instead ([journal] enabled = true)", user, user, path)
}

// storeShape is StoreAccess's error for a store path that names what cannot be a bbolt
// file: a directory, a path under a regular file, a dangling symlink.
func (c *Config) storeShape() error {
	path := c.Store.Path
	bad := func(problem, hint string) error {
		return &ConfigError{File: c.file, Line: keyOrTableLine(c.doc, "store.path"), Key: "store.path", Problem: problem, Hint: hint}
	}
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, unix.ENOTDIR):
		// Some directory on the way is a file: name the first one.
		for d := filepath.Dir(path); d != filepath.Dir(d); d = filepath.Dir(d) {
			if dfi, err := os.Stat(d); err == nil && !dfi.IsDir() {
				return bad(fmt.Sprintf("the store %s lies under %s, which is a file, not a directory", path, d),
					"set store.path to a file in a directory, e.g. /var/lib/abusewatch/state.db")
			}
		}
		return bad(fmt.Sprintf("the store %s: %v", path, err), "set store.path to a file in a directory")
	case err != nil:
		return nil // missing (made by the daemon), or a permission StoreAccess explains
	case fi.IsDir():
		return bad(fmt.Sprintf("the store %s is a directory: store.path names the database file", path),
			"set store.path to a file in it, e.g. "+filepath.Join(path, "state.db"))
	case fi.Mode()&fs.ModeSymlink != 0:
		target, _ := os.Readlink(path)
		tfi, err := os.Stat(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return bad(fmt.Sprintf("the store %s is a symlink to %s, which does not exist", path, target),
				"point the link at the database (restore it if it was moved), or remove the link for a new one to be made there (every log is then read again)")
		case err == nil && tfi.IsDir():
			return bad(fmt.Sprintf("the store %s is a symlink to the directory %s: store.path names the database file", path, target),
				"point the link at the database file, or set store.path to a file")
		}
	case !fi.Mode().IsRegular():
		return bad(fmt.Sprintf("the store %s is not a regular file (%v)", path, fi.Mode().Type()), "set store.path to the database file")
	}
	return nil
}

// CountUnitGroups makes Preflight and StoreAccess, run by the unit's user (check-config
// as the README's install step runs it), count the groups the unit gives the service as
// its own (see ServiceUnit); u may be nil.
func (c *Config) CountUnitGroups(u *ServiceUnit) { c.service = u }

// StoreAccess is check-config's error that the user running it cannot write the store:
// its directory and the database when they are there, as run would find on opening it
// (without opening it: the daemon may hold it). nil when it can, or when the directory
// is missing: the daemon makes it (systemd's StateDirectory= makes /var/lib/abusewatch as
// the service starts).
//
// A path that run could never open is an error too: a directory, a path under a regular
// file, a symlink to nothing (which ls shows, and run called "no such file").
func (c *Config) StoreAccess() error {
	path := c.Store.Path
	if path == "" {
		return nil
	}
	if err := c.storeShape(); err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil // made by the daemon
	}
	uid := uint32(os.Geteuid())
	who, name := describeUser(uid), userName(uid)
	kind := func(target string) string {
		if target == dir {
			return "directory"
		}
		return "file (a scan or query run as root before the first start may have made it)"
	}
	fix := func(err error, target string) string {
		if errors.Is(err, unix.EROFS) {
			return "set store.path to a directory on a file system that is mounted writable"
		}
		return fmt.Sprintf("if %s is the daemon's user, give it the %s: chown %s: %s; or set store.path to a directory it may write", name, kind(target), name, target)
	}
	if err := unix.Access(dir, unix.W_OK|unix.X_OK); err != nil && !c.service.grants(dir, unix.W_OK|unix.X_OK, "store.path: may write the store's directory "+dir) {
		return &ConfigError{File: c.file, Line: keyOrTableLine(c.doc, "store.path"), Key: "store.path",
			Problem: fmt.Sprintf("%s, the user abusewatch runs as here, cannot write the store's directory %s: %v", who, dir, err), Hint: fix(err, dir)}
	}
	if _, err := os.Stat(path); err == nil {
		if err := unix.Access(path, unix.R_OK|unix.W_OK); err != nil && !c.service.grants(path, unix.R_OK|unix.W_OK, "store.path: may write the store "+path) {
			return &ConfigError{File: c.file, Line: keyOrTableLine(c.doc, "store.path"), Key: "store.path",
				Problem: fmt.Sprintf("%s, the user abusewatch runs as here, cannot write the store %s: %v", who, path, err), Hint: fix(err, path)}
		}
	}
	return nil
}
