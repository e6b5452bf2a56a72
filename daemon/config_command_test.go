package daemon

import (
	"os"
	"path/filepath"
	"testing"
)

// The commands the mails suggest (the summary's, the alert's "All of it: abusewatch ip
// --config …") are pasted in another directory than the daemon was started in: a config
// given as a relative path is named by its absolute one (review 46 L6).
func TestCommandsNameTheConfigByItsAbsolutePath(t *testing.T) {
	cfg, err := ParseConfig("aw.toml", []byte(checkBase))
	if err != nil {
		t.Fatal(err)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	want := "abusewatch ip --config " + filepath.Join(wd, "aw.toml") + " 45.134.26.7"
	if got := cfg.Command("ip", "45.134.26.7"); got != want {
		t.Errorf("Command: %q, want %q", got, want)
	}
	// The config's own errors still name the file as the admin gave it.
	if cfg.File() != "aw.toml" {
		t.Errorf("File: %q", cfg.File())
	}
	// The default needs no --config at all.
	if cfg, err = ParseConfig(DefaultConfigPath, []byte(checkBase)); err != nil {
		t.Fatal(err)
	}
	if got := cfg.Command("ip", "45.134.26.7"); got != "abusewatch ip 45.134.26.7" {
		t.Errorf("Command of the default config: %q", got)
	}
}
