package daemon

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/mailer"
)

// Events of a file `abusewatch scan` read, which no configured source names, are in
// the summary's EVENTS: its SOURCES named only the configured ones, which read 0 of
// them (review 46 L5: 18,300 events, and "auth.log: read, 0 events"). The file is named
// with its events, and why it is not among the sources.
func TestSummaryNamesTheScannedFileItsEventsCameFrom(t *testing.T) {
	now := time.Date(2026, 11, 21, 6, 0, 0, 0, time.UTC)
	cfg, st := seededStore(t, now)
	const scanned = "/srv/backlog/auth.log"
	var events []abusewatch.Event
	for i := range 7 {
		events = append(events, abusewatch.Event{Time: now.Add(-time.Duration(10-i) * time.Minute), Class: abusewatch.ClassAuthFailure,
			Addr: netip.MustParseAddr("45.134.26.9"), Port: 40000, User: "root", Service: "sshd", Host: "web1", Source: scanned, Line: "x"})
	}
	if _, err := st.Commit(events, nil); err != nil {
		t.Fatal(err)
	}
	sum, err := BuildSummary(cfg, st, nil, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	var line *mailer.SourceLine
	for i, l := range sum.Sources {
		if l.Name == scanned {
			line = &sum.Sources[i]
		}
	}
	if line == nil || line.Events != 7 || line.Silent || !strings.Contains(line.Read, "abusewatch scan") {
		t.Fatalf("SOURCES: %+v; want %s with its 7 events, said to be no configured source", sum.Sources, scanned)
	}
	msg, err := mailer.ComposeSummary(sum, cfg.Mail.From, cfg.Mail.Admin, now)
	if err != nil {
		t.Fatal(err)
	}
	text, _, _ := summaryParts(t, msg)
	if !strings.Contains(text, "  "+scanned+": not a configured source (a file read by `abusewatch scan`, or a source no longer in the config), 7 events, the last ") {
		t.Errorf("the text does not name the scanned file:\n%s", text)
	}
}
