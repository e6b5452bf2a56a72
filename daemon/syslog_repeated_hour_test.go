package daemon

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// The syslog listener dates an RFC 3164 time of the hour an autumn change repeats
// (Europe/Berlin, 02:00-02:59 on Oct 25, 2026) by its host's own order and by when it
// arrived: web2's relay delivers its first-pass lines late, after web1 has gone into the
// second pass, and they stay of web2's first pass. Before, every such time was dated
// +0100 (the second pass), web2's 02:19 sent at 00:19 UTC an hour after it arrived.
func TestSyslogRecordDatesTheRepeatedHourByEachHostsOrder(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	l := &syslogListener{loc: berlin}
	peer := netip.MustParseAddr("192.0.2.10")
	names := &peerNames{}
	at := func(s string) time.Time {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			panic(err)
		}
		return t
	}
	const msg = " sshd[7]: Failed password for root from 45.134.26.111 port 5 ssh2"
	for _, c := range []struct {
		raw  string
		read time.Time
		want string
	}{
		{"<38>Oct 25 02:19:00 web2" + msg, at("2026-10-25T00:19:01Z"), "2026-10-25T00:19:00.000000Z"},
		{"<38>Oct 25 02:58:00 web1" + msg, at("2026-10-25T00:58:01Z"), "2026-10-25T00:58:00.000000Z"},
		{"<38>Oct 25 02:30:00 web1" + msg, at("2026-10-25T01:30:01Z"), "2026-10-25T01:30:00.000000Z"},
		{"<38>Oct 25 02:20:00 web2" + msg, at("2026-10-25T01:31:00Z"), "2026-10-25T00:20:00.000000Z"}, // web2's backlog, late
		{"<38>Oct 25 02:31:00 web1" + msg, at("2026-10-25T01:31:01Z"), "2026-10-25T01:31:00.000000Z"},
		{"<38>Oct 25 02:35:00 web3" + msg, at("2026-10-25T01:35:01Z"), "2026-10-25T01:35:00.000000Z"}, // none before, read in the second pass
	} {
		rec, ok, sent := syslogRecord(l.parser(), []byte(c.raw), peer, c.read, berlin, names)
		if want := at(strings.TrimSuffix(c.want, ".000000Z") + "Z"); !ok || !sent.Equal(want) {
			t.Errorf("%q: ok %v, dated %v; want %v", c.raw, ok, sent, want)
		}
		if got, _, _ := strings.Cut(rec.Line, " "); got != c.want {
			t.Errorf("%q read at %s: record %q, want it dated %s", c.raw, c.read.Format(time.TimeOnly), rec.Line, c.want)
		}
	}
}
