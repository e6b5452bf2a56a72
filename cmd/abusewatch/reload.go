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
	// A config that does not load names no socket to ask, and the admin is to see its
	// error, not a guess that the daemon is down: it is refused here, and only here (the
	// daemon's log cannot show it). Any other refusal is the daemon's, which logs it
	// where it logs SIGHUP's, so that whoever reads the log later sees why the rules
	// did not change; the check here only says what the file holds when no daemon
	// answers.
	_, cfgErr := f.loadConfig()
	checkErr := cfgErr
	if cfgErr == nil {
		checkErr = checkConfigAndRules(f)
	}
	refused := func(err error) error {
		return fmt.Errorf("%v\nNothing was reloaded: a running daemon keeps running with its previous config and rules. "+
			"Fix the file, then reload again (abusewatch check-config --config %s checks it)", err, *f.config)
	}
	if cfgErr != nil && *f.socket == "" {
		return fmt.Errorf("%w\nThe daemon was not asked, so its log has no trace of this: the config names its socket (--socket PATH asks a daemon there)", refused(cfgErr))
	}
	_, client, err := f.daemonClient(c.stderr)
	if err != nil {
		if checkErr != nil {
			return refused(checkErr)
		}
		return err
	}
	var res daemon.ReloadResult
	if err := client.call(ctx, "POST", "/v1/reload", nil, &res); err != nil {
		var refusedByDaemon *daemonError
		switch {
		case errors.As(err, &refusedByDaemon):
			return fmt.Errorf("%w\nThe daemon refused the reload: it keeps running with its previous config and rules (its log says so too)", err)
		case checkErr != nil:
			return fmt.Errorf("%w\n%v", refused(checkErr), err)
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
