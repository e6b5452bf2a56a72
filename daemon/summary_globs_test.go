package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/mailer"
)

// A glob over dated files (one a day, as a central rsyslog writes them) names in the
// summary the file that read and not every finished day's, each with a WARNING; of a
// glob none of whose files read (a host that stopped sending), the last one written.
// A file named as it is warns whatever else reads.
func TestSummaryNamesTheFinishedFilesOfAGlobOnce(t *testing.T) {
	dir := t.TempDir()
	from := time.Date(2026, 12, 6, 6, 0, 0, 0, time.UTC)
	file := func(name string, written time.Time) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, written, written); err != nil {
			t.Fatal(err)
		}
		return p
	}
	web1Old := file("web1/2026-12-04.log", from.Add(-48*time.Hour))
	web1Yesterday := file("web1/2026-12-05.log", from.Add(-time.Minute))
	web1Today := file("web1/2026-12-06.log", from.Add(time.Hour))
	web2Old := file("web2/2026-12-04.log", from.Add(-48*time.Hour))
	web2Last := file("web2/2026-12-05.log", from.Add(-time.Hour))
	mail := file("mail.log", from.Add(-72*time.Hour))
	cfg := parseTestConfig(t, filepath.Join(dir, "abusewatch.toml"), fmt.Sprintf(
		"[[source]]\nfiles = [%q, %q]\n[[source]]\nfiles = [%q]\n[policy]\nmode = \"observe\"\n",
		filepath.Join(dir, "web1", "*.log"), filepath.Join(dir, "web2", "*.log"), mail))
	lines := []mailer.SourceLine{{Name: web1Old, Silent: true}, {Name: web1Yesterday, Silent: true}, {Name: web1Today, Read: "read"},
		{Name: web2Old, Silent: true}, {Name: web2Last, Silent: true}, {Name: mail, Silent: true}}
	var named []string
	for _, l := range finishedGlobFiles(cfg, lines, from) {
		named = append(named, l.Name)
	}
	if want := []string{web1Today, web2Last, mail}; !slices.Equal(named, want) {
		t.Errorf("the summary names %q, want %q", named, want)
	}
}
