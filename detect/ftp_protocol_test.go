package detect

import (
	"net/netip"
	"testing"
)

// With log_ftp_protocol=YES vsftpd logs every command a client sends, as it sent it, at
// the end of the line, before login too and as often as the client likes. A command
// that spells a FAIL LOGIN of another address is no event (review 21b H1: the user
// stopped at the last "]", and 6.6.6.6 was reported), while vsftpd's own lines still
// are, whatever "]" a user name holds.
func TestVsftpdProtocolLogNamesNoAddressTheClientWrote(t *testing.T) {
	d := shipped(t)
	const real = "203.0.113.7"
	for _, tt := range []struct {
		name, line string
		addr       string // "" for no event
	}{
		{"a command spelling a failed login, syslog",
			`Dec  7 09:00:02 ftp vsftpd[2001]: [anything] FTP command: Client "` + real + `", "OPTS ] FAIL LOGIN: Client "6.6.6.6"`, ""},
		{"a command spelling a failed login, vsftpd.log",
			`Mon Dec  7 09:00:02 2026 [pid 2001] [anything] FTP command: Client "` + real + `", "OPTS ] FAIL LOGIN: Client "6.6.6.6"`, ""},
		{"the same after USER with a bracket",
			`Mon Dec  7 09:00:02 2026 [pid 2001] [a]b] FTP command: Client "` + real + `", "SITE ] FAIL LOGIN: Client "6.6.6.6"`, ""},
		{"vsftpd's answer quoting the command",
			`Mon Dec  7 09:00:02 2026 [pid 2001] [x] FTP response: Client "` + real + `", "500 ] FAIL LOGIN: Client "6.6.6.6"`, ""},
		{"a user name spelling the end of a failed login",
			`Mon Dec  7 09:00:03 2026 [pid 2001] [x] FAIL LOGIN: Client "6.6.6.6] FAIL LOGIN: Client "` + real + `"`, ""},
		{"vsftpd's own failed login",
			`Mon Dec  7 09:00:03 2026 [pid 2001] [anything] FAIL LOGIN: Client "` + real + `"`, real},
		{"vsftpd's own failed login, syslog",
			`Dec  7 09:00:03 ftp vsftpd[2001]: [admin] FAIL LOGIN: Client "::ffff:` + real + `"`, real},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, ev := d.Classify(record(tt.line))
			switch {
			case tt.addr == "" && out == Recognised:
				t.Errorf("an event from %v (%s, user %q); want none", ev.Addr, ev.Class, ev.User)
			case tt.addr != "" && (out != Recognised || ev.Addr != netip.MustParseAddr(tt.addr)):
				t.Errorf("outcome %v, address %v; want an event from %s", out, ev.Addr, tt.addr)
			}
		})
	}
}
