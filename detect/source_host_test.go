package detect

import (
	"testing"

	"github.com/abusewatch/abusewatch"
)

// A central server reads its fleet's exim and vsftpd files, whose lines name no host:
// the host the source names is theirs. Lines that name a host (syslog headers,
// proftpd's SystemLog) keep it, other sources' lines are this machine's, and the
// Detector WithSourceHosts was called on is unchanged.
func TestSourceHostNamesLinesWithoutOne(t *testing.T) {
	local := shipped(t)
	d := local.WithSourceHosts(func(source string) string {
		if source == "/srv/fleet/mx2/mainlog" {
			return "mx2"
		}
		return ""
	})
	for _, tt := range []struct {
		file, source, host string
	}{
		{"testdata/crowdsec/exim-logs/exim-logs.log", "/srv/fleet/mx2/mainlog", "mx2"},
		{"testdata/crowdsec/vsftpd-bf/vsftpd-bf.log", "/srv/fleet/mx2/mainlog", "mx2"},
		{"testdata/crowdsec/proftpd-bf/proftpd-bf.log", "/srv/fleet/mx2/mainlog", "mantis"},
		{"testdata/crowdsec/exim-logs/exim-logs.log", "/var/log/exim4/mainlog", localHost()},
	} {
		events := 0
		for _, line := range readLines(t, tt.file) {
			if line == "" {
				continue
			}
			rec := abusewatch.Record{Source: tt.source, Line: line, Read: readTime}
			v := d.Explain(rec)
			if v.Header.Host != tt.host {
				t.Errorf("%s from %s: host %q, want %q", line, tt.source, v.Header.Host, tt.host)
			}
			if v.Outcome == Recognised {
				events++
				if v.Event.Host != tt.host {
					t.Errorf("%s from %s: event on %q, want %q", line, tt.source, v.Event.Host, tt.host)
				}
			}
			if v := local.Explain(rec); v.Header.Host == "mx2" {
				t.Errorf("%s: the Detector WithSourceHosts was called on names mx2", line)
			}
		}
		if events == 0 {
			t.Errorf("%s: no events", tt.file)
		}
	}
	line := "Dec  6 10:00:01 mx9 sshd[100]: Failed password for root from 45.134.26.9 port 4000 ssh2"
	if out, ev := d.Classify(abusewatch.Record{Source: "/srv/fleet/mx2/mainlog", Line: line, Read: readTime}); out != Recognised || ev.Host != "mx9" {
		t.Errorf("%s: %v on %q, want an event on mx9", line, out, ev.Host)
	}
}
