// Package correlate decides which events belong together and which of them make an
// incident worth reporting. Today it knows one rule, per address: N events of reportable
// classes from one address within a window W make an incident, and the incident grows
// while further events keep arriving within W of its last one. Addresses in private,
// reserved, documentation or never-report networks never make an incident. It reads
// events and incidents through the small interfaces below and writes nothing itself.
package correlate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/abusewatch/abusewatch"
)

// EventReader gives the stored events of one address in a time range, oldest first.
type EventReader interface {
	EventsByAddr(addr netip.Addr, from, to time.Time) ([]abusewatch.Event, error)
}

// IncidentReader gives the newest incident with a key.
type IncidentReader interface {
	LatestIncident(key string) (abusewatch.Incident, bool, error)
}

// Options are the thresholds of the per-address rule. Threshold counts attempts
// (distinct connections, see attempts), not log lines.
type Options struct {
	Threshold  int                // events within Window that make an incident
	Window     time.Duration      // the window
	Reportable []abusewatch.Class // classes that count toward the threshold
	Never      []netip.Prefix     // networks that never make an incident (own and allow-listed)
	Evidence   int                // how many evidence events an incident keeps (first half, last half)
}

// DefaultReportable are the classes that count when the config names none.
func DefaultReportable() []abusewatch.Class {
	return []abusewatch.Class{abusewatch.ClassAuthFailure, abusewatch.ClassInvalidUser}
}

// Correlator applies the rules to newly stored events.
type Correlator struct {
	opts      Options
	never     []netip.Prefix
	events    EventReader
	incidents IncidentReader
}

// New checks opts and returns a Correlator reading from events and incidents.
func New(opts Options, events EventReader, incidents IncidentReader) (*Correlator, error) {
	if opts.Threshold < 1 {
		return nil, fmt.Errorf("correlate: threshold must be at least 1, not %d", opts.Threshold)
	}
	if opts.Window <= 0 {
		return nil, fmt.Errorf("correlate: window must be positive, not %s", opts.Window)
	}
	if len(opts.Reportable) == 0 {
		opts.Reportable = DefaultReportable()
	}
	if opts.Evidence < 2 {
		opts.Evidence = 10
	}
	never := append(reservedNetworks(), opts.Never...)
	return &Correlator{opts: opts, never: never, events: events, incidents: incidents}, nil
}

// Correlate looks at the addresses of batch, which is already stored, and returns the
// incidents that the batch created or made grow, ready to be stored.
func (c *Correlator) Correlate(ctx context.Context, batch []abusewatch.Event) ([]abusewatch.Incident, error) {
	type span struct{ from, to time.Time }
	spans := map[netip.Addr]span{}
	var order []netip.Addr
	for _, e := range batch {
		counts := slices.Contains(c.opts.Reportable, e.Class) || e.Class == abusewatch.ClassAuthSuccess
		if !e.Addr.IsValid() || !counts || c.Excluded(e.Addr) {
			continue
		}
		a := e.Addr.Unmap()
		s, seen := spans[a]
		if !seen {
			order = append(order, a)
			s = span{e.Time, e.Time}
		}
		if e.Time.Before(s.from) {
			s.from = e.Time
		}
		if e.Time.After(s.to) {
			s.to = e.Time
		}
		spans[a] = s
	}
	var out []abusewatch.Incident
	for _, a := range order {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		incs, err := c.perAddress(a, spans[a].from, spans[a].to)
		if err != nil {
			return out, err
		}
		out = append(out, incs...)
	}
	return out, nil
}

// perAddress applies the per-address rule to the events of a around the new ones, which
// lie between from and to. An incident starts at the event that brings Threshold events
// within Window and takes in every later event that comes within Window of its last one.
func (c *Correlator) perAddress(a netip.Addr, from, to time.Time) ([]abusewatch.Incident, error) {
	key := "ip:" + a.String()
	prev, open, err := c.incidents.LatestIncident(key)
	if err != nil {
		return nil, err
	}
	open = open && !prev.Last.Before(from.Add(-c.opts.Window)) && !prev.First.After(from)
	start := from.Add(-c.opts.Window)
	if open {
		start = prev.First
	}
	all, err := c.events.EventsByAddr(a, start, to)
	if err != nil {
		return nil, fmt.Errorf("correlate %s: %w", a, err)
	}
	var (
		out     []abusewatch.Incident
		counted []abusewatch.Event // the counted events since start, oldest first
		cur     []abusewatch.Event // the events of the incident being built
		curID   string
		success bool
	)
	if open {
		curID = prev.ID
		success = prev.Success
	}
	flush := func() {
		if len(cur) > 0 {
			inc := c.build(key, a, cur, success)
			if curID != "" {
				inc.ID = curID
			}
			out = append(out, inc)
		}
		cur, curID, success = nil, "", false
	}
	for _, e := range all {
		if e.Class == abusewatch.ClassAuthSuccess {
			if len(cur) > 0 || open {
				success = true
			}
			continue
		}
		if !slices.Contains(c.opts.Reportable, e.Class) {
			continue
		}
		counted = append(counted, e)
		if open && e.Time.Compare(prev.Last) <= 0 {
			cur = append(cur, e) // already part of the open incident
			continue
		}
		if len(cur) > 0 && e.Time.Sub(cur[len(cur)-1].Time) <= c.opts.Window {
			cur = append(cur, e)
			continue
		}
		flush()
		open = false
		// Does e bring Threshold events within Window?
		i := len(counted) - 1
		for i > 0 && e.Time.Sub(counted[i-1].Time) < c.opts.Window {
			i--
		}
		if attempts(counted[i:]) >= c.opts.Threshold {
			cur = slices.Clone(counted[i:])
		}
	}
	flush()
	return out, nil
}

