package detect

import (
	"os"
	"strings"
	"testing"
	"time"
)

// journalctl -o short-iso (and short-iso-precise) of systemd 252 writes the zone as
// "+0000", without RFC 3339's colon: every such line was unparsed ("bad RFC 3339
// timestamp"), so `journalctl -o short-iso | abusewatch rules test -` and a scan of an
// exported journal found nothing. The text is journalctl's own (testdata/journalctl).
func TestParseHeaderReadsJournalctlShortISO(t *testing.T) {
	text, err := os.ReadFile("testdata/journalctl/short-iso.log")
	if err != nil {
		t.Fatal(err)
	}
	first := time.Date(2026, 11, 20, 3, 14, 7, 0, time.UTC)
	lines := strings.Split(strings.TrimSuffix(string(text), "\n"), "\n")
	if len(lines) != 16 {
		t.Fatalf("%d lines in the capture; want 16", len(lines))
	}
	for i, line := range lines {
		h, err := ParseHeader(line, first, time.UTC)
		if err != nil {
			t.Errorf("line %d %q: %v", i+1, line, err)
			continue
		}
		want := first.Add(time.Duration(i%2) * time.Second)
		if strings.Contains(line, ".250000") {
			want = want.Add(250 * time.Millisecond)
		}
		if !h.Time.Equal(want) || h.Host != "web9" || h.Program != "sshd" || h.PID != 4242 || !strings.Contains(h.Message, " from 45.9.0.") {
			t.Errorf("line %d %q: time %v, host %q, program %q, pid %d, message %q; want %v, web9, sshd, 4242",
				i+1, line, h.Time.UTC(), h.Host, h.Program, h.PID, h.Message, want)
		}
	}
}
