package main

import (
	"context"
	"io"

	"github.com/abusewatch/abusewatch/daemon"
)

// runCommand is `abusewatch run`: the daemon, in the foreground.
type runCommand struct {
	stdout, stderr io.Writer
}

func (c *runCommand) Name() string { return "run" }
func (c *runCommand) Synopsis() string {
	return "run the daemon in the foreground: follow the logs, report incidents"
}

func (c *runCommand) Run(ctx context.Context, args []string) error {
	fs := newFlagSet(c.Name(), "[--config FILE] [--debug]", c.stdout, c.stderr)
	config := fs.String("config", daemon.DefaultConfigPath, "the config `file`")
	debug := fs.Bool("debug", false, "log debug messages too")
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return &usageError{"run takes no arguments; the files to follow are in the config's [[source]] sections"}
	}
	cfg, err := daemon.LoadConfig(*config)
	if err != nil {
		return err
	}
	d, err := daemon.New(cfg, newLogger(c.stderr, debugLevel(*debug)))
	if err != nil {
		return err
	}
	return d.Run(ctx)
}
