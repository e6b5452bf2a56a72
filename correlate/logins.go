package correlate

import (
	"net/netip"
	"slices"
	"time"

	"github.com/abusewatch/abusewatch"
)

// loginScope is what a successful login stands for when it holds back an outside
// report: the address itself for IPv4, its /64 for IPv6. A device uses temporary
// addresses within its /64 (RFC 4941): it fails from one and logs in from another a
// minute later, and the failing one is our own user too. An IPv4 /24 holds many
// customers: there it is the address.
func loginScope(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p
	}
	return netip.PrefixFrom(a, a.BitLen())
}

// sameLogin says whether a login from b holds back the reports of a (loginScope).
func sameLogin(a, b netip.Addr) bool { return loginScope(a).Contains(b.Unmap()) }

// loginNeighbours are the other addresses of the login scope of a (IPv6: its /64) that
// had events other than logins between from and to, in order of appearance; none for
// IPv4.
func (c *Correlator) loginNeighbours(a netip.Addr, from, to time.Time) ([]netip.Addr, error) {
	a = a.Unmap()
	if !a.Is6() {
		return nil, nil
	}
	evs, err := c.read.netEvents(loginScope(a), from, to)
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, e := range evs {
		if b := e.Addr.Unmap(); b != a && e.Class != abusewatch.ClassAuthSuccess && !slices.Contains(out, b) && !c.Excluded(b) {
			out = append(out, b)
		}
	}
	return out, nil
}

// userLogin is a login of an account (loginsOf).
type userLogin struct {
	addr netip.Addr
	at   time.Time
	ev   abusewatch.Event
}

// typedElsewhere holds back from the outside, for the admin only, a per-address
// incident that looks like a person of ours mistyping on a new address (privacy40 H2):
// their failures quote a password typed as the user name and the account names, and
// a login for the same account from elsewhere a few minutes on says who it was. It
// looks like typing only while it is small and every line of it is known: its
// evidence holds all its lines, at most twice the threshold's attempts, only login
// failures (and probes), at most two invalid user names, and every account it failed
// on (never root, an attacker's first choice that admins log in to by key) logged in
// within min(success_lookback, window) from another address. The logins are added to
// its evidence, which the admin sees ("failures for bob from X, who logged in from
// Y"); an incident that grows beyond that is an attack again, and loses them, since
// they would otherwise be quoted to the failing address's desk.
func (c *Correlator) typedElsewhere(inc *abusewatch.Incident) error {
	if inc.Rule != "per-address" {
		return nil
	}
	a := inc.Addr.Unmap()
	elsewhere := func(e abusewatch.Event) bool { return e.Class == abusewatch.ClassAuthSuccess && !sameLogin(a, e.Addr) }
	if slices.ContainsFunc(inc.Evidence, elsewhere) {
		// Held before; grown, by reportable lines (those the rule counts), grow made it
		// reportable again, and the logins go.
		inc.Evidence = slices.DeleteFunc(slices.Clone(inc.Evidence), elsewhere) // it may share prev's
	}
	lb := min(c.opts.SuccessLookback, c.opts.Window)
	if lb <= 0 || inc.Success || inc.Count != len(inc.Evidence) ||
		inc.Attempts > 2*c.opts.Threshold {
		return nil
	}
	var valid, invalid []string
	for _, e := range inc.Evidence {
		switch e.Class {
		case abusewatch.ClassAuthFailure:
			if e.User == "root" {
				return nil
			}
			if e.User != "" && !slices.Contains(valid, e.User) {
				valid = append(valid, e.User)
			}
		case abusewatch.ClassInvalidUser:
			if !slices.Contains(invalid, e.User) {
				invalid = append(invalid, e.User)
			}
		case "protocol-probe": // a client that gave up
		default:
			return nil
		}
	}
	if len(valid) == 0 || len(invalid) > 2 {
		return nil
	}
	from, to := inc.First.Add(-lb), inc.Last.Add(lb)
	logins, err := c.loginsOf(valid, from, to)
	if err != nil {
		return err
	}
	var found []abusewatch.Event
	for _, u := range valid {
		i := slices.IndexFunc(logins, func(l userLogin) bool { return l.ev.User == u && !sameLogin(a, l.addr) })
		if i < 0 {
			return nil
		}
		found = append(found, logins[i].ev)
	}
	inc.AdminOnly = true
	inc.Evidence = append(slices.Clone(inc.Evidence), found...)
	slices.SortStableFunc(inc.Evidence, func(x, y abusewatch.Event) int { return x.Time.Compare(y.Time) })
	return nil
}

// loginsOf are the logins of the accounts users between from and to, from the memory
// of logins and, before what it holds, from the store (where the daily counters say a
// day had logins at all).
func (c *Correlator) loginsOf(users []string, from, to time.Time) ([]userLogin, error) {
	var out []userLogin
	keep := func(e abusewatch.Event) {
		// An excluded address's login counts: the office or the VPN is where our
		// users log in from.
		if e.Class == abusewatch.ClassAuthSuccess && slices.Contains(users, e.User) &&
			!e.Time.Before(from) && !e.Time.After(to) {
			out = append(out, userLogin{e.Addr.Unmap(), e.Time, e})
		}
	}
	m := c.loginsNow
	if m != nil {
		for _, u := range users {
			for _, l := range m.users[u] {
				keep(l.ev)
			}
		}
		if !from.Before(m.from) {
			return out, nil
		}
		if m.from.Before(to) {
			to = m.from
		}
	}
	if c.counters != nil {
		days, err := c.counters.Days(netip.Prefix{}, from, to)
		if err != nil {
			return nil, err
		}
		if _, _, ok := LoginDays(days); !ok {
			return out, nil
		}
	}
	for _, p := range []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")} {
		evs, err := c.events.EventsByNetwork(p, from, to)
		if err != nil {
			return nil, err
		}
		for _, e := range evs {
			keep(e)
		}
	}
	return out, nil
}

// LoginsElsewhere are the logins typedElsewhere added to the evidence of inc: those of
// the accounts it failed on, from addresses outside its login scope. None: inc is not
// held back as a user of ours on a new address.
func LoginsElsewhere(inc abusewatch.Incident) []abusewatch.Event {
	var out []abusewatch.Event
	if inc.Rule != "per-address" || !inc.AdminOnly {
		return nil
	}
	for _, e := range inc.Evidence {
		if e.Class == abusewatch.ClassAuthSuccess && !sameLogin(inc.Addr, e.Addr) {
			out = append(out, e)
		}
	}
	return out
}
