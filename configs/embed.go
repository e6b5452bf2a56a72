// Package configs holds the files abusewatch ships with: the documented example config,
// the demo config and log, the default normal-record and attack rules, and the report
// template. They are embedded in the binary so it runs with nothing else installed; an
// admin replaces any of them with a file on disk through the config.
package configs

import "embed"

// FS holds every shipped file under its path in this folder, e.g. "rules/normal.d/sshd"
// or "report.tmpl".
//
//go:embed abusewatch.toml report.tmpl rules
var FS embed.FS
