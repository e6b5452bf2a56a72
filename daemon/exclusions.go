package daemon

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/correlate"
	"github.com/abusewatch/abusewatch/store"
)

// ParseExclusion reads the address or network an admin command names (exclude, pardon,
// and their undoing). A network written with address bits past its length is refused,
// not masked: "45.134.26.7/8" is a typo for /28 or /32 far more often than a wish to
// exclude all of 45.0.0.0/8.
func ParseExclusion(s string) (netip.Prefix, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		if a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("%s: the zone %%%s names an interface of this host, and no remote address has one: give the address without it (%s)",
				s, a.Zone(), a.WithZone(""))
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%s is not an address or a network in CIDR notation, such as 203.0.113.7 or 203.0.113.0/24", s)
	}
	if err := CheckMapped(p); err != nil {
		return netip.Prefix{}, err
	}
	if p != p.Masked() {
		return netip.Prefix{}, fmt.Errorf("%s has address bits set past /%d: write the network as %s, or one address as %s",
			s, p.Bits(), p.Masked(), p.Addr())
	}
	return abusewatch.UnmapPrefix(p), nil
}

// CheckMapped refuses an IPv4-mapped network written with an IPv4 length
// (::ffff:45.134.26.0/24): its length counts from the start of the IPv6 address, so it is
// ::/24, a network of IPv6 space that holds no IPv4 address at all. The IPv4 /24 is
// ::ffff:45.134.26.0/120, or simply 45.134.26.0/24.
func CheckMapped(p netip.Prefix) error {
	if !p.Addr().Is4In6() || p.Bits() >= 96 {
		return nil
	}
	if p.Bits() <= 32 {
		v4 := netip.PrefixFrom(p.Addr().Unmap(), p.Bits()).Masked()
		return fmt.Errorf("%s: a mapped IPv4 network needs a length of 96 plus the IPv4 one (as written it is %s): write %s (or %s/%d)",
			p, p.Masked(), v4, netip.AddrFrom16(v4.Addr().As16()), 96+p.Bits())
	}
	return fmt.Errorf("%s: a mapped IPv4 network needs a length of 96 plus the IPv4 one (as written it is %s): write the IPv4 network, such as %s/24",
		p, p.Masked(), p.Addr().Unmap())
}

// NeverReported says why addr is never reported, whatever it does: the special-purpose
// network, the policy.never_report entry that holds it, or the key that makes it our own
// (ownAddresses); "" when none does. (The networks excluded or pardoned from the command
// line are in the state database.)
func (c *Config) NeverReported(addr netip.Addr) string {
	if p, ok := correlate.SpecialPurpose(addr); ok {
		return fmt.Sprintf("%s is special-purpose (private, shared, documentation or otherwise reserved space)", p)
	}
	for _, n := range c.Policy.NeverReport {
		if p, err := ParseExclusion(n); err == nil && p.Contains(addr.Unmap()) {
			return fmt.Sprintf("policy.never_report lists %s", p)
		}
	}
	for _, o := range c.ownAddresses() {
		switch {
		case !o.Network.Contains(addr.Unmap()):
		case o.own == addr.Unmap():
			return fmt.Sprintf("%s names %s as %s, and our own hosts are never reported", o.By, o.own, o.ownAs)
		default:
			return fmt.Sprintf("%s names %s as %s, and our own hosts are never reported, with the rest of their IPv6 /%d (%s)",
				o.By, o.own, o.ownAs, ownIPv6Bits, o.Network)
		}
	}
	return ""
}

