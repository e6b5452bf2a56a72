package deploy

import (
	"bytes"
	"crypto/sha256"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// package.sh builds a .deb and an .rpm; two builds are byte-identical, and the config is a
// conffile so an upgrade keeps the admin's edits.
func TestPackagesAreReproducibleWithTheConfigAsConffile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and two packages twice")
	}
	if _, err := exec.LookPath("nfpm"); err != nil {
		t.Skip("nfpm is not installed (.ci/run installs it: go install github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.41.0)")
	}
	dir := t.TempDir()
	build := func() map[string][32]byte {
		t.Helper()
		cmd := exec.Command("bash", "package.sh", "1.2.3")
		cmd.Env = append(os.Environ(), "BUILD_DIR="+dir)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("package.sh: %v\n%s", err, out)
		}
		sums := map[string][32]byte{}
		files, _ := filepath.Glob(filepath.Join(dir, "abusewatch*.[dr][ep][bm]"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			sums[filepath.Base(f)] = sha256.Sum256(b)
		}
		return sums
	}
	first := build()
	if len(first) != 2 {
		t.Fatalf("package.sh made %d packages; want a .deb and an .rpm", len(first))
	}
	second := build()
	for name, sum := range first {
		if second[name] != sum {
			t.Errorf("%s differs between two builds", name)
		}
	}
	debs, _ := filepath.Glob(filepath.Join(dir, "*.deb"))
	if len(debs) == 1 {
		if _, err := exec.LookPath("dpkg-deb"); err == nil {
			out, err := exec.Command("dpkg-deb", "--ctrl-tarfile", debs[0]).Output()
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("tar", "-xOf", "-", "./conffiles")
			cmd.Stdin = bytes.NewReader(out)
			conffiles, err := cmd.Output()
			if err != nil || !strings.Contains(string(conffiles), "/etc/abusewatch/abusewatch.toml") {
				t.Errorf("conffiles = %q, %v; want /etc/abusewatch/abusewatch.toml", conffiles, err)
			}
		}
	}
}
