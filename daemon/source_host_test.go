package daemon

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A central server reads its fleet's exim and vsftpd files, whose lines name no host,
// from a [[source]] with host = "mx2": their events are mx2's. A syslog line in the same
// file keeps the host it names, and a [[source]] without host names this machine.
func TestSourceHostNamesTheFleetsNativeLines(t *testing.T) {
	dir := t.TempDir()
	for name, text := range map[string]string{
		"mx2/mainlog": "2026-12-06 10:00:01 dovecot_plain authenticator failed for (mail.test.com) [202.137.142.181]:47807: 535 Incorrect authentication data (set_id=dave)\n" +
			"2026-12-06T10:00:02.000000+00:00 mx9 sshd[100]: Failed password for root from 45.134.26.9 port 4000 ssh2\n",
		"mx2/vsftpd.log": "Sun Dec  6 10:00:03 2026 [pid 27244] [user] FAIL LOGIN: Client \"::ffff:93.24.101.89\"\n",
		"local/mainlog":  "2026-12-06 10:00:04 dovecot_login authenticator failed for (x) [185.220.101.4]:1: 535 Incorrect authentication data (set_id=a)\n",
	} {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	doc := demoConfigIn(t, dir) + "\n[[source]]\nfiles = [\"" + filepath.Join(dir, "mx2", "*") + "\"]\nhost = \"mx2\"\n" +
		"\n[[source]]\nfiles = [\"" + filepath.Join(dir, "local", "mainlog") + "\"]\n"
	cfg := parseTestConfig(t, "demo.toml", doc)
	if cfg.Sources[0].Host != "mx2" || cfg.Sources[1].Host != "" {
		t.Fatalf("hosts %q and %q; want mx2 and none", cfg.Sources[0].Host, cfg.Sources[1].Host)
	}
	files, err := ExpandSources(cfg)
	if err != nil || len(files) != 3 {
		t.Fatalf("sources %v (%v); want three files", files, err)
	}
	st := openTestStore(t, cfg)
	p, err := NewPipeline(cfg, st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.ScanFiles(t.Context(), files, time.Time{}); err != nil {
		t.Fatal(err)
	}
	events, _, err := st.EventsBetween(time.Time{}, time.Now().Add(48*time.Hour), 0)
	if err != nil {
		t.Fatal(err)
	}
	here, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"202.137.142.181": "mx2", "93.24.101.89": "mx2", "45.134.26.9": "mx9", "185.220.101.4": here}
	got := map[string]string{}
	for _, ev := range events {
		got[ev.Addr.String()] = ev.Host
	}
	for addr, host := range want {
		if got[addr] != host {
			t.Errorf("event from %s on %q, want %q (all: %v)", addr, got[addr], host, got)
		}
	}
}

// A file two [[source]]s take is the first one's: this machine's when that one names
// no host, whatever a later one names.
func TestAFileTwoSourcesTakeIsTheFirstOnes(t *testing.T) {
	cfg := parseTestConfig(t, "/etc/abusewatch/abusewatch.toml", `
[[source]]
files = ["/var/log/fleet/*"]
[[source]]
files = ["/var/log/fleet/mainlog", "/var/log/mx2/mainlog"]
host = "mx2"
[[source]]
files = ["/var/log/mx2/*"]
host = "mx9"
[policy]
settle = "0s"
mode = "observe"
`)
	host := cfg.sourceHosts()
	for source, want := range map[string]string{
		"/var/log/fleet/mainlog":  "", // the first [[source]]'s: this machine's
		"/var/log/mx2/mainlog":    "mx2",
		"/var/log/mx2/vsftpd.log": "mx9",
		"/var/log/other.log":      "",
	} {
		if got := host(source); got != want {
			t.Errorf("the lines of %s are %q's, want %q's", source, got, want)
		}
	}
}