func (c *Correlator) build(key string, a netip.Addr, evs []abusewatch.Event, success bool) abusewatch.Incident {
	first := evs[0]
	h := sha256.Sum256(fmt.Appendf(nil, "%s|%d|%d", key, first.Time.UnixNano(), first.Seq))
	inc := abusewatch.Incident{
		ID:       hex.EncodeToString(h[:8]),
		Key:      key,
		Rule:     "per-address",
		Addr:     a,
		Network:  netip.PrefixFrom(a, a.BitLen()),
		First:    first.Time,
		Last:     evs[len(evs)-1].Time,
		Count:    len(evs),
		Attempts: attempts(evs),
		Success:  success,
	}
	for _, e := range evs {
		if !slices.Contains(inc.Classes, e.Class) {
			inc.Classes = append(inc.Classes, e.Class)
		}
		if e.Host != "" && !slices.Contains(inc.Hosts, e.Host) {
			inc.Hosts = append(inc.Hosts, e.Host)
		}
	}
	slices.Sort(inc.Classes)
	slices.Sort(inc.Hosts)
	n := c.opts.Evidence
	if len(evs) <= n {
		inc.Evidence = slices.Clone(evs)
	} else {
		inc.Evidence = append(slices.Clone(evs[:n/2]), evs[len(evs)-(n-n/2):]...)
	}
	inc.Severity = severity(inc)
	return inc
}

// attempts counts the distinct connections among evs, so the several lines one failed
// login writes (sshd's "Invalid user", PAM's failure, "Failed password", the
// disconnect) count once. A connection is known by our host, the service and the
// remote port; a record without a port counts alone unless its service gives ports
// elsewhere in evs (then it is one of those connections' extra lines). Several
// failures in one connection count once: a report may understate, never overstate.
func attempts(evs []abusewatch.Event) int {
	type conn struct {
		host, service string
		port          uint16
	}
	type svc struct{ host, service string }
	conns := map[conn]bool{}
	withPorts := map[svc]bool{}
	for _, e := range evs {
		if e.Port != 0 {
			conns[conn{e.Host, e.Service, e.Port}] = true
			withPorts[svc{e.Host, e.Service}] = true
		}
	}
	n := len(conns)
	for _, e := range evs {
		if e.Port == 0 && !withPorts[svc{e.Host, e.Service}] {
			n++
		}
	}
	return n
}

// severity grows with the number of attempts and is highest when a login succeeded.
func severity(inc abusewatch.Incident) int {
	switch {
	case inc.Success:
		return 5
	case inc.Attempts >= 1000:
		return 4
	case inc.Attempts >= 100:
		return 3
	case inc.Attempts >= 20:
		return 2
	}
	return 1
}

// Excluded says whether addr belongs to a network that never makes an incident: private,
// loopback, link-local, multicast, shared (CGNAT), documentation, benchmarking and other
// reserved space, and the configured never-report networks.
func (c *Correlator) Excluded(addr netip.Addr) bool {
	addr = addr.Unmap()
	if !addr.IsGlobalUnicast() || addr.IsPrivate() {
		return true
	}
	for _, p := range c.never {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// reservedNetworks are special-purpose ranges (RFC 6890 and successors) that
// IsGlobalUnicast and IsPrivate let through.
func reservedNetworks() []netip.Prefix {
	return []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/8"),
		netip.MustParsePrefix("100.64.0.0/10"),
		netip.MustParsePrefix("192.0.0.0/24"),
		netip.MustParsePrefix("192.0.2.0/24"),
		netip.MustParsePrefix("192.88.99.0/24"),
		netip.MustParsePrefix("198.18.0.0/15"),
		netip.MustParsePrefix("198.51.100.0/24"),
		netip.MustParsePrefix("203.0.113.0/24"),
		netip.MustParsePrefix("240.0.0.0/4"),
		netip.MustParsePrefix("64:ff9b:1::/48"),
		netip.MustParsePrefix("100::/64"),
		netip.MustParsePrefix("2001::/23"),
		netip.MustParsePrefix("2001:db8::/32"),
		netip.MustParsePrefix("2002::/16"),
		netip.MustParsePrefix("3fff::/20"),
	}
}
