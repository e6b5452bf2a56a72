package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
)

// A line that is a header alone ("Dec  7 07:00:00 host ", a sender's empty message)
// is an unknown record of an empty shape. bbolt refuses an empty key: the tally of its
// batch failed after the commit, the batch was never correlated, and its attack made no
// incident (scan said "key required", and "Nothing new" when run again).
func TestAnEmptyMessageDoesNotKeepItsBatchFromCorrelation(t *testing.T) {
	for _, empty := range []string{"Dec  7 07:00:00 web1 \n", "2026-11-01T10:00:30Z web1 \n"} {
		p, dir := recurrencePipeline(t)
		t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
		var log strings.Builder
		for i := range 6 {
			fmt.Fprintf(&log, "%s web1 sshd[%d]: Failed password for root from 45.134.26.9 port %d ssh2\n", t0.Add(time.Duration(i)*time.Minute).Format(time.RFC3339), 100+i, 40000+i)
			if i == 2 {
				log.WriteString(empty)
			}
		}
		path := filepath.Join(dir, "auth.log")
		if err := os.WriteFile(path, []byte(log.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := p.ScanFiles(t.Context(), []string{path}, time.Time{}); err != nil {
			t.Errorf("%q: scan: %v", empty, err)
		}
		incs, _, err := p.store.IncidentsSince(time.Time{}, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(incs) != 1 || incs[0].Key != "ip:45.134.26.9" {
			t.Errorf("%q: %d incidents; want the attack's", empty, len(incs))
		}
		shapes, err := p.store.Shapes(time.Time{}, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(shapes) != 1 || shapes[0].Count != 1 || shapes[0].Shape != abusewatch.EmptyShape {
			t.Errorf("%q: shapes %+v; want the empty line's, once, as %q", empty, shapes, abusewatch.EmptyShape)
		}
	}
}
