package daemon

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// A user name the client chose may hold a right-to-left override (U+202E): `ip` printed
// it to the terminal, which showed the rest of the line reversed (review summary46 L4).
// The mails drop it (mailer's sanitize); the query's text does as well (sanitizeText).
func TestIPsLastEventHoldsNoBidiOverride(t *testing.T) {
	p, _ := periodPipeline(t, "observe", "")
	feed := &periodFeed{p: p}
	feed.lines(t, utc(21, 5, 40).Format(time.RFC3339)+" web1 sshd[100]: Failed password for invalid user root\u202eevil from 45.134.26.17 port 40000 ssh2")
	info, err := QueryNetwork(p.store, netip.MustParsePrefix("45.134.26.17/32"), utc(21, 0, 0), utc(21, 6, 0), time.UTC, nil)
	if err != nil {
		t.Fatal(err)
	}
	if info.Last == nil {
		t.Fatal("no last event: the line was not stored")
	}
	if strings.ContainsRune(info.Last.Line, '\u202e') || strings.ContainsRune(info.Last.User, '\u202e') ||
		!strings.Contains(info.Last.Line, "rootevil") {
		t.Errorf("the last event as `ip` prints it: %q (user %q); want it without the override", info.Last.Line, info.Last.User)
	}
}
