package daemon

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
)

// JournalConfig is the systemd journal source, read through journalctl.
type JournalConfig struct {
	Enabled     bool     `toml:"enabled"`
	Units       []string `toml:"units"`       // _SYSTEMD_UNIT values to read; [] with identifiers [] reads everything
	Identifiers []string `toml:"identifiers"` // SYSLOG_IDENTIFIER values to read (entries of other units)
	Directory   string   `toml:"directory"`   // a journal directory instead of the system journal
	Command     string   `toml:"command"`     // the journalctl binary
}

// SyslogConfig is the syslog listener that other hosts forward their logs to.
type SyslogConfig struct {
	UDP      []string `toml:"udp"`       // addresses to listen on for UDP datagrams
	TCP      []string `toml:"tcp"`       // addresses for TCP (octet-counted or newline framing)
	TLS      []string `toml:"tls"`       // addresses for TCP with TLS
	CertFile string   `toml:"cert_file"` // the server certificate (PEM) for tls
	KeyFile  string   `toml:"key_file"`  // its key
	Allow    []string `toml:"allow"`     // networks allowed to send
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
}

// validateSources checks the [[source]], [journal] and [syslog] sections.
func (c *Config) validateSources() error {
	bad := func(key, format string, args ...any) error {
		return &ConfigError{File: c.file, Line: keyLine(c.doc, key), Key: key, Problem: fmt.Sprintf(format, args...)}
	}
	for i, s := range c.Sources {
		if len(s.Files) == 0 {
			return bad(fmt.Sprintf("source[%d].files", i), "a [[source]] needs at least one file or glob")
		}
		for _, f := range s.Files {
			if f == "" || strings.ContainsRune(f, 0) {
				return bad(fmt.Sprintf("source[%d].files", i), "%q is not a file name", f)
			}
		}
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
	if len(c.Syslog.TLS) > 0 && (c.Syslog.CertFile == "" || c.Syslog.KeyFile == "") {
		return bad("syslog.tls", "listening with TLS needs syslog.cert_file and syslog.key_file")
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
	}
	return nil
}
