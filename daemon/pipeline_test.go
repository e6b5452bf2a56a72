package daemon

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/store"
)

// demoPipeline builds the demo config's pipeline with mode and fresh state in a temp dir.
func demoPipeline(t *testing.T, mode string) (*Pipeline, *store.Store, string) {
	t.Helper()
	dir := t.TempDir()
	maildir := filepath.Join(dir, "maildir")
	text := strings.Replace(demoConfigIn(t, dir), `mode = "auto"`, `mode = "`+mode+`"`, 1)
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
	return p, st, maildir
}

// demoConfigIn is the demo config's text with its state and maildir in dir.
func demoConfigIn(tb testing.TB, dir string) string {
	tb.Helper()
	doc, err := os.ReadFile("../configs/demo.toml")
	if err != nil {
		tb.Fatal(err)
	}
	return strings.NewReplacer(
		`maildir = "abusewatch-demo/maildir"`, `maildir = "`+filepath.Join(dir, "maildir")+`"`,
		`path = "abusewatch-demo/state.db"`, `path = "`+filepath.Join(dir, "state.db")+`"`,
	).Replace(string(doc))
}

func TestReviewModeKeepsReportsPendingAndSendsNothing(t *testing.T) {
	for mode, state := range map[string]abusewatch.ReportState{"review": abusewatch.ReportPendingApproval, "observe": abusewatch.ReportHeld} {
		t.Run(mode, func(t *testing.T) {
			_, st, maildir := demoPipeline(t, mode)
			all, err := st.Reports()
			if err != nil {
				t.Fatal(err)
			}
			if len(all) != 4 {
				t.Fatalf("%d reports stored; want 4", len(all))
			}
			for _, r := range all {
				full, _, err := st.Report(r.ID) // the list holds no messages
				if err != nil || r.State != state || len(full.Message) == 0 {
					t.Errorf("report %s is %s (%d bytes, %v); want %s with its message", r.ID, r.State, len(full.Message), err, state)
				}
			}
			// The demo's login after failures is mailed to the admin (mail.admin), in every mode.
			files, _ := filepath.Glob(filepath.Join(maildir, "new", "*"))
			files = slices.DeleteFunc(files, func(f string) bool {
				b, _ := os.ReadFile(f)
				return bytes.Contains(b, []byte("\r\nTo: <root@example.org>\r\n"))
			})
			if len(files) != 0 {
				t.Errorf("%s mode delivered %d reports", mode, len(files))
			}
		})
	}
}

func TestReportsAreWrittenOnce(t *testing.T) {
	p, st, _ := demoPipeline(t, "auto")
	// Another round with nothing new writes nothing new.
	if err := p.Report(t.Context(), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	all, err := st.Reports()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 4 || p.Counters.Reports.Load() != 4 || p.Counters.Delivered.Load() != 4 {
		t.Errorf("%d reports stored, %d written, %d delivered; want 4 each", len(all), p.Counters.Reports.Load(), p.Counters.Delivered.Load())
	}
}

// The line counts are a partition: an unknown line with an address in a trusted
// position is stored as an event of class unknown, and counted once, as unknown (as
// `rules test` counts it), not as both.
func TestEveryLineIsCountedOnce(t *testing.T) {
	p, _, _ := demoPipeline(t, "review")
	before := func(c *atomic.Int64) int64 { return c.Load() }
	c := p.Counters
	lines, events, unknown, normal, unparsed := before(&c.Lines), before(&c.Events), before(&c.Unknown), before(&c.Normal), before(&c.Unparsed)
	classes := c.ByClass()[abusewatch.ClassUnknown]
	at := time.Now().UTC().Format(time.RFC3339)
	recs := []abusewatch.Record{
		{Line: at + " web1 sshd[1]: Invalid user admin from 45.134.26.99 port 4242", Source: "/x"},
		{Line: at + " web1 myapp[12]: weird thing from 45.134.26.99 port 443", Source: "/x"},
		{Line: at + " web1 CRON[2]: (root) CMD (/usr/local/bin/backup)", Source: "/x"},
		{Line: "not syslog at all", Source: "/x"},
	}
	if err := p.Ingest(t.Context(), recs, nil); err != nil {
		t.Fatal(err)
	}
	got := []int64{c.Lines.Load() - lines, c.Events.Load() - events, c.Unknown.Load() - unknown, c.Normal.Load() - normal, c.Unparsed.Load() - unparsed}
	if want := []int64{4, 1, 1, 1, 1}; !slices.Equal(got, want) {
		t.Errorf("lines, events, unknown, normal, unparsed = %v, want %v", got, want)
	}
	if n := c.ByClass()[abusewatch.ClassUnknown] - classes; n != 1 {
		t.Errorf("%d events of class unknown stored, want 1", n)
	}
}

// A batch the store refuses is counted when it is committed, not at every try: the
// daemon reads it again after a full disk, and status said more lines than the log had.
func TestIngestCountsABatchOnceCommitted(t *testing.T) {
	dir := t.TempDir()
	cfg := parseTestConfig(t, "demo.toml", demoConfigIn(t, dir))
	st := openTestStore(t, cfg)
	p, err := NewPipeline(cfg, st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
	var recs []abusewatch.Record
	for i := range 3 {
		recs = append(recs, abusewatch.Record{Source: "auth.log", Line: fmt.Sprintf("%s web1 sshd[%d]: Failed password for root from 45.134.26.7 port %d ssh2",
			at.Add(time.Duration(i)*time.Second).Format(time.Stamp), 100+i, 40000+i)},
			abusewatch.Record{Source: "auth.log", Line: at.Format(time.Stamp) + " web1 CRON[1]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)"})
	}
	st.Close() // what a full disk does to a commit: it fails
	if err := p.Ingest(t.Context(), recs, nil); err == nil {
		t.Fatal("a batch was committed to a closed store")
	}
	if n, e, c := p.Counters.Lines.Load(), p.Counters.Events.Load(), p.Counters.ByClass(); n != 0 || e != 0 || len(c) != 0 {
		t.Errorf("after a refused batch: %d lines, %d events, %v by class; want none counted", n, e, c)
	}
	st = openTestStore(t, cfg)
	p2, err := NewPipeline(cfg, st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := p2.Ingest(t.Context(), recs, nil); err != nil {
		t.Fatal(err)
	}
	if n, e, nn := p2.Counters.Lines.Load(), p2.Counters.Events.Load(), p2.Counters.Normal.Load(); n != 6 || e != 3 || nn != 3 {
		t.Errorf("committed: %d lines, %d events, %d normal; want 6, 3, 3", n, e, nn)
	}
}
