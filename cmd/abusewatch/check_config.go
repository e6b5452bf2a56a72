package main

import (
	"context"
	"fmt"
	"io"

	"github.com/abusewatch/abusewatch/daemon"
)

// checkConfigCommand is `abusewatch check-config`: validate a config and its rule files.
type checkConfigCommand struct {
	stdout, stderr io.Writer
}

func (c *checkConfigCommand) Name() string { return "check-config" }
func (c *checkConfigCommand) Synopsis() string {
	return "check a config file and the rules and template it names"
}

func (c *checkConfigCommand) Run(ctx context.Context, args []string) error {
	fs := newFlagSet(c.Name(), "[--config FILE] [--unit-root DIR] | FILE", c.stdout, c.stderr)
	config := fs.String("config", daemon.DefaultConfigPath, "the config `file` to check")
	unitRoot := fs.String("unit-root", "/", "read the systemd unit "+daemon.UnitName+" and its drop-ins below `DIR` instead of / (for images and tests): run as the unit's User=, the groups its Group= and SupplementaryGroups= give count as the service's")
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) == 1 && *config == daemon.DefaultConfigPath {
		*config = rest[0] // `abusewatch check-config FILE` reads naturally too
	} else if len(rest) == 1 {
		return &usageError{fmt.Sprintf("give the file as FILE or with --config, not both (%s and %s)", *config, rest[0])}
	} else if len(rest) > 0 {
		return &usageError{"check-config takes at most one file"}
	}
	cfg, err := daemon.LoadConfig(*config)
	if err != nil {
		return err
	}
	unit := daemon.ReadServiceUnit(*unitRoot, daemon.UnitName)
	cfg.CountUnitGroups(unit)
	_, warnings, err := cfg.Preflight()
	if err != nil {
		return err
	}
	for _, w := range warnings {
		fmt.Fprintf(c.stderr, "warning: %v\n", w)
	}
	for _, w := range cfg.RelativeRuleDirs() {
		fmt.Fprintf(c.stderr, "warning: %v\n", w)
	}
	// The rules' own errors are Check's, below: here what loads but may not do what
	// was meant (a rule that never matches, a file not read, a misspelt class).
	rules, _ := daemon.LoadRules(cfg)
	for _, w := range rules.Warnings {
		fmt.Fprintf(c.stderr, "warning: %v\n", w)
	}
	if unit != nil {
		for _, w := range unit.Warnings {
			fmt.Fprintf(c.stderr, "warning: %s\n", w)
		}
	}
	if err := cfg.StoreAccess(); err != nil {
		return err
	}
	for _, n := range unit.Notes() {
		fmt.Fprintf(c.stdout, "note: %s\n", n)
	}
	sum, err := daemon.Check(cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "%s: OK: %s\n", *config, sum)
	return nil
}
