package daemon

import (
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/detect"
)

// detect drops a second space after a file line's tag as rsyslog's; the journal's
// MESSAGE is the program's own, so a message that starts with spaces (an indented
// trace) reaches the rules with all of them.
func TestJournalMessageKeepsItsLeadingSpaces(t *testing.T) {
	for _, msg := range []string{"Failed password for root", " one space", "  two spaces", "   three"} {
		line := `{"__CURSOR":"s=4c252754fe71446484b8827a9b6a2c55;i=7","__REALTIME_TIMESTAMP":"1795313285860172",` +
			`"MESSAGE":"` + msg + `","_COMM":"app","_PID":"12","_HOSTNAME":"web1"}`
		jr, err := journalRecord([]byte(line), time.Now(), journalTrust{})
		if err != nil {
			t.Fatal(err)
		}
		h, err := detect.ParseHeader(jr.rec.Line, time.Now(), time.UTC)
		if err != nil || h.Message != msg || h.Program != "app" || h.Host != "web1" {
			t.Errorf("MESSAGE %q: record %q reads as %q from %s on %s (%v)", msg, jr.rec.Line, h.Message, h.Program, h.Host, err)
		}
	}
}
