package store

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/abusewatch/abusewatch"
)

// timeKey is the big-endian event key ts|seq, so a cursor walks events in time order.
func timeKey(t time.Time, seq uint64) []byte {
	k := binary.BigEndian.AppendUint64(make([]byte, 0, 16), uint64(t.UnixNano()))
	return binary.BigEndian.AppendUint64(k, seq)
}

// prefixKey is the 16-byte masked network address followed by the prefix length, so
// the keys of one network sort together and /24 keys never collide with /16 keys.
func prefixKey(p netip.Prefix) []byte {
	a := p.Masked().Addr().As16()
	return append(a[:], byte(p.Bits()))
}

func sortIncidents(incs []abusewatch.Incident) {
	slices.SortStableFunc(incs, func(a, b abusewatch.Incident) int {
		if c := a.First.Compare(b.First); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}

func sortReports(rs []abusewatch.Report) {
	slices.SortStableFunc(rs, func(a, b abusewatch.Report) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}
