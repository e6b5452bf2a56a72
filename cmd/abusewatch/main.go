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

	"github.com/abusewatch/abusewatch/daemon"
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
	names := make([]string, len(cmds))
	for i, c := range cmds {
		names[i] = c.Name()
	}
	if near := daemon.Nearest(args[0], names); near != "" {
		fmt.Fprintf(stderr, "abusewatch: unknown command %q: did you mean %q?\nTry: abusewatch -h\n", args[0], near)
		return 2
	}
	fmt.Fprintf(stderr, "abusewatch: unknown command %q\n", args[0])
	usage(stderr)
	return 2
}

// newFlagSet makes a flag set that reports errors instead of exiting. Its usage (for -h)
// goes to stdout, as `abusewatch -h` does, so `abusewatch ip -h | less` shows it; a
// mistake in the flags is printed once, by run, with the hint to -h (the flag package
// printed it too, with the whole list of flags between). help is more text after the
// flags. The usage line lists every flag: those the line leaves out (the admin
// commands' --socket and --timeout) are added after the command's name.
func newFlagSet(name, usageLine string, stdout, stderr io.Writer, help ...string) *flag.FlagSet {
	fs := flag.NewFlagSet("abusewatch "+name, flag.ContinueOnError)
	failed := &flagFailure{}
	fs.SetOutput(failed)
	dc, _ := stderr.(*docCollector)
	if dc != nil {
		dc.name, dc.usage, dc.fs = name, usageLine, fs
	}
	fs.Usage = func() {
		if failed.failed { // the flag package's error, not -h: run prints it
			failed.failed = false
			return
		}
		line := withEveryFlag(usageLine, fs)
		if dc != nil {
			dc.usage = line
		}
		fmt.Fprintf(stdout, "Usage: abusewatch %s\n", strings.TrimSpace(name+" "+line))
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprintf(stdout, "\nFlags:\n")
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			fs.SetOutput(failed)
		}
		for _, h := range help {
			fmt.Fprint(stdout, h)
		}
	}
	return fs
}

// flagFailure is a flag set's output: the flag package writes there only the error of a
// flag it cannot parse, right before it calls Usage.
type flagFailure struct{ failed bool }

func (f *flagFailure) Write(p []byte) (int, error) {
	f.failed = true
	return len(p), nil
}

// withEveryFlag is usageLine with the flags of fs it does not name put in front:
// "[--socket PATH] [--timeout D] [--since T] ... ADDR".
func withEveryFlag(usageLine string, fs *flag.FlagSet) string {
	var missing []string
	fs.VisitAll(func(f *flag.Flag) {
		dash := "--"
		if len(f.Name) == 1 {
			dash = "-"
		}
		if strings.Contains(usageLine, dash+f.Name+" ") || strings.Contains(usageLine, dash+f.Name+"]") ||
			strings.Contains(usageLine, dash+f.Name+"=") || strings.HasSuffix(usageLine, dash+f.Name) {
			return
		}
		arg, _ := flagUsage(f)
		if arg != "" {
			arg = " " + strings.ToUpper(arg)
		}
		missing = append(missing, "["+dash+f.Name+arg+"]")
	})
	return strings.TrimSpace(strings.Join(missing, " ") + " " + usageLine)
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