// ownAddresses are the public addresses of our own hosts that the config knows, each a
// network never reported (By the key that names it, Reason what it is): mail.hosts, and
// the addresses the syslog and metrics listeners listen on. DESIGN: own networks are
// never reported. An event from one is ours (a cron job or a monitoring check that goes
// out through the public address and comes back, hairpin NAT), and was reported as an
// attack to our own provider: "Source address: 62.239.1.5 … Our hosts hit: web1
// (62.239.1.5)". Special-purpose addresses (0.0.0.0, 127.0.0.1) are never reported
// anyway and are left out.
// An IPv6 address stands for its /64, as for logins (correlate's loginScope): a host
// that has one address of a /64 talks from others of it too (SLAAC temporary addresses,
// which Ubuntu turns on, and its containers'), and those were reported to our own
// provider (review 46 finding 2). An IPv4 address is itself alone.
func (c *Config) ownAddresses() []ExclusionInfo {
	var out []ExclusionInfo
	add := func(a netip.Addr, by, reason string) {
		a = a.WithZone("").Unmap()
		if _, special := correlate.SpecialPurpose(a); special || a.IsUnspecified() {
			return
		}
		e := ExclusionInfo{Network: netip.PrefixFrom(a, a.BitLen()), By: by, Reason: reason, own: a, ownAs: reason}
		if a.Is6() {
			e.Network = netip.PrefixFrom(a, ownIPv6Bits).Masked()
			e.Reason = fmt.Sprintf("%s (%s) and the rest of its /%d", reason, a, ownIPv6Bits)
		}
		if !slices.ContainsFunc(out, func(o ExclusionInfo) bool { return o.Network == e.Network }) {
			out = append(out, e)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(c.Mail.Hosts)) {
		for _, a := range c.Mail.Hosts[name] { // every one: a dual-stack host's IPv6 address too
			add(a, "mail.hosts", "our host "+name)
		}
	}
	for _, l := range []struct {
		key   string
		addrs []string
	}{{"syslog.udp", c.Syslog.UDP}, {"syslog.tcp", c.Syslog.TCP}, {"syslog.tls", c.Syslog.TLS}, {"metrics.listen", []string{c.Metrics.Listen}}} {
		for _, hp := range l.addrs {
			if host, _, err := net.SplitHostPort(hp); err == nil {
				if a, err := netip.ParseAddr(host); err == nil { // not a host name: validated where it is used
					add(a, l.key, "an address this host listens on")
				}
			}
		}
	}
	return out
}

// ownNetworks are the ownAddresses as networks, for the correlator.
func (c *Config) ownNetworks() []netip.Prefix {
	var out []netip.Prefix
	for _, o := range c.ownAddresses() {
		out = append(out, o.Network)
	}
	return out
}

// Exclusions wider than these are refused from the command line: an IPv4 /8, an IPv6
// /16 (more than any registry's block). Such a network belongs in policy.never_report,
// where it is written down and reviewed.
const (
	widestExclusion4 = 8
	widestExclusion6 = 16
)

// CheckExclusionWidth refuses a network too wide to exclude or pardon from the command
// line (0.0.0.0/0 by a slip of the keyboard would silence every report, and a pardon
// would forget every incident).
func CheckExclusionWidth(p netip.Prefix) error {
	widest := widestExclusion4
	if p.Addr().Is6() {
		widest = widestExclusion6
	}
	if p.Bits() >= widest {
		return nil
	}
	return fmt.Errorf("%s is wider than a /%d: excluding it would silence the reports about a large part of the Internet, "+
		"and a pardon would forget its incidents. To send no report at all, set policy.mode = \"observe\"; "+
		"to never report so wide a network, write it in policy.never_report", p, widest)
}

// ExclusionInfo is one network never reported: excluded or pardoned by the admin, or
// named in policy.never_report.
type ExclusionInfo struct {
	Network netip.Prefix `json:"network"`
	// "exclude", "pardon", "policy.never_report", or the key that names an address of our
	// own hosts (ownAddresses): "mail.hosts", "syslog.udp", "syslog.tcp", "syslog.tls",
	// "metrics.listen"
	By     string    `json:"by"`
	Reason string    `json:"reason,omitempty"`
	Added  time.Time `json:"added,omitzero"`
	// ownAddresses': the address the config names, and what it is ("our host web1")
	own   netip.Addr
	ownAs string
}

// ownIPv6Bits is the network an IPv6 address of ours stands for (ownAddresses).
const ownIPv6Bits = 64

// ListExclusions returns the networks that cfg's policy.never_report names, the
// addresses of our own hosts it knows (ownAddresses) and those the store holds
// excluded, the config's first, then the oldest exclusion first.
func ListExclusions(cfg *Config, st *store.Store) ([]ExclusionInfo, error) {
	var out []ExclusionInfo
	for _, n := range cfg.Policy.NeverReport {
		p, _ := parseNetwork(n) // validated
		out = append(out, ExclusionInfo{Network: p, By: "policy.never_report"})
	}
	out = append(out, cfg.ownAddresses()...)
	recorded, err := st.Exclusions()
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(recorded, func(a, b store.Exclusion) int {
		return cmp.Or(a.Added.Compare(b.Added), cmp.Compare(a.Network.String(), b.Network.String()))
	})
	for _, e := range recorded {
		out = append(out, exclusionInfo(e))
	}
	return out, nil
}

// exclusionInfo is e as every output writes an exclusion: its kind in By.
func exclusionInfo(e store.Exclusion) ExclusionInfo {
	by := "exclude"
	if e.Pardon {
		by = "pardon"
	}
	return ExclusionInfo{Network: e.Network, By: by, Reason: e.Reason, Added: e.Added}
}

// IncludeResult says what undoing an exclusion changed.
type IncludeResult struct {
	Network string        `json:"network"`
	Removed ExclusionInfo `json:"removed"`
	// A network around it that stays never reported, so its addresses stay too.
	StillIn *ExclusionInfo `json:"still_in,omitempty"`
	// The exclusion was recorded by a version that did not keep since when it held
	// back lines: every line of the network stored or dated before its removal is
	// held back (never reported), not only those since Removed.Added.
	SinceEver bool `json:"held_back_since_ever,omitempty"`
}

// RemoveExclusion undoes `exclude` or `pardon` of p in the store: from then on its
// events make incidents and reports again. What the exclusion held back stays as it is
// (incidents taken off the work list, reports rejected, a pardon's forgotten incidents),
// and the lines of p dated or read while it lasted never count toward an incident: the
// store keeps the time it lasted (store.PastExclusion, correlate.HeldBack). An
// incident that grows is reported as any other. It refuses a network that cfg's
// policy.never_report names (the config says so; the store cannot undo it) and one that
// is not excluded itself, naming the network around it that is.
func RemoveExclusion(cfg *Config, st *store.Store, p netip.Prefix, now time.Time) (IncludeResult, error) {
	res := IncludeResult{Network: p.String()}
	all, err := ListExclusions(cfg, st)
	if err != nil {
		return res, err
	}
	around := func() *ExclusionInfo {
		for i, e := range all {
			if e.Network != p && e.Network.Bits() <= p.Bits() && e.Network.Contains(p.Addr()) {
				return &all[i]
			}
		}
		return nil
	}
	if i := slices.IndexFunc(all, func(e ExclusionInfo) bool { return e.Network == p && e.fromConfig() }); i >= 0 {
		return res, fmt.Errorf("%s is in %s of %s: remove it there, then reload", p, all[i].By, cfg.file)
	}
	removed, ok, err := st.RemoveExclusion(p, now)
	if err != nil {
		return res, err
	}
	if !ok {
		msg := fmt.Sprintf("%s is not excluded (abusewatch exclude --list shows what is)", p)
		if e := around(); e != nil {
			msg = fmt.Sprintf("%s is not excluded itself: it lies in %s", p, e.describe())
		}
		return res, fmt.Errorf("%s", msg)
	}
	res.Removed, res.StillIn, res.SinceEver = exclusionInfo(removed), around(), removed.FromSeq == 0
	return res, nil
}

// CoveredBy says what already keeps every address of p from being reported, other than
// an exclusion of p itself: a special-purpose network around it, a policy.never_report
// entry, or another exclusion or pardon around it; "" when nothing does. exclude and
// pardon say so (they still record p): excluding 10.0.0.0/8, or an address of a network
// excluded already, changed nothing, and said only that it would never be reported.
func CoveredBy(cfg *Config, st *store.Store, p netip.Prefix) (string, error) {
	if sp, ok := correlate.SpecialPurpose(p.Addr()); ok && sp.Bits() <= p.Bits() {
		return fmt.Sprintf("%s is special-purpose (private, shared, documentation or otherwise reserved space)", sp), nil
	}
	all, err := ListExclusions(cfg, st)
	if err != nil {
		return "", err
	}
	for _, e := range all {
		switch {
		case e.Network.Bits() > p.Bits() || !e.Network.Contains(p.Addr()):
		case e.fromConfig() && e.Reason != "":
			return fmt.Sprintf("%s lists %s (%s)", e.By, e.Network, e.Reason), nil
		case e.fromConfig():
			return fmt.Sprintf("%s lists %s", e.By, e.Network), nil
		case e.Network != p:
			return "it lies in " + e.describe(), nil
		}
	}
	return "", nil
}

// fromConfig says whether e is the config's (policy.never_report, an address of our own
// hosts), not the store's: only the config undoes it.
func (e ExclusionInfo) fromConfig() bool { return e.By != "exclude" && e.By != "pardon" }

// describe is e for a sentence: "45.134.0.0/16 (exclude, 2026-11-20: a partner)",
// "62.239.1.5/32 (mail.hosts: our host web1)".
func (e ExclusionInfo) describe() string {
	if e.fromConfig() {
		if e.Reason != "" {
			return e.Network.String() + " (" + e.By + ": " + e.Reason + ")"
		}
		return e.Network.String() + " (" + e.By + ")"
	}
	s := e.Network.String() + " (" + e.By + ", " + e.Added.Format(time.DateOnly)
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s + ")"
}

// removeExclusion is RemoveExclusion in the running daemon: the store's part in the
// admin request, the correlators' (the running pipeline's, and an outbox round's begun
// before a reload) on the main loop.
func (d *Daemon) removeExclusion(ctx context.Context, p netip.Prefix) (IncludeResult, error) {
	var cfg *Config
	if err := d.onLoop(ctx, func() { cfg = d.cfg }); err != nil {
		return IncludeResult{}, err
	}
	res, err := RemoveExclusion(cfg, d.store, p, time.Now())
	if err != nil {
		return res, err
	}
	held, err := heldBack(d.store)
	if err != nil {
		return res, err
	}
	if err := d.onLoop(ctx, func() {
		// Its lines of the time it was excluded are held back before it is
		// included: the next batch judges it with both.
		d.pipe.correlator.HoldBack(held)
		d.pipe.correlator.Include(p)
		if round := d.outbox.pipe; round != nil && round != d.pipe {
			round.correlator.HoldBack(held)
			round.correlator.Include(p)
		}
	}); err != nil {
		return res, err
	}
	d.log.Info("exclusion removed", "network", p, "excluded", res.Removed.Added, "reason", res.Removed.Reason)
	return res, nil
}
