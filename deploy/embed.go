// Package deploy holds the files that install abusewatch on a host: the systemd unit, the
// sysusers.d and tmpfiles.d snippets and the packaging definition. They are embedded so
// `abusewatch install` needs nothing but the binary.
package deploy

import "embed"

// FS holds the unit as "abusewatch.service", and "abusewatch.sysusers" and
// "abusewatch.tmpfiles".
//
//go:embed abusewatch.service abusewatch.sysusers abusewatch.tmpfiles
var FS embed.FS
