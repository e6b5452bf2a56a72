package detect

import (
	"strings"
	"testing"
	"time"
)

// journalctl's -o short-unix and -o short-full, and RFC 3339 with a lower-case "t" and
// "z", are read; short-full's zone abbreviation only when it is one detect.timezone
// uses at that time (CET, CEST for Europe/Berlin; UTC, GMT): an abbreviation names no
// offset of its own, and none is guessed. In the repeated hour, CEST and CET tell the
// two passes apart.
func TestParseHeaderReadsJournalctlAndLowerCaseRFC3339(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	ref := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	const msg = " web9 sshd[15]: Failed password for root from 45.134.26.115 port 50001 ssh2"
	for _, c := range []struct {
		line string
		want string // UTC, RFC 3339 with nanoseconds; "error: TEXT" when unparsed
	}{
		{"2026-12-07t10:00:01z", "2026-12-07T10:00:01Z"},
		{"2026-12-07t10:00:01.5+01:00", "2026-12-07T09:00:01.5Z"},
		{"1796666600.123456", "2026-12-07T18:03:20.123456Z"},
		{"<38>1796666600.123456", "2026-12-07T18:03:20.123456Z"},
		{"Mon 2026-12-07 10:00:01 CET", "2026-12-07T09:00:01Z"},
		{"Mon 2026-12-07 10:00:01 UTC", "2026-12-07T10:00:01Z"},
		{"Mon 2026-12-07 10:00:01 GMT", "2026-12-07T10:00:01Z"},
		{"Sat 2026-07-04 10:00:01 CEST", "2026-07-04T08:00:01Z"},
		{"Sun 2026-10-25 02:30:00 CEST", "2026-10-25T00:30:00Z"},
		{"Sun 2026-10-25 02:30:00 CET", "2026-10-25T01:30:00Z"},
		{"Mon 2026-12-07 10:00:01 CEST", `error: the zone "CEST" is not one that detect.timezone (Europe/Berlin) uses at that time`},
		{"Mon 2026-12-07 10:00:01 EST", `error: the zone "EST" is not one that detect.timezone (Europe/Berlin) uses at that time`},
		{"1796666600.123 ", "error: no syslog timestamp"},
		{"Mon 2026-12-07 25:00:01 CET", "error: no syslog timestamp"},
	} {
		h, err := ParseHeader(c.line+msg, ref, berlin)
		if want, ok := strings.CutPrefix(c.want, "error: "); ok {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%q: %v, %v; want the error %q", c.line, h.Time, err, want)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.line, err)
			continue
		}
		if got := h.Time.UTC().Format(time.RFC3339Nano); got != c.want || h.Host != "web9" || h.Program != "sshd" || h.PID != 15 {
			t.Errorf("%q: %s %q %q %d, want %s web9 sshd 15", c.line, got, h.Host, h.Program, h.PID, c.want)
		}
	}
}
