package store

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/abusewatch/abusewatch"
	bolt "go.etcd.io/bbolt"
)

// ReportedIncidentsOver returns the incidents that have a report (in any state) and
// may hold lines of scope (an address or a network) between from and to: those of the
// addresses in scope, and the network incidents of the networks that hold scope, whose
// times meet from..to; oldest first; those of report except aside (its incidents are
// what is being written again, or previewed). A recurrence, counted from daily
// counters, takes in the lines of such an incident of its span, which its report must
// not claim again. Only those are read in full.
func (s *Store) ReportedIncidentsOver(scope netip.Prefix, from, to time.Time, except string) ([]abusewatch.Incident, error) {
	scope = abusewatch.UnmapPrefix(scope)
	out, _, err := s.readFound(0, func(tx *bolt.Tx) (found []foundIncident, err error) {
		lastIdx, reported := tx.Bucket(bucketIncidentLast), tx.Bucket(bucketReported)
		seen := map[string]bool{}
		take := func(id []byte, last int64) {
			if r := reported.Get(id); seen[string(id)] || r == nil || (except != "" && string(r) == except) || last < from.UnixNano() {
				return
			}
			if h, ok := readHead(lastIdx.Get(id)); !ok || h.first > to.UnixNano() {
				return
			}
			seen[string(id)] = true
			found = append(found, foundIncident{bytes.Clone(id), last})
		}
		c := tx.Bucket(bucketIncidentAddrs).Cursor()
		lo := scope.Addr().As16()
		for k, v := c.Seek(lo[:]); len(k) > 16 && scope.Contains(netip.AddrFrom16([16]byte(k)).Unmap()); k, v = c.Next() {
			last := int64(0)
			if len(v) == 8 {
				last = int64(binary.BigEndian.Uint64(v))
			} else if h, ok := readHead(lastIdx.Get(k[16:])); ok {
				last = h.last
			}
			take(k[16:], last)
		}
		// A network incident is indexed by the one address it is looked up through,
		// which may lie outside scope: those of each network that holds scope.
		starts := tx.Bucket(bucketStarts).Cursor()
		for bits := scope.Bits(); bits >= 0; bits-- {
			p := netip.PrefixFrom(scope.Addr(), bits).Masked()
			if p.IsSingleIP() {
				continue
			}
			prefix := append([]byte("net:"+p.String()), 0)
			for k, _ := starts.Seek(prefix); bytes.HasPrefix(k, prefix); k, _ = starts.Next() {
				if _, id, ok := splitStartKey(k); ok {
					if h, ok := readHead(lastIdx.Get(id)); ok {
						take(id, h.last)
					}
				}
			}
		}
		return found, nil
	})
	return out, err
}
