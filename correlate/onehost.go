package correlate

import (
	"net/netip"
	"slices"
	"time"

	"github.com/abusewatch/abusewatch"
)

// An IPv6 /64 is one host or one subscriber: a host takes as many addresses of it as
// it likes (temporary addresses, `ip addr add`, IP_FREEBIND), and failed logins over
// TCP cannot be forged. Judged by address alone, one host spread its attempts over
// nine addresses and made 36 failed logins in 4 minutes with no incident (review 26,
// findings 1 and 2). So the network rule judges a /64 as one source as well: its
// events from two of its addresses or more that meet a rule of one address (the
// per-address windows, the sweep, the port scan) make the /64's network incident, and
// it is reportable when its reportable, unforgeable events alone meet one (without
// network_addresses of its addresses). One address's events alone stay its own
// incidents', as before. The lookup, the success rule (loginScope) and sshguard's
// IPv6 blocking treat a /64 so too.

// OneHost says whether network p is an IPv6 /64, which the rules judge as one source.
func OneHost(p netip.Prefix) bool {
	return p.IsValid() && p.Addr().Is6() && !p.Addr().Is4In6() && p.Bits() == 64
}

// hostRule is network rule r of a /64 that also makes its incident when the /64's
// events, from at least two of its addresses, meet a rule of one address
// (hostRulesMet). Its window is the longest of those rules'; the network count is
// still judged within the network window. Its threshold is r.exact alone (apply
// keeps the count of distinct addresses as the window slides).
func (c *Correlator) hostRule(r rule) rule {
	netWindow, count, distinct := r.window, r.need, r.distinct
	window := max(netWindow, c.windows[len(c.windows)-1].Window, c.opts.Sweep.Window, c.opts.PortScan.Window)
	// Which (service, host) and (host, port) the sweep's and the port scan's windows
	// hold, kept as the rule walks the events: a line that brings neither a new one
	// nor a reportable attempt cannot meet a rule its window did not meet before, and
	// is judged without reading the window (a flood of packets from two addresses
	// read 10 minutes of it per packet: 140 s for 30,000 lines).
	sweeps := newSlidingKeys(c.opts.Sweep.Window, func(e *abusewatch.Event) (hostPortKey, bool) {
		if c.opts.Sweep.Count == 0 || e.Host == "" {
			return hostPortKey{}, false
		}
		if e.Proto != "" || e.Service == "kernel" || e.Service == "" {
			// A packet's service is our port, or its protocol (service), without
			// formatting it for every packet of a flood.
			if e.LocalPort != 0 {
				return hostPortKey{host: e.Host, port: e.LocalPort}, true
			}
			return hostPortKey{host: e.Host, service: e.Proto}, e.Proto != ""
		}
		return hostPortKey{host: e.Host, service: serviceOfProgram(e.Service)}, true
	})
	scans := newSlidingKeys(c.opts.PortScan.Window, func(e *abusewatch.Event) (hostPortKey, bool) {
		return hostPortKey{host: e.Host, port: e.LocalPort}, c.opts.PortScan.Count > 0 && e.LocalPort != 0
	})
	// The addresses of the reportable attempts within the longest per-address window:
	// one address's alone are its own rule's (a flood of its failed logins beside
	// another's packet is not read again per line).
	attempters := newSlidingKeys(c.windows[len(c.windows)-1].Window, func(e *abusewatch.Event) (netip.Addr, bool) {
		return e.Addr.Unmap(), e.Class != abusewatch.ClassAuthSuccess && c.reportable(e)
	})
	var last *abusewatch.Event // the newest event the keys took in
	r.exact = func(evs []*abusewatch.Event, n int) bool {
		// The events since the last call (apply asks only of those that may start an
		// incident), the last one's keys judged as new or not.
		i := len(evs)
		for i > 0 && evs[i-1] != last && (last == nil || !evs[i-1].Time.Before(last.Time)) {
			i--
		}
		if i < len(evs)-1 {
			for _, e := range evs[i : len(evs)-1] {
				sweeps.add(e)
				scans.add(e)
				attempters.add(e)
			}
		}
		e := evs[len(evs)-1]
		newSweep, newScan := sweeps.add(e), scans.add(e)
		attempters.add(e)
		last = e
		if n >= count && (window == netWindow || atLeastDistinct(within(evs, netWindow), count, distinct)) {
			return true
		}
		attempt := c.reportable(e) && len(attempters.held) >= 2
		return (newSweep || newScan || attempt) && c.hostRulesMet(evs, 2, attempt, newSweep, newScan)
	}
	r.window, r.monotone, r.need = window, false, min(count, 2)
	return r
}

// hostPortKey is what a sweep (service and host) or a port scan (host and port) counts.
type hostPortKey struct {
	host, service string
	port          uint16
}

