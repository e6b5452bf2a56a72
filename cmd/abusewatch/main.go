// Command abusewatch watches a Linux host's security logs, correlates attacks and
// reports them to the party responsible for the attacking network. Each subcommand
// lives in its own file; this one only dispatches.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// command is one subcommand: it parses its own flags and does its work.
type command interface {
	Name() string
	Synopsis() string
	Run(ctx context.Context, args []string) error
}

func commands(stdout, stderr io.Writer) []command {
	return []command{
		&runCommand{stdout: stdout, stderr: stderr},
		&scanCommand{stdout: stdout, stderr: stderr},
		&correlateCommand{stdout: stdout, stderr: stderr},
		&compactCommand{stdout: stdout, stderr: stderr},
		&checkConfigCommand{stdout: stdout, stderr: stderr},
		&whoisCommand{stdout: stdout, stderr: stderr},
		&statusCommand{stdout: stdout, stderr: stderr},
		&reloadCommand{stdout: stdout, stderr: stderr},
		&incidentsCommand{stdout: stdout, stderr: stderr},
		&unknownCommand{stdout: stdout, stderr: stderr},
		&rulesCommand{stdout: stdout, stderr: stderr},
		&ipCommand{stdout: stdout, stderr: stderr},
		&netCommand{stdout: stdout, stderr: stderr},
		&excludeCommand{stdout: stdout, stderr: stderr},
		newPardonCommand(stdout, stderr),
		&outboxCommand{stdout: stdout, stderr: stderr},
		&reportCommand{stdout: stdout, stderr: stderr},
		&mailTestCommand{stdout: stdout, stderr: stderr},
		&installCommand{stdout: stdout, stderr: stderr},
		&versionCommand{stdout: stdout, stderr: stderr},
		&manCommand{stdout: stdout, stderr: stderr},
		&completionCommand{stdout: stdout, stderr: stderr},
	}
}

// usageError is a mistake in the command line; it exits with status 2 and a hint.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes the command line args and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmds := commands(stdout, stderr)
	usage := func(w io.Writer) {
		fmt.Fprintln(w, "abusewatch reads a host's security logs, finds attacks and reports them to whoever is responsible.")
		fmt.Fprintln(w, "\nUsage:\n  abusewatch <command> [flags] [arguments]\n\nCommands:")
		for _, c := range cmds {
			fmt.Fprintf(w, "  %-13s %s\n", c.Name(), c.Synopsis())
		}
		fmt.Fprintln(w, "\nRun 'abusewatch <command> -h' for a command's flags.")
	}
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "-h", "--help", "-help", "help":
		if len(args) > 1 && args[0] == "help" {
			return run(ctx, []string{args[1], "-h"}, stdout, stderr) // help CMD is CMD -h
		}
		usage(stdout)
		return 0
	}
	for _, c := range cmds {
		if c.Name() != args[0] {
			continue
		}
		err := c.Run(ctx, args[1:])
		var uerr *usageError
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.As(err, &uerr):
			fmt.Fprintf(stderr, "abusewatch %s: %v\nTry: abusewatch %s -h\n", c.Name(), err, c.Name())
			return 2
		default:
			fmt.Fprintf(stderr, "abusewatch %s: %v\n", c.Name(), err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "abusewatch: unknown command %q\n", args[0])
	usage(stderr)
	return 2
}

// newFlagSet makes a flag set that reports errors instead of exiting.
func newFlagSet(name, usageLine string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("abusewatch "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	if dc, ok := stderr.(*docCollector); ok {
		dc.name, dc.usage, dc.fs = name, usageLine, fs
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: abusewatch %s\n", strings.TrimSpace(name+" "+usageLine))
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprintf(stderr, "\nFlags:\n")
			fs.PrintDefaults()
		}
	}
	return fs
}

// parseArgs parses flags that may stand before, between or after the arguments.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, &usageError{err.Error()}
		}
		if fs.NArg() == 0 {
			return rest, nil
		}
		rest = append(rest, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// parseExactly parses the flags and wants exactly n arguments; wrong gets the usage
// error msg.
func parseExactly(fs *flag.FlagSet, args []string, n int, msg string) ([]string, error) {
	rest, err := parseArgs(fs, args)
	if err == nil && len(rest) != n {
		err = &usageError{msg}
	}
	return rest, err
}

// newLogger writes log lines of level and above to w.
func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// logLevel is a one-shot command's level: warnings, or everything with -v.
func logLevel(verbose bool) slog.Level {
	if verbose {
		return slog.LevelInfo
	}
	return slog.LevelWarn
}

// debugLevel is the daemon's level: information, or everything with --debug.
func debugLevel(debug bool) slog.Level {
	if debug {
		return slog.LevelDebug
	}
	return slog.LevelInfo
}
