package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// versionCommand is `abusewatch version`.
type versionCommand struct {
	stdout, stderr io.Writer
}

func (c *versionCommand) Name() string     { return "version" }
func (c *versionCommand) Synopsis() string { return "print the version and how it was built" }

func (c *versionCommand) Run(ctx context.Context, args []string) error {
	fs := newFlagSet(c.Name(), "", c.stdout, c.stderr)
	if _, err := parseExactly(fs, args, 0, "version takes no arguments"); err != nil {
		return err
	}
	version, revision := "(devel)", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		version = bi.Main.Version
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				revision = " " + s.Value
			}
		}
	}
	fmt.Fprintf(c.stdout, "abusewatch %s%s %s %s/%s\n", version, revision, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}
