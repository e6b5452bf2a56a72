package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/abusewatch/abusewatch/daemon"
	"github.com/abusewatch/abusewatch/store"
)

// compactCommand is `abusewatch compact`: give the state database's free pages back to
// the file system.
type compactCommand struct {
	stdout, stderr io.Writer
}

func (c *compactCommand) Name() string { return "compact" }
func (c *compactCommand) Synopsis() string {
	return "shrink the state database after retention or correlate --rebuild freed much of it (daemon stopped)"
}

// compactResult is what `compact --json` prints.
type compactResult struct {
	Path   string `json:"path"`
	Before int64  `json:"bytes_before"`
	After  int64  `json:"bytes_after"`
}

func (c *compactCommand) Run(ctx context.Context, args []string) error {
	fs := newFlagSet(c.Name(), "[--config FILE] [--json]", c.stdout, c.stderr)
	config := fs.String("config", daemon.DefaultConfigPath, "the config `file` (it names the store)")
	asJSON := fs.Bool("json", false, "print the sizes as JSON")
	if _, err := parseExactly(fs, args, 0, "compact takes no arguments"); err != nil {
		return err
	}
	cfg, err := daemon.LoadConfig(*config)
	if err != nil {
		return err
	}
	res, err := store.Compact(cfg.Store.Path, daemon.StoreTimeout)
	if errors.Is(err, store.ErrLocked) {
		return storeNeededAlone(c.Name(), err)
	}
	if res.Stale > 0 { // said even when this compact failed: the room is free again
		fmt.Fprintf(c.stderr, "Removed %s.compact (%s), left by a compact that was stopped before it finished.\n", res.File, megabytes(res.Stale))
	}
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(c.stdout, compactResult{cfg.Store.Path, res.Before, res.After})
	}
	shown := cfg.Store.Path
	if res.File != cfg.Store.Path { // a symlink: the file it names was compacted, where it is
		shown = fmt.Sprintf("%s (%s)", cfg.Store.Path, res.File)
	}
	fmt.Fprintf(c.stdout, "Compacted %s: %s, was %s.\n", shown, megabytes(res.After), megabytes(res.Before))
	return nil
}

// storeNeededAlone is the error of a command that needs the store to itself (compact,
// correlate) when the daemon holds it (err).
func storeNeededAlone(name string, err error) error {
	return fmt.Errorf("%w\n%s needs the database to itself: stop the daemon (systemctl stop abusewatch), run it, start the daemon again", err, name)
}

// megabytes prints n bytes in MB, with one decimal below 10.
func megabytes(n int64) string {
	if mb := float64(n) / (1 << 20); mb < 10 {
		return fmt.Sprintf("%.1f MB", mb)
	}
	return fmt.Sprintf("%d MB", n>>20)
}
