package main

import (
	"context"
	"io"
	"net/netip"
)

// ipCommand is `abusewatch ip ADDR`: what is known about one address.
type ipCommand struct {
	stdout, stderr io.Writer
}

func (c *ipCommand) Name() string { return "ip" }
func (c *ipCommand) Synopsis() string {
	return "show what is known about an address: events by class and day, incidents (its own, and those about its networks), reports"
}

func (c *ipCommand) Run(ctx context.Context, args []string) error {
	fs := newFlagSet(c.Name(), "[--since T] [--config FILE] [--json] ADDR", c.stdout, c.stderr)
	f := addAdminFlags(fs)
	since := fs.String("since", "30d", "look back to `T`: a duration (\"36h\", \"30d\"), or a date or time (read in reporter.timezone)")
	rest, err := parseExactly(fs, args, 1, "name one address, e.g. abusewatch ip 203.0.113.7")
	if err != nil {
		return err
	}
	if err := zoneError(rest[0]); err != nil {
		return err
	}
	a, err := netip.ParseAddr(rest[0])
	if err != nil {
		return ipArgError(rest[0])
	}
	a = a.Unmap()
	return showNetwork(ctx, c.stdout, c.stderr, f, *since, apiPath("v1", "ip", a.String()), netip.PrefixFrom(a, a.BitLen()))
}