// slidingKeys holds the keys of the events of the last window, as events come in time
// order.
type slidingKeys[K comparable] struct {
	window time.Duration
	key    func(*abusewatch.Event) (K, bool)
	queue  []slidingKey[K]
	held   map[K]int
}

type slidingKey[K comparable] struct {
	at  time.Time
	key K
}

func newSlidingKeys[K comparable](window time.Duration, key func(*abusewatch.Event) (K, bool)) *slidingKeys[K] {
	return &slidingKeys[K]{window: window, key: key, held: map[K]int{}}
}

// add takes in e, lets go of the keys of the events window or more before it, and says
// whether e's key is one the window did not hold.
func (s *slidingKeys[K]) add(e *abusewatch.Event) bool {
	for len(s.queue) > 0 && e.Time.Sub(s.queue[0].at) >= s.window {
		k := s.queue[0].key
		if s.held[k]--; s.held[k] <= 0 {
			delete(s.held, k)
		}
		s.queue = s.queue[1:]
	}
	k, ok := s.key(e)
	if !ok {
		return false
	}
	s.queue = append(s.queue, slidingKey[K]{e.Time, k})
	s.held[k]++
	return s.held[k] == 1
}

// hostRulesMet says whether evs (a /64's counted events, oldest first) meet a rule of
// one address at their last event, from at least minAddrs of its addresses: the
// per-address windows by its reportable events (if attempts), the sweep by its events
// of the last one's service (if sweep), the port scan by its events that name our port
// (if scan).
func (c *Correlator) hostRulesMet(evs []*abusewatch.Event, minAddrs int, attempts, sweep, scan bool) bool {
	e := evs[len(evs)-1]
	addr := func(e *abusewatch.Event) netip.Addr { return e.Addr.Unmap() }
	if attempts && c.reportable(e) {
		var rep []*abusewatch.Event
		for _, x := range within(evs, c.windows[len(c.windows)-1].Window) {
			if x.Class != abusewatch.ClassAuthSuccess && c.reportable(x) {
				rep = append(rep, x)
			}
		}
		for _, w := range c.windows {
			// Each window: the shortest may be met by one address alone (its own
			// incident) where a longer one holds the others' attempts too.
			if i, ok := c.windowsMet(rep, e.Time, w); ok && atLeastDistinct(rep[i:], minAddrs, addr) {
				return true
			}
		}
	}
	if r := c.opts.Sweep; sweep && r.Count > 0 && e.Host != "" {
		if svc := service(e); svc != "" {
			var sub []*abusewatch.Event
			for _, x := range within(evs, r.Window) {
				if x.Host != "" && service(x) == svc {
					sub = append(sub, x)
				}
			}
			if atLeastHosts(sub, r.Count) && atLeastDistinct(sub, minAddrs, addr) {
				return true
			}
		}
	}
	if r := c.opts.PortScan; scan && r.Count > 0 && e.LocalPort != 0 {
		var sub []*abusewatch.Event
		for _, x := range within(evs, r.Window) {
			if x.LocalPort != 0 {
				sub = append(sub, x)
			}
		}
		type hostPort struct {
			host string
			port uint16
		}
		if atLeastDistinct(sub, r.Count, func(e *abusewatch.Event) hostPort { return hostPort{e.Host, e.LocalPort} }) &&
			atLeastDistinct(sub, minAddrs, addr) {
			return true
		}
	}
	return false
}

// hostReportable says whether the reportable, unforgeable events of evs (a /64's, in
// time order; only those for which counts, when set, holds) meet a rule of one address
// by themselves at one of them, from two of its addresses or more: what makes an
// address's incident reportable makes the /64's so. The lines of one address that meet
// a rule alone are that address's own incident, reported as such: forged packets of
// two other addresses of the /64 beside them made a second report of the same lines.
// A /64 of forged packets beside one real failed login stays for the admin.
func (c *Correlator) hostReportable(evs []*abusewatch.Event, counts func(*abusewatch.Event) bool) bool {
	var rep []*abusewatch.Event
	for _, e := range evs {
		if e.Class != abusewatch.ClassAuthSuccess && c.reportable(e) && (counts == nil || counts(e)) {
			rep = append(rep, e)
		}
	}
	for i := range rep {
		if c.hostRulesMet(rep[:i+1], 2, true, true, true) {
			return true
		}
	}
	return false
}

// within is the events of evs (oldest first) less than d before the last one.
func within(evs []*abusewatch.Event, d time.Duration) []*abusewatch.Event {
	if len(evs) == 0 {
		return evs
	}
	from := evs[len(evs)-1].Time.Add(-d)
	i, _ := slices.BinarySearchFunc(evs, from, func(e *abusewatch.Event, t time.Time) int {
		if e.Time.After(t) {
			return 1
		}
		return -1
	})
	return evs[i:]
}
