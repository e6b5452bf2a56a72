package daemon

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// programWarnings are the warnings about what the configured sources read that the
// rules take less from than an admin who upgraded would expect, for check-config and
// the daemon's start (Preflight). Each source that says it carries the program's lines
// (a journal unit or identifier, a file's path) makes one; a source that does not say
// (syslog's shared file, a listener) makes none, or every config would warn.
//
//   - MariaDB and MySQL: their client writes whole lines of their log through newlines
//     in its user name, so their classes are forgeable: the events are the admin's and
//     never reported. Without a word, an upgrade from when they were looks broken.
//   - pure-ftpd: its host slot is a <PTR>, an address there is no event unless
//     [detect] numeric_hosts names it (with DontResolve on); until then its failures
//     are unknown lines, which rules suggest would otherwise propose to hide.
func (c *Config) programWarnings() []*ConfigError {
	var mysql, pureFTPd []string // the keys that name them, the first one's line is shown
	var mysqlSeen, pureSeen []string
	note := func(keys *[]string, seen *[]string, key, what string) {
		if !slices.Contains(*keys, key) {
			*keys = append(*keys, key)
		}
		if !slices.Contains(*seen, what) {
			*seen = append(*seen, what)
		}
	}
	if c.Journal.Enabled {
		for _, k := range []struct {
			key   string
			names []string
		}{{"journal.units", c.Journal.Units}, {"journal.identifiers", c.Journal.Identifiers}} {
			for _, n := range k.names {
				switch l := strings.ToLower(n); {
				case namesPureFTPd(l): // before MySQL: Debian's pure-ftpd-mysql
					note(&pureFTPd, &pureSeen, k.key, n)
				case namesMySQL(l):
					note(&mysql, &mysqlSeen, k.key, n)
				}
			}
		}
	}
	for i, s := range c.Sources {
		key := fmt.Sprintf("source[%d].files", i)
		for _, f := range s.Files {
			// The file's name and its directory's, not the directories above:
			// /var/log/mysql/error.log, /var/log/pure-ftpd/transfer.log.
			l := strings.ToLower(filepath.Join(filepath.Base(filepath.Dir(f)), filepath.Base(f)))
			switch {
			case namesPureFTPd(l):
				note(&pureFTPd, &pureSeen, key, f)
			case namesMySQL(l):
				note(&mysql, &mysqlSeen, key, f)
			}
		}
	}
	var out []*ConfigError
	if len(mysql) > 0 {
		out = append(out, &ConfigError{File: c.file, Line: keyOrTableLine(c.doc, mysql[0]), Key: strings.Join(mysql, ", "),
			Problem: strings.Join(mysqlSeen, ", ") + " may hold MariaDB's or MySQL's lines: their failed logins (mysql-auth-failure, mysql-protocol-probe) are events for you alone and never make a report outside, because a client that can connect writes whole lines of their log through newlines in its user name, naming any address (`abusewatch ip ADDRESS` shows them)",
			Hint:    "README.md, ## Rules, \"Of databases\"; a log_error file such as /var/log/mysql/error.log is not a source: its lines look like exim's"})
	}
	if len(pureFTPd) > 0 && !slices.Contains(c.Detect.NumericHosts, "pure-ftpd") {
		out = append(out, &ConfigError{File: c.file, Line: keyOrTableLine(c.doc, pureFTPd[0]), Key: strings.Join(pureFTPd, ", "),
			Problem: strings.Join(pureSeen, ", ") + " may hold pure-ftpd's lines, and [detect] numeric_hosts does not name pure-ftpd: pure-ftpd writes the client's unchecked reverse DNS name where its failures name the client, so an address there makes no event and its attacks are unknown lines (do not write normal rules for them)",
			Hint:    "switch its resolving off (Debian: echo yes > /etc/pure-ftpd/conf/DontResolve && systemctl restart pure-ftpd; elsewhere pure-ftpd -H) and set numeric_hosts = [\"pure-ftpd\"] in [detect]; README.md, ## Rules, \"Some servers write\""})
	}
	return out
}

// namesPureFTPd says whether the lower-cased journal name or file path l names
// pure-ftpd: pure-ftpd.service, Debian's pure-ftpd-mysql.service, /var/log/pure-ftpd/….
func namesPureFTPd(l string) bool {
	return strings.Contains(l, "pure-ftpd") || strings.Contains(l, "pureftpd")
}

// namesMySQL says whether the lower-cased journal name or file path l names MariaDB or
// MySQL: mariadb.service, mysqld, /var/log/mysql/….
func namesMySQL(l string) bool {
	return strings.Contains(l, "mariadb") || strings.Contains(l, "mysql")
}
