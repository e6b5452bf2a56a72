package daemon

import (
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// policy.never_report written as an IPv4-mapped network (::ffff:45.134.26.0/120, the form
// the admin commands accept) is the IPv4 network: the correlator makes no incident of it
// and nothing is mailed about it, as with 45.134.26.0/24, and exclude --list shows it so.
// The demo log's 45.134.26.17 attacks; a mapped network that stops one address short of
// it leaves it reported.
func TestNeverReportMappedNetworkIsTheIPv4Network(t *testing.T) {
	const attacker = "45.134.26.17"
	for _, c := range []struct {
		entry, listed string
		never         bool
	}{
		{"45.134.26.0/24", "45.134.26.0/24", true},
		{"::ffff:45.134.26.0/120", "45.134.26.0/24", true},
		{"::ffff:45.134.26.0/123", "45.134.26.0/27", true},    // .0-.31
		{"::ffff:45.134.26.0/124", "45.134.26.0/28", false},   // .0-.15
		{"::ffff:45.134.26.16/124", "45.134.26.16/28", true},  // .16-.31
		{"::ffff:45.134.26.17/128", "45.134.26.17/32", true},  // the address
		{"::ffff:45.134.26.17", "45.134.26.17/32", true},      // the address, without a length
		{"::ffff:45.134.26.18/127", "45.134.26.18/31", false}, // the next two
	} {
		t.Run(c.entry, func(t *testing.T) {
			dir := t.TempDir()
			text := strings.Replace(demoConfigIn(t, dir), `mode = "auto"`, `mode = "auto"`+"\nnever_report = [\""+c.entry+"\"]", 1)
			cfg := parseTestConfig(t, "demo.toml", text)
			st := openTestStore(t, cfg)
			p, err := NewPipeline(cfg, st, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				t.Fatal(err)
			}
			if err := p.ScanFiles(t.Context(), []string{"../configs/demo/auth.log"}, time.Time{}); err != nil {
				t.Fatal(err)
			}
			if err := p.Report(t.Context(), time.Now()); err != nil {
				t.Fatal(err)
			}
			if err := p.Deliver(t.Context()); err != nil {
				t.Fatal(err)
			}
			incs, _, err := st.IncidentsSince(time.Time{}, 0)
			if err != nil {
				t.Fatal(err)
			}
			made := false
			for _, inc := range incs {
				made = made || inc.Addr == netip.MustParseAddr(attacker)
			}
			mailed := false
			files, _ := filepath.Glob(filepath.Join(dir, "maildir", "new", "*"))
			for _, f := range files {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				mailed = mailed || strings.Contains(string(b), attacker)
			}
			if made == c.never || mailed == c.never || len(files) == 0 {
				t.Errorf("never_report %s: incident of %s %v, mailed %v (%d mails); want neither: %v", c.entry, attacker, made, mailed, len(files), c.never)
			}
			if why := cfg.NeverReported(netip.MustParseAddr(attacker)); (why != "") != c.never {
				t.Errorf("never_report %s: NeverReported(%s) = %q", c.entry, attacker, why)
			}
			list, err := ListExclusions(cfg, st)
			if err != nil || len(list) != 1 || list[0].Network.String() != c.listed {
				t.Errorf("never_report %s: exclude --list shows %+v (%v); want %s", c.entry, list, err, c.listed)
			}
		})
	}
}
