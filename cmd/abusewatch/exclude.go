package main

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"strings"
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
	return "never report an address or network (your own, a partner's, a scanner you allow): its waiting incidents stay unreported, its unsent reports are rejected; --list shows the exclusions, --remove undoes one"
}

func (c *excludeCommand) Run(ctx context.Context, args []string) error {
	usage := "[--reason TEXT] [--config FILE] [--json] ADDR|CIDR"
	if !c.pardon {
		usage = "[--reason TEXT] [--config FILE] [--json] ADDR|CIDR | --list | --remove ADDR|CIDR"
	}
	fs := newFlagSet(c.Name(), usage, c.stdout, c.stderr)
	f := addAdminFlags(fs)
	reason := fs.String("reason", "", "why, kept with the exclusion for whoever looks later")
	var list, remove bool
	if !c.pardon {
		fs.BoolVar(&list, "list", false, "list the networks never reported: those of policy.never_report, and those excluded or pardoned, with when and why")
		fs.BoolVar(&remove, "remove", false, "undo the exclusion or pardon of ADDR|CIDR (that network): its new events make incidents and reports again; "+
			"the lines read while it was excluded, or dated then, are never reported, and what the exclusion held back "+
			"(reports rejected, incidents left unreported or forgotten) stays as it is")
	}
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	switch {
	case list && (remove || len(rest) > 0):
		return &usageError{"--list takes no address or network, nor --remove"}
	case list:
		return c.list(ctx, f)
	case len(rest) != 1:
		return &usageError{"name one address or network, e.g. 203.0.113.0/24"}
	}
	if err := zoneError(rest[0]); err != nil {
		return err
	}
	var p netip.Prefix
	if wide, perr := netip.ParsePrefix(rest[0]); perr == nil && !remove {
		// Too wide first: the advice for an address with bits past its length would
		// otherwise name a network wider still, which is then refused.
		// A mapped IPv4 network with an IPv4 length (::ffff:45.0.0.0/8) first: as
		// written it is a wide IPv6 network, which the admin did not mean.
		if err = daemon.CheckMapped(wide); err == nil {
			err = daemon.CheckExclusionWidth(wide)
		}
	}
	if err == nil {
		p, err = daemon.ParseExclusion(rest[0])
	}
	if err == nil && !remove {
		err = daemon.CheckExclusionWidth(p)
	}
	if err != nil {
		return &usageError{err.Error()}
	}
	if remove {
		return c.remove(ctx, f, p)
	}
	var res daemon.ExcludeResult
	cfg, err := changeOrOffline(ctx, f, c.stderr,
		func(cl *adminClient) error {
			return cl.call(ctx, "POST", apiPath("v1", c.Name()), url.Values{"network": {p.String()}, "reason": {*reason}}, &res)
		},
		func(cfg *daemon.Config, st *store.Store) (err error) {
			covered, err := daemon.CoveredBy(cfg, st, p)
			if err != nil {
				return err
			}
			res, err = daemon.Exclude(st, p, c.pardon, *reason, time.Now())
			res.CoveredBy, res.AlreadyNeverSends = covered, covered != "" || res.Already != nil
			return err
		})
	if err != nil {
		return err
	}
	if *f.asJSON {
		return printJSON(c.stdout, res)
	}
	if e := res.Already; e != nil {
		c.already(cfg, res, *reason)
	} else {
		fmt.Fprintf(c.stdout, "%s will never be reported.\n", res.Network)
	}
	if p.Addr().Is6() && p.IsSingleIP() && res.CoveredBy == "" {
		// abusewatch counts a /64 as one host: its other addresses are still reported,
		// and an admin who meant the host would not know (review 46 finding 4).
		host := netip.PrefixFrom(p.Addr(), 64).Masked()
		fmt.Fprintf(c.stdout, "Only this address: the host's other addresses in its /64 (temporary addresses, containers), which abusewatch counts as one source, are still reported. For the whole /64: %s\n",
			daemon.Command(*f.config, c.Name(), host.String()))
	}
	if res.CoveredBy != "" {
		// Nothing changed for the outside: say so, and why, rather than let it read as
		// if this were what keeps the network from being reported.
		what := map[bool]string{false: "exclusion", true: "pardon"}[c.pardon]
		fmt.Fprintf(c.stdout, "Note: it was never reported already: %s; the %s is recorded all the same.\n", res.CoveredBy, what)
	}
	if c.pardon {
		fmt.Fprintf(c.stdout, "Forgot %s and rejected %s.\n", counted(res.ForgotIncidents, "incident"), counted(res.RejectedReports, "unsent report"))
		c.sentStay(res, *f.config)
	} else if res.RejectedReports > 0 {
		fmt.Fprintf(c.stdout, "Rejected %s about it.\n", counted(res.RejectedReports, "unsent report"))
	}
	fmt.Fprintln(c.stdout, "Unsent reports that also name other sources will leave without it.")
	fmt.Fprintf(c.stdout, "To undo: abusewatch exclude --remove %s\n", res.Network)
	return nil
}

