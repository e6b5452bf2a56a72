package main

import (
	"context"
	"flag"
	"io"
	"strings"
)

// commandDoc is what the man page and the shell completions say about one subcommand.
type commandDoc struct {
	name, synopsis, usage string
	flags                 []*flag.Flag
	subcommands           []string // what may follow the command's name (rules test, report show, …)
}

// docCollector stands in for stderr while each command is asked for its help: newFlagSet
// hands it the command's flag set, so the documentation comes from the flag definitions
// themselves and can never drift from them.
type docCollector struct {
	io.Writer
	name, usage string
	fs          *flag.FlagSet
}

// commandDocs describes every subcommand.
func commandDocs(ctx context.Context) []commandDoc {
	var docs []commandDoc
	for _, probe := range commands(io.Discard, io.Discard) {
		dc := &docCollector{Writer: io.Discard}
		for _, c := range commands(io.Discard, dc) {
			if c.Name() != probe.Name() {
				continue
			}
			c.Run(ctx, []string{"-h"})
			d := commandDoc{name: c.Name(), synopsis: c.Synopsis(), usage: dc.usage}
			if sc, ok := c.(interface{ Subcommands() []string }); ok {
				d.subcommands = sc.Subcommands()
			}
			if dc.fs != nil {
				dc.fs.VisitAll(func(f *flag.Flag) { d.flags = append(d.flags, f) })
			}
			docs = append(docs, d)
			break
		}
	}
	return docs
}

// flagUsage splits a flag's usage into its argument name (from `backquotes`) and text.
func flagUsage(f *flag.Flag) (arg, text string) {
	arg, text = flag.UnquoteUsage(f)
	if isBool(f) {
		arg = ""
	}
	return arg, strings.TrimSpace(text)
}

func isBool(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}
