package store

import (
	"net/netip"
	"time"
)

// RawHours returns how many raw events of every address the store keeps of each hour
// from the hour of from to the hour of to, by the hour's start (UTC), leaving out hours
// with none. Beside Hours (the events ever counted) it tells the hours retention cut
// into. It reads the blocks' indexes only.
func (s *Store) RawHours(from, to time.Time) (map[time.Time]int, error) {
	out := map[time.Time]int{}
	from, to = from.UTC().Truncate(time.Hour), to.UTC().Truncate(time.Hour).Add(time.Hour-time.Nanosecond)
	err := s.eachBlock(from, to, func(_ []byte, x *blockIndex) error {
		out[time.Unix(int64(x.hour)*3600, 0).UTC()] += x.n
		return nil
	})
	return out, err
}

// CountedSize says whether the daily counters count p (Days answers for it): an
// address, or a /24, /16, /8 (IPv6 /64, /48, /32).
func CountedSize(p netip.Prefix) bool {
	p = netip.PrefixFrom(p.Addr().Unmap(), min(p.Bits(), p.Addr().Unmap().BitLen()))
	return p.IsValid() && countedSize(p)
}