// already says what the network was before this exclude or pardon: its date stays, and
// its reason unless a new one was given; a pardon stays a pardon.
func (c *excludeCommand) already(cfg *daemon.Config, res daemon.ExcludeResult, reason string) {
	e := res.Already
	how := map[string]string{"exclude": "excluded", "pardon": "pardoned"}
	fmt.Fprintf(c.stdout, "%s is already %s, since %s", res.Network, how[e.By], shownTime(e.Added, shownZone(cfg)))
	if r := strings.Join(strings.Fields(e.Reason), " "); r != "" {
		fmt.Fprintf(c.stdout, ": %s", r)
	}
	fmt.Fprintln(c.stdout, ".")
	switch {
	case e.By == "pardon" && !c.pardon:
		fmt.Fprintln(c.stdout, "It stays a pardon (abusewatch exclude --list shows it).")
	case e.By == "exclude" && c.pardon:
		fmt.Fprintln(c.stdout, "It is pardoned from now on.")
	}
	if reason != "" && reason != e.Reason {
		fmt.Fprintf(c.stdout, "Its reason is now: %s\n", strings.Join(strings.Fields(reason), " "))
	}
}

// sentStay says of a pardon that the reports already sent about the forgotten
// incidents stay as they went: `ip` no longer shows them. config names the config file.
func (c *excludeCommand) sentStay(res daemon.ExcludeResult, config string) {
	if n := res.ReportedIncidents; n > 0 {
		ids := make([]string, len(res.SentReports))
		for i, id := range res.SentReports {
			ids[i] = id[:min(len(id), 12)]
		}
		who := fmt.Sprintf("%d of them", n)
		switch {
		case n == 1 && res.ForgotIncidents == 1:
			who = "It"
		case n == res.ForgotIncidents:
			who = fmt.Sprintf("All %d", n)
		}
		reports := "the report sent stays as it went"
		if len(ids) > 1 {
			reports = fmt.Sprintf("the %d reports sent stay as they went", len(ids))
		}
		fmt.Fprintf(c.stdout, "%s had been reported: %s (%s; %s prints one).\n", who, reports, strings.Join(ids, ", "), daemon.Command(config, "report show", "ID"))
	}
}

// list prints the networks never reported.
func (c *excludeCommand) list(ctx context.Context, f adminFlags) error {
	var all []daemon.ExclusionInfo
	cfg, err := queryOrOffline(ctx, f, c.stderr,
		func(cl *adminClient) error { return cl.call(ctx, "GET", "/v1/exclusions", nil, &all) },
		func(cfg *daemon.Config, st *store.Store) (err error) {
			all, err = daemon.ListExclusions(cfg, st)
			return err
		})
	if err != nil {
		return err
	}
	if *f.asJSON {
		if all == nil {
			all = []daemon.ExclusionInfo{}
		}
		return printJSON(c.stdout, all)
	}
	if len(all) == 0 {
		fmt.Fprintln(c.stdout, "No network is excluded but the private and reserved ones.")
		return nil
	}
	tw := newTable(c.stdout)
	var added []time.Time
	for _, e := range all {
		if !e.Added.IsZero() {
			added = append(added, e.Added)
		}
	}
	fmt.Fprintf(tw, "NETWORK\tBY\t%s\tREASON\n", zoneTitle("SINCE", shownZone(cfg), added))
	for _, e := range all {
		since := ""
		if !e.Added.IsZero() {
			since = cellTime(e.Added, shownZone(cfg))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.Network, e.By, since, strings.Join(strings.Fields(e.Reason), " "))
	}
	return tw.Flush()
}

// remove undoes the exclusion of p.
func (c *excludeCommand) remove(ctx context.Context, f adminFlags, p netip.Prefix) error {
	var res daemon.IncludeResult
	cfg, err := changeStoredOrOffline(ctx, f, c.stderr,
		func(cl *adminClient) error {
			return cl.call(ctx, "DELETE", apiPath("v1", "exclude"), url.Values{"network": {p.String()}}, &res)
		},
		func(cfg *daemon.Config, st *store.Store) (err error) {
			res, err = daemon.RemoveExclusion(cfg, st, p, time.Now())
			return err
		})
	if err != nil {
		return err
	}
	if *f.asJSON {
		return printJSON(c.stdout, res)
	}
	fmt.Fprintf(c.stdout, "%s is no longer excluded (it was since %s).\n", res.Network, shownTime(res.Removed.Added, shownZone(cfg)))
	if res.StillIn != nil {
		fmt.Fprintf(c.stdout, "Its addresses are still never reported: it lies in %s, which stays excluded.\n", res.StillIn.Network)
		return nil
	}
	fmt.Fprintln(c.stdout, "Its new events make incidents and reports again.")
	if res.SinceEver {
		// Recorded by a version that did not keep its start: held back since ever.
		fmt.Fprintln(c.stdout, "Its lines stored or dated before now are never reported (the exclusion was recorded before abusewatch kept since when): they count toward no incident.")
	} else {
		fmt.Fprintln(c.stdout, "The lines read while it was excluded, or dated then, are never reported: they count toward no incident.")
	}
	show := daemon.Command(*f.config, "net", p.String())
	if p.IsSingleIP() {
		show = daemon.Command(*f.config, "ip", p.Addr().String())
	}
	fmt.Fprintf(c.stdout, "They stay in the store (%s shows them); the reports it rejected and the incidents it left unreported stay as they are.\n", show)
	return nil
}
