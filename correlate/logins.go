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
