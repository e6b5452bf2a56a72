package main

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"time"

	"github.com/abusewatch/abusewatch/daemon"
	"github.com/abusewatch/abusewatch/store"
)

// excludeCommand is `abusewatch exclude CIDR`; pardonCommand (pardon.go) runs it with
// pardon set.
type excludeCommand struct {
	stdout, stderr io.Writer
	pardon         bool
}

func (c *excludeCommand) Name() string {
	if c.pardon {
		return "pardon"
	}
	return "exclude"
}

func (c *excludeCommand) Synopsis() string {
	return "never report an address or network (your own, a partner's, a scanner you allow): its waiting incidents stay unreported, its unsent reports are rejected"
}

func (c *excludeCommand) Run(ctx context.Context, args []string) error {
	fs := newFlagSet(c.Name(), "[--reason TEXT] [--config FILE] [--json] ADDR|CIDR", c.stderr)
	f := addAdminFlags(fs)
	reason := fs.String("reason", "", "why, kept with the exclusion for whoever looks later")
	rest, err := parseExactly(fs, args, 1, "name one address or network, e.g. 203.0.113.0/24")
	if err != nil {
		return err
	}
	p, err := netip.ParsePrefix(rest[0])
	if err != nil {
		a, aerr := netip.ParseAddr(rest[0])
		if aerr != nil {
			return &usageError{rest[0] + " is not an address or a network in CIDR notation"}
		}
		p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
	}
	p = p.Masked()
	var res daemon.ExcludeResult
	_, err = queryOrOffline(ctx, f, c.stderr,
		func(cl *adminClient) error {
			return cl.call(ctx, "POST", "/v1/"+c.Name(), url.Values{"network": {p.String()}, "reason": {*reason}}, &res)
		},
		func(_ *daemon.Config, st *store.Store) (err error) {
			res, err = daemon.Exclude(st, p, c.pardon, *reason, time.Now())
			return err
		})
	if err != nil {
		return err
	}
	if *f.asJSON {
		return printJSON(c.stdout, res)
	}
	fmt.Fprintf(c.stdout, "%s will never be reported.\n", res.Network)
	if c.pardon {
		fmt.Fprintf(c.stdout, "Forgot %d incidents and rejected %d unsent reports.\n", res.ForgotIncidents, res.RejectedReports)
	} else if res.RejectedReports > 0 {
		fmt.Fprintf(c.stdout, "Rejected %d unsent reports about it.\n", res.RejectedReports)
	}
	fmt.Fprintln(c.stdout, "Unsent reports that also name other sources will leave without it.")
	return nil
}
