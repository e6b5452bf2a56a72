package daemon

import (
	"fmt"
	"testing"
)

// correlate.reportable may not name a class whose events are all forgeable (review 21b
// M1): check-config said nothing, and the README's words let an admin believe such
// events would be reported safely. The refusal names the class and says why.
func TestReportableRefusesForgeableClasses(t *testing.T) {
	line := checkBaseLines + 2
	for _, tc := range []struct{ reportable, class, why string }{
		{`["auth-failure", "port-probe"]`, "port-probe", "packets a firewall logged, none of which completed a handshake"},
		{`["refused-query"]`, "refused-query", "DNS queries come over UDP, whose source address is not checked"},
		{`["invalid-user", "firewall-accept"]`, "firewall-accept", "the first packet of a connection, logged before any handshake"},
		// Review 33 F4: tcpd and xinetd refuse UDP services too, and F1: a MariaDB
		// client writes whole lines of the server's log.
		{`["auth-failure", "wrapper-refused"]`, "wrapper-refused", "TCP wrappers and xinetd refuse UDP services too, after one datagram, and their line does not say which"},
		{`["mysql-auth-failure"]`, "mysql-auth-failure", "MariaDB and MySQL log a client's user name with its newlines, so a client that connects writes whole lines of its own"},
		{`["mysql-protocol-probe"]`, "mysql-protocol-probe", "MariaDB and MySQL log a client's user name with its newlines, so a client that connects writes whole lines of its own"},
	} {
		wantConfigError(t, checkBase+"[correlate]\nreportable = "+tc.reportable+"\n",
			fmt.Sprintf(`x.toml:%d: correlate.reportable: names %q, whose events are always forgeable (%s): anyone can make them name another's address, so they never make an outside report; remove it`,
				line, tc.class, tc.why))
	}
	// The classes of logins and of services over TCP stay reportable, sshd's
	// refusals (PerSourcePenalties) included.
	parseTestConfig(t, "x.toml", checkBase+"[correlate]\nreportable = [\"auth-failure\", \"invalid-user\", \"protocol-probe\", \"refused-connect\"]\n")
}

// [detect] numeric_hosts names programs by their syslog names: anything else is refused
// with the key's line, before it could silently declare nothing.
func TestNumericHostsNamesPrograms(t *testing.T) {
	cfg := parseTestConfig(t, "x.toml", checkBase+"[detect]\nnumeric_hosts = [\"pure-ftpd\", \"login\"]\n")
	if got := cfg.Detect.NumericHosts; len(got) != 2 || got[0] != "pure-ftpd" || got[1] != "login" {
		t.Errorf("numeric_hosts = %q", got)
	}
	for _, bad := range []string{`""`, `"pure-ftpd login"`, `"pure-ftpd,login"`, `"*"`} {
		wantConfigError(t, checkBase+"[detect]\nnumeric_hosts = ["+bad+"]\n",
			fmt.Sprintf("x.toml:%d: detect.numeric_hosts: %s is not a program name", checkBaseLines+2, bad))
	}
}
