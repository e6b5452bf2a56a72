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
	} {
		wantConfigError(t, checkBase+"[correlate]\nreportable = "+tc.reportable+"\n",
			fmt.Sprintf(`x.toml:%d: correlate.reportable: names %q, whose events are always forgeable (%s): anyone can send them with another's source address, so they never make an outside report; remove it`,
				line, tc.class, tc.why))
	}
	// The classes of logins and of services over TCP stay reportable.
	parseTestConfig(t, "x.toml", checkBase+"[correlate]\nreportable = [\"auth-failure\", \"invalid-user\", \"protocol-probe\"]\n")
}
