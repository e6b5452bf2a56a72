package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/abusewatch/abusewatch/daemon"
)

// reloadCommand is `abusewatch reload`: the daemon re-reads its config and rules.
type reloadCommand struct {
	stdout, stderr io.Writer
}

func (c *reloadCommand) Name() string { return "reload" }
func (c *reloadCommand) Synopsis() string {
	return "make the daemon re-read its config and rules (a bad file keeps the running ones)"
}

func (c *reloadCommand) Run(ctx context.Context, args []string) error {
	fs := newFlagSet(c.Name(), "[--config FILE] [--json]", c.stdout, c.stderr)
	f := addAdminFlags(fs)
	_, err := parseExactly(fs, args, 0, "reload takes no arguments")
	if err != nil {
		return err
	}
	// The file is checked here first, as the daemon will check it: a config that does
	// not load names no socket to ask, and the admin is to see its error, not a guess
	// that the daemon is down.
	if err := checkConfigAndRules(f); err != nil {
		return fmt.Errorf("%v\nNothing was reloaded: a running daemon keeps running with its previous config and rules. "+
			"Fix the file, then reload again (abusewatch check-config --config %s checks it)", err, *f.config)
	}
	_, client, err := f.daemonClient(c.stderr)
	if err != nil {
		return err
	}
	var res daemon.ReloadResult
	if err := client.call(ctx, "POST", "/v1/reload", nil, &res); err != nil {
		var refused *daemonError
		if errors.As(err, &refused) {
			return fmt.Errorf("%w\nThe daemon refused the reload: it keeps running with its previous config and rules", err)
		}
		return err
	}
	if *f.asJSON {
		return printJSON(c.stdout, res)
	}
	fmt.Fprintf(c.stdout, "Reloaded %s: %d normal rules, %d attack rules.\n", res.Config, res.NormalRules, res.AttackRules)
	for _, n := range res.Notes {
		fmt.Fprintln(c.stdout, "Note: "+n)
	}
	return nil
}
