package main

import (
	"context"
	"fmt"
	"io"
	"strings"
)

// manCommand is `abusewatch man`: the manual page, generated from the commands' flags.
type manCommand struct {
	stdout, stderr io.Writer
}

func (c *manCommand) Name() string { return "man" }
func (c *manCommand) Synopsis() string {
	return "print the manual page (roff): abusewatch man | man -l -"
}

func (c *manCommand) Run(ctx context.Context, args []string) error {
	fs := newFlagSet(c.Name(), "", c.stdout, c.stderr)
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return &usageError{"man takes no arguments"}
	}
	w := c.stdout
	fmt.Fprint(w, `.TH ABUSEWATCH 8 "" "abusewatch" "System Administration"
.SH NAME
abusewatch \- report attacks found in a host's security logs to whoever is responsible
.SH SYNOPSIS
.B abusewatch
.I command
.RI [ flags ]
.RI [ arguments ]
.SH DESCRIPTION
abusewatch reads the host's security logs as they are written, drops every record declared
normal, turns the rest into events, correlates them into incidents by address and network,
finds the abuse contact of the attacking network (static contacts, RDAP, reverse DNS) and
mails a short, polite, evidence-backed report. The daemon runs as a systemd service; the
admin commands talk to it over its unix socket.
.SH COMMANDS
`)
	for _, d := range commandDocs(ctx) {
		if d.name == "man" || d.name == "completion" {
			continue
		}
		fmt.Fprintf(w, ".SS \"%s %s\"\n%s.\n", roff(d.name), roffArg(d.usage), roff(d.synopsis))
		for _, f := range d.flags {
			arg, text := flagUsage(f)
			fmt.Fprintf(w, ".TP\n.B \\-\\-%s", roff(f.Name))
			if arg != "" {
				fmt.Fprintf(w, " \" %s\"", roff(arg))
			}
			fmt.Fprintf(w, "\n%s", roff(text))
			if f.DefValue != "" && !isBool(f) {
				fmt.Fprintf(w, " (default: %s)", roff(f.DefValue))
			}
			fmt.Fprintln(w)
		}
	}
	fmt.Fprint(w, `.SH FILES
.TP
.I /etc/abusewatch/abusewatch.toml
The config; every key is documented in the shipped example.
.TP
.I /var/lib/abusewatch/state.db
The state: events, incidents, the report outbox, read positions.
.TP
.I /run/abusewatch/admin.sock
The admin socket.
.SH EXIT STATUS
0 on success, 1 on an error, 2 on a mistake in the command line.
.SH SEE ALSO
.BR systemctl (1),
.BR journalctl (1),
.BR logcheck (8)
`)
	return nil
}

// roff escapes text for roff: backslashes, minus signs, non-ASCII characters, and a dot
// or quote at the start of a line.
func roff(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\e`)
		case r == '-':
			b.WriteString(`\-`)
		case r > 126:
			fmt.Fprintf(&b, `\[u%04X]`, r)
		default:
			b.WriteRune(r)
		}
	}
	s = b.String()
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, ".") || strings.HasPrefix(l, "'") {
			lines[i] = `\&` + l
		}
	}
	return strings.Join(lines, "\n")
}

// roffArg is roff for a macro argument in double quotes: one line, quotes escaped.
func roffArg(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return strings.ReplaceAll(roff(s), `"`, `\(dq`)
}
