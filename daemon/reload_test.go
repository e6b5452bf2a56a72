package daemon

import (
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/detect"
)

// A reload that changes what is set up only at start ([syslog]: a sender taken off
// allow; [journal]; [metrics] listen) says that a restart applies it: it used to say nothing, and a
// revoked sender went on being heard. A postgres_prefix there is applied at once.
func TestReloadSaysWhatOnlyARestartApplies(t *testing.T) {
	dir := t.TempDir()
	cfg, err := LoadConfig(writeQuietConfig(t, dir, "[syslog]\nallow = [\"192.0.2.0/24\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.store.Close() })
	for _, tc := range []struct{ extra, want string }{
		{"[syslog]\nallow = [\"192.0.2.0/24\"]\n", ""},
		// postgres_prefix is the detector's: the new pipeline applies it at once
		{"[syslog]\nallow = [\"192.0.2.0/24\"]\npostgres_prefix = \"%m %r [%p] \"\n[journal]\npostgres_prefix = \"%m %r [%p] \"\n", ""},
		{"[syslog]\nallow = [\"192.0.2.7/32\"]\n", "[syslog] changed"},
		{"[syslog]\nallow = [\"192.0.2.0/24\"]\n[journal]\nenabled = true\n", "[journal] changed"},
		{"[syslog]\nallow = [\"192.0.2.0/24\"]\n[journal]\nenabled = true\n[metrics]\nlisten = \"127.0.0.1:29474\"\n",
			"[metrics] changed: restart the daemon to apply it; until then the metrics stay on no address (off)"},
	} {
		writeQuietConfig(t, dir, tc.extra)
		res, err := d.reload()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(tc.extra, "postgres_prefix") {
			line := `Dec  7 07:48:13 db postgres[7063]: 2026-12-07 07:48:13.707 UTC 203.0.113.9(41000) [7063] FATAL:  password authentication failed for user "x"`
			if out, ev := d.pipe.detector.Classify(abusewatch.Record{Source: journalSource, Line: line}); out != detect.Recognised || ev.Addr.String() != "203.0.113.9" {
				t.Errorf("after the reload, the journal's PostgreSQL line: %v from %v, want an event from 203.0.113.9", out, ev.Addr)
			}
		}
		notes := strings.Join(res.Notes, "\n")
		if tc.want == "" && notes != "" || !strings.Contains(notes, tc.want) {
			t.Errorf("reload with %q: notes %q, want %q", tc.extra, notes, tc.want)
		}
	}
}
